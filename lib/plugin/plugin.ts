import {
  BROKER_FLAGS,
  brokerArgs,
  type BrokerOptions,
  brokerOptionsFromFlags,
  ISSUANCE_MODULE,
  type IssuerSources,
  resolveBrokerPaths,
} from "./broker_options.ts";
import { readOptionalTextFileSync } from "../shared/read_file.ts";
import { splitCommandLine } from "../shared/command_line.ts";
import { COMMANDS_HINT, commandUsageLines } from "../shared/command_list.ts";
import {
  type CredentialPaths,
  type Credentials,
  expiryProblems,
  type Problem,
  readCredentials,
  type Reading,
  refreshAt,
  validities,
} from "../credentials/credentials.ts";
import { formatTimestamp } from "../shared/duration.ts";
import { CliError, CredentialError, UsageError } from "../shared/errors.ts";
import {
  buildExecCredential,
  type ExecInfo,
  parseExecInfo,
} from "../credentials/exec_credential.ts";
import { type FlagSpec, formatFlagHelp, HELP_FLAG, parseArgs } from "../shared/flags.ts";
import type { Io } from "../shared/io.ts";
import {
  acquireLock,
  ensurePrivateDir,
  forgetRunning,
  recordRunning,
  renewalLock,
  settleLeftover,
} from "./lock.ts";
import { pluginUse } from "../shared/permissions.ts";
import { HOST_OS, hostHomeDir } from "../shared/platform.ts";
import {
  aheadDecision,
  aheadFiles,
  claimBackground,
  readAheadState,
  releaseClaim,
  renewAheadDue,
} from "./renew_ahead.ts";

const GLOBAL_FLAGS = [
  HELP_FLAG,
  { name: "version", kind: "boolean", help: "print the version" },
] as const satisfies readonly FlagSpec[];

/** Runs the exec credential plugin: what kubectl calls every time it needs credentials. */
export async function runPlugin(argv: readonly string[], io: Io): Promise<number> {
  if (argv[0] === "help") return printHelp(io);
  if (argv[0] === "version") return printVersion(io);
  if (argv[0] === BACKGROUND_RENEWAL) {
    // Started by a call inside the renew-ahead window (see renewAheadIfDue); never by kubectl.
    const { values } = parseArgs(argv.slice(1), BROKER_FLAGS);
    const options = brokerOptionsFromFlags(values, { sources: issuerSources(io) });
    io.narrow(pluginUse(options));
    const { renewInBackground } = await import("./background_renewal.ts");
    return await renewInBackground(options, io);
  }
  const { values, positionals } = parseArgs(argv, [...BROKER_FLAGS, ...GLOBAL_FLAGS]);
  if (values.help) return printHelp(io);
  if (values.version) return printVersion(io);
  if (positionals.length > 0) {
    throw new UsageError(`unknown command or argument ${JSON.stringify(positionals[0])}`, {
      hint: COMMANDS_HINT,
    });
  }
  const options = brokerOptionsFromFlags(values, { sources: issuerSources(io) });
  // The network only with --issuer; writing, running and the lock folder's owner check only to renew.
  io.narrow(pluginUse(options));
  const info = parseExecInfo(io.env("KUBERNETES_EXEC_INFO"));
  const result = await obtainCredentials(options, info, io);
  for (const warning of result.warnings) await io.stderr(`warning: ${warning}\n`);
  // Typed by hand to see what happens: the ExecCredential holds the private key and token, which have no business
  // in a terminal's scrollback. kubectl and every client library read stdout through a pipe, so they never get here.
  if (io.stdoutIsTerminal) {
    await io.stdout(describeCredential(info.apiVersion, result.credentials, result.expiration));
    return 0;
  }
  await io.stdout(result.output);
  return 0;
}

/**
 * Where the defaults of absent issuer flags come from in the plugin: its environment (VAULT_ADDR...), step's
 * defaults file, the home folder. Asked only when --issuer is given, and only for flags that are absent.
 */
export function issuerSources(io: Pick<Io, "env">): IssuerSources {
  return {
    env: io.env,
    home: () => hostHomeDir(io.env),
    readFile: (path) => readOptionalTextFileSync(path),
  };
}

