/**
 * `kubectl credentials-broker doctor`: checks one kubeconfig user end to end, the way kubectl would use it, and
 * says for each failure what to do. Pure check functions take plain facts (the user entry, file bytes and modes,
 * the clock, the result of one run); `gatherFacts` is the only part that touches files and processes.
 *
 * Nothing here prints secret material: exec env values, token and key bytes, the before-exec command's arguments
 * and the ExecCredential produced by the run are read and judged, never shown.
 */
import {
  BROKER_FLAGS,
  type BrokerOptions,
  brokerOptionsFromFlags,
  resolveBrokerPaths,
} from "../plugin/broker_options.ts";
import { renewalLock } from "../plugin/lock.ts";
import {
  aheadFiles,
  type AheadState,
  formatRenewAhead,
  readAheadState,
} from "../plugin/renew_ahead.ts";
import { quoteWord, splitCommandLine } from "../shared/command_line.ts";
import {
  type Credentials,
  expiryProblems,
  formatTimestamp,
  goTrimSpace,
} from "../credentials/credentials.ts";
import { DerError } from "../credentials/der.ts";
import { formatDuration, parseDuration } from "../shared/duration.ts";
import { CliError, describeError, UsageError } from "../shared/errors.ts";
import { SUPPORTED_API_VERSIONS, V1, V1BETA1 } from "../credentials/exec_credential.ts";
import { type FlagSpec, formatFlagHelp, parseFlags } from "../shared/flags.ts";
import { DOCTOR_FLAGS } from "./doctor_flags.ts";
import type { Io } from "../shared/io.ts";
import { jwtTimes } from "../credentials/jwt.ts";
import { STATIC_CREDENTIAL_KEYS } from "../kubeconfig/kubeconfig_edit.ts";
import { loadUserEntry } from "../kubeconfig/kubeconfig_files.ts";
import { parsePem, PemError } from "../credentials/pem.ts";
import {
  basename,
  dirname,
  executableProbe,
  HOST_OS,
  hostHomeDir,
  isAbsolute,
  lookPath,
  resolvePath,
  stopProcess,
} from "../shared/platform.ts";
import { KeyError, parsePrivateKey, type PrivateKey } from "../credentials/private_key.ts";
import { CREDENTIAL_FILE_LIMIT, FileReadError, readRegularFileSync } from "../shared/read_file.ts";
import { type Certificate, parseCertificate, samePublicKey } from "../credentials/x509.ts";

const HELP_FLAG: FlagSpec = { name: "help", short: "h", kind: "boolean", help: "show this help" };
const DEFAULT_RUN_TIMEOUT_MS = 180_000;
const DAY = 86_400_000;

/** The outcome of one check; `fix` says what to do when it did not pass. */
export type CheckStatus = "pass" | "warn" | "fail" | "skip";

