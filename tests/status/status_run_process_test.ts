/**
 * `status` as a user meets it: the broker spawned (from source, or the executable KUBECTL_CREDENTIALS_BROKER_BIN
 * names) against real files. What only a process shows: that it needs no permission to run, write or connect, the
 * state file a real (detached) background renewal left, and how long the whole process takes for 50 users.
 *
 * The process tier (PROCESS_TESTS in scripts/test.ts): every test here starts the broker. status in-process (its
 * exit codes and messages, 50 users read in this process) is tests/status/status_run_test.ts and
 * tests/status/status_test.ts, the unit tier.
 */
import assert from "node:assert/strict";
import { formatTimestamp } from "../../lib/shared/duration.ts";
import { fileUrlToPath, HOST_OS, isWindows } from "../../lib/shared/platform.ts";
import {
  backgroundSettled,
  brokerBin,
  clientCredentials,
  DENO_DIR,
  makeJwt,
  run,
  runMain,
  tempDir,
} from "../helpers.ts";
import {
  credentialArgs,
  denoCommand,
  inDir,
  manyUsers,
  standInExecutables,
  writeKubeconfig,
} from "./status_fixtures.ts";

const MINUTE = 60_000;
const LIST_SEPARATOR = isWindows(HOST_OS) ? ";" : ":";

/** The broker from source with only the permissions to read files and the environment: no run, write or net. */
async function statusReadOnly(args: string[], env: Record<string, string>, cwd: string) {
  const file = (name: string) =>
    fileUrlToPath(new URL(`../../${name}`, import.meta.url).href, HOST_OS);
  return await run(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-env",
    "--quiet",
    "--config",
    file("deno.json"),
    file("main.ts"),
    "status",
    ...args,
  ], { cwd, env: { PATH: Deno.env.get("PATH") ?? "", DENO_DIR, ...env } });
}

Deno.test({
  name:
    "status reads files only: with no permission to run, write or connect it reports a merged KUBECONFIG, exit 0",
  // The permissions are those of a `deno run` of the source; a compiled binary has its own baked in.
  ignore: brokerBin() !== undefined,
  async fn() {
    await using tmp = await tempDir("ccb status ");
    const dir = tmp.path;
    const exp = Math.floor(Date.now() / 1000) + 50 * 60;
    const good = await clientCredentials(inDir(dir, "good"), { token: makeJwt({ exp }) });
    const expiredAt = new Date(Math.floor((Date.now() - 3 * MINUTE) / 1000) * 1000);
    const expired = await clientCredentials(inDir(dir, "expired"), {
      notAfter: expiredAt,
      token: null,
    });
    // A renewal command that would leave a mark if anything ran it.
    const marker = inDir(dir, "renewal ran");
    const script = inDir(dir, "renew.ts");
    Deno.writeTextFileSync(script, `Deno.writeTextFileSync(${JSON.stringify(marker)}, "ran");\n`);
    const cache = inDir(dir, "cache");
    const renewal = [
      `--before-exec-command=${denoCommand(script)}`,
      "--before-exec-policy=when-invalid",
      "--renew-ahead=30%",
      `--cache-dir=${cache}`,
    ];
    const first = writeKubeconfig(inDir(dir, "first config"), {
      current: "dev",
      contexts: { dev: "alice" },
      users: [{
        name: "alice",
        args: [
          ...credentialArgs({ cert: good.cert, key: good.key, token: good.token }),
          ...renewal,
        ],
      }],
    });
    const second = writeKubeconfig(inDir(dir, "second config"), {
      contexts: { old: "dave" },
      users: [
        { name: "alice", args: credentialArgs({ token: good.token }) },
        { name: "dave", args: credentialArgs({ cert: expired.cert, key: expired.key }) },
      ],
    });
    const env = {
      KUBECONFIG: [first, inDir(dir, "missing"), second].join(LIST_SEPARATOR),
      HOME: dir,
      USERPROFILE: dir,
    };
    const result = await statusReadOnly(["-o", "json"], env, dir);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "");
    const users = JSON.parse(result.stdout).users;
    assert.deepEqual(users.map((u: { name: string }) => u.name), ["alice", "alice", "dave"]);
    assert.deepEqual(users.map((u: { kubeconfig: string }) => u.kubeconfig), [
      first,
      second,
      second,
    ]);
    assert.deepEqual(users[0].token, { expiresAt: formatTimestamp(new Date(exp * 1000)) });
    assert.equal(users[0].renewal.renewAhead, "30%");
    assert.match(users[1].problems[0].detail, /is shadowed by the user of the same name in /);
    assert.deepEqual(users[2].certificate, {
      subject: "CN=alice, O=dev",
      notAfter: formatTimestamp(expiredAt),
    });
    assert.ok(
      users[2].problems.some((p: { check: string; status: string }) =>
        p.check === "certificate expiry" && p.status === "fail"
      ),
      JSON.stringify(users[2].problems),
    );
    // Nothing ran, nothing was created.
    assert.throws(() => Deno.statSync(marker), Deno.errors.NotFound);
    assert.throws(() => Deno.statSync(cache), Deno.errors.NotFound);
    const text = await statusReadOnly([], env, dir);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /^dave\n(.*\n)* {2}certificate {2}CN=alice, O=dev; expired \d+m(\d+s)? ago \(/m,
    );
    assert.match(text.stdout, /token +JWT, expires in \d+m(\d+s)? \(/);
  },
});

