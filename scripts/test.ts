/**
 * `deno task test` and its parts, set up so that they take less time than plain `deno test` (which still works):
 * - `unit` (`deno task test:unit`): the fast loop, tests/ without the three tiers below, in parallel and without
 *   type-checking (`deno task check` type-checks everything; the other parts type-check what they run).
 * - `process` (`test:process`): the PROCESS_TESTS files, scenarios of many processes by nature: dozens of brokers
 *   at once around one renewal, brokers killed with SIGKILL, detached renewals, tmpfs mounts, nginx in front.
 * - `release` (`test:release`): tests/release/, what packaging needs: bundles, builds, archives, the shim, the
 *   workflows; each test bundles or builds anew.
 * - `portable` (`test:portable`): unit, process and release in one parallel run, type-checked: what runs on
 *   every OS (CI's macOS and Windows runners, the Wine run).
 * - `e2e` (`test:e2e`): tests/e2e/ (nginx, kubectl), one file at a time.
 * - all (`deno task test`, what .ci/run runs): portable, then e2e.
 *
 * What makes them faster:
 * - the unit files run through a few shard modules (scripts/test_shards.ts: one per job), not one `deno test`
 *   worker per file, each of which costs 0.3-0.5 s of CPU here before its first test. Test paths given on the
 *   command line run as files, as `deno test` runs them.
 * - a folder for the run (KUBECTL_CREDENTIALS_BROKER_TEST_RUN, removed at the end) where test files share what is
 *   costly to make: one install of the broker from this source (`deno task install` with a root there), which
 *   every test file and e2e world runs (each test file would otherwise install its own: half a second of CPU
 *   apiece), unless KUBECTL_CREDENTIALS_BROKER_BIN names the executable to test; and the RSA keys of
 *   scripts/world/ca.ts (up to a second of CPU each).
 * - DENO_JOBS, unless set, at twice the CPUs: the unit test files wait on renewals, timeouts and the processes
 *   they start about as long as they compute, so two per CPU keep the CPUs busy.
 *
 * Usage: deno run -A scripts/test.ts [unit|release|portable|e2e] [deno test arguments: --filter NAME, test files or
 * folders]
 */
import { forwardedSignals, HOST_OS } from "../lib/shared/platform.ts";
import { installPlugin } from "./install.ts";
import { BROKER_BIN_VARIABLE, sharedInstallRoot } from "./world/broker.ts";
import { denoDir } from "./world/process.ts";
import { RUN_FOLDER_VARIABLE } from "./world/temp_dir.ts";
import { scriptArgs } from "./args.ts";
import { findTestFiles, writeShards } from "./test_shards.ts";

const root = new URL("../", import.meta.url);
const PARTS = ["unit", "process", "release", "portable", "e2e"] as const;

/**
 * The test files of the `process` tier: each starts many processes by nature, and together they took about half
 * of the unit run's CPU. Listed by path: a file renamed without this list fails every run (see missing below).
 */
