/**
 * The unit test files run through a few shard modules, each importing a share of them, instead of one `deno test`
 * worker per file. Deno 2.9.6 starts every test file in a worker of its own, and each such worker costs 0.3-0.5 s
 * of CPU here before its first test: the test runtime allocates an 80 MB array at start (`new Array(10_000_000)`
 * in Deno's cli/js/40_bench.js, page-faulted in on every worker), and each file loads its own copy of lib/ and of
 * the npm modules. Measured at the start of this change on an idle machine, the 50 unit files with every test
 * filtered out took 13 s wall and 26 s CPU as files, and the whole unit loop went from 38.9 s wall (75 s CPU) as
 * files to 29.3 s (51 s CPU) as 4 shards. A shard runs its files one after another in import order, each test
 * still alone under the sanitizers, and a failure still names its own file and line (Deno records where each
 * Deno.test was called).
 */
import { HOST_OS, joinPath } from "../lib/shared/platform.ts";

/** A test file and what it weighs: its size in bytes, the rough measure of how long it runs. */
export interface WeighedFile {
  /** The path from the project folder, with `/` (`tests/plugin/plugin_test.ts`). */
  path: string;
  weight: number;
}

/** Whether a file name is one `deno test` runs when given its folder: `{*_,*.,}test.{ts,tsx,mts,js,mjs,jsx}`. */
export function isTestFileName(name: string): boolean {
  return /(^|[._])test\.(ts|tsx|mts|js|mjs|jsx)$/.test(name);
}

/**
 * The test files under `folder` (a path from `root`, with `/`), sorted, as paths from `root` with `/`, skipping
 * the folders and files in `skip` (same form).
 */
export function findTestFiles(root: URL, folder: string, skip: readonly string[]): WeighedFile[] {
  const found: WeighedFile[] = [];
  const walk = (relative: string) => {
    if (skip.includes(relative)) return;
    const url = new URL(`${relative}/`, root);
    for (const entry of Deno.readDirSync(url)) {
      const path = `${relative}/${entry.name}`;
      if (skip.includes(path)) continue;
      if (entry.isDirectory) walk(path);
      else if (entry.isFile && isTestFileName(entry.name)) {
        found.push({ path, weight: Deno.statSync(new URL(path, root)).size });
      }
    }
  };
  walk(folder.replace(/\/+$/, ""));
  return found.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
}

/**
 * Splits `files` into at most `count` shards of about equal weight: heaviest first, each to the lightest shard so
 * far (ties to the one with fewer files, then the first). Every file lands in exactly one shard; no shard is empty; the same input gives the same
 * shards. Within a shard the files keep their sorted order, so a run reads in a familiar order.
 */
export function splitIntoShards(files: readonly WeighedFile[], count: number): string[][] {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`shard count ${count}`);
  const shards = Array.from(
    { length: Math.min(count, files.length) },
    () => ({ weight: 0, files: [] as WeighedFile[] }),
  );
  const heaviestFirst = [...files].sort((a, b) =>
    b.weight - a.weight || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  );
  for (const file of heaviestFirst) {
    // Ties go to the shard with fewer files, so that files weighing nothing still fill every shard.
    const lightest = shards.reduce((best, shard) =>
      shard.weight < best.weight ||
        (shard.weight === best.weight && shard.files.length < best.files.length)
        ? shard
        : best
    );
    lightest.weight += file.weight;
    lightest.files.push(file);
  }
  const order = new Map(files.map((file, index) => [file.path, index]));
  return shards.map((shard) =>
    shard.files.map((file) => file.path).sort((a, b) => order.get(a)! - order.get(b)!)
  );
}

/** The text of a shard module: one side-effect import per test file, by file URL under `root`. */
export function shardModule(root: URL, paths: readonly string[], label: string): string {
  const imports = paths.map((path) => `import ${JSON.stringify(new URL(path, root).href)};`);
  return [
    `// ${label}: written by scripts/test.ts (scripts/test_shards.ts) for one run.`,
    ...imports,
    "",
  ]
    .join("\n");
}

/**
 * Writes the shards of `files` into `folder` as `unit-K-of-N.ts` and returns their paths, for `deno test` to run
 * in place of the files.
 */
export function writeShards(
  root: URL,
  folder: string,
  files: readonly WeighedFile[],
  count: number,
): string[] {
  const shards = splitIntoShards(files, count);
  return shards.map((paths, index) => {
    const name = `unit-${index + 1}-of-${shards.length}.ts`;
    const path = joinPath(folder, name, HOST_OS);
    Deno.writeTextFileSync(
      path,
      shardModule(root, paths, `unit test shard ${index + 1} of ${shards.length}`),
    );
    return path;
  });
}
