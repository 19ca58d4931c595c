/**
 * The detached broker a renew-ahead call starts (`__renew-ahead` + the broker's own flags). It has no terminal
 * and no one to answer: it takes the renewal lock, checks again, runs the command with the usual timeout, and
 * leaves its outcome in the state file (for later calls' warnings and their backoff, and for `doctor`) and the
 * command's output in the log. Loaded only in that process.
 */
import { type BrokerOptions, ISSUANCE_MODULE, resolveBrokerPaths } from "./broker_options.ts";
import { runBeforeExec } from "./before_exec.ts";
import { splitCommandLine } from "../shared/command_line.ts";
import {
  expiryProblems,
  readCredentials,
  refreshAt,
  validities,
} from "../credentials/credentials.ts";
import { formatTimestamp } from "../shared/duration.ts";
import { CliError, errorName } from "../shared/errors.ts";
import type { Io } from "../shared/io.ts";
import { acquireLock, forgetRunning, recordRunning, renewalLock, settleLeftover } from "./lock.ts";
import { HOST_OS, hostHomeDir } from "../shared/platform.ts";
import {
  aheadFiles,
  type AheadState,
  logStream,
  nextState,
  readAheadState,
  releaseClaim,
  renewAheadDue,
} from "./renew_ahead.ts";
import { writeFileAtomicSync } from "../shared/write_file.ts";

/** Runs one background renewal and returns the process's exit code (0 when it renewed or had nothing to do). */
export async function renewInBackground(
  options: BrokerOptions,
  io: Pick<Io, "env" | "cwd" | "now">,
): Promise<number> {
  const resolved = resolveBrokerPaths(options, {
    cwd: io.cwd(),
    home: () => hostHomeDir(io.env),
    os: HOST_OS,
  });
  const { dir, name } = renewalLock(resolved, io.env);
  const files = aheadFiles(dir, name);
  const startedAt = io.now();
  let outcome = "ok";
  let ok = true;
  // Nothing may happen before the try: whatever fails, the outcome is recorded and the claim given back.
  let log: ReturnType<typeof logStream> | undefined;
  try {
    const out = log = logStream(files.log);
    // With --issuer there is no command: the broker issues itself (lib/plugin/issuance.ts).
    const command = resolved.beforeExecCommand === undefined
      ? undefined
      : splitCommandLine(resolved.beforeExecCommand, hostHomeDir(io.env));
    const paths = {
      clientCertificatePath: resolved.clientCertificatePath,
      clientKeyPath: resolved.clientKeyPath,
      tokenPath: resolved.tokenPath,
    };
    using lock = await acquireLock({
      dir,
      name,
      timeoutMs: resolved.beforeExecTimeoutMs,
      holder: "another kubectl-credentials_broker renewing the same credentials",
    });
    await settleLeftover(lock, {
      timeoutMs: resolved.beforeExecTimeoutMs,
      graceMs: 2000,
      onWait: (pid) => out.line(`waiting for pid ${pid}, left running by a broker that ended`),
    });
    // Checked again under the lock: a foreground call may have renewed meanwhile.
    const before = await readCredentials(paths);
    if (
      before.problems.length === 0 &&
      !renewAheadDue(validities(before.credentials), resolved.renewAhead!, io.now())
    ) {
      outcome = "ok (already renewed)";
      return 0;
    }
    if (!command) {
      out.line(
        `background renewal started at ${formatTimestamp(startedAt)}: issuer ${
          resolved.issuer!.issuer
        } at ${resolved.issuer!.url}`,
      );
      const { issueUnderLock } = await import(ISSUANCE_MODULE) as typeof import("./issuance.ts");
      const issued = await issueUnderLock(resolved, before, false, {
        env: io.env,
        now: io.now,
        stderr: (text) => Promise.resolve(out.line(text.trimEnd())),
      }, lock);
      if (!issued.ok) {
        throw new CliError(issued.message, { exitCode: issued.exitCode, hint: issued.hint });
      }
      out.line(`issued ${issued.subject}, valid until ${issued.notAfter}`);
    } else {
      out.line(`background renewal started at ${formatTimestamp(startedAt)}: ${command[0]}`);
      try {
        await runBeforeExec({
          argv: command,
          interactive: false,
          timeoutMs: resolved.beforeExecTimeoutMs,
          output: out.stream,
          started: (pid, group, at) =>
            recordRunning(lock, {
              pid,
              group,
              startedAt: at,
              deadline: at + resolved.beforeExecTimeoutMs,
            }),
        });
      } finally {
        forgetRunning(lock);
      }
    }
    const after = await readCredentials(paths);
    const now = io.now();
    const problems = [
      ...after.problems,
      ...expiryProblems(after.credentials, now, resolved.refreshMarginMs),
    ];
    if (problems.length > 0) {
      throw new CliError(
        `the command succeeded but the credentials are not usable: ${
          problems.map((problem) => problem.message).join("; ")
        }`,
      );
    }
    if (renewAheadDue(validities(after.credentials), resolved.renewAhead!, now)) {
      // Otherwise every call would start the same renewal again, which renews nothing.
      throw new CliError(
        "the command succeeded but the credentials still expire inside the --renew-ahead window; does it " +
          "renew only when they have expired?",
      );
    }
    return 0;
  } catch (error) {
    ok = false;
    outcome = error instanceof CliError ? error.message : `internal error (${errorName(error)})`;
    return error instanceof CliError ? error.exitCode : 1;
  } finally {
    const endedAt = io.now();
    try {
      const current = await readCredentials({
        clientCertificatePath: resolved.clientCertificatePath,
        clientKeyPath: resolved.clientKeyPath,
        tokenPath: resolved.tokenPath,
      });
      const refresh = refreshAt(current.credentials, endedAt, resolved.refreshMarginMs);
      const untilMarginMs = refresh ? refresh.getTime() - endedAt.getTime() : 0;
      log?.line(`background renewal ended at ${formatTimestamp(endedAt)}: ${outcome}`);
      try {
        writeAheadState(
          files.state,
          nextState(readAheadState(files.state), {
            startedAt,
            endedAt,
            outcome,
            ok,
            untilMarginMs,
          }),
        );
      } catch (error) {
        // Only a convenience (later calls' warnings and backoff): what renewed stays renewed.
        log?.line(
          error instanceof CliError
            ? error.message
            : `cannot record the outcome: internal error (${errorName(error)})`,
        );
      }
    } finally {
      log?.close();
      releaseClaim(files.claim);
    }
  }
}

/**
 * Writes the state whole, through a rename, so a reader never sees half of it; a failure names the file. Here,
 * not in renew_ahead.ts, since only this process writes it: a kubectl call's path loads no writer.
 */
export function writeAheadState(path: string, state: AheadState): void {
  writeFileAtomicSync(path, JSON.stringify(state) + "\n", {
    what: "renew-ahead state",
    mode: 0o600,
  });
}