const PROCESS_TESTS = [
  "tests/plugin/renewal_test.ts", // 16 and 32 brokers at once around one renewal
  "tests/plugin/background_renewal_test.ts", // detached renewals, 32 calls at once inside the window
  "tests/plugin/lock_test.ts", // brokers and renewals killed with SIGKILL, lock timeouts
  "tests/plugin/renew_ahead_process_test.ts", // 12 processes claiming one background renewal at once
  "tests/plugin/full_disk_test.ts", // tmpfs mounts (root) under running brokers
  "tests/plugin/plugin_process_test.ts", // the installed broker spawned as kubectl runs it: streams, terminals, timeouts
  "tests/secret_leak_test.ts", // every command's error paths, spawned as users run them
  "tests/issuer/plugin_issuer_process_test.ts", // --deny-net on main.ts, a detached renewal asking cfssl
  "tests/issuer/run_for_output_process_test.ts", // a helper stopped at a real deadline
  "tests/issuer/step_ca_test.ts", // a step-ca stand-in behind a real nginx (mTLS)
  "tests/credentials/credentials_process_test.ts", // the installed broker spawned on a FIFO key, killed if it hangs
  "tests/credentials/differential_test.ts", // about 140 runs of the openssl CLI, making and reading every key type
  "tests/completion_process_test.ts", // a real bash (fish, zsh) and kubectl completing through the scripts
  "tests/shared/permissions_process_test.ts", // each command's permissions after narrowing: a process apiece
  "tests/shared/permissions_more_process_test.ts", // help, version and doctor's early exits narrowed: the same
  "tests/scripts_args_process_test.ts", // every script run with --help, a deno run apiece
  "tests/startup_process_test.ts", // main.ts run from source under a timer and exit spy
  "tests/shared/command_line_process_test.ts", // the installed broker finding a renewal command on its PATH
  "tests/readme_process_test.ts", // the README's doctor sample through kubectl and the installed broker
  "tests/doctor/doctor_process_test.ts", // doctor as installed, starting the broker it checks: ~90 processes
  "tests/doctor/agreement_process_test.ts", // the broker spawned once per broken credential set
  "tests/status/status_run_process_test.ts", // status with narrowed permissions, a real background renewal
  "tests/kubeconfig/set_process_test.ts", // kubeconfig set spawned, on a real terminal, next to a kubectl loop
] as const;
type Part = typeof PARTS[number] | "all";
const [first, ...rest] = Deno.args;
const part: Part = (PARTS as readonly string[]).includes(first ?? "") ? first as Part : "all";
const { positionals: extra } = scriptArgs({
  usage:
    "deno task test[:unit|:process|:release|:portable|:e2e] [deno test arguments: --filter NAME, test files or folders]",
  about:
    "The tests in tiers (docs/testing.md): unit is the fast loop, without type check; process, release and e2e " +
    "the others; portable is unit, process and release at once; with no tier, portable then e2e. They share " +
    "one install of the broker (KUBECTL_CREDENTIALS_BROKER_BIN names another). Every other argument goes to " +
    "deno test.",
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
 * own (`deno task test:unit tests/plugin/` runs that folder only), in one run, file by file. Otherwise the unit
 * files run as `jobs` shards written into `folder`.
 */
function runs(jobs: string, folder: string): { args: string[]; env: Record<string, string> }[] {
  const parallel = { args: ["--parallel"], env: { DENO_JOBS: jobs } };
  // The fast loop leaves type-checking to `deno task check`: checking every test file's graph costs about 8 s of
  // CPU after any edit.
  const check = part === "unit" ? ["--no-check"] : [];
  if (extra.some(isTestPath)) {
    return [
      part === "e2e" || part === "all" ? { args: [], env: {} } : {
        args: [...parallel.args, ...check],
        env: parallel.env,
      },
    ];
  }
  const unitShards = () =>
    writeShards(
      root,
      folder,
      findTestFiles(root, "tests", ["tests/e2e", "tests/release", ...PROCESS_TESTS]),
      Math.max(1, Number.parseInt(jobs, 10) || 1),
    );
  const folders = {
    unit: unitShards,
    process: () => [...PROCESS_TESTS],
    release: () => ["tests/release/"],
    portable: () => [...unitShards(), ...PROCESS_TESTS, "tests/release/"],
  };
  const tier = (name: keyof typeof folders) => ({
    args: [...parallel.args, ...check, ...folders[name]()],
    // The process tier's files each keep the CPUs busy with dozens of processes and time what they wait for: one
    // file per CPU, unless DENO_JOBS says otherwise, so that they do not starve each other's timings.
    env: name === "process" && !Deno.env.get("DENO_JOBS")
      ? { DENO_JOBS: String(navigator.hardwareConcurrency) }
      : parallel.env,
  });
  const e2e = { args: ["tests/e2e/"], env: {} };
  return part === "e2e" ? [e2e] : part === "all" ? [tier("portable"), e2e] : [tier(part)];
}

const missing = PROCESS_TESTS.filter((path) => !isTestPath(path));
if (missing.length > 0) {
  console.error(
    `scripts/test.ts: PROCESS_TESTS names ${missing.join(", ")}, which is gone: update the list`,
  );
  Deno.exit(1);
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
  for (const run of runs(jobs, folder)) {
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
