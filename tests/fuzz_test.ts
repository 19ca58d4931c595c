/**
 * Property tests for everything that parses outside input: random and mutated input either parses or fails with
 * the module's own documented error, never another exception, and never a hang. FUZZ_RUNS sets the number of runs
 * per property (`deno task fuzz` runs a long pass); the default keeps this file to a few seconds.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { parse } from "yaml";
import { joinCommandLine, splitCommandLine } from "../lib/shared/command_line.ts";
import { children, DerError, type DerNode, readRoot } from "../lib/credentials/der.ts";
import { formatDuration, MAX_DURATION_MS, parseDuration } from "../lib/shared/duration.ts";
import { CliError, KubeconfigError, UsageError } from "../lib/shared/errors.ts";
import { parseExecInfo, SUPPORTED_API_VERSIONS } from "../lib/credentials/exec_credential.ts";
import { isJwt, jwtExpiry } from "../lib/credentials/jwt.ts";
import { setUserExec, STATIC_CREDENTIAL_KEYS } from "../lib/kubeconfig/edit.ts";
import { kubeconfigView } from "../lib/kubeconfig/read.ts";
import { parseEnv } from "../lib/kubeconfig/set_flags.ts";
import { decodePem, encodePem, parsePem, PemError } from "../lib/credentials/pem.ts";
import { KeyError, parsePrivateKey } from "../lib/credentials/private_key.ts";
import { parseCertificate } from "../lib/credentials/x509.ts";
import {
  fuzzParams,
  generateKey,
  issueCert,
  jwtSegment,
  makeCa,
  tempDir,
  writeKeyForm,
} from "./helpers.ts";

/** 200 runs per property (FUZZ_RUNS scales them, FUZZ_SEED replays a failure's seed). */
const params = (scale = 1): fc.Parameters<unknown> => fuzzParams(200 * scale);

/** Rethrows anything that is not one of the expected error types: that is the bug a property looks for. */
function onlyThrows(fn: () => unknown, ...types: (new (...args: never[]) => Error)[]): void {
  try {
    fn();
  } catch (error) {
    if (!types.some((type) => error instanceof type)) throw error;
  }
}

async function onlyRejects(
  fn: () => Promise<unknown>,
  ...types: (new (...args: never[]) => Error)[]
): Promise<void> {
  try {
    await fn();
  } catch (error) {
    if (!types.some((type) => error instanceof type)) throw error;
  }
}

/** Real certificates and keys in every format client-go takes, made once (scripts/world/ca.ts). */
let material:
  | Promise<{ certs: Uint8Array[]; keys: { label: string; der: Uint8Array }[] }>
  | undefined;
function realMaterial() {
  material ??= (async () => {
    await using tmp = await tempDir();
    const dir = tmp.path;
    const ca = await makeCa(dir);
    const keys: { label: string; der: Uint8Array }[] = [];
    const certs: Uint8Array[] = [parsePem(Deno.readTextFileSync(ca.cert))[0]!.der];
    for (const type of ["rsa", "ec", "ed25519"] as const) {
      const key = await generateKey(dir, `${type}.key`, type);
      keys.push(parsePem(Deno.readTextFileSync(key))[0]!);
      const cert = await issueCert({
        dir,
        ca,
        keyPath: key,
        out: `${type}.crt`,
        notAfter: new Date(Date.now() + 3600_000),
      });
      certs.push(parsePem(Deno.readTextFileSync(cert))[0]!.der);
    }
    // The traditional forms: PKCS#1 RSA and SEC1 EC.
    writeKeyForm(`${dir}/rsa.key`, "pkcs1", `${dir}/rsa1.key`);
    writeKeyForm(`${dir}/ec.key`, "sec1", `${dir}/sec1.key`);
    keys.push(parsePem(Deno.readTextFileSync(`${dir}/rsa1.key`))[0]!);
    keys.push(parsePem(Deno.readTextFileSync(`${dir}/sec1.key`))[0]!);
    return { certs, keys };
  })();
  return material;
}

/** A byte string changed the way corruption and hostile input change files: flips, cuts, inserts, length bytes. */
const mutation = (length: number) =>
  fc.array(
    fc.oneof(
      fc.record({
        kind: fc.constant("set" as const),
        at: fc.nat(length),
        value: fc.integer({ min: 0, max: 255 }),
      }),
      fc.record({ kind: fc.constant("cut" as const), at: fc.nat(length) }),
      fc.record({
        kind: fc.constant("insert" as const),
        at: fc.nat(length),
        bytes: fc.uint8Array({ maxLength: 8 }),
      }),
      fc.record({
        kind: fc.constant("length" as const),
        at: fc.nat(length),
        value: fc.constantFrom(0x00, 0x7f, 0x80, 0x81, 0x82, 0x84, 0x85, 0xff),
      }),
    ),
    { minLength: 1, maxLength: 4 },
  );

