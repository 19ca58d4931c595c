/**
 * scripts/test_shards.ts: how the unit files are split into the shard modules `deno task test:unit` runs, and
 * that a shard still runs every test of its files and names a failure's own file.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  findTestFiles,
  isTestFileName,
  shardModule,
  splitIntoShards,
  type WeighedFile,
  writeShards,
} from "../scripts/test_shards.ts";
import { dirname, fileUrlToPath, HOST_OS, joinPath } from "../lib/shared/platform.ts";
import { DENO_DIR, fuzzParams, run, tempDir } from "./helpers.ts";
import { pathToFileURL } from "node:url";

Deno.test("isTestFileName() takes the names deno test finds in a folder, and no others", () => {
  for (
    const name of [
      "plugin_test.ts",
      "a.test.mts",
      "test.js",
      "x_test.tsx",
      "y.test.mjs",
      "z_test.jsx",
    ]
  ) {
    assert.ok(isTestFileName(name), name);
  }
  for (
    const name of ["helpers.ts", "latest.ts", "test_shards.ts", "plugin_test.ts.orig", "contest.ts"]
  ) {
    assert.ok(!isTestFileName(name), name);
  }
});

Deno.test("splitIntoShards() puts every file in exactly one of at most N non-empty shards, heaviest spread out", () => {
  const files = (weights: number[]): WeighedFile[] =>
    weights.map((weight, index) => ({
      path: `tests/f${String(index).padStart(3, "0")}_test.ts`,
      weight,
    }));
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 100_000 }), { maxLength: 80 }),
      fc.integer({ min: 1, max: 12 }),
      (weights, count) => {
        const input = files(weights);
        const shards = splitIntoShards(input, count);
        assert.equal(shards.length, Math.min(count, input.length));
        assert.ok(shards.every((shard) => shard.length > 0));
        assert.deepEqual(shards.flat().sort(), input.map((file) => file.path).sort());
        // Each shard keeps the files' own order.
        for (const shard of shards) assert.deepEqual(shard, [...shard].sort());
        // Greedy to the lightest shard: no shard outweighs another by more than its heaviest file.
        const weightOf = new Map(input.map((file) => [file.path, file.weight]));
        const totals = shards.map((shard) =>
          shard.reduce((sum, path) => sum + weightOf.get(path)!, 0)
        );
        const heaviest = Math.max(0, ...input.map((file) => file.weight));
        if (totals.length > 0) {
          assert.ok(Math.max(...totals) - Math.min(...totals) <= heaviest, `${totals}`);
        }
        assert.deepEqual(
          splitIntoShards(input, count),
          shards,
          "the same input gives the same shards",
        );
      },
    ),
    fuzzParams(300),
  );
  assert.deepEqual(splitIntoShards(files([5, 1, 1, 1, 1, 1]), 2), [
    ["tests/f000_test.ts"],
    [
      "tests/f001_test.ts",
      "tests/f002_test.ts",
      "tests/f003_test.ts",
      "tests/f004_test.ts",
      "tests/f005_test.ts",
    ],
  ]);
  // Files that weigh nothing (empty ones) still fill every shard.
  assert.deepEqual(splitIntoShards(files([0, 0]), 2), [["tests/f000_test.ts"], [
    "tests/f001_test.ts",
  ]]);
  assert.throws(() => splitIntoShards(files([1]), 0), RangeError);
});

Deno.test("findTestFiles() walks the folder, skips what it is told and weighs each file by its size", async () => {
  await using dir = await tempDir();
  const root = new URL(`${pathToFileURL(dir.path).href}/`);
  for (
    const [path, text] of [
      ["tests/a_test.ts", "x"],
      ["tests/helpers.ts", "not a test"],
      ["tests/sub dir/b.test.ts", "xyz"],
      ["tests/e2e/c_test.ts", "skipped folder"],
      ["tests/slow_test.ts", "skipped file"],
    ]
  ) {
    const file = joinPath(dir.path, path!, HOST_OS);
    await Deno.mkdir(dirname(file, HOST_OS), { recursive: true });
    await Deno.writeTextFile(file, text!);
  }
  assert.deepEqual(findTestFiles(root, "tests/", ["tests/e2e", "tests/slow_test.ts"]), [
    { path: "tests/a_test.ts", weight: 1 },
    { path: "tests/sub dir/b.test.ts", weight: 3 },
  ]);
});

Deno.test("a shard module runs every test of its files, and a failure names its own file and line", async () => {
  await using dir = await tempDir();
  const root = new URL(`${pathToFileURL(dir.path).href}/`);
  await Deno.mkdir(joinPath(dir.path, "tests", HOST_OS));
  await Deno.writeTextFile(
    joinPath(dir.path, "tests/passes_test.ts", HOST_OS),
    `Deno.test("first file passes", () => {});\n`,
  );
  await Deno.writeTextFile(
    joinPath(dir.path, "tests/fails_test.ts", HOST_OS),
    `Deno.test("second file passes", () => {});\n\nDeno.test("second file fails", () => {\n  throw new Error("on purpose");\n});\n`,
  );
  const files = findTestFiles(root, "tests", []);
  const shardFolder = joinPath(dir.path, "shards", HOST_OS);
  await Deno.mkdir(shardFolder);
  const shards = writeShards(root, shardFolder, files, 4);
  assert.equal(shards.length, 2, "never more shards than files");
  assert.match(
    shardModule(root, ["tests/a b_test.ts"], "label"),
    /^import "file:\/\/\/.*\/tests\/a%20b_test\.ts";$/m,
  );
  const result = await run(Deno.execPath(), ["test", "--no-check", "--no-config", ...shards], {
    cwd: dir.path,
    env: { NO_COLOR: "1", DENO_DIR },
  });
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stdout, /first file passes \.\.\. ok/);
  assert.match(result.stdout, /second file passes \.\.\. ok/);
  assert.match(result.stdout, /second file fails \.\.\. FAILED/);
  assert.match(result.stdout, /second file fails => \.\/tests\/fails_test\.ts:3:6/);
  assert.match(result.stdout, /2 passed \| 1 failed/);
  assert.ok(fileUrlToPath(new URL("tests/fails_test.ts", root).href, HOST_OS).startsWith(dir.path));
});
