/**
 * Doctor's checks of what the exec block starts: the exec command and kubectl's plugin lookup, the broker's own
 * arguments (parsed by the plugin's parser), the before-exec command and the last background renewal.
 */
import {
  BROKER_FLAGS,
  type BrokerOptions,
  brokerOptionsFromFlags,
  type IssuerSources,
} from "../plugin/broker_options.ts";
import type { AheadState } from "../plugin/renew_ahead.ts";
import { brokerInvocation } from "../shared/broker_command.ts";
import { formatDuration } from "../shared/duration.ts";
import { UsageError } from "../shared/errors.ts";
import { parseArgs } from "../shared/flags.ts";
import { executableProbe, expandTilde, HOST_OS, isAbsolute, lookPath } from "../shared/platform.ts";
import { type CheckResult, result } from "./result.ts";
import type { ExecConfig } from "./user.ts";

/** Where an executable was looked for and what was found: gathered by `lookupExecutable`. */
export interface CommandLookup {
  command: string;
  /** "PATH", or the folder a relative path is resolved against. */
  searched: string;
  resolved?: string;
  problem?: "not-found" | "not-executable" | "not-a-file";
}

/** Checks that the exec command resolves, and says where to: the absolute path is what a tool without this PATH needs. */
export function checkExecCommand(lookup: CommandLookup, installHint?: string): CheckResult {
  const name = "exec command";
  if (lookup.problem) {
    return result(
      name,
      "fail",
      lookupProblem(lookup),
      lookup.problem === "not-found"
        ? installHint?.split("\n")[0]?.trim() ||
          "install the broker (deno task install) or set exec.command to its absolute path"
        : `make it executable: chmod +x ${lookup.resolved ?? lookup.command}`,
    );
  }
  // A fact, not advice: where this shell's lookup led. A tool started outside the shell has its own PATH.
  const found = lookup.searched === "PATH"
    ? `${lookup.command} is ${lookup.resolved}, found on this PATH`
    : isAbsolute(lookup.command, HOST_OS)
    ? `${lookup.command} is an executable file`
    : `${lookup.command} is ${lookup.resolved}, relative to the kubeconfig's folder`;
  return result(name, "pass", found);
}

/** For exec.command kubectl: kubectl must find the plugin executable on PATH as well. */
export function checkPluginExecutable(lookup: CommandLookup): CheckResult {
  const name = "kubectl plugin";
  if (lookup.problem) {
    return result(
      name,
      "fail",
      `${lookupProblem(lookup)}, so kubectl cannot run "kubectl credentials-broker"`,
      lookup.problem === "not-found"
        ? "install the broker (deno task install, or kubectl krew install credentials-broker)"
        : `make it executable: chmod +x ${lookup.resolved}`,
    );
  }
  return result(name, "pass", `${lookup.command} is ${lookup.resolved}`);
}

