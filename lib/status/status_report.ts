/**
 * status's output: one block per user for people (times relative to now, marks coloured on a terminal as doctor
 * colours them), or one JSON document for scripts (RFC 3339 times, parts that are absent left out).
 */
import { formatTimestamp } from "../shared/duration.ts";
import { MARKS } from "../doctor/report.ts";
import { type CheckResult, formatLeft } from "../doctor/result.ts";
import type { StatusReport, UserStatus } from "./status.ts";

/** The report for scripts: `{"users": [{"name", "kubeconfig", "contexts", "certificate", ...}]}`. */
export function formatStatusJson(report: StatusReport): string {
  return JSON.stringify({ users: report.users.map(userJson) }, null, 2) + "\n";
}

function userJson(user: UserStatus): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: user.name,
    kubeconfig: user.kubeconfig,
    contexts: user.contexts,
  };
  if (user.certificate) {
    out.certificate = defined({
      subject: user.certificate.subject,
      notAfter: user.certificate.notAfter && formatTimestamp(user.certificate.notAfter),
    });
  }
  if (user.token) {
    out.token = defined({
      expiresAt: user.token.expiresAt && formatTimestamp(user.token.expiresAt),
    });
  }
  const renewal = renewalJson(user);
  if (renewal) out.renewal = renewal;
  out.problems = user.problems;
  return out;
}

/** Where renewals come from, the renew-ahead setting and the last background renewal, as far as known. */
function renewalJson(user: UserStatus): Record<string, unknown> | undefined {
  if (!user.renewal && !user.renewAhead) return undefined;
  const state = user.renewAhead?.state;
  return defined({
    ...user.renewal,
    renewAhead: user.renewAhead?.spec,
    lastBackground: state?.lastEndedAt
      ? defined({
        startedAt: state.lastStartedAt,
        endedAt: state.lastEndedAt,
        outcome: state.lastOutcome,
        failures: state.failures,
        nextTryAt: state.nextTryAt,
      })
      : undefined,
  });
}

/** The object without its undefined fields (JSON.stringify drops them too; this keeps tests' deepEqual honest). */
function defined(object: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
}

const BOLD = "\x1b[1m";
const RED = "\x1b[31m";
const RESET = "\x1b[0m";

/** The report for people: one block per user, then a one-line summary. */
export function formatStatusText(report: StatusReport, now: Date, terminal: boolean): string {
  const paint = (color: string, text: string) => terminal ? `${color}${text}${RESET}` : text;
  const read = report.files.filter((file) => file.exists).map((file) => file.path).join(", ");
  if (report.users.length === 0) {
    if (report.notBroker) {
      return `user "${report.notBroker.name}" in ${report.notBroker.file} does not get its credentials ` +
        "from the broker\n";
    }
    return `no user in ${read} gets its credentials from the broker\n` +
      "set one up with: kubectl credentials-broker kubeconfig set --context NAME ...\n";
  }
  const blocks = report.users.map((user) => {
    const lines: [string, string][] = [["kubeconfig", user.kubeconfig]];
    if (!user.shadowedBy) {
      lines.push([
        "contexts",
        user.contexts.length === 0
          ? "none"
          : user.contexts.map((name) => name === report.currentContext ? `${name} (current)` : name)
            .join(", "),
      ]);
    }
    if (user.certificate) {
      const { subject, notAfter } = user.certificate;
      lines.push([
        "certificate",
        notAfter
          ? `${subject || "(empty subject)"}; ${expiry(notAfter, now, paint)}`
          : "not readable (see problems)",
      ]);
    }
    if (user.token) {
      lines.push([
        "token",
        !user.token.read
          ? "not readable (see problems)"
          : user.token.expiresAt
          ? `JWT, ${expiry(user.token.expiresAt, now, paint)}`
          : "no expiry known (not a JWT with exp)",
      ]);
    }
    lines.push(["renewal", renewalText(user)]);
    if (user.renewAhead) lines.push(["renew-ahead", renewAheadText(user.renewAhead, now)]);
    lines.push(["problems", user.problems.length === 0 ? "none" : String(user.problems.length)]);
    const width = Math.max(...lines.map(([label]) => label.length));
    const header = `${paint(BOLD, user.name)}${
      user.shadowedBy ? ` (shadowed: kubectl uses the user of this name in ${user.shadowedBy})` : ""
    }`;
    return [
      header,
      ...lines.map(([label, text]) => `  ${label.padEnd(width)}  ${text}`),
      ...user.problems.flatMap((problem) => problemLines(problem, terminal)),
    ].join("\n") + "\n";
  });
  const problems = report.users.reduce((sum, user) => sum + user.problems.length, 0);
  const users = report.users.length;
  return `${blocks.join("\n")}\n${users} user${users === 1 ? "" : "s"}, ${
    problems === 0 ? "no problems" : `${problems} problem${problems === 1 ? "" : "s"}`
  }\n`;
}

