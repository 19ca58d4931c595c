/**
 * Secrets out of what a person sees: every secret value of a kubeconfig text found by meaning and replaced, and the
 * diff of an edit built from redacted windows of the two texts.
 */
import {
  type Document,
  isAlias,
  isMap,
  isNode,
  isSeq,
  type Node,
  type Pair,
  parseDocument,
  visit,
} from "yaml";
import { type DiffOptions, unifiedDiff } from "./diff.ts";
import { itemRange, outlineKubeconfig, parseItem } from "./read.ts";
import { changedSpan, keyOf, YAML_OPTIONS } from "./text.ts";

/** What replaces a secret value in diffs and messages. */
export const REDACTED = "<redacted>";

/** Keys of a kubeconfig `user` whose values are secrets (kubectl's AuthInfo fields). */
export const SECRET_USER_KEYS: readonly string[] = [
  "token",
  "password",
  "client-certificate-data",
  "client-key-data",
];

/**
 * Replaces every secret value of a kubeconfig text with `<redacted>`: user tokens, passwords, certificate and key
 * data, auth-provider config values and exec env values, in every user, so that a diff or a message built from the
 * result shows the layout but never a secret. Secrets are found by meaning, not by where they are written: a user
 * entry, a `user:` or a value that is a YAML alias has the anchored node it points at redacted too, as do fields
 * a user gets through a merge key (`<<`). Text that does not parse is replaced whole: it cannot be redacted safely.
 */
export function redactKubeconfig(text: string): string {
  return redactWindow(text, 0, text.length);
}

/**
 * The diff of two versions of a kubeconfig that a person sees: only the lines that change with their context, every
 * secret redacted. Only that window is redacted and diffed, so a 20 MB file costs what its changed entry costs.
 */
export function redactedDiff(oldText: string, newText: string, options: DiffOptions): string {
  if (oldText === newText) return "";
  const context = options.context ?? 3;
  const { prefix, suffix } = changedSpan(oldText, newText);
  // From `context` lines before the first changed line to `context` lines after the last one.
  let start = oldText.lastIndexOf("\n", prefix - 1) + 1;
  for (let i = 0; i < context && start > 0; i++) start = oldText.lastIndexOf("\n", start - 2) + 1;
  let oldEnd = oldText.length - suffix;
  if (oldEnd > start && oldText[oldEnd - 1] !== "\n") oldEnd = lineEndAt(oldText, oldEnd);
  for (let i = 0; i < context && oldEnd < oldText.length; i++) oldEnd = lineEndAt(oldText, oldEnd);
  const newEnd = newText.length - (oldText.length - oldEnd);
  let skipped = 0;
  for (
    let at = oldText.indexOf("\n");
    at !== -1 && at < start;
    at = oldText.indexOf("\n", at + 1)
  ) {
    skipped++;
  }
  return unifiedDiff(
    redactWindow(oldText, start, oldEnd),
    redactWindow(newText, start, newEnd),
    { ...options, lineOffset: skipped },
  );
}

function lineEndAt(text: string, at: number): number {
  const newline = text.indexOf("\n", at);
  return newline === -1 ? text.length : newline + 1;
}

/** text.slice(from, to) with every secret that overlaps it redacted. */
function redactWindow(text: string, from: number, to: number): string {
  const ranges = secretRanges(text, from, to);
  if (ranges === undefined) return `${REDACTED}\n`;
  const sorted = ranges
    .map(([start, end]): [number, number] => [Math.max(start, from), Math.min(end, to)])
    .filter(([start, end]) => start < end)
    .sort((a, b) => a[0] - b[0]);
  let out = "";
  let at = from;
  for (const [start, end] of sorted) {
    if (start < at) continue; // nested in one already replaced
    // Keep a newline a block scalar's range ends with.
    out += text.slice(at, start) + REDACTED + (text[end - 1] === "\n" ? "\n" : "");
    at = end;
  }
  return out + text.slice(at, to);
}

/**
 * [start, end) of every secret of `text` that may overlap [from, to); undefined when the text does not parse. In
 * kubectl's plain layout (no anchors or aliases anywhere) a user's secrets lie inside its own list item, so only the
 * items overlapping the window are parsed; otherwise the whole document is.
 */
