/**
 * The step-ca driver against the step-ca stand-in (scripts/world/step_ca_server.ts): the first certificate with a
 * one-time token from the token command fixture, rekey over mTLS with no token (through nginx, which passes the
 * client certificate on), renew where the CA has no rekey, back to the token command where renewal is refused,
 * and step-ca's errors in one line with a hint and without the token.
 */
import "reflect-metadata";
import assert from "node:assert/strict";
import * as x509 from "@peculiar/x509";
import { stepCaDriver } from "../../lib/issuer/step_ca.ts";
import { csrMaker } from "../../lib/issuer/csr.ts";
import { generateLocalKey } from "../../lib/issuer/keys.ts";
import { type ClosableIssuerFetch, makeIssuerFetch } from "../../lib/issuer/http.ts";
import type {
  CsrMaker,
  CurrentCredentials,
  IssuerContext,
  IssuerFetch,
  IssuerOptions,
  KeyType,
} from "../../lib/issuer/issuer.ts";
import { IssuerError } from "../../lib/shared/errors.ts";
import { parsePem } from "../../lib/credentials/pem.ts";
import { parsePrivateKey } from "../../lib/credentials/private_key.ts";
import { parseCertificate } from "../../lib/credentials/x509.ts";
import { joinCommandLine } from "../../lib/shared/command_line.ts";
import {
  startStepCa,
  type StepCaServer,
  stepTokenCommand,
  type TokenCommandOptions,
  UNAUTHORIZED_MESSAGE,
} from "../../scripts/world/step_ca_server.ts";
import { findNginx } from "../../scripts/world/nginx.ts";
import { tempDir } from "../../scripts/world/temp_dir.ts";
import { runMain, V1_EXEC_INFO } from "../helpers.ts";

const NGINX = Deno.build.os === "windows" ? undefined : findNginx();
const NEEDS_NGINX = !NGINX;

/** The IssuerError `promise` rejects with (exit 3, as a failing renewal command). */
async function issuerError(promise: Promise<unknown>): Promise<IssuerError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof IssuerError, `not an IssuerError: ${error}`);
    assert.equal(error.exitCode, 3);
    return error;
  }
  assert.fail("no error");
}

/** The plugin's CSR maker for one new local key (lib/issuer/csr.ts), recording the subjects asked for. */
interface NewKeyCsr {
  csr: CsrMaker;
  keyPem: () => Promise<string>;
  asked: unknown[];
}

async function newKeyCsr(type: KeyType = "ec-p256"): Promise<NewKeyCsr> {
  const key = await generateLocalKey(type);
  const make = csrMaker(key);
  const asked: unknown[] = [];
  const csr: CsrMaker = (subject) => {
    asked.push(subject);
    return make(subject);
  };
  return { csr, keyPem: () => Promise.resolve(key.pkcs8Pem), asked };
}

/** The real IssuerFetch (lib/issuer/http.ts), trusting the stand-in's root; closed when the test's server stops. */
const openFetches: ClosableIssuerFetch[] = [];
function realFetch(server: StepCaServer): IssuerFetch {
  const fetch = makeIssuerFetch(server.url, {
    caFile: server.rootPath,
    deadline: Date.now() + 30_000,
  });
  openFetches.push(fetch);
  return fetch;
}

/** Runs argv with its stdout captured, as the plugin's runForOutput does; a failure is an IssuerError. */
async function runForOutput(argv: readonly string[]): Promise<string> {
  const output = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new IssuerError(`token command exited with ${output.code}`);
  }
  return new TextDecoder().decode(output.stdout);
}

interface Harness {
  context: IssuerContext;
  stderr: string[];
  commands: string[][];
}