type Mutation = fc.Arbitrary<ReturnType<typeof mutation> extends fc.Arbitrary<infer T> ? T : never>;

function mutate(bytes: Uint8Array, steps: Mutation extends fc.Arbitrary<infer T> ? T : never) {
  let out = Uint8Array.from(bytes);
  for (const step of steps) {
    const at = Math.min(step.at, out.length);
    if (step.kind === "set" || step.kind === "length") {
      if (at < out.length) out[at] = step.value;
    } else if (step.kind === "cut") out = out.subarray(0, at);
    else {
      const next = new Uint8Array(out.length + step.bytes.length);
      next.set(out.subarray(0, at));
      next.set(step.bytes, at);
      next.set(out.subarray(at), at + step.bytes.length);
      out = next;
    }
  }
  return out;
}

function walk(node: DerNode, depth = 0): void {
  if (depth > 64 || !(node.tag & 0x20)) return;
  for (const child of children(node)) walk(child, depth + 1);
}

Deno.test("DER: random and mutated bytes read as elements or fail with DerError", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      onlyThrows(() => walk(readRoot(bytes)), DerError);
    }),
    params(),
  );
});

Deno.test("parseCertificate(): random and mutated certificates parse or fail with DerError", async () => {
  const { certs } = await realMaterial();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      onlyThrows(() => parseCertificate(bytes), DerError);
    }),
    params(),
  );
  for (const der of certs) {
    fc.assert(
      fc.property(mutation(der.length), (steps) => {
        const mutated = mutate(der, steps);
        onlyThrows(() => {
          const cert = parseCertificate(mutated);
          // What parses is usable for messages: real dates and printable names.
          assert.ok(!Number.isNaN(cert.notAfter.getTime()));
          assert.equal(typeof cert.subject, "string");
        }, DerError);
      }),
      params(),
    );
  }
});

Deno.test("PEM: random text and mutated PEM files yield blocks or fail with PemError", async () => {
  const { certs } = await realMaterial();
  const pem = encodePem("CERTIFICATE", certs[1]!);
  const pemChars = fc.constantFrom(..."-BEGIN END CERTIFICATE PRIVATE KEY\n\r:=+/Aa0 ".split(""));
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: pemChars, maxLength: 200 })),
      (text) => {
        // decodePem() never throws: like Go's pem.Decode it skips what is broken and says why.
        const { blocks, skipped } = decodePem(text);
        for (const block of blocks) assert.ok(block.der instanceof Uint8Array);
        for (const reason of skipped) assert.ok(reason instanceof PemError);
        onlyThrows(() => parsePem(text), PemError);
      },
    ),
    params(),
  );
  fc.assert(
    fc.property(
      fc.nat(pem.length),
      fc.nat(pem.length),
      fc.string({ unit: pemChars, maxLength: 12 }),
      (from, to, insert) => {
        const text = pem.slice(0, Math.min(from, to)) + insert + pem.slice(Math.max(from, to));
        onlyThrows(() => parsePem(text), PemError);
      },
    ),
    params(),
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 500 }), (der) => {
      assert.deepEqual(parsePem(encodePem("CERTIFICATE", der))[0]!.der, der);
    }),
    params(),
  );
});

Deno.test("parsePrivateKey(): random and mutated keys of every format load or fail with KeyError", async () => {
  const { keys } = await realMaterial();
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"),
      fc.uint8Array({ maxLength: 300 }),
      async (label, der) => {
        await onlyRejects(() => parsePrivateKey({ label, der, encrypted: false }), KeyError);
      },
    ),
    params(0.5),
  );
  for (const key of keys) {
    await fc.assert(
      fc.asyncProperty(mutation(key.der.length), async (steps) => {
        const block = { label: key.label, der: mutate(key.der, steps), encrypted: false };
        await onlyRejects(() => parsePrivateKey(block), KeyError);
      }),
      params(0.3),
    );
  }
});

Deno.test("JWT: any token string gives undefined or a valid expiry, and exp is honoured exactly", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 120 }),
        fc.tuple(fc.jsonValue(), fc.jsonValue(), fc.string({ maxLength: 10 })).map(([h, c, s]) =>
          `${jwtSegment(h)}.${jwtSegment(c)}.${s}`
        ),
      ),
      (token) => {
        const expiry = jwtExpiry(token);
        assert.ok(expiry === undefined || !Number.isNaN(expiry.getTime()));
        assert.equal(typeof isJwt(token), "boolean");
      },
    ),
    params(),
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 253402300799 }), (exp) => {
      const token = `${jwtSegment({ alg: "none" })}.${jwtSegment({ exp })}.sig`;
      assert.equal(jwtExpiry(token)?.getTime(), exp * 1000);
    }),
    params(),
  );
});

