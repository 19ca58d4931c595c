/**
 * `doctor`, the whole command: spawned as a user runs it against a kubeconfig in a temp folder, through kubectl
 * too, with its timeouts, output formats and exit codes. Each check on its own is tests/doctor/checks_test.ts.
 *
 * The process tier (PROCESS_TESTS in scripts/test.ts): every test here starts the installed broker (or the binary
 * KUBECTL_CREDENTIALS_BROKER_BIN names) as doctor and lets it start the broker it checks, so that .ci/run and
 * GitHub's matrix check each shipped executable. The same command in-process, through the Io seam, is
 * tests/doctor/doctor_test.ts (the unit tier): a test that needs doctor or the broker as a process goes here.
 */
import assert from "node:assert/strict";
import type { CheckResult } from "../../lib/doctor/result.ts";
import type { Step } from "../helpers.ts";
import {
  clientCredentials,
  DENO_DIR,
  installedBroker,
  literal,
  makeJwt,
  pathWith,
  pluginEnv,
  run,
  tempDir,
  writeCommandSync,
  writeExecutable,
} from "../helpers.ts";
import { joinCommandLine } from "../../lib/shared/command_line.ts";
import { dirname, HOST_OS } from "../../lib/shared/platform.ts";
import { onPath } from "../release/release_helpers.ts";

const V1 = "client.authentication.k8s.io/v1";