/** What the plugin would send, for a person at a terminal: kinds, subject, expiry; never key or token bytes. */
export function describeCredential(
  apiVersion: string,
  credentials: Credentials,
  expiration: Date | undefined,
): string {
  const lines = [`apiVersion: ${apiVersion}`];
  const certificate = credentials.certificate?.chain[0];
  if (certificate) {
    const more = credentials.certificate!.chain.length - 1;
    lines.push(
      `client certificate: ${certificate.subject}${
        more > 0 ? ` (and ${more} intermediate${more > 1 ? "s" : ""})` : ""
      }, expires ${formatTimestamp(certificate.notAfter)}`,
    );
  }
  if (credentials.key) lines.push(`client key: ${credentials.key.key.type}`);
  if (credentials.token) {
    const expiry = credentials.token.expiry;
    lines.push(
      expiry ? `token: JWT, expires ${formatTimestamp(expiry)}` : "token: opaque, no expiry",
    );
  }
  lines.push(
    expiration
      ? `kubectl is told to ask again at ${formatTimestamp(expiration)}`
      : "kubectl is told no expiry: it keeps these for the life of its process",
  );
  return `The credentials are good; not printed, since stdout is a terminal and they hold secrets.
kubectl would get an ExecCredential with:
${lines.map((line) => `  ${line}`).join("\n")}
To see the exact output kubectl reads, pipe it: add | cat (it holds the key and token).
To check a kubeconfig user end to end: kubectl credentials-broker doctor
`;
}

/** The ExecCredential JSON, what it holds, and warnings for stderr. */
export async function obtainCredentials(
  options: BrokerOptions,
  info: ExecInfo,
  io: Pick<Io, "env" | "cwd" | "now" | "stderr" | "stdinIsTerminal">,
): Promise<{ output: string; warnings: string[]; credentials: Credentials; expiration?: Date }> {
  const resolved = resolveBrokerPaths(options, {
    cwd: io.cwd(),
    home: () => hostHomeDir(io.env),
    os: HOST_OS,
  });
  const paths: CredentialPaths = {
    clientCertificatePath: resolved.clientCertificatePath,
    clientKeyPath: resolved.clientKeyPath,
    tokenPath: resolved.tokenPath,
  };
  const line = options.beforeExecCommand;
  const command = line === undefined
    ? undefined
    : splitCommandLine(line, line.includes("~") ? hostHomeDir(io.env) : undefined);
  const marginMs = options.refreshMarginMs;
  // Without a command nothing here writes the files, so there is nothing to lock: such a setup needs neither a
  // home folder nor a writable one. Under when-invalid the files are read first without the lock: while they are
  // good beyond the margin no call waits, not even for a renewal running in the background. A reading taken
  // while a renewal writes fails to parse or fails the key/certificate pair check, and then the call takes the
  // lock and reads again, after the renewal.
  // With --issuer the broker itself renews, always when invalid (broker_options refuses `always`).
  const renews = command !== undefined || options.issuer !== undefined;
  let reading = renews && options.beforeExecPolicy === "when-invalid"
    ? await readCredentials(paths)
    : undefined;
  if (reading && !usable(reading, io.now(), marginMs)) reading = undefined;
  if (reading && options.renewAhead) {
    reading.warnings.push(...await renewAheadIfDue(reading.credentials, resolved, io));
  }
  if (renews) reading ??= await renewUnderLock(options, resolved, paths, command, info, io);
  reading ??= await readCredentials(paths);
  const now = io.now();
  const problems = [
    ...reading.problems,
    ...expiryProblems(reading.credentials, now, marginMs).filter((problem) =>
      // Under `always` a credential inside the margin still works (expired or not yet valid it does not); under
      // `when-invalid` the command just ran to renew it, and one that stays inside the margin would make every
      // call renew again.
      options.beforeExecPolicy === "when-invalid" || problem.kind !== "expiring"
    ),
  ];
  if (problems.length > 0) {
    throw credentialError(
      problems,
      command ? `the before-exec command ${command[0]}` : options.issuer && describeIssuer(options),
    );
  }
  // Come back a margin early (never more than a third of a credential's lifetime), so a long-lived client asks
  // again while the broker still has time to renew.
  const expiration = refreshAt(reading.credentials, now, marginMs);
  return {
    output: buildExecCredential(info.apiVersion, reading.credentials, expiration),
    warnings: reading.warnings,
    credentials: reading.credentials,
    expiration,
  };
}

/** Whether a reading can be answered with as it is: nothing wrong, nothing inside the refresh margin. */
function usable(reading: Reading, now: Date, marginMs: number): boolean {
  return reading.problems.length === 0 &&
    expiryProblems(reading.credentials, now, marginMs).length === 0;
}

