/**
 * `status` in-process through the Io seam: which users it lists (doctor's recognition of the broker, kubectl's
 * merge of KUBECONFIG), the JSON shape scripts rely on, the text people read, and the problems found, on real
 * credential files in a temp folder. Spawned runs of the installed broker are tests/status/status_run_test.ts.
 */
import assert from "node:assert/strict";
import { runCommand } from "../../lib/commands.ts";
import { complete, withKubeconfigNames } from "../../lib/completion.ts";
import { renewalLock } from "../../lib/plugin/lock.ts";
import { aheadFiles } from "../../lib/plugin/renew_ahead.ts";
import { writeAheadState } from "../../lib/plugin/background_renewal.ts";
import { hasPosixPermissions, HOST_OS, isWindows } from "../../lib/shared/platform.ts";
import { fakeIo, generateKey, issueCert, makeCa, makeJwt, tempDir } from "../helpers.ts";
import {
  credentialArgs,
  denoCommand,
  inDir,
  standInExecutables,
  type UserFixture,
  wholeSeconds,
  writeKubeconfig,
} from "./status_fixtures.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const LIST_SEPARATOR = isWindows(HOST_OS) ? ";" : ":";

/** The time every in-process run takes as now; certificates are issued around it. */
const NOW = wholeSeconds(Date.now());

interface World {
  dir: string;
  bin: string;
  /** The broker's executable name on this OS, in `bin`. */
  broker: string;
  cert: string;
  key: string;
  expiredCert: string;
  expiredKey: string;
  otherKey: string;
  jwt: string;
  opaque: string;
  renew: string;
  cache: string;
  env: Record<string, string>;
}

/** Credentials around NOW: a certificate with 2h left, one expired 3 minutes ago, a JWT with 50m left, a token. */
async function world(dir: string): Promise<World> {
  const ca = await makeCa(dir);
  const key = await generateKey(dir, "client.key", "ec");
  const cert = await issueCert({
    dir,
    ca,
    keyPath: key,
    out: "client.crt",
    notBefore: new Date(NOW.getTime() - HOUR),
    notAfter: new Date(NOW.getTime() + 2 * HOUR),
  });
  const expiredKey = await generateKey(dir, "expired.key", "ec");
  const expiredCert = await issueCert({
    dir,
    ca,
    keyPath: expiredKey,
    out: "expired.crt",
    subject: "/CN=dave",
    notBefore: new Date(NOW.getTime() - HOUR),
    notAfter: new Date(NOW.getTime() - 3 * MINUTE),
  });
  const otherKey = await generateKey(dir, "other.key", "ec");
  const jwt = inDir(dir, "jwt");
  Deno.writeTextFileSync(jwt, makeJwt({ exp: NOW.getTime() / 1000 + 50 * 60 }) + "\n", {
    mode: 0o600,
  });
  const opaque = inDir(dir, "opaque");
  Deno.writeTextFileSync(opaque, "MARKER-OPAQUE-TOKEN\n", { mode: 0o600 });
  const renew = inDir(dir, "renew.ts");
  Deno.writeTextFileSync(renew, "Deno.exit(0);\n");
  const bin = standInExecutables(dir, ["kubectl-credentials_broker", "kubectl"]);
  const exe = isWindows(HOST_OS) ? ".exe" : "";
  return {
    dir,
    bin,
    broker: inDir(bin, `kubectl-credentials_broker${exe}`),
    cert,
    key,
    expiredCert,
    expiredKey,
    otherKey,
    jwt,
    opaque,
    renew,
    cache: inDir(dir, "cache"),
    env: { PATH: bin, HOME: dir, USERPROFILE: dir, PATHEXT: ".EXE;.CMD" },
  };
}

async function status(
  w: World,
  args: string[],
  options: { env?: Record<string, string>; color?: boolean } = {},
) {
  const io = fakeIo({
    env: { ...w.env, ...options.env },
    cwd: w.dir,
    now: NOW,
    color: options.color,
  });
  const code = await runCommand(["status", ...args], io);
  return { code, out: io.out, err: io.err };
}

