import { BeforeExecError, describeError, IssuerError } from "../shared/errors.ts";
import { formatDuration } from "../shared/duration.ts";
import {
  executableProbe,
  fileUrlToPath,
  forwardedSignals,
  hasSeparator,
  HOST_OS,
  isWindows,
  lookPath,
  stopProcess,
} from "../shared/platform.ts";

/** How to run the user's renewal command. */
export interface BeforeExecRun {
  argv: readonly string[];
  /** Hand the caller's stdin (kubectl's terminal) to the command; otherwise it gets /dev/null. */
  interactive: boolean;
  timeoutMs: number;
  /** Where the command's stdout goes: never the broker's stdout, which kubectl parses as JSON. */
  output: WritableStream<Uint8Array>;
  /** Told the command's pid once it runs, whether it leads a process group of its own, and when it was spawned. */
  started?: (pid: number, group: boolean, startedAt: number) => void;
}

const KILL_GRACE_MS = 2000;

/**
 * Runs the before-exec command and resolves when it succeeded; throws BeforeExecError naming the command (never
 * its arguments, which may hold secrets) when it cannot start, fails, is killed or runs past the timeout.
 */
export async function runBeforeExec(run: BeforeExecRun): Promise<void> {
  const [program, ...args] = run.argv;
  if (!program) throw new BeforeExecError("the before-exec command is empty");
  let child: Deno.ChildProcess;
  const startedAt = Date.now();
  try {
    child = new Deno.Command(windowsProgram(program), {
      args,
      stdin: run.interactive ? "inherit" : "null",
      stdout: "piped",
      stderr: "inherit",
      // Non-interactive commands get their own session, so that on timeout the whole group (the script and
      // whatever it started) can be stopped. An interactive one stays in the terminal's foreground group so
      // that it can read the terminal (and /dev/tty) and Ctrl-C reaches it.
      detached: !run.interactive,
    }).spawn();
  } catch (error) {
    throw startError(program, error);
  }
  // The whole tree: the command's own group (POSIX), or its descendants (Windows, no groups). An interactive command
  // on POSIX shares kubectl's group, so only the command itself is signalled there.
  const tree = !run.interactive || isWindows(HOST_OS);
  const stop = (force: boolean) => stopProcess(child.pid, { tree, force });
  try {
    run.started?.(child.pid, !run.interactive, startedAt);
  } catch (error) {
    // It could not be recorded (the lock note, on a full or read-only disk): a command nobody can find again
    // must not renew behind the caller's back. Stopped with its group, then the recording's error is the error.
    await stopNow(child, stop);
    throw error;
  }
  // The command's stdout joins our stderr, so a chatty script cannot corrupt the ExecCredential. A grandchild
  // that keeps the pipe open must not keep us waiting once the command itself has exited.
  const copying = new AbortController();
  const copied = child.stdout.pipeTo(run.output, { preventClose: true, signal: copying.signal })
    .catch(() => {});
  let timedOut = false;
  let cancelKill = () => {};
  const cancelTimeout = after(run.timeoutMs, () => {
    timedOut = true;
    stop(false);
    cancelKill = after(KILL_GRACE_MS, () => stop(true));
  });
  const forward = () => stop(false);
  // Only the signals this OS has: Deno on Windows throws for a listener on any but SIGINT and SIGBREAK.
  const signals = forwardedSignals(HOST_OS);
  if (!run.interactive) { for (const name of signals) Deno.addSignalListener(name, forward); }
  let status: Deno.CommandStatus;
  try {
    status = await child.status;
  } finally {
    cancelTimeout();
    if (!run.interactive) { for (const name of signals) Deno.removeSignalListener(name, forward); }
  }
  if (timedOut) {
    // The leader is gone; make sure nothing it started lingers past the grace period.
    stop(true);
    cancelKill();
  }
  // Nothing may stay pending: the broker ends when its event loop is empty (see main.ts). While the copy is
  // pending its read keeps the process alive for the grace timer.
  let cancelGrace = () => {};
  await Promise.race([copied, new Promise<void>((resolve) => cancelGrace = after(100, resolve))]);
  cancelGrace();
  copying.abort();
  if (timedOut) {
    throw new BeforeExecError(
      `before-exec command ${program} did not finish within ${
        formatDuration(run.timeoutMs)
      }; it was stopped`,
      { hint: "raise --before-exec-timeout if renewals legitimately take longer" },
    );
  }
  if (status.signal) {
    throw new BeforeExecError(`before-exec command ${program} was killed by ${status.signal}`);
  }
  if (!status.success) {
    throw new BeforeExecError(
      `before-exec command ${program} failed with exit status ${status.code}`,
    );
  }
}

