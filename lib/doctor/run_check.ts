/** Judges doctor's one run of the exec command by what kubectl needs from it; never quotes its output. */
import { formatDuration } from "../shared/duration.ts";
import { type CheckResult, result } from "./result.ts";
import { isRecord, kindOf } from "../shared/values.ts";
import type { RunFacts } from "./run.ts";

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

function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}
