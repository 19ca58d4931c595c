/**
 * Runs the exec command once, as kubectl runs it: the only doctor module that starts processes. It gathers what
 * the run did (exit, streams, time, a held stdout); `run_check.ts` judges it.
 */
import { quoteWord, splitCommandLine } from "../shared/command_line.ts";
import { osErrorWords } from "../shared/errors.ts";
import { HOST_OS, isWindows, type Os, stopProcess } from "../shared/platform.ts";
import { brokerInvocation } from "../shared/broker_command.ts";
import type { ExecConfig } from "./user.ts";

/** What one run of the exec command as kubectl runs it produced. */
export interface RunFacts {
  command: string;
  durationMs: number;
  /** Exit code; undefined when it could not start or was stopped. */
  code?: number;
  signal?: string;
  startError?: string;
  timedOut?: boolean;
  timeoutMs?: number;
  stdout: string;
  stderr: string;
  /** Something the command started still held its stdout after it exited: kubectl waits for that to close. */
  stdoutHeld?: boolean;
  /** The command is the broker (directly or through kubectl), so its last stderr lines may be its own report. */
  broker?: boolean;
  /** The run repeated by hand, secrets left out (`manualCommandLine`). */
  commandLine?: string;
}

/** What KUBERNETES_EXEC_INFO holds for a non-interactive run of `apiVersion`, as kubectl sets it. */
function execInfo(apiVersion: string): string {
  return JSON.stringify({ kind: "ExecCredential", apiVersion, spec: { interactive: false } });
}

/** How long a stopped run gets between SIGTERM and SIGKILL (the broker forwards SIGTERM to its renewal). */
const KILL_GRACE_MS = 2000;
/**
 * How long output already written is collected after the command exited; a process it left may hold the pipes.
 * Longer on Windows: a .cmd's pipe closes only once cmd.exe and the broker's deno.exe are both gone, which under
 * Wine on a loaded machine took over 200 ms once, and doctor called a working broker's stdout held.
 */
const DRAIN_MS = isWindows(HOST_OS) ? 1000 : 200;
/** Output kept per stream; more is read and dropped, so a runaway command cannot grow memory. */
const OUTPUT_LIMIT = 4 * 1024 * 1024;

/**
 * Runs the exec command once as kubectl would: exec env over ours, KUBERNETES_EXEC_INFO, stdin /dev/null. It
 * returns within the timeout (plus the kill grace) whatever the command leaves behind: the command runs in a
 * process group of its own, which the timeout stops as a whole, and the output is not awaited to its end once
 * the command has exited (a background child it left may hold the pipes for as long as it lives).
 */
export async function runExecOnce(options: {
  executable: string;
  exec: ExecConfig;
  cwd: string;
  timeoutMs: number;
}): Promise<RunFacts> {
  const env: Record<string, string> = {};
  for (const { name, value } of options.exec.env) env[name] = value;
  env.KUBERNETES_EXEC_INFO = execInfo(options.exec.apiVersion);
  const start = performance.now();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(options.executable, {
      args: options.exec.args,
      env,
      cwd: options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: true,
    }).spawn();
  } catch (error) {
    return {
      command: options.exec.command,
      durationMs: performance.now() - start,
      startError: osErrorWords(error),
      stdout: "",
      stderr: "",
    };
  }
  const stdout = collect(child.stdout);
  const stderr = collect(child.stderr);
  let timedOut = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    stopProcess(child.pid, { tree: true, force: false });
    killTimer = setTimeout(
      () => stopProcess(child.pid, { tree: true, force: true }),
      KILL_GRACE_MS,
    );
  }, options.timeoutMs);
  let status: Deno.CommandStatus;
  try {
    status = await child.status;
  } finally {
    clearTimeout(timer);
    clearTimeout(killTimer);
  }
  const durationMs = performance.now() - start;
  if (timedOut) stopProcess(child.pid, { tree: true, force: true });
  let drained = false;
  let drainTimer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all([stdout.done, stderr.done]).then(() => drained = true),
    new Promise((resolve) => drainTimer = setTimeout(resolve, DRAIN_MS)),
  ]);
  clearTimeout(drainTimer);
  // What the command left in its group still holds the pipes: stop it, as kubectl's user would have to.
  if (!drained) stopProcess(child.pid, { tree: true, force: false });
  const stdoutHeld = !stdout.ended();
  await Promise.all([stdout.cancel(), stderr.cancel()]);
  return {
    command: options.exec.command,
    durationMs,
    code: status.signal ? undefined : status.code,
    signal: status.signal ?? undefined,
    timedOut,
    timeoutMs: options.timeoutMs,
    stdout: stdout.text(),
    stderr: stderr.text(),
    stdoutHeld: stdoutHeld && !timedOut,
  };
}

