/**
 * No secret reaches a terminal or a log: every error path of the plugin, `kubeconfig set` and `doctor` runs, spawned
 * as installed, with credential files and env values holding recognisable markers, and no marker may appear on
 * stdout or stderr (except inside the ExecCredential of a successful call, which is the point of the plugin).
 */
import assert from "node:assert/strict";
import {
  clientCredentials,
  DENO_DIR,
  generateKey,
  installedBroker,
  issueCert,
  pathWith,
  pluginEnv,
  run,
  runBroker,
  tempDir,
  writeCommandSync,
  writeExecutable,
} from "./helpers.ts";
import { dirname, HOST_OS } from "../lib/shared/platform.ts";
import { CFSSL_AUTH_PROFILE, findCfssl, startCfssl } from "../scripts/world/cfssl.ts";
import { startVaultServer } from "../scripts/world/vault_server.ts";

const HOUR = 3600_000;
const TOKEN = "MARKER-TOKEN-3f9a1c";
const ENV = "MARKER-ENV-77b2e0";
const ARG = "MARKER-ARG-5d41aa";
const OUT = "MARKER-OUT-c0ffee";
const STATIC = "MARKER-STATIC-19e4b7";

interface World {
  dir: string;
  cert: string;
  key: string;
  other: string;
  expired: string;
  token: string;
  /** Every string that must never be printed: markers and the base64 lines of each key. */
  secrets: string[];
}

async function world(dir: string): Promise<World> {
  const { ca, key, cert, token } = await clientCredentials(dir, { token: `${TOKEN}\n` });
  const other = await generateKey(dir, "other.key", "rsa");
  const expired = await issueCert({
    dir,
    ca,
    keyPath: key,
    out: "expired.crt",
    notBefore: new Date(Date.now() - 3 * HOUR),
    notAfter: new Date(Date.now() - HOUR),
  });
  const keyLines = [key, other, ca.key].flatMap((path) =>
    Deno.readTextFileSync(path).split("\n").filter((line) => line && !line.startsWith("-----"))
      // Short last lines could match by chance; 16 characters of base64 cannot.
      .filter((line) => line.length >= 16)
  );
  return {
    dir,
    cert,
    key,
    other,
    expired,
    token,
    secrets: [TOKEN, ENV, ARG, OUT, STATIC, ...keyLines],
  };
}

function assertNoSecret(w: World, what: string, ...texts: string[]) {
  for (const text of texts) {
    for (const secret of w.secrets) {
      assert.ok(
        !text.includes(secret),
        `${what} printed a secret (${secret.slice(0, 12)}...):\n${text}`,
      );
    }
  }
}

