/**
 * writeFileAtomicSync(): a file written whole or not at all, on real disks, a full one and a read-only one
 * included (tmpfs, as root on Linux).
 */
import assert from "node:assert/strict";
import { FileWriteError, writeFileAtomicSync } from "../../lib/shared/write_file.ts";
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
    "writeFileAtomicSync() on a full disk fails naming the file and leaves the old one whole (needs root on Linux: tmpfs)",
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
    "writeFileAtomicSync() on a read-only disk fails naming the file and changes nothing (needs root on Linux: tmpfs)",
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
