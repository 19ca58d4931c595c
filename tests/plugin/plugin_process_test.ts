/**
 * The process tier of tests/plugin/plugin_test.ts: the installed executable (or KUBECTL_CREDENTIALS_BROKER_BIN),
 * spawned with KUBERNETES_EXEC_INFO as kubectl runs it, for what only a process shows: argv and environment as
 * kubectl passes them, exit codes, stdout apart from stderr, stdin and the terminal (through util-linux `script`),
 * a command's process tree stopped after a real timeout. .ci/run and GitHub's matrix run this file against the
 * installed shim and each compiled binary; the plugin's policy is tested in-process in plugin_test.ts.
 *
 * Where a test goes: a test that starts the broker as a process, or whose subject is a process by nature (a real
 * terminal, a real timeout waited out, a process left holding a pipe), belongs here, listed in PROCESS_TESTS
 * (scripts/test.ts); one that checks a message, a file or a policy runs in-process in plugin_test.ts.
 */
import assert from "node:assert/strict";
import { quoteWord } from "../../lib/shared/command_line.ts";
import {
  clientCredentials,
  installedBroker,
  literal,
  pluginEnv,
  run,
  runBroker,
  tempDir,
  writeCommandSync,
} from "../helpers.ts";
import { which } from "../../scripts/world/process.ts";
import { assertOneErrorLine, execInfo } from "./call_plugin.ts";

const V1 = "client.authentication.k8s.io/v1";
const V1BETA1 = "client.authentication.k8s.io/v1beta1";

const WINDOWS = Deno.build.os === "windows";
/** The program an error about a test command names: the Deno executable that runs the command's script. */
const DENO = literal(Deno.execPath());

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

Deno.test("a failing before-exec command, as a process: exit 3, nothing on stdout, the script's own stderr reaches the user", async () => {
  await using tmp = await tempDir();
  const missing = `${tmp.path}/not-there.crt`;
  const args = [`--client-certificate-path=${missing}`, `--client-key-path=${missing}`];
  const fail = writeCommandSync(tmp.path, "fail", [
    { print: "vault: permission denied", stream: "stderr" },
    { exit: 3 },
  ]).line;
  const failed = new RegExp(`^error: before-exec command ${DENO} failed with exit status 3$`);
  const result = await runBroker([...args, `--before-exec-command=${fail}`], {
    home: tmp.path,
  });
  assert.equal(result.code, 3, result.stderr);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /vault: permission denied/);
  assertOneErrorLine(result.stderr, failed);
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

Deno.test("a bad credential file, as a process: exit 1 and the error line on stderr only", async () => {
  await using tmp = await tempDir();
  const result = await runBroker([`--token-path=${tmp.path}/none`], { home: tmp.path });
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.stdout, "");
  assertOneErrorLine(
    result.stderr,
    new RegExp(`^error: token ${literal(`${tmp.path}/none`)} does not exist$`),
  );
});

Deno.test("a usage error, as a process: exit 2 and the error line on stderr only; --version exits 0", async (t) => {
  await using tmp = await tempDir();
  await t.step("a usage error", async () => {
    const result = await runBroker(["--token-path=/t", "--bogus"], { home: tmp.path });
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stdout, "");
    assertOneErrorLine(result.stderr, /^error: unknown flag --bogus$/);
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