Deno.test("the plugin's error paths never print a token, key, command argument or env value", async (t) => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const write = (name: string, text: string, mode = 0o600) => {
    Deno.writeTextFileSync(`${tmp.path}/${name}`, text, { mode });
    Deno.chmodSync(`${tmp.path}/${name}`, mode);
    return `${tmp.path}/${name}`;
  };
  const keyText = Deno.readTextFileSync(w.key);
  const lines = keyText.split("\n");
  const broken = [lines[0], lines[1]!.slice(0, -3) + "!!!", ...lines.slice(2)].join("\n");
  const slow = writeCommandSync(tmp.path, "slow", [{ sleepMs: 5000 }]).line;
  const fail = writeCommandSync(tmp.path, "fail", [{ print: OUT, stream: "stderr" }, { exit: 7 }])
    .line;
  const cases: [string, string[], Record<string, string>?, string?][] = [
    ["token with a space", [`--token-path=${write("t1", `${TOKEN} tail`)}`]],
    ["token on two lines", [`--token-path=${write("t2", `${TOKEN}\n${TOKEN}\n`)}`]],
    ["token with a control character", [`--token-path=${write("t3", `${TOKEN}\x01`)}`]],
    ["key with broken base64", [
      `--client-certificate-path=${w.cert}`,
      `--client-key-path=${write("k1", broken)}`,
    ]],
    ["key that is not DER", [
      `--client-certificate-path=${w.cert}`,
      `--client-key-path=${
        write("k2", keyText.replace(lines[1]!, lines[1]!.split("").reverse().join("")))
      }`,
    ]],
    ["key from another pair", [
      `--client-certificate-path=${w.cert}`,
      `--client-key-path=${w.other}`,
    ]],
    ["key given as the certificate", [
      `--client-certificate-path=${w.key}`,
      `--client-key-path=${w.key}`,
    ]],
    ["two keys in one file", [
      `--client-certificate-path=${w.cert}`,
      `--client-key-path=${write("k3", keyText + Deno.readTextFileSync(w.other))}`,
    ]],
    ["encrypted key", [
      `--client-certificate-path=${w.cert}`,
      `--client-key-path=${
        write(
          "k4",
          keyText.replace(
            lines[0]!,
            `${lines[0]}\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n`,
          ),
        )
      }`,
    ]],
    ["expired certificate", [
      `--client-certificate-path=${w.expired}`,
      `--client-key-path=${w.key}`,
    ]],
    ["before-exec command fails", [
      `--token-path=${w.token}`,
      `--before-exec-command=${fail} --password ${ARG}`,
    ]],
    ["before-exec command missing", [
      `--token-path=${w.token}`,
      `--before-exec-command=no-such-renewer --password ${ARG}`,
    ]],
    ["before-exec command times out", [
      `--token-path=${w.token}`,
      `--before-exec-command=${slow} ${ARG}`,
      "--before-exec-timeout=200ms",
    ]],
    ["before-exec command with a bad quote", [
      `--token-path=${w.token}`,
      `--before-exec-command=renew '${ARG}`,
    ]],
    [
      "KUBERNETES_EXEC_INFO that is not JSON",
      [`--token-path=${w.token}`],
      undefined,
      `{"spec": ${ENV}}`,
    ],
    [
      "KUBERNETES_EXEC_INFO with a secret cluster config",
      [`--token-path=${w.token}`],
      undefined,
      JSON.stringify({ apiVersion: "v0", spec: { cluster: { config: ENV } } }),
    ],
    ["unknown flag", [`--token-pth=${w.token}`, `--before-exec-command=x ${ARG}`]],
    ["an env value in the environment", [`--token-path=${write("t5", "")}`], { VAULT_TOKEN: ENV }],
  ];
  for (const [name, args, env, info] of cases) {
    await t.step(name, async () => {
      const result = await runBroker(args, {
        home: tmp.path,
        env: { KUBECTL_CREDENTIALS_BROKER_DEBUG: "1", ...env },
        ...(info === undefined ? {} : { execInfo: info }),
      });
      assert.notEqual(result.code, 0, `${name} should fail`);
      assert.equal(result.stdout, "");
      // The failing command's own stderr is the user's to see (kubectl shows it); strip that line only.
      assertNoSecret(w, name, result.stderr.replace(`${OUT}\n`, ""));
      assert.match(result.stderr, /^error: /m);
    });
  }
  const renew = writeCommandSync(tmp.path, "renew", [{ print: "renewing with {args}" }]).line;
  const success = async () => {
    const result = await runBroker([
      `--client-certificate-path=${w.cert}`,
      `--client-key-path=${w.key}`,
      `--token-path=${w.token}`,
      `--before-exec-command=${renew} ${ARG}`,
    ], { home: tmp.path, env: { VAULT_TOKEN: ENV } });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).status.token, TOKEN);
    // The command's stdout goes to stderr by design: strip what the test's own command printed.
    assertNoSecret(w, "success", result.stderr.replace(`renewing with ${ARG}\n`, ""));
    return result;
  };
  await t.step("success: the secrets are in the ExecCredential only", async () => {
    await success();
  });
  const modes = Deno.build.os === "windows";
  await t.step({
    name: "success with a loose key: it is named, not shown" +
      (modes ? " (ignored: Windows files have no mode bits)" : ""),
    ignore: modes,
    fn: async () => {
      Deno.chmodSync(w.key, 0o644);
      try {
        const result = await success();
        assert.match(result.stderr, /warning: client key .* can be read by other users/);
      } finally {
        Deno.chmodSync(w.key, 0o600);
      }
    },
  });
});

function kubeconfig(dir: string, w: World, extra = ""): string {
  const path = `${dir}/config`;
  Deno.writeTextFileSync(
    path,
    `apiVersion: v1
kind: Config
clusters:
- name: dev
  cluster: {server: "https://127.0.0.1:6443"}
contexts:
- name: dev
  context: {cluster: dev, user: alice}
current-context: dev
users:
- name: alice
  user:
    token: ${STATIC}
    client-key-data: ${Deno.readTextFileSync(w.key).split("\n")[1]}
    exec:
      apiVersion: client.authentication.k8s.io/v1
      interactiveMode: IfAvailable
      command: kubectl-credentials_broker
      args: [${JSON.stringify(`--token-path=${w.token}`)}, "--before-exec-command=renew ${ARG}"]
      env:
      - {name: VAULT_TOKEN, value: ${ENV}}
- name: bob
  user:
    password: ${STATIC}
${extra}`,
    { mode: 0o600 },
  );
  return path;
}

