/**
 * The plugin in-process: runPlugin with a fake Io, reported as main.ts reports it. Same result shape as
 * runBroker, for the tests of policy and renewal logic; the spawned broker is kept for what only a process shows.
 * Also what plugin_test.ts and plugin_process_test.ts both judge by: KUBERNETES_EXEC_INFO and the one error line.
 */
import assert from "node:assert/strict";
import { runPlugin } from "../../lib/plugin/plugin.ts";
import { reportError } from "../../lib/shared/report.ts";
import { fakeIo, V1_EXEC_INFO } from "../helpers.ts";

/**
 * Runs the plugin as main.ts would with argv `args`, HOME `home` (null: unset), working directory `cwd` (default
 * `home`), KUBERNETES_EXEC_INFO `execInfo` (default v1, non-interactive; null: unset) and extra `env`.
 */
export async function callPlugin(
  args: string[],
  options: {
    home: string | null;
    cwd?: string;
    execInfo?: string | null;
    env?: Record<string, string>;
  },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const info = options.execInfo === undefined ? V1_EXEC_INFO : options.execInfo;
  const env: Record<string, string> = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };
  if (options.home !== null) env.HOME = options.home;
  Object.assign(env, options.env);
  if (info !== null) env.KUBERNETES_EXEC_INFO = info;
  const io = fakeIo({ env, cwd: options.cwd ?? options.home ?? "/" });
  let code: number;
  try {
    code = await runPlugin(args, io);
  } catch (error) {
    code = await reportError(error, io);
  }
  return { code, stdout: io.out, stderr: io.err };
}

/** KUBERNETES_EXEC_INFO as kubectl sets it for an exec block of `apiVersion`. */
export const execInfo = (apiVersion: string, interactive = false): string =>
  JSON.stringify({ kind: "ExecCredential", apiVersion, spec: { interactive } });

/** Asserts that stderr holds exactly one `error: ` line, and that it matches `message`. */
export function assertOneErrorLine(stderr: string, message: RegExp): void {
  const lines = stderr.trimEnd().split("\n").filter((line) => line.startsWith("error: "));
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, message);
}
