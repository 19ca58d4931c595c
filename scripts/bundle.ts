/**
 * The broker as users run it: main.ts and everything it imports, npm libraries included, bundled by
 * `deno bundle` into four plain JavaScript files. `deno task install` runs the bundle; `deno task build`
 * compiles it.
 *
 * Why not run main.ts from source: kubectl starts the plugin on every call, and start-up is the cost.
 * - main.js is what a call with valid credentials runs, in one module, where the source is 17 modules that Deno
 *   loads, looks up in its code cache and instantiates one by one. What only a renewal runs (the lock, the
 *   command, renew-ahead) is in renewal.js, and the issuer code (--issuer) in issuer.js: main.js names them in
 *   variables and loads them when a call renews or issues. They cross back to main.js as plain data (their
 *   copies of the error classes are not main.js's).
 * - commands.js holds the subcommands (lib/commands.ts: kubeconfig set, doctor, completion) and the npm
 *   libraries only they use (yaml, diff). main.js imports it with `import()` when a subcommand is asked for, so
 *   a kubectl call never reads it. Each file has its own copy of the modules both use (errors, flags, credential
 *   reading); no error crosses from one to the other, since commands.ts reports its own.
 * - The bundle needs no deno.json, import map, lock file or node_modules at run time, so the broker runs with
 *   `--no-config` and Deno reads no configuration.
 */
import { join } from "node:path";

/**
 * The V8 flags the broker runs with where its runtime is known. A kubectl call runs the broker for a few
 * milliseconds, and V8's defaults are made for programs that run long:
 * - `--no-lazy` compiles every function when its module loads instead of on its first call; Deno keeps all of
 *   that bytecode in its code cache, so a call after the first compiles nothing.
 * - `--no-sparkplug --no-maglev --no-opt` keep V8's interpreter for everything. Otherwise a loop of a few
 *   thousand rounds (hashing, decoding) starts a compile job in the background, and the process then waits for
 *   it at exit: about 2 ms a call, for machine code it never gets to run.
 * They belong to one V8: Deno exits 1 on a V8 flag it does not know, so they are baked only into compiled
 * binaries (their runtime is inside them) and into a shim whose Deno has not changed since install (install.ts).
 * `deno task bench` measures the broker with them against the runtime's floor: see the README.
 */
export const V8_FLAGS = "--v8-flags=--no-lazy,--no-sparkplug,--no-maglev,--no-opt";

/** Flags every Deno 2 understands: the bundle needs no deno.json, import map or lock file. */
export const PORTABLE_FLAGS: readonly string[] = ["--no-config"];

/** The flags a pinned runtime gets, besides its permissions: the compiled binaries, an unchanged shim's Deno. */
export const RUNTIME_FLAGS: readonly string[] = [...PORTABLE_FLAGS, V8_FLAGS];

/** The bundle's entry point, in the folder bundleBroker() writes. */
export const BUNDLE_ENTRY = "main.js";

/** The subcommands' file, next to the entry point. */
export const BUNDLE_COMMANDS = "commands.js";

/** How main.ts names lib/commands.ts (in a variable, which esbuild leaves alone); pointed at commands.js. */
const COMMANDS_SPECIFIER = `"./lib/commands.ts"`;

/** The issuer code (--issuer), next to the entry point: loaded only by a call that must issue a certificate. */
export const BUNDLE_ISSUER = "issuer.js";

/** How lib/plugin/broker_options.ts names lib/plugin/issuance.ts (ISSUANCE_MODULE); pointed at issuer.js. */
const ISSUANCE_SPECIFIER = `"./issuance.ts"`;

/**
 * The renewal code (the lock, the command, renew-ahead, the background renewal), next to the entry point: loaded
 * only by a call that renews. Kept out of main.js because every byte of main.js costs every call: with
 * `--no-lazy` V8 compiles all of it, and its code cache is read and its bytecode touched on every start.
 */
export const BUNDLE_RENEWAL = "renewal.js";

/** How lib/plugin/broker_options.ts names lib/plugin/renewal.ts (RENEWAL_MODULE); pointed at renewal.js. */
const RENEWAL_SPECIFIER = `"./renewal.ts"`;

/** A bundling failure; the message is one plain sentence. */
export class BundleError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BundleError";
  }
}

/**
 * Bundles `projectDir`/main.ts into `outDir` (replaced as a whole, so no file of an earlier bundle is left) and
 * returns the path of the entry point.
 */
