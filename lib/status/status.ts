/**
 * `kubectl credentials-broker status`: every kubeconfig user whose exec runs the broker, with its contexts, its
 * credentials, where renewals come from and the problems found, for all users at once. It reads files only: no
 * command runs and no server is contacted, so it is safe to run at any time and quick for many users.
 *
 * Every rule is someone else's: kubectl's loading rules (lib/kubeconfig/), doctor's recognition of a broker user
 * and its checks that need no run (lib/doctor/), the plugin's own parsing of its flags, paths, renewal lock and
 * background state (lib/plugin/), and its reading and judging of the credential files (lib/credentials/). This
 * module gathers; status_report.ts prints.
 */
import { readCredentials } from "../credentials/credentials.ts";
import { checkCredentials, shownLeaf } from "../doctor/credential_checks.ts";
import { brokerArgsOf, brokerInvocation } from "../shared/broker_command.ts";
import {
  checkBackgroundRenewal,
  checkBeforeExec,
  checkBrokerArgs,
  checkExecCommand,
  checkPluginExecutable,
  type CommandLookup,
  lookupExecutable,
} from "../doctor/exec_checks.ts";
import { type CheckResult, result } from "../doctor/result.ts";
import { isRecord } from "../shared/values.ts";
import type { IssuerName, IssuerOptions } from "../issuer/issuer.ts";
import {
  checkCompetingCredentials,
  checkExecBlock,
  type ExecConfig,
  pluginEnvironment,
} from "../doctor/user.ts";
import { type MergedKubeconfig, readKubeconfig, selectUser } from "../kubeconfig/read.ts";
import {
  type BeforeExecPolicy,
  type BrokerOptions,
  resolveBrokerPaths,
} from "../plugin/broker_options.ts";
import { renewalLock } from "../plugin/lock.ts";
import { issuerSources } from "../plugin/plugin.ts";
import {
  aheadFiles,
  type AheadState,
  formatRenewAhead,
  readAheadState,
} from "../plugin/renew_ahead.ts";
import { splitCommandLine } from "../shared/command_line.ts";
import { PLUGIN_EXECUTABLE } from "../shared/command_list.ts";
import { CliError, KubeconfigError, UsageError } from "../shared/errors.ts";
import { HELP_FLAG, helpText, outputFormat, parseArgs, refuseArguments } from "../shared/flags.ts";
import type { Io } from "../shared/io.ts";
import { dirname, HOST_OS, hostHomeDir } from "../shared/platform.ts";
import { STATUS_FLAGS } from "./status_flags.ts";
import { formatStatusJson, formatStatusText } from "./status_report.ts";

/** What status needs from the process: the environment and working folder kubectl would give the plugin, a clock. */
export type StatusHost = Pick<Io, "env" | "cwd" | "now">;

/**
 * Where a user's renewals come from: a before-exec command (its program only: arguments may hold secrets), or a
 * CA the broker asks itself (--issuer), with what names the certificate it asks for.
 */
export type RenewalSource =
  | { command: string; policy: BeforeExecPolicy }
  | {
    issuer: IssuerName;
    url: string;
    /** Vault: the PKI role, its mount, how the broker logs in, the namespace. */
    role?: string;
    mount?: string;
    auth?: "token" | "cert";
    namespace?: string;
    /** step-ca: the program that prints one-time tokens (never its arguments). */
    tokenCommand?: string;
    /** cfssl: the signing profile and label. */
    profile?: string;
    label?: string;
  };

/** One broker user as status shows it; absent parts were not configured (or, for dates, not readable). */
export interface UserStatus {
  name: string;
  /** The file that defines this entry. */
  kubeconfig: string;
  /** The file whose entry of the same name kubectl uses instead of this one. */
  shadowedBy?: string;
  /** The contexts that reach this entry (none for a shadowed one: they reach the winner). */
  contexts: string[];
  /** Set when a client certificate is configured; its parts when it could be read. */
  certificate?: { subject?: string; notAfter?: Date };
  /** Set when a token is configured; `expiresAt` when it is a JWT with `exp`. */
  token?: { read: boolean; expiresAt?: Date };
  renewal?: RenewalSource;
  /** With --renew-ahead: the spec as written, and what the background renewals left in their state file. */
  renewAhead?: { spec: string; state?: AheadState; log?: string };
  /** doctor's checks that did not pass (warnings and failures), in doctor's words. */
  problems: CheckResult[];
}

