/**
 * `kubectl credentials-broker doctor`: checks one kubeconfig user end to end, the way kubectl would use it, and
 * says for each failure what to do. This module finds the user and runs the checks in order; they live in
 * `user.ts` (the user entry), `exec_checks.ts` (commands and arguments), `credential_checks.ts` (the plugin's own
 * reading of the files, explained), `run.ts` (the one run, the only module here that starts processes) and
 * `run_check.ts`; `report.ts` prints the result.
 *
 * Nothing here prints secret material: exec env values, token and key bytes, the before-exec command's arguments
 * and the ExecCredential produced by the run are read and judged, never shown.
 */
import { resolveBrokerPaths } from "../plugin/broker_options.ts";
import { renewalLock } from "../plugin/lock.ts";
import { issuerSources } from "../plugin/plugin.ts";
import { aheadFiles, formatRenewAhead, readAheadState } from "../plugin/renew_ahead.ts";
import { brokerInvocation } from "../shared/broker_command.ts";
import { PLUGIN_EXECUTABLE } from "../shared/command_list.ts";
import { splitCommandLine } from "../shared/command_line.ts";
import { readCredentials } from "../credentials/credentials.ts";
import { parseDuration } from "../shared/duration.ts";
import { CliError, describeError, UsageError } from "../shared/errors.ts";
import { HELP_FLAG, helpText, outputFormat, parseArgs, refuseArguments } from "../shared/flags.ts";
import { DOCTOR_FLAGS } from "./doctor_flags.ts";
import type { Io } from "../shared/io.ts";
import { readKubeconfig, selectUser } from "../kubeconfig/read.ts";
import { dirname, HOST_OS, hostHomeDir } from "../shared/platform.ts";
import { checkCredentials, type RenewalContext } from "./credential_checks.ts";
import {
  type BeforeExecFacts,
  checkBackgroundRenewal,
  checkBeforeExec,
  checkBrokerArgs,
  checkExecCommand,
  checkPluginExecutable,
  lookupExecutable,
} from "./exec_checks.ts";
import { type DoctorReport, formatJsonReport, formatReport } from "./report.ts";
import { type CheckResult, result } from "./result.ts";
import { isRecord } from "../shared/values.ts";
import { manualCommandLine, runExecOnce } from "./run.ts";
import { checkRun } from "./run_check.ts";
import { checkCompetingCredentials, checkExecBlock, pluginEnvironment } from "./user.ts";

const DEFAULT_RUN_TIMEOUT_MS = 180_000;

/** Where doctor finds the files, PATH and processes; tests point it at temp folders. */
export interface DoctorHost {
  env(name: string): string | undefined;
  cwd(): string;
  now(): Date;
  /** Io.narrow: doctor gives up the network once the issuer's checks are done (or there is no issuer). */
  narrow(use: "doctor after issuer checks"): void;
}

