/**
 * `deno task test` (and `test:unit`, `test:e2e`): the unit tests (tests/ without tests/e2e) in parallel, then the
 * end-to-end tests, set up so that they take less time than plain `deno test` (which still works):
 * - a folder for the run (KUBECTL_CREDENTIALS_BROKER_TEST_RUN, removed at the end) where test files share what is
 *   costly to make: one install of the broker from this source (`deno task install` with a root there), which
 *   every test file and e2e world runs (each test file would otherwise install its own: half a second of CPU
 *   apiece), unless KUBECTL_CREDENTIALS_BROKER_BIN names the executable to test; and the RSA keys of
 *   scripts/world/ca.ts (up to a second of CPU each).
 * - DENO_JOBS, unless set, at twice the CPUs: the unit test files wait on renewals, timeouts and the processes
 *   they start about as long as they compute, so two per CPU keep the CPUs busy.
 *
 * Usage: deno run -A scripts/test.ts [unit|e2e] [deno test arguments: --filter NAME, test files or folders]
 */
import { forwardedSignals, HOST_OS } from "../lib/shared/platform.ts";
import { installPlugin } from "./install.ts";
import { BROKER_BIN_VARIABLE, sharedInstallRoot } from "./world/broker.ts";
import { denoDir } from "./world/process.ts";
import { RUN_FOLDER_VARIABLE } from "./world/temp_dir.ts";
import { scriptArgs } from "./args.ts";

const root = new URL("../", import.meta.url);
const [first, ...rest] = Deno.args;
const part = first === "unit" || first === "e2e" ? first : "all";
const { positionals: extra } = scriptArgs({
  usage: "deno task test[:unit|:e2e] [deno test arguments: --filter NAME, test files or folders]",
  about:
    "The unit tests in parallel, then the end-to-end tests (nginx, kubectl), sharing one install of the " +
    "broker (KUBECTL_CREDENTIALS_BROKER_BIN names another). Every other argument goes to deno test.",
  flags: [],
  passThrough: true,
}, part === "all" ? Deno.args : rest);

/**
 * Whether a `deno test` argument names test files (a folder such as `tests/plugin`, or a `.ts` file) rather than
 * a flag or a flag's value.
 */
function isTestPath(arg: string): boolean {
  if (arg.startsWith("-")) return false;
  try {
    const info = Deno.statSync(new URL(arg, root));
    return info.isDirectory || (info.isFile && arg.endsWith(".ts"));
  } catch {
    return false;
  }
}

/**
 * The `deno test` runs of the part: arguments and extra environment. Test paths among `extra` replace the part's
 * own (`deno task test:unit tests/plugin/` runs that folder only), in one run.
 */
function runs(jobs: string): { args: string[]; env: Record<string, string> }[] {
  const parallel = { args: ["--parallel"], env: { DENO_JOBS: jobs } };
  if (extra.some(isTestPath)) return [part === "unit" ? parallel : { args: [], env: {} }];
  const unit = { args: [...parallel.args, "--ignore=tests/e2e", "tests/"], env: parallel.env };
  const e2e = { args: ["tests/e2e/"], env: {} };
  return part === "unit" ? [unit] : part === "e2e" ? [e2e] : [unit, e2e];
}

const jobs = Deno.env.get("DENO_JOBS") || String(2 * navigator.hardwareConcurrency);
const folder = await Deno.makeTempDir({ prefix: "ccb-test-run-" });
let child: Deno.ChildProcess | undefined;
let interrupted = false;
// Ctrl-C reaches `deno test` too (same process group); wait for it to stop, then clean up.
for (const signal of forwardedSignals(HOST_OS)) {
  Deno.addSignalListener(signal, () => {
    interrupted = true;
    try {
      child?.kill(signal);
    } catch {
      // already gone
    }
  });
}

let status = 0;
try {
  if (!Deno.env.get(BROKER_BIN_VARIABLE)) await installPlugin(sharedInstallRoot(folder));
  for (const run of runs(jobs)) {
    if (interrupted) break;
    child = new Deno.Command(Deno.execPath(), {
      args: ["test", "--allow-all", ...run.args, ...extra],
      cwd: root,
      // DENO_DIR is named, so that no test file needs to ask `deno info` where the cache is.
      env: { ...run.env, [RUN_FOLDER_VARIABLE]: folder, DENO_DIR: denoDir() },
    }).spawn();
    const { code } = await child.status;
    if (code !== 0) {
      status = code;
      break;
    }
  }
} finally {
  await Deno.remove(folder, { recursive: true }).catch(() => {});
}
if (interrupted && status === 0) status = 130;
Deno.exit(status);
