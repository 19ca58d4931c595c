/**
 * `deno task install`: installs the broker from source as `kubectl-credentials_broker`, so that
 * `kubectl credentials-broker` finds it, and next to it `kubectl_complete-credentials_broker`, which kubectl
 * 1.26+ runs to complete `kubectl credentials-broker <TAB>`. Honours DENO_INSTALL_ROOT (both land in
 * $DENO_INSTALL_ROOT/bin).
 */
import { BROKER_PERMISSIONS, COMPLETION_EXECUTABLE, PLUGIN_EXECUTABLE } from "./permissions.ts";

const projectDir = new URL("../", import.meta.url).pathname;

/** Installs the plugin shim and its completion executable under `root` (default: Deno's install root); returns the shim. */
export async function installPlugin(root?: string): Promise<string> {
  const installRoot = root ?? Deno.env.get("DENO_INSTALL_ROOT") ??
    `${Deno.env.get("HOME") ?? "."}/.deno`;
  const args = [
    "install",
    "--global",
    "--force",
    "--quiet",
    "--root",
    installRoot,
    "--name",
    PLUGIN_EXECUTABLE,
    "--config",
    `${projectDir}deno.json`,
    ...BROKER_PERMISSIONS,
    `${projectDir}main.ts`,
  ];
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    stdout: "inherit",
    stderr: "piped",
  })
    .output();
  if (code !== 0) {
    throw new Error(
      `deno install failed (exit ${code}): ${new TextDecoder().decode(stderr).trim()}`,
    );
  }
  const shim = `${installRoot}/bin/${PLUGIN_EXECUTABLE}`;
  // The generated shim runs `deno` from PATH; GUI tools (IDEs, Lens) often start kubectl with a bare PATH, so
  // point it at this deno by absolute path.
  const text = await Deno.readTextFile(shim);
  await Deno.writeTextFile(shim, text.replace(/^exec deno /m, `exec '${Deno.execPath()}' `));
  await installCompletion(shim);
  return shim;
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
  const quoted = `'${shim.replaceAll("'", `'\\''`)}'`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\n# kubectl 1.26+ runs this to complete \`kubectl credentials-broker <TAB>\`.\n` +
      `exec ${quoted} __complete "$@"\n`,
    { mode: 0o755 },
  );
  // mode only applies when the file is created: make an older copy executable too.
  await Deno.chmod(path, 0o755);
  return path;
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
