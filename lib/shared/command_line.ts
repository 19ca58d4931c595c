/**
 * The `--before-exec-command` line: one rule, so that what a user writes (and `kubeconfig set` stores) is exactly
 * what runs, on every OS, with no shell involved.
 *
 * - Whitespace (space, tab, newline) separates words.
 * - Quotes group words everywhere: `'dev team'` and `"dev team"` are one word; a quote inside a word joins it
 *   (`a'b c'd` is `ab cd`). Single quotes are literal up to the next `'`.
 * - On Linux and macOS a backslash escapes, as in a POSIX shell: outside quotes it makes the next character
 *   literal (`a\ b`), inside double quotes only before `"`, `\`, `$`, `` ` `` and a newline.
 * - On Windows a backslash is a path character (`C:\Users\me\renew.cmd`), never an escape, and double quotes are
 *   literal up to the next `"` too; a `"` is written inside single quotes and a `'` inside double quotes.
 * - An unquoted leading `~/` (on Windows also `~\`), or a word that is just `~`, becomes the home folder.
 *
 * Nothing else is expanded: no variables, globs, pipes or redirections (write `sh -c '...'` or `cmd /c ...`).
 */
import { UsageError } from "./errors.ts";
import { expandTilde, HOST_OS, isWindows, type Os } from "./platform.ts";

/** Splits a command line into argv by the rule above (the `os`'s backslash rule), expanding `~` to `home`. */
export function splitCommandLine(line: string, home?: string, os: Os = HOST_OS): string[] {
  const escapes = !isWindows(os);
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
      else if (
        escapes && c === "\\" && i + 1 < line.length && '"\\$`\n'.includes(line[i + 1]!)
      ) {
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
    } else if (escapes && c === "\\") {
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
/** On Windows a backslash is as plain as a slash. */
const SAFE_WINDOWS_WORD = /^[A-Za-z0-9_@%+=:,./\\-]+$/;

/** Quotes argv back into one command line that splitCommandLine() on the same `os` turns into the same argv. */
export function joinCommandLine(argv: readonly string[], os: Os = HOST_OS): string {
  return argv.map((word) => quoteWord(word, os)).join(" ");
}

/**
 * Quotes one word for splitCommandLine() on `os`, only when it needs it: POSIX shell quoting on Linux and macOS
 * (`'it'\''s'`, which a shell reads alike); on Windows double quotes, as Windows users write paths, and single
 * quotes around any `"`.
 */
export function quoteWord(word: string, os: Os = HOST_OS): string {
  if (!isWindows(os)) {
    if (word !== "" && SAFE_WORD.test(word)) return word;
    return `'${word.replaceAll("'", `'\\''`)}'`;
  }
  if (word !== "" && SAFE_WINDOWS_WORD.test(word)) return word;
  if (!word.includes('"')) return `"${word}"`;
  if (!word.includes("'")) return `'${word}'`;
  // Both kinds: runs of `"` in single quotes, everything between them in double quotes.
  return word.split(/("+)/).filter((part) => part !== "").map((part) =>
    part.startsWith('"') ? `'${part}'` : `"${part}"`
  ).join("");
}