/** Stops a command that has just started: asked first, killed after the grace period; waits for its end. */
async function stopNow(child: Deno.ChildProcess, stop: (force: boolean) => void): Promise<void> {
  // Nobody reads its output: cancel the pipe, so a command that writes does not block on it.
  child.stdout.cancel().catch(() => {});
  stop(false);
  const cancelKill = after(KILL_GRACE_MS, () => stop(true));
  try {
    await child.status;
  } finally {
    cancelKill();
  }
  // What it started in its group goes too.
  stop(true);
}

/** The most a helper command may print: a token is a few kilobytes. */
const HELPER_OUTPUT_LIMIT = 256 * 1024;

/**
 * Runs an issuer's helper command (Vault's token_helper with `get`, --step-token-command) and returns its stdout,
 * which holds a secret: it is never logged or put in an error. Its stderr goes to the user's; with `interactive`
 * it gets the terminal (kubectl handed it over), so it can prompt, else /dev/null and a session of its own. Stopped
 * (its group, then killed) at `deadline`: --before-exec-timeout bounds the whole issuance. Errors name the program
 * only, never its arguments.
 */
export async function runForOutput(
  argv: readonly string[],
  options: {
    interactive: boolean;
    deadline: number;
    what: string;
    /** Told the helper's pid once it runs, as runBeforeExec's `started` (the renewal lock's note). */
    started?: (pid: number, group: boolean, startedAt: number) => void;
  },
): Promise<string> {
  const [program, ...args] = argv;
  if (!program) throw new IssuerError(`the ${options.what} is empty`);
  let child: Deno.ChildProcess;
  const startedAt = Date.now();
  try {
    child = new Deno.Command(program, {
      args,
      stdin: options.interactive ? "inherit" : "null",
      stdout: "piped",
      stderr: "inherit",
      detached: !options.interactive,
    }).spawn();
  } catch (error) {
    const started = startError(program, error);
    throw new IssuerError(started.message.replace("before-exec command", options.what), {
      cause: error,
      hint: started.hint,
    });
  }
  const tree = !options.interactive || isWindows(HOST_OS);
  const stop = (force: boolean) => stopProcess(child.pid, { tree, force });
  try {
    options.started?.(child.pid, !options.interactive, startedAt);
  } catch (error) {
    // As for the before-exec command: a helper nobody could find again is stopped, and the recording's failure
    // is the error, as an IssuerError so that the drivers pass it on (in the installed bundle the lock's own
    // CliError is main.js's class, which issuer.js's drivers would not recognise). Its words name the lock file.
    await stopNow(child, stop);
    if (error instanceof IssuerError) throw error;
    throw new IssuerError(
      error instanceof Error ? error.message : `cannot record the ${options.what}`,
      {
        cause: error,
        hint: (error as { hint?: string }).hint,
      },
    );
  }
  let timedOut = false;
  let cancelKill = () => {};
  const cancelTimeout = after(Math.max(1, options.deadline - Date.now()), () => {
    timedOut = true;
    stop(false);
    cancelKill = after(KILL_GRACE_MS, () => stop(true));
  });
  const chunks: Uint8Array[] = [];
  let size = 0;
  let tooLong = false;
  const reading = (async () => {
    for await (const chunk of child.stdout) {
      size += chunk.length;
      if (size > HELPER_OUTPUT_LIMIT) {
        tooLong = true;
        stop(true);
        break;
      }
      chunks.push(chunk);
    }
  })().catch(() => {});
  let status: Deno.CommandStatus;
  try {
    status = await child.status;
  } finally {
    cancelTimeout();
  }
  if (timedOut) {
    stop(true);
    cancelKill();
  }
  let cancelGrace = () => {};
  await Promise.race([reading, new Promise<void>((resolve) => cancelGrace = after(100, resolve))]);
  cancelGrace();
  if (timedOut) {
    throw new IssuerError(`the ${options.what} ${program} did not finish in time; it was stopped`, {
      hint:
        "the whole issuance must end within --before-exec-timeout; raise it if this legitimately takes longer",
    });
  }
  if (tooLong) {
    throw new IssuerError(
      `the ${options.what} ${program} printed more than ${HELPER_OUTPUT_LIMIT} bytes`,
    );
  }
  if (!status.success) {
    throw new IssuerError(
      `the ${options.what} ${program} ${
        status.signal ? `was killed by ${status.signal}` : `failed with exit status ${status.code}`
      }`,
    );
  }
  return new TextDecoder().decode(concat(chunks, size));
}

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(Math.min(size, HELPER_OUTPUT_LIMIT));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk.subarray(0, out.length - offset), offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * Calls `fire` after `ms` unless the returned function is called first. An AbortSignal.timeout, not setTimeout:
 * the first setTimeout in a Deno process costs about 5 ms, and this runs on every renewal. Its timer does not
 * keep the process alive, so it may only wait alongside an operation that does (the command, its output).
 */
