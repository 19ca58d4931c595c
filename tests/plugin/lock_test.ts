/**
 * The renewal lock between real processes: a waiter that gives up, a holder killed with SIGKILL, a lock folder or
 * file of another user, and a renewal left running by a killed broker (waited for, or stopped with its children).
 */
import assert from "node:assert/strict";
import { literal, runBroker, tempDir, writeCommandSync } from "../helpers.ts";
import { brokerArgs, renewalWorld } from "./renewal_world.ts";

const WINDOWS = Deno.build.os === "windows";
const ROOT_USER = Deno.uid() === 0;

Deno.test("a waiter gives up after its timeout and says it was waiting for another renewal", async () => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path, { sleep: 1.5 });
  const holder = runBroker(
    brokerArgs(w, "--before-exec-policy=when-invalid", "--before-exec-timeout=20s"),
    { home: tmp.path },
  );
  while (w.runs() === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  const waiter = await runBroker(
    brokerArgs(w, "--before-exec-policy=when-invalid", "--before-exec-timeout=500ms"),
    { home: tmp.path },
  );
  assert.equal(waiter.code, 4, waiter.stderr);
  assert.match(
    waiter.stderr,
    /^error: gave up after waiting 500ms for another kubectl-credentials_broker renewing the same credentials \(lock \/.*\.lock\)$/m,
  );
  assert.equal((await holder).code, 0);
  assert.equal(w.runs(), 1);
});

Deno.test("a lock holder killed with SIGKILL does not block the next call", async () => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path);
  const stuck = writeCommandSync(tmp.path, "stuck", [
    { write: `${tmp.path}/stuck.pid`, value: { pid: true } },
    { sleepMs: 60_000 },
  ]).line;
  const { installedBroker, pluginEnv } = await import("../helpers.ts");
  const args = [
    `--client-certificate-path=${w.cert}`,
    `--client-key-path=${w.key}`,
    `--before-exec-command=${stuck}`,
  ];
  const holder = new Deno.Command(await installedBroker(), {
    args: [...args, "--before-exec-timeout=60s"],
    env: pluginEnv(tmp.path),
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  // The file exists before the shell has written the pid into it: wait for the number.
  await until(() => pidIn(`${tmp.path}/stuck.pid`) > 0);
  holder.kill("SIGKILL");
  await holder.status;
  // The broker's child lives on in its own session; it does not hold the lock.
  try {
    Deno.kill(pidIn(`${tmp.path}/stuck.pid`), "SIGKILL");
  } catch {
    // already gone
  }
  Deno.copyFileSync(`${tmp.path}/next.crt`, w.cert);
  Deno.copyFileSync(`${tmp.path}/next.key`, w.key);
  const started = Date.now();
  const result = await runBroker([
    ...args,
    "--before-exec-policy=when-invalid",
    "--before-exec-timeout=5s",
  ], { home: tmp.path });
  assert.equal(result.code, 0, result.stderr);
  assert.ok(Date.now() - started < 4000);
});

Deno.test({
  name: "the lock folder and its files are private" +
    (WINDOWS ? " (ignored: Windows files have no mode bits)" : ""),
  ignore: WINDOWS,
}, async () => {
  await using tmp = await tempDir();
  // Expired credentials: the call renews, under the lock. (Valid ones are read without it.)
  const w = await renewalWorld(tmp.path);
  const result = await runBroker(brokerArgs(w, "--before-exec-policy=when-invalid"), {
    home: tmp.path,
  });
  assert.equal(result.code, 0, result.stderr);
  const dir = `${tmp.path}/.kube/cache/credentials-broker`;
  assert.equal(Deno.statSync(dir).mode! & 0o777, 0o700);
  for (const entry of Deno.readDirSync(dir)) {
    assert.equal(Deno.statSync(`${dir}/${entry.name}`).mode! & 0o777, 0o600);
  }
});

Deno.test({
  name: "a lock folder owned by someone else is refused" +
    (ROOT_USER ? "" : " (ignored: chown needs root, which CI has)"),
  ignore: !ROOT_USER,
}, async () => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path);
  const foreign = `${tmp.path}/foreign`;
  Deno.mkdirSync(foreign, { mode: 0o700 });
  Deno.chownSync(foreign, 65534, 65534);
  const refused = await runBroker(brokerArgs(w, `--cache-dir=${foreign}`), { home: tmp.path });
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    /^error: lock folder .*foreign belongs to another user \(uid 65534\); refusing to use it$/m,
  );
});