/** A user with every part: certificate and key, a JWT, a renewal command and renew-ahead. */
function alice(w: World): UserFixture {
  return {
    name: "alice",
    command: w.broker,
    args: [
      ...credentialArgs({ cert: w.cert, key: w.key, token: w.jwt }),
      `--before-exec-command=${denoCommand(w.renew)} --role MARKER-SECRET-ARG`,
      "--before-exec-policy=when-invalid",
      "--renew-ahead=30%",
      `--cache-dir=${w.cache}`,
    ],
  };
}

/** What the background renewals of alice's credentials left, where the plugin keeps it. */
function aliceState(w: World, state: Parameters<typeof writeAheadState>[1]): string {
  const args = alice(w).args!;
  const flag = (name: string) =>
    args.find((arg) => arg.startsWith(`--${name}=`))!.slice(name.length + 3);
  const { dir, name } = renewalLock({
    cacheDir: w.cache,
    clientCertificatePath: w.cert,
    clientKeyPath: w.key,
    tokenPath: w.jwt,
    beforeExecCommand: flag("before-exec-command"),
  }, () => undefined);
  Deno.mkdirSync(dir, { recursive: true });
  const files = aheadFiles(dir, name);
  writeAheadState(files.state, state);
  return files.log;
}

/** The kubeconfig of the shape tests: two broker users, and users that do not run the broker. */
function mixedKubeconfig(w: World): string {
  return writeKubeconfig(inDir(w.dir, "config"), {
    current: "dev",
    contexts: { dev: "alice", "dev-admin": "alice", ops: "carol", static: "bob" },
    users: [
      alice(w),
      { name: "bob", raw: "{token: MARKER-STATIC-TOKEN}" },
      {
        name: "carol",
        command: "kubectl",
        args: ["credentials-broker", ...credentialArgs({ token: w.opaque })],
      },
      { name: "erin", command: "kubectl", args: ["oidc-login", "get-token"] },
      { name: "frank", command: "/usr/local/bin/aws", args: ["eks", "get-token"] },
    ],
  });
}

Deno.test("status -o json prints every broker user in the documented shape, and nothing of other users", async () => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const config = mixedKubeconfig(w);
  aliceState(w, {
    failures: 0,
    lastStartedAt: "2026-12-01T11:59:58Z",
    lastEndedAt: "2026-12-01T12:00:00Z",
    lastOutcome: "ok",
  });
  const result = await status(w, ["--kubeconfig", config, "-o", "json"]);
  assert.equal(result.code, 0, result.err);
  assert.equal(result.err, "");
  assert.deepEqual(JSON.parse(result.out), {
    users: [
      {
        name: "alice",
        kubeconfig: config,
        contexts: ["dev", "dev-admin"],
        certificate: {
          subject: "CN=alice, O=dev",
          notAfter: new Date(NOW.getTime() + 2 * HOUR).toISOString().replace(".000", ""),
        },
        token: {
          expiresAt: new Date(NOW.getTime() + 50 * MINUTE).toISOString().replace(".000", ""),
        },
        renewal: {
          command: Deno.execPath(),
          policy: "when-invalid",
          renewAhead: "30%",
          lastBackground: {
            startedAt: "2026-12-01T11:59:58Z",
            endedAt: "2026-12-01T12:00:00Z",
            outcome: "ok",
            failures: 0,
          },
        },
        problems: [],
      },
      { name: "carol", kubeconfig: config, contexts: ["ops"], token: {}, problems: [] },
    ],
  });
});