/** Everything status found: the kubeconfig files read (in precedence order) and the broker users. */
export interface StatusReport {
  files: { path: string; exists: boolean }[];
  currentContext?: string;
  users: UserStatus[];
  /** Set when --context or --user chose a user that does not run the broker. */
  notBroker?: { name: string; file: string };
}

/**
 * Reads the kubeconfig as kubectl would (`--kubeconfig`, else KUBECONFIG merged, else ~/.kube/config) and returns
 * every broker user, or the one --context/--user names. Throws a KubeconfigError only when the kubeconfig itself
 * cannot be read (missing, not a file, malformed) or the named context or user does not exist.
 */
export async function gatherStatus(
  choice: { kubeconfig?: string; context?: string; user?: string },
  host: StatusHost,
): Promise<StatusReport> {
  const merged = await readKubeconfig({
    explicit: choice.kubeconfig,
    env: host.env,
    cwd: host.cwd(),
  });
  const paths = merged.files.map((file) => file.path);
  const files = merged.files.map((file) => ({ path: file.path, exists: file.text !== null }));
  if (files.every((file) => !file.exists)) {
    throw new KubeconfigError(
      paths.length === 1
        ? `kubeconfig ${paths[0]} does not exist`
        : `none of the kubeconfig files exist: ${paths.join(", ")}`,
      { hint: "check the path, or set one up with: kubectl credentials-broker kubeconfig set" },
    );
  }
  let only: string | undefined;
  if (choice.user !== undefined || choice.context !== undefined) {
    // kubectl's choice (and kubeconfig set's, and doctor's): --user names it, else the context's user.
    const selected = selectUser(merged, { user: choice.user, context: choice.context });
    if (!selected.exists) {
      throw new KubeconfigError(
        `user "${selected.name}" is not defined in ${files.map((file) => file.path).join(", ")}`,
        { hint: "list the users with: kubectl config view -o jsonpath='{.users[*].name}'" },
      );
    }
    only = selected.name;
  }
  const report: StatusReport = { files, currentContext: merged.currentContext?.name, users: [] };
  const lookups = new Map<string, CommandLookup>();
  // Each user's contexts, in the merged order, found once: a kubeconfig may hold thousands of each.
  const contexts = new Map<unknown, string[]>();
  for (const [name, { context }] of merged.contexts) {
    contexts.set(context.user, [...contexts.get(context.user) ?? [], name]);
  }
  for (const file of merged.files) {
    for (const entry of file.view.users) {
      if (only !== undefined && entry.name !== only) continue;
      const exec = rawExec(entry.user);
      const brokerArgs = exec && brokerArgsOf(exec.command, exec.args);
      if (!exec || !brokerArgs) {
        if (only !== undefined && merged.users.get(only)?.user === entry.user) {
          report.notBroker = { name: only, file: file.path };
        }
        continue;
      }
      report.users.push(
        await userStatus(
          { name: entry.name, file: file.path, user: entry.user },
          merged,
          contexts,
          host,
          lookups,
        ),
      );
    }
  }
  return report;
}

/** exec.env's well-formed entries, also when another part of the exec block is not (values are never shown). */
function execEnvOf(user: Record<string, unknown>): { name: string; value: string }[] {
  const exec = user.exec;
  if (!isRecord(exec) || !Array.isArray(exec.env)) return [];
  return exec.env.filter((entry): entry is { name: string; value: string } =>
    isRecord(entry) && typeof entry.name === "string" && typeof entry.value === "string"
  );
}

/** exec.command and exec.args as written, when there is a command: enough to tell whether the broker runs. */
function rawExec(user: Record<string, unknown>): { command: string; args: string[] } | undefined {
  const exec = user.exec;
  if (!isRecord(exec) || typeof exec.command !== "string") return undefined;
  const args = Array.isArray(exec.args) ? exec.args.map((arg) => String(arg)) : [];
  return { command: exec.command, args };
}

