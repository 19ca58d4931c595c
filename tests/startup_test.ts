/**
 * The plugin's start-up rules (docs/performance.md), checked where a test can see them: kubectl runs the plugin on
 * every call, so what that call loads and runs is its start-up time. The module graph is Deno's own (deno info, run
 * once for the file); the timers and exits, watched in real runs of main.ts with valid credentials (the hot path),
 * are in tests/startup_process_test.ts (the process tier).
 */
import assert from "node:assert/strict";
import { relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { DENO_DIR, ROOT, run } from "./helpers.ts";

/** The folders of the plugin's path: everything a kubectl call may load. */
const HOT_PATH = /^lib\/(shared|credentials|plugin)\/[a-z0-9_]+\.ts$/;

/** Modules of those folders that a call with valid credentials never needs: imported lazily, each for a reason. */
const LAZY: Record<string, string> = {
  "lib/plugin/renewal.ts":
    "the lock, the command and renew-ahead: named by a variable, so the bundle points it at renewal.js",
  "lib/plugin/lock.ts": "the renewal lock: only a call that renews",
  "lib/plugin/before_exec.ts": "starts the renewal command: only a call that renews",
  "lib/plugin/background_renewal.ts": "the detached renewal of --renew-ahead",
  "lib/plugin/issuance.ts": "--issuer: named by a variable, so the bundle points it at issuer.js",
};

type Dependency = { code?: { specifier: string }; isDynamic?: boolean };
type Graph = { roots: string[]; modules: { specifier: string; dependencies?: Dependency[] }[] };

let graphOnce: Promise<{ evaluated: string[]; named: string[] }> | undefined;

/**
 * main.ts's module graph as Deno sees it, split into what every call evaluates and what literal import()s name:
 * one `deno info` for the file, which both rules read.
 */
function pluginGraph(): Promise<{ evaluated: string[]; named: string[] }> {
  graphOnce ??= readPluginGraph();
  return graphOnce;
}

async function readPluginGraph(): Promise<{ evaluated: string[]; named: string[] }> {
  const info = await run(Deno.execPath(), ["info", "--json", "main.ts"], {
    env: { DENO_DIR },
    cwd: ROOT,
  });
  assert.equal(info.code, 0, info.stderr);
  const graph = JSON.parse(info.stdout) as Graph;
  const byName = new Map(graph.modules.map((module) => [module.specifier, module]));
  const name = (specifier: string) =>
    specifier.startsWith("file:")
      ? relative(ROOT, fileURLToPath(specifier)).replaceAll("\\", "/")
      : specifier;
  const walk = (roots: string[], followDynamic: boolean) => {
    const seen = new Set<string>();
    const visit = (specifier: string) => {
      if (seen.has(specifier)) return;
      seen.add(specifier);
      for (const dependency of byName.get(specifier)?.dependencies ?? []) {
        if (!dependency.code) continue; // type-only: erased
        if (followDynamic || !dependency.isDynamic) visit(dependency.code.specifier);
      }
    };
    roots.forEach(visit);
    return [...seen].map(name).sort();
  };
  // deno info names the root as given (under Wine a path, "z:\\...\\main.ts"), the modules by file URL.
  const given = graph.roots[0]!;
  const url = /^[a-z]+:\/\//i.test(given) ? given : pathToFileURL(given).href;
  const root = graph.modules.find((module) => module.specifier.toLowerCase() === url.toLowerCase());
  assert.ok(root, `deno info lists no module for its root ${given}`);
  const evaluated = walk([root.specifier], false);
  const all = walk([root.specifier], true);
  assert.ok(evaluated.includes("lib/plugin/plugin.ts"), evaluated.join(", "));
  return { evaluated, named: all.filter((module) => !evaluated.includes(module)) };
}

Deno.test("start-up rule: every call evaluates only main.ts and lib/shared, lib/credentials, lib/plugin, nothing from npm or node:", async () => {
  const { evaluated } = await pluginGraph();
  const outside = evaluated.filter((module) =>
    module !== "main.ts" && !HOT_PATH.test(module) || module in LAZY
  );
  assert.deepEqual(
    outside,
    [],
    "imported statically by the plugin: import() it where it is needed",
  );
});

Deno.test("start-up rule: a literal import() names only plugin-path modules; issuer and subcommands go by variable", async () => {
  // Deno reads every file a literal import() names when it starts, and the bundle puts them in main.js: the
  // issuer code, the subcommands and the npm packages must be named by a variable (ISSUANCE_MODULE,
  // COMMANDS_MODULE), which scripts/bundle.ts points at issuer.js and commands.js.
  const { named } = await pluginGraph();
  const outside = named.filter((module) =>
    module !== "deno.json" && !HOT_PATH.test(module) ||
    module === "lib/plugin/issuance.ts" || module === "lib/plugin/renewal.ts"
  );
  assert.deepEqual(outside, []);
});
