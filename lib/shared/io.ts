import { describePermissions, type PermissionUse, revokePermissions } from "./permissions.ts";

/** The process edges a subcommand may touch; main.ts builds the real one, tests build their own. */
export interface Io {
  /** Writes data meant for the caller (the ExecCredential, JSON output, completion scripts). */
  stdout(text: string): Promise<void>;
  /** Writes messages meant for people: warnings, diffs, prompts. */
  stderr(text: string): Promise<void>;
  /** Reads one line typed by the user, or null at end of input. */
  readLine(): Promise<string | null>;
  stdinIsTerminal: boolean;
  /**
   * Whether stdout is a terminal: a person ran the plugin by hand, since kubectl and every client library read it
   * through a pipe. Absent (in-process fakes) means not a terminal.
   */
  stdoutIsTerminal?: boolean;
  /** Whether stderr may be coloured: a terminal, and NO_COLOR unset. */
  color: boolean;
  /** Whether stdout may be coloured, by the same rule: `doctor | less` gets plain text. */
  stdoutColor: boolean;
  env(name: string): string | undefined;
  cwd(): string;
  now(): Date;
  /**
   * Gives up, for the rest of the process, the permission kinds `use` never needs (see permissions.ts); called
   * once a command has parsed its flags. In-process tests record it instead, keeping the test runner's rights.
   */
  narrow(use: PermissionUse): void;
}

const encoder = new TextEncoder();

/** The debug switch: set, the broker prints the cause chain of an error and what narrowing leaves it. */
const DEBUG_VARIABLE = "KUBECTL_CREDENTIALS_BROKER_DEBUG";

/**
 * Writes all of `text` with blocking writes (a write may take only part of it). Blocking, because the broker
 * has nothing else to do meanwhile, and an async write costs a thread hop on every kubectl call.
 */
export function writeAllSync(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = encoder.encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
}

/** The real process: what main.ts hands to every subcommand. */
export function processIo(): Io {
  let lines: AsyncIterator<string> | undefined;
  return {
    stdout: (text) => settled(() => writeAllSync(Deno.stdout, text)),
    stderr: (text) => settled(() => writeAllSync(Deno.stderr, text)),
    async readLine() {
      lines ??= readLines(Deno.stdin.readable);
      const next = await lines.next();
      return next.done ? null : next.value;
    },
    // Asked only by the commands that prompt or colour, not on the plugin's path.
    get stdinIsTerminal() {
      return Deno.stdin.isTerminal();
    },
    // One isatty on the plugin's path: the ExecCredential holds the private key, not for a terminal's scrollback.
    get stdoutIsTerminal() {
      return Deno.stdout.isTerminal();
    },
    get color() {
      return Deno.stderr.isTerminal() && !Deno.env.get("NO_COLOR");
    },
    get stdoutColor() {
      return Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
    },
    env: (name) => Deno.env.get(name),
    cwd: () => Deno.cwd(),
    now: () => new Date(),
    narrow(use) {
      // Asked before the revocation. Every use keeps env, but `version` must print in a process granted less (the
      // release build runs the bundle with --allow-read alone), where reading it is refused. Not asked with
      // Deno.permissions.querySync: its first call costs 0.6-5 ms here, and this runs on every kubectl call.
      let debug = false;
      try {
        debug = Boolean(Deno.env.get(DEBUG_VARIABLE));
      } catch {
        // No env: no debug line.
      }
      revokePermissions(use);
      if (debug) {
        writeAllSync(
          Deno.stderr,
          `debug: permissions after narrowing for ${use}: ${describePermissions()}\n`,
        );
      }
    },
  };
}

/** A blocking call as a promise, its failure as a rejection (as an async write would report it). */
function settled(call: () => void): Promise<void> {
  try {
    call();
    return Promise.resolve();
  } catch (error) {
    return Promise.reject(error);
  }
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf("\n")) !== -1) {
      yield buffered.slice(0, newline).replace(/\r$/, "");
      buffered = buffered.slice(newline + 1);
    }
  }
  buffered += decoder.decode();
  if (buffered) yield buffered;
}