Deno.test({
  name: "a lock file owned by another user inside our own folder is refused" +
    (ROOT_USER ? "" : " (ignored: chown needs root, which CI has)"),
  ignore: !ROOT_USER,
}, async () => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path);
  const cache = `${tmp.path}/cache`;
  // Under `always` every call takes the lock.
  const args = brokerArgs(w, `--cache-dir=${cache}`);
  assert.equal((await runBroker(args, { home: tmp.path })).code, 0);
  const runs = w.runs();
  const locks = [...Deno.readDirSync(cache)].map((entry) => `${cache}/${entry.name}`);
  assert.equal(locks.length, 1);
  Deno.chownSync(locks[0]!, 65534, 65534);
  const refused = await runBroker(args, { home: tmp.path });
  assert.equal(refused.code, 1);
  assert.equal(refused.stdout, "");
  assert.match(
    refused.stderr,
    /^error: lock file .*\/cache\/renew-[0-9a-f]{16}\.lock belongs to another user \(uid 65534\); refusing to use it$/m,
  );
  assert.equal(w.runs(), runs);
});

/** Whether process `pid` still runs (a zombie waiting to be reaped counts as gone): Linux's /proc. */
function running(pid: number): boolean {
  try {
    return !/\) Z /.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
}

/** Starts the installed broker as kubectl would, to be killed: its output goes nowhere. */
async function spawnBroker(args: string[], home: string): Promise<Deno.ChildProcess> {
  const { installedBroker, pluginEnv } = await import("../helpers.ts");
  return new Deno.Command(await installedBroker(), {
    args,
    env: pluginEnv(home),
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** The pid a script wrote into `path`, or 0 while the file is missing or not yet written. */
function pidIn(path: string): number {
  try {
    return Number(Deno.readTextFileSync(path).trim()) || 0;
  } catch {
    return 0;
  }
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}

/**
 * Whether a broker with HOME `home` has recorded its running command in its lock file: before that, a broker
 * killed leaves nothing to go by (its command has started a moment before).
 */
function commandRecorded(home: string): boolean {
  const dir = `${home}/.kube/cache/credentials-broker`;
  try {
    return [...Deno.readDirSync(dir)].some((entry) =>
      entry.name.endsWith(".lock") && Deno.statSync(`${dir}/${entry.name}`).size > 0
    );
  } catch {
    return false;
  }
}

Deno.test("a renewal left running by a broker killed with SIGKILL is waited for, never overlapped", async () => {
  await using tmp = await tempDir();
  // Long enough to outlast the next broker's start on a loaded machine: it must find the renewal running.
  const w = await renewalWorld(tmp.path, { sleep: 5, sleepOnce: true });
  const holder = await spawnBroker(brokerArgs(w, "--before-exec-timeout=60s"), tmp.path);
  await until(() => w.runs() === 1 && commandRecorded(tmp.path));
  holder.kill("SIGKILL");
  await holder.status;
  // The killed broker's command sleeps on in its own session; the next call must not start a second one beside it.
  const next = await runBroker(brokerArgs(w, "--before-exec-timeout=60s"), { home: tmp.path });
  assert.equal(next.code, 0, next.stderr);
  assert.match(
    next.stderr,
    new RegExp(
      `^waiting for before-exec command ${
        literal(Deno.execPath())
      } \\(pid \\d+\\), left running by a kubectl-credentials_broker that ended$`,
      "m",
    ),
  );
  assert.equal(w.runs(), 2);
  assert.equal(w.overlaps(), 0);
});

Deno.test({
  name:
    "a left-over renewal that outlives its broker's timeout is stopped with its children, then renewal runs" +
    (WINDOWS ? " (ignored: Wine's taskkill has no /T, and this test reads /proc)" : ""),
  ignore: WINDOWS,
}, async () => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path);
  // The first run hangs with a child, as a stuck renewal would; later runs renew.
  const renew = writeCommandSync(tmp.path, "renew-once", [
    {
      if: { missing: `${tmp.path}/first` },
      then: [
        { write: `${tmp.path}/first`, value: "" },
        { spawn: `${tmp.path}/child.pid`, seconds: 60 },
        { write: `${tmp.path}/stuck.pid`, value: { pid: true } },
        { waitSpawned: true },
      ],
    },
    ...w.steps,
  ]).line;
  const args = [
    `--client-certificate-path=${w.cert}`,
    `--client-key-path=${w.key}`,
    `--before-exec-command=${renew}`,
  ];
  const holder = await spawnBroker([...args, "--before-exec-timeout=2s"], tmp.path);
  const pidOf = (name: string) => pidIn(`${tmp.path}/${name}`);
  await until(() => pidOf("stuck.pid") > 0 && commandRecorded(tmp.path));
  holder.kill("SIGKILL");
  await holder.status;
  const [stuck, child] = [pidOf("stuck.pid"), pidOf("child.pid")];
  try {
    const next = await runBroker([...args, "--before-exec-timeout=30s"], { home: tmp.path });
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stderr, /left running by a kubectl-credentials_broker that ended$/m);
    assert.equal(running(stuck), false, `the stuck renewal ${stuck} lives on`);
    assert.equal(running(child), false, `its child ${child} lives on`);
    assert.equal(w.runs(), 1);
  } finally {
    for (const pid of [stuck, child]) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // gone, as it should be
      }
    }
  }
});