Deno.test("status prints one block per user with times relative to now, and a summary", async () => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const config = mixedKubeconfig(w);
  const ended = new Date(NOW.getTime() - 12 * MINUTE).toISOString().replace(".000", "");
  aliceState(w, { failures: 0, lastEndedAt: ended, lastOutcome: "ok" });
  const result = await status(w, [`--kubeconfig=${config}`]);
  assert.equal(result.code, 0, result.err);
  const at = (ms: number) => new Date(NOW.getTime() + ms).toISOString().replace(".000", "");
  assert.equal(
    result.out,
    `alice
  kubeconfig   ${config}
  contexts     dev (current), dev-admin
  certificate  CN=alice, O=dev; expires in 2h (${at(2 * HOUR)})
  token        JWT, expires in 50m (${at(50 * MINUTE)})
  renewal      ${Deno.execPath()}, when a credential needs renewing
  renew-ahead  30%; the last background renewal ended 12m ago: ok
  problems     none

carol
  kubeconfig  ${config}
  contexts    ops
  token       no expiry known (not a JWT with exp)
  renewal     none: nothing renews these files
  problems    none

2 users, no problems
`,
  );
});

Deno.test("status lists each problem doctor would find without running anything, and still exits 0", async (t) => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const cases: {
    name: string;
    user: (w: World) => UserFixture;
    problems: string[];
    json?: Record<string, unknown>;
    text?: RegExp;
    ignore?: boolean;
  }[] = [
    {
      name: "an expired certificate and nothing to renew it",
      user: (w) => ({
        name: "dave",
        command: w.broker,
        args: credentialArgs({ cert: w.expiredCert, key: w.expiredKey }),
      }),
      problems: ["fail certificate expiry"],
      json: {
        certificate: {
          subject: "CN=dave",
          notAfter: new Date(NOW.getTime() - 3 * MINUTE).toISOString().replace(".000", ""),
        },
      },
      text: /certificate {2}CN=dave; expired 3m ago \(/,
    },
    {
      name: "an expired certificate that the next kubectl call renews",
      user: (w) => ({
        name: "dave",
        command: w.broker,
        args: [
          ...credentialArgs({ cert: w.expiredCert, key: w.expiredKey }),
          `--before-exec-command=${denoCommand(w.renew)}`,
          "--before-exec-policy=when-invalid",
        ],
      }),
      problems: ["warn certificate expiry"],
      text: /certificate expiry: expired at .* \(3m ago\); the before-exec command must renew it/,
    },
    {
      name: "a token file that does not exist",
      user: (w) => ({
        name: "gina",
        command: w.broker,
        args: credentialArgs({ token: inDir(w.dir, "no-such-token") }),
      }),
      problems: ["fail token"],
      json: { token: {} },
      text: /token +not readable \(see problems\)/,
    },
    {
      name: "a key from another certificate: the file's first certificate is still described",
      user: (w) => ({
        name: "hank",
        command: w.broker,
        args: credentialArgs({ cert: w.cert, key: w.otherKey }),
      }),
      problems: ["fail key matches certificate"],
      json: {
        certificate: {
          subject: "CN=alice, O=dev",
          notAfter: new Date(NOW.getTime() + 2 * HOUR).toISOString().replace(".000", ""),
        },
      },
    },
    {
      name: "a static token next to exec",
      user: (w) => ({
        name: "ivy",
        command: w.broker,
        args: credentialArgs({ token: w.opaque }),
        extra: "    token: MARKER-STATIC-TOKEN",
      }),
      problems: ["fail no competing credentials"],
    },
    {
      name: "arguments the plugin refuses",
      user: (w) => ({
        name: "jack",
        command: w.broker,
        args: [...credentialArgs({ token: w.opaque }), "--before-exec-policy=sometimes"],
      }),
      problems: ["fail broker arguments"],
      json: {},
      text: /broker arguments: invalid --before-exec-policy "sometimes"/,
    },
    {
      name: "an exec command kubectl cannot find",
      user: (w) => ({
        name: "kate",
        command: inDir(w.dir, "kubectl-credentials_broker"),
        args: credentialArgs({ token: w.opaque }),
      }),
      problems: ["fail exec command"],
    },
    {
      name: "a renewal command that cannot be found",
      user: (w) => ({
        name: "liam",
        command: w.broker,
        args: [
          ...credentialArgs({ token: w.opaque }),
          "--before-exec-command=no-such-renewal-command --secret MARKER-SECRET-ARG",
        ],
      }),
      problems: ["fail before-exec command"],
      json: { token: {}, renewal: { command: "no-such-renewal-command", policy: "always" } },
    },
    {
      name: "a ~/ path is the home folder, as the plugin reads it, not a relative path",
      user: (w) => {
        Deno.copyFileSync(w.jwt, inDir(w.dir, "home-token"));
        return { name: "nora", command: w.broker, args: ["--token-path=~/home-token"] };
      },
      problems: [],
      json: {
        token: {
          expiresAt: new Date(NOW.getTime() + 50 * MINUTE).toISOString().replace(".000", ""),
        },
      },
    },
    {
      name: "a key others can read",
      ignore: !hasPosixPermissions(HOST_OS),
      user: (w) => {
        Deno.copyFileSync(w.key, inDir(w.dir, "open.key"));
        Deno.chmodSync(inDir(w.dir, "open.key"), 0o644);
        return {
          name: "mia",
          command: w.broker,
          args: credentialArgs({ cert: w.cert, key: inDir(w.dir, "open.key") }),
        };
      },
      problems: ["warn client key permissions"],
    },
    {
      name: "a failed background renewal",
      user: (w) => {
        aliceState(w, {
          failures: 2,
          lastEndedAt: new Date(NOW.getTime() - 2 * MINUTE).toISOString(),
          lastOutcome: "exit status 3",
          nextTryAt: new Date(NOW.getTime() + 58_000).toISOString(),
        });
        return alice(w);
      },
      problems: ["warn background renewal"],
      text:
        /renew-ahead +30%; the last background renewal failed 2m ago \(exit status 3\), 2 in a row; next try in 58s/,
    },
  ];
  for (const c of cases) {
    await t.step({
      name: c.name,
      ignore: c.ignore,
      fn: async () => {
        const user = c.user(w);
        const config = writeKubeconfig(inDir(w.dir, `${user.name}.config`), {
          users: [user],
          contexts: { [user.name]: user.name },
        });
        const json = await status(w, ["--kubeconfig", config, "-o", "json"]);
        assert.equal(json.code, 0, json.err);
        const [entry] = JSON.parse(json.out).users;
        assert.deepEqual(
          entry.problems.map((p: { status: string; check: string }) => `${p.status} ${p.check}`),
          c.problems,
        );
        for (const [key, value] of Object.entries(c.json ?? {})) {
          assert.deepEqual(entry[key], value, key);
        }
        if (c.json && Object.keys(c.json).length === 0) {
          assert.deepEqual(Object.keys(entry), ["name", "kubeconfig", "contexts", "problems"]);
        }
        const text = await status(w, ["--kubeconfig", config]);
        assert.equal(text.code, 0, text.err);
        if (c.text) assert.match(text.out, c.text);
        assert.ok(
          text.out.endsWith(
            c.problems.length === 0 ? "\n1 user, no problems\n" : "\n1 user, 1 problem\n",
          ),
          text.out,
        );
        for (const secret of ["MARKER-SECRET-ARG", "MARKER-STATIC-TOKEN", "MARKER-OPAQUE-TOKEN"]) {
          assert.ok(!json.out.includes(secret) && !text.out.includes(secret), secret);
        }
      },
    });
  }
});

