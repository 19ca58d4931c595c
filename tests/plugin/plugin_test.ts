/**
 * The plugin as kubectl meets it, judged by stdout, stderr and exit code: its policy in-process (callPlugin, the
 * same runPlugin and error report main.ts runs), and the installed executable, spawned with KUBERNETES_EXEC_INFO,
 * for what only a process shows: argv and environment as kubectl passes them, exit codes, stdout apart from
 * stderr, stdin and the terminal, a command's process tree.
 */
import assert from "node:assert/strict";
import { readCredentials } from "../../lib/credentials/credentials.ts";
import { parsePem } from "../../lib/credentials/pem.ts";
import { quoteWord } from "../../lib/shared/command_line.ts";
import { parseCertificate } from "../../lib/credentials/x509.ts";
import {
  clientCredentials,
  generateKey,
  installedBroker,
  issueCert,
  type KeyType,
  literal,
  makeJwt,
  pluginEnv,
  run,
  runBroker,
  tempDir,
  writeCommandSync,
} from "../helpers.ts";
import { which } from "../../scripts/world/process.ts";
import { callPlugin } from "./call_plugin.ts";

const V1 = "client.authentication.k8s.io/v1";
const V1BETA1 = "client.authentication.k8s.io/v1beta1";
const execInfo = (apiVersion: string, interactive = false) =>
  JSON.stringify({ kind: "ExecCredential", apiVersion, spec: { interactive } });

const WINDOWS = Deno.build.os === "windows";
/** The program an error about a test command names: the Deno executable that runs the command's script. */
const DENO = literal(Deno.execPath());

function assertOneErrorLine(stderr: string, message: RegExp) {
  const lines = stderr.trimEnd().split("\n").filter((line) => line.startsWith("error: "));
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, message);
}

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

Deno.test("the before-exec command gets its quoted arguments, the environment, and never the broker's stdout", async () => {
  await using tmp = await tempDir();
  const { token } = await clientCredentials(tmp.path);
  const renew = writeCommandSync(tmp.path, "renew", [
    { write: `${tmp.path}/argv`, value: { argv: "" } },
    { write: `${tmp.path}/info`, value: { env: "KUBERNETES_EXEC_INFO" } },
    { print: "chatty output on stdout" },
    { print: "chatty output on stderr", stream: "stderr" },
  ]).line;
  const info = execInfo(V1);
  const result = await runBroker(
    [`--token-path=${token}`, `--before-exec-command=${renew} --role 'dev team' "x y"`],
    { home: tmp.path, execInfo: info },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout).status, { token: "s.test-token" });
  assert.match(result.stderr, /chatty output on stdout/);
  assert.match(result.stderr, /chatty output on stderr/);
  assert.equal(Deno.readTextFileSync(`${tmp.path}/argv`), "[--role][dev team][x y]");
  assert.equal(Deno.readTextFileSync(`${tmp.path}/info`), info);
});

Deno.test("the before-exec command reads the terminal only when kubectl says interactive", async (t) => {
  await using tmp = await tempDir();
  const { token } = await clientCredentials(tmp.path);
  const renew = writeCommandSync(tmp.path, "ask", [
    { write: `${tmp.path}/answer`, value: { stdinLine: true, prefix: "got:" } },
  ]).line;
  for (const [interactive, expected] of [[true, "got:123456"], [false, "got:"]] as const) {
    await t.step(`interactive ${interactive}`, async () => {
      const env = pluginEnv(tmp.path, { KUBERNETES_EXEC_INFO: execInfo(V1, interactive) });
      const result = await run(await installedBroker(), [
        `--token-path=${token}`,
        `--before-exec-command=${renew}`,
      ], {
        env,
        stdin: "123456\n",
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(Deno.readTextFileSync(`${tmp.path}/answer`), expected);
    });
  }
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
  await t.step(
    "as a process: exit 3, nothing on stdout, the script's own stderr reaches the user",
    async () => {
      const result = await runBroker([...args, `--before-exec-command=${fail}`], {
        home: tmp.path,
      });
      assert.equal(result.code, 3, result.stderr);
      assert.equal(result.stdout, "");
      assert.match(result.stderr, /vault: permission denied/);
      assertOneErrorLine(result.stderr, failed);
    },
  );
});

Deno.test({
  name: "a before-exec command that hangs is stopped with its children after the timeout" +
    (WINDOWS ? " (ignored: Wine's taskkill has no /T, and this test reads /proc)" : ""),
  ignore: WINDOWS,
}, async () => {
  await using tmp = await tempDir();
  const { token } = await clientCredentials(tmp.path);
  const hang = writeCommandSync(tmp.path, "hang", [
    { spawn: `${tmp.path}/child.pid`, seconds: 60, wait: true },
  ]).line;
  const started = Date.now();
  const result = await runBroker([
    `--token-path=${token}`,
    `--before-exec-command=${hang}`,
    "--before-exec-timeout=1s",
  ], {
    home: tmp.path,
  });
  const elapsed = Date.now() - started;
  assert.equal(result.code, 3, result.stderr);
  assertOneErrorLine(
    result.stderr,
    new RegExp(`^error: before-exec command ${DENO} did not finish within 1s; it was stopped$`),
  );
  assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
  const pid = Deno.readTextFileSync(`${tmp.path}/child.pid`).trim();
  // The grandchild got the same signal as the script: /proc/PID is gone (or a zombie being reaped).
  let alive = false;
  for (let i = 0; i < 50; i++) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      alive = !/\) Z /.test(stat);
    } catch {
      alive = false;
    }
    if (!alive) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(alive, false, `sleep ${pid} survived the timeout`);
});

