/**
 * The renewal lock between real processes: a waiter that gives up, a holder killed with SIGKILL, a lock folder or
 * file of another user, and a renewal left running by a killed broker (waited for, or stopped with its children).
 */
import assert from "node:assert/strict";
import {
  installedBroker,
  literal,
  pluginEnv,
  runBroker,
  tempDir,
  writeCommandSync,
} from "../helpers.ts";
import { acquireLock, renewalLock } from "../../lib/plugin/lock.ts";
import { brokerArgs, renewalWorld, runBrokerUntil, until } from "./renewal_world.ts";

const WINDOWS = Deno.build.os === "windows";
const ROOT_USER = Deno.uid() === 0;

Deno.test("a waiter gives up after its timeout and says it was waiting for another renewal", async () => {
  await using tmp = await tempDir();
  // The holder's renewal goes on until the waiter has given up, however long the waiter takes to start (seconds
  // under Wine): it waits for this file, which the test writes once the waiter has ended.
  const release = `${tmp.path}/release`;
  const w = await renewalWorld(tmp.path, { holdUntil: release });
  const holder = runBroker(
    brokerArgs(w, "--before-exec-policy=when-invalid", "--before-exec-timeout=150s"),
    { home: tmp.path },
  );
  let waiter;
  try {
    await until(() => w.runs() === 1);
    waiter = await runBroker(
      brokerArgs(w, "--before-exec-policy=when-invalid", "--before-exec-timeout=500ms"),
      { home: tmp.path },
    );
  } finally {
    Deno.writeTextFileSync(release, "");
  }
  assert.equal(waiter.code, 4, waiter.stderr);
  assert.match(
    waiter.stderr,
    new RegExp(
      "^error: gave up after waiting 500ms for another kubectl-credentials_broker renewing the same " +
        `credentials \\(lock ${literal(tmp.path)}.*\\.lock\\)$`,
      "m",
    ),
  );
  const held = await holder;
  assert.equal(held.code, 0, held.stderr);
  assert.equal(w.runs(), 1);
});