Deno.test("status shows where an issuer user's certificates come from: the CA, its URL and role or profile", async (t) => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const cases: {
    name: string;
    args: string[];
    renewal: Record<string, unknown>;
    certificate: Record<string, unknown>;
    problems: string[];
    text: string;
  }[] = [
    {
      name: "vault",
      args: [
        "--issuer=vault",
        "--issuer-url=https://vault.example:8200/",
        "--vault-role=dev",
        "--vault-namespace=team-a",
        "--common-name=alice",
        "--renew-ahead=33%",
        `--cache-dir=${w.cache}`,
        ...credentialArgs({ cert: w.cert, key: w.key }),
      ],
      renewal: {
        issuer: "vault",
        url: "https://vault.example:8200",
        role: "dev",
        mount: "pki",
        auth: "token",
        namespace: "team-a",
        renewAhead: "33%",
      },
      certificate: {
        subject: "CN=alice, O=dev",
        notAfter: new Date(NOW.getTime() + 2 * HOUR).toISOString().replace(".000", ""),
      },
      problems: [],
      text:
        "renewal      vault https://vault.example:8200, role dev, mount pki, token login, namespace team-a",
    },
    {
      name: "step-ca: the token command's program, never its arguments",
      args: [
        "--issuer=step-ca",
        "--issuer-url=https://ca.example:9000",
        "--step-token-command=step ca token alice@example.com --password-file /MARKER-SECRET-ARG",
        ...credentialArgs({ cert: w.cert, key: w.key }),
      ],
      renewal: { issuer: "step-ca", url: "https://ca.example:9000", tokenCommand: "step" },
      certificate: {
        subject: "CN=alice, O=dev",
        notAfter: new Date(NOW.getTime() + 2 * HOUR).toISOString().replace(".000", ""),
      },
      problems: [],
      text: "renewal      step-ca https://ca.example:9000, one-time tokens from step",
    },
    {
      name: "cfssl, certificate not issued yet in the default folder",
      args: [
        "--issuer=cfssl",
        "--issuer-url=https://cfssl.example:8888",
        "--common-name=alice",
        "--cfssl-profile=client",
        "--cfssl-label=primary",
      ],
      renewal: {
        issuer: "cfssl",
        url: "https://cfssl.example:8888",
        profile: "client",
        label: "primary",
      },
      certificate: {},
      problems: ["warn client certificate", "warn client key"],
      text: "renewal      cfssl https://cfssl.example:8888, profile client, label primary",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const config = writeKubeconfig(inDir(w.dir, "issuer.config"), {
        users: [{ name: "alice", command: w.broker, args: c.args }],
      });
      const json = await status(w, ["--kubeconfig", config, "-o", "json"]);
      assert.equal(json.code, 0, json.err);
      const [entry] = JSON.parse(json.out).users;
      assert.deepEqual(entry.renewal, c.renewal);
      assert.deepEqual(entry.certificate, c.certificate);
      assert.deepEqual(
        entry.problems.map((p: { status: string; check: string }) => `${p.status} ${p.check}`),
        c.problems,
      );
      const text = await status(w, ["--kubeconfig", config]);
      assert.ok(text.out.includes(`\n  ${c.text}\n`), text.out);
      assert.ok(!(json.out + text.out).includes("MARKER-SECRET-ARG"));
    });
  }
});

