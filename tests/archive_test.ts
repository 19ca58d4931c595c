import assert from "node:assert/strict";
import { join } from "node:path";
import { type ArchiveEntry, crc32, sha256Hex, tarGz, zip } from "../scripts/archive.ts";
import { run, tempDir, unpack } from "./release_helpers.ts";

const encoder = new TextEncoder();
const mtime = new Date(Date.UTC(2025, 5, 1, 12, 30, 40));
const entries: ArchiveEntry[] = [
  { name: "kubectl-credentials_broker", data: encoder.encode("#!/bin/sh\necho hi\n"), mode: 0o755 },
  { name: "LICENSE", data: encoder.encode("x".repeat(1000)), mode: 0o644 },
  { name: "README.md", data: new Uint8Array(512), mode: 0o644 },
];

Deno.test("crc32() matches the IEEE check value", () => {
  assert.equal(crc32(encoder.encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array()), 0);
});

Deno.test("sha256Hex() gives lowercase hex like sha256sum", async () => {
  assert.equal(
    await sha256Hex(encoder.encode("abc")),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

for (const [kind, write] of [["tar.gz", tarGz], ["zip", zip]] as const) {
  Deno.test(`${kind}: the system's unpacker restores names, contents and the executable bit`, async () => {
    await using tmp = await tempDir();
    const archive = join(tmp.path, `a.${kind}`);
    await Deno.writeFile(archive, await write(entries, { mtime }));
    const out = join(tmp.path, "out");
    await unpack(archive, out);
    const names = [];
    for await (const entry of Deno.readDir(out)) names.push(entry.name);
    assert.deepEqual(names.sort(), entries.map((e) => e.name).sort());
    for (const entry of entries) {
      assert.deepEqual(await Deno.readFile(join(out, entry.name)), entry.data);
      assert.equal((await Deno.stat(join(out, entry.name))).mode! & 0o777, entry.mode);
    }
    const ran = await run(join(out, "kubectl-credentials_broker"), []);
    assert.equal(ran.stdout, "hi\n");
  });

  Deno.test(`${kind}: the same entries give the same bytes`, async () => {
    assert.deepEqual(await write(entries, { mtime }), await write(entries, { mtime }));
  });

  Deno.test(`${kind}: entry names that leave the archive root are refused`, async () => {
    for (const name of ["/etc/passwd", "../x", "a/../../x", ""]) {
      await assert.rejects(
        write([{ name, data: new Uint8Array(), mode: 0o644 }], { mtime }),
        /relative/,
      );
    }
  });
}

Deno.test("tar.gz records the given mtime, root ownership and modes", async () => {
  await using tmp = await tempDir();
  const archive = join(tmp.path, "a.tar.gz");
  await Deno.writeFile(archive, await tarGz(entries, { mtime }));
  const listing = await run("tar", ["--numeric-owner", "--full-time", "-tvzf", archive], {
    env: { TZ: "UTC" },
  });
  assert.equal(listing.code, 0, listing.stderr);
  const lines = listing.stdout.trim().split("\n");
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /^-rwxr-xr-x 0\/0 +18 2025-06-01 12:30:40 kubectl-credentials_broker$/);
  assert.match(lines[1]!, /^-rw-r--r-- 0\/0 +1000 2025-06-01 12:30:40 LICENSE$/);
});

Deno.test("zip records Unix modes and the DOS time, and passes unzip's integrity test", async () => {
  await using tmp = await tempDir();
  const archive = join(tmp.path, "a.zip");
  await Deno.writeFile(archive, await zip(entries, { mtime }));
  const tested = await run("unzip", ["-t", archive]);
  assert.equal(tested.code, 0, tested.stdout + tested.stderr);
  assert.match(tested.stdout, /No errors detected/);
  const info = await run("zipinfo", ["-T", archive]);
  assert.match(info.stdout, /-rwxr-xr-x .* 20250601\.123040 kubectl-credentials_broker/);
});