async function broker(args: string[], home: string, env: Record<string, string> = {}) {
  return await run(await installedBroker(), args, {
    cwd: home,
    env: pluginEnv(home, { DENO_DIR, KUBECTL_CREDENTIALS_BROKER_DEBUG: "1", ...env }),
  });
}

Deno.test("kubeconfig set shows redacted diffs and errors without the secrets of any user", async (t) => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const config = kubeconfig(tmp.path, w);
  const set = (args: string[]) =>
    broker(["kubeconfig", "set", "--kubeconfig", config, ...args], tmp.path);
  await t.step(
    "dry run replacing a static token and key data, with a secret env value",
    async () => {
      const result = await set([
        "--user",
        "alice",
        `--token-path=${w.token}`,
        `--env=RENEW_SECRET=${ENV}`,
        `--before-exec-command=renew --password ${ARG}`,
        "--dry-run",
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^[-+]/m);
      // The args are stored in plain text by design and the diff shows them; the env value and old secrets never.
      assertNoSecret(
        { ...w, secrets: w.secrets.filter((s) => s !== ARG) },
        "kubeconfig set --dry-run",
        result.stdout,
        result.stderr,
      );
    },
  );
  await t.step("applied with --force", async () => {
    const copy = `${tmp.path}/copy`;
    Deno.copyFileSync(config, copy);
    const result = await broker([
      "kubeconfig",
      "set",
      "--kubeconfig",
      copy,
      "--user",
      "bob",
      `--token-path=${w.token}`,
      `--env=RENEW_SECRET=${ENV}`,
      "--force",
    ], tmp.path);
    assert.equal(result.code, 0, result.stderr);
    assertNoSecret(w, "kubeconfig set --force", result.stdout, result.stderr);
  });
  for (
    const [name, text] of [
      ["broken YAML on a secret line", `users:\n- name: x\n  user:\n    token: "${STATIC}\n`],
      [
        "a duplicate key next to a secret",
        `users:\n- name: alice\n  user:\n    token: ${STATIC}\n    token: ${TOKEN}\n`,
      ],
      ["a tab in a secret line", `users:\n- name: alice\n  user:\n\ttoken: ${STATIC}\n`],
      ["users is not a list", `users: {token: ${STATIC}}\n`],
    ] as const
  ) {
    await t.step(name, async () => {
      const bad = `${tmp.path}/bad`;
      Deno.writeTextFileSync(bad, text);
      const result = await broker([
        "kubeconfig",
        "set",
        "--kubeconfig",
        bad,
        "--user",
        "alice",
        `--token-path=${w.token}`,
        "--force",
      ], tmp.path);
      assert.notEqual(result.code, 0);
      assertNoSecret(w, name, result.stdout, result.stderr);
    });
  }
  await t.step("an invalid --env names no value", async () => {
    const result = await set([
      "--user",
      "alice",
      `--token-path=${w.token}`,
      `--env==${ENV}`,
      "--dry-run",
    ]);
    assert.equal(result.code, 2);
    assertNoSecret(w, "bad --env", result.stdout, result.stderr);
  });
  await t.step("an --env written NAME:VALUE names the variable, not the value", async () => {
    const result = await set([
      "--user",
      "alice",
      `--token-path=${w.token}`,
      `--env=VAULT_TOKEN:${ENV}`,
      "--dry-run",
    ]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /invalid --env entry 1 \(VAULT_TOKEN\)/);
    assertNoSecret(w, "--env NAME:VALUE", result.stdout, result.stderr);
  });
});

