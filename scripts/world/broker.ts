/**
 * The broker the tests, the demo and the benchmarks run: installed from source (`deno task install` with a temp
 * root), or the executable KUBECTL_CREDENTIALS_BROKER_BIN names (a compiled binary or an installed shim), so that
 * they check what users run.
 */
import {
  executableProbe,
  fileUrlToPath,
  HOST_OS,
  isWindows,
  joinPath,
  resolvePath,
} from "../../lib/shared/platform.ts";
import { installCompletion, installPlugin, shimName } from "../install.ts";
import { PLUGIN_EXECUTABLE } from "../../lib/shared/command_list.ts";
import { runFolder } from "./temp_dir.ts";

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
 * The broker run from its TypeScript source with every permission (`deno run -A main.ts`): the program and its
 * first arguments, to which the broker's own arguments follow.
 */
export function sourceBrokerCommand(): string[] {
  const file = (name: string) =>
    fileUrlToPath(new URL(`../../${name}`, import.meta.url).href, HOST_OS);
  return [Deno.execPath(), "run", "-A", "--quiet", "--config", file("deno.json"), file("main.ts")];
}

/** Where scripts/test.ts installs the broker for a whole run: `deno task install`'s root, in the run folder. */
export function sharedInstallRoot(run: string): string {
  return joinPath(run, "install", HOST_OS);
}

/**
 * The executable to run as the broker without installing one: KUBECTL_CREDENTIALS_BROKER_BIN's, else the one
 * scripts/test.ts installed for the run; undefined when neither is there.
 */
export function preparedBroker(): string | undefined {
  const given = brokerBin();
  if (given) return given;
  const run = runFolder();
  if (!run) return undefined;
  const shim = joinPath(
    joinPath(sharedInstallRoot(run), "bin", HOST_OS),
    shimName(HOST_OS),
    HOST_OS,
  );
  return executableProbe(shim) === "executable" ? shim : undefined;
}

/**
 * Puts the broker under `root`/bin as kubectl looks it up (`kubectl-credentials_broker`, and the completion
 * executable beside it) and returns its path: `deno task install` with that root, or a link to (on Windows a
 * copy of, keeping its `.exe` or `.cmd`: an installed `.cmd` names everything it runs by absolute path) the
 * executable preparedBroker() names.
 */
export async function installBroker(root: string): Promise<string> {
  const given = preparedBroker();
  if (!given) return await installPlugin(root);
  const bin = joinPath(root, "bin", HOST_OS);
  await Deno.mkdir(bin, { recursive: true });
  let shim: string;
  if (isWindows(HOST_OS)) {
    const extension = /\.cmd$/i.test(given) ? ".cmd" : ".exe";
    shim = joinPath(bin, `${PLUGIN_EXECUTABLE}${extension}`, HOST_OS);
    await Deno.copyFile(given, shim);
  } else {
    shim = joinPath(bin, PLUGIN_EXECUTABLE, HOST_OS);
    await Deno.symlink(given, shim);
  }
  await installCompletion(shim);
  return shim;
}