/** The first argument of the detached broker a renew-ahead call starts. */
const BACKGROUND_RENEWAL = "__renew-ahead";

/**
 * Inside the renew-ahead window (valid beyond the margin, but with less than --renew-ahead left), starts one
 * renewal in a detached broker, unless one runs or a backoff after a failure does. Returns warnings for stderr.
 * Outside the window this reads nothing and starts nothing: the hot path pays one comparison.
 */
async function renewAheadIfDue(
  credentials: Credentials,
  resolved: BrokerOptions,
  io: Pick<Io, "env" | "now">,
): Promise<string[]> {
  const now = io.now();
  if (!renewAheadDue(validities(credentials), resolved.renewAhead!, now)) return [];
  // Renewing early is a convenience: the credentials in hand are good, so nothing here may fail the call. A lock
  // folder that cannot be used becomes a warning, and the renewal happens at the margin as without the flag.
  let files: ReturnType<typeof aheadFiles>;
  try {
    const { dir, name } = renewalLock(resolved, io.env);
    ensurePrivateDir(dir);
    files = aheadFiles(dir, name);
  } catch (error) {
    return [cannotRenewAhead(error)];
  }
  const decision = aheadDecision({ now, state: readAheadState(files.state), logPath: files.log });
  const warnings = decision.warning ? [decision.warning] : [];
  if (!decision.start) return warnings;
  // Of all the calls inside the window, the one that creates the claim starts the renewal; the claim goes when
  // that renewal ends, or is taken over when it is older than a renewal could possibly run.
  const staleMs = 2 * resolved.beforeExecTimeoutMs + 30_000;
  try {
    if (!claimBackground(files.claim, now, staleMs)) return warnings;
  } catch (error) {
    return [...warnings, cannotRenewAhead(error)]; // a full or read-only cache disk
  }
  // Loaded only here, as for a renewal in the foreground: the process-spawning module.
  const { selfCommand, spawnDetached } = await import("./before_exec.ts");
  if (!spawnDetached(selfCommand([BACKGROUND_RENEWAL, ...brokerArgs(resolved)]))) {
    releaseClaim(files.claim);
    warnings.push(
      "could not start a background renewal; the credentials will be renewed at the margin",
    );
  }
  return warnings;
}

/** The warning for a renew-ahead that cannot happen; anything but a CliError is a bug and stays one. */
function cannotRenewAhead(error: unknown): string {
  if (!(error instanceof CliError)) throw error;
  return `cannot renew ahead of time: ${error.message}; the credentials will be renewed at the margin`;
}

/**
 * Checks, renews and reads under the renewal lock. One broker at a time per credential set, so concurrent kubectl
 * calls renew once and never see a half-written certificate, or a certificate from one renewal next to the key of
 * another.
 */
async function renewUnderLock(
  options: BrokerOptions,
  resolved: BrokerOptions,
  paths: CredentialPaths,
  command: string[] | undefined,
  info: ExecInfo,
  io: Pick<Io, "env" | "now" | "stderr" | "stdinIsTerminal">,
): Promise<Reading> {
  const { dir, name } = renewalLock(resolved, io.env);
  using lock = await acquireLock({
    dir,
    name,
    timeoutMs: options.beforeExecTimeoutMs,
    noticeAfterMs: 2000,
    holder: "another kubectl-credentials_broker renewing the same credentials",
    onWait: () =>
      io.stderr("waiting for another kubectl-credentials_broker renewing the same credentials\n"),
  });
  // A broker killed mid-renewal leaves its command running in a session of its own: never run a second beside it.
  await settleLeftover(lock, {
    timeoutMs: options.beforeExecTimeoutMs,
    graceMs: 2000,
    onWait: (pid) =>
      io.stderr(
        `waiting for ${
          command ? `before-exec command ${command[0]}` : "the issuer's helper command"
        } (pid ${pid}), left running by a kubectl-credentials_broker that ended\n`,
      ),
  });
  let before: Reading | undefined;
  if (options.beforeExecPolicy === "when-invalid") {
    // Again under the lock: another call may have renewed while this one waited.
    before = await readCredentials(paths);
    if (usable(before, io.now(), options.refreshMarginMs)) return before;
  }
  // A client that does not say (kubectl < 1.22 hands over its stdin anyway, client-node sets nothing): the
  // terminal goes to the command only when stdin really is one, so it can prompt; never anything else.
  const interactive = info.interactive ?? io.stdinIsTerminal;
  if (!command) {
    // Loaded only now, as the command's module is: the issuer code, its drivers and the network.
    const { issueUnderLock } = await import(ISSUANCE_MODULE) as typeof import("./issuance.ts");
    const outcome = await issueUnderLock(resolved, before, interactive, io, lock);
    if (!outcome.ok) {
      throw new CliError(outcome.message, { exitCode: outcome.exitCode, hint: outcome.hint });
    }
    return await readCredentials(paths);
  }
  // Loaded only when the command runs: the skipped-renewal path is the one every kubectl call takes.
  const { runBeforeExec } = await import("./before_exec.ts");
  try {
    await runBeforeExec({
      argv: command,
      interactive,
      timeoutMs: options.beforeExecTimeoutMs,
      output: stderrStream(io),
      started: (pid, group, startedAt) =>
        recordRunning(lock, {
          pid,
          group,
          startedAt,
          deadline: startedAt + options.beforeExecTimeoutMs,
        }),
    });
  } finally {
    forgetRunning(lock);
  }
  return await readCredentials(paths);
}

