/**
 * `doctor`, the whole command in-process: runCommand(["doctor", ...]) through the Io seam (fakeIo) against a
 * kubeconfig and real credential files in a temp folder: which user it judges, its report in text and JSON, its
 * exit codes and usage errors. Each check on its own is tests/doctor/checks_test.ts.
 *
 * Where a test goes: here (the unit tier) doctor runs in this process and starts nothing, so every run is
 * `--skip-run` and the exec commands are empty stand-ins it only looks up. Doctor as a user starts it, and the
 * broker run it makes (output, timeouts, what the command leaves running, terminals, FIFOs), spawn processes by
 * nature: those are tests/doctor/doctor_process_test.ts (the process tier), which .ci/run and GitHub's matrix
 * also run against each shipped executable.
 */
import assert from "node:assert/strict";
import { runCommand } from "../../lib/commands.ts";
import type { CheckResult } from "../../lib/doctor/result.ts";
import { renewalLock } from "../../lib/plugin/lock.ts";
import { aheadFiles } from "../../lib/plugin/renew_ahead.ts";
import { hasPosixPermissions, HOST_OS, isWindows, joinPath } from "../../lib/shared/platform.ts";
import { clientCredentials, fakeIo, issueCert, literal, makeJwt, tempDir } from "../helpers.ts";
import { callPlugin } from "../plugin/call_plugin.ts";

const V1 = "client.authentication.k8s.io/v1";
const HOUR = 3600_000;
const LIST_SEPARATOR = isWindows(HOST_OS) ? ";" : ":";

/**
 * Empty stand-ins for programs doctor only looks up with --skip-run (`.exe` on Windows, mode 0755 elsewhere), in
 * `dir`; returns their paths by name.
 */
function standIns(dir: string, names: string[]): Record<string, string> {
  Deno.mkdirSync(dir, { recursive: true });
  const paths: Record<string, string> = {};
  for (const name of names) {
    const path = joinPath(dir, name + (isWindows(HOST_OS) ? ".exe" : ""), HOST_OS);
    Deno.writeTextFileSync(path, "");
    if (!isWindows(HOST_OS)) Deno.chmodSync(path, 0o755);
    paths[name] = path;
  }
  return paths;
}

/**
 * Credentials (EC certificate and key, a JWT with 2h left) and a kubeconfig: context dev runs the broker (a
 * stand-in in `dir`/broker) with `args` for alice; context other is bob, who has a static token.
 */