Deno.test("status finds an issuer's defaults where the plugin does: its environment with exec.env over it, step's defaults file", async (t) => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const certArgs = credentialArgs({ cert: w.cert, key: w.key });
  await t.step("VAULT_ADDR from exec.env wins over the caller's", async () => {
    const config = writeKubeconfig(inDir(w.dir, "vault-env.config"), {
      users: [{
        name: "alice",
        command: w.broker,
        args: ["--issuer=vault", "--vault-role=dev", "--common-name=alice", ...certArgs],
        env: { VAULT_ADDR: "https://vault.from-exec-env:8200" },
      }],
    });
    const result = await status(w, ["--kubeconfig", config, "-o", "json"], {
      env: { VAULT_ADDR: "https://vault.from-caller:8200" },
    });
    const [entry] = JSON.parse(result.out).users;
    assert.equal(entry.renewal.url, "https://vault.from-exec-env:8200");
    assert.deepEqual(entry.problems, []);
    // The URL shows once, as where renewals come from; exec.env itself is never listed.
    const text = await status(w, ["--kubeconfig", config]);
    assert.equal(text.out.split("vault.from-exec-env").length, 2, text.out);
  });
  await t.step(
    "the caller's VAULT_ADDR when exec.env has none; none at all is the plugin's usage error",
    async () => {
      const config = writeKubeconfig(inDir(w.dir, "vault.config"), {
        users: [{
          name: "alice",
          command: w.broker,
          args: ["--issuer=vault", "--vault-role=dev", "--common-name=alice", ...certArgs],
        }],
      });
      const withAddr = await status(w, ["--kubeconfig", config, "-o", "json"], {
        env: { VAULT_ADDR: "https://vault.from-caller:8200" },
      });
      assert.equal(JSON.parse(withAddr.out).users[0].renewal.url, "https://vault.from-caller:8200");
      const without = await status(w, ["--kubeconfig", config, "-o", "json"]);
      assert.equal(without.code, 0);
      const [entry] = JSON.parse(without.out).users;
      assert.equal(entry.renewal, undefined);
      assert.deepEqual(entry.problems.map((p: { check: string }) => p.check), ["broker arguments"]);
      assert.match(entry.problems[0].detail, /--issuer vault needs --issuer-url/);
    },
  );
  await t.step("step-ca's ca-url from $HOME/.step/config/defaults.json", async () => {
    Deno.mkdirSync(inDir(inDir(w.dir, ".step"), "config"), { recursive: true });
    Deno.writeTextFileSync(
      inDir(inDir(inDir(w.dir, ".step"), "config"), "defaults.json"),
      JSON.stringify({ "ca-url": "https://ca.from-step-defaults:9000" }),
    );
    const config = writeKubeconfig(inDir(w.dir, "step.config"), {
      users: [{ name: "alice", command: w.broker, args: ["--issuer=step-ca", ...certArgs] }],
    });
    const result = await status(w, ["--kubeconfig", config, "-o", "json"]);
    assert.deepEqual(JSON.parse(result.out).users[0].renewal, {
      issuer: "step-ca",
      url: "https://ca.from-step-defaults:9000",
    });
  });
});

