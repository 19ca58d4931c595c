/**
 * The plugin as kubectl meets it, judged by stdout, stderr and exit code, in-process: callPlugin, the same
 * runPlugin and error report main.ts runs, with real files and real before-exec commands (Deno scripts).
 *
 * Where a test goes: one that checks a message, a file or a policy runs here, in the unit tier. One that starts
 * the broker as a process, or whose subject is a process by nature (argv and environment as kubectl passes them,
 * exit codes and streams of the executable, stdin and a real terminal, a command's process tree stopped after a
 * real timeout), goes to plugin_process_test.ts (the process tier), which .ci/run and GitHub's matrix also run
 * against the installed shim and each compiled binary.
 */
import assert from "node:assert/strict";
import { readCredentials } from "../../lib/credentials/credentials.ts";
import { parsePem } from "../../lib/credentials/pem.ts";
import { parseCertificate } from "../../lib/credentials/x509.ts";
import {
  clientCredentials,
  generateKey,
  issueCert,
  type KeyType,
  literal,
  makeJwt,
  tempDir,
  writeCommandSync,
} from "../helpers.ts";
import { assertOneErrorLine, callPlugin, execInfo } from "./call_plugin.ts";

const V1 = "client.authentication.k8s.io/v1";
const V1BETA1 = "client.authentication.k8s.io/v1beta1";

const WINDOWS = Deno.build.os === "windows";
/** The program an error about a test command names: the Deno executable that runs the command's script. */
const DENO = literal(Deno.execPath());

Deno.test("the plugin echoes the apiVersion of KUBERNETES_EXEC_INFO, v1beta1 when it is absent", async (t) => {
  await using tmp = await tempDir();
  const { key, cert } = await clientCredentials(tmp.path);
  const args = [`--client-certificate-path=${cert}`, `--client-key-path=${key}`];
  for (
    const [name, info, expected] of [["v1", execInfo(V1), V1], [
      "v1beta1",
      execInfo(V1BETA1),
      V1BETA1,
    ], ["unset", null, V1BETA1]] as const
  ) {
    await t.step(name, async () => {
      const result = await callPlugin(args, { home: tmp.path, execInfo: info });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, "");
      const output = JSON.parse(result.stdout);
      assert.equal(output.apiVersion, expected);
      assert.equal(output.kind, "ExecCredential");
      assert.match(output.status.clientCertificateData, /^-----BEGIN CERTIFICATE-----\n/);
      assert.match(output.status.clientKeyData, /^-----BEGIN PRIVATE KEY-----\n/);
    });
  }
  await t.step("v1alpha1 is refused with the supported list", async () => {
    const result = await callPlugin(args, {
      home: tmp.path,
      execInfo: execInfo("client.authentication.k8s.io/v1alpha1"),
    });
    assert.equal(result.code, 2);
    assert.equal(result.stdout, "");
    assertOneErrorLine(
      result.stderr,
      /v1alpha1.*supported: client\.authentication\.k8s\.io\/v1, client\.authentication\.k8s\.io\/v1beta1/,
    );
  });
});

Deno.test("the plugin hands out RSA, EC P-256 and Ed25519 keys with their certificate", async (t) => {
  for (const type of ["rsa", "ec", "ed25519"] as KeyType[]) {
    await t.step(type, async () => {
      await using tmp = await tempDir();
      const { key, cert } = await clientCredentials(tmp.path, { type });
      const result = await callPlugin([
        `--client-certificate-path=${cert}`,
        `--client-key-path=${key}`,
      ], { home: tmp.path });
      assert.equal(result.code, 0, result.stderr);
      const status = JSON.parse(result.stdout).status;
      // What the broker printed is itself a matching certificate and key.
      Deno.writeTextFileSync(`${tmp.path}/out.crt`, status.clientCertificateData);
      Deno.writeTextFileSync(`${tmp.path}/out.key`, status.clientKeyData, { mode: 0o600 });
      const reread = await readCredentials({
        clientCertificatePath: `${tmp.path}/out.crt`,
        clientKeyPath: `${tmp.path}/out.key`,
      });
      assert.deepEqual(reread.problems, []);
      const leaf = parseCertificate(parsePem(Deno.readTextFileSync(cert))[0]!.der);
      assert.equal(
        status.expirationTimestamp,
        new Date(leaf.notAfter.getTime() - 60_000).toISOString().replace(".000Z", "Z"),
      );
    });
  }
});