function harness(
  server: StepCaServer,
  parts: { current?: CurrentCredentials; fetch?: IssuerFetch; output?: string } = {},
): Harness {
  const stderr: string[] = [];
  const commands: string[][] = [];
  const context: IssuerContext = {
    fetch: parts.fetch ?? realFetch(server),
    runForOutput: (argv) => {
      commands.push([...argv]);
      return parts.output !== undefined ? Promise.resolve(parts.output) : runForOutput(argv);
    },
    env: () => undefined,
    home: () => undefined,
    now: () => new Date(),
    deadline: Date.now() + 30_000,
    interactive: false,
    stderr: (text) => {
      stderr.push(text);
      return Promise.resolve();
    },
    ...(parts.current ? { current: parts.current } : {}),
  };
  return { context, stderr, commands };
}

function options(
  server: StepCaServer,
  tokenCommand?: string[],
  extra: Partial<IssuerOptions> = {},
): IssuerOptions {
  return {
    issuer: "step-ca",
    url: server.url,
    caFile: server.rootPath,
    altNames: [],
    keyType: "ec-p256",
    step: tokenCommand ? { tokenCommand: joinCommandLine(tokenCommand) } : {},
    ...extra,
  };
}

function command(server: StepCaServer, subject: string, extra: TokenCommandOptions = {}): string[] {
  return stepTokenCommand(server, subject, extra);
}

/** The SubjectPublicKeyInfo of a PKCS#8 key, through the broker's own key reader. */
async function spkiOfKey(keyPem: string): Promise<string> {
  const key = await parsePrivateKey(parsePem(keyPem)[0]!);
  return JSON.stringify(key.publicKey, (_k, v) => v instanceof Uint8Array ? v.toBase64() : v);
}

function spkiOfCertificate(pem: string): string {
  const der = parsePem(pem)[0]!.der;
  return JSON.stringify(
    parseCertificate(der).publicKey,
    (_k, v) => v instanceof Uint8Array ? v.toBase64() : v,
  );
}

async function withServer(
  nginx: boolean,
  body: (server: StepCaServer, dir: string) => Promise<void>,
): Promise<void> {
  await using tmp = await tempDir("ccb-step-ca-");
  await using server = await startStepCa({
    dir: tmp.join("ca"),
    ...(nginx && NGINX ? { nginxPath: NGINX } : {}),
  });
  try {
    await body(server, tmp.path);
  } finally {
    for (const fetch of openFetches.splice(0)) fetch.close();
  }
}

/**
 * One issuance by the driver for a new key, with the token command for alice@example.com (`token` adds to it) and
 * the `current` credentials if given: the result, what the CSR maker was asked and the harness.
 */
async function issueForAlice(
  server: StepCaServer,
  parts: { current?: CurrentCredentials; token?: TokenCommandOptions } = {},
): Promise<
  { issued: Awaited<ReturnType<typeof stepCaDriver.issue>>; made: NewKeyCsr; h: Harness }
> {
  const made = await newKeyCsr();
  const h = harness(server, parts.current ? { current: parts.current } : {});
  const issued = await stepCaDriver.issue(
    options(server, command(server, "alice@example.com", parts.token)),
    made.csr,
    h.context,
  );
  return { issued, made, h };
}

/**
 * The IssuerError of one issuance for a new key with `tokenCommand` (none: no --step-token-command), the options'
 * `extra` and the harness's `current`, `fetch` or `output`.
 */
async function refusedIssuance(
  server: StepCaServer,
  tokenCommand: string[] | undefined,
  parts: {
    current?: CurrentCredentials;
    fetch?: IssuerFetch;
    output?: string;
    extra?: Partial<IssuerOptions>;
  } = {},
): Promise<IssuerError> {
  const { extra, ...context } = parts;
  return await issuerError(
    stepCaDriver.issue(
      options(server, tokenCommand, extra),
      (await newKeyCsr()).csr,
      harness(server, context).context,
    ),
  );
}

/** The first certificate the driver gets: what renewal tests start from. */
async function firstCertificate(server: StepCaServer): Promise<CurrentCredentials> {
  const { issued, made } = await issueForAlice(server);
  return { certificatePem: issued.chain.join(""), keyPem: await made.keyPem() };
}