/** One line of the report. Every text is safe to print: names, paths, dates, never secret values. */
export interface CheckResult {
  check: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

const result = (
  check: string,
  status: CheckStatus,
  detail: string,
  fix?: string,
): CheckResult => (fix === undefined ? { check, status, detail } : { check, status, detail, fix });

// ---------------------------------------------------------------------------------------------------------------
// The exec block and the rest of the user entry

/** The exec block of a user entry, as kubectl would run it. */
export interface ExecConfig {
  command: string;
  args: string[];
  /** Names and values; values are secrets as far as doctor is concerned and are never printed. */
  env: { name: string; value: string }[];
  apiVersion: string;
  /** As written; for v1beta1 an absent mode means IfAvailable. */
  interactiveMode?: string;
}

const EXEC_KEYS = [
  "command",
  "args",
  "env",
  "apiVersion",
  "installHint",
  "provideClusterInfo",
  "interactiveMode",
];
const INTERACTIVE_MODES = ["Never", "IfAvailable", "Always"];

/**
 * Checks the exec block the way kubectl's kubeconfig validation does: a command, a supported apiVersion, and for
 * v1 an interactiveMode (kubectl refuses a v1 exec block without one).
 */
export function checkExecBlock(
  user: Record<string, unknown>,
  userName: string,
): { result: CheckResult; exec?: ExecConfig } {
  const name = "exec block";
  const fixSet =
    "point the user at the broker with: kubectl credentials-broker kubeconfig set --user " +
    userName + " ...";
  const exec = user.exec;
  if (exec === undefined || exec === null) {
    return { result: result(name, "fail", `user "${userName}" has no exec block`, fixSet) };
  }
  if (!isRecord(exec)) {
    return {
      result: result(name, "fail", `exec of user "${userName}" is not a mapping`, fixSet),
    };
  }
  const errors: string[] = [];
  const warnings: string[] = [];
  const command = exec.command;
  if (typeof command !== "string" || command.trim() === "") {
    errors.push("exec.command is missing or empty");
  }
  const args: string[] = [];
  if (exec.args !== undefined && exec.args !== null) {
    if (!Array.isArray(exec.args)) errors.push("exec.args is not a list");
    else {
      exec.args.forEach((arg, i) => {
        if (typeof arg === "string") args.push(arg);
        else errors.push(`exec.args[${i}] is ${kindOf(arg)}, not a string; quote it`);
      });
    }
  }
  const env: ExecConfig["env"] = [];
  if (exec.env !== undefined && exec.env !== null) {
    if (!Array.isArray(exec.env)) errors.push("exec.env is not a list of {name, value}");
    else {
      exec.env.forEach((entry, i) => {
        if (!isRecord(entry) || typeof entry.name !== "string" || entry.name === "") {
          errors.push(`exec.env[${i}] has no name`);
        } else if (entry.value !== undefined && typeof entry.value !== "string") {
          // Say which variable, never what its value is.
          errors.push(`exec.env ${entry.name} has a value that is not a string; quote it`);
        } else env.push({ name: entry.name, value: (entry.value as string | undefined) ?? "" });
      });
    }
  }
  const apiVersion = exec.apiVersion;
  if (typeof apiVersion !== "string" || apiVersion === "") {
    errors.push(`exec.apiVersion is missing; use ${V1}`);
  } else if (!SUPPORTED_API_VERSIONS.includes(apiVersion)) {
    errors.push(
      `exec.apiVersion ${JSON.stringify(apiVersion)} is not supported (use ${V1} or ${V1BETA1}${
        apiVersion.endsWith("/v1alpha1") ? "; v1alpha1 was removed in Kubernetes 1.24" : ""
      })`,
    );
  }
  const mode = exec.interactiveMode;
  if (mode === undefined || mode === null || mode === "") {
    if (apiVersion === V1) {
      errors.push("exec.interactiveMode is missing, which kubectl refuses for apiVersion v1");
    }
  } else if (typeof mode !== "string" || !INTERACTIVE_MODES.includes(mode)) {
    errors.push(
      `exec.interactiveMode ${JSON.stringify(mode)} is invalid: use ${
        INTERACTIVE_MODES.join(", ")
      }`,
    );
  } else if (mode === "Always") {
    warnings.push(
      "interactiveMode Always makes kubectl fail whenever its stdin is not a terminal (scripts, IDEs); " +
        "IfAvailable hands the terminal over when there is one",
    );
  }
  const unknown = Object.keys(exec).filter((key) => !EXEC_KEYS.includes(key));
  if (unknown.length > 0) {
    warnings.push(`exec has fields kubectl ignores: ${unknown.join(", ")} (a typo?)`);
  }
  const parsed: ExecConfig | undefined = errors.length === 0
    ? {
      command: command as string,
      args,
      env,
      apiVersion: apiVersion as string,
      interactiveMode: typeof mode === "string" && mode !== "" ? mode : undefined,
    }
    : undefined;
  if (errors.length > 0) {
    return {
      result: result(
        name,
        "fail",
        errors.join("; "),
        "fix the exec block, or rewrite it with: kubectl credentials-broker kubeconfig set --user " +
          userName + " ...",
      ),
    };
  }
  const summary = `apiVersion ${(apiVersion as string).replace(/^.*\//, "")}, interactiveMode ${
    parsed!.interactiveMode ?? "IfAvailable (default)"
  }${env.length > 0 ? `, env ${env.map((e) => e.name).join(", ")}` : ""}`;
  if (warnings.length > 0) {
    return {
      result: result(name, "warn", `${summary}; ${warnings.join("; ")}`),
      exec: parsed,
    };
  }
  return { result: result(name, "pass", summary), exec: parsed };
}

/** Finds fields next to exec that make client-go skip the plugin, or auth-provider, which kubectl refuses. */
export function checkCompetingCredentials(
  user: Record<string, unknown>,
  userName: string,
): CheckResult {
  const name = "no competing credentials";
  const found = STATIC_CREDENTIAL_KEYS.filter((key) =>
    user[key] !== undefined && user[key] !== null
  );
  if (found.length === 0) return result(name, "pass", "the user entry only has exec");
  const provider = found.includes("auth-provider");
  return result(
    name,
    "fail",
    `user "${userName}" also has ${found.join(", ")}: ${
      provider
        ? "kubectl refuses auth-provider together with exec"
        : "kubectl uses that instead of calling the plugin"
    }`,
    `remove ${
      found.join(", ")
    } from the user (kubectl credentials-broker kubeconfig set does it for you)`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Executables

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

/** How the exec block invokes the broker, if it does. */
export type BrokerInvocation = "kubectl" | "direct" | "other";

/** Whether exec.command is kubectl (then args start with the plugin name), the broker itself, or something else. */
export function brokerInvocation(command: string): BrokerInvocation {
  const base = basename(command, HOST_OS).replace(/\.exe$/i, "");
  if (/^kubectl(\.\d+(\.\d+)*)?$/.test(base)) return "kubectl";
  if (base === "kubectl-credentials_broker") return "direct";
  return "other";
}

/** Parses the stored broker arguments exactly as the plugin will, and flags relative paths. */
export function checkBrokerArgs(
  exec: ExecConfig,
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
    const { values, positionals } = parseFlags(args, BROKER_FLAGS);
    if (positionals.length > 0) {
      throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    }
    options = brokerOptionsFromFlags(values);
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
  ].filter(([, path]) => path !== undefined && !isAbsolute(path, HOST_OS)).map(([flag]) => flag);
  const summary = `${credentials}, before-exec policy ${options.beforeExecPolicy}, refresh margin ${
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

// ---------------------------------------------------------------------------------------------------------------
// Credential files

/** One credential file as found: `error` when it could not be read, else its bytes and mode. */
export interface FileFacts {
  path: string;
  error?: "missing" | "denied" | "folder" | string;
  /** Completes "<path> ..." for any other error (lib/shared/read_file.ts's words): "is a named pipe (FIFO), ...". */
  message?: string;
  bytes?: Uint8Array;
  /** Permission bits, when the platform has them. */
  mode?: number;
}

/** How the broker will get new files: decides whether a missing or expired file is fatal right now. */
export interface RenewalContext {
  /** A before-exec command is configured. */
  renewer: boolean;
  /** It has already run during this doctor call (the files were read after the run). */
  ran: boolean;
  marginMs: number;
}

function fileAccess(
  what: string,
  file: FileFacts,
  renewal: RenewalContext,
): CheckResult | undefined {
  const renewLater = renewal.renewer && !renewal.ran;
  switch (file.error) {
    case undefined:
      break;
    case "missing":
      return renewLater
        ? result(
          what,
          "warn",
          `${file.path} does not exist yet; the before-exec command must create it`,
        )
        : result(
          what,
          "fail",
          `${file.path} does not exist`,
          renewal.renewer
            ? "the before-exec command ran but did not write it: check where it writes"
            : "create it, or fix the path in exec.args",
        );
    case "denied":
      return result(
        what,
        "fail",
        `${file.path} cannot be read: permission denied`,
        `make it readable by you: chmod u+r ${file.path}`,
      );
    case "folder":
      return result(what, "fail", `${file.path} is a folder, not a file`, "fix the path");
    case "not-regular":
      return result(
        what,
        "fail",
        `${file.path} ${file.message ?? "is not a regular file"}`,
        "point the flag at a regular file",
      );
    default:
      return result(
        what,
        "fail",
        `${file.path} ${file.message ?? `cannot be read (${file.error})`}`,
      );
  }
  if (!file.bytes || !/[^\s]/.test(new TextDecoder().decode(file.bytes.subarray(0, 4096)))) {
    return renewLater
      ? result(what, "warn", `${file.path} is empty; the before-exec command must fill it`)
      : result(what, "fail", `${file.path} is empty`);
  }
  return undefined;
}

/** Key and token files should be readable by their owner only; the broker warns on every call otherwise. */
export function checkPermissions(what: string, file: FileFacts): CheckResult {
  const name = `${what} permissions`;
  if (file.mode === undefined || file.error) {
    return result(name, "skip", "no permissions to check");
  }
  const mode = (file.mode & 0o777).toString(8).padStart(4, "0");
  if ((file.mode & 0o077) !== 0) {
    return result(
      name,
      "warn",
      `${file.path} is mode ${mode}: other users can read it`,
      `chmod 600 ${file.path}`,
    );
  }
  return result(name, "pass", `mode ${mode}`);
}

/** Checks the certificate file, the key file and that they belong together; for the leaf: names and validity. */
export async function checkCertificateAndKey(
  cert: FileFacts,
  key: FileFacts,
  now: Date,
  renewal: RenewalContext,
): Promise<CheckResult[]> {
  let certResult = fileAccess("client certificate", cert, renewal);
  let certificates: Certificate[] | undefined;
  if (!certResult) {
    try {
      const blocks = parsePem(new TextDecoder().decode(cert.bytes)).filter((b) =>
        b.label === "CERTIFICATE"
      );
      if (blocks.length === 0) {
        throw new PemError("holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
      }
      certificates = blocks.map((block) => parseCertificate(block.der));
    } catch (error) {
      if (!(error instanceof PemError || error instanceof DerError)) throw error;
      certResult = result(
        "client certificate",
        "fail",
        `${cert.path}: ${
          error instanceof DerError ? `malformed certificate (${error.message})` : error.message
        }`,
        "check what writes the file: it must hold PEM certificates, the client certificate first",
      );
    }
  }
  let keyResult = fileAccess("client key", key, renewal);
  let privateKey: PrivateKey | undefined;
  if (!keyResult) {
    try {
      const blocks = parsePem(new TextDecoder().decode(key.bytes)).filter((b) =>
        b.label.endsWith("PRIVATE KEY")
      );
      if (blocks.length !== 1) {
        throw new KeyError(
          blocks.length === 0
            ? "holds no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
            : `holds ${blocks.length} private keys; expected one`,
        );
      }
      privateKey = await parsePrivateKey(blocks[0]!);
      keyResult = result("client key", "pass", `${key.path}: ${privateKey.type}`);
    } catch (error) {
      if (!(error instanceof PemError || error instanceof KeyError)) throw error;
      keyResult = result("client key", "fail", `${key.path}: ${error.message}`);
    }
  }
  const keyPermissions = key.error ? [] : [checkPermissions("client key", key)];
  if (!certificates) return [certResult!, keyResult, ...keyPermissions];
  let leafIndex = 0;
  let match: CheckResult[] = [];
  if (privateKey) {
    const index = certificates.findIndex((c) => samePublicKey(c.publicKey, privateKey.publicKey));
    if (index === -1) {
      match = [result(
        "key matches certificate",
        "fail",
        `the key in ${key.path} (${privateKey.type}) does not match ${
          certificates.length === 1
            ? "the certificate"
            : `any of the ${certificates.length} certificates`
        } in ${cert.path}`,
        "the certificate and key come from different renewals: renew both together",
      )];
    } else {
      leafIndex = index;
      match = [result(
        "key matches certificate",
        "pass",
        `${privateKey.type}${
          certificates.length > 1 ? `, certificate ${index + 1} of ${certificates.length}` : ""
        }`,
      )];
    }
  }
  const leaf = certificates[leafIndex]!;
  // Names and dates are public parts of a certificate (the server sees them on every handshake).
  certResult = result(
    "client certificate",
    "pass",
    `${cert.path}: subject ${leaf.subject || "(empty)"}, issuer ${leaf.issuer || "(empty)"}${
      certificates.length > 1 ? `, ${certificates.length - 1} more in the chain` : ""
    }`,
  );
  return [
    certResult,
    checkExpiry(
      "certificate expiry",
      { certificate: { path: cert.path, chain: [leaf] } },
      leaf.notAfter,
      now,
      renewal,
    ),
    keyResult,
    ...keyPermissions,
    ...match,
  ];
}

/**
 * How long a credential stays valid, by the plugin's own rule (lib/credentials/credentials.ts `expiryProblems`: NotBefore and
 * a JWT's nbf, expiry, the refresh margin capped by the lifetime); doctor adds how long ago or how soon, and
 * whether a renewal is there to fix it. `credentials` holds the one credential judged.
 */
export function checkExpiry(
  name: string,
  credentials: Credentials,
  expiry: Date | undefined,
  now: Date,
  renewal: RenewalContext,
): CheckResult {
  const problem = expiryProblems(credentials, now, renewal.marginMs)[0];
  const renewLater = renewal.renewer && !renewal.ran;
  if (problem?.kind === "not-yet-valid") {
    // The plugin renews it when it can, and refuses it otherwise.
    return renewLater
      ? result(name, "warn", `${problem.message}; the before-exec command must renew it`)
      : result(
        name,
        "fail",
        problem.message,
        "compare this machine's clock (date -u) with the issuer's, or renew it",
      );
  }
  if (!expiry) return result(name, "pass", "no expiry");
  const at = formatTimestamp(expiry);
  const left = expiry.getTime() - now.getTime();
  if (problem?.kind === "expired") {
    if (renewLater) {
      return result(
        name,
        "warn",
        `expired at ${at} (${formatLeft(-left)} ago); the before-exec command must renew it`,
      );
    }
    return result(
      name,
      "fail",
      `expired at ${at} (${formatLeft(-left)} ago)`,
      renewal.renewer
        ? "the before-exec command ran but did not renew it: check what it writes and where"
        : "renew it, or set --before-exec-command to renew it automatically",
    );
  }
  if (problem?.kind === "expiring") {
    return result(
      name,
      "warn",
      `${problem.message}, in ${formatLeft(left)}`,
      renewal.renewer ? undefined : "renew it soon",
    );
  }
  return result(name, "pass", `valid until ${at} (${formatLeft(left)} left)`);
}

/** Checks the token file as the broker reads it, and the expiry of a JWT (never the token itself). */
export function checkToken(file: FileFacts, now: Date, renewal: RenewalContext): CheckResult[] {
  const permissions = file.error ? [] : [checkPermissions("token", file)];
  const access = fileAccess("token", file, renewal);
  if (access) return [access, ...permissions];
  let value: string;
  try {
    value = new TextDecoder("utf-8", { fatal: true }).decode(file.bytes);
  } catch {
    return [result("token", "fail", `${file.path} is not UTF-8 text`), ...permissions];
  }
  // As the plugin reads it: client-go trims all surrounding white space from a token file.
  value = goTrimSpace(value);
  const fail = (why: string) => [
    result(
      "token",
      "fail",
      `${file.path} ${why}`,
      "the file must hold the token alone on one line",
    ),
    ...permissions,
  ];
  if (value.trim() === "") return fail("holds only white space");
  if (/[\r\n]/.test(value)) return fail("holds more than one line");
  // deno-lint-ignore no-control-regex -- control characters are exactly what this looks for
  const bad = value.search(/[\s\x00-\x1f\x7f]/);
  if (bad !== -1) {
    return fail(`contains white space or a control character at position ${bad + 1}`);
  }
  const times = jwtTimes(value);
  const expiry = times.expiry;
  const results = [
    result(
      "token",
      "pass",
      `${file.path}: ${
        expiry ? "JWT" : "opaque token, expiry unknown"
      } (${value.length} characters)`,
    ),
    ...permissions,
  ];
  if (expiry || times.notBefore) {
    const token = { path: file.path, value, ...times };
    results.push(checkExpiry("token expiry", { token }, expiry, now, renewal));
  }
  return results;
}

// ---------------------------------------------------------------------------------------------------------------
// The real run

/** What one run of the exec command as kubectl runs it produced. */
export interface RunFacts {
  command: string;
  durationMs: number;
  /** Exit code; undefined when it could not start or was stopped. */
  code?: number;
  signal?: string;
  startError?: string;
  timedOut?: boolean;
  timeoutMs?: number;
  stdout: string;
  stderr: string;
  /** Something the command started still held its stdout after it exited: kubectl waits for that to close. */
  stdoutHeld?: boolean;
  /** The command is the broker (directly or through kubectl), so its last stderr lines may be its own report. */
  broker?: boolean;
  /** The run repeated by hand, secrets left out (`manualCommandLine`). */
  commandLine?: string;
}

/**
 * The broker's own report of a failed run: its final `error:` line and the `hint:` line after it, when they end
 * stderr. Nothing else is the broker's for sure: the renewal command writes to the same stderr, before the report,
 * and may print anything, `error:` lines with secrets in them included.
 */
export function brokerReport(stderr: string): string[] {
  const lines = stderr.split("\n");
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const last = lines[lines.length - 1];
  const before = lines[lines.length - 2];
  if (last?.startsWith("error: ")) return [last];
  if (last?.startsWith("hint: ") && before?.startsWith("error: ")) return [before, last];
  return [];
}

/**
 * Judges one run: exit 0 and stdout holding exactly one ExecCredential of the configured apiVersion with usable
 * credentials. Of stderr only the broker's own closing report is quoted (`brokerReport`), never the command's
 * output; the fix gives the command line to see all of it by hand.
 */
export function checkRun(run: RunFacts, apiVersion: string): CheckResult {
  const name = "broker run";
  const took = formatMs(run.durationMs);
  const own = run.broker && run.code !== undefined ? brokerReport(run.stderr) : [];
  const quoted = own.length > 0 ? `: ${own.join(" / ")}` : "";
  const byHand = run.commandLine
    ? `run it by hand to see its full output (fill in the <hidden> values from the kubeconfig): ${run.commandLine}`
    : "run the exec command by hand to see its full output";
  if (run.startError) {
    return result(name, "fail", `${run.command} could not start: ${run.startError}`);
  }
  if (run.timedOut) {
    return result(
      name,
      "fail",
      `${run.command} did not finish within ${formatDuration(run.timeoutMs ?? 0)} and was stopped`,
      "an interactive before-exec command waits for input kubectl may not give it; raise --timeout or --skip-run" +
        (run.commandLine ? `, or run it by hand: ${run.commandLine}` : ""),
    );
  }
  if (run.code !== 0) {
    return result(
      name,
      "fail",
      `${run.command} ${
        run.signal ? `was killed by ${run.signal}` : `failed with exit code ${run.code}`
      } after ${took}${quoted}`,
      byHand,
    );
  }
  const failed = (why: string) =>
    result(
      name,
      "fail",
      `${run.command} exited 0 after ${took}, but ${why}`,
      `kubectl reads stdout as one ExecCredential: nothing else may be printed there; ${byHand}`,
    );
  const text = run.stdout.trim();
  if (text === "") return failed("printed nothing on stdout");
  let output: unknown;
  try {
    output = JSON.parse(text);
  } catch {
    // The parser's message quotes the input, which is credentials: give only its size.
    return failed(`stdout (${run.stdout.length} bytes) is not one JSON object`);
  }
  if (!isRecord(output)) return failed(`stdout is JSON ${kindOf(output)}, not an object`);
  if (output.kind !== "ExecCredential") return failed("stdout is not an ExecCredential");
  if (output.apiVersion !== apiVersion) {
    return failed(
      `the ExecCredential has apiVersion ${
        JSON.stringify(output.apiVersion ?? null)
      }, not ${apiVersion} as exec.apiVersion says`,
    );
  }
  const status = output.status;
  if (!isRecord(status)) return failed("the ExecCredential has no status");
  const present = (key: string) => typeof status[key] === "string" && status[key] !== "";
  const cert = present("clientCertificateData");
  const key = present("clientKeyData");
  if (cert !== key) {
    return failed(
      `the ExecCredential has a client ${cert ? "certificate" : "key"} without the other`,
    );
  }
  if (!cert && !present("token")) return failed("the ExecCredential holds no credentials");
  const parts = [cert && "client certificate and key", present("token") && "token"].filter(
    Boolean,
  );
  let expires = "no expirationTimestamp";
  if (status.expirationTimestamp !== undefined) {
    const stamp = status.expirationTimestamp;
    const time = typeof stamp === "string" ? Date.parse(stamp) : NaN;
    if (Number.isNaN(time)) return failed("expirationTimestamp is not an RFC 3339 time");
    expires = `expirationTimestamp ${stamp}`;
  }
  const summary = `${run.command} exited 0 in ${took}: one ${
    apiVersion.replace(/^.*\//, "")
  } ExecCredential with ${parts.join(" and ")}, ${expires}`;
  if (run.stdoutHeld) {
    return result(
      name,
      "warn",
      `${summary}; a process it started kept its stdout open after it exited, and kubectl waits until that closes`,
      "start background processes with their output redirected (e.g. > /dev/null 2>&1 &)",
    );
  }
  return result(name, "pass", summary);
}

// ---------------------------------------------------------------------------------------------------------------
// Gathering facts (I/O) and the command

/** The report of one doctor call. */
export interface DoctorReport {
  ok: boolean;
  kubeconfig?: string;
  context?: string;
  user?: string;
  checks: CheckResult[];
}

/** Where doctor finds the files, PATH and processes; tests point it at temp folders. */
export interface DoctorHost {
  env(name: string): string | undefined;
  cwd(): string;
  now(): Date;
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

/**
 * Reads a credential file as the plugin does (lib/shared/read_file.ts): a FIFO, a device or a huge file is a failed check
 * naming the file, never a hang.
 */
function readFacts(path: string): FileFacts {
  try {
    const bytes = readRegularFileSync(path, CREDENTIAL_FILE_LIMIT);
    let mode: number | undefined;
    try {
      mode = Deno.statSync(path).mode ?? undefined;
    } catch {
      // Gone since the read: the bytes are what counts.
    }
    return { path, bytes, mode };
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    if (error.kind === "missing") return { path, error: "missing" };
    if (error.kind === "unreadable" && /permission denied/.test(error.message)) {
      return { path, error: "denied" };
    }
    return { path, error: error.kind, message: error.message };
  }
}

/** What KUBERNETES_EXEC_INFO holds for a non-interactive run of `apiVersion`, as kubectl sets it. */
function execInfo(apiVersion: string): string {
  return JSON.stringify({ kind: "ExecCredential", apiVersion, spec: { interactive: false } });
}

/** How long a stopped run gets between SIGTERM and SIGKILL (the broker forwards SIGTERM to its renewal). */
const KILL_GRACE_MS = 2000;
/** How long output already written is collected after the command exited; a process it left may hold the pipes. */
const DRAIN_MS = 200;
/** Output kept per stream; more is read and dropped, so a runaway command cannot grow memory. */
const OUTPUT_LIMIT = 4 * 1024 * 1024;

/**
 * Runs the exec command once as kubectl would: exec env over ours, KUBERNETES_EXEC_INFO, stdin /dev/null. It
 * returns within the timeout (plus the kill grace) whatever the command leaves behind: the command runs in a
 * process group of its own, which the timeout stops as a whole, and the output is not awaited to its end once
 * the command has exited (a background child it left may hold the pipes for as long as it lives).
 */
export async function runExecOnce(options: {
  executable: string;
  exec: ExecConfig;
  cwd: string;
  timeoutMs: number;
}): Promise<RunFacts> {
  const env: Record<string, string> = {};
  for (const { name, value } of options.exec.env) env[name] = value;
  env.KUBERNETES_EXEC_INFO = execInfo(options.exec.apiVersion);
  const start = performance.now();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(options.executable, {
      args: options.exec.args,
      env,
      cwd: options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: true,
    }).spawn();
  } catch (error) {
    return {
      command: options.exec.command,
      durationMs: performance.now() - start,
      startError: error instanceof Error ? error.name : String(error),
      stdout: "",
      stderr: "",
    };
  }
  const stdout = collect(child.stdout);
  const stderr = collect(child.stderr);
  let timedOut = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    stopProcess(child.pid, { tree: true, force: false });
    killTimer = setTimeout(
      () => stopProcess(child.pid, { tree: true, force: true }),
      KILL_GRACE_MS,
    );
  }, options.timeoutMs);
  let status: Deno.CommandStatus;
  try {
    status = await child.status;
  } finally {
    clearTimeout(timer);
    clearTimeout(killTimer);
  }
  const durationMs = performance.now() - start;
  if (timedOut) stopProcess(child.pid, { tree: true, force: true });
  let drained = false;
  let drainTimer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all([stdout.done, stderr.done]).then(() => drained = true),
    new Promise((resolve) => drainTimer = setTimeout(resolve, DRAIN_MS)),
  ]);
  clearTimeout(drainTimer);
  // What the command left in its group still holds the pipes: stop it, as kubectl's user would have to.
  if (!drained) stopProcess(child.pid, { tree: true, force: false });
  const stdoutHeld = !stdout.ended();
  await Promise.all([stdout.cancel(), stderr.cancel()]);
  return {
    command: options.exec.command,
    durationMs,
    code: status.signal ? undefined : status.code,
    signal: status.signal ?? undefined,
    timedOut,
    timeoutMs: options.timeoutMs,
    stdout: stdout.text(),
    stderr: stderr.text(),
    stdoutHeld: stdoutHeld && !timedOut,
  };
}

/** Reads a stream in the background, keeping up to OUTPUT_LIMIT bytes, until it ends or is cancelled. */
function collect(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let ended = false;
  const done = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (kept < OUTPUT_LIMIT) {
          chunks.push(value.subarray(0, OUTPUT_LIMIT - kept));
          kept += Math.min(value.length, OUTPUT_LIMIT - kept);
        }
      }
      ended = true;
    } catch {
      // Cancelled.
    }
  })();
  return {
    done,
    ended: () => ended,
    cancel: async () => {
      await reader.cancel().catch(() => {});
      await done;
    },
    text: () => {
      const bytes = new Uint8Array(kept);
      let at = 0;
      for (const chunk of chunks) {
        bytes.set(chunk, at);
        at += chunk.length;
      }
      return new TextDecoder().decode(bytes);
    },
  };
}

/**
 * The command line that repeats doctor's run by hand, with nothing secret in it: env values and the renewal
 * command's arguments become placeholders, and a command that is not the broker keeps its arguments to itself.
 */
export function manualCommandLine(executable: string, exec: ExecConfig): string {
  const env = [
    `KUBERNETES_EXEC_INFO=${quoteWord(execInfo(exec.apiVersion))}`,
    ...exec.env.map(({ name }) =>
      /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `${name}=${HIDDEN}` : quoteWord(`${name}=<hidden>`)
    ),
  ];
  let args: string[];
  if (brokerInvocation(exec.command) === "other") {
    args = exec.args.length > 0 ? [`<${exec.args.length} exec.args hidden>`] : [];
  } else {
    args = [];
    for (let i = 0; i < exec.args.length; i++) {
      const arg = exec.args[i]!;
      if (arg.startsWith("--before-exec-command=")) {
        args.push(`--before-exec-command=${hideArguments(arg.slice(arg.indexOf("=") + 1))}`);
      } else if (arg === "--before-exec-command" && i + 1 < exec.args.length) {
        args.push(arg, hideArguments(exec.args[++i]!));
      } else args.push(arg);
    }
  }
  return `env ${env.join(" ")} ${[executable, ...args].map(quoteWord).join(" ")} </dev/null`;
}

const HIDDEN = "'<hidden>'";

/** A renewal command line with only its program kept: its arguments often hold secrets (role ids, passwords). */
function hideArguments(line: string): string {
  try {
    const argv = splitCommandLine(line);
    return argv.length <= 1 ? line : `${quoteWord(argv[0]!)} <arguments hidden>`;
  } catch {
    return "<hidden>";
  }
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
  if (!exec) return checks;
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
      checkPluginExecutable(lookupExecutable("kubectl-credentials_broker", host.cwd(), env)),
    );
  }
  const { result: argsResult, options } = checkBrokerArgs(exec);
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
      renewer: options.beforeExecCommand !== undefined,
      ran,
      marginMs: options.refreshMarginMs,
    };
    const cwd = host.cwd();
    const absolute = (p: string) => resolvePath(p, cwd, HOST_OS);
    const now = host.now();
    if (options.clientCertificatePath && options.clientKeyPath) {
      const cert = readFacts(absolute(options.clientCertificatePath));
      const key = readFacts(absolute(options.clientKeyPath));
      checks.push(...await checkCertificateAndKey(cert, key, now, renewal));
    }
    if (options.tokenPath) {
      checks.push(...checkToken(readFacts(absolute(options.tokenPath)), now, renewal));
    }
  }
  checks.push(run);
  return checks;
}

/** `kubectl credentials-broker doctor`: prints one line per check; exit 0 when nothing failed, 1 otherwise. */
export async function doctorCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(argv, [...DOCTOR_FLAGS, HELP_FLAG]);
  if (values.get("help")) {
    await io.stdout(
      `Usage: kubectl credentials-broker doctor [flags]

Checks the kubeconfig user of the current context (or --context / --user) the way kubectl uses it: the exec
block, fields that stop kubectl from calling the plugin, the exec and before-exec commands, each credential file,
and one real run of the broker. Prints no secrets. Exit code 0 when nothing failed, 1 otherwise.

Flags:
${formatFlagHelp([...DOCTOR_FLAGS, HELP_FLAG])}
`,
    );
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, {
      hint: "see kubectl credentials-broker doctor --help",
    });
  }
  const output = (values.get("output") as string | undefined) ?? "text";
  if (output !== "text" && output !== "json") {
    throw new UsageError(`invalid --output ${JSON.stringify(output)}: use text or json`);
  }
  const timeoutText = values.get("timeout") as string | undefined;
  const timeoutMs = timeoutText === undefined
    ? DEFAULT_RUN_TIMEOUT_MS
    : parseDuration(timeoutText, "--timeout");
  if (timeoutMs <= 0) throw new UsageError(`--timeout must be longer than 0, got ${timeoutText}`);
  const report: DoctorReport = { ok: false, checks: [] };
  try {
    const entry = await loadUserEntry({
      explicit: values.get("kubeconfig") as string | undefined,
      context: values.get("context") as string | undefined,
      user: values.get("user") as string | undefined,
      env: io.env,
      cwd: io.cwd(),
    });
    report.kubeconfig = entry.file;
    report.context = entry.context;
    report.user = entry.name;
    report.checks = await diagnose(entry, io, {
      skipRun: values.get("skip-run") === true,
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
    output === "json"
      ? JSON.stringify(
        {
          ok: report.ok,
          kubeconfig: report.kubeconfig,
          context: report.context,
          user: report.user,
          checks: report.checks,
        },
        null,
        2,
      ) + "\n"
      : formatReport(report, io.stdoutColor),
  );
  return report.ok ? 0 : 1;
}

const MARKS: Record<CheckStatus, { unicode: string; ascii: string; color: string }> = {
  pass: { unicode: "✓", ascii: "[ok]  ", color: "\x1b[32m" },
  warn: { unicode: "!", ascii: "[warn]", color: "\x1b[33m" },
  fail: { unicode: "✗", ascii: "[FAIL]", color: "\x1b[31m" },
  skip: { unicode: "-", ascii: "[skip]", color: "\x1b[2m" },
};

/** The report for people: one line per check, a fix line under each failure or warning, then a summary. */
export function formatReport(report: DoctorReport, terminal: boolean): string {
  const width = Math.max(...report.checks.map((check) => check.check.length));
  let out = "";
  for (const check of report.checks) {
    const mark = MARKS[check.status];
    const shown = terminal ? `${mark.color}${mark.unicode}\x1b[0m` : mark.ascii;
    out += `${shown} ${check.check.padEnd(width)}  ${check.detail}\n`;
    if (check.fix && check.status !== "pass") {
      out += `${" ".repeat(terminal ? 2 : 7)}${" ".repeat(width + 2)}fix: ${check.fix}\n`;
    }
  }
  const count = (status: CheckStatus) => report.checks.filter((c) => c.status === status).length;
  const failed = count("fail");
  const warned = count("warn");
  out += failed > 0
    ? `\n${failed} check${failed === 1 ? "" : "s"} failed${
      warned ? `, ${warned} warning${warned === 1 ? "" : "s"}` : ""
    }\n`
    : `\nall checks passed${warned ? ` (${warned} warning${warned === 1 ? "" : "s"})` : ""}\n`;
  return out;
}

function formatLeft(ms: number): string {
  if (ms >= 2 * DAY) {
    const days = Math.floor(ms / DAY);
    const hours = Math.floor((ms % DAY) / 3_600_000);
    return `${days}d${hours ? `${hours}h` : ""}`;
  }
  // Minutes are precise enough past an hour, and read better than "23h59m59s".
  const unit = ms >= 3_600_000 ? 60_000 : 1000;
  return formatDuration(Math.max(1000, Math.floor(ms / unit) * unit));
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `a ${typeof value}`;
}

function statOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch {
    return null;
  }
}
