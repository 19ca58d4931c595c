/**
 * Renewal ahead of time (`--renew-ahead`): a call that finds credentials still valid beyond the refresh margin,
 * but inside the renew-ahead window, answers at once and leaves the renewal to a detached broker process. The
 * decisions are pure functions of (now, expiry, state); the effects (a claim file, reading the state, a log) are
 * below them; the state is written by the detached process (background_renewal.ts). The plugin imports it whole (a few small functions), but outside the window
 * a call only compares two times: no file is read and nothing is started.
 */
import { formatDuration, formatTimestamp, parseDuration } from "../shared/duration.ts";
import { CliError, osErrorWords, UsageError } from "../shared/errors.ts";
import { writeAllSync } from "../shared/io.ts";
import { HOST_OS, isWindows, type Os } from "../shared/platform.ts";

/** How long before expiry to renew: a fixed duration, or a share of the credential's whole lifetime. */
export type RenewAhead = { kind: "duration"; ms: number } | { kind: "percent"; percent: number };

/** Parses `10m` or `30%`; a usage error names the flag. */
export function parseRenewAhead(text: string, flag = "--renew-ahead"): RenewAhead {
  // `^(\d+(?:\.\d+)?)%$` by hand: a kubectl call runs no regular expression.
  const share = text.endsWith("%") ? text.slice(0, -1) : "";
  const [whole = "", fraction, ...more] = share.split(".");
  const digits = (part: string) => part !== "" && [...part].every((c) => c >= "0" && c <= "9");
  if (digits(whole) && (fraction === undefined || digits(fraction)) && more.length === 0) {
    const value = Number(share);
    if (!(value > 0 && value < 100)) {
      throw new UsageError(`${flag} ${text}: a percentage must be above 0% and below 100%`);
    }
    return { kind: "percent", percent: value };
  }
  if (text.includes("%")) {
    throw new UsageError(
      `${flag} ${JSON.stringify(text)}: use a duration like 10m or a share like 30%`,
    );
  }
  const ms = parseDuration(text, flag);
  if (ms <= 0) throw new UsageError(`${flag} must be longer than 0, got ${text}`);
  return { kind: "duration", ms };
}

/** The flag's text for a spec (what `kubeconfig set` stores). */
export function formatRenewAhead(spec: RenewAhead): string {
  return spec.kind === "percent" ? `${spec.percent}%` : formatDuration(spec.ms);
}

/** The window in ms for credentials of `lifetimeMs` (undefined: a percentage of an unknown lifetime). */
export function renewAheadMs(spec: RenewAhead, lifetimeMs: number | undefined): number | undefined {
  if (spec.kind === "duration") return spec.ms;
  return lifetimeMs === undefined ? undefined : Math.floor((lifetimeMs * spec.percent) / 100);
}

/** What the background renewals left for later calls to read: their outcome and when to try again. */
export interface AheadState {
  /** Background renewals that failed in a row since the last success. */
  failures: number;
  lastStartedAt?: string;
  lastEndedAt?: string;
  /** "ok", or how it failed: "exit status 3", "stopped after 2m" ... (never the command's output). */
  lastOutcome?: string;
  /** No background renewal before this time (after a failure). */
  nextTryAt?: string;
}

/** The base of the backoff after a failed background renewal; it doubles with each failure in a row. */
export const BACKOFF_BASE_MS = 30_000;

/**
 * How long to wait after `failures` failures in a row: 30 s, 1 m, 2 m, ... but never past the moment the
 * credentials reach the refresh margin (`untilMarginMs` from now), when a foreground call renews anyway.
 */
export function backoffMs(failures: number, untilMarginMs: number): number {
  const grown = BACKOFF_BASE_MS * 2 ** Math.min(Math.max(failures - 1, 0), 20);
  return Math.max(0, Math.min(grown, untilMarginMs));
}

/**
 * Whether a call is inside the renew-ahead window of any credential: it has less than the renew-ahead time left
 * (a duration, or a share of that credential's own lifetime; a share of an unknown lifetime never opens it).
 */