Deno.test("doctor never prints a secret, passing or failing, as text or JSON", async (t) => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const bin = `${tmp.path}/bin`;
  Deno.mkdirSync(bin);
  // The installed broker's folder on PATH, as after `deno task install`.
  const PATH = pathWith(bin, dirname(await installedBroker(), HOST_OS));
  // The renewal command echoes its argument and the env secret (the broker routes that to stderr) and fails.
  writeExecutable(bin, "renew", [
    { print: `{args} {env:VAULT_TOKEN} ${OUT}` },
    { print: OUT, stream: "stderr" },
    { exit: 1 },
  ]);
  const config = kubeconfig(tmp.path, w);
  for (const output of ["text", "json"]) {
    await t.step(`competing credentials and a failing renewal (${output})`, async () => {
      const result = await broker(["doctor", "--kubeconfig", config, "-o", output], tmp.path, {
        PATH,
      });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stdout, /also has token, client-key-data/);
      assert.match(result.stdout, /before-exec command renew failed with exit status 1/);
      assertNoSecret(w, `doctor -o ${output}`, result.stdout, result.stderr);
    });
  }
  await t.step("a user with a password", async () => {
    const result = await broker(["doctor", "--kubeconfig", config, "--user", "bob"], tmp.path, {
      PATH,
    });
    assert.equal(result.code, 1);
    assertNoSecret(w, "doctor --user bob", result.stdout, result.stderr);
  });
  await t.step("an exec command that prints credentials with junk after them", async () => {
    const leaky = writeExecutable(bin, "leaky", [
      {
        print:
          '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"{env:VAULT_TOKEN}"}}',
      },
      { print: "ok {env:VAULT_TOKEN}" },
    ]);
    const text = Deno.readTextFileSync(config).replace(
      "command: kubectl-credentials_broker",
      `command: ${leaky}`,
    );
    Deno.writeTextFileSync(`${tmp.path}/leaky-config`, text);
    const result = await broker(["doctor", "--kubeconfig", `${tmp.path}/leaky-config`], tmp.path, {
      PATH,
    });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /is not one JSON object/);
    assertNoSecret(w, "doctor with a leaky command", result.stdout, result.stderr);
  });
  const modes = Deno.build.os === "windows";
  await t.step({
    name: "a working user with a loose key and a JWT-less token" +
      (modes ? " (ignored: Windows files have no mode bits)" : ""),
    ignore: modes,
    fn: async () => {
      writeExecutable(bin, "renew", []);
      const text = Deno.readTextFileSync(config).replace(
        /^ {4}token: .*\n {4}client-key-data: .*\n/m,
        "",
      )
        .replace(
          JSON.stringify(`--token-path=${w.token}`),
          [
            `--token-path=${w.token}`,
            `--client-certificate-path=${w.cert}`,
            `--client-key-path=${w.key}`,
          ]
            .map((arg) => JSON.stringify(arg)).join(", "),
        );
      Deno.writeTextFileSync(`${tmp.path}/good-config`, text);
      Deno.chmodSync(w.key, 0o640);
      const result = await broker(["doctor", "--kubeconfig", `${tmp.path}/good-config`], tmp.path, {
        PATH,
      });
      Deno.chmodSync(w.key, 0o600);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /\[warn\] client key permissions/);
      assertNoSecret(w, "doctor passing", result.stdout, result.stderr);
    },
  });
});

Deno.test({
  name:
    "--issuer: the keys it writes, the authsign key and a token an issuer echoes back never reach stderr" +
    (!findCfssl() ? " (ignored: no cfssl here)" : ""),
  ignore: !findCfssl(),
  fn: async (t) => {
    await using tmp = await tempDir();
    await using cfssl = await startCfssl({ dir: `${tmp.path}/cfssl` });
    const authKey = Deno.readTextFileSync(cfssl.authKeyFile).trim();
    const cert = `${tmp.path}/issued/client.crt`;
    const key = `${tmp.path}/issued/client.key`;
    const args = (url: string, extra: string[] = []) => [
      "--issuer=cfssl",
      `--issuer-url=${url}`,
      "--common-name=alice",
      `--cfssl-profile=${CFSSL_AUTH_PROFILE}`,
      `--cfssl-auth-key-file=${cfssl.authKeyFile}`,
      `--client-certificate-path=${cert}`,
      `--client-key-path=${key}`,
      `--cache-dir=${tmp.path}/cache`,
      ...extra,
    ];
    const first = await runBroker(args(cfssl.url), { home: tmp.path });
    assert.equal(first.code, 0, first.stderr);
    const issuedKeyLines = Deno.readTextFileSync(key).split("\n")
      .filter((line) => line.length >= 16 && !line.startsWith("-----"));
    const w: World = {
      dir: tmp.path,
      cert,
      key,
      other: key,
      expired: cert,
      token: "",
      secrets: [authKey, ...issuedKeyLines],
    };
    assertNoSecret(w, "a successful issuance", first.stderr);
    await t.step("a refused issuance beside the stored key", async () => {
      // The certificate goes; the key the issuer wrote stays, and cfssl refuses the next (Ed25519) request.
      Deno.removeSync(cert);
      const refused = await runBroker(args(cfssl.url, ["--key-type=ed25519"]), { home: tmp.path });
      assert.equal(refused.code, 3);
      assertNoSecret(w, "a refused issuance", refused.stdout, refused.stderr);
    });
    await t.step("an issuer that echoes the token and request in its error", async () => {
      const echoed: string[] = [];
      const controller = new AbortController();
      const { promise: listening, resolve } = Promise.withResolvers<number>();
      const server = Deno.serve({
        hostname: "127.0.0.1",
        port: 0,
        signal: controller.signal,
        onListen: ({ port }) => resolve(port),
      }, async (request) => {
        const body = await request.json() as { token: string; request: string };
        echoed.push(body.token, body.request);
        return Response.json({
          success: false,
          errors: [{ code: 400, message: `bad token ${body.token} for ${body.request}` }],
        }, { status: 400 });
      });
      try {
        const port = await listening;
        const result = await runBroker(args(`http://127.0.0.1:${port}`), { home: tmp.path });
        assert.equal(result.code, 3);
        assert.match(result.stderr, /refused to sign \(HTTP 400\): bad token/);
        assert.equal(echoed.length, 2);
        assertNoSecret(
          { ...w, secrets: [...w.secrets, ...echoed] },
          "an echoing issuer",
          result.stderr,
        );
      } finally {
        controller.abort();
        await server.finished;
      }
    });
  },
});

