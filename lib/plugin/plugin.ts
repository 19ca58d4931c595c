import {
  BACKGROUND_RENEWAL,
  BROKER_FLAGS,
  type BrokerOptions,
  brokerOptionsFromFlags,
  type IssuerSources,
  RENEWAL_MODULE,
  resolveBrokerPaths,
} from "./broker_options.ts";
import { readOptionalTextFileSync } from "../shared/read_file.ts";
import { splitCommandLine } from "../shared/command_line.ts";
import { COMMANDS_HINT, commandUsageLines } from "../shared/command_list.ts";
import {
  type CredentialPaths,
  type Credentials,
  expiryProblems,
  isUsable,
  type Problem,
  readCredentials,
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
import { pluginUse } from "../shared/permissions.ts";
import { fileUrlToPath, HOST_OS, hostHomeDir } from "../shared/platform.ts";
import { renewAheadDue } from "./renew_ahead.ts";
import type { RenewalOutcome } from "./renewal.ts";

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
    return settled(await (await renewal()).backgroundRenewal(options, io));
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
  if (reading && !isUsable(reading, io.now(), marginMs)) reading = undefined;
  if (reading && options.renewAhead) {
    // Inside the renew-ahead window (valid beyond the margin, but with less than --renew-ahead left), one renewal
    // starts in a detached broker. Outside it the hot path pays one comparison and loads nothing.
    const now = io.now();
    if (renewAheadDue(validities(reading.credentials), resolved.renewAhead!, now)) {
      reading.warnings.push(...settled(await (await renewal()).renewAhead(resolved, now, io)));
    }
  }
  if (renews) {
    reading ??= settled(
      await (await renewal()).renewUnderLock(options, resolved, paths, command, info, io),
    );
  }
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

/**
 * The renewal code (lib/plugin/renewal.ts): loaded only by a call that renews or starts a renewal, by a variable,
 * so that the installed bundle keeps it in renewal.js.
 */
async function renewal(): Promise<typeof import("./renewal.ts")> {
  try {
    return await import(RENEWAL_MODULE);
  } catch (error) {
    const path = fileUrlToPath(new URL(RENEWAL_MODULE, import.meta.url).href, HOST_OS);
    throw new CliError(
      `cannot load the renewal code from ${path}: the installation is incomplete`,
      {
        cause: error,
        hint: "install kubectl-credentials-broker again",
      },
    );
  }
}

/**
 * A renewal's result, or its error thrown again. From the installed bundle's renewal.js the error is an instance
 * of that file's own copy of CliError, so the same words, exit code, hint and causes come back as this one's.
 */
function settled<T>(outcome: RenewalOutcome<T>): T {
  if (outcome.ok) return outcome.value;
  if (outcome.error instanceof CliError) throw outcome.error;
  throw new CliError(outcome.message, {
    exitCode: outcome.exitCode,
    hint: outcome.hint,
    cause: outcome.cause,
  });
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