/** Runs every check for one user entry; `loadFailure` is set when no user entry could be loaded at all. */
export async function diagnose(
  entry: {
    name: string;
    file: string;
    context?: string;
    exists: boolean;
    user: Record<string, unknown>;
  },
  host: DoctorHost,
  settings: { skipRun: boolean; timeoutMs: number },
): Promise<CheckResult[]> {
  const checks: CheckResult[] = [];
  if (!entry.exists) {
    checks.push(result(
      "kubeconfig user",
      "fail",
      `user "${entry.name}" is not defined in any kubeconfig file`,
      `create it with: kubectl credentials-broker kubeconfig set --user ${entry.name} ...`,
    ));
    // No issuer to check: the network goes here too, as on every path that ends before the issuer's checks.
    host.narrow("doctor after issuer checks");
    return checks;
  }
  checks.push(result(
    "kubeconfig user",
    "pass",
    `user "${entry.name}"${entry.context ? ` of context "${entry.context}"` : ""} in ${entry.file}`,
  ));
  const { result: execResult, exec } = checkExecBlock(entry.user, entry.name);
  checks.push(execResult);
  checks.push(checkCompetingCredentials(entry.user, entry.name));
  if (!exec) {
    host.narrow("doctor after issuer checks");
    return checks;
  }
  const env = (name: string) => host.env(name);
  // kubectl resolves a relative exec.command that holds a separator against the kubeconfig's folder.
  const lookup = lookupExecutable(exec.command, dirname(entry.file, HOST_OS), env);
  const hint = isRecord(entry.user.exec) && typeof entry.user.exec.installHint === "string"
    ? entry.user.exec.installHint
    : undefined;
  checks.push(checkExecCommand(lookup, hint));
  const invocation = brokerInvocation(exec.command);
  const viaKubectl = invocation === "kubectl" && exec.args[0] === "credentials-broker";
  if (viaKubectl) {
    checks.push(
      checkPluginExecutable(lookupExecutable(PLUGIN_EXECUTABLE, host.cwd(), env)),
    );
  }
  // The plugin's defaults for absent issuer flags come from its environment: the caller's, exec.env over it.
  const { result: argsResult, options } = checkBrokerArgs(
    exec,
    issuerSources({ env: pluginEnvironment(exec.env, env) }),
  );
  checks.push(argsResult);
  if (options?.beforeExecCommand !== undefined) {
    const facts: BeforeExecFacts = { policy: options.beforeExecPolicy };
    try {
      const argv = splitCommandLine(options.beforeExecCommand, hostHomeDir(env));
      facts.program = argv[0];
      if (facts.program) facts.lookup = lookupExecutable(facts.program, host.cwd(), env);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      facts.splitError = error.message;
    }
    checks.push(checkBeforeExec(facts));
    if (options.renewAhead) {
      try {
        const resolved = resolveBrokerPaths(options, {
          cwd: host.cwd(),
          home: () => hostHomeDir(env),
          os: HOST_OS,
        });
        const { dir, name } = renewalLock(resolved, env);
        const files = aheadFiles(dir, name);
        const state = statOrNull(files.state) ? readAheadState(files.state) : undefined;
        checks.push(
          checkBackgroundRenewal(formatRenewAhead(options.renewAhead), state, files.log),
        );
      } catch (error) {
        if (!(error instanceof CliError)) throw error;
        checks.push(result("background renewal", "skip", error.message));
      }
    }
  }
  if (options?.issuer) {
    // Loaded only for an issuer user: the drivers and the network.
    const { checkIssuer } = await import("./issuer_checks.ts");
    checks.push(...await checkIssuer(options, host, settings.timeoutMs));
    if (!settings.skipRun) {
      checks.push(result(
        "issuer renewal",
        "pass",
        "the broker run below renews an invalid or expiring certificate from the issuer, as kubectl's next call would; a valid one is left alone",
      ));
    }
  }
  // Only the issuer's checks contact anything: the broker run below is another process, with its own permissions.
  host.narrow("doctor after issuer checks");
  // Run first, read the files after: a before-exec command renews them during the run, and the files are then
  // what the next kubectl call will get.
  let run: CheckResult;
  let ran = false;
  if (settings.skipRun) run = result("broker run", "skip", "skipped (--skip-run)");
  else if (lookup.problem) run = result("broker run", "skip", "the exec command was not found");
  else {
    const facts = await runExecOnce({
      executable: lookup.resolved!,
      exec,
      cwd: host.cwd(),
      timeoutMs: settings.timeoutMs,
    });
    ran = facts.startError === undefined;
    facts.broker = invocation === "direct" || viaKubectl;
    facts.commandLine = manualCommandLine(lookup.resolved!, exec);
    run = checkRun(facts, exec.apiVersion);
  }
  if (options) {
    const renewal: RenewalContext = {
      renewer: options.beforeExecCommand !== undefined || options.issuer !== undefined,
      ran,
      marginMs: options.refreshMarginMs,
      policy: options.beforeExecPolicy,
    };
    try {
      // The plugin's own path rule (`~/`, relative to the working folder) and its own reading of the files.
      const paths = resolveBrokerPaths(options, {
        cwd: host.cwd(),
        home: () => hostHomeDir(env),
        os: HOST_OS,
      });
      const reading = await readCredentials({
        clientCertificatePath: paths.clientCertificatePath,
        clientKeyPath: paths.clientKeyPath,
        tokenPath: paths.tokenPath,
      });
      checks.push(...checkCredentials(reading, host.now(), renewal));
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      checks.push(result("credential files", "fail", error.message, error.hint));
    }
  }
  checks.push(run);
  return checks;
}

/** `kubectl credentials-broker doctor`: prints one line per check; exit 0 when nothing failed, 1 otherwise. */
export async function doctorCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs(argv, [...DOCTOR_FLAGS, HELP_FLAG]);
  if (values.help) {
    io.narrow("help");
    await io.stdout(
      helpText(
        "kubectl credentials-broker doctor [flags]",
        `Checks the kubeconfig user of the current context (or --context / --user) the way kubectl uses it: the exec
block, fields that stop kubectl from calling the plugin, the exec and before-exec commands, each credential file,
and one real run of the broker. Prints no secrets. Exit code 0 when nothing failed, 1 otherwise.`,
        [...DOCTOR_FLAGS, HELP_FLAG],
      ),
    );
    return 0;
  }
  refuseArguments(positionals, "doctor");
  const output = outputFormat(values.output);
  const timeoutText = values.timeout;
  const timeoutMs = timeoutText === undefined
    ? DEFAULT_RUN_TIMEOUT_MS
    : parseDuration(timeoutText, "--timeout");
  if (timeoutMs <= 0) throw new UsageError(`--timeout must be longer than 0, got ${timeoutText}`);
  const report: DoctorReport = { ok: false, checks: [] };
  try {
    let entry;
    try {
      const merged = await readKubeconfig({
        explicit: values.kubeconfig,
        env: io.env,
        cwd: io.cwd(),
      });
      entry = selectUser(merged, { context: values.context, user: values.user });
    } catch (error) {
      // No user, so no issuer to check: the report is all that is left to do.
      io.narrow("doctor after issuer checks");
      throw error;
    }
    report.kubeconfig = entry.file;
    report.context = entry.context;
    report.user = entry.name;
    report.checks = await diagnose(entry, io, {
      skipRun: values["skip-run"] === true,
      timeoutMs,
    });
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    report.checks.push(
      result("kubeconfig user", "fail", describeError(error), error.hint),
    );
  }
  report.ok = report.checks.every((check) => check.status !== "fail");
  await io.stdout(
    output === "json" ? formatJsonReport(report) : formatReport(report, io.stdoutColor),
  );
  return report.ok ? 0 : 1;
}

function statOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch {
    return null;
  }
}