function lookupProblem(lookup: CommandLookup): string {
  const where = lookup.searched === "PATH" ? "on PATH" : `relative to ${lookup.searched}`;
  switch (lookup.problem) {
    case "not-found":
      return `${lookup.command} not found ${where}`;
    case "not-a-file":
      return `${lookup.resolved ?? lookup.command} is not a file`;
    default:
      return `${lookup.resolved ?? lookup.command} is not executable`;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The broker's own arguments

/**
 * Parses the stored broker arguments exactly as the plugin will, and flags relative paths. `sources` are where the
 * plugin finds the defaults of absent issuer flags (its environment: the caller's with exec.env over it); without
 * them only the flags count, as `kubeconfig set` stores every default.
 */
export function checkBrokerArgs(
  exec: ExecConfig,
  sources?: IssuerSources,
): { result: CheckResult; options?: BrokerOptions } {
  const name = "broker arguments";
  const kind = brokerInvocation(exec.command);
  if (kind === "other") {
    return {
      result: result(
        name,
        "skip",
        `exec.command ${exec.command} is not kubectl or kubectl-credentials_broker; its arguments are not checked`,
      ),
    };
  }
  let args = exec.args;
  if (kind === "kubectl") {
    if (args[0] !== "credentials-broker") {
      return {
        result: result(
          name,
          "fail",
          `exec.command is kubectl, but the first argument is ${
            args[0] === undefined ? "missing" : JSON.stringify(args[0])
          }, not credentials-broker`,
          "make credentials-broker the first item of exec.args",
        ),
      };
    }
    args = args.slice(1);
  }
  let options: BrokerOptions;
  try {
    const { values, positionals } = parseArgs(args, BROKER_FLAGS);
    if (positionals.length > 0) {
      throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    }
    options = brokerOptionsFromFlags(values, sources ? { sources } : {});
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return {
      result: result(
        name,
        "fail",
        error.message,
        error.hint ??
          "fix exec.args, or rewrite them with: kubectl credentials-broker kubeconfig set",
      ),
    };
  }
  const credentials = [
    options.clientCertificatePath && "client certificate and key",
    options.tokenPath && "token",
  ].filter(Boolean).join(" and ");
  const relative = [
    ["--client-certificate-path", options.clientCertificatePath],
    ["--client-key-path", options.clientKeyPath],
    ["--token-path", options.tokenPath],
    ["--cache-dir", options.cacheDir],
  ].filter(([, path]) =>
    // `~/` is the home folder (the plugin expands it, as for an issuer's default storage folder), not relative.
    path !== undefined && !isAbsolute(path, HOST_OS) && expandTilde(path, "\0", HOST_OS) === path
  ).map(([flag]) => flag);
  const from = options.issuer
    ? `, from issuer ${options.issuer.issuer} at ${options.issuer.url}`
    : `, before-exec policy ${options.beforeExecPolicy}`;
  const summary = `${credentials}${from}, refresh margin ${
    formatDuration(options.refreshMarginMs)
  }`;
  if (relative.length > 0) {
    return {
      result: result(
        name,
        "warn",
        `${summary}; ${
          relative.join(", ")
        } relative: resolved against the folder kubectl runs in, which changes`,
        "use absolute paths",
      ),
      options,
    };
  }
  return { result: result(name, "pass", summary), options };
}

/** What the runner found out about the before-exec command: the split program, or why it does not split. */
export interface BeforeExecFacts {
  policy: string;
  program?: string;
  splitError?: string;
  lookup?: CommandLookup;
}

/** Checks that the before-exec command line splits and its program exists and is executable. */
export function checkBeforeExec(facts: BeforeExecFacts): CheckResult {
  const name = "before-exec command";
  if (facts.splitError) {
    return result(
      name,
      "fail",
      facts.splitError,
      "quote the command line as for a shell (no pipes or variables: use sh -c '...')",
    );
  }
  if (!facts.program) return result(name, "fail", "the before-exec command is empty");
  const lookup = facts.lookup;
  if (lookup?.problem) {
    return result(
      name,
      "fail",
      lookupProblem(lookup),
      lookup.problem === "not-found"
        ? "use an absolute path in --before-exec-command, or install the program"
        : `make it executable: chmod +x ${lookup.resolved ?? lookup.command}`,
    );
  }
  // The arguments are never shown: renewal commands often carry secrets (role ids, passwords).
  return result(
    name,
    "pass",
    `${facts.program}${
      lookup?.resolved && lookup.resolved !== facts.program ? ` is ${lookup.resolved}` : ""
    }, runs ${facts.policy === "always" ? "on every call" : "when a credential needs renewing"}`,
  );
}

/**
 * With --renew-ahead: how the last background renewal went, from the state file it left next to the renewal
 * lock (never its output, which stays in the log).
 */
export function checkBackgroundRenewal(
  spec: string,
  state: AheadState | undefined,
  logPath: string,
): CheckResult {
  const name = "background renewal";
  if (!state?.lastEndedAt) {
    return result(name, "pass", `renew-ahead ${spec}; no background renewal has run yet`);
  }
  if (state.failures === 0) {
    return result(
      name,
      "pass",
      `renew-ahead ${spec}; the last one ended at ${state.lastEndedAt}: ${
        state.lastOutcome ?? "ok"
      }`,
    );
  }
  return result(
    name,
    "warn",
    `renew-ahead ${spec}; the last one failed at ${state.lastEndedAt} (${
      state.lastOutcome ?? "failed"
    }), ${state.failures} in a row${state.nextTryAt ? `; next try at ${state.nextTryAt}` : ""}`,
    `read its log: ${logPath}; a renewal that needs you (a prompt, a browser login) cannot run in the ` +
      "background: drop --renew-ahead, and it renews at the refresh margin with your terminal",
  );
}

/**
 * Looks an executable up the way kubectl's exec (Go's os/exec.LookPath) does, by the platform module's rules: a
 * bare name on PATH (with PATHEXT on Windows), a name with a separator relative to `base` (the kubeconfig's folder
 * for exec.command, the working folder for before-exec).
 */
export function lookupExecutable(
  command: string,
  base: string,
  env: (name: string) => string | undefined,
): CommandLookup {
  return { command, ...lookPath(command, base, HOST_OS, env, executableProbe) };
}