export function renewAheadDue(
  validities: readonly { expiry?: Date; lifetimeMs?: number }[],
  spec: RenewAhead,
  now: Date,
): boolean {
  return validities.some(({ expiry, lifetimeMs }) => {
    const ahead = renewAheadMs(spec, lifetimeMs);
    return expiry !== undefined && ahead !== undefined && expiry.getTime() - now.getTime() <= ahead;
  });
}

/** What a call inside the window should do. */
export interface AheadDecision {
  /** Start a background renewal now. */
  start: boolean;
  /** One line for stderr about the last failure, when there is one to tell. */
  warning?: string;
}

/**
 * Decides for a call inside the window whose credentials are valid beyond the margin: start a background
 * renewal unless a backoff after a failure runs; tell the last failure on every call until a renewal succeeds.
 */
export function aheadDecision(
  input: { now: Date; state: AheadState; logPath: string },
): AheadDecision {
  const { now, state } = input;
  const waiting = state.nextTryAt !== undefined && Date.parse(state.nextTryAt) > now.getTime();
  const warning = state.failures > 0 && state.lastEndedAt
    ? `background renewal failed at ${state.lastEndedAt} (${state.lastOutcome ?? "failed"}); ${
      waiting ? `next try at ${state.nextTryAt}` : "trying again now"
    }; log: ${input.logPath}`
    : undefined;
  return { start: !waiting, warning };
}

/** The state after a background renewal ended. */
export function nextState(
  previous: AheadState,
  run: { startedAt: Date; endedAt: Date; outcome: string; ok: boolean; untilMarginMs: number },
): AheadState {
  const base = {
    lastStartedAt: formatTimestamp(run.startedAt),
    lastEndedAt: formatTimestamp(run.endedAt),
    lastOutcome: run.outcome,
  };
  if (run.ok) return { failures: 0, ...base };
  const failures = previous.failures + 1;
  const wait = backoffMs(failures, run.untilMarginMs);
  return { failures, ...base, nextTryAt: formatTimestamp(new Date(run.endedAt.getTime() + wait)) };
}

// ---------------------------------------------------------------------------------------------------------------
// Effects: files next to the renewal lock, and the detached process.

/** The files of one credential set's background renewals, next to its renewal lock `<dir>/<name>.lock`. */
export function aheadFiles(
  dir: string,
  lockFile: string,
): { state: string; log: string; claim: string } {
  const stem = lockFile.replace(/\.lock$/, "");
  return {
    state: `${dir}/${stem}.ahead.json`,
    log: `${dir}/${stem}.ahead.log`,
    claim: `${dir}/${stem}.ahead.claim`,
  };
}

/** Reads the state; a missing or damaged file is an empty state (it only ever delays or warns). */
export function readAheadState(path: string): AheadState {
  try {
    const value = JSON.parse(Deno.readTextFileSync(path));
    if (value && typeof value === "object" && typeof value.failures === "number") {
      return value as AheadState;
    }
  } catch {
    // missing or damaged
  }
  return { failures: 0 };
}

/**
 * Claims the right to start the one background renewal of a credential set: the claim file is created with
 * O_EXCL (CREATE_NEW on Windows), so of many concurrent calls exactly one wins. A claim older than `staleMs` (its
 * process died before it could remove it) is taken over (takeOverStale). A claim that cannot be written (a full or
 * read-only disk) is a CliError naming it, and no half-made claim is left to block the renewals after it.
 *
 * Windows differs in one way: a claim removed while another process still has it open (a claimer reading its
 * time) stays "delete pending" until that process lets go, and creating it meanwhile fails "access denied" (Wine
 * says "file exists"). That is someone else's claim on its way out, not a disk problem: tried again a moment
 * later, and only a refusal that lasts is an error.
 */
