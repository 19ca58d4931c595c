/**
 * `deno task install`: bundles the source and installs it as `kubectl-credentials_broker`, so that
 * `kubectl credentials-broker` finds it, and next to it `kubectl_complete-credentials_broker`, which kubectl
 * 1.26+ runs to complete `kubectl credentials-broker <TAB>`. Honours DENO_INSTALL_ROOT (both land in
 * $DENO_INSTALL_ROOT/bin).
 */
import { bundleBroker, RUNTIME_FLAGS } from "./bundle.ts";
import { BROKER_PERMISSIONS, COMPLETION_EXECUTABLE, PLUGIN_EXECUTABLE } from "./permissions.ts";

const projectDir = new URL("../", import.meta.url).pathname;

/**
 * Installs the plugin under `root` (default: Deno's install root) and returns the path of its shim: the bundle
 * (see bundle.ts) in bin/.kubectl-credentials_broker/, next to the folder's shim and completion executable. The
 * install is a snapshot of the source: run it again after changing the code.
 */
export async function installPlugin(root?: string): Promise<string> {
  const installRoot = root ?? Deno.env.get("DENO_INSTALL_ROOT") ??
    `${Deno.env.get("HOME") ?? "."}/.deno`;
  const bin = `${installRoot}/bin`;
  await Deno.mkdir(bin, { recursive: true });
  const shim = `${bin}/${PLUGIN_EXECUTABLE}`;
  const entry = await bundleBroker(projectDir, bundleFolder(shim));
  // deno by absolute path: GUI tools (IDEs, Lens) often start kubectl with a bare PATH.
  await writeExecutable(
    shim,
    `#!/bin/sh\n# kubectl-credentials-broker, installed by deno task install\n` +
      `exec ${
        [
          Deno.execPath(),
          "run",
          ...RUNTIME_FLAGS,
          ...BROKER_PERMISSIONS,
          "--quiet",
          entry,
        ].map(shellQuote).join(" ")
      } "$@"\n`,
  );
  await installCompletion(shim);
  return shim;
}

/** Where installPlugin() puts the bundle a shim runs: in a dot folder named after it, next to it. */
export function bundleFolder(shim: string): string {
  const slash = shim.lastIndexOf("/");
  return `${shim.slice(0, slash + 1)}.${shim.slice(slash + 1)}`;
}

/** Where installCompletion() puts the completion executable for a plugin shim: in the same folder. */
export function completionPath(shim: string): string {
  return `${shim.slice(0, shim.lastIndexOf("/") + 1)}${COMPLETION_EXECUTABLE}`;
}

/**
 * Writes `kubectl_complete-credentials_broker` next to the plugin shim: kubectl runs it with the words typed
 * after `kubectl credentials-broker` and the word being completed, and it hands them to the plugin's
 * `__complete` (cobra's protocol). Returns its path.
 */
export async function installCompletion(shim: string): Promise<string> {
  const path = completionPath(shim);
  await writeExecutable(
    path,
    `#!/bin/sh\n# kubectl 1.26+ runs this to complete \`kubectl credentials-broker <TAB>\`.\n` +
      `exec ${shellQuote(shim)} __complete "$@"\n`,
  );
  return path;
}

/** Replaces `path` with an executable file in one rename, so a kubectl call never runs half a script. */
async function writeExecutable(path: string, text: string): Promise<void> {
  const staging = `${path}.new-${Deno.pid}`;
  await Deno.writeTextFile(staging, text, { mode: 0o755 });
  // mode only applies when the file is created: make a leftover staging file executable too.
  await Deno.chmod(staging, 0o755);
  await Deno.rename(staging, path);
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

if (import.meta.main) {
  try {
    const shim = await installPlugin();
    console.log(`installed ${shim}`);
    console.log(
      `installed ${completionPath(shim)} (completion for kubectl credentials-broker <TAB>)`,
    );
    const dir = shim.slice(0, shim.lastIndexOf("/"));
    const path = (Deno.env.get("PATH") ?? "").split(":");
    if (!path.includes(dir)) {
      console.log(
        `add ${dir} to PATH so that kubectl finds the plugin:\n  export PATH="${dir}:$PATH"`,
      );
    }
    console.log(`try: kubectl credentials-broker --help`);
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