Deno.test("a lock holder killed with SIGKILL does not block the next call", async () => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path);
  const stuck = writeCommandSync(tmp.path, "stuck", [
    { write: `${tmp.path}/broker.pid`, value: { ppid: true } },
    { write: `${tmp.path}/stuck.pid`, value: { pid: true } },
    { sleepMs: 60_000 },
  ]).line;
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
  // The file exists before the script has written the pid into it: wait for the number, and for the broker's note.
  await until(() => pidIn(`${tmp.path}/stuck.pid`) > 0 && commandRecorded(tmp.path));
  // The broker itself, the command's parent: on Windows the installed broker is a .cmd, and killing cmd.exe would
  // leave the broker's deno.exe running, and holding the lock.
  const broker = pidIn(`${tmp.path}/broker.pid`);
  if (!WINDOWS) assert.equal(broker, holder.pid);
  Deno.kill(broker, "SIGKILL");
  await holder.status;
  // The broker's child lives on in its own session; it does not hold the lock: taken here at once, without
  // waiting (timeout 0), while the child still runs. A lock the killed broker or its child kept would refuse it.
  const { dir, name } = renewalLock({
    clientCertificatePath: w.cert,
    clientKeyPath: w.key,
    beforeExecCommand: stuck,
  }, (variable) => variable === "HOME" ? tmp.path : undefined);
  // The killed broker's own lock: it left the note of its command there.
  assert.ok(Deno.statSync(`${dir}/${name}`).size > 0, `no note in ${dir}/${name}`);
  const lock = await acquireLock({ dir, name, timeoutMs: 0 });
  const stuckPid = pidIn(`${tmp.path}/stuck.pid`);
  // SIGCONT changes nothing for a running process, and fails for one that is gone (no signals on Windows).
  if (!WINDOWS) Deno.kill(stuckPid, "SIGCONT"); // the killed broker's command still runs: the lock was free anyway
  // Its note still names the command, which the next call would wait for: it goes, and the lock is given back.
  lock[Symbol.dispose]();
  try {
    Deno.kill(stuckPid, "SIGKILL");
  } catch {
    // already gone
  }
  Deno.copyFileSync(`${tmp.path}/next.crt`, w.cert);
  Deno.copyFileSync(`${tmp.path}/next.key`, w.key);
  const result = await runBroker([
    ...args,
    "--before-exec-policy=when-invalid",
    "--before-exec-timeout=5s",
  ], { home: tmp.path });
  assert.equal(result.code, 0, result.stderr);
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
  name: "a lock folder of ours left loose (0755) is made private before a lock is taken in it" +
    (WINDOWS ? " (ignored: Windows files have no mode bits)" : ""),
  ignore: WINDOWS,
}, async () => {
  await using tmp = await tempDir();
  const dir = `${tmp.path}/cache`;
  Deno.mkdirSync(dir);
  Deno.chmodSync(dir, 0o755);
  using _lock = await acquireLock({ dir, name: "x.lock", timeoutMs: 0 });
  assert.equal(Deno.statSync(dir).mode! & 0o777, 0o700);
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

/**
 * Whether this Windows's tasklist lists a process (this one) by pid, as the broker asks it whether a renewal left
 * by a killed broker still runs (processRuns). Wine's prints nothing at all. True elsewhere (the broker asks ps).
 */
function tasklistAnswers(): boolean {
  if (!WINDOWS) return true;
  try {
    const { stdout } = new Deno.Command("tasklist", {
      args: ["/FI", `PID eq ${Deno.pid}`, "/FO", "CSV", "/NH"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    return new TextDecoder().decode(stdout).includes(`"${Deno.pid}"`);
  } catch {
    return false;
  }
}

const TASKLIST = tasklistAnswers();

Deno.test({
  name: "a renewal left running by a broker killed with SIGKILL is waited for, never overlapped" +
    (TASKLIST
      ? ""
      : " (ignored: this tasklist lists no process, as Wine's does, so a left-over renewal is " +
        "never seen running; the windows-latest job runs it)"),
  ignore: !TASKLIST,
}, async () => {
  await using tmp = await tempDir();
  // The first run goes on until the next broker says it waits for it (the test then writes this file), however
  // long that broker takes to start (seconds under Wine).
  const release = `${tmp.path}/release`;
  const w = await renewalWorld(tmp.path, { holdUntil: release });
  const holder = await spawnBroker(brokerArgs(w, "--before-exec-timeout=150s"), tmp.path);
  let next;
  try {
    await until(() => w.runs() === 1 && w.brokerPid() > 0 && commandRecorded(tmp.path));
    // The broker itself, the renewal's parent: the installed broker is the process started on POSIX (its sh shim
    // execs), but a .cmd on Windows, where killing cmd.exe would leave the broker's deno.exe running.
    if (!WINDOWS) assert.equal(w.brokerPid(), holder.pid);
    Deno.kill(w.brokerPid(), "SIGKILL");
    await holder.status;
    // The killed broker's command goes on in its own session; the next call must not start a second one beside
    // it. Once it says it waits for that command, the command may end.
    next = await runBrokerUntil(
      brokerArgs(w, "--before-exec-timeout=150s"),
      tmp.path,
      /^waiting for before-exec command /m,
      () => Deno.writeTextFileSync(release, ""),
    );
  } finally {
    Deno.writeTextFileSync(release, "");
  }
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
    "an issuer's token command left running by a broker killed with SIGKILL is waited for, never overlapped" +
    (TASKLIST
      ? ""
      : " (ignored: this tasklist lists no process, as Wine's does, so a left-over command is never seen " +
        "running; the windows-latest job runs it)"),
  ignore: !TASKLIST,
}, async () => {
  await using tmp = await tempDir();
  const release = `${tmp.path}/release`;
  // A --step-token-command that goes on until the test says so, then prints no token: no CA is ever asked.
  const token = writeCommandSync(tmp.path, "token", [
    { enter: `${tmp.path}/running`, overlaps: `${tmp.path}/overlaps` },
    { append: `${tmp.path}/runs`, value: "run" },
    { write: `${tmp.path}/broker.pid`, value: { ppid: true } },
    { waitFor: release, timeoutMs: 120_000 },
    { leave: `${tmp.path}/running` },
  ]).line;
  const args = [
    "--issuer=step-ca",
    "--issuer-url=https://127.0.0.1:9",
    `--step-token-command=${token}`,
    "--before-exec-timeout=150s",
  ];
  const lines = (name: string) => {
    try {
      return Deno.readTextFileSync(`${tmp.path}/${name}`).split("\n").filter(Boolean);
    } catch {
      return [];
    }
  };
  const holder = await spawnBroker(args, tmp.path);
  let next;
  try {
    await until(() => pidIn(`${tmp.path}/broker.pid`) > 0 && commandRecorded(tmp.path));
    const broker = pidIn(`${tmp.path}/broker.pid`);
    if (!WINDOWS) assert.equal(broker, holder.pid);
    Deno.kill(broker, "SIGKILL");
    await holder.status;
    next = await runBrokerUntil(
      args,
      tmp.path,
      /^waiting for the issuer's helper command /m,
      () => Deno.writeTextFileSync(release, ""),
    );
  } finally {
    Deno.writeTextFileSync(release, "");
  }
  assert.match(
    next.stderr,
    /^waiting for the issuer's helper command \(pid \d+\), left running by a kubectl-credentials_broker that ended$/m,
  );
  // Then its own issuance: the token command once more, after the first one ended; it prints no token.
  assert.equal(next.code, 3, next.stderr);
  assert.match(next.stderr, /printed no one-time token/);
  assert.deepEqual(lines("runs"), ["run", "run"]);
  assert.deepEqual(lines("overlaps"), []);
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