export function claimBackground(
  path: string,
  now: Date,
  staleMs: number,
  os: Os = HOST_OS,
): boolean {
  let denied: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { write: true, createNew: true, mode: 0o600 });
    } catch (error) {
      if (isWindows(os) && error instanceof Deno.errors.PermissionDenied) {
        denied = error;
        pause(20);
        continue;
      }
      if (!(error instanceof Deno.errors.AlreadyExists)) throw claimError(path, error);
      let mtime: Date | null = null;
      try {
        mtime = Deno.statSync(path).mtime;
      } catch {
        continue; // removed meanwhile (or, on Windows, being removed): try again
      }
      if (mtime && now.getTime() - mtime.getTime() > staleMs) {
        takeOverStale(path, now, staleMs);
        continue;
      }
      return false;
    }
    try {
      writeAllSync(file, `${Deno.pid} ${formatTimestamp(now)}\n`);
    } catch (error) {
      file.close();
      releaseClaim(path);
      throw claimError(path, error);
    }
    file.close();
    return true;
  }
  if (denied !== undefined) throw claimError(path, denied);
  return false;
}

/**
 * Moves a stale claim out of the way so that a new one can be created. Not by removing it: two callers that both
 * found it stale would then each remove what is there, the second one the fresh claim the first has just made,
 * and both would win. A rename moves one file once; a claim moved that turns out fresh (made since the caller
 * looked) is linked back (which fails when a newer one is there already) before the moved name goes.
 */
export function takeOverStale(path: string, now: Date, staleMs: number): void {
  const aside = `${path}.${crypto.randomUUID().slice(0, 8)}.stale`;
  try {
    Deno.renameSync(path, aside);
  } catch {
    return; // another caller moved it first
  }
  try {
    const mtime = Deno.statSync(aside).mtime;
    if (mtime && now.getTime() - mtime.getTime() <= staleMs) Deno.linkSync(aside, path);
  } catch {
    // a newer claim is in place, or links are not possible here: at worst two renewals start, one after the other
  }
  try {
    Deno.removeSync(aside);
  } catch {
    // left behind under its own name: nothing reads it
  }
}

/** Blocks this thread `ms` milliseconds: the claim is taken synchronously, before anything else happens. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function claimError(path: string, error: unknown): CliError {
  return new CliError(`cannot write the claim file ${path}: ${osErrorWords(error)}`, {
    cause: error,
  });
}

/** Gives the claim back (the background renewal ended, or it could not be started). */
export function releaseClaim(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // already gone
  }
}

/** 64 KiB: the log keeps one background renewal's output, cut there. */
export const LOG_LIMIT = 64 * 1024;

/**
 * The log file, truncated first and cut at LOG_LIMIT bytes: a stream for the command's output, and lines. Only a
 * convenience, so it never fails the renewal: a log that cannot be opened or written (a full or read-only disk)
 * takes nothing more, and `problem()` says why. The stream keeps accepting, so the command's output is still
 * drained and the command never blocks on a full pipe.
 */
export function logStream(path: string): {
  stream: WritableStream<Uint8Array>;
  line(text: string): void;
  close(): void;
  problem(): string | undefined;
} {
  let problem: string | undefined;
  let file: Deno.FsFile | undefined;
  try {
    file = Deno.openSync(path, { write: true, create: true, truncate: true, mode: 0o600 });
  } catch (error) {
    problem = `cannot write the log ${path}: ${osErrorWords(error)}`;
  }
  let written = 0;
  let cut = false;
  const put = (bytes: Uint8Array) => {
    if (!file || problem) return;
    try {
      let rest = bytes;
      while (rest.length > 0) rest = rest.subarray(file.writeSync(rest));
    } catch (error) {
      problem = `cannot write the log ${path}: ${osErrorWords(error)}`;
    }
  };
  const write = (bytes: Uint8Array) => {
    const room = LOG_LIMIT - written;
    if (room <= 0) {
      if (!cut) {
        cut = true;
        put(new TextEncoder().encode("\n[log cut at 64 KiB]\n"));
      }
      return;
    }
    const part = bytes.subarray(0, room);
    put(part);
    written += part.length;
  };
  return {
    stream: new WritableStream({ write }),
    line: (text) => write(new TextEncoder().encode(`${text}\n`)),
    close: () => {
      try {
        file?.close();
      } catch {
        // already closed
      }
    },
    problem: () => problem,
  };
}