function secretRanges(text: string, from: number, to: number): [number, number][] | undefined {
  const ranges: [number, number][] = [];
  const outline = outlineKubeconfig(text);
  const users = outline?.lists.get("users");
  const usersChunks = outline?.chunks.filter((chunk) => chunk.key === "users") ?? [];
  if (outline && usersChunks.length <= 1 && (usersChunks.length === 0 || users)) {
    let ok = true;
    for (let index = 0; users && index < users.items.length; index++) {
      const [start, end] = itemRange(users, index);
      if (end <= from || start >= to) continue;
      const parsed = parseItem(text, start, end);
      if (!parsed) {
        ok = false;
        break;
      }
      entrySecrets(parsed.doc, parsed.item, ranges);
    }
    if (ok) return ranges;
  }
  const doc = parseDocument(text, YAML_OPTIONS);
  if (doc.errors.length > 0) return undefined;
  try {
    const root = resolve(doc, doc.contents);
    const list = resolve(doc, isMap(root) ? valueOf(doc, root, "users") : undefined);
    if (isSeq(list)) { for (const entry of list.items) entrySecrets(doc, entry, ranges); }
  } catch {
    return undefined; // e.g. an alias without its anchor
  }
  return ranges;
}

/** The secrets of one `users` entry, followed through aliases and merge keys. */
function entrySecrets(doc: Document, entry: unknown, ranges: [number, number][]): void {
  const seen = new Set<Node>();
  // A secret node, and whatever anchored node it is or holds an alias of: that is where the secret is written.
  const secret = (node: unknown) => {
    if (!isNode(node) || seen.has(node)) return;
    seen.add(node);
    if (isAlias(node)) {
      secret(node.resolve(doc));
      return;
    }
    if (node.range) ranges.push([node.range[0], node.range[1]]);
    visit(node, {
      Alias(_, alias) {
        secret(alias.resolve(doc));
      },
    });
  };
  const item = resolve(doc, entry);
  if (!isMap(item)) return;
  const user = resolve(doc, valueOf(doc, item, "user"));
  if (!isMap(user)) return;
  for (const pair of pairsOf(doc, user)) {
    const key = keyOf(pair);
    if (SECRET_USER_KEYS.includes(key)) secret(pair.value);
    else if (key === "auth-provider") {
      const provider = resolve(doc, pair.value);
      const config = isMap(provider) ? resolve(doc, valueOf(doc, provider, "config")) : undefined;
      if (isMap(config)) { for (const entry of pairsOf(doc, config)) secret(entry.value); }
      else secret(config);
    } else if (key === "exec") {
      const exec = resolve(doc, pair.value);
      const env = isMap(exec) ? resolve(doc, valueOf(doc, exec, "env")) : undefined;
      if (!isSeq(env)) continue;
      for (const item of env.items) {
        const variable = resolve(doc, item);
        if (isMap(variable)) secret(valueOf(doc, variable, "value"));
      }
    }
  }
}

/** An alias's anchored node (through chains of aliases), or the node itself. */
function resolve(doc: Document, node: unknown): unknown {
  let current = node;
  for (let hops = 0; isAlias(current) && hops < 100; hops++) current = current.resolve(doc);
  return current;
}

/** A mapping's pairs, then those it merges in with `<<` (as YAML 1.1 readers such as kubectl's do). */
function pairsOf(doc: Document, map: unknown, seen = new Set<unknown>()): Pair[] {
  if (!isMap(map) || seen.has(map)) return [];
  seen.add(map);
  const out: Pair[] = [];
  for (const pair of map.items) {
    const key = keyOf(pair);
    if (key !== "<<") {
      out.push(pair);
      continue;
    }
    const source = resolve(doc, pair.value);
    const sources = isSeq(source) ? source.items : [source];
    for (const merged of sources) out.push(...pairsOf(doc, resolve(doc, merged), seen));
  }
  return out;
}

/** The value node of `key` in a mapping, merged keys included; the mapping's own pair wins. */
function valueOf(doc: Document, map: unknown, key: string): unknown {
  return pairsOf(doc, map).find((pair) => keyOf(pair) === key)?.value;
}
