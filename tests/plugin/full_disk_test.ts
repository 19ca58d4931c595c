/**
 * A full (ENOSPC) or read-only (EROFS) disk under the cache folder, with the broker as installed and real disks
 * (a small tmpfs, as root on Linux): the renewal lock's note, the renew-ahead claim, and the detached renewal's
 * log and state. A write the renewal depends on ends in a clear error naming the file, with the command stopped and
 * the user's credentials untouched; a write that is only a convenience is a warning, and the call answers with
 * the credentials in hand.
 */
import assert from "node:assert/strict";
import { basename } from "node:path";
import { acquireLock, renewalLock } from "../../lib/plugin/lock.ts";
import { aheadFiles } from "../../lib/plugin/renew_ahead.ts";
import { fakeIo, processesMentioning, runBroker, tempDir } from "../helpers.ts";
import { NO_SMALL_DISK, smallDisk } from "../small_disk.ts";
import { tokenWorld } from "./token_world.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A temp folder (HOME) with the token world in it, and a small disk whose `cache` folder the broker will use. */
async function onSmallDisk() {
  await using stack = new AsyncDisposableStack();
  const tmp = stack.use(await tempDir());
  const disk = stack.use(await smallDisk());
  const w = tokenWorld(tmp.path);
  const cache = `${disk.path}/cache`;
  const owned = stack.move();
  return { tmp, disk, w, cache, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

/**
 * The broker's flags for the token world, with `command` as its renewal command and `cache` as its cache folder;
 * `renewAhead`: with a 1h renew-ahead window and the when-invalid policy.
 */
function brokerArgs(
  w: { token: string },
  command: string,
  cache: string,
  { renewAhead = false } = {},
): string[] {
  return [
    `--token-path=${w.token}`,
    `--before-exec-command=${command}`,
    ...(renewAhead ? ["--before-exec-policy=when-invalid", "--renew-ahead=1h"] : []),
    `--cache-dir=${cache}`,
  ];
}

Deno.test({
  name:
    "a lock note that cannot be written on a full disk stops the renewal command and names the lock file (needs root and mount on Linux: tmpfs)",
  ignore: NO_SMALL_DISK,
  async fn() {
    await using world = await onSmallDisk();
    const { tmp, disk, w, cache } = world;
    const before = Deno.readTextFileSync(w.token);
    disk.fill();
    const result = await runBroker(brokerArgs(w, w.command({ sleepMs: 3000 }), cache), {
      home: tmp.path,
    });
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /^error: cannot write the lock file .*\/cache\/renew-[0-9a-f]+\.lock: no space left on the disk$/m,
    );
    assert.match(result.stderr, /^hint: free space on that disk/m);
    assert.equal(result.stdout, "");
    // Stopped, not left to renew behind the broker's back: no process of the test folder, and it never wrote.
    await sleep(1500);
    assert.deepEqual(processesMentioning(tmp.path), []);
    assert.equal(w.done(), 0);
    assert.equal(Deno.readTextFileSync(w.token), before, "the credentials are untouched");

    // The lock was given back and nothing is left half-done: with room again, the next call renews at once.
    disk.free();
    const again = await runBroker(brokerArgs(w, w.command(), cache), { home: tmp.path });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(w.done(), 1);
  },
});

Deno.test({
  name:
    "a read-only cache folder fails a renewal before the command runs, naming the lock file (needs root and mount on Linux: tmpfs)",
  ignore: NO_SMALL_DISK,
  async fn() {
    await using world = await onSmallDisk();
    const { tmp, disk, w, cache } = world;
    Deno.mkdirSync(cache, { mode: 0o700 });
    await disk.readOnly();
    const result = await runBroker(brokerArgs(w, w.command(), cache), { home: tmp.path });
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /^error: cannot open lock file .*\/cache\/renew-[0-9a-f]+\.lock: read-only file system$/m,
    );
    assert.equal(w.runs(), 0);
  },
});