async function world(
  dir: string,
  options: { args?: string[]; env?: string; command?: string } = {},
) {
  const { ca, key, cert, token } = await clientCredentials(dir, {
    token: makeJwt({ exp: Math.floor(Date.now() / 1000) + 7200 }),
  });
  const brokerDir = joinPath(dir, "broker", HOST_OS);
  const broker = standIns(brokerDir, ["kubectl-credentials_broker"])["kubectl-credentials_broker"]!;
  const args = options.args ??
    [`--client-certificate-path=${cert}`, `--client-key-path=${key}`, `--token-path=${token}`];
  const kubeconfig = joinPath(dir, "config", HOST_OS);
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
    exec:
      apiVersion: ${V1}
      interactiveMode: IfAvailable
      command: ${JSON.stringify(options.command ?? broker)}
      args:
${args.map((arg) => `      - ${JSON.stringify(arg)}`).join("\n")}
${options.env ?? ""}
- name: bob
  user: {token: MARKER-STATIC-TOKEN}
`,
    { mode: 0o600 },
  );
  return { ca, key, cert, token, broker, kubeconfig };
}

/** doctor in-process, as main.ts runs it: exit code, stdout and stderr. */
async function doctor(args: string[], home: string, env: Record<string, string> = {}) {
  const io = fakeIo({
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: home, USERPROFILE: home, ...env },
    cwd: home,
  });
  const code = await runCommand(["doctor", ...args], io);
  return { code, stdout: io.out, stderr: io.err };
}

Deno.test("doctor passes a working user with --skip-run, checks each file and exits 0", async () => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const result = await doctor(["--skip-run"], tmp.path, { KUBECONFIG: w.kubeconfig });
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
    ]
  ) {
    // Windows has no mode bits: the permission checks are skipped there, as the plugin skips its warning.
    const mark = name.endsWith(" permissions") && !hasPosixPermissions(HOST_OS)
      ? "[skip]"
      : "[ok]  ";
    assert.ok(
      lines.some((line) => line.startsWith(`${mark} ${name} `)),
      `${name}:\n${result.stdout}`,
    );
  }
  assert.match(result.stdout, /\[skip\] broker run +skipped \(--skip-run\)/);
  assert.match(result.stdout, /\nall checks passed\n$/);
});

Deno.test("doctor -o json prints the same results for scripts, and exit 1 on a failure", async () => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  Deno.removeSync(w.token);
  const result = await doctor(["-o", "json", "--kubeconfig", w.kubeconfig, "--skip-run"], tmp.path);
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.stderr, "");
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
  assert.deepEqual(run, { check: "broker run", status: "skip", detail: "skipped (--skip-run)" });
});

Deno.test("doctor --context names a user whose static token stops kubectl from calling any plugin", async () => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const result = await doctor(["--kubeconfig", w.kubeconfig, "--context", "other"], tmp.path);
  assert.equal(result.code, 1);
  assert.match(result.stdout, /\[FAIL\] exec block +user "bob" has no exec block/);
  assert.match(result.stdout, /\[FAIL\] no competing credentials +user "bob" also has token/);
  assert.doesNotMatch(result.stdout + result.stderr, /MARKER/);
});

Deno.test("doctor reports a missing context or user as a failed check; bad flags are usage errors", async (t) => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  for (
    const [args, detail] of [
      [["--context", "prod"], /context "prod" not found in /],
      [["--user", "carol"], /user "carol" is not defined in any kubeconfig file/],
    ] as const
  ) {
    await t.step(args.join(" "), async () => {
      const result = await doctor(["--kubeconfig", w.kubeconfig, ...args], tmp.path);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stdout, /^\[FAIL\] kubeconfig user/);
      assert.match(result.stdout, detail);
    });
  }
  for (
    const [args, message] of [
      [["--output=yaml"], /^error: invalid --output "yaml": use text or json$/m],
      [["--timeout=600h"], /^error: .*--timeout/m],
      [["--timeout=0s"], /^error: --timeout must be longer than 0, got 0s$/m],
    ] as const
  ) {
    await t.step(args.join(" "), async () => {
      const result = await doctor(["--kubeconfig", w.kubeconfig, ...args], tmp.path);
      assert.equal(result.code, 2, result.stdout + result.stderr);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, "");
    });
  }
});

Deno.test("doctor through kubectl looks up the plugin and the before-exec command on PATH, never showing secrets", async () => {
  await using tmp = await tempDir();
  const bin = joinPath(tmp.path, "bin", HOST_OS);
  const plugins = joinPath(tmp.path, "plugins", HOST_OS);
  const { kubectl, renew } = standIns(bin, ["kubectl", "renew"]);
  const plugin = standIns(plugins, ["kubectl-credentials_broker"])["kubectl-credentials_broker"]!;
  const w = await world(tmp.path, {
    command: "kubectl",
    args: [
      "credentials-broker",
      `--token-path=${tmp.path}/token`,
      "--before-exec-command=renew --secret 'MARKER-ARG'",
    ],
    env: `      env:\n      - {name: RENEW_PASSWORD, value: MARKER-ENV}`,
  });
  // PATHEXT in the stand-ins' case: a lookup names the file with the extension as PATHEXT spells it.
  const result = await doctor(["--kubeconfig", w.kubeconfig, "--skip-run"], tmp.path, {
    PATH: [bin, plugins].join(LIST_SEPARATOR),
    PATHEXT: ".exe;.cmd",
  });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(
    result.stdout,
    new RegExp(`\\[ok\\] +exec command +kubectl is ${literal(kubectl!)}, found on this PATH`),
  );
  assert.match(
    result.stdout,
    new RegExp(`\\[ok\\] +kubectl plugin +kubectl-credentials_broker is ${literal(plugin)}`),
  );
  assert.match(
    result.stdout,
    new RegExp(`\\[ok\\] +before-exec command +renew is ${literal(renew!)}, runs on every call`),
  );
  assert.match(result.stdout, /exec block .*env RENEW_PASSWORD/);
  assert.doesNotMatch(result.stdout + result.stderr, /MARKER/);

  // Without the plugin's folder on PATH, kubectl would not find the plugin.
  const missing = await doctor(["--kubeconfig", w.kubeconfig, "--skip-run"], tmp.path, {
    PATH: bin,
    PATHEXT: ".exe;.cmd",
  });
  assert.equal(missing.code, 1);
  assert.match(
    missing.stdout,
    /\[FAIL\] kubectl plugin +kubectl-credentials_broker not found on PATH/,
  );
});

Deno.test("doctor looks the exec command up as kubectl does: an empty PATH entry is not the working folder", async () => {
  await using tmp = await tempDir();
  // The broker in the working folder, under the name kubectl looks up.
  standIns(tmp.path, ["kubectl-credentials_broker"]);
  const w = await world(tmp.path, { command: "kubectl-credentials_broker" });
  const result = await doctor(["--kubeconfig", w.kubeconfig, "--skip-run"], tmp.path, {
    PATH: LIST_SEPARATOR,
    PATHEXT: ".exe;.cmd",
  });
  assert.equal(result.code, 1, result.stdout);
  assert.match(
    result.stdout,
    /\[FAIL\] exec command +kubectl-credentials_broker not found on PATH/,
  );
});

Deno.test("doctor and the plugin agree that a certificate not valid yet is invalid", async () => {
  await using tmp = await tempDir();
  const w = await world(tmp.path);
  const now = Date.now();
  await issueCert({
    dir: tmp.path,
    ca: w.ca,
    keyPath: w.key,
    out: w.cert,
    notBefore: new Date(now + HOUR),
    notAfter: new Date(now + 3 * HOUR),
  });
  const plugin = await callPlugin(
    [`--client-certificate-path=${w.cert}`, `--client-key-path=${w.key}`],
    { home: tmp.path },
  );
  assert.notEqual(plugin.code, 0, plugin.stdout);
  assert.match(plugin.stderr, /not valid before/);
  const result = await doctor(["--kubeconfig", w.kubeconfig, "--skip-run"], tmp.path);
  assert.equal(result.code, 1, result.stdout);
  assert.match(
    result.stdout,
    /\[FAIL\] certificate expiry +client certificate .* is not valid before /,
  );
});

Deno.test("doctor shows the last background renewal of a --renew-ahead user from its state file", async () => {
  await using tmp = await tempDir();
  const cert = joinPath(tmp.path, "client.crt", HOST_OS);
  const key = joinPath(tmp.path, "client.key", HOST_OS);
  const cache = joinPath(tmp.path, "cache", HOST_OS);
  const args = [
    `--client-certificate-path=${cert}`,
    `--client-key-path=${key}`,
    "--before-exec-command=renew",
    "--before-exec-policy=when-invalid",
    "--renew-ahead=10m",
    `--cache-dir=${cache}`,
  ];
  const w = await world(tmp.path, { args });
  const before = await doctor(["--skip-run"], tmp.path, { KUBECONFIG: w.kubeconfig });
  assert.match(
    before.stdout,
    /background renewal +renew-ahead 10m; no background renewal has run yet/,
  );
  // The state a failed background renewal leaves, where the plugin keeps it for these credentials.
  const { name } = renewalLock({
    cacheDir: cache,
    clientCertificatePath: cert,
    clientKeyPath: key,
    beforeExecCommand: "renew",
  }, () => undefined);
  const files = aheadFiles(cache, name);
  Deno.mkdirSync(cache, { recursive: true, mode: 0o700 });
  Deno.writeTextFileSync(
    files.state,
    JSON.stringify({
      failures: 1,
      lastEndedAt: "2026-12-01T12:00:00Z",
      lastOutcome: "before-exec command renew failed with exit status 1",
      nextTryAt: "2026-12-01T12:00:30Z",
    }),
  );
  const after = await doctor(["--skip-run"], tmp.path, { KUBECONFIG: w.kubeconfig });
  assert.match(
    after.stdout,
    /background renewal +renew-ahead 10m; the last one failed at 2026-12-01T12:00:00Z \(before-exec command renew failed with exit status 1\), 1 in a row; next try at 2026-12-01T12:00:30Z/,
  );
  assert.ok(after.stdout.includes(files.log), after.stdout);
});