Deno.test("step-ca first certificate: the token command's sub and sans make the CSR, /1.0/sign answers the chain leaf first", async () => {
  await withServer(false, async (server) => {
    const made = await newKeyCsr();
    const h = harness(server);
    const issued = await stepCaDriver.issue(
      options(
        server,
        command(server, "alice@example.com", { sans: ["alice@example.com", "alice.dev.example"] }),
        {
          ttlMs: 2 * 3_600_000,
        },
      ),
      made.csr,
      h.context,
    );
    assert.equal(issued.key, "new");
    assert.equal(h.commands.length, 1);
    assert.deepEqual(made.asked, [{
      commonName: "alice@example.com",
      altNames: ["alice@example.com", "alice.dev.example"],
    }]);
    assert.equal(issued.chain.length, 2);
    const leaf = new x509.X509Certificate(issued.chain[0]!);
    assert.equal(leaf.subject, "CN=alice@example.com");
    const san = new x509.SubjectAlternativeNameExtension(leaf.getExtension("2.5.29.17")!.rawData);
    assert.deepEqual(san.names.items.map((n) => `${n.type}:${n.value}`).sort(), [
      "dns:alice.dev.example",
      "email:alice@example.com",
    ]);
    assert.equal(issued.chain[1], server.intermediatePem);
    assert.equal(spkiOfCertificate(issued.chain[0]!), await spkiOfKey(await made.keyPem()));
    // notAfter "7200s" on sign: the CA counts it from its own clock.
    const lifetime = leaf.notAfter.getTime() - Date.now();
    assert.ok(lifetime > 7_100_000 && lifetime <= 7_200_000, `lifetime ${lifetime}`);
    assert.deepEqual(
      server.requests.map((r) => [r.method, r.path, r.status, r.tokenSubject, r.notAfter]),
      [
        ["POST", "/1.0/sign", 201, "alice@example.com", "7200s"],
      ],
    );
  });
});

Deno.test(
  "step-ca rekey (mTLS through nginx): a valid current certificate gets a new one for a new key, with no token",
  {
    ignore: NEEDS_NGINX,
  },
  async () => {
    await withServer(true, async (server, dir) => {
      const current = await firstCertificate(server);
      const log = `${dir}/token-runs`;
      const { issued, made, h } = await issueForAlice(server, {
        current,
        token: { log, fail: "no person here" },
      });
      assert.equal(issued.key, "new");
      assert.deepEqual(h.commands, [], "no token command while the certificate renews itself");
      await assert.rejects(Deno.stat(log), Deno.errors.NotFound);
      const leaf = new x509.X509Certificate(issued.chain[0]!);
      assert.equal(leaf.subject, "CN=alice@example.com");
      assert.equal(spkiOfCertificate(issued.chain[0]!), await spkiOfKey(await made.keyPem()));
      assert.notEqual(spkiOfCertificate(issued.chain[0]!), await spkiOfKey(current.keyPem));
      const last = server.requests.at(-1)!;
      assert.deepEqual([last.path, last.status, last.clientSubject], [
        "/1.0/rekey",
        201,
        "CN=alice@example.com",
      ]);
      assert.equal(
        server.requests.filter((r) => r.path === "/1.0/sign").length,
        1,
        "only the first sign",
      );
    });
  },
);

Deno.test(
  "step-ca renew (mTLS through nginx): where the CA has no rekey (404 page not found), /1.0/renew keeps the current key",
  {
    ignore: NEEDS_NGINX,
  },
  async () => {
    await withServer(true, async (server) => {
      const current = await firstCertificate(server);
      server.refuseRekey = true;
      const { issued, h } = await issueForAlice(server, { current });
      assert.equal(issued.key, "current");
      assert.deepEqual(h.commands, []);
      assert.equal(spkiOfCertificate(issued.chain[0]!), await spkiOfKey(current.keyPem));
      assert.notEqual(
        issued.chain[0],
        current.certificatePem.split(/(?<=-----END CERTIFICATE-----\n)/)[0],
      );
      assert.deepEqual(server.requests.slice(1).map((r) => [r.path, r.status, r.clientSubject]), [
        ["/1.0/rekey", 404, undefined],
        ["/1.0/renew", 201, "CN=alice@example.com"],
      ]);
    });
  },
);

