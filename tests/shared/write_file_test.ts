/**
 * writeFileAtomicSync(): a file written whole or not at all, on real disks, a full one and a read-only one
 * included (tmpfs, as root on Linux).
 */
import assert from "node:assert/strict";
import {
  FileWriteError,
  isTransientRenameError,
  RENAME_RETRY_MS,
  renameRetryDelay,
  renameRetrying,
  renameRetryingSync,
  writeFailureHint,
  writeFileAtomicSync,
} from "../../lib/shared/write_file.ts";
import { tempDir } from "../helpers.ts";
import { NO_SMALL_DISK, smallDisk } from "../small_disk.ts";

const POSIX = Deno.build.os !== "windows";

function thrownBy(action: () => void): FileWriteError {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof FileWriteError, String(error));
    return error;
  }
  throw new Error("expected a FileWriteError");
}

Deno.test("writeFileAtomicSync() replaces a file, keeps its mode and leaves no temporary file", async () => {
  await using tmp = await tempDir();
  const file = tmp.join("client.crt");
  Deno.writeTextFileSync(file, "old");
  if (POSIX) Deno.chmodSync(file, 0o644);
  writeFileAtomicSync(file, "new");
  assert.equal(Deno.readTextFileSync(file), "new");
  if (POSIX) assert.equal(Deno.statSync(file).mode! & 0o777, 0o644);

  const key = tmp.join("client.key");
  writeFileAtomicSync(key, new Uint8Array([1, 2, 3]));
  assert.deepEqual(Deno.readFileSync(key), new Uint8Array([1, 2, 3]));
  if (POSIX) assert.equal(Deno.statSync(key).mode! & 0o777, 0o600, "a new file is private");

  writeFileAtomicSync(file, "given mode", { mode: 0o640 });
  if (POSIX) assert.equal(Deno.statSync(file).mode! & 0o777, 0o640);

  const names = [...Deno.readDirSync(tmp.path)].map((entry) => entry.name);
  assert.deepEqual(names.filter((name) => name.endsWith(".tmp")), []);
});

Deno.test({
  name:
    "writeFileAtomicSync() writes through a symlink, dangling or not, and keeps the link (not on Windows: symlinks need privileges there, and Wine cannot lstat a dangling one)",
  ignore: !POSIX,
  async fn() {
    await using tmp = await tempDir();
    Deno.mkdirSync(tmp.join("store"));
    const link = tmp.join("link.crt");
    Deno.symlinkSync("store/real.crt", link);
    writeFileAtomicSync(link, "created through the link");
    assert.ok(Deno.lstatSync(link).isSymlink, "the link stays a link");
    assert.equal(Deno.readTextFileSync(tmp.join("store", "real.crt")), "created through the link");
    writeFileAtomicSync(link, "replaced through the link");
    assert.ok(Deno.lstatSync(link).isSymlink);
    assert.equal(Deno.readTextFileSync(tmp.join("store", "real.crt")), "replaced through the link");
    assert.deepEqual([...Deno.readDirSync(tmp.join("store"))].map((entry) => entry.name), [
      "real.crt",
    ]);
  },
});

Deno.test("writeFileAtomicSync() into a missing folder names the file and says why in words", async () => {
  await using tmp = await tempDir();
  const path = tmp.join("missing", "client.crt");
  const error = thrownBy(() => writeFileAtomicSync(path, "x", { what: "client certificate" }));
  assert.equal(
    error.message,
    `cannot write client certificate ${path}: no such file or folder; it was left as it was`,
  );
});

Deno.test({
  name:
    "writeFileAtomicSync() on a full disk fails naming the file and leaves the old one whole (needs root and mount on Linux: tmpfs)",
  ignore: NO_SMALL_DISK,
  async fn() {
    await using disk = await smallDisk();
    const path = `${disk.path}/client.crt`;
    const old = "old certificate\n".repeat(100);
    Deno.writeTextFileSync(path, old);
    disk.fill();
    const error = thrownBy(() =>
      writeFileAtomicSync(path, "new certificate\n".repeat(200), { what: "client certificate" })
    );
    assert.equal(
      error.message,
      `cannot write client certificate ${path}: no space left on the disk; it was left as it was`,
    );
    assert.equal(error.reason, "no space left on the disk");
    assert.match(error.hint ?? "", /free some space/);
    assert.equal(Deno.readTextFileSync(path), old);
    assert.deepEqual(
      [...Deno.readDirSync(disk.path)].map((entry) => entry.name).sort(),
      [".filler", "client.crt"],
    );
    disk.free();
    writeFileAtomicSync(path, "new");
    assert.equal(Deno.readTextFileSync(path), "new");
  },
});

Deno.test({
  name:
    "writeFileAtomicSync() on a read-only disk fails naming the file and changes nothing (needs root and mount on Linux: tmpfs)",
  ignore: NO_SMALL_DISK,
  async fn() {
    await using disk = await smallDisk();
    const path = `${disk.path}/client.key`;
    Deno.writeTextFileSync(path, "old key");
    await disk.readOnly();
    const error = thrownBy(() => writeFileAtomicSync(path, "new key", { what: "client key" }));
    assert.equal(
      error.message,
      `cannot write client key ${path}: read-only file system; it was left as it was`,
    );
    assert.equal(Deno.readTextFileSync(path), "old key");
  },
});

// Windows refuses to rename over a file another process holds open without FILE_SHARE_DELETE ("os error 5"): the
// rename is tried again for a while there, never elsewhere.

const accessDenied = () =>
  new Deno.errors.PermissionDenied("Access denied. (os error 5): rename 'a' -> 'b'");