async function userStatus(
  entry: { name: string; file: string; user: Record<string, unknown> },
  merged: MergedKubeconfig,
  contexts: ReadonlyMap<unknown, string[]>,
  host: StatusHost,
  lookups: Map<string, CommandLookup>,
): Promise<UserStatus> {
  // The plugin's environment: the caller's, then exec.env (kubectl lets those win). kubectl itself looks the exec
  // command up with its own.
  const env = pluginEnvironment(execEnvOf(entry.user), host.env);
  const problems: CheckResult[] = [];
  const notPassed = (check: CheckResult) => {
    if (check.status === "warn" || check.status === "fail") problems.push(check);
  };
  const winner = merged.users.get(entry.name);
  const shadowed = winner !== undefined && winner.user !== entry.user;
  const status: UserStatus = {
    name: entry.name,
    kubeconfig: entry.file,
    contexts: shadowed ? [] : contexts.get(entry.name) ?? [],
    problems,
  };
  if (shadowed) {
    status.shadowedBy = winner.file;
    problems.push(result(
      "kubeconfig user",
      "warn",
      `user "${entry.name}" in ${entry.file} is shadowed by the user of the same name in ${winner.file}: ` +
        "kubectl uses that one",
      winner.file === entry.file
        ? "remove or rename one of the two entries"
        : "rename one of them, or change the order of KUBECONFIG",
    ));
  }
  const { result: execResult, exec } = checkExecBlock(entry.user, entry.name);
  notPassed(execResult);
  notPassed(checkCompetingCredentials(entry.user, entry.name));
  const raw = rawExec(entry.user)!;
  // kubectl resolves a relative exec.command that holds a separator against the kubeconfig's folder.
  const execLookup = lookup(raw.command, dirname(entry.file, HOST_OS), host.env, lookups);
  notPassed(checkExecCommand(execLookup));
  if (brokerInvocation(raw.command) === "kubectl") {
    // `kubectl credentials-broker` needs kubectl to find the plugin on PATH too.
    notPassed(checkPluginExecutable(
      lookup(PLUGIN_EXECUTABLE, host.cwd(), host.env, lookups),
    ));
  }
  const execConfig: ExecConfig = exec ?? { ...raw, env: [], apiVersion: "" };
  // The plugin's own defaults for absent issuer flags (VAULT_ADDR, step's defaults.json...), from its environment.
  const { result: argsResult, options } = checkBrokerArgs(execConfig, issuerSources({ env }));
  notPassed(argsResult);
  if (!options) return status;
  if (options.clientCertificatePath !== undefined) status.certificate = {};
  if (options.tokenPath !== undefined) status.token = { read: false };
  if (options.beforeExecCommand !== undefined) {
    status.renewal = beforeExec(options, { ...host, env }, lookups, notPassed);
  } else if (options.issuer) {
    status.renewal = issuerSource(options.issuer, env);
  }
  let paths: BrokerOptions;
  try {
    // The plugin's own path rule: `~/` is the home folder, relative paths are taken from the folder kubectl runs
    // the plugin in (the caller's, as for this command).
    paths = resolveBrokerPaths(options, {
      cwd: host.cwd(),
      home: () => hostHomeDir(env),
      os: HOST_OS,
    });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    problems.push(result("broker arguments", "fail", error.message, error.hint));
    return status;
  }
  if (options.renewAhead) status.renewAhead = backgroundRenewal(options, paths, env, notPassed);
  const reading = await readCredentials({
    clientCertificatePath: paths.clientCertificatePath,
    clientKeyPath: paths.clientKeyPath,
    tokenPath: paths.tokenPath,
  });
  const leaf = shownLeaf(reading);
  if (status.certificate && leaf) {
    status.certificate = { subject: leaf.subject, notAfter: leaf.notAfter };
  }
  const token = reading.credentials.token;
  if (status.token && token) status.token = { read: true, expiresAt: token.expiry };
  // doctor's verdicts before any run: a missing or expired file is a warning while a command is there to renew it.
  for (
    const check of checkCredentials(reading, host.now(), {
      // An issuer renews as a command does: a missing or expired certificate is for it to replace.
      renewer: options.beforeExecCommand !== undefined || options.issuer !== undefined,
      ran: false,
      marginMs: options.refreshMarginMs,
      policy: options.beforeExecPolicy,
    })
  ) notPassed(check);
  return status;
}