Deno.test(
  "step-ca renewal refused (mTLS through nginx; provisioner disables renewal): back to the token command, and says so",
  {
    ignore: NEEDS_NGINX,
  },
  async () => {
    await withServer(true, async (server) => {
      const current = await firstCertificate(server);
      server.disableRenewal = true;
      const { issued, h } = await issueForAlice(server, { current });
      assert.equal(issued.key, "new");
      assert.equal(h.commands.length, 1);
      assert.deepEqual(server.requests.slice(1).map((r) => [r.path, r.status]), [
        ["/1.0/rekey", 401],
        ["/1.0/sign", 201],
      ]);
      assert.match(h.stderr.join(""), /refused \/1\.0\/rekey \(401\).*asking --step-token-command/);
    });
  },
);

Deno.test(
  "step-ca renewal refused (mTLS through nginx) and no token command: an IssuerError with step-ca's message and a hint",
  {
    ignore: NEEDS_NGINX,
  },
  async () => {
    await withServer(true, async (server) => {
      const current = await firstCertificate(server);
      server.disableRenewal = true;
      const error = await refusedIssuance(server, undefined, { current });
      assert.equal(error.exitCode, 3);
      assert.ok(error.message.includes(UNAUTHORIZED_MESSAGE), error.message);
      assert.match(error.message, /no --step-token-command/);
      assert.match(error.hint ?? "", /--step-token-command/);
    });
  },
);

Deno.test(
  "step-ca (mTLS through nginx): a current certificate the CA's TLS refuses (expired there) sends the driver back to the token command",
  {
    ignore: NEEDS_NGINX,
  },
  async () => {
    await withServer(true, async (server) => {
      const now = Date.now();
      const expired = await server.issue({
        subject: "alice@example.com",
        notBefore: new Date(now - 2 * 3_600_000),
        notAfter: new Date(now - 3_600_000),
      });
      const { issued, h } = await issueForAlice(server, { current: expired });
      assert.equal(issued.key, "new");
      assert.equal(h.commands.length, 1);
      // nginx answers the expired certificate with its own 400 page (step-ca would fail the handshake): the CA
      // itself only sees the sign request.
      assert.match(h.stderr.join(""), /answered \/1\.0\/rekey with HTTP 400 and no step-ca error/);
      assert.deepEqual(server.requests.map((r) => [r.path, r.status]), [["/1.0/sign", 201]]);
    });
  },
);

Deno.test("step-ca: a reused one-time token is refused (401) and the error never shows the token", async () => {
  await withServer(false, async (server) => {
    const token = await server.token({ subject: "alice@example.com" });
    const first = harness(server, { output: `${token}\n` });
    await stepCaDriver.issue(
      options(server, ["step", "ca", "token", "alice"]),
      (await newKeyCsr()).csr,
      first.context,
    );
    const error = await refusedIssuance(server, ["step", "ca", "token", "alice"], {
      output: `${token}\n`,
    });
    assert.equal(
      error.message,
      `step-ca at ${server.url} refused /1.0/sign (401): ${UNAUTHORIZED_MESSAGE}`,
    );
    assert.match(error.hint ?? "", /single use.*run the token command again/);
    for (const part of token.split(".")) {
      assert.ok(
        !error.message.includes(part) && !(error.hint ?? "").includes(part),
        "no part of the token",
      );
    }
    assert.deepEqual(server.requests.map((r) => r.status), [201, 401]);
  });
});

Deno.test("step-ca: an expired one-time token is refused, and the hint says when it expired", async () => {
  await withServer(false, async (server) => {
    const error = await refusedIssuance(
      server,
      command(server, "alice@example.com", { expired: true }),
    );
    assert.match(error.message, /refused \/1\.0\/sign \(401\)/);
    assert.match(error.hint ?? "", /this one expired at \d{4}-\d\d-\d\dT/);
  });
});

