import { UsageError } from "./errors.ts";

/**
 * The longest duration any flag takes: 2^31-1 ms (about 24.8 days), the most a timer (setTimeout,
 * AbortSignal.timeout) can wait. A longer one would overflow and fire at once: `600h` stopped a renewal after 0.2 s.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a Go-style duration ("90s", "5m", "1h30m", "500ms", "0"), the form kubectl flags use.
 * Returns milliseconds. Negative and fractional-hour forms are accepted as Go does ("1.5h"); anything longer than
 * MAX_DURATION_MS either way is a usage error, for every duration flag.
 */
export function parseDuration(text: string, flag: string): number {
  const input = text.trim();
  if (input === "0") return 0;
  let total = 0;
  let position = 0;
  let sign = 1;
  if (input.startsWith("-") || input.startsWith("+")) {
    sign = input.startsWith("-") ? -1 : 1;
    position = 1;
  }
  if (position >= input.length) throw invalid(text, flag);
  // Parts of `(\d+(?:\.\d+)?|\.\d+)(ms|h|m|s)`, one after the other, read by a loop: a kubectl call that
  // runs no regular expression never starts V8's regexp compiler.
  const isDigit = (at: number) => input.charCodeAt(at) >= 0x30 && input.charCodeAt(at) <= 0x39;
  const digitsFrom = (at: number) => {
    while (isDigit(at)) at++;
    return at;
  };
  while (position < input.length) {
    const start = position;
    if (isDigit(position)) position = digitsFrom(position);
    if (input[position] === "." && isDigit(position + 1)) position = digitsFrom(position + 1);
    if (position === start) throw invalid(text, flag);
    const unit = input.startsWith("ms", position) ? "ms" : input[position] ?? "";
    if (!Object.hasOwn(UNITS, unit)) throw invalid(text, flag);
    total += Number(input.slice(start, position)) * UNITS[unit]!;
    position += unit.length;
  }
  if (!(Math.round(total) <= MAX_DURATION_MS)) {
    throw new UsageError(
      `duration ${JSON.stringify(text)} for ${flag} is too long: the longest is ${
        formatDuration(MAX_DURATION_MS)
      } (about 24 days)`,
    );
  }
  return sign * Math.round(total);
}

function invalid(text: string, flag: string): UsageError {
  return new UsageError(
    `invalid duration ${
      JSON.stringify(text)
    } for ${flag}: use a number with a unit, e.g. 90s, 5m or 1h30m`,
  );
}

/** Formats milliseconds the way Go prints durations ("1m30s", "500ms"), for messages and stored args. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  const sign = ms < 0 ? "-" : "";
  let rest = Math.abs(ms);
  if (rest < 1000) return `${sign}${rest}ms`;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = rest / 1000;
  let out = sign;
  if (hours) out += `${hours}h`;
  if (minutes) out += `${minutes}m`;
  if (seconds) out += `${Number(seconds.toFixed(3))}s`;
  return out;
}

/** RFC 3339 in UTC without fractions, as Kubernetes writes timestamps (and the broker its logs and state). */
export function formatTimestamp(date: Date): string {
  const year = date.getUTCFullYear();
  // What toISOString() writes, fraction dropped, put together by hand: its first call in a process costs about
  // 0.7 ms, and every kubectl call formats its expirationTimestamp. Years it writes with a sign (and an invalid
  // date, which it refuses) go through it.
  if (!(year >= 0 && year <= 9999)) return date.toISOString().replace(/\.\d{3}Z$/, "Z");
  const two = (value: number) => value < 10 ? `0${value}` : `${value}`;
  return `${`${year}`.padStart(4, "0")}-${two(date.getUTCMonth() + 1)}-${two(date.getUTCDate())}T${
    two(date.getUTCHours())
  }:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}Z`;
}