Deno.test("KUBERNETES_EXEC_INFO: any value parses to a supported apiVersion or a CliError that does not echo it", () => {
  const marker = "MARKER-EXEC-INFO";
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 80 }),
        fc.jsonValue().map((value) => JSON.stringify(value)),
        fc.record({
          kind: fc.oneof(fc.constant("ExecCredential"), fc.jsonValue()),
          apiVersion: fc.oneof(fc.constantFrom(...SUPPORTED_API_VERSIONS), fc.jsonValue()),
          spec: fc.oneof(
            fc.record({ interactive: fc.jsonValue(), cluster: fc.jsonValue() }),
            fc.jsonValue(),
          ),
        }, { requiredKeys: [] }).map((value) => JSON.stringify(value)),
      ),
      fc.nat(80),
      (raw, at) => {
        // A secret-like value somewhere in the text, e.g. cluster config: it must never come back in a message.
        const text = raw.slice(0, at) + marker + raw.slice(at);
        try {
          const info = parseExecInfo(text);
          assert.ok(SUPPORTED_API_VERSIONS.includes(info.apiVersion));
          assert.ok(info.interactive === undefined || typeof info.interactive === "boolean");
        } catch (error) {
          if (!(error instanceof CliError)) throw error;
          // kind and apiVersion are named in their own errors; they are not secrets.
          let named = false;
          try {
            const value = JSON.parse(text);
            named = JSON.stringify([value?.kind, value?.apiVersion]).includes(marker);
          } catch {
            // Not JSON: nothing of it may show.
          }
          if (!named) assert.ok(!error.message.includes(marker), error.message);
        }
      },
    ),
    params(),
  );
});

Deno.test("the before-exec command line: join then split gives back the same argv; any line splits or is a UsageError", () => {
  fc.assert(
    fc.property(fc.array(fc.string({ maxLength: 12 }), { minLength: 1, maxLength: 6 }), (argv) => {
      assert.deepEqual(splitCommandLine(joinCommandLine(argv), "/home/u"), argv);
    }),
    params(),
  );
  const shellChars = fc.constantFrom(..."ab ~/\\'\"$`\t\n=-".split(""));
  fc.assert(
    fc.property(fc.string({ unit: shellChars, maxLength: 40 }), (line) => {
      onlyThrows(() => {
        for (const word of splitCommandLine(line, "/home/u")) assert.equal(typeof word, "string");
      }, UsageError);
    }),
    params(),
  );
});

Deno.test("durations: formatDuration() output parses back to the same milliseconds; junk is a UsageError", () => {
  fc.assert(
    fc.property(fc.integer({ min: -MAX_DURATION_MS, max: MAX_DURATION_MS }), (ms) => {
      assert.equal(parseDuration(formatDuration(ms), "--flag"), ms);
    }),
    params(),
  );
  const durationChars = fc.constantFrom(..."0123456789.hmsn-+ ".split(""));
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: durationChars, maxLength: 12 })),
      (text) => {
        onlyThrows(() => assert.ok(Number.isFinite(parseDuration(text, "--flag"))), UsageError);
      },
    ),
    params(),
  );
});

Deno.test("--env pairs: NAME=VALUE round trips, and a bad pair is a UsageError naming no value", () => {
  const name = fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/);
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.tuple(name, fc.string({ maxLength: 12 }).filter((v) => !v.includes(","))), {
        selector: ([n]) => n,
        maxLength: 5,
      }),
      (pairs) => {
        const parsed = parseEnv(pairs.map(([n, v]) => `${n}=${v}`));
        assert.deepEqual(parsed, pairs.map(([n, v]) => ({ name: n, value: v })));
      },
    ),
    params(),
  );
  fc.assert(
    fc.property(fc.array(fc.string({ maxLength: 20 }), { maxLength: 4 }), (flags) => {
      const marked = flags.map((flag) => `${flag}MARKER-ENV-VALUE`);
      try {
        parseEnv(marked);
      } catch (error) {
        if (!(error instanceof UsageError)) throw error;
        // Only the name may appear: a flag without "=" is all name, so the marker may show only then.
        if (marked.every((flag) => flag.includes("="))) {
          assert.ok(!error.message.includes("MARKER-ENV-VALUE"), error.message);
        }
      }
    }),
    params(),
  );
});

// ---------------------------------------------------------------------------------------------------------------
// The kubeconfig editor

