/** The process edges a subcommand may touch; main.ts builds the real one, tests build their own. */
export interface Io {
  /** Writes data meant for the caller (the ExecCredential, JSON output, completion scripts). */
  stdout(text: string): Promise<void>;
  /** Writes messages meant for people: warnings, diffs, prompts. */
  stderr(text: string): Promise<void>;
  /** Reads one line typed by the user, or null at end of input. */
  readLine(): Promise<string | null>;
  stdinIsTerminal: boolean;
  /** Whether stderr may be coloured: a terminal, and NO_COLOR unset. */
  color: boolean;
  env(name: string): string | undefined;
  cwd(): string;
  now(): Date;
}

const encoder = new TextEncoder();

/** Writes all of `text` to a stream; Deno's write() may write only part of it. */
export async function writeAll(
  stream: { write(p: Uint8Array): Promise<number> },
  text: string,
): Promise<void> {
  let bytes = encoder.encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(await stream.write(bytes));
}

/** The real process: what main.ts hands to every subcommand. */
export function processIo(): Io {
  let lines: AsyncIterator<string> | undefined;
  return {
    stdout: (text) => writeAll(Deno.stdout, text),
    stderr: (text) => writeAll(Deno.stderr, text),
    async readLine() {
      lines ??= readLines(Deno.stdin.readable);
      const next = await lines.next();
      return next.done ? null : next.value;
    },
    stdinIsTerminal: Deno.stdin.isTerminal(),
    color: Deno.stderr.isTerminal() && !Deno.env.get("NO_COLOR"),
    env: (name) => Deno.env.get(name),
    cwd: () => Deno.cwd(),
    now: () => new Date(),
  };
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