Deno.test("step-ca: a token from a provisioner key the CA does not know is refused (401)", async () => {
  await withServer(false, async (server) => {
    const error = await refusedIssuance(
      server,
      command(server, "alice@example.com", { foreignKey: true }),
    );
    assert.match(error.message, /\(401\)/);
    assert.match(error.hint ?? "", /provisioner/);
  });
});

Deno.test("step-ca: --ttl beyond the provisioner's maximum comes back as step-ca's 403 message", async () => {
  await withServer(false, async (server) => {
    const error = await refusedIssuance(server, command(server, "alice@example.com"), {
      extra: { ttlMs: 48 * 3_600_000 },
    });
    assert.match(
      error.message,
      /refused \/1\.0\/sign \(403\): The request was forbidden by the certificate authority: requested duration of 48h\dm\d+s is more than the authorized maximum certificate duration of 24h1m0s\./,
    );
    assert.match(error.hint ?? "", /--ttl/);
  });
});

Deno.test("step-ca: a token pinned to another CSR (cnf) is refused before anything is sent", async () => {
  await withServer(false, async (server) => {
    const error = await refusedIssuance(
      server,
      command(server, "alice@example.com", { pinCsr: true }),
    );
    assert.match(error.message, /cnf/);
    assert.deepEqual(server.requests, []);
  });
});

Deno.test("step-ca: no current certificate and no --step-token-command is an IssuerError naming the flag", async () => {
  await withServer(false, async (server) => {
    const error = await refusedIssuance(server, undefined);
    assert.match(error.message, /no --step-token-command/);
    assert.match(error.hint ?? "", /step ca token/);
    assert.deepEqual(server.requests, []);
  });
});

Deno.test("step-ca: token command output that is not one token is refused without echoing it", async () => {
  await withServer(false, async (server) => {
    for (const output of ["secret-looking output\n", "a.b.c\nd.e.f\n"]) {
      const error = await refusedIssuance(server, ["step", "ca", "token", "alice"], { output });
      assert.ok(
        !error.message.includes("secret-looking") && !error.message.includes("a.b.c"),
        error.message,
      );
      assert.match(error.message, /--step-token-command \(step\) printed/);
    }
  });
});

Deno.test("step-ca: an HTML answer of a proxy is reported by its status, not its body", async () => {
  await withServer(false, async (server) => {
    const fetch: IssuerFetch = () => Promise.resolve({ status: 502, body: undefined });
    const error = await refusedIssuance(server, command(server, "alice@example.com"), { fetch });
    assert.equal(
      error.message,
      `step-ca at ${server.url} answered /1.0/sign with HTTP 502 and no step-ca error`,
    );
  });
});

Deno.test("step-ca check(): /health answers ok over trusted TLS; without a certificate the next issuance needs the token command", async () => {
  await withServer(false, async (server) => {
    const checks = await stepCaDriver.check(
      options(server, command(server, "alice@example.com")),
      harness(server).context,
    );
    assert.deepEqual(checks.map((c) => [c.title, c.ok]), [
      ["step-ca answers", true],
      ["step-ca's TLS is trusted", true],
      ["step-ca renewal", true],
    ]);
    assert.match(checks[2]!.detail, /runs --step-token-command/);
    const none = await stepCaDriver.check(options(server), harness(server).context);
    assert.deepEqual(none.at(-1)!.ok, false);
    assert.deepEqual(server.requests.map((r) => [r.method, r.path, r.status]), [
      ["GET", "/health", 200],
      ["GET", "/health", 200],
    ]);
  });
});

