/** One line of doctor's report, and the small helpers every check module shares. */
import { formatDuration } from "../shared/duration.ts";

/** The outcome of one check; `fix` says what to do when it did not pass. */
export type CheckStatus = "pass" | "warn" | "fail" | "skip";

/** One line of the report. Every text is safe to print: names, paths, dates, never secret values. */
export interface CheckResult {
  check: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

/** A CheckResult without an empty `fix` key (the JSON report leaves it out). */
export const result = (
  check: string,
  status: CheckStatus,
  detail: string,
  fix?: string,
): CheckResult => (fix === undefined ? { check, status, detail } : { check, status, detail, fix });

const DAY = 86_400_000;

/** "3d4h", "1h59m", "45s": how long ago or how soon, as precise as a person needs. */
export function formatLeft(ms: number): string {
  if (ms >= 2 * DAY) {
    const days = Math.floor(ms / DAY);
    const hours = Math.floor((ms % DAY) / 3_600_000);
    return `${days}d${hours ? `${hours}h` : ""}`;
  }
  // Minutes are precise enough past an hour, and read better than "23h59m59s".
  const unit = ms >= 3_600_000 ? 60_000 : 1000;
  return formatDuration(Math.max(1000, Math.floor(ms / unit) * unit));
}