/** Reads a stream in the background, keeping up to OUTPUT_LIMIT bytes, until it ends or is cancelled. */
function collect(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let ended = false;
  const done = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (kept < OUTPUT_LIMIT) {
          chunks.push(value.subarray(0, OUTPUT_LIMIT - kept));
          kept += Math.min(value.length, OUTPUT_LIMIT - kept);
        }
      }
      ended = true;
    } catch {
      // Cancelled.
    }
  })();
  return {
    done,
    ended: () => ended,
    cancel: async () => {
      await reader.cancel().catch(() => {});
      await done;
    },
    text: () => {
      const bytes = new Uint8Array(kept);
      let at = 0;
      for (const chunk of chunks) {
        bytes.set(chunk, at);
        at += chunk.length;
      }
      return new TextDecoder().decode(bytes);
    },
  };
}

/**
 * The command line that repeats doctor's run by hand on `os`, with nothing secret in it: env values and the
 * renewal command's arguments become placeholders, and a command that is not the broker keeps its arguments to
 * itself. Linux and macOS get a POSIX shell line (`env NAME='<hidden>' ... </dev/null`); Windows gets a cmd.exe
 * line (`set "NAME=<hidden>" && "C:\...\kubectl.exe" ... < NUL`), as a Windows user pastes it into cmd.exe.
 */
export function manualCommandLine(executable: string, exec: ExecConfig, os: Os = HOST_OS): string {
  let args: string[];
  if (brokerInvocation(exec.command) === "other") {
    args = exec.args.length > 0 ? [`<${exec.args.length} exec.args hidden>`] : [];
  } else {
    args = [];
    for (let i = 0; i < exec.args.length; i++) {
      const arg = exec.args[i]!;
      if (arg.startsWith("--before-exec-command=")) {
        args.push(`--before-exec-command=${hideArguments(arg.slice(arg.indexOf("=") + 1), os)}`);
      } else if (arg === "--before-exec-command" && i + 1 < exec.args.length) {
        args.push(arg, hideArguments(exec.args[++i]!, os));
      } else args.push(arg);
    }
  }
  if (isWindows(os)) {
    // cmd.exe: `set "NAME=value"` keeps the value exact (no trailing space before `&&`); stdin from NUL.
    const sets = [
      `set "KUBERNETES_EXEC_INFO=${execInfo(exec.apiVersion)}"`,
      ...exec.env.map(({ name }) => `set "${name}=<hidden>"`),
    ];
    return `${sets.join(" && ")} && ${[executable, ...args].map(windowsArgument).join(" ")} < NUL`;
  }
  const env = [
    `KUBERNETES_EXEC_INFO=${quoteWord(execInfo(exec.apiVersion), os)}`,
    ...exec.env.map(({ name }) =>
      /^[A-Za-z_][A-Za-z0-9_]*$/.test(name)
        ? `${name}=${HIDDEN}`
        : quoteWord(`${name}=<hidden>`, os)
    ),
  ];
  return `env ${env.join(" ")} ${
    [executable, ...args].map((word) => quoteWord(word, os)).join(" ")
  } </dev/null`;
}

/**
 * One argument as a Windows program's C runtime reads it back from a cmd.exe line: bare when it holds nothing
 * cmd.exe or the runtime treats specially, else in double quotes with `"` (and the backslashes before it) escaped.
 */
function windowsArgument(word: string): string {
  if (word !== "" && /^[A-Za-z0-9_\-.:\/\\=+@]+$/.test(word)) return word;
  return `"${word.replace(/(\\*)"/g, '$1$1\\"').replace(/(\\+)$/, "$1$1")}"`;
}

const HIDDEN = "'<hidden>'";

/** A renewal command line with only its program kept: its arguments often hold secrets (role ids, passwords). */
function hideArguments(line: string, os: Os): string {
  try {
    const argv = splitCommandLine(line, undefined, os);
    return argv.length <= 1 ? line : `${quoteWord(argv[0]!, os)} <arguments hidden>`;
  } catch {
    return "<hidden>";
  }
}
