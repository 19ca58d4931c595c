/**
 * `deno task install`: installs the broker from source as `kubectl-credentials_broker`, so that
 * `kubectl credentials-broker` finds it. Honours DENO_INSTALL_ROOT (the shim lands in $DENO_INSTALL_ROOT/bin).
 */
import { BROKER_PERMISSIONS, PLUGIN_EXECUTABLE } from "./permissions.ts";

const projectDir = new URL("../", import.meta.url).pathname;

/** Installs the plugin shim under `root` (default: Deno's install root) and returns its path. */
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
  return shim;
}

if (import.meta.main) {
  try {
    const shim = await installPlugin();
    console.log(`installed ${shim}`);
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