Deno.test("the plugin puts the leaf first when the certificate file lists intermediates before it", async () => {
  await using tmp = await tempDir();
  const { ca, key, cert } = await clientCredentials(tmp.path);
  const chain = `${tmp.path}/chain.crt`;
  Deno.writeTextFileSync(chain, Deno.readTextFileSync(ca.cert) + Deno.readTextFileSync(cert));
  const result = await callPlugin(
    [`--client-certificate-path=${chain}`, `--client-key-path=${key}`],
    { home: tmp.path },
  );
  assert.equal(result.code, 0, result.stderr);
  const blocks = parsePem(JSON.parse(result.stdout).status.clientCertificateData);
  assert.deepEqual(blocks.map((b) => parseCertificate(b.der).subject), [
    "CN=alice, O=dev",
    "CN=test ca",
  ]);
});

Deno.test("the plugin strips a CRLF from the token and expires a JWT a margin before its exp", async () => {
  await using tmp = await tempDir();
  const crlf = `${tmp.path}/crlf`;
  Deno.writeTextFileSync(crlf, "s.crlf-token\r\n", { mode: 0o600 });
  let result = await callPlugin([`--token-path=${crlf}`], { home: tmp.path });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout).status, { token: "s.crlf-token" });
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const jwt = `${tmp.path}/jwt`;
  const token = makeJwt({ sub: "alice", exp });
  Deno.writeTextFileSync(jwt, token + "\n", { mode: 0o600 });
  result = await callPlugin([`--token-path=${jwt}`, "--refresh-margin=2m"], { home: tmp.path });
  assert.equal(result.code, 0, result.stderr);
  const status = JSON.parse(result.stdout).status;
  assert.equal(status.token, token);
  assert.equal(
    status.expirationTimestamp,
    new Date((exp - 120) * 1000).toISOString().replace(".000Z", "Z"),
  );
});

