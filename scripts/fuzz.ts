/**
 * `deno task fuzz [RUNS]`: the property tests of tests/fuzz_test.ts with many more runs than `deno task test` gives
 * them (default 20000 per property). A failure prints fast-check's seed; replay it with FUZZ_SEED=<seed>.
 */
import { fileUrlToPath, HOST_OS, joinPath } from "../lib/shared/platform.ts";
import { scriptArgs } from "./args.ts";

const { positionals } = scriptArgs({
  usage: "deno task fuzz [RUNS]",
  about:
    "Runs the property tests of tests/fuzz_test.ts RUNS times each (default FUZZ_RUNS, else 20000). A " +
    "failure prints fast-check's seed; replay it with FUZZ_SEED=<seed>.",
  flags: [],
  positionals: { max: 1 },
});
const runs = positionals[0] ?? Deno.env.get("FUZZ_RUNS") ?? "20000";
if (!/^[1-9]\d*$/.test(runs)) {
  console.error(
    `error: the number of runs must be a positive integer, got ${JSON.stringify(runs)}`,
  );
  Deno.exit(2);
}
const root = fileUrlToPath(new URL("../", import.meta.url).href, HOST_OS);
console.error(`fuzzing with ${runs} runs per property`);
const started = performance.now();
const { code } = await new Deno.Command(Deno.execPath(), {
  args: ["test", "--allow-all", joinPath(root, "tests/fuzz_test.ts", HOST_OS)],
  cwd: root,
  env: { FUZZ_RUNS: runs },
  stdout: "inherit",
  stderr: "inherit",
}).output();
console.error(`fuzzing took ${((performance.now() - started) / 1000).toFixed(1)}s`);
Deno.exit(code);