/** "issuer cfssl at https://ca:8888", for messages about what the issuer gave. */
function describeIssuer(options: BrokerOptions): string {
  return `issuer ${options.issuer!.issuer} at ${options.issuer!.url}`;
}

/** `source`: "the before-exec command renew", "issuer cfssl at URL", or undefined when nothing renews. */
function credentialError(problems: Problem[], source: string | undefined): CredentialError {
  const message = problems.map((problem) => problem.message).join("; ");
  const after = source?.startsWith("issuer")
    ? `, after ${source} issued them`
    : `, after ${source} ran`;
  if (source && problems.every((problem) => problem.kind === "expiring")) {
    // Fresh credentials inside the margin: the margin, not the command, is what fails every call.
    return new CredentialError(`${message}${after}`, {
      hint: source.startsWith("issuer")
        ? "the issued certificates already fall inside the refresh margin: lower --refresh-margin, or have the issuer give longer lifetimes (--ttl, the role or profile)"
        : "the renewed credentials already fall inside the refresh margin: lower --refresh-margin, or have the command issue credentials that live longer",
    });
  }
  if (source) {
    return new CredentialError(`${message}${after}`, {
      hint: source.startsWith("issuer")
        ? "the certificate was issued and stored, but the files configured for this user are not usable; check --client-certificate-path, --client-key-path and --token-path"
        : "the command succeeded but did not produce usable credentials; check what it writes and where",
    });
  }
  return new CredentialError(message, {
    hint: "renew the credentials, or set --before-exec-command to renew them automatically",
  });
}

function stderrStream(io: Pick<Io, "stderr">): WritableStream<Uint8Array> {
  const decoder = new TextDecoder();
  return new WritableStream({
    write: (chunk) => io.stderr(decoder.decode(chunk, { stream: true })),
  });
}

async function printVersion(io: Io): Promise<number> {
  // Printing needs no permission at all.
  io.narrow("version");
  const { VERSION } = await import("../shared/version.ts");
  await io.stdout(`kubectl-credentials_broker ${VERSION}\n`);
  return 0;
}

async function printHelp(io: Io): Promise<number> {
  // Printing needs no permission at all.
  io.narrow("help");
  const { VERSION } = await import("../shared/version.ts");
  await io.stdout(
    `kubectl-credentials_broker ${VERSION}: a client-go exec credential plugin that runs a renewal
command when needed and hands kubectl a client certificate, key and/or bearer token.

Usage:
${
      commandUsageLines("kubectl credentials-broker", [
        "[flags]",
        "print an ExecCredential (what kubectl runs)",
      ])
    }

Flags:
${formatFlagHelp([...BROKER_FLAGS, ...GLOBAL_FLAGS])}

A token, or a certificate and key together, or both, are required; with --issuer the broker gets the
certificate itself (a new local key each time, only a CSR leaves the machine) and keeps it under
~/.kube/credentials-broker/ unless the paths are given. Relative paths are resolved against the working
directory kubectl runs the plugin in. Exit codes: 0 ok, 1 credentials or other failure, 2 usage, 3 before-exec
command or issuer failed or timed out, 4 gave up waiting for another renewal.
`,
  );
  return 0;
}
