/**
 * What a call does when its credentials need renewing, or fall inside the renew-ahead window, and the detached
 * background renewal: the lock, the command or the issuer, the renew-ahead claim. A call with valid credentials
 * (every kubectl call but a few) needs none of it, so plugin.ts loads it by a variable (RENEWAL_MODULE) and the
 * installed bundle keeps it in renewal.js, apart from main.js (scripts/bundle.ts). Its errors cross back as plain
 * data: in the bundle, an error class of renewal.js is not main.js's.
 */
import {
  BACKGROUND_RENEWAL,
  brokerArgs,
  type BrokerOptions,
  ISSUANCE_MODULE,
} from "./broker_options.ts";
import {
  type CredentialPaths,
  isUsable,
  readCredentials,
  type Reading,
} from "../credentials/credentials.ts";
import type { ExecInfo } from "../credentials/exec_credential.ts";
import { CliError } from "../shared/errors.ts";
import type { Io } from "../shared/io.ts";
import {
  acquireLock,
  ensurePrivateDir,
  forgetRunning,
  recordRunning,
  renewalLock,
  settleLeftover,
} from "./lock.ts";
import {
  aheadDecision,
  aheadFiles,
  claimBackground,
  readAheadState,
  releaseClaim,
} from "./renew_ahead.ts";
import { runBeforeExec, selfCommand, spawnDetached } from "./before_exec.ts";
import { renewInBackground } from "./background_renewal.ts";

/** A renewal's result, or the CliError it ended with as plain data (and as itself, for a caller of the same copy). */
export type RenewalOutcome<T> =
  | { ok: true; value: T }
  | {
    ok: false;
    error: CliError;
    message: string;
    hint?: string;
    exitCode: number;
    cause?: unknown;
  };

async function outcomeOf<T>(work: () => T | Promise<T>): Promise<RenewalOutcome<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    return {
      ok: false,
      error,
      message: error.message,
      hint: error.hint,
      exitCode: error.exitCode,
      cause: error.cause,
    };
  }
}

/**
 * Checks, renews and reads under the renewal lock. One broker at a time per credential set, so concurrent kubectl
 * calls renew once and never see a half-written certificate, or a certificate from one renewal next to the key of
 * another.
 */
export function renewUnderLock(
  options: BrokerOptions,
  resolved: BrokerOptions,
  paths: CredentialPaths,
  command: string[] | undefined,
  info: ExecInfo,
  io: Pick<Io, "env" | "now" | "stderr" | "stdinIsTerminal">,
): Promise<RenewalOutcome<Reading>> {
  return outcomeOf(() => renew(options, resolved, paths, command, info, io));
}

async function renew(
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
    if (isUsable(before, io.now(), options.refreshMarginMs)) return before;
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

/**
 * Inside the renew-ahead window (plugin.ts checked it at `now`): starts one renewal in a detached broker, unless
 * one runs or a backoff after a failure does. Returns warnings for stderr; renewing early is a convenience, so
 * nothing here fails the call.
 */
export function renewAhead(
  resolved: BrokerOptions,
  now: Date,
  io: Pick<Io, "env">,
): Promise<RenewalOutcome<string[]>> {
  return outcomeOf(() => {
    // A lock folder that cannot be used becomes a warning, and the renewal happens at the margin as without the
    // flag.
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
    if (!spawnDetached(selfCommand([BACKGROUND_RENEWAL, ...brokerArgs(resolved)]))) {
      releaseClaim(files.claim);
      warnings.push(
        "could not start a background renewal; the credentials will be renewed at the margin",
      );
    }
    return warnings;
  });
}

/** The detached broker's run (`__renew-ahead`): its exit code. */
export function backgroundRenewal(
  options: BrokerOptions,
  io: Pick<Io, "env" | "cwd" | "now">,
): Promise<RenewalOutcome<number>> {
  return outcomeOf(() => renewInBackground(options, io));
}

/** The warning for a renew-ahead that cannot happen; anything but a CliError is a bug and stays one. */
function cannotRenewAhead(error: unknown): string {
  if (!(error instanceof CliError)) throw error;
  return `cannot renew ahead of time: ${error.message}; the credentials will be renewed at the margin`;
}

function stderrStream(io: Pick<Io, "stderr">): WritableStream<Uint8Array> {
  const decoder = new TextDecoder();
  return new WritableStream({
    write: (chunk) => io.stderr(decoder.decode(chunk, { stream: true })),
  });
}
