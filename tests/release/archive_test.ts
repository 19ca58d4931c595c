import { fileURLToPath, pathToFileURL } from "node:url";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { type ArchiveEntry, sha256Hex, tarGz, zip } from "../../scripts/archive.ts";
import { onPath, run, tempDir, unpack } from "./release_helpers.ts";

const projectDir = fileURLToPath(new URL("../..", import.meta.url));
const encoder = new TextEncoder();
const mtime = new Date(Date.UTC(2025, 5, 1, 12, 30, 40));
const entries: ArchiveEntry[] = [
  { name: "kubectl-credentials_broker", data: encoder.encode("#!/bin/sh\necho hi\n"), mode: 0o755 },
  { name: "LICENSE", data: encoder.encode("x".repeat(1000)), mode: 0o644 },
  { name: "README.md", data: new Uint8Array(512), mode: 0o644 },
];
const writers = [["tar.gz", tarGz], ["zip", zip]] as const;

/** Runs a system tool and returns its stdout, failing the test on a non-zero exit. */
async function tool(command: string, args: string[], env: Record<string, string> = {}) {
  const result = await run(command, args, { env });
  assert.equal(result.code, 0, `${command} ${args.join(" ")}: ${result.stdout}${result.stderr}`);
  return result.stdout;
}

const HAS_SHA256SUM = onPath("sha256sum");
const WINDOWS = Deno.build.os === "windows";

/** sha256sum's digest of a file; node:crypto's where sha256sum is missing (Windows). */
async function sha256sum(path: string): Promise<string> {
  if (!HAS_SHA256SUM) return createHash("sha256").update(await Deno.readFile(path)).digest("hex");
  return (await tool("sha256sum", [path])).split(" ")[0]!;
}

Deno.test(`sha256Hex() gives the lowercase hex ${HAS_SHA256SUM ? "sha256sum" : "node:crypto"} prints`, async () => {
  await using tmp = await tempDir();
  const path = join(tmp.path, "a");
  await Deno.writeFile(path, entries[0]!.data);
  assert.equal(await sha256Hex(entries[0]!.data), await sha256sum(path));
});

for (const [kind, write] of writers) {
  Deno.test({
    name:
      `${kind}: the system's unpacker restores names, contents and an executable that runs (ignored on Windows: Unix modes and a #! script)`,
    ignore: WINDOWS,
    fn: async () => {
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
      assert.equal(await tool(join(out, "kubectl-credentials_broker"), []), "hi\n");
    },
  });

  Deno.test(`${kind}: the same files in any order give the same bytes`, async () => {
    await using tmp = await tempDir();
    const first = join(tmp.path, `1.${kind}`);
    const second = join(tmp.path, `2.${kind}`);
    await Deno.writeFile(first, await write(entries, { mtime }));
    await Deno.writeFile(second, await write([...entries].reverse(), { mtime }));
    assert.equal(await sha256sum(first), await sha256sum(second));
  });

  Deno.test(`${kind}: entry names that leave the archive root or repeat are refused`, async () => {
    for (const name of ["/etc/passwd", "../x", "a/../../x", ""]) {
      await assert.rejects(
        write([{ name, data: new Uint8Array(), mode: 0o644 }], { mtime }),
        /must be a relative path/,
      );
    }
    await assert.rejects(write([entries[1]!, entries[1]!], { mtime }), /given twice/);
  });
}

Deno.test({
  name:
    "tar.gz lists, with the real tar, sorted names, modes, root ownership and the given time (ignored on Windows: GNU tar and file)",
  ignore: WINDOWS,
  fn: async () => {
    await using tmp = await tempDir();
    const archive = join(tmp.path, "a.tar.gz");
    await Deno.writeFile(archive, await tarGz(entries, { mtime }));
    const listing = await tool("tar", ["--numeric-owner", "--full-time", "-tvzf", archive], {
      TZ: "UTC",
    });
    const lines = listing.trim().split("\n").map((line) => line.split(/\s+/));
    assert.deepEqual(lines, [
      ["-rw-r--r--", "0/0", "1000", "2025-06-01", "12:30:40", "LICENSE"],
      ["-rw-r--r--", "0/0", "512", "2025-06-01", "12:30:40", "README.md"],
      ["-rwxr-xr-x", "0/0", "18", "2025-06-01", "12:30:40", "kubectl-credentials_broker"],
    ]);
    // The gzip header's own time and OS byte would differ between builders: file(1) shows neither.
    assert.match(
      await tool("file", ["-b", archive]),
      /^gzip compressed data, from Unix/,
    );
    assert.doesNotMatch(await tool("file", ["-b", archive]), /last modified|was "/);
  },
});

Deno.test({
  name:
    "zip lists, with zipinfo, Unix modes (so unzip keeps the executable bit), the time and no errors (ignored on Windows: Info-ZIP)",
  ignore: WINDOWS,
  fn: async () => {
    await using tmp = await tempDir();
    const archive = join(tmp.path, "a.zip");
    await Deno.writeFile(archive, await zip(entries, { mtime }));
    assert.match(await tool("unzip", ["-t", archive]), /No errors detected/);
    const lines = (await tool("zipinfo", ["-T", archive])).split("\n").filter((l) =>
      l.startsWith("-")
    );
    assert.deepEqual(lines.map((line) => line.split(/\s+/)), [
      ["-rw-r--r--", "2.0", "unx", "1000", "b-", "defN", "20250601.123040", "LICENSE"],
      ["-rw-r--r--", "2.0", "unx", "512", "b-", "defN", "20250601.123040", "README.md"],
      [
        "-rwxr-xr-x",
        "2.0",
        "unx",
        "18",
        "b-",
        "defN",
        "20250601.123040",
        "kubectl-credentials_broker",
      ],
    ]);
  },
});

Deno.test("archives built in another time zone have the same sha256", async () => {
  await using tmp = await tempDir();
  const script = `
    import { tarGz, zip } from ${
    JSON.stringify(pathToFileURL(join(projectDir, "scripts", "archive.ts")).href)
  };
    const entries = ${JSON.stringify(entries.map((e) => ({ ...e, data: [...e.data] })))}
      .map((e) => ({ ...e, data: new Uint8Array(e.data) }));
    const mtime = new Date(${mtime.getTime()});
    await Deno.writeFile(Deno.args[0] + "/b.tar.gz", await tarGz(entries, { mtime }));
    await Deno.writeFile(Deno.args[0] + "/b.zip", await zip(entries, { mtime }));
  `;
  const made = await run(Deno.execPath(), ["eval", "--ext=ts", script, "--", tmp.path], {
    cwd: projectDir,
    env: { TZ: "Pacific/Kiritimati" }, // UTC+14: every local field of the time differs
  });
  assert.equal(made.code, 0, made.stderr);
  for (const [kind, write] of writers) {
    const here = join(tmp.path, `a.${kind}`);
    await Deno.writeFile(here, await write(entries, { mtime }));
    assert.equal(await sha256sum(join(tmp.path, `b.${kind}`)), await sha256sum(here), kind);
  }
});