async function world(
  dir: string,
  options: { userExtra?: string; args?: string[]; env?: string } = {},
) {
  const { ca, key, cert, token } = await clientCredentials(dir, {
    token: makeJwt({ exp: Math.floor(Date.now() / 1000) + 7200 }),
  });
  const shim = await installedBroker();
  const args = options.args ??
    [`--client-certificate-path=${cert}`, `--client-key-path=${key}`, `--token-path=${token}`];
  const kubeconfig = `${dir}/config`;
  Deno.writeTextFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters:
- name: dev
  cluster: {server: "https://127.0.0.1:6443"}
contexts:
- name: dev
  context: {cluster: dev, user: alice}
- name: other
  context: {cluster: dev, user: bob}
current-context: dev
users:
- name: alice
  user:
${options.userExtra ?? ""}    exec:
      apiVersion: ${V1}
      interactiveMode: IfAvailable
      command: ${shim}
      args:
${args.map((arg) => `      - ${JSON.stringify(arg)}`).join("\n")}
${options.env ?? ""}
- name: bob
  user: {token: MARKER-STATIC-TOKEN}
`,
    { mode: 0o600 },
  );
  return { ca, key, cert, token, shim, kubeconfig };
}

function doctor(args: string[], home: string, env: Record<string, string> = {}) {
  return installedBroker().then((shim) =>
    run(shim, ["doctor", ...args], { cwd: home, env: pluginEnv(home, { DENO_DIR, ...env }) })
  );
}

/** Runs doctor as installed, bounded: a doctor that hangs (a FIFO, a held pipe) fails the test instead. */
async function doctorBounded(args: string[], home: string, env: Record<string, string> = {}) {
  const child = new Deno.Command(await installedBroker(), {
    args: ["doctor", ...args],
    cwd: home,
    env: pluginEnv(home, { DENO_DIR, ...env }),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).spawn();
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    signal: output.signal,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Whether `pid` is a live process (a zombie no reaper collected counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
}

async function waitUntilGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  return !alive(pid);
}

function killQuietly(pid: number) {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

Deno.test("doctor passes a working user, runs the broker once and exits 0", async () => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const result = await doctor([], tmp.path, { KUBECONFIG: w.kubeconfig });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(result.stderr, "");
  const lines = result.stdout.split("\n");
  for (
    const name of [
      "kubeconfig user",
      "exec block",
      "no competing credentials",
      "exec command",
      "broker arguments",
      "client certificate",
      "certificate expiry",
      "client key",
      "client key permissions",
      "key matches certificate",
      "token",
      "token permissions",
      "token expiry",
      "broker run",
    ]
  ) {
    // Windows has no mode bits: the permission checks are skipped there, as the plugin skips its warning.
    const mark = name.endsWith(" permissions") && HOST_OS === "windows" ? "[skip]" : "[ok]  ";
    assert.ok(
      lines.some((line) => line.startsWith(`${mark} ${name} `)),
      `${name}:\n${result.stdout}`,
    );
  }
  assert.match(
    result.stdout,
    /broker run +.* exited 0 in \d+(ms|\.\ds): one v1 ExecCredential with client certificate and key and token, expirationTimestamp /,
  );
  assert.match(result.stdout, /\nall checks passed\n$/);
});

Deno.test({
  name: "doctor colours its marks on a terminal, and writes plain ones into a file or pipe" +
    (onPath("script") ? "" : " (ignored: util-linux script is not installed)"),
  ignore: !onPath("script"),
}, async () => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  // script runs the command on a pseudo-terminal: stdin, stdout and stderr are all terminals...
  const doctorIn = (redirect: string) =>
    run("script", [
      "-qec",
      `'${w.shim}' doctor --kubeconfig '${w.kubeconfig}'${redirect}`,
      "/dev/null",
    ], {
      env: pluginEnv(tmp.path, { DENO_DIR, TERM: "dumb" }),
    });
  const onTerminal = await doctorIn("");
  assert.equal(onTerminal.code, 0, onTerminal.stdout);
  assert.ok(onTerminal.stdout.includes("\x1b[32m✓\x1b[0m kubeconfig user "), onTerminal.stdout);
  // ...unless stdout is sent elsewhere, as in `doctor > report.txt` or `doctor | less`.
  const file = `${tmp.path}/report.txt`;
  const redirected = await doctorIn(` > '${file}'`);
  assert.equal(redirected.code, 0, redirected.stdout);
  const text = await Deno.readTextFile(file);
  assert.match(text, /^\[ok\] {3}kubeconfig user /m);
  assert.ok(!text.includes("\x1b"), text);
});

Deno.test("doctor -o json prints the same results for scripts, and exit 1 on a failure", async () => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  Deno.removeSync(w.token);
  const result = await doctor(["-o", "json", "--kubeconfig", w.kubeconfig], tmp.path);
  assert.equal(result.code, 1, result.stderr);
  const report = JSON.parse(result.stdout);
  assert.equal(report.ok, false);
  assert.equal(report.user, "alice");
  assert.equal(report.context, "dev");
  assert.equal(report.kubeconfig, w.kubeconfig);
  const token = report.checks.find((c: CheckResult) => c.check === "token");
  assert.deepEqual(token, {
    check: "token",
    status: "fail",
    detail: `${w.token} does not exist`,
    fix: "create it, or fix the path in exec.args",
  });
  const run = report.checks.find((c: CheckResult) => c.check === "broker run");
  assert.equal(run.status, "fail");
  assert.match(run.detail, /failed with exit code 1 .*error: token .* does not exist/);
});

Deno.test("doctor through kubectl checks the plugin on PATH and the before-exec command", async () => {
  await using tmp = await tempDir();
  const bin = `${tmp.path}/bin`;
  Deno.mkdirSync(bin);
  // A stand-in kubectl that dispatches to the plugin as kubectl does (argv after the plugin name).
  // The installed broker's folder on PATH, as after `deno task install`.
  const shimDir = dirname(await installedBroker(), HOST_OS);
  // On Windows the stand-in starts the plugin by its path: Deno.Command does not try PATHEXT's `.cmd` as
  // kubectl's lookup does (doctor's own PATH lookup of the plugin is what this test checks).
  const kubectl = writeExecutable(bin, "kubectl", [
    {
      exec: HOST_OS === "windows" ? await installedBroker() : "kubectl-credentials_broker",
      dropFirst: "credentials-broker",
    },
  ]);
  const renew = writeExecutable(bin, "renew", [{ print: "renewed MARKER-RENEW" }]);
  const w = await world(tmp.path, {
    args: [`--token-path=${tmp.path}/token`, "--before-exec-command=renew --secret 'MARKER-ARG'"],
    env: `      env:\n      - {name: RENEW_PASSWORD, value: MARKER-ENV}`,
  });
  const text = Deno.readTextFileSync(w.kubeconfig).replace(`command: ${w.shim}`, "command: kubectl")
    .replace("args:\n", "args:\n      - credentials-broker\n");
  Deno.writeTextFileSync(w.kubeconfig, text);
  const result = await doctor(["--kubeconfig", w.kubeconfig], tmp.path, {
    PATH: pathWith(bin, shimDir),
  });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(
    result.stdout,
    new RegExp(`\\[ok\\] +exec command +kubectl is ${literal(kubectl)}, found on this PATH`),
  );
  assert.match(
    result.stdout,
    new RegExp(`\\[ok\\] +kubectl plugin +kubectl-credentials_broker is ${literal(shimDir)}`),
  );
  assert.match(
    result.stdout,
    new RegExp(`\\[ok\\] +before-exec command +renew is ${literal(renew)}, runs on every call`),
  );
  assert.match(result.stdout, /exec block .*env RENEW_PASSWORD/);
  assert.doesNotMatch(result.stdout + result.stderr, /MARKER/);

  // Without the installed broker's folder on PATH, kubectl would not find the plugin.
  const missing = await doctor(["--kubeconfig", w.kubeconfig, "--skip-run"], tmp.path, {
    PATH: pathWith(bin),
  });
  assert.equal(missing.code, 1);
  assert.match(
    missing.stdout,
    /\[FAIL\] kubectl plugin +kubectl-credentials_broker not found on PATH/,
  );
  assert.match(missing.stdout, /\[skip\] broker run +skipped \(--skip-run\)/);
});

Deno.test({
  name: "doctor stops a run that hangs after --timeout" +
    (HOST_OS === "windows"
      ? " (ignored: bug under Wine, the stopped run's Deno child lives its 30 s on holding doctor's stdout, " +
        "as Wine's taskkill has no /T)"
      : ""),
  ignore: HOST_OS === "windows",
}, async () => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const hang = writeExecutable(tmp.path, "hang", [{ sleepMs: 30_000 }]);
  Deno.writeTextFileSync(w.kubeconfig, Deno.readTextFileSync(w.kubeconfig).replace(w.shim, hang));
  const started = Date.now();
  const result = await doctor(["--kubeconfig", w.kubeconfig, "--timeout=1s"], tmp.path);
  assert.equal(result.code, 1);
  assert.match(
    result.stdout,
    new RegExp(`\\[skip\\] broker arguments +exec\\.command ${literal(hang)} is not kubectl`),
  );
  assert.match(
    result.stdout,
    new RegExp(`\\[FAIL\\] broker run +${literal(hang)} did not finish within 1s and was stopped`),
  );
  assert.ok(Date.now() - started < 20_000);
});

Deno.test("doctor never shows the renewal command's output, only the broker's report and a command to run by hand", async () => {
  await using tmp = await tempDir();
  // A program of its own (not Deno running a script), so that the broker's errors name it.
  const renew = writeExecutable(tmp.path, "renew", [
    { print: "issued token hvs.MARKER-STDOUT" },
    { print: "error: vault login failed with token hvs.MARKER-STDERR", stream: "stderr" },
    { exit: 1 },
  ]);
  const w = await world(tmp.path, {
    args: [
      `--token-path=${tmp.path}/token`,
      `--before-exec-command=${joinCommandLine([renew])} --role MARKER-ARG`,
    ],
    env: `      env:\n      - {name: RENEW_PASSWORD, value: MARKER-ENV}`,
  });
  const text = await doctorBounded(["--kubeconfig", w.kubeconfig], tmp.path);
  assert.equal(text.code, 1, text.stdout + text.stderr);
  assert.doesNotMatch(text.stdout + text.stderr, /MARKER|hvs\./);
  assert.match(
    text.stdout,
    /\[FAIL\] broker run +.* failed with exit code \d+ after [^:]+: error: before-exec command .*renew(\.cmd)? failed with exit status 1/,
  );
  const json = await doctorBounded(["--kubeconfig", w.kubeconfig, "-o", "json"], tmp.path);
  assert.equal(json.code, 1, json.stderr);
  assert.doesNotMatch(json.stdout + json.stderr, /MARKER|hvs\./);
  const check = JSON.parse(json.stdout).checks.find((c: CheckResult) => c.check === "broker run");
  assert.match(
    check.detail,
    /: error: before-exec command .*renew(\.cmd)? failed with exit status 1/,
  );
  assert.equal(
    check.fix,
    `run it by hand${
      HOST_OS === "windows" ? " in cmd.exe" : ""
    } to see its full output (fill in the <hidden> values from the kubeconfig): ` +
      (HOST_OS === "windows"
        // A cmd.exe line (paths with a space are in double quotes there).
        ? `set "KUBERNETES_EXEC_INFO={"kind":"ExecCredential","apiVersion":"${V1}","spec":{"interactive":false}}" && ` +
          `set "RENEW_PASSWORD=<hidden>" && ${cmdWord(w.shim)} ${
            cmdWord(`--token-path=${tmp.path}/token`)
          } ` +
          `"--before-exec-command=${joinCommandLine([renew])} <arguments hidden>" < NUL`
        : `env KUBERNETES_EXEC_INFO='{"kind":"ExecCredential","apiVersion":"${V1}","spec":{"interactive":false}}' ` +
          `RENEW_PASSWORD='<hidden>' ${w.shim} --token-path=${tmp.path}/token ` +
          `'--before-exec-command=${renew} <arguments hidden>' </dev/null`),
  );
});

/** A word of a cmd.exe line as the expected lines above write it: in double quotes when it holds a space. */
function cmdWord(word: string): string {
  return word.includes(" ") ? `"${word}"` : word;
}

Deno.test({
  name: "doctor returns within its timeout whatever the command leaves running" +
    (HOST_OS === "windows"
      ? " (ignored: Wine's taskkill has no /T, and this test reads /proc)"
      : ""),
  ignore: HOST_OS === "windows",
}, async (t) => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const config = Deno.readTextFileSync(w.kubeconfig);
  const pidFile = `${tmp.path}/pid`;
  const withCommand = (steps: Step[]) => {
    const path = writeExecutable(tmp.path, `cmd-${crypto.randomUUID()}`, steps);
    Deno.writeTextFileSync(w.kubeconfig, config.replace(w.shim, path));
  };
  const leftover = () => Number(Deno.readTextFileSync(pidFile).trim());
  await t.step("a command that waits for its background child is stopped with it", async () => {
    withCommand([{ spawn: pidFile, seconds: 30, holdOutput: true, wait: true }]);
    const started = Date.now();
    const result = await doctorBounded(["--kubeconfig", w.kubeconfig, "--timeout=1s"], tmp.path);
    const pid = leftover();
    try {
      assert.ok(Date.now() - started < 15_000, "doctor waited for the background sleep");
      assert.match(
        result.stdout,
        /\[FAIL\] broker run +.* did not finish within 1s and was stopped/,
      );
      assert.ok(await waitUntilGone(pid), "the background sleep outlived doctor");
    } finally {
      killQuietly(pid);
    }
  });
  await t.step("a command that exits and leaves a child holding its pipes", async () => {
    withCommand([{ spawn: pidFile, seconds: 30, holdOutput: true }, { exit: 3 }]);
    const started = Date.now();
    const result = await doctorBounded(["--kubeconfig", w.kubeconfig], tmp.path);
    const pid = leftover();
    try {
      assert.ok(Date.now() - started < 15_000, "doctor waited for the background sleep");
      assert.match(result.stdout, /\[FAIL\] broker run +.* failed with exit code 3/);
      assert.ok(await waitUntilGone(pid), "the background sleep still holds the pipe");
    } finally {
      killQuietly(pid);
    }
  });
  await t.step("a renewal the broker runs leaves a child behind", async () => {
    const renew = writeCommandSync(tmp.path, "renew", [
      { spawn: pidFile, seconds: 30, holdOutput: true },
    ]).line;
    const renewing = await world(tmp.path, {
      args: [
        `--token-path=${w.token}`,
        `--before-exec-command=${renew}`,
        "--before-exec-policy=always",
      ],
    });
    const started = Date.now();
    const result = await doctorBounded(
      ["--kubeconfig", renewing.kubeconfig, "--timeout=5s"],
      tmp.path,
    );
    killQuietly(leftover());
    assert.ok(Date.now() - started < 15_000, "doctor waited for the renewal's background sleep");
    assert.match(result.stdout, /\[ok\] +broker run +.* exited 0/);
  });
});

Deno.test("doctor refuses an out-of-range --timeout as a usage error", async () => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const result = await doctorBounded(["--kubeconfig", w.kubeconfig, "--timeout=600h"], tmp.path);
  assert.equal(result.code, 2, result.stdout + result.stderr);
  assert.match(result.stderr, /^error: .*--timeout/m);
  assert.doesNotMatch(result.stderr, /TimeoutOverflowWarning/);
});

Deno.test({
  name: "doctor names a FIFO credential file in a failed check instead of hanging" +
    (!onPath("mkfifo") ? " (ignored: no mkfifo here)" : ""),
  ignore: !onPath("mkfifo"),
  async fn() {
    await using tmp = await tempDir();
    const w = await world(tmp.path);
    Deno.removeSync(w.token);
    assert.equal((await run("mkfifo", [w.token])).code, 0);
    const token = await doctorBounded(["--kubeconfig", w.kubeconfig, "--skip-run"], tmp.path);
    assert.equal(token.code, 1, token.stderr);
    assert.match(
      token.stdout,
      new RegExp(`\\[FAIL\\] token +${w.token} is a named pipe \\(FIFO\\), not a regular file`),
    );
  },
});

Deno.test({
  name: "doctor names a FIFO kubeconfig in a failed check instead of hanging" +
    (!onPath("mkfifo") ? " (ignored: no mkfifo here)" : ""),
  ignore: !onPath("mkfifo"),
  async fn() {
    await using tmp = await tempDir();
    const fifo = `${tmp.path}/config.fifo`;
    assert.equal((await run("mkfifo", [fifo])).code, 0);
    const kubeconfig = await doctorBounded(["--skip-run"], tmp.path, { KUBECONFIG: fifo });
    assert.equal(kubeconfig.code, 1, kubeconfig.stderr);
    assert.match(kubeconfig.stdout, new RegExp(`\\[FAIL\\] kubeconfig user +.*${fifo}`));
  },
});
