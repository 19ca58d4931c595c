import { UsageError } from "./errors.ts";
import { expandTilde, HOST_OS, type Os } from "./platform.ts";

/**
 * Splits a command line into argv the way a POSIX shell would for a simple command: whitespace separates words,
 * single quotes are literal, double quotes allow \" \\ \$ \`, a backslash outside quotes escapes the next
 * character, and an unquoted leading "~/" becomes the home folder (by the platform's `~` rule). Nothing else is expanded: no variables, globs,
 * pipes or redirections (write `sh -c '...'` for those), so what the user wrote is exactly what runs.
 */
export function splitCommandLine(line: string, home?: string, os: Os = HOST_OS): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | null = null;
  let quoteStart = 0;
  let wordStartUnquoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === "\\" && i + 1 < line.length && '"\\$`\n'.includes(line[i + 1]!)) {
        i++;
        if (line[i] !== "\n") word += line[i];
      } else word += c;
      continue;
    }
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      if (inWord) words.push(wordStartUnquoted ? expandTilde(word, home, os) : word);
      word = "";
      inWord = false;
      continue;
    }
    if (!inWord) {
      inWord = true;
      wordStartUnquoted = c === "~";
    }
    if (c === "'" || c === '"') {
      quote = c;
      quoteStart = i;
    } else if (c === "\\") {
      if (i + 1 >= line.length) {
        throw new UsageError(`before-exec command ends with a lone backslash at column ${i + 1}`);
      }
      i++;
      if (line[i] !== "\n") word += line[i];
    } else word += c;
  }
  if (quote) {
    throw new UsageError(
      `before-exec command has an unterminated ${quote === "'" ? "single" : "double"} quote ` +
        `opened at column ${quoteStart + 1}`,
    );
  }
  if (inWord) words.push(wordStartUnquoted ? expandTilde(word, home, os) : word);
  return words;
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes argv back into one command line that splitCommandLine() turns into the same argv. */
export function joinCommandLine(argv: readonly string[]): string {
  return argv.map(quoteWord).join(" ");
}

/** Quotes one word for a POSIX shell (and for splitCommandLine), only when it needs it. */
export function quoteWord(word: string): string {
  if (word !== "" && SAFE_WORD.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
