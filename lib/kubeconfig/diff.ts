/** The unified diff `kubeconfig set` shows, GNU-style; redact.ts hands it texts with every secret already out. */
import { structuredPatch } from "diff";

/** How a unified diff is labelled and shown. */
export interface DiffOptions {
  /** Header names; "/dev/null" for a file that does not exist yet. */
  oldName: string;
  newName: string;
  /** Lines of context around each change. */
  context?: number;
  /** ANSI colours (red removals, green additions, cyan hunk headers). */
  color?: boolean;
  /** Lines of the files before the texts given: they are a window of the files, hunks say where it is. */
  lineOffset?: number;
}

const RESET = "\x1b[0m";
const BOLD = "\x1b[1m";
const RED = "\x1b[31m";
const GREEN = "\x1b[32m";
const CYAN = "\x1b[36m";

/**
 * A unified diff (`---`/`+++` headers, `@@` hunks) of two texts, or "" when they are equal. Callers pass redacted
 * texts: the diff shows whatever it is given.
 */
export function unifiedDiff(oldText: string, newText: string, options: DiffOptions): string {
  if (oldText === newText) return "";
  const patch = structuredPatch(
    options.oldName,
    options.newName,
    oldText,
    newText,
    undefined,
    undefined,
    { context: options.context ?? 3 },
  );
  const paint = (code: string, line: string) => options.color ? `${code}${line}${RESET}` : line;
  const offset = options.lineOffset ?? 0;
  const lines = [
    paint(BOLD, `--- ${options.oldName}`),
    paint(BOLD, `+++ ${options.newName}`),
  ];
  for (const hunk of patch.hunks) {
    lines.push(
      paint(
        CYAN,
        `@@ -${range(hunk.oldStart + offset, hunk.oldLines)} +${
          range(hunk.newStart + offset, hunk.newLines)
        } @@`,
      ),
    );
    for (const line of hunk.lines) {
      if (line.startsWith("-")) lines.push(paint(RED, line));
      else if (line.startsWith("+")) lines.push(paint(GREEN, line));
      else lines.push(line);
    }
  }
  return lines.join("\n") + "\n";
}

/** GNU diff's hunk range: "start,count", where an empty range names the line before it. */
function range(start: number, count: number): string {
  if (count === 0) return `${start - 1},0`;
  return count === 1 ? `${start}` : `${start},${count}`;
}