Deno.test("step-ca check(): reads the provisioner from the current certificate and whether GET /1.0/provisioners disables its renewal", async () => {
  await withServer(false, async (server) => {
    const current = await firstCertificate(server);
    const renewal = async (tokenCommand?: string[]) =>
      (await stepCaDriver.check(
        options(server, tokenCommand),
        harness(server, { current }).context,
      ))
        .find((c) => c.title === "step-ca renewal")!;
    const fine = await renewal();
    assert.equal(fine.ok, true);
    assert.match(
      fine.detail,
      /valid until \d{4}-.*\(provisioner "admin@example\.com"\): the next issuance renews it over mTLS/,
    );
    server.disableRenewal = true;
    const withoutCommand = await renewal();
    assert.equal(withoutCommand.ok, false);
    assert.match(withoutCommand.detail, /provisioner "admin@example\.com" disables renewal/);
    const withCommand = await renewal(command(server, "alice@example.com"));
    assert.equal(withCommand.ok, true);
    assert.match(
      withCommand.detail,
      /every certificate needs a one-time token from --step-token-command/,
    );
    assert.equal(
      server.requests.filter((r) => r.path === "/1.0/provisioners").length,
      3,
      "one list per check",
    );
    assert.equal(
      server.requests.filter((r) => r.path !== "/1.0/provisioners" && r.path !== "/health").length,
      1,
    );
  });
});

Deno.test("step-ca signs a CSR of every --key-type the broker makes", async (t) => {
  await withServer(false, async (server) => {
    for (const type of ["ec-p256", "ec-p384", "rsa-2048", "ed25519"] as const) {
      await t.step(type, async () => {
        const made = await newKeyCsr(type);
        const issued = await stepCaDriver.issue(
          options(server, command(server, "alice@example.com"), { keyType: type }),
          made.csr,
          harness(server).context,
        );
        assert.equal(
          spkiOfCertificate(issued.chain[0]!),
          await spkiOfKey(await made.keyPem()),
        );
      });
    }
  });
});

Deno.test("step-ca check(): a CA whose TLS is not trusted fails the trust check, naming --issuer-ca-file", async () => {
  await withServer(false, async (server, dir) => {
    await using other = await startStepCa({ dir: `${dir}/other` });
    const fetch = makeIssuerFetch(server.url, {
      caFile: other.rootPath,
      deadline: Date.now() + 10_000,
    });
    openFetches.push(fetch);
    const checks = await stepCaDriver.check(
      { ...options(server, command(server, "alice@example.com")), caFile: other.rootPath },
      harness(server, { fetch }).context,
    );
    const trust = checks.find((c) => c.title === "step-ca's TLS is trusted");
    assert.equal(trust?.ok, false, JSON.stringify(checks));
    assert.match(`${trust?.detail} ${trust?.hint}`, /--issuer-ca-file/);
    assert.deepEqual(server.requests, []);
  });
});

/** A context whose fetch answers from a table by path, for the answers the stand-in does not give. */
function fakeContext(
  answers: Record<string, { status: number; body: unknown }>,
  current?: CurrentCredentials,
): { context: IssuerContext; paths: string[] } {
  const paths: string[] = [];
  const context: IssuerContext = {
    fetch: (request) => {
      paths.push(request.path);
      const answer = answers[request.path];
      if (!answer) throw new Error(`unexpected ${request.path}`);
      return Promise.resolve(answer);
    },
    runForOutput: () => Promise.reject(new Error("no token command in this test")),
    env: () => undefined,
    home: () => undefined,
    now: () => new Date(),
    deadline: Date.now() + 10_000,
    interactive: false,
    stderr: () => Promise.resolve(),
    ...(current ? { current } : {}),
  };
  return { context, paths };
}

const FAKE_OPTIONS: IssuerOptions = {
  issuer: "step-ca",
  url: "https://ca.example",
  altNames: [],
  keyType: "ec-p256",
  step: { tokenCommand: "step ca token alice" },
};