Deno.test("the earliest of certificate and token expiry wins", async () => {
  await using tmp = await tempDir();
  const { key, cert } = await clientCredentials(tmp.path);
  const exp = Math.floor(Date.now() / 1000) + 1800;
  const jwt = `${tmp.path}/jwt`;
  Deno.writeTextFileSync(jwt, makeJwt({ exp }), { mode: 0o600 });
  const result = await callPlugin(
    [
      `--client-certificate-path=${cert}`,
      `--client-key-path=${key}`,
      `--token-path=${jwt}`,
      "--refresh-margin=0",
    ],
    { home: tmp.path },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(
    JSON.parse(result.stdout).status.expirationTimestamp,
    new Date(exp * 1000).toISOString().replace(".000Z", "Z"),
  );
});

Deno.test("a failing, missing or killed before-exec command fails the broker before any file is read", async (t) => {
  await using tmp = await tempDir();
  const missing = `${tmp.path}/not-there.crt`;
  const args = [`--client-certificate-path=${missing}`, `--client-key-path=${missing}`];
  const fail = writeCommandSync(tmp.path, "fail", [
    { print: "vault: permission denied", stream: "stderr" },
    { exit: 3 },
  ]).line;
  const failed = new RegExp(`^error: before-exec command ${DENO} failed with exit status 3$`);
  const cases: [string, string, RegExp, string?][] = [
    ["exit 3", `${fail} --secret-arg=hunter2`, failed],
    [
      "not on PATH",
      "no-such-renewal-command --x",
      /^error: before-exec command no-such-renewal-command not found on PATH$/,
    ],
    [
      "no such file",
      `"${tmp.path}/nope.sh"`,
      new RegExp(`^error: before-exec command ${literal(tmp.path)}.nope\\.sh not found$`),
    ],
    [
      "not executable",
      (Deno.writeTextFileSync(`${tmp.path}/plain.sh`, "exit 0\n", { mode: 0o644 }),
        `${tmp.path}/plain.sh`),
      /permission denied$/,
      "Windows has no execute permission bit",
    ],
    [
      "killed",
      writeCommandSync(tmp.path, "kill", [{ killSelf: true }]).line,
      new RegExp(`^error: before-exec command ${DENO} was killed by SIGKILL$`),
      "a process killed on Windows ends with an exit code, not a signal",
    ],
  ];
  for (const [name, command, message, windowsReason] of cases) {
    await t.step({
      name: WINDOWS && windowsReason ? `${name} (ignored: ${windowsReason})` : name,
      ignore: WINDOWS && windowsReason !== undefined,
      fn: async () => {
        const result = await callPlugin([...args, `--before-exec-command=${command}`], {
          home: tmp.path,
        });
        assert.equal(result.code, 3, result.stderr);
        assert.equal(result.stdout, "");
        assertOneErrorLine(result.stderr, message);
        assert.ok(!result.stderr.includes("not-there.crt"), "credential files must not be read");
        assert.ok(
          !result.stderr.includes("hunter2"),
          "arguments may hold secrets and are never printed",
        );
      },
    });
  }
});

Deno.test("bad credential files give exit 1 and one line naming the file", async (t) => {
  await using tmp = await tempDir();
  const { key, cert, ca } = await clientCredentials(tmp.path);
  const empty = `${tmp.path}/empty`;
  Deno.writeTextFileSync(empty, "");
  const other = await generateKey(tmp.path, "other.key", "rsa");
  const expired = await issueCert({
    dir: tmp.path,
    ca,
    keyPath: key,
    out: "expired.crt",
    notAfter: new Date(Date.now() - 60_000),
  });
  const cases: [string, string[], RegExp][] = [
    [
      "missing token",
      [`--token-path=${tmp.path}/none`],
      new RegExp(`^error: token ${literal(`${tmp.path}/none`)} does not exist$`),
    ],
    [
      "empty token",
      [`--token-path=${empty}`],
      new RegExp(`^error: token ${literal(empty)} is empty$`),
    ],
    [
      "missing key",
      [`--client-certificate-path=${cert}`, `--client-key-path=${tmp.path}/none.key`],
      new RegExp(`^error: client key ${literal(`${tmp.path}/none.key`)} does not exist$`),
    ],
    [
      "malformed certificate",
      [`--client-certificate-path=${key}`, `--client-key-path=${key}`],
      new RegExp(`^error: client certificate ${literal(key)} holds no PEM certificate`),
    ],
    [
      "key of another certificate",
      [
        `--client-certificate-path=${cert}`,
        `--client-key-path=${other}`,
      ],
      new RegExp(
        `^error: client key ${literal(other)} \\(RSA\\) does not match the certificate in `,
      ),
    ],
    [
      "expired certificate",
      [`--client-certificate-path=${expired}`, `--client-key-path=${key}`],
      new RegExp(`^error: client certificate ${literal(expired)} expired at \\d{4}-`),
    ],
  ];
  for (const [name, args, message] of cases) {
    await t.step(name, async () => {
      const result = await callPlugin(args, { home: tmp.path });
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stdout, "");
      assertOneErrorLine(result.stderr, message);
      assert.ok(!result.stderr.includes("PRIVATE KEY"));
    });
  }
});

Deno.test("usage errors exit 2 and say what is missing; --help and --version exit 0", async (t) => {
  await using tmp = await tempDir();
  const cases: [string[], number, RegExp][] = [
    [[], 2, /^error: no credentials configured/],
    [
      ["--client-certificate-path=/x"],
      2,
      /^error: --client-certificate-path is set but --client-key-path is missing$/,
    ],
    [["--token-path=/t", "--bogus"], 2, /^error: unknown flag --bogus$/],
    [["--token-path=/t", "--before-exec-command=renew 'oops"], 2, /unterminated single quote/],
    [
      ["--token-path=/t", "--before-exec-timeout=600h"],
      2,
      /^error: duration "600h" for --before-exec-timeout is too long: the longest is 596h31m23\.647s/,
    ],
  ];
  for (const [args, code, message] of cases) {
    await t.step(args.join(" ") || "(no flags)", async () => {
      const result = await callPlugin(args, { home: tmp.path });
      assert.equal(result.code, code, result.stderr);
      assert.equal(result.stdout, "");
      assertOneErrorLine(result.stderr, message);
    });
  }
  await t.step("--help", async () => {
    const result = await callPlugin(["--help"], { home: tmp.path });
    assert.equal(result.code, 0);
    assert.match(result.stdout, /--before-exec-command COMMAND/);
    assert.match(result.stdout, /Exit codes: 0 ok/);
  });
});

Deno.test("relative credential paths resolve against the working directory kubectl runs the plugin in", async () => {
  await using tmp = await tempDir();
  await clientCredentials(tmp.path);
  const result = await callPlugin([
    "--client-certificate-path=client.crt",
    "--client-key-path=./client.key",
    "--token-path=token",
  ], { home: tmp.path, cwd: tmp.path });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(JSON.parse(result.stdout).status.token, "s.test-token");
});

