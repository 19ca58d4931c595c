/**
 * The plugin's start-up rules (docs/performance.md), checked where a test can see them: kubectl runs the plugin on
 * every call, so what that call loads and runs is its start-up time. The module graph is Deno's own (deno info);
 * the timers and exits are watched in a real run with valid credentials, the hot path.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { BROKER_PERMISSIONS } from "../scripts/permissions.ts";
import {
  DENO_DIR,
  generateKey,
  issueCert,
  makeCa,
  makeJwt,
  ROOT,
  run,
  tempDir,
} from "./helpers.ts";

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

/** main.ts's module graph as Deno sees it, split into what every call evaluates and what literal import()s name. */
async function pluginGraph(): Promise<{ evaluated: string[]; named: string[] }> {
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

/**
 * Loaded before main.ts: records every setTimeout, setInterval, Deno.exit, regular expression run (test, match,
 * replace, search and split all go through exec once it is replaced) and Date's toISOString (its first call costs
 * about 0.7 ms), and prints them as one stderr line when the process ends (stderr, since the plugin may have given
 * up the right to write files by then).
 */
const SPY = `
const calls = [];
for (const name of ["setTimeout", "setInterval"]) {
  const original = globalThis[name];
  globalThis[name] = (...args) => (calls.push(name), original(...args));
}
const exit = Deno.exit;
Deno.exit = (code) => (calls.push("Deno.exit"), exit(code));
const exec = RegExp.prototype.exec;
RegExp.prototype.exec = function (...args) {
  calls.push("RegExp " + String(this));
  return exec.apply(this, args);
};
const toISOString = Date.prototype.toISOString;
Date.prototype.toISOString = function () {
  calls.push("toISOString");
  return toISOString.call(this);
};
globalThis.addEventListener("unload", () => console.error("startup-spy: " + JSON.stringify(calls)));
`;

Deno.test("start-up rule: a call with valid credentials sets no timer, runs no regular expression and ends without Deno.exit", async (t) => {
  await using tmp = await tempDir();
  const spy = join(tmp.path, "spy.js");
  await Deno.writeTextFile(spy, SPY);
  const ca = await makeCa(tmp.path);
  const key = await generateKey(tmp.path, "client.key", "ec");
  const now = Date.now();
  const cert = await issueCert({
    dir: tmp.path,
    ca,
    keyPath: key,
    out: "client.crt",
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
  });
  const token = join(tmp.path, "token");
  await Deno.writeTextFile(token, makeJwt({ iat: now / 1000 - 60, exp: now / 1000 + 3600 }), {
    mode: 0o600,
  });
  // A renewal command that would fail: a call that ran it would say so.
  const renew = "--before-exec-command=renewal-that-must-not-run";
  const cases: [string, string[]][] = [
    ["certificate and key, when-invalid", [
      `--client-certificate-path=${cert}`,
      `--client-key-path=${key}`,
      "--before-exec-policy=when-invalid",
      renew,
    ]],
    ["token, when-invalid, --renew-ahead outside its window", [
      `--token-path=${token}`,
      "--before-exec-policy=when-invalid",
      "--renew-ahead=10m",
      renew,
    ]],
    ["certificate and key, no command", [
      `--client-certificate-path=${cert}`,
      `--client-key-path=${key}`,
    ]],
  ];
  const watched = (script: string, args: string[]) =>
    run(Deno.execPath(), [
      "run",
      ...BROKER_PERMISSIONS,
      "--preload",
      pathToFileURL(spy).href,
      script,
      ...args,
    ], {
      cwd: tmp.path,
      env: {
        HOME: tmp.path,
        PATH: Deno.env.get("PATH") ?? "",
        DENO_DIR,
        KUBERNETES_EXEC_INFO: JSON.stringify({
          kind: "ExecCredential",
          apiVersion: "client.authentication.k8s.io/v1",
          spec: { interactive: false },
        }),
      },
    });
  await t.step(
    "the spy sees them: a timer, toISOString, a regular expression, a subcommand that exits",
    async () => {
      const script = join(tmp.path, "timer.js");
      await Deno.writeTextFile(script, "setTimeout(() => {}, 1);\n");
      assert.equal((await watched(script, [])).stderr, 'startup-spy: ["setTimeout"]\n');
      const regexp = join(tmp.path, "regexp.js");
      await Deno.writeTextFile(regexp, "if (!/Z/.test(new Date(0).toISOString())) throw 1;\n");
      assert.equal(
        (await watched(regexp, [])).stderr,
        'startup-spy: ["toISOString","RegExp /Z/"]\n',
      );
      const completion = await watched(join(ROOT, "main.ts"), ["completion", "bash"]);
      assert.equal(completion.code, 0, completion.stderr);
      assert.match(completion.stderr, /^startup-spy: \[.*"Deno\.exit"\]\n$/);
    },
  );
  for (const [name, args] of cases) {
    await t.step(name, async () => {
      const result = await watched(join(ROOT, "main.ts"), [
        ...args,
        `--cache-dir=${join(tmp.path, "cache")}`,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(JSON.parse(result.stdout).kind, "ExecCredential");
      // Only the spy's line: no warning, nothing from a renewal.
      assert.equal(result.stderr.replaceAll("\r\n", "\n"), "startup-spy: []\n");
    });
  }
});