export async function bundleBroker(projectDir: string, outDir: string): Promise<string> {
  const staging = `${outDir}.new-${Deno.pid}`;
  const retired = `${outDir}.old-${Deno.pid}`;
  await removeIfPresent(staging);
  try {
    const entry = join(staging, BUNDLE_ENTRY);
    await denoBundle(projectDir, "main.ts", entry);
    await pointAt(entry, "main.ts", COMMANDS_SPECIFIER, BUNDLE_COMMANDS);
    await pointAt(entry, "main.ts", RENEWAL_SPECIFIER, BUNDLE_RENEWAL);
    const renewal = join(staging, BUNDLE_RENEWAL);
    await denoBundle(projectDir, "lib/plugin/renewal.ts", renewal);
    await pointAt(renewal, "lib/plugin/renewal.ts", ISSUANCE_SPECIFIER, BUNDLE_ISSUER);
    await denoBundle(projectDir, "lib/commands.ts", join(staging, BUNDLE_COMMANDS));
    await denoBundle(projectDir, "lib/plugin/issuance.ts", join(staging, BUNDLE_ISSUER));
    await checkBundle(staging);
  } catch (error) {
    await removeIfPresent(staging);
    throw error;
  }
  // Swap the folders; a broker started a moment before may still be loading commands.js by name.
  await removeIfPresent(retired);
  try {
    await Deno.rename(outDir, retired);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.rename(staging, outDir);
  await removeIfPresent(retired);
  return join(outDir, BUNDLE_ENTRY);
}

/**
 * Points the one import() by variable in `file`, the bundle of `source`, that names `specifier` (a source path,
 * which esbuild leaves alone) at the bundled file `target` next to it.
 */
async function pointAt(
  file: string,
  source: string,
  specifier: string,
  target: string,
): Promise<void> {
  const text = await Deno.readTextFile(file);
  if (text.split(specifier).length !== 2) {
    throw new BundleError(`the bundled ${source} does not hold ${specifier} exactly once`);
  }
  await Deno.writeTextFile(file, text.replace(specifier, `"./${target}"`));
}

async function denoBundle(projectDir: string, source: string, output: string): Promise<void> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--config",
      join(projectDir, "deno.json"),
      // "browser" makes esbuild take the ES module builds of yaml and diff; "deno" takes their CommonJS builds,
      // which need a require() shim importing node:module, and that costs about 20 ms at start-up.
      "--platform",
      "browser",
      "--format",
      "esm",
      "--output",
      output,
      source,
    ],
    cwd: projectDir,
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    const lines = new TextDecoder().decode(stderr).trim().split("\n");
    const detail = lines.find((line) => line.startsWith("error")) ?? lines[0];
    throw new BundleError(
      `deno bundle of ${join(projectDir, source)} failed (exit ${code}): ${detail}`,
    );
  }
}

/**
 * Refuses a bundle that would slow every call down: one that imports node:module (an npm package bundled from
 * its CommonJS build), or whose main.js holds any npm package or imports a `node:` module (about 20 ms at
 * start-up each; the subcommands in commands.js may use them).
 */
async function checkBundle(dir: string): Promise<void> {
  for await (const file of Deno.readDir(dir)) {
    const text = await Deno.readTextFile(join(dir, file.name));
    if (/from\s+"node:module"/.test(text)) {
      throw new BundleError(
        `the bundle's ${file.name} imports node:module: an npm package was bundled from its CommonJS build`,
      );
    }
  }
  for (const name of [BUNDLE_ENTRY, BUNDLE_RENEWAL, BUNDLE_ISSUER]) {
    await checkPluginFile(dir, name);
  }
}

/** The plugin's files (main.js, renewal.js and issuer.js when it renews) load no npm package and no node: module. */
async function checkPluginFile(dir: string, file: string): Promise<void> {
  const main = await Deno.readTextFile(join(dir, file));
  // esbuild heads each bundled module with a `// path` comment; npm packages come from Deno's npm cache
  // (.../registry.npmjs.org/<name>/<version>/...) or a node_modules folder.
  const origin = main.match(
    /^\/\/ .*(?:registry\.npmjs\.org|node_modules)\/((?:@[^/\s]+\/)?[^/\s]+)/m,
  );
  if (origin) {
    throw new BundleError(
      `the bundle loads the npm package ${origin[1]} at start-up (in ${file}); ` +
        "npm packages must only be imported lazily, by the subcommands that use them",
    );
  }
  const builtin = staticNodeImport(main);
  if (builtin) {
    throw new BundleError(
      `the bundle loads ${builtin} at start-up (in ${file}); ` +
        "node: modules must only be imported lazily, by the subcommands that use them",
    );
  }
}

/** The first `node:` module a bundled file imports or re-exports statically (esbuild keeps them external). */
export function staticNodeImport(text: string): string | undefined {
  const match = text.match(/^\s*(?:import|export)\b[^;()]*?["'](node:[^"']+)["']/m);
  return match?.[1];
}

async function removeIfPresent(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}