Deno.test("status merges KUBECONFIG as kubectl does: missing files skipped, a later user of the same name marked shadowed", async () => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const first = writeKubeconfig(inDir(w.dir, "first"), {
    current: "dev",
    contexts: { dev: "alice" },
    users: [{ name: "alice", command: w.broker, args: credentialArgs({ token: w.opaque }) }],
  });
  const second = writeKubeconfig(inDir(w.dir, "second"), {
    contexts: { other: "alice", team: "nina" },
    users: [
      alice(w),
      { name: "nina", command: w.broker, args: credentialArgs({ token: w.jwt }) },
    ],
  });
  const missing = inDir(w.dir, "missing");
  const env = { KUBECONFIG: [first, missing, second].join(LIST_SEPARATOR) };
  const json = await status(w, ["-o", "json"], { env });
  assert.equal(json.code, 0, json.err);
  const users = JSON.parse(json.out).users;
  assert.deepEqual(
    users.map((u: { name: string; kubeconfig: string; contexts: string[] }) => [
      u.name,
      u.kubeconfig,
      u.contexts,
    ]),
    [["alice", first, ["dev", "other"]], ["alice", second, []], ["nina", second, ["team"]]],
  );
  assert.deepEqual(users[1].problems[0], {
    check: "kubeconfig user",
    status: "warn",
    detail:
      `user "alice" in ${second} is shadowed by the user of the same name in ${first}: kubectl uses that one`,
    fix: "rename one of them, or change the order of KUBECONFIG",
  });
  // The shadowed entry is still described: it is what someone edited and expects kubectl to use.
  assert.equal(users[1].certificate.subject, "CN=alice, O=dev");
  const text = await status(w, [], { env });
  assert.match(
    text.out,
    new RegExp(
      `\\nalice \\(shadowed: kubectl uses the user of this name in ${escape(first)}\\)\\n`,
    ),
  );
  assert.doesNotMatch(text.out, /missing/);
});

