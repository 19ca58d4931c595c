import { BROKER_FLAGS, type BrokerOptions, brokerOptionsFromFlags } from "./broker_options.ts";
import { splitCommandLine } from "./command_line.ts";
import {
  type CredentialPaths,
  expiryProblems,
  type Problem,
  readCredentials,
  type Reading,
  refreshAt,
} from "./credentials.ts";
import { CredentialError, UsageError } from "./errors.ts";
import { buildExecCredential, type ExecInfo, parseExecInfo } from "./exec_credential.ts";
import { type FlagSpec, formatFlagHelp, parseFlags } from "./flags.ts";
import type { Io } from "./io.ts";
import { acquireLock, defaultCacheDir, lockName } from "./lock.ts";

const GLOBAL_FLAGS: readonly FlagSpec[] = [
  { name: "help", short: "h", kind: "boolean", help: "show this help" },
  { name: "version", kind: "boolean", help: "print the version" },
];

/** Runs the exec credential plugin: what kubectl calls every time it needs credentials. */
export async function runPlugin(argv: readonly string[], io: Io): Promise<number> {
  if (argv[0] === "help") return printHelp(io);
  if (argv[0] === "version") return printVersion(io);
  const { values, positionals } = parseFlags(argv, [...BROKER_FLAGS, ...GLOBAL_FLAGS]);
  if (values.get("help")) return printHelp(io);
  if (values.get("version")) return printVersion(io);
  if (positionals.length > 0) {
    throw new UsageError(`unknown command or argument ${JSON.stringify(positionals[0])}`, {
      hint: "commands are: kubeconfig set, doctor, completion, version, help",
    });
  }
  const options = brokerOptionsFromFlags(values);
  const info = parseExecInfo(io.env("KUBERNETES_EXEC_INFO"));
  const { output, warnings } = await obtainCredentials(options, info, io);
  for (const warning of warnings) await io.stderr(`warning: ${warning}\n`);
  await io.stdout(output);
  return 0;
}

/** The ExecCredential JSON, and warnings for stderr. */
export async function obtainCredentials(
  options: BrokerOptions,
  info: ExecInfo,
  io: Pick<Io, "env" | "cwd" | "now" | "stderr">,
): Promise<{ output: string; warnings: string[] }> {
  const cwd = io.cwd();
  const paths: CredentialPaths = {
    clientCertificatePath: absolute(options.clientCertificatePath, cwd),
    clientKeyPath: absolute(options.clientKeyPath, cwd),
    tokenPath: absolute(options.tokenPath, cwd),
  };
  const command = options.beforeExecCommand === undefined
    ? undefined
    : splitCommandLine(options.beforeExecCommand, io.env("HOME"));
  const dir = options.cacheDir === undefined
    ? defaultCacheDir(io.env)
    : absolute(options.cacheDir, cwd)!;
  const name = lockName("renew", [
    paths.clientCertificatePath,
    paths.clientKeyPath,
    paths.tokenPath,
    options.beforeExecCommand,
  ]);
  // One broker at a time per credential set: check, renew and read happen under the lock, so concurrent kubectl
  // calls renew once and never see a half-written certificate or a certificate from one renewal next to the key
  // of another.
  using _lock = await acquireLock({
    dir,
    name,
    timeoutMs: options.beforeExecTimeoutMs,
    noticeAfterMs: 2000,
    holder: "another kubectl-credentials_broker renewing the same credentials",
    onWait: () =>
      io.stderr("waiting for another kubectl-credentials_broker renewing the same credentials\n"),
  });
  const marginMs = options.refreshMarginMs;
  let reading: Reading | undefined;
  if (options.beforeExecPolicy === "when-invalid") {
    reading = await readCredentials(paths);
    const problems = [
      ...reading.problems,
      ...expiryProblems(reading.credentials, io.now(), marginMs),
    ];
    if (problems.length > 0 && !command) throw credentialError(problems, undefined);
    if (problems.length > 0) reading = undefined;
  }
  if (!reading && command) {
    // Loaded only when the command runs: the skipped-renewal path is the one every kubectl call takes.
    const { runBeforeExec } = await import("./before_exec.ts");
    await runBeforeExec({
      argv: command,
      interactive: info.interactive,
      timeoutMs: options.beforeExecTimeoutMs,
      output: stderrStream(io),
    });
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
  if (problems.length > 0) throw credentialError(problems, command?.[0]);
  // Come back a margin early (never more than a third of a credential's lifetime), so a long-lived client asks
  // again while the broker still has time to renew.
  const expiration = refreshAt(reading.credentials, now, marginMs);
  return {
    output: buildExecCredential(info.apiVersion, reading.credentials, expiration),
    warnings: reading.warnings,
  };
}

function credentialError(problems: Problem[], command: string | undefined): CredentialError {
  const message = problems.map((problem) => problem.message).join("; ");
  if (command && problems.every((problem) => problem.kind === "expiring")) {
    // Fresh credentials inside the margin: the margin, not the command, is what fails every call.
    return new CredentialError(`${message}, after the before-exec command ${command} ran`, {
      hint:
        "the renewed credentials already fall inside the refresh margin: lower --refresh-margin, or have the command issue credentials that live longer",
    });
  }
  if (command) {
    return new CredentialError(`${message}, after the before-exec command ${command} ran`, {
      hint:
        "the command succeeded but did not produce usable credentials; check what it writes and where",
    });
  }
  return new CredentialError(message, {
    hint: "renew the credentials, or set --before-exec-command to renew them automatically",
  });
}

function absolute(path: string | undefined, cwd: string): string | undefined {
  if (path === undefined || path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path)) return path;
  return `${cwd.replace(/\/$/, "")}/${path}`;
}

function stderrStream(io: Pick<Io, "stderr">): WritableStream<Uint8Array> {
  const decoder = new TextDecoder();
  return new WritableStream({
    write: (chunk) => io.stderr(decoder.decode(chunk, { stream: true })),
  });
}

async function printVersion(io: Io): Promise<number> {
  const { VERSION } = await import("./version.ts");
  await io.stdout(`kubectl-credentials_broker ${VERSION}\n`);
  return 0;
}

async function printHelp(io: Io): Promise<number> {
  const { VERSION } = await import("./version.ts");
  await io.stdout(
    `kubectl-credentials_broker ${VERSION}: a client-go exec credential plugin that runs a renewal
command when needed and hands kubectl a client certificate, key and/or bearer token.

Usage:
  kubectl credentials-broker [flags]              print an ExecCredential (what kubectl runs)
  kubectl credentials-broker kubeconfig set ...   point a kubeconfig user at the broker
  kubectl credentials-broker doctor               check a kubeconfig user end to end
  kubectl credentials-broker completion SHELL     print a bash, zsh or fish completion script
  kubectl credentials-broker version              print the version

Flags:
${formatFlagHelp([...BROKER_FLAGS, ...GLOBAL_FLAGS])}

A token, or a certificate and key together, or both, are required. Relative paths are resolved against the
working directory kubectl runs the plugin in. Exit codes: 0 ok, 1 credentials or other failure, 2 usage,
3 before-exec command failed or timed out, 4 gave up waiting for another renewal.
`,
  );
  return 0;
}
