/**
 * Every runnable script answers -h/--help with its usage and does nothing else, each run as a person runs it
 * (`deno run`): the process tier (PROCESS_TESTS in scripts/test.ts), a dozen deno processes. How scripts/args.ts
 * parses and what --help shows are tested in process in tests/scripts_args_test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "./helpers.ts";
import { run } from "./release/release_helpers.ts";

/** The scripts a person runs: those a deno.json task names, and those with a main of their own. */
function runnableScripts(): string[] {
  const tasks = Object.values(
    JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json"))).tasks as Record<string, string>,
  ).join("\n");
  const names: string[] = [];
  for (const entry of Deno.readDirSync(join(ROOT, "scripts"))) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    const text = Deno.readTextFileSync(join(ROOT, "scripts", entry.name));
    if (tasks.includes(`scripts/${entry.name}`) || text.includes("import.meta.main")) {
      names.push(entry.name);
    }
  }
  return names.sort();
}

const SCRIPTS = runnableScripts();

Deno.test("the runnable scripts are the tasks and the release tools", () => {
  assert.deepEqual(SCRIPTS, [
    "bench.ts",
    "bench_e2e.ts",
    "bench_issuer.ts",
    "bench_kubeconfig.ts",
    "build.ts",
    "demo.ts",
    "fuzz.ts",
    "install.ts",
    "krew.ts",
    "smoke.ts",
    "test.ts",
    "windows.ts",
  ]);
});

Deno.test("every script answers --help with its usage, doing nothing else", async (t) => {
  // Started together: each is a short deno run, mostly waiting on its module loading.
  const helps = await Promise.all(
    SCRIPTS.map((script) =>
      run(Deno.execPath(), ["run", "--allow-all", `scripts/${script}`, "--help"], { cwd: ROOT })
    ),
  );
  for (const [i, script] of SCRIPTS.entries()) {
    await t.step(script, () => {
      const help = helps[i]!;
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /^Usage: \S/);
      assert.match(help.stdout, /-h, --help +show this help\n$/);
      assert.equal(help.stderr, "");
    });
  }
});