for (const kind of ["full", "read-only"] as const) {
  Deno.test({
    name:
      `renew-ahead on a ${kind} cache disk warns and answers with the credentials in hand (needs root and mount on Linux: tmpfs)`,
    ignore: NO_SMALL_DISK,
    async fn() {
      await using world = await onSmallDisk();
      const { tmp, disk, w, cache } = world;
      w.setToken(30); // 30 minutes left of 2 hours: inside a 1h renew-ahead window, well outside the margin
      const token = Deno.readTextFileSync(w.token);
      Deno.mkdirSync(cache, { mode: 0o700 });
      if (kind === "full") disk.fill();
      else await disk.readOnly();
      const result = await runBroker(brokerArgs(w, w.command(), cache, { renewAhead: true }), {
        home: tmp.path,
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(JSON.parse(result.stdout).status.token, token);
      const reason = kind === "full" ? "no space left on the disk" : "read-only file system";
      assert.match(
        result.stderr,
        new RegExp(
          `^warning: cannot renew ahead of time: cannot write the claim file .*\\.ahead\\.claim: ${reason}; ` +
            `the credentials will be renewed at the margin$`,
          "m",
        ),
      );
      // No background renewal was started, and no claim is left to block the next one.
      await sleep(1500);
      assert.equal(w.runs(), 0);
      assert.deepEqual(
        [...Deno.readDirSync(cache)].filter((entry) => entry.name.endsWith(".claim")),
        [],
      );
    },
  });
}

/** The background renewal's argv (what a renew-ahead call spawns), run in-process. */
async function renewInBackgroundNow(args: string[], home: string): Promise<number> {
  const { runPlugin } = await import("../../lib/plugin/plugin.ts");
  return await runPlugin(["__renew-ahead", ...args], fakeIo({ env: { HOME: home }, cwd: home }));
}

/** The renew-ahead files of the token world's credential set in `cache`. */
function aheadFilesOf(w: { token: string }, command: string, cache: string) {
  const { dir, name } = renewalLock(
    { cacheDir: cache, tokenPath: w.token, beforeExecCommand: command },
    () => undefined,
  );
  return { lock: `${dir}/${name}`, ...aheadFiles(dir, name) };
}

Deno.test({
  name:
    "a background renewal whose log and state cannot be written still renews (Linux: the log is /dev/full)",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using tmp = await tempDir();
    const w = tokenWorld(tmp.path);
    w.setToken(30);
    const cache = tmp.join("cache");
    Deno.mkdirSync(cache, { mode: 0o700 });
    const command = w.command();
    const files = aheadFilesOf(w, command, cache);
    Deno.symlinkSync("/dev/full", files.log); // every write: ENOSPC
    Deno.mkdirSync(files.state); // no file can be renamed over a folder
    Deno.writeTextFileSync(files.claim, "claimed by the call that started it\n");
    const args = brokerArgs(w, command, cache, { renewAhead: true });
    assert.equal(await renewInBackgroundNow(args, tmp.path), 0);
    assert.equal(w.done(), 1, "the renewal ran to its end");
    assert.throws(
      () => Deno.statSync(files.claim),
      Deno.errors.NotFound,
      "the claim is given back",
    );
    assert.ok(Deno.statSync(files.state).isDirectory);
    assert.deepEqual(
      [...Deno.readDirSync(cache)].map((entry) => entry.name).filter((name) =>
        name.endsWith(".tmp")
      ),
      [],
    );
  },
});

Deno.test({
  name:
    "a background renewal on a full cache disk stops its command, gives the claim back and renews nothing (needs root and mount on Linux: tmpfs)",
  ignore: NO_SMALL_DISK,
  async fn() {
    await using world = await onSmallDisk();
    const { tmp, disk, w, cache } = world;
    w.setToken(30);
    const token = Deno.readTextFileSync(w.token);
    Deno.mkdirSync(cache, { mode: 0o700 });
    const command = w.command({ sleepMs: 3000 });
    const files = aheadFilesOf(w, command, cache);
    Deno.writeTextFileSync(files.claim, "claimed by the call that started it\n");
    disk.fill();
    const args = brokerArgs(w, command, cache, { renewAhead: true });
    const started = Date.now();
    assert.equal(await renewInBackgroundNow(args, tmp.path), 1);
    assert.ok(Date.now() - started < 2500, "the command was stopped, not waited for");
    await sleep(1000);
    assert.deepEqual(processesMentioning(tmp.path), []);
    assert.equal(w.done(), 0);
    assert.equal(Deno.readTextFileSync(w.token), token);
    assert.throws(
      () => Deno.statSync(files.claim),
      Deno.errors.NotFound,
      "the claim is given back",
    );
    // The lock is free: a foreground renewal takes it at once.
    using _lock = await acquireLock({ dir: cache, name: basename(files.lock), timeoutMs: 0 });
  },
});

Deno.test({
  name:
    "a lock folder that is open to others on a read-only disk says it cannot be made private, before the command runs (needs root and mount on Linux: tmpfs)",
  ignore: NO_SMALL_DISK,
  async fn() {
    await using world = await onSmallDisk();
    const { tmp, disk, w, cache } = world;
    Deno.mkdirSync(cache);
    Deno.chmodSync(cache, 0o755);
    await disk.readOnly();
    const result = await runBroker(brokerArgs(w, w.command(), cache), { home: tmp.path });
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /^error: cannot make the lock folder .*\/cache private \(chmod 700\): read-only file system$/m,
    );
    assert.equal(w.runs(), 0);
  },
});
