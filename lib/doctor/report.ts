/** Doctor's report: one line per check for people (marks, fixes, a summary), or JSON for scripts. */
import type { CheckResult, CheckStatus } from "./result.ts";

/** The report of one doctor call. */
export interface DoctorReport {
  ok: boolean;
  kubeconfig?: string;
  context?: string;
  user?: string;
  checks: CheckResult[];
}

/** The report for scripts: the same checks as JSON, stable keys, one document. */
export function formatJsonReport(report: DoctorReport): string {
  return JSON.stringify(
    {
      ok: report.ok,
      kubeconfig: report.kubeconfig,
      context: report.context,
      user: report.user,
      checks: report.checks,
    },
    null,
    2,
  ) + "\n";
}

/** How each outcome is marked: a coloured sign on a terminal, a bracketed word elsewhere (status marks alike). */
export const MARKS: Record<CheckStatus, { unicode: string; ascii: string; color: string }> = {
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