Deno.test("a before-exec command that leaves a process holding its output does not keep the broker waiting", async () => {
  await using tmp = await tempDir();
  const { token } = await clientCredentials(tmp.path);
  // A renewal that starts a daemon (an agent, a token helper) which inherits the command's stdout, the pipe the
  // broker reads, and lives on. (Its stderr goes elsewhere: it would hold this test's pipe open too.)
  const daemon = writeCommandSync(tmp.path, "daemon", [
    { spawn: `${tmp.path}/daemon.pid`, seconds: 60, holdOutput: true },
    { print: "renewed" },
  ]).line;
  try {
    const started = Date.now();
    const result = await runBroker([`--token-path=${token}`, `--before-exec-command=${daemon}`], {
      home: tmp.path,
    });
    const elapsed = Date.now() - started;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).status.token, "s.test-token");
    assert.match(result.stderr, /^renewed$/m);
    // Not a timing test: the daemon lives 60 s, and a broker waiting for it would take that long.
    assert.ok(elapsed < 30_000, `the broker waited ${elapsed} ms for the daemon`);
  } finally {
    const pid = Number(Deno.readTextFileSync(`${tmp.path}/daemon.pid`).trim());
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
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
  await t.step("as a process: exit 1 and the error line on stderr only", async () => {
    const result = await runBroker(cases[0]![1], { home: tmp.path });
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, "");
    assertOneErrorLine(result.stderr, cases[0]![2]);
  });
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
  await t.step("as a process: exit 2 and the error line on stderr only", async () => {
    const result = await runBroker(["--token-path=/t", "--bogus"], { home: tmp.path });
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stdout, "");
    assertOneErrorLine(result.stderr, /^error: unknown flag --bogus$/);
  });
  await t.step("--help", async () => {
    const result = await callPlugin(["--help"], { home: tmp.path });
    assert.equal(result.code, 0);
    assert.match(result.stdout, /--before-exec-command COMMAND/);
    assert.match(result.stdout, /Exit codes: 0 ok/);
  });
  await t.step("--version", async () => {
    const result = await runBroker(["--version"], { home: tmp.path });
    assert.equal(result.code, 0, result.stderr);
    const { version } = JSON.parse(
      Deno.readTextFileSync(new URL("../../deno.json", import.meta.url)),
    );
    assert.equal(result.stdout, `kubectl-credentials_broker ${version}\n`);
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

/**
 * The util-linux `script` that gives a command a pseudo-terminal, or undefined when it is not installed (Windows
 * has neither it nor the `sh` that drives it here).
 */
const PTY = WINDOWS ? undefined : which("script");

/**
 * Runs the installed broker on a pseudo-terminal (stdin and stdout), as a person typing it would; `typed` is sent
 * to the terminal at once. Returns what the terminal showed.
 */
async function runOnTerminal(
  script: string,
  args: string[],
  options: { home: string; env?: Record<string, string>; typed?: string },
): Promise<{ code: number; shown: string }> {
  const quote = (word: string) => quoteWord(word, "linux");
  const line = [await installedBroker(), ...args].map(quote).join(" ");
  const typed = options.typed ?? "";
  // The typed text waits in the terminal's input queue until read. script's stdin stays open until the broker
  // has ended (the file `done` appears): at its end of input script would end the session.
  const done = `${await Deno.makeTempDir({ dir: options.home, prefix: ".terminal-" })}/done`;
  const result = await run("sh", [
    "-c",
    `(printf '%s' ${quote(typed)}; while [ ! -e ${
      quote(done)
    } ]; do sleep 0.05; done) | ${script} -qec ${
      quote(`${line}; code=$?; : > ${quote(done)}; exit $code`)
    } /dev/null`,
  ], { env: pluginEnv(options.home, { TERM: "dumb", ...options.env }) });
  return { code: result.code, shown: result.stdout + result.stderr };
}

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

Deno.test({
  name: "run by hand on a terminal, the plugin shows a summary instead of the key and token" +
    (PTY ? "" : " (ignored: util-linux script is not installed)"),
  ignore: !PTY,
}, async (t) => {
  const script = PTY!;
  await using tmp = await tempDir();
  const { key, cert } = await clientCredentials(tmp.path, { token: null });
  const secret = "s.terminal-secret-token";
  const token = `${tmp.path}/token`;
  Deno.writeTextFileSync(token, `${secret}\n`, { mode: 0o600 });
  const args = [
    `--client-certificate-path=${cert}`,
    `--client-key-path=${key}`,
    `--token-path=${token}`,
  ];
  const keyBody = Deno.readTextFileSync(key).split("\n")[1]!;
  await t.step("on a terminal", async () => {
    const { code, shown } = await runOnTerminal(script, args, { home: tmp.path });
    assert.equal(code, 0, shown);
    for (const leak of [secret, "PRIVATE KEY", "BEGIN CERTIFICATE", keyBody, "clientKeyData"]) {
      assert.ok(!shown.includes(leak), `the terminal shows ${leak}`);
    }
    assert.match(shown, /stdout is a terminal/);
    assert.match(shown, /apiVersion: client\.authentication\.k8s\.io\/v1beta1/);
    assert.match(shown, /client certificate: CN=alice, O=dev, expires \d{4}-\d\d-\d\dT/);
    assert.match(shown, /client key: EC P-256/);
    assert.match(shown, /token: opaque, no expiry/);
    assert.match(shown, /kubectl is told to ask again at \d{4}-/);
    assert.match(shown, /\| cat/);
    assert.match(shown, /kubectl credentials-broker doctor/);
  });
  await t.step("through a pipe, as kubectl reads it", async () => {
    const result = await runBroker(args, { home: tmp.path });
    assert.equal(result.code, 0, result.stderr);
    const status = JSON.parse(result.stdout).status;
    assert.equal(status.token, secret);
    assert.match(status.clientKeyData, /PRIVATE KEY/);
  });
});

Deno.test("a client that does not say whether it is interactive hands the command the terminal only if stdin is one", async (t) => {
  await using tmp = await tempDir();
  const { token } = await clientCredentials(tmp.path);
  const answer = `${tmp.path}/answer`;
  const renew = writeCommandSync(tmp.path, "ask", [
    { write: answer, value: { stdinLine: true, prefix: "got:" } },
  ]).line;
  const args = [`--token-path=${token}`, `--before-exec-command=${renew}`];
  // kubectl 1.20/1.21 send no spec.interactive; @kubernetes/client-node sends no KUBERNETES_EXEC_INFO at all.
  const infos: [string, string | null][] = [
    [
      "no spec.interactive",
      JSON.stringify({ kind: "ExecCredential", apiVersion: V1BETA1, spec: {} }),
    ],
    ["no KUBERNETES_EXEC_INFO", null],
  ];
  const pty = PTY;
  for (const [name, info] of infos) {
    const env: Record<string, string> = info === null ? {} : { KUBERNETES_EXEC_INFO: info };
    await t.step({
      name: `${name}, stdin a terminal: the command reads it` +
        (pty ? "" : " (ignored: util-linux script is not installed)"),
      ignore: !pty,
      fn: async () => {
        try {
          Deno.removeSync(answer);
        } catch {
          // first run
        }
        const { code, shown } = await runOnTerminal(pty!, args, {
          home: tmp.path,
          env,
          typed: "123456\n",
        });
        assert.equal(code, 0, shown);
        assert.equal(Deno.readTextFileSync(answer), "got:123456");
      },
    });
    await t.step(`${name}, stdin a pipe: the command gets nothing`, async () => {
      const result = await run(await installedBroker(), args, {
        env: pluginEnv(tmp.path, env),
        stdin: "123456\n",
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(Deno.readTextFileSync(answer), "got:");
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