Deno.test("status shows the outcome a real background renewal left in its state file", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  // Inside the window: the certificate has lived 1h of its 3h, and renew-ahead is 90% of the lifetime.
  const { cert, key } = await clientCredentials(dir, { token: null });
  const script = inDir(dir, "fail.ts");
  Deno.writeTextFileSync(script, "console.error('vault said no');\nDeno.exit(3);\n");
  const cache = inDir(dir, "cache");
  const args = [
    ...credentialArgs({ cert, key }),
    `--before-exec-command=${denoCommand(script)}`,
    "--before-exec-policy=when-invalid",
    "--renew-ahead=90%",
    `--cache-dir=${cache}`,
  ];
  const env = { HOME: dir, USERPROFILE: dir };
  const call = await runMain(args, {
    env: {
      ...env,
      KUBERNETES_EXEC_INFO: JSON.stringify({
        kind: "ExecCredential",
        apiVersion: "client.authentication.k8s.io/v1",
        spec: { interactive: false },
      }),
    },
    cwd: dir,
  });
  assert.equal(call.code, 0, call.stderr);
  await backgroundSettled(cache, 60_000);
  const bin = standInExecutables(dir, ["kubectl-credentials_broker"]);
  const config = writeKubeconfig(inDir(dir, "config"), {
    contexts: { dev: "alice" },
    users: [{
      name: "alice",
      command: inDir(bin, `kubectl-credentials_broker${isWindows(HOST_OS) ? ".exe" : ""}`),
      args,
    }],
  });
  const json = await runMain(["status", "--kubeconfig", config, "-o", "json"], { env, cwd: dir });
  assert.equal(json.code, 0, json.stderr);
  const [alice] = JSON.parse(json.stdout).users;
  const last = alice.renewal.lastBackground;
  assert.equal(last.failures, 1);
  // Under Wine the detached renewal ends in "internal error (SuppressedError)" (the lock's disposal fails
  // after the command's failure): the plugin's matter; status shows whatever outcome the broker recorded.
  if (!isWindows(HOST_OS)) assert.match(last.outcome, /exit (status|code) 3/);
  assert.notEqual(last.outcome, "ok");
  assert.ok(
    Date.parse(last.endedAt) <= Date.now() && Date.parse(last.nextTryAt) > Date.parse(last.endedAt),
  );
  assert.ok(!json.stdout.includes("vault said no"), "the command's output stays in the log");
  assert.deepEqual(
    alice.problems.map((p: { check: string; status: string }) => `${p.status} ${p.check}`),
    ["warn background renewal"],
  );
  const text = await runMain(["status", "--kubeconfig", config], { env, cwd: dir });
  assert.ok(text.stdout.includes(`(${last.outcome}), 1 in a row`), text.stdout);
  assert.match(
    text.stdout,
    /renew-ahead +90%; the last background renewal failed [\dhms]+ ago \(.+\), 1 in a row(; next try in \S+)?$/m,
  );
});

Deno.test("status reads 50 users as a whole process (measured, not asserted: see the test's output)", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const config = await manyUsers(dir, 50);
  const spawnedStart = performance.now();
  const spawned = await runMain(["status", "--kubeconfig", config, "-o", "json"], {
    env: { HOME: dir, USERPROFILE: dir },
    cwd: dir,
  });
  const spawnedMs = performance.now() - spawnedStart;
  assert.equal(spawned.code, 0, spawned.stderr);
  assert.equal(JSON.parse(spawned.stdout).users.length, 50);
  // On a machine others share, the load says how far these figures are from an idle one.
  const load = isWindows(HOST_OS) ? "" : `; load average ${Deno.loadavg()[0]!.toFixed(1)}`;
  console.log(
    `status, 50 users (EC certificate and key, JWT, renew-ahead each): the whole process (${
      brokerBin() ? "the given binary" : "deno run from source"
    }) ${spawnedMs.toFixed(0)} ms${load}; in-process: tests/status/status_run_test.ts`,
  );
});