function after(ms: number, fire: () => void): () => void {
  const signal = AbortSignal.timeout(ms);
  signal.addEventListener("abort", fire, { once: true });
  return () => signal.removeEventListener("abort", fire);
}

/**
 * On Windows, the file `program` names as kubectl's exec and `doctor` find it (Go's exec.LookPath: PATH, then each
 * PATHEXT extension, so `renew` runs `renew.cmd`); Deno's own lookup only ever adds `.exe`. Unchanged elsewhere, or
 * when nothing is found (the spawn then reports it).
 */
function windowsProgram(program: string): string {
  if (!isWindows(HOST_OS)) return program;
  const found = lookPath(
    program,
    Deno.cwd(),
    HOST_OS,
    (name) => Deno.env.get(name),
    executableProbe,
  );
  return found.problem === undefined && found.resolved !== undefined ? found.resolved : program;
}

function startError(program: string, error: unknown): BeforeExecError {
  const byPath = hasSeparator(program, HOST_OS);
  const where = byPath ? "" : " on PATH";
  if (error instanceof Deno.errors.NotFound) {
    return new BeforeExecError(`before-exec command ${program} not found${where}`, {
      cause: error,
      hint: byPath ? undefined : "use an absolute path, or check PATH",
    });
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new BeforeExecError(`before-exec command ${program} cannot be run: permission denied`, {
      cause: error,
      hint: `make it executable: chmod +x ${program}`,
    });
  }
  return new BeforeExecError(
    `before-exec command ${program} could not be started (${describeError(error)})`,
    { cause: error },
  );
}

/**
 * The Deno permissions the broker runs with, baked into the installed shim and the compiled binaries, and given
 * to the detached background renewal. read: credential files, kubeconfigs; write: the lock folder, kubeconfigs and
 * issued credentials; run: the before-exec command, token helpers and (doctor) the exec command; env:
 * KUBERNETES_EXEC_INFO, HOME, KUBECONFIG, PATH, VAULT_ADDR...; sys=uid: refuse lock folders owned by another user;
 * net: the certificate authority of --issuer (only lib/issuer/http.ts opens connections, and only when a
 * certificate must be issued or doctor checks the issuer; the CA's address is in the kubeconfig, unknown here).
 * Each command then revokes the kinds it never uses (lib/shared/permissions.ts), and --no-prompt keeps them
 * revoked: without it a revoked kind is "prompt", and Deno would ask at the terminal, where a `y` undoes it.
 */
export const BROKER_PERMISSIONS: readonly string[] = [
  "--no-prompt",
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-sys=uid",
  "--allow-net",
];

/**
 * The argv that runs this same broker again with `args`: a compiled binary is its own program; from a bundle or
 * the source it is Deno with the broker's permissions and the same entry module.
 */
export function selfCommand(args: readonly string[]): string[] {
  if (Deno.build.standalone) return [Deno.execPath(), ...args];
  const main = fileUrlToPath(Deno.mainModule, HOST_OS);
  return [Deno.execPath(), "run", "--no-config", ...BROKER_PERMISSIONS, "--quiet", main, ...args];
}

/**
 * Starts a detached broker: its own session (no terminal, so it cannot prompt), stdin, stdout and stderr closed
 * (it writes its own log), not waited for. Returns false when it could not be started.
 */
export function spawnDetached(argv: readonly string[]): boolean {
  const [program, ...args] = argv;
  try {
    const child = new Deno.Command(program!, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
      detached: true,
    }).spawn();
    child.unref();
    return true;
  } catch {
    return false;
  }
}