Deno.test("step-ca: a 500 on rekey is an error with step-ca's message, not a reason to ask a person for a token", async () => {
  await withServer(false, async (server) => {
    const current = await server.issue({
      subject: "alice",
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
    });
    const message =
      "The certificate authority encountered an Internal Server Error. Please see the certificate authority logs for more info.";
    const { context, paths } = fakeContext({
      "/1.0/rekey": { status: 500, body: { status: 500, message } },
    }, current);
    const error = await issuerError(
      stepCaDriver.issue(FAKE_OPTIONS, (await newKeyCsr()).csr, context),
    );
    assert.equal(
      error.message,
      `step-ca at https://ca.example refused /1.0/rekey (500): ${message}`,
    );
    assert.match(error.hint ?? "", /its logs say why/);
    assert.deepEqual(paths, ["/1.0/rekey"]);
  });
});

Deno.test("step-ca: the chain is read leaf first from certChain, or from crt and ca where a CA has no certChain", async (t) => {
  await withServer(false, async (server) => {
    const current = await server.issue({
      subject: "alice",
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
    });
    const leaf = current.certificatePem.slice(
      0,
      current.certificatePem.indexOf(server.intermediatePem),
    );
    const cases: [string, unknown][] = [
      ["certChain", {
        crt: leaf,
        ca: server.intermediatePem,
        certChain: [leaf, server.intermediatePem],
      }],
      ["crt and ca only", { crt: leaf, ca: server.intermediatePem }],
      ["certChain without the leaf", {
        crt: leaf,
        ca: server.intermediatePem,
        certChain: [server.intermediatePem],
      }],
    ];
    for (const [name, body] of cases) {
      await t.step(name, async () => {
        const { context } = fakeContext({ "/1.0/rekey": { status: 201, body } }, current);
        const issued = await stepCaDriver.issue(FAKE_OPTIONS, (await newKeyCsr()).csr, context);
        assert.deepEqual(issued.chain, [leaf, server.intermediatePem]);
      });
    }
    const { context } = fakeContext({
      "/1.0/rekey": { status: 201, body: { ca: server.intermediatePem } },
    }, current);
    const error = await issuerError(
      stepCaDriver.issue(FAKE_OPTIONS, (await newKeyCsr()).csr, context),
    );
    assert.match(error.message, /answered \/1\.0\/rekey with HTTP 201 but no certificate/);
  });
});

Deno.test(
  "the broker with --issuer step-ca, spawned as kubectl does: a used one-time token exits 3 with step-ca's message, and no token is printed",
  {
    // Under Wine the broker's issuance fails: "Lock violation (os error 33)" (an issuance through the plugin,
    // not this driver; cfssl's plugin tests do not run there either).
    ignore: Deno.build.os === "windows",
  },
  async () => {
    await withServer(false, async (server, dir) => {
      const env = { HOME: dir, KUBERNETES_EXEC_INFO: V1_EXEC_INFO };
      const kept = `${dir}/kept-token`;
      const args = [
        "--issuer=step-ca",
        `--issuer-url=${server.url}`,
        `--issuer-ca-file=${server.rootPath}`,
        `--step-token-command=${
          joinCommandLine(command(server, "alice@example.com", { reuse: kept }))
        }`,
        `--client-certificate-path=${dir}/alice.crt`,
        `--client-key-path=${dir}/alice.key`,
      ];
      const first = await runMain(args, { env });
      assert.equal(first.code, 0, first.stderr);
      assert.equal(JSON.parse(first.stdout).kind, "ExecCredential");
      // Without the certificate the broker needs a token again, and the command prints the used one.
      await Deno.remove(`${dir}/alice.crt`);
      await Deno.remove(`${dir}/alice.key`);
      const second = await runMain(args, { env });
      assert.equal(second.code, 3, second.stderr);
      assert.equal(second.stdout, "");
      assert.match(
        second.stderr,
        new RegExp(`refused /1\\.0/sign \\(401\\): ${UNAUTHORIZED_MESSAGE.replace(/\./g, "\\.")}`),
      );
      assert.match(second.stderr, /single use/);
      assert.equal(server.issuedTokens.length, 1);
      const token = server.issuedTokens[0]!;
      for (const text of [first.stderr, second.stderr, second.stdout]) {
        assert.ok(
          !text.includes(token) && !text.includes(token.split(".")[2]!),
          "no one-time token printed",
        );
      }
      assert.deepEqual(server.requests.map((r) => [r.path, r.status]), [["/1.0/sign", 201], [
        "/1.0/sign",
        401,
      ]]);
    });
  },
);