/** The before-exec command's program (never its arguments) and doctor's check that it can be found. */
function beforeExec(
  options: BrokerOptions,
  host: StatusHost,
  lookups: Map<string, CommandLookup>,
  notPassed: (check: CheckResult) => void,
): RenewalSource {
  const policy = options.beforeExecPolicy;
  let program: string | undefined;
  try {
    program = splitCommandLine(options.beforeExecCommand!, hostHomeDir(host.env))[0];
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    notPassed(checkBeforeExec({ policy, splitError: error.message }));
    return { command: "", policy };
  }
  notPassed(checkBeforeExec({
    policy,
    program,
    lookup: program ? lookup(program, host.cwd(), host.env, lookups) : undefined,
  }));
  return { command: program ?? "", policy };
}

/** Where an issuer user's certificates come from, as the flags say (kubeconfig set stores every default). */
function issuerSource(
  issuer: IssuerOptions,
  env: (name: string) => string | undefined,
): RenewalSource {
  const source: RenewalSource = { issuer: issuer.issuer, url: issuer.url };
  if (issuer.vault) {
    source.role = issuer.vault.role;
    source.mount = issuer.vault.mount;
    source.auth = issuer.vault.auth;
    if (issuer.vault.namespace !== undefined) source.namespace = issuer.vault.namespace;
  }
  if (issuer.step?.tokenCommand !== undefined) {
    try {
      source.tokenCommand = splitCommandLine(issuer.step.tokenCommand, hostHomeDir(env))[0];
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
    }
  }
  if (issuer.cfssl?.profile !== undefined) source.profile = issuer.cfssl.profile;
  if (issuer.cfssl?.label !== undefined) source.label = issuer.cfssl.label;
  return source;
}

/** --renew-ahead: the state the background renewals left next to the renewal lock, as doctor reads it. */
function backgroundRenewal(
  options: BrokerOptions,
  paths: BrokerOptions,
  env: (name: string) => string | undefined,
  notPassed: (check: CheckResult) => void,
): UserStatus["renewAhead"] {
  const spec = formatRenewAhead(options.renewAhead!);
  try {
    const { dir, name } = renewalLock(paths, env);
    const files = aheadFiles(dir, name);
    const state = readAheadState(files.state);
    notPassed(checkBackgroundRenewal(spec, state, files.log));
    return { spec, state, log: files.log };
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    notPassed(result("background renewal", "warn", error.message, error.hint));
    return { spec };
  }
}

/** doctor's executable lookup, once per command and folder: 50 users usually share one or two commands. */
function lookup(
  command: string,
  base: string,
  env: (name: string) => string | undefined,
  cache: Map<string, CommandLookup>,
): CommandLookup {
  const key = `${command}\0${base}\0${env("PATH")}\0${env("PATHEXT")}`;
  let found = cache.get(key);
  if (!found) cache.set(key, found = lookupExecutable(command, base, env));
  return found;
}

/** `kubectl credentials-broker status`: exit 0 whenever the kubeconfig could be read; problems are listed. */
export async function statusCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs(argv, [...STATUS_FLAGS, HELP_FLAG]);
  if (values.help) {
    io.narrow("help");
    await io.stdout(
      helpText(
        "kubectl credentials-broker status [flags]",
        `Shows every kubeconfig user whose exec runs the broker (or the one --context / --user names): its contexts,
credentials, certificate subject and expiry, token expiry, where renewals come from, renew-ahead and the last
background renewal, and the problems found. Reads files only: runs no command and contacts no server. A user
that an earlier KUBECONFIG file shadows is marked. Exit code 0 whenever the kubeconfig could be read; problems
are listed, not exit codes (kubectl credentials-broker doctor checks one user end to end).`,
        [...STATUS_FLAGS, HELP_FLAG],
      ),
    );
    return 0;
  }
  refuseArguments(positionals, "status");
  const output = outputFormat(values.output);
  const report = await gatherStatus(
    { kubeconfig: values.kubeconfig, context: values.context, user: values.user },
    io,
  );
  await io.stdout(
    output === "json"
      ? formatStatusJson(report)
      : formatStatusText(report, io.now(), io.stdoutColor),
  );
  return 0;
}