Deno.test({
  name:
    "a key and token others can read are each warned about once per call, before-exec command and all" +
    (WINDOWS ? " (ignored: Windows files have no mode bits)" : ""),
  ignore: WINDOWS,
}, async () => {
  await using tmp = await tempDir();
  const { key, cert, token } = await clientCredentials(tmp.path);
  Deno.chmodSync(key, 0o644);
  Deno.chmodSync(token, 0o640);
  const renew = writeCommandSync(tmp.path, "renew", [
    { print: "renewed" },
    { chmod: key, mode: 0o644 },
  ]).line;
  const args = [
    `--client-certificate-path=${cert}`,
    `--client-key-path=${key}`,
    `--token-path=${token}`,
    `--before-exec-command=${renew}`,
    "--before-exec-policy=always",
  ];
  for (let call = 0; call < 2; call++) {
    const result = await callPlugin(args, { home: tmp.path });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).status.token, "s.test-token");
    const warnings = result.stderr.split("\n").filter((line) => line.startsWith("warning: "));
    assert.deepEqual(warnings, [
      `warning: client key ${key} can be read by other users (mode 0644); fix it with: chmod 600 ${key}`,
      `warning: token ${token} can be read by other users (mode 0640); fix it with: chmod 600 ${token}`,
    ]);
    assert.match(result.stderr, /^renewed$/m);
  }
});

Deno.test("a setup without a before-exec command needs no home folder and writes nothing", async (t) => {
  await using tmp = await tempDir();
  const { key, cert, token } = await clientCredentials(tmp.path);
  const setups: [string, string[]][] = [
    ["token only", [`--token-path=${token}`]],
    ["certificate only", [`--client-certificate-path=${cert}`, `--client-key-path=${key}`]],
  ];
  for (const [name, args] of setups) {
    await t.step(`${name}, HOME unset`, async () => {
      const result = await callPlugin(args, { home: null, cwd: tmp.path });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, "");
      assert.equal(JSON.parse(result.stdout).kind, "ExecCredential");
    });
    // /proc refuses a new folder even to root, who can write anywhere a mode says not to.
    const readOnly = WINDOWS
      ? "Windows has no mode bits to make a folder read-only"
      : Deno.uid() === 0
      ? "root writes anywhere"
      : undefined;
    for (const home of ["/proc", "read-only"]) {
      const ignored = home === "read-only" && readOnly !== undefined;
      await t.step({
        name: `${name}, HOME ${home}` + (ignored ? ` (ignored: ${readOnly})` : ""),
        ignore: ignored,
        fn: async () => {
          let dir = home;
          if (home === "read-only") {
            dir = `${tmp.path}/ro-home-${name.replace(" ", "-")}`;
            Deno.mkdirSync(dir, { mode: 0o555 });
          }
          const result = await callPlugin(args, { home: dir, cwd: tmp.path });
          assert.equal(result.code, 0, result.stderr);
          assert.equal(result.stderr, "");
        },
      });
    }
    await t.step(`${name}: no lock folder appears in a writable HOME`, async () => {
      const home = `${tmp.path}/home-${name.replace(" ", "-")}`;
      Deno.mkdirSync(home);
      const result = await callPlugin(args, { home, cwd: tmp.path });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual([...Deno.readDirSync(home)], []);
    });
  }
});

Deno.test("a leading ~/ in any path flag is the home folder, also after = where the shell leaves it", async (t) => {
  await using tmp = await tempDir();
  await clientCredentials(tmp.path);
  const args = [
    "--client-certificate-path=~/client.crt",
    "--client-key-path=~/client.key",
    "--token-path=~/token",
    "--cache-dir=~/locks",
    `--before-exec-command=${writeCommandSync(tmp.path, "noop", []).line}`,
  ];
  await t.step("HOME set", async () => {
    const result = await callPlugin(args, { home: tmp.path, cwd: "/" });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).status.token, "s.test-token");
    assert.equal(Deno.statSync(`${tmp.path}/locks`).isDirectory, true);
  });
  await t.step("no home folder: a usage error naming the flag", async () => {
    const result = await callPlugin(args, { home: null, cwd: "/" });
    assert.equal(result.code, 2, result.stderr);
    assertOneErrorLine(
      result.stderr,
      /^error: --client-certificate-path starts with ~ but the home folder is unknown$/,
    );
  });
});