Deno.test("a rename refused as access denied or a sharing violation is transient on Windows only", () => {
  const transient = [
    accessDenied(),
    new Deno.errors.Busy("busy"),
    Object.assign(new Error("operation not permitted"), { code: "EPERM" }),
    Object.assign(new Error("permission denied"), { code: "EACCES" }),
    new Error(
      "The process cannot access the file because it is being used by another process. (os error 32)",
    ),
  ];
  for (const error of transient) {
    assert.equal(isTransientRenameError(error, "windows"), true, String(error));
    assert.equal(isTransientRenameError(error, "linux"), false, String(error));
    assert.equal(isTransientRenameError(error, "darwin"), false, String(error));
  }
  for (
    const error of [new Deno.errors.NotFound("no such file (os error 2)"), new Error("os error 50")]
  ) {
    assert.equal(isTransientRenameError(error, "windows"), false, String(error));
  }
  assert.match(writeFailureHint(accessDenied(), "windows") ?? "", /may hold the file open/);
  assert.match(writeFailureHint(accessDenied(), "linux") ?? "", /check the permissions/);
});

Deno.test("renameRetryDelay(): waits of 10 ms growing to 100 ms, for at most RENAME_RETRY_MS in all", () => {
  const error = accessDenied();
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7].map((tries) => renameRetryDelay(error, "windows", tries, 0)),
    [10, 20, 40, 80, 100, 100, 100],
  );
  assert.equal(
    renameRetryDelay(error, "windows", 9, RENAME_RETRY_MS - 30),
    30,
    "never past the budget",
  );
  assert.equal(renameRetryDelay(error, "windows", 9, RENAME_RETRY_MS), null);
  assert.equal(renameRetryDelay(error, "linux", 1, 0), null, "a real permission problem elsewhere");
  assert.equal(renameRetryDelay(new Deno.errors.NotFound("gone"), "windows", 1, 0), null);
  assert.ok(RENAME_RETRY_MS >= 2000 && RENAME_RETRY_MS <= 60_000);
});

/** A clock that moves only when slept on, and the waits asked for. */
function fakeTime(os: "windows" | "linux") {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    effects: {
      os,
      now: () => now,
      sleep: (ms: number) => {
        slept.push(ms);
        now += ms;
      },
    },
  };
}

Deno.test("renameRetryingSync(): tries again while Windows refuses, and gives up with the last error", () => {
  let calls = 0;
  const time = fakeTime("windows");
  renameRetryingSync("a", "b", () => {
    if (++calls <= 3) throw accessDenied();
  }, time.effects);
  assert.equal(calls, 4);
  assert.deepEqual(time.slept, [10, 20, 40]);

  const always = fakeTime("windows");
  let tries = 0;
  assert.throws(
    () =>
      renameRetryingSync("a", "b", () => {
        tries++;
        throw accessDenied();
      }, always.effects),
    Deno.errors.PermissionDenied,
  );
  assert.equal(always.slept.reduce((sum, ms) => sum + ms, 0), RENAME_RETRY_MS);
  assert.ok(tries > 10, `${tries} tries`);

  const linux = fakeTime("linux");
  let once = 0;
  assert.throws(() =>
    renameRetryingSync("a", "b", () => {
      once++;
      throw accessDenied();
    }, linux.effects), Deno.errors.PermissionDenied);
  assert.equal(once, 1, "no retry off Windows");
  assert.deepEqual(linux.slept, []);
});

Deno.test("renameRetrying(): the same rule for async writers (the kubeconfig's)", async () => {
  let calls = 0;
  const time = fakeTime("windows");
  await renameRetrying("a", "b", () => {
    if (++calls <= 2) return Promise.reject(accessDenied());
    return Promise.resolve();
  }, time.effects);
  assert.equal(calls, 3);
  assert.deepEqual(time.slept, [10, 20]);
});

/**
 * Starts another process that opens `path` for reading and holds it open for `holdMs` (Windows refuses to
 * replace the file meanwhile); resolves once the file is open, with the process's end.
 */
async function holdOpen(path: string, marker: string, holdMs: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--no-config",
      `const f = Deno.openSync(${JSON.stringify(path)}); Deno.writeTextFileSync(${
        JSON.stringify(marker)
      }, ""); await new Promise((r) => setTimeout(r, ${holdMs})); f.close();`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const limit = Date.now() + 60_000;
  while (!exists(marker)) {
    if (Date.now() > limit) throw new Error("the holder never opened the file");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return child.status;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("writeFileAtomicSync() replaces a file another process holds open (Windows: once it lets go)", async () => {
  await using tmp = await tempDir();
  const file = tmp.join("client.crt");
  Deno.writeTextFileSync(file, "old");
  const ended = await holdOpen(file, tmp.join("opened"), 300);
  writeFileAtomicSync(file, "new", { what: "client certificate" });
  assert.equal(Deno.readTextFileSync(file), "new");
  assert.equal((await ended).code, 0);
  const names = [...Deno.readDirSync(tmp.path)].map((entry) => entry.name);
  assert.deepEqual(names.filter((name) => name.endsWith(".tmp")), []);
});

Deno.test("renameRetrying() replaces a file another process holds open (Windows: once it lets go)", async () => {
  await using tmp = await tempDir();
  const file = tmp.join("config");
  Deno.writeTextFileSync(file, "old");
  Deno.writeTextFileSync(tmp.join("config.new"), "new");
  const ended = await holdOpen(file, tmp.join("opened"), 300);
  await renameRetrying(tmp.join("config.new"), file);
  assert.equal(Deno.readTextFileSync(file), "new");
  assert.equal((await ended).code, 0);
});
