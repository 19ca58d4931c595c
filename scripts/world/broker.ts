/**
 * The broker the tests, the demo and the benchmarks run: installed from source (`deno task install` with a temp
 * root), or the executable KUBECTL_CREDENTIALS_BROKER_BIN names (a compiled binary or an installed shim), so that
 * they check what users run.
 */
import {
  executableProbe,
  HOST_OS,
  isWindows,
  joinPath,
  resolvePath,
} from "../../lib/shared/platform.ts";
import { installCompletion, installPlugin } from "../install.ts";
import { PLUGIN_EXECUTABLE } from "../permissions.ts";

/** Names an executable to run as the broker instead of installing it; a relative path is taken from the cwd. */
export const BROKER_BIN_VARIABLE = "KUBECTL_CREDENTIALS_BROKER_BIN";

/** The executable KUBECTL_CREDENTIALS_BROKER_BIN names, or undefined when it is unset or empty. */
export function brokerBin(): string | undefined {
  const value = Deno.env.get(BROKER_BIN_VARIABLE);
  if (!value) return undefined;
  const path = resolvePath(value, Deno.cwd(), HOST_OS);
  if (executableProbe(path) !== "executable") {
    throw new Error(`${BROKER_BIN_VARIABLE} ${path} is not an executable file`);
  }
  return path;
}

/**
 * Puts the broker under `root`/bin as kubectl looks it up (`kubectl-credentials_broker`, and the completion
 * executable beside it) and returns its path: `deno task install` with that root, or, when
 * KUBECTL_CREDENTIALS_BROKER_BIN is set, a link to (on Windows a copy of) that executable.
 */
export async function installBroker(root: string): Promise<string> {
  const given = brokerBin();
  if (!given) return await installPlugin(root);
  const bin = joinPath(root, "bin", HOST_OS);
  await Deno.mkdir(bin, { recursive: true });
  if (isWindows(HOST_OS)) {
    const exe = joinPath(bin, `${PLUGIN_EXECUTABLE}.exe`, HOST_OS);
    await Deno.copyFile(given, exe);
    return exe;
  }
  const shim = joinPath(bin, PLUGIN_EXECUTABLE, HOST_OS);
  await Deno.symlink(given, shim);
  await installCompletion(shim);
  return shim;
}
