/**
 * Where YAML nodes sit in their text, how new lines are written the file's way, and where two texts differ: the small
 * text and node helpers the kubeconfig reader, the editor and the redacted diff share.
 */

import {
  isAlias,
  isMap,
  isNode,
  isScalar,
  isSeq,
  type Pair,
  parseDocument,
  stringify,
  type YAMLMap,
} from "yaml";

/**
 * kubectl reads kubeconfigs with go-yaml, which follows YAML 1.1 (`yes` is a boolean, `<<` merges): parse and
 * write the same way, so that a string we store is never read back by kubectl as something else.
 */
export const YAML_OPTIONS = { version: "1.1", prettyErrors: false, uniqueKeys: true } as const;

/** The plain JS of a text that must parse cleanly as one block document; undefined otherwise. */
export function parsedJs(text: string): unknown {
  const doc = parseDocument(text, YAML_OPTIONS);
  if (
    doc.errors.length > 0 || (isNode(doc.contents) && "flow" in doc.contents && doc.contents.flow)
  ) {
    return undefined;
  }
  try {
    return doc.toJS();
  } catch {
    return undefined;
  }
}

/** The line break a file uses ("\r\n" when its first line ends so), for the lines an edit inserts. */
export function lineBreak(text: string): string {
  const newline = text.indexOf("\n");
  return newline > 0 && text[newline - 1] === "\r" ? "\r\n" : "\n";
}

/** `key: value` as YAML lines at `column`, the first line indented too; ends with a newline. */
export function renderPair(
  key: string,
  value: unknown,
  column: number,
  indentSeq: boolean,
  eol: string,
): string {
  return render({ [key]: value }, column, indentSeq, eol);
}

/** YAML lines at `column`, with the file's line break (a CRLF file gets CRLF lines). */
export function render(value: unknown, column: number, indentSeq: boolean, eol: string): string {
  const yaml = stringify(value, { ...YAML_OPTIONS, lineWidth: 0, indentSeq });
  const pad = " ".repeat(column);
  return yaml.split("\n").map((line) => line === "" ? line : pad + line).join(eol);
}

/** The pair of `key` in a mapping, as written (no merge keys followed). */
export function findPair(map: YAMLMap, key: string): Pair | undefined {
  return map.items.find((pair) => keyOf(pair) === key);
}

/** A pair's key as text; YAML 1.1's merge key `<<` is parsed as a symbol. */
export function keyOf(pair: Pair): string {
  if (!isScalar(pair.key)) return "";
  const value = pair.key.value;
  return typeof value === "symbol" ? value.description ?? "" : String(value);
}

/** The `name` of a list entry as text, as kubectl matches it. */
export function nameOf(map: YAMLMap): string | undefined {
  const name = map.get("name");
  return name === undefined || name === null ? undefined : String(name);
}

/** Whether a node is an empty value (`key:` or `key: null`), which kubectl reads as unset. */
export function isNullScalar(node: unknown): boolean {
  return isScalar(node) && node.value === null;
}

/** Where a node sits in its text, when the parser recorded it. */
export function rangeOf(node: unknown): [number, number, number] | undefined {
  return isNode(node) && node.range ? node.range : undefined;
}

/** Where a pair's text ends: its value's end, or its key's when the value is empty. */
export function pairEnd(pair: Pair): number {
  return rangeOf(pair.value)?.[1] ?? rangeOf(pair.key)?.[1] ?? 0;
}

/** The offset where the line holding `at` starts. */
export function lineStart(text: string, at: number): number {
  return text.lastIndexOf("\n", at - 1) + 1;
}

/** The start of the line holding `at`, if only blanks precede `at` on it. */
export function lineStartIfAligned(text: string, at: number | undefined): number | undefined {
  if (at === undefined) return undefined;
  const start = lineStart(text, at);
  return /^[ ]*$/.test(text.slice(start, at)) ? start : undefined;
}

/** The offset just after the line that `end` (an exclusive end) finishes, taking a trailing comment along. */
export function lineEnd(text: string, end: number): number {
  if (end > 0 && text[end - 1] === "\n") return end;
  const newline = text.indexOf("\n", end);
  return newline === -1 ? text.length : newline + 1;
}

/** The column a node starts at: what lines inserted next to it are indented by. */
export function columnOf(text: string, node: unknown): number | undefined {
  const start = rangeOf(node)?.[0];
  return start === undefined ? undefined : start - lineStart(text, start);
}

/** What a YAML node is, for "is a list, not a mapping" messages about the text as written. */
export function kindOfNode(node: unknown): string {
  if (isSeq(node)) return "a list";
  if (isMap(node)) return "a mapping";
  if (isAlias(node)) return "an alias";
  if (isScalar(node)) return node.value === null ? "empty" : `a ${typeof node.value}`;
  return "empty";
}

/**
 * Where two texts differ: the length of their common start (`prefix`) and of their common end after it
 * (`suffix`), in UTF-16 code units. The edit and the diff a person sees both work on that span only.
 */
export function changedSpan(oldText: string, newText: string): { prefix: number; suffix: number } {
  const max = Math.min(oldText.length, newText.length);
  let prefix = 0;
  while (prefix < max && oldText.charCodeAt(prefix) === newText.charCodeAt(prefix)) prefix++;
  let suffix = 0;
  while (
    suffix < max - prefix &&
    oldText.charCodeAt(oldText.length - 1 - suffix) ===
      newText.charCodeAt(newText.length - 1 - suffix)
  ) suffix++;
  return { prefix, suffix };
}