Deno.test("--issuer vault: tokens (environment, ~/.vault-token, echoed by Vault, answered by lookup-self) and the issued key never reach stderr, nor doctor's report", async (t) => {
  await using tmp = await tempDir();
  await using vault = await startVaultServer();
  vault.addRole("dev", { keyType: "ec" });
  const envToken = vault.addToken({ name: "env", paths: ["pki/*"] });
  const fileToken = vault.addToken({ name: "file", paths: ["pki/*"] });
  Deno.writeTextFileSync(`${tmp.path}/.vault-token`, `${fileToken}\n`, { mode: 0o600 });
  const cert = `${tmp.path}/issued/client.crt`;
  const key = `${tmp.path}/issued/client.key`;
  const args = [
    "--issuer=vault",
    `--issuer-url=${vault.url}`,
    "--vault-role=dev",
    "--common-name=alice",
    `--client-certificate-path=${cert}`,
    `--client-key-path=${key}`,
    `--cache-dir=${tmp.path}/cache`,
  ];
  const first = await runBroker(args, { home: tmp.path, env: { VAULT_TOKEN: envToken } });
  assert.equal(first.code, 0, first.stderr);
  const issuedKeyLines = Deno.readTextFileSync(key).split("\n")
    .filter((line) => line.length >= 16 && !line.startsWith("-----"));
  const w: World = {
    dir: tmp.path,
    cert,
    key,
    other: key,
    expired: cert,
    token: "",
    secrets: [envToken, fileToken, ...issuedKeyLines],
  };
  assertNoSecret(w, "a successful issuance", first.stderr);
  await t.step("a Vault that echoes the token in its error", async () => {
    Deno.removeSync(cert);
    vault.fault({ status: 400, errors: (seen) => [`bad request for ${seen}`] });
    const echoed = await runBroker(args, { home: tmp.path, env: { VAULT_TOKEN: envToken } });
    assert.equal(echoed.code, 3);
    assert.match(echoed.stderr, /400 bad request for \[redacted\]/);
    assertNoSecret(w, "an echoing Vault", echoed.stdout, echoed.stderr);
  });
  await t.step("a revoked token from ~/.vault-token", async () => {
    vault.revoke("file");
    const refused = await runBroker(args, { home: tmp.path });
    assert.equal(refused.code, 3);
    assert.match(refused.stderr, /403 permission denied; invalid token/);
    assertNoSecret(w, "a refused token", refused.stdout, refused.stderr);
  });
  await t.step("doctor, whose lookup-self answer holds the token", async () => {
    const config = `${tmp.path}/vault-config`;
    Deno.writeTextFileSync(
      config,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:1" } }],
        users: [{
          name: "alice",
          user: {
            exec: {
              apiVersion: "client.authentication.k8s.io/v1",
              command: await installedBroker(),
              args,
              interactiveMode: "Never",
            },
          },
        }],
        contexts: [{ name: "c", context: { cluster: "c", user: "alice" } }],
        "current-context": "c",
      }),
      { mode: 0o600 },
    );
    for (const output of ["text", "json"]) {
      const result = await broker(["doctor", "--kubeconfig", config, "-o", output], tmp.path, {
        VAULT_TOKEN: envToken,
      });
      assert.match(result.stdout, /vault token/);
      assertNoSecret(w, `doctor (${output})`, result.stdout, result.stderr);
    }
    assert.ok(
      vault.requests.some((r) => r.path === "/v1/auth/token/lookup-self" && r.status === 200),
    );
  });
});