Deno.test("step-ca: a one-time token made for another CA is refused (401), and the hint names both CAs", async () => {
  await withServer(false, async (server, dir) => {
    await using other = await startStepCa({ dir: `${dir}/other` });
    const token = await other.token({ subject: "alice@example.com" });
    const error = await issuerError(
      stepCaDriver.issue(
        options(server, ["step", "ca", "token", "alice@example.com"]),
        (await newKeyCsr()).csr,
        harness(server, { output: token }).context,
      ),
    );
    assert.match(error.message, /refused \/1\.0\/sign \(401\)/);
    assert.ok(
      error.hint?.includes(
        `made for ${new URL(other.url).origin}, not ${new URL(server.url).origin}`,
      ),
      error.hint,
    );
  });
});

Deno.test(
  "doctor checks a --issuer step-ca user: /health, trusted TLS, and whether the certificate in hand renews itself",
  {
    // Under Wine the broker's issuance fails: "Lock violation (os error 33)" (an issuance through the plugin,
    // not this driver; cfssl's plugin tests do not run there either).
    ignore: Deno.build.os === "windows",
  },
  async () => {
    await withServer(false, async (server, dir) => {
      const kubeconfig = `${dir}/config`;
      const env = { HOME: dir, KUBECONFIG: kubeconfig };
      const flags = [
        "--issuer=step-ca",
        `--issuer-url=${server.url}`,
        `--issuer-ca-file=${server.rootPath}`,
        `--step-token-command=${joinCommandLine(command(server, "alice@example.com"))}`,
        `--client-certificate-path=${dir}/alice.crt`,
        `--client-key-path=${dir}/alice.key`,
      ];
      const set = await runMain(["kubeconfig", "set", "--user=alice", ...flags, "--force"], {
        env,
      });
      assert.equal(set.code, 0, set.stderr);
      const doctor = async () => {
        const run = await runMain(["doctor", "--user=alice", "--skip-run", "-o", "json"], { env });
        const report = JSON.parse(run.stdout) as {
          checks: { check: string; status: string; detail: string }[];
        };
        return Object.fromEntries(
          report.checks.filter((c) => c.check.startsWith("issuer step-ca: "))
            .map((c) => [c.check.slice("issuer step-ca: ".length), `${c.status}: ${c.detail}`]),
        );
      };
      const before = await doctor();
      assert.match(
        before["step-ca answers"]!,
        /^pass: GET https:\/\/127\.0\.0\.1:\d+\/health: ok$/,
      );
      assert.match(before["step-ca's TLS is trusted"]!, /^pass: trusted through --issuer-ca-file /);
      assert.match(
        before["step-ca renewal"]!,
        /^pass: no valid current certificate: the next issuance runs --step-token-command/,
      );

      const plugin = await runMain(flags, { env: { ...env, KUBERNETES_EXEC_INFO: V1_EXEC_INFO } });
      assert.equal(plugin.code, 0, plugin.stderr);
      const held = await doctor();
      assert.match(
        held["step-ca renewal"]!,
        /^pass: the current certificate is valid until .* \(provisioner "admin@example\.com"\): the next issuance renews it over mTLS/,
      );

      server.disableRenewal = true;
      const disabled = await doctor();
      assert.match(
        disabled["step-ca renewal"]!,
        /provisioner "admin@example\.com" disables renewal: every certificate needs a one-time token from --step-token-command/,
      );
      assert.deepEqual(
        server.requests.filter((r) => r.method === "POST").map((r) => r.path),
        ["/1.0/sign"],
        "doctor --skip-run issues nothing",
      );
    });
  },
);