Deno.test("status --context and --user show one user; a name that does not exist is an error, one that is not the broker's is said", async (t) => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const config = mixedKubeconfig(w);
  const names = async (args: string[]) => {
    const result = await status(w, ["--kubeconfig", config, "-o", "json", ...args]);
    assert.equal(result.code, 0, result.err);
    return JSON.parse(result.out).users.map((u: { name: string }) => u.name);
  };
  await t.step(
    "--context",
    async () => assert.deepEqual(await names(["--context", "ops"]), ["carol"]),
  );
  await t.step("--user", async () => assert.deepEqual(await names(["--user", "alice"]), ["alice"]));
  await t.step("--user wins over --context, as for kubectl", async () => {
    assert.deepEqual(await names(["--context", "dev", "--user", "carol"]), ["carol"]);
  });
  await t.step("a user that does not run the broker", async () => {
    assert.deepEqual(await names(["--user", "erin"]), []);
    const text = await status(w, ["--kubeconfig", config, "--context", "static"]);
    assert.equal(text.code, 0);
    assert.equal(
      text.out,
      `user "bob" in ${config} does not get its credentials from the broker\n`,
    );
  });
  for (
    const [args, message] of [
      [["--context", "nope"], /error: context "nope" not found in /],
      [["--user", "nope"], /error: user "nope" is not defined in /],
    ] as const
  ) {
    await t.step(args.join(" "), async () => {
      const result = await status(w, ["--kubeconfig", config, ...args]);
      assert.equal(result.code, 1);
      assert.equal(result.out, "");
      assert.match(result.err, message);
    });
  }
});