/** "expires in 5h12m (2026-12-06T10:00:00Z)" or "expired 3m ago (...)", the latter red on a terminal. */
function expiry(at: Date, now: Date, paint: (color: string, text: string) => string): string {
  const left = at.getTime() - now.getTime();
  const when = formatTimestamp(at);
  return left > 0
    ? `expires in ${formatLeft(left)} (${when})`
    : paint(RED, `expired ${formatLeft(-left)} ago (${when})`);
}

function renewalText(user: UserStatus): string {
  const renewal = user.renewal;
  if (!renewal) return "none: nothing renews these files";
  if ("command" in renewal) {
    return `${renewal.command || "(unreadable command)"}, ${
      renewal.policy === "always" ? "on every call" : "when a credential needs renewing"
    }`;
  }
  const details = [
    renewal.role !== undefined && `role ${renewal.role}`,
    renewal.mount !== undefined && `mount ${renewal.mount}`,
    renewal.auth !== undefined && `${renewal.auth} login`,
    renewal.namespace !== undefined && `namespace ${renewal.namespace}`,
    renewal.tokenCommand !== undefined && `one-time tokens from ${renewal.tokenCommand}`,
    renewal.profile !== undefined && `profile ${renewal.profile}`,
    renewal.label !== undefined && `label ${renewal.label}`,
  ].filter((part): part is string => typeof part === "string");
  return `${renewal.issuer} ${renewal.url}${details.length ? `, ${details.join(", ")}` : ""}`;
}

function renewAheadText(ahead: NonNullable<UserStatus["renewAhead"]>, now: Date): string {
  const state = ahead.state;
  if (!state?.lastEndedAt) return `${ahead.spec}; no background renewal has run yet`;
  const ago = (iso: string) => {
    const ms = now.getTime() - Date.parse(iso);
    return ms >= 0 ? `${formatLeft(ms)} ago` : `at ${iso}`;
  };
  if (state.failures === 0) {
    return `${ahead.spec}; the last background renewal ended ${ago(state.lastEndedAt)}: ${
      state.lastOutcome ?? "ok"
    }`;
  }
  const next = state.nextTryAt && Date.parse(state.nextTryAt) > now.getTime()
    ? `; next try in ${formatLeft(Date.parse(state.nextTryAt) - now.getTime())}`
    : "";
  return `${ahead.spec}; the last background renewal failed ${ago(state.lastEndedAt)} (${
    state.lastOutcome ?? "failed"
  }), ${state.failures} in a row${next}`;
}

/** A problem as doctor marks it, with its fix on the next line. */
function problemLines(problem: CheckResult, terminal: boolean): string[] {
  const mark = MARKS[problem.status];
  const shown = terminal ? `${mark.color}${mark.unicode}${RESET}` : mark.ascii;
  const indent = " ".repeat(4 + (terminal ? 2 : 7));
  return [
    `    ${shown} ${problem.check}: ${problem.detail}`,
    ...(problem.fix ? [`${indent}fix: ${problem.fix}`] : []),
  ];
}