const EXEC = {
  apiVersion: "client.authentication.k8s.io/v1",
  command: "kubectl-credentials_broker",
  args: ["--token-path=/t/token"],
  interactiveMode: "IfAvailable",
};

const scalar = fc.oneof(
  fc.string({ maxLength: 10 }),
  fc.integer(),
  fc.boolean(),
  fc.constantFrom("yes", "no", "on", "~", "null", "0x1f", "1e3", "*a", "&b", "#c", "a: b", "- x"),
);
const userFields = fc.dictionary(
  fc.constantFrom(...STATIC_CREDENTIAL_KEYS, "as", "x-vendor", "exec", "impersonate"),
  fc.oneof(scalar, fc.dictionary(fc.string({ maxLength: 6 }), scalar, { maxKeys: 3 })),
  { maxKeys: 5 },
);
const userName = fc.constantFrom("alice", "bob", "carol", "dev@example", "a b", "yes");

/** A kubeconfig text in one of the layouts people and tools write: kubectl's block style, flow style, comments. */
const kubeconfigText = fc.record({
  users: fc.uniqueArray(fc.tuple(userName, userFields), { selector: ([n]) => n, maxLength: 4 }),
  extra: fc.dictionary(fc.constantFrom("preferences", "x-top", "clusters"), scalar, {
    maxKeys: 2,
  }),
  style: fc.constantFrom("block", "flow", "commented"),
}).map(({ users, extra, style }) => {
  const value = {
    apiVersion: "v1",
    kind: "Config",
    "current-context": "dev",
    ...extra,
    users: users.map(([name, user]) => ({ name, user })),
  };
  if (style === "flow") return JSON.stringify(value, null, 1) + "\n";
  let text = "";
  text += `apiVersion: v1\nkind: Config\ncurrent-context: dev\n`;
  for (const [key, v] of Object.entries(extra)) text += `${key}: ${JSON.stringify(v)}\n`;
  text += users.length === 0 ? "users: []\n" : "users:\n";
  for (const [name, user] of users) {
    if (style === "commented") text += `# user ${name}\n`;
    text += `- name: ${JSON.stringify(name)}\n  user:${
      Object.keys(user).length === 0 ? " {}" : ""
    }\n`;
    for (const [key, v] of Object.entries(user)) {
      text += `    ${key}: ${JSON.stringify(v)}${style === "commented" ? "  # keep me" : ""}\n`;
    }
  }
  return text;
});

Deno.test("setUserExec(): only the target user changes; every other byte and entry stays as it was", () => {
  fc.assert(
    fc.property(kubeconfigText, userName, fc.boolean(), (text, target, create) => {
      let edited;
      try {
        edited = setUserExec(text, "/k/config", { user: target, exec: EXEC, create });
      } catch (error) {
        if (!(error instanceof KubeconfigError)) throw error;
        return;
      }
      const before = parse(text, { version: "1.1" }) as Record<string, unknown>;
      const after = parse(edited.text, { version: "1.1" }) as Record<string, unknown>;
      const others = (doc: Record<string, unknown>) => {
        const { users, ...rest } = doc;
        return {
          rest,
          users: ((users as { name: unknown }[] | null) ?? []).filter((u) =>
            String(u.name) !== target
          ),
        };
      };
      assert.deepEqual(others(after), others(before));
      const view = kubeconfigView(edited.text, "/k/config");
      const entry = view.users.find((u) => u.name === target);
      assert.ok(entry, "the target user exists after the edit");
      assert.deepEqual(entry.user.exec, EXEC);
      for (const key of STATIC_CREDENTIAL_KEYS) assert.equal(entry.user[key], undefined);
      const old = view && kubeconfigView(text, "/k/config").users.find((u) => u.name === target);
      if (old) {
        // The target keeps its other fields.
        for (const [key, value] of Object.entries(old.user)) {
          if (key !== "exec" && !STATIC_CREDENTIAL_KEYS.includes(key)) {
            assert.deepEqual(entry.user[key], value);
          }
        }
      }
      if (edited.layoutKept && !edited.created && !edited.newFile) {
        // Text outside the target user's entry is byte for byte the same.
        const lines = text.split("\n");
        const start = lines.findIndex((line) =>
          line.startsWith("- name: ") && String(parse(line.slice(8))) === target
        );
        if (start !== -1) {
          let end = start + 1;
          while (end < lines.length && lines[end]!.startsWith("  ")) end++;
          assert.ok(edited.text.startsWith(lines.slice(0, start).join("\n")));
          assert.ok(edited.text.endsWith(lines.slice(end).join("\n")));
        }
      }
    }),
    params(),
  );
});