Deno.test("status exits 1 when it cannot read the kubeconfig, 2 on a usage error, 0 with no broker user", async (t) => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const cases: [string, string[], Record<string, string>, number, RegExp][] = [
    [
      "a --kubeconfig that does not exist",
      ["--kubeconfig", inDir(w.dir, "nope")],
      {},
      1,
      /^error: kubeconfig .*nope does not exist\n/,
    ],
    [
      "no KUBECONFIG file exists",
      [],
      { KUBECONFIG: [inDir(w.dir, "a"), inDir(w.dir, "b")].join(LIST_SEPARATOR) },
      1,
      /^error: none of the kubeconfig files exist: /,
    ],
    [
      "malformed YAML",
      ["--kubeconfig", inDir(w.dir, "broken")],
      {},
      1,
      /^error: kubeconfig .*broken is not valid YAML at line \d+, column \d+/,
    ],
    ["an unknown -o", ["-o", "yaml"], {}, 2, /^error: invalid --output "yaml": use text or json/],
    ["an argument", ["alice"], {}, 2, /^error: unexpected argument "alice"/],
    ["an unknown flag", ["--nope"], {}, 2, /^error: unknown flag --nope/],
  ];
  Deno.writeTextFileSync(inDir(w.dir, "broken"), "users:\n- name: [\n");
  for (const [name, args, env, code, message] of cases) {
    await t.step(name, async () => {
      const result = await status(w, args, { env });
      assert.equal(result.code, code, result.err);
      assert.match(result.err, message);
      assert.equal(result.out, "");
    });
  }
  await t.step("no broker user", async () => {
    const config = writeKubeconfig(inDir(w.dir, "plain"), {
      users: [{ name: "bob", raw: "{token: MARKER-STATIC-TOKEN}" }],
    });
    const text = await status(w, ["--kubeconfig", config]);
    assert.equal(text.code, 0);
    assert.match(text.out, /^no user in .*plain gets its credentials from the broker\n/);
    const json = await status(w, ["--kubeconfig", config, "-o", "json"]);
    assert.deepEqual(JSON.parse(json.out), { users: [] });
  });
  await t.step("--help", async () => {
    const help = await status(w, ["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.out, /^Usage: kubectl credentials-broker status \[flags\]/);
    assert.match(help.out, /--output FORMAT/);
  });
});

Deno.test("status colours only on a terminal", async () => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const config = writeKubeconfig(inDir(w.dir, "config"), {
    users: [{
      name: "dave",
      command: w.broker,
      args: credentialArgs({ cert: w.expiredCert, key: w.expiredKey }),
    }],
  });
  const plain = await status(w, ["--kubeconfig", config], { color: false });
  const coloured = await status(w, ["--kubeconfig", config], { color: true });
  const ESC = "\x1b";
  assert.ok(!plain.out.includes(ESC), plain.out);
  assert.match(plain.out, /\[FAIL\] certificate expiry/);
  for (
    const painted of [
      `${ESC}[1mdave${ESC}[0m`,
      `${ESC}[31mexpired 3m ago`,
      `${ESC}[31m✗${ESC}[0m certificate expiry`,
    ]
  ) assert.ok(coloured.out.includes(painted), painted);
  // Without the escapes and marks, the same words.
  const stripped = coloured.out.replaceAll(`${ESC}[0m`, "").replaceAll(`${ESC}[1m`, "")
    .replaceAll(`${ESC}[31m`, "").replace("✗", "[FAIL]");
  assert.equal(stripped.replace(/^ +fix/m, "fix"), plain.out.replace(/^ +fix/m, "fix"));
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

Deno.test("status lists exactly the users whose exec runs the broker, as doctor recognises it", async (t) => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const args = credentialArgs({ token: w.opaque });
  const rows: [string, string, string[], boolean][] = [
    ["the plugin on PATH", "kubectl-credentials_broker", args, true],
    ["the plugin by absolute path", w.broker, args, true],
    ["the Windows executable", inDir(w.dir, "kubectl-credentials_broker.exe"), args, true],
    ["the Windows install's shim", inDir(w.dir, "kubectl-credentials_broker.cmd"), args, true],
    ["a .CMD in capitals", "kubectl-credentials_broker.CMD", args, true],
    ["kubectl with the plugin's name first", "kubectl", ["credentials-broker", ...args], true],
    ["a versioned kubectl", "kubectl.1.32", ["credentials-broker", ...args], true],
    ["kubectl running another plugin", "kubectl", ["oidc-login", "get-token"], false],
    [
      "kubectl with the plugin's name later",
      "kubectl",
      ["oidc-login", "credentials-broker"],
      false,
    ],
    ["another credential plugin", "aws", ["eks", "get-token"], false],
    ["a name that only starts alike", "kubectl-credentials_broker-old", args, false],
  ];
  for (const [name, command, userArgs, listed] of rows) {
    await t.step(name, async () => {
      const config = writeKubeconfig(inDir(w.dir, "recognition.config"), {
        users: [{ name: "u", command, args: userArgs }],
      });
      const result = await status(w, ["--kubeconfig", config, "-o", "json"]);
      assert.equal(result.code, 0, result.err);
      assert.equal(JSON.parse(result.out).users.length, listed ? 1 : 0);
    });
  }
});

Deno.test("completion offers status's flags, -o values and the kubeconfig's names for --context and --user", async () => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const config = mixedKubeconfig(w);
  const words = (args: string[], word: string) =>
    complete(args, word).candidates.map((candidate) => candidate.split("\t")[0]);
  assert.deepEqual(words(["status"], "--"), [
    "--kubeconfig",
    "--context",
    "--user",
    "--output",
    "--help",
  ]);
  assert.deepEqual(words(["status", "-o"], ""), ["text", "json"]);
  const io = { env: () => undefined, cwd: () => w.dir };
  const contexts = await withKubeconfigNames(
    complete(["status", "--kubeconfig", config, "--context"], "dev"),
    io,
  );
  assert.deepEqual(contexts.candidates, ["dev", "dev-admin"]);
  const users = await withKubeconfigNames(
    complete(["status", "--kubeconfig", config, "--user"], ""),
    io,
  );
  assert.deepEqual(users.candidates, ["alice", "bob", "carol", "erin", "frank"]);
});
