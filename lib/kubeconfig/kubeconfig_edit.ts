/**
 * The pure kubeconfig editor: original text + edit request -> new text. It splices text inside the target user's
 * entry so that comments, key order, formatting and unknown fields elsewhere survive byte for byte, then re-parses
 * the result and checks that exactly the intended change happened before anyone may write it.
 */
import { isDeepStrictEqual } from "node:util";
import {
  type Document,
  isAlias,
  isMap,
  isNode,
  isScalar,
  isSeq,
  type Node,
  type Pair,
  parseAllDocuments,
  parseDocument,
  stringify,
  visit,
  type YAMLMap,
} from "yaml";
import { KubeconfigError } from "../shared/errors.ts";

/**
 * kubectl reads kubeconfigs with go-yaml, which follows YAML 1.1 (`yes` is a boolean, `<<` merges): parse and
 * write the same way, so that a string we store is never read back by kubectl as something else.
 */
export const YAML_OPTIONS = { version: "1.1", prettyErrors: false, uniqueKeys: true } as const;

/**
 * User fields that make client-go skip the exec plugin (a token, basic auth or a client certificate wins over
 * exec), and auth-provider, which kubectl refuses next to exec.
 */
export const STATIC_CREDENTIAL_KEYS: readonly string[] = [
  "token",
  "tokenFile",
  "client-certificate",
  "client-certificate-data",
  "client-key",
  "client-key-data",
  "username",
  "password",
  "auth-provider",
];

/** What a new or empty kubeconfig file starts as, the fields `kubectl config` writes. */
export const MINIMAL_KUBECONFIG = `apiVersion: v1
kind: Config
clusters: []
contexts: []
current-context: ""
preferences: {}
users: []
`;

let parsedCache: { text: string; doc: Document.Parsed | null } | undefined;

/**
 * Parses one kubeconfig file; null when it holds no document (empty or only comments). The last result is kept:
 * reading a file's view and planning its edit parse the same text, and a 20 MB file takes seconds.
 */
export function parseKubeconfig(text: string, path: string): Document.Parsed | null {
  if (parsedCache?.text === text) return parsedCache.doc;
  const doc = parseKubeconfigUncached(text, path);
  parsedCache = { text, doc };
  return doc;
}

function parseKubeconfigUncached(text: string, path: string): Document.Parsed | null {
  const docs = parseAllDocuments(text, YAML_OPTIONS);
  if (!Array.isArray(docs) || docs.length === 0) return null;
  if (docs.length > 1) {
    throw new KubeconfigError(
      `kubeconfig ${path} holds ${docs.length} YAML documents; a kubeconfig is one document`,
      { hint: "split it into one file per document and list them in KUBECONFIG" },
    );
  }
  const doc = docs[0]!;
  const error = doc.errors[0];
  if (error) {
    const { line, col } = lineColumn(text, error.pos[0]);
    // The message only: yaml's pretty errors quote the source line, which may hold a secret.
    throw new KubeconfigError(
      `kubeconfig ${path} is not valid YAML at line ${line}, column ${col}: ${
        error.message.split("\n")[0]
      }`,
    );
  }
  try {
    doc.toJS();
  } catch (cause) {
    // e.g. an alias before its anchor; the message names the anchor, never a value.
    throw new KubeconfigError(
      `kubeconfig ${path} is not valid YAML: ${cause instanceof Error ? cause.message : cause}`,
      { cause },
    );
  }
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    return null;
  }
  if (!isMap(doc.contents)) {
    throw new KubeconfigError(
      `kubeconfig ${path} is not a kubeconfig: its top level is ${
        kindOf(doc.contents)
      }, not a mapping`,
    );
  }
  return doc;
}

/** One file's entries as plain JS, in file order; the first entry of a name is the one kubectl uses. */
export interface KubeconfigView {
  /** Empty when unset. */
  currentContext: string;
  contexts: { name: string; context: Record<string, unknown> }[];
  users: { name: string; user: Record<string, unknown> }[];
}

/** The entries of one kubeconfig text that choosing a user needs (also what `doctor` reads). */
export function kubeconfigView(text: string, path: string): KubeconfigView {
  const lean = leanParse(text);
  const js = lean
    ? lean.js
    : (parseKubeconfig(text, path)?.toJS() ?? {}) as Record<string, unknown>;
  const entries = (list: string, field: string) => {
    const value = js[list];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      throw new KubeconfigError(`${list} in kubeconfig ${path} is ${kindOfJs(value)}, not a list`);
    }
    const out: { name: string; value: Record<string, unknown> }[] = [];
    for (const entry of value) {
      if (!isRecord(entry) || entry.name === undefined || entry.name === null) continue;
      const inner = entry[field];
      out.push({ name: String(entry.name), value: isRecord(inner) ? inner : {} });
    }
    return out;
  };
  const current = js["current-context"];
  return {
    currentContext: typeof current === "string" ? current : current == null ? "" : String(current),
    contexts: entries("contexts", "context").map(({ name, value }) => ({ name, context: value })),
    users: entries("users", "user").map(({ name, value }) => ({ name, user: value })),
  };
}

/**
 * A kubeconfig's top-level layout from a scan of its lines, without parsing: where each top-level key starts and,
 * for each block list written `key:` then `- ` items (kubectl's own layout), where each item starts. Lets a big
 * file be parsed item by item (a 20 MB file as one yaml Document needs 700 MB) and an edit be checked on the one
 * item it changes. Undefined for anything else (anchors, aliases, tabs, several documents, flow style), which goes
 * through the whole-document parser.
 */
export interface Outline {
  chunks: Chunk[];
  lists: Map<string, ListChunk>;
}

/** One top-level key and its value: [start, end) of the text. */
export interface Chunk {
  start: number;
  end: number;
  key: string;
  list?: ListChunk;
}

/** A top-level block list: its items' start offsets at `column`; the last item ends at `end`. */
export interface ListChunk {
  key: string;
  column: number;
  items: number[];
  end: number;
}

/** A conservative test for YAML anchors and aliases (`&x`, `*x` after a blank or an indicator). */
const ANCHOR_OR_ALIAS = /(?:^|[\s\[{,])[&*][^\s,\[\]{}]/m;

/** The line-scan outline of `text`, or undefined when its layout is not the plain block one. */
export function outlineKubeconfig(text: string): Outline | undefined {
  if (text.startsWith("\uFEFF") || ANCHOR_OR_ALIAS.test(text)) return undefined;
  const chunks: Chunk[] = [];
  const lists = new Map<string, ListChunk>();
  let current: Chunk | undefined;
  let headerOnly = false; // the current key's line had no value: a block value may follow
  let pos = 0;
  while (pos < text.length) {
    const newline = text.indexOf("\n", pos);
    const end = newline === -1 ? text.length : newline + 1;
    let at = pos;
    while (text.charCodeAt(at) === 32) at++;
    const ch = text[at];
    if (at >= end || ch === "\n" || ch === "\r" || ch === "#") {
      pos = end;
      continue;
    }
    if (ch === "\t") return undefined;
    const indent = at - pos;
    if (indent === 0 && ch !== "-") {
      if (ch === "%" || text.startsWith("---", pos) || text.startsWith("...", pos)) {
        return undefined;
      }
      if (current) current.end = pos;
      // Plain keys only: a quoted or complex key could spell `users` in a way this scan would miss.
      const header = /^([A-Za-z][\w.-]*):(?:([ ]*(?:#[^\n]*)?\r?\n?)$|[ ])/.exec(
        text.slice(pos, end),
      );
      if (!header) return undefined;
      current = { start: pos, end: text.length, key: header[1]! };
      chunks.push(current);
      headerOnly = header[2] !== undefined;
      pos = end;
      continue;
    }
    if (!current) return undefined; // content before the first key: not a mapping at the top
    const dash = ch === "-" && /^(?:[ \r\n]|$)/.test(text[at + 1] ?? "");
    if (headerOnly) {
      headerOnly = false;
      if (dash && !lists.has(current.key)) {
        current.list = { key: current.key, column: indent, items: [], end: text.length };
        lists.set(current.key, current.list);
      }
    }
    const list = current.list;
    if (list) {
      if (indent < list.column || (indent === list.column && !dash)) return undefined;
      if (indent === list.column) list.items.push(pos);
    } else if (indent === 0) return undefined; // a `- ` at column 0 under a key with an inline value
    pos = end;
  }
  for (const chunk of chunks) if (chunk.list) chunk.list.end = chunk.end;
  return { chunks, lists };
}

/** [start, end) of item `index` of a list chunk. */
export function itemRange(list: ListChunk, index: number): [number, number] {
  return [list.items[index]!, list.items[index + 1] ?? list.end];
}

interface LeanParse {
  outline: Outline;
  js: Record<string, unknown>;
}

let leanCache: { text: string; lean: LeanParse | undefined } | undefined;

/** How many list items are parsed as one small document: few enough to stay small, enough to amortize the parser. */
const BATCH = 32;

/**
 * The whole file parsed list item by list item, as plain JS; undefined when its layout is not the plain one or
 * anything in it does not parse (the whole-document parser then gives the precise error).
 */
function leanParse(text: string): LeanParse | undefined {
  if (leanCache?.text === text) return leanCache.lean;
  const lean = leanParseUncached(text);
  leanCache = { text, lean };
  return lean;
}

function leanParseUncached(text: string): LeanParse | undefined {
  const outline = outlineKubeconfig(text);
  if (!outline || outline.lists.size === 0) return undefined;
  // Everything but the lists, with `key: []` standing in for each: top-level keys stay checked for duplicates.
  let rest = "";
  for (const chunk of outline.chunks) {
    if (chunk.list) rest += `${chunk.list.key}: []\n`;
    else {
      const piece = text.slice(chunk.start, chunk.end);
      rest += piece.endsWith("\n") ? piece : `${piece}\n`;
    }
  }
  const js = parsedJs(rest);
  if (!isRecord(js)) return undefined;
  for (const list of outline.lists.values()) {
    const items: unknown[] = [];
    for (let first = 0; first < list.items.length; first += BATCH) {
      const last = Math.min(first + BATCH, list.items.length) - 1;
      const values = parsedJs(text.slice(list.items[first]!, itemRange(list, last)[1]));
      if (!Array.isArray(values) || values.length !== last - first + 1) return undefined;
      for (const value of values) items.push(value);
    }
    js[list.key] = items;
  }
  return { outline, js };
}

/** The plain JS of a text that must parse cleanly as one block document; undefined otherwise. */
function parsedJs(text: string): unknown {
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

/**
 * One list item parsed alone, its ranges moved to where it sits in the whole text, so the editor can splice the
 * whole text from it. Undefined when it is not one block item.
 */
export function parseItem(
  text: string,
  start: number,
  end: number,
): { doc: Document.Parsed; item: Node } | undefined {
  const doc = parseDocument(text.slice(start, end), YAML_OPTIONS);
  const seq = doc.contents;
  if (doc.errors.length > 0 || !isSeq(seq) || seq.flow || seq.items.length !== 1) return undefined;
  visit(doc, {
    Node(_, node) {
      if (node.range) {
        node.range = [node.range[0] + start, node.range[1] + start, node.range[2] + start];
      }
    },
  });
  const item = seq.items[0];
  return isNode(item) ? { doc, item } : undefined;
}

/** Which user gets which exec block. */
export interface ExecEditRequest {
  user: string;
  /** The whole exec block, in the key order it should be written. */
  exec: Record<string, unknown>;
  /** Add the user entry when the file has none of that name. */
  create: boolean;
}

/** The new text and what changed, for the summary and the diff. */
export interface ExecEditResult {
  text: string;
  changed: boolean;
  /** The file had no document: the result is a new minimal kubeconfig. */
  newFile: boolean;
  /** A user entry was added. */
  created: boolean;
  /** Static credential fields removed from the user. */
  removed: string[];
  /** The exec block the user had before, if any. */
  previousExec?: unknown;
  /** False when the text could not be spliced and the document was re-serialized (verified all the same). */
  layoutKept: boolean;
}

/**
 * Points `request.user` at the exec block, removing the static credentials that would stop kubectl from calling
 * it. Only that user's entry changes; the result is verified by re-parsing, and an edit that cannot be verified is
 * refused rather than returned. A file in kubectl's plain layout is parsed and checked item by item (the changed
 * item re-parsed, the rest kept byte for byte); any other goes through the whole-document parser.
 */
export function setUserExec(text: string, path: string, request: ExecEditRequest): ExecEditResult {
  return leanSetUserExec(text, path, request) ?? fullSetUserExec(text, path, request);
}

function leanSetUserExec(
  text: string,
  path: string,
  request: ExecEditRequest,
): ExecEditResult | undefined {
  const lean = leanParse(text);
  const list = lean?.outline.lists.get("users");
  const users = lean?.js.users;
  if (!list || !Array.isArray(users) || list.items.length === 0) return undefined;
  const matches = users.flatMap((entry, index) =>
    isRecord(entry) && entry.name !== undefined && entry.name !== null &&
      String(entry.name) === request.user
      ? [index]
      : []
  );
  const index = checkMatches(matches, path, request);
  const eol = lineBreak(text);
  const indentSeq = list.column > 0;
  const label = `user "${request.user}" in kubeconfig ${path}`;
  if (index === undefined) {
    const newUser = { exec: request.exec };
    const entry = { name: request.user, user: newUser };
    const at = afterLastItem(text, list);
    const insert = (at > 0 && text[at - 1] !== "\n" ? eol : "") +
      render([entry], list.column, indentSeq, eol);
    if (!verifyItem(insert, list.column, entry, at === text.length)) return undefined;
    return {
      text: text.slice(0, at) + insert + text.slice(at),
      changed: true,
      newFile: false,
      created: true,
      removed: [],
      layoutKept: true,
    };
  }
  const [start, end] = itemRange(list, index);
  const parsed = parseItem(text, start, end);
  if (!parsed || !isMap(parsed.item)) return undefined;
  const item = parsed.item;
  const { oldUser, userPair } = checkUser(parsed.doc, item, new Set(), label);
  const { removed, newUser } = plannedUser(oldUser, request);
  const result = { newFile: false, created: false, removed, previousExec: oldUser.exec };
  if (isDeepStrictEqual(newUser, oldUser)) {
    return { ...result, text, changed: false, layoutKept: true };
  }
  const expected = item.toJS(parsed.doc) as Record<string, unknown>;
  expected.user = newUser;
  const splices = spliceEdit({
    doc: parsed.doc,
    text,
    request,
    removed,
    newUser,
    index,
    item,
    userPair,
    indentSeq,
    eol,
  });
  if (!splices || splices.some((splice) => splice.start < start || splice.end > end)) {
    return undefined;
  }
  const itemText = applySplices(
    text.slice(start, end),
    splices.map((splice) => ({ ...splice, start: splice.start - start, end: splice.end - start })),
  );
  if (itemText === undefined || !verifyItem(itemText, list.column, expected, end === text.length)) {
    return undefined;
  }
  return {
    ...result,
    text: text.slice(0, start) + itemText + text.slice(end),
    changed: true,
    layoutKept: true,
  };
}

/**
 * Where a new last item goes: the end of the list, before the comment lines at or left of the dashes that close
 * it (they read as the next section's). Blank lines stay with the item: a `|+` block scalar keeps them.
 */
function afterLastItem(text: string, list: ListChunk): number {
  let at = list.end;
  const first = list.items[list.items.length - 1]!;
  while (at > first) {
    const start = text.lastIndexOf("\n", at - 2) + 1;
    if (start <= first) break;
    const line = text.slice(start, at);
    const content = line.replace(/^ */, "");
    if (!content.startsWith("#") || line.length - content.length > list.column) break;
    at = start;
  }
  return at;
}

/**
 * Whether `itemText`, put in place of one item of a block list at `column`, is exactly `expected` and nothing
 * else: one item, every other line deeper than the dash (so it cannot end the list or swallow what follows),
 * ending with a line break unless it ends the file.
 */
function verifyItem(itemText: string, column: number, expected: unknown, atEnd: boolean): boolean {
  if (!atEnd && !itemText.endsWith("\n")) return false;
  let first = true;
  for (const line of itemText.split("\n")) {
    const content = line.replace(/^ */, "");
    if (content === "" || content === "\r" || content.startsWith("#")) continue;
    const indent = line.length - content.length;
    if (content.startsWith("\t")) return false;
    if (first) {
      if (indent !== column || !/^-(?:[ \r]|$)/.test(content)) return false;
      first = false;
    } else if (indent <= column) return false;
  }
  const value = parsedJs(itemText);
  return Array.isArray(value) && value.length === 1 && isDeepStrictEqual(value[0], expected);
}

function checkMatches(
  matches: number[],
  path: string,
  request: ExecEditRequest,
): number | undefined {
  if (matches.length > 1) {
    throw new KubeconfigError(
      `user "${request.user}" is defined ${matches.length} times in kubeconfig ${path}`,
      { hint: "remove the duplicates; kubectl would only ever use one of them" },
    );
  }
  const index = matches[0];
  if (index === undefined && !request.create) {
    throw new KubeconfigError(`user "${request.user}" not found in kubeconfig ${path}`);
  }
  return index;
}

/** Refuses a user entry whose change would also change others (anchors, aliases, merge keys). */
function checkUser(
  doc: Document.Parsed,
  item: YAMLMap,
  aliased: Set<string>,
  label: string,
): { oldUser: Record<string, unknown>; userPair: Pair | undefined } {
  if (item.anchor && aliased.has(item.anchor)) throw shared(label, item.anchor);
  const userPair = findPair(item, "user");
  const value = userPair?.value;
  if (isAlias(value)) {
    throw new KubeconfigError(
      `${label} is the YAML alias *${value.source}, shared with other entries; the broker cannot change it alone`,
      { hint: "write the user's fields out in full, then run again" },
    );
  }
  if (value !== undefined && value !== null && !isMap(value) && !isNullScalar(value)) {
    throw new KubeconfigError(`${label}: user is ${kindOf(value)}, not a mapping`);
  }
  let oldUser: Record<string, unknown> = {};
  if (isMap(value)) {
    if (value.anchor && aliased.has(value.anchor)) throw shared(label, value.anchor);
    oldUser = (value.toJS(doc) ?? {}) as Record<string, unknown>;
    const local = new Set(value.items.map((pair) => keyOf(pair)));
    const merged = STATIC_CREDENTIAL_KEYS.filter((key) => key in oldUser && !local.has(key));
    if (merged.length > 0) {
      throw new KubeconfigError(
        `${label} gets ${merged.join(", ")} from a YAML merge key (<<); the broker cannot remove ` +
          `${merged.length > 1 ? "them" : "it"} without changing the entries that share it`,
        { hint: "write the user's fields out in full, then run again" },
      );
    }
    for (const pair of value.items) {
      const key = keyOf(pair);
      if (key !== "exec" && !STATIC_CREDENTIAL_KEYS.includes(key)) continue;
      const anchor = anchoredIn(pair.value, aliased);
      if (anchor) throw shared(`${label}: ${key}`, anchor);
    }
  }
  return { oldUser, userPair };
}

/** The user's fields after the edit: static credentials gone, exec replaced in place or appended. */
function plannedUser(
  oldUser: Record<string, unknown>,
  request: ExecEditRequest,
): { removed: string[]; newUser: Record<string, unknown> } {
  const removed = STATIC_CREDENTIAL_KEYS.filter((key) => key in oldUser);
  const newUser: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(oldUser)) {
    if (key === "exec") newUser.exec = request.exec;
    else if (!removed.includes(key)) newUser[key] = value;
  }
  newUser.exec = request.exec;
  return { removed, newUser };
}

function fullSetUserExec(text: string, path: string, request: ExecEditRequest): ExecEditResult {
  let doc = parseKubeconfig(text, path);
  let base = text;
  const newFile = doc === null;
  const eol = lineBreak(text);
  if (doc === null) {
    // Keep a leading comment block, if that is all the file had.
    base = (text.trim() === "" ? "" : text.replace(/(?:\r?\n)*$/, eol)) +
      MINIMAL_KUBECONFIG.replaceAll("\n", eol);
    doc = parseKubeconfigUncached(base, path)!;
  }
  const root = doc.contents as YAMLMap;
  const usersPair = findPair(root, "users");
  const users = usersPair?.value;
  if (users !== undefined && users !== null && !isSeq(users) && !isNullScalar(users)) {
    throw new KubeconfigError(
      `users in kubeconfig ${path} is ${kindOf(users)}, not a list`,
    );
  }
  const matches = isSeq(users)
    ? users.items.flatMap((item, index) =>
      isMap(item) && nameOf(item) === request.user ? [index] : []
    )
    : [];
  const index = checkMatches(matches, path, request);
  const aliased = aliasedAnchors(doc);
  const label = `user "${request.user}" in kubeconfig ${path}`;

  let oldUser: Record<string, unknown> = {};
  let item: YAMLMap | undefined;
  let userPair: Pair | undefined;
  if (index !== undefined) {
    item = (users as { items: unknown[] }).items[index] as YAMLMap;
    ({ oldUser, userPair } = checkUser(doc, item, aliased, label));
  }
  const { removed, newUser } = plannedUser(oldUser, request);
  const result = {
    newFile,
    created: index === undefined,
    removed,
    previousExec: oldUser.exec,
  };
  if (!newFile && index !== undefined && isDeepStrictEqual(newUser, oldUser)) {
    return { ...result, text, changed: false, layoutKept: true };
  }

  // A fresh conversion rather than a clone: structuredClone turns some values (e.g. !!binary) into other types.
  const expected = doc.toJS() as Record<string, unknown>;
  const list = Array.isArray(expected.users) ? expected.users : (expected.users = []);
  if (index === undefined) list.push({ name: request.user, user: newUser });
  else (list[index] as Record<string, unknown>).user = newUser;

  const edit: Edit = {
    doc,
    text: base,
    request,
    removed,
    newUser,
    index,
    item,
    userPair,
    indentSeq: sequenceIndent(base, root),
    eol,
  };
  if (root.flow && isJson(base)) {
    // kubectl reads JSON too; YAML spliced into it would leave a file `jq` and JSON tools cannot read.
    const spliced = applySplices(base, jsonSplices(edit) ?? []);
    if (spliced !== undefined && spliced !== base && isJson(spliced) && verify(spliced, expected)) {
      return { ...result, text: spliced, changed: true, layoutKept: true };
    }
    throw new KubeconfigError(
      `cannot change ${label} keeping the file JSON, so nothing was written`,
      { hint: "convert it to YAML (kubectl config view --raw) or edit that user by hand" },
    );
  }
  const splices = spliceEdit(edit);
  const spliced = splices && applySplices(base, splices);
  if (spliced !== undefined && verify(spliced, expected)) {
    return { ...result, text: spliced, changed: true, layoutKept: true };
  }
  const rewritten = documentEdit(edit);
  if (rewritten !== undefined && verify(rewritten, expected)) {
    return { ...result, text: rewritten, changed: true, layoutKept: false };
  }
  throw new KubeconfigError(
    `cannot change ${label} safely: the edited file did not read back as intended, so nothing was written`,
    { hint: "edit that user by hand, or report this with the file's layout (not its secrets)" },
  );
}

/** The line break a file uses ("\r\n" when its first line ends so), for the lines an edit inserts. */
export function lineBreak(text: string): string {
  const newline = text.indexOf("\n");
  return newline > 0 && text[newline - 1] === "\r" ? "\r\n" : "\n";
}

/** A file that JSON.parse reads: the whole of it, not just its top level looking like JSON. */
function isJson(text: string): boolean {
  if (!/^\s*\{/.test(text)) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The edit as JSON text splices, indented like the file; undefined for a layout this does not handle. */
function jsonSplices(edit: Edit): Splice[] | undefined {
  const { doc, text, request, newUser, eol } = edit;
  const root = doc.contents as YAMLMap;
  const firstKey = rangeOf(root.items[0]?.key)?.[0];
  // Indented like the first key, or compact when the file is written on one line.
  const keyIndent = firstKey === undefined ? "" : text.slice(lineStart(text, firstKey), firstKey);
  const unit = firstKey === undefined ? 2 : /^[ ]*$/.test(keyIndent) ? keyIndent.length : 0;
  // Nested lines are indented from the line the value starts on.
  const json = (value: unknown, at: number) => {
    const indent = /^[ ]*/.exec(text.slice(lineStart(text, at), at))![0];
    return JSON.stringify(value, null, unit).replaceAll("\n", eol + indent);
  };
  // Replaces a value node, keeping what surrounds it.
  const replace = (node: unknown, value: unknown): Splice[] | undefined => {
    const range = rangeOf(node);
    return range ? [{ start: range[0], end: range[1], insert: json(value, range[0]) }] : undefined;
  };
  // Adds `"key": value` after the last pair of a flow map.
  const append = (map: YAMLMap, key: string, value: unknown): Splice[] | undefined => {
    const last = map.items[map.items.length - 1];
    const at = last && pairEnd(last);
    const keyStart = last && rangeOf(last.key)?.[0];
    if (!at || keyStart === undefined) return undefined;
    const pad = text.slice(lineStart(text, keyStart), keyStart);
    const lead = /^[ ]*$/.test(pad) ? `,${eol}${pad}` : ", ";
    return [{
      start: at,
      end: at,
      insert: `${lead}${JSON.stringify(key)}: ${json(value, keyStart)}`,
    }];
  };
  const entry = { name: request.user, user: newUser };
  if (edit.index !== undefined) {
    const item = edit.item!;
    if (edit.userPair) return replace(edit.userPair.value, newUser);
    return item.flow ? append(item, "user", newUser) : undefined;
  }
  const usersPair = findPair(root, "users");
  const users = usersPair?.value;
  if (isSeq(users) && users.flow && users.items.length > 0) {
    const last = users.items[users.items.length - 1];
    const range = rangeOf(last);
    if (!range) return undefined;
    const pad = text.slice(lineStart(text, range[0]), range[0]);
    const lead = /^[ ]*$/.test(pad) ? `,${eol}${pad}` : ", ";
    return [{ start: range[1], end: range[1], insert: `${lead}${json(entry, range[0])}` }];
  }
  if (usersPair) return replace(users, [entry]);
  return root.flow ? append(root, "users", [entry]) : undefined;
}

interface Edit {
  doc: Document.Parsed;
  text: string;
  request: ExecEditRequest;
  removed: string[];
  newUser: Record<string, unknown>;
  index: number | undefined;
  item: YAMLMap | undefined;
  userPair: Pair | undefined;
  indentSeq: boolean;
  eol: string;
}

interface Splice {
  start: number;
  end: number;
  insert: string;
}

/** Applies splices from the end so earlier offsets stay valid; undefined when two overlap. */
function applySplices(text: string, splices: Splice[]): string | undefined {
  // An insertion at the end of a removal goes first.
  const sorted = [...splices].sort((a, b) => b.start - a.start || b.end - a.end);
  let out = text;
  let limit = Infinity;
  for (const splice of sorted) {
    if (splice.end > limit) return undefined; // overlapping: not a layout this understands
    out = out.slice(0, splice.start) + splice.insert + out.slice(splice.end);
    limit = splice.start;
  }
  return out;
}

/** Text splices inside the target entry only; undefined when the layout is one this does not handle. */
function spliceEdit(edit: Edit): Splice[] | undefined {
  const { doc, text, request, removed, newUser, indentSeq, eol } = edit;
  const root = doc.contents as YAMLMap;
  const usersPair = findPair(root, "users");
  const users = usersPair?.value;
  const splices: Splice[] = [];

  if (edit.index !== undefined) {
    const item = edit.item!;
    const userValue = edit.userPair?.value;
    if (item.flow) {
      // `- {name: a, user: {...}}`: that one entry is written out in block style.
      const range = rangeOf(item);
      const column = columnOf(text, item);
      if (!range || column === undefined) return undefined;
      const entry = item.toJS(doc) as Record<string, unknown>;
      entry.user = newUser;
      return [{
        start: range[0],
        end: lineEnd(text, range[1]),
        insert: render(entry, column, indentSeq, eol).slice(column),
      }];
    }
    if (isMap(userValue) && !userValue.flow && userValue.items.length > 0) {
      // Block map: drop the static credentials line by line, then replace or append `exec:`.
      const column = columnOf(text, userValue.items[0]!.key);
      if (column === undefined) return undefined;
      let execPair: Pair | undefined;
      for (const pair of userValue.items) {
        const key = keyOf(pair);
        if (key === "exec") execPair = pair;
        else if (removed.includes(key)) {
          const start = lineStartIfAligned(text, rangeOf(pair.key)?.[0]);
          if (start === undefined) return undefined;
          splices.push({ start, end: lineEnd(text, pairEnd(pair)), insert: "" });
        }
      }
      const exec = renderPair("exec", request.exec, column, indentSeq, eol);
      if (execPair) {
        const start = rangeOf(execPair.key)?.[0];
        if (start === undefined) return undefined;
        splices.push({
          start,
          end: lineEnd(text, pairEnd(execPair)),
          insert: exec.slice(column),
        });
      } else {
        const last = userValue.items[userValue.items.length - 1]!;
        const at = lineEnd(text, pairEnd(last));
        splices.push({ start: at, end: at, insert: (text[at - 1] === "\n" ? "" : eol) + exec });
      }
    } else if (edit.userPair) {
      // Flow, empty or null user: replace the whole `user:` pair.
      const start = rangeOf(edit.userPair.key)?.[0];
      const column = columnOf(text, edit.userPair.key);
      if (start === undefined || column === undefined) return undefined;
      splices.push({
        start,
        end: lineEnd(text, pairEnd(edit.userPair)),
        insert: renderPair("user", newUser, column, indentSeq, eol).slice(column),
      });
    } else {
      // The entry has a name but no `user:`: append one.
      if (item.flow || item.items.length === 0) return undefined;
      const column = columnOf(text, item.items[0]!.key);
      if (column === undefined) return undefined;
      const last = item.items[item.items.length - 1]!;
      const at = lineEnd(text, pairEnd(last));
      splices.push({
        start: at,
        end: at,
        insert: (text[at - 1] === "\n" ? "" : eol) +
          renderPair("user", newUser, column, indentSeq, eol),
      });
    }
  } else {
    const entry = [{ name: request.user, user: newUser }];
    if (isSeq(users) && !users.flow && users.items.length > 0) {
      const last = users.items[users.items.length - 1];
      const seqStart = rangeOf(users)?.[0];
      const column = seqStart === undefined ? undefined : seqStart - lineStart(text, seqStart);
      const lastEnd = isNode(last) ? last.range?.[1] : undefined;
      if (column === undefined || lastEnd === undefined) return undefined;
      if (lineStartIfAligned(text, seqStart) === undefined) return undefined;
      const at = lineEnd(text, lastEnd);
      splices.push({
        start: at,
        end: at,
        insert: (text[at - 1] === "\n" ? "" : eol) + render(entry, column, indentSeq, eol),
      });
    } else if (usersPair && (isNullScalar(users) || (isSeq(users) && users.items.length === 0))) {
      const start = lineStartIfAligned(text, rangeOf(usersPair.key)?.[0]);
      const column = columnOf(text, usersPair.key);
      if (start === undefined || column === undefined) return undefined;
      splices.push({
        start,
        end: lineEnd(text, pairEnd(usersPair)),
        insert: renderPair("users", entry, column, indentSeq, eol),
      });
    } else if (!usersPair) {
      if (root.flow || root.items.length === 0) return undefined;
      const column = columnOf(text, root.items[0]!.key);
      if (column === undefined) return undefined;
      const at = lineEnd(text, pairEnd(root.items[root.items.length - 1]!));
      splices.push({
        start: at,
        end: at,
        insert: (text[at - 1] === "\n" ? "" : eol) +
          renderPair("users", entry, column, indentSeq, eol),
      });
    } else {
      return undefined;
    }
  }
  return splices;
}

/** The same change through yaml's Document API: keeps comments, may re-indent the file. */
function documentEdit(edit: Edit): string | undefined {
  try {
    const doc = parseDocument(edit.text, YAML_OPTIONS);
    const indentSeq = sequenceIndent(edit.text, doc.contents as YAMLMap);
    let users = doc.get("users", true);
    if (!isSeq(users)) {
      users = doc.createNode([]);
      doc.set("users", users);
    }
    if (!isSeq(users)) return undefined;
    users.flow = false;
    if (edit.index === undefined) {
      users.items.push(doc.createNode({ name: edit.request.user, user: edit.newUser }));
    } else {
      const item = users.items[edit.index];
      if (!isMap(item)) return undefined;
      const user = item.get("user", true);
      if (isMap(user) && !user.flow) {
        for (const key of edit.removed) user.delete(key);
        user.set("exec", doc.createNode(edit.request.exec));
      } else {
        item.set("user", doc.createNode(edit.newUser));
      }
    }
    return doc.toString({ lineWidth: 0, indentSeq }).replaceAll("\n", edit.eol);
  } catch {
    return undefined;
  }
}

/**
 * The bytes to write: `oldBytes` with only the span where `oldText` (their UTF-8 decoding) and `newText` differ
 * replaced, so that every byte outside the edit stays exactly as it was, even bytes that are not UTF-8 (which
 * `oldText` holds as U+FFFD). Refuses, naming the line, rather than write U+FFFD over such bytes inside the span.
 */
export function spliceBytes(
  oldBytes: Uint8Array,
  oldText: string,
  newText: string,
  path: string,
): Uint8Array {
  const max = Math.min(oldText.length, newText.length);
  let prefix = 0;
  while (prefix < max && oldText.charCodeAt(prefix) === newText.charCodeAt(prefix)) prefix++;
  let suffix = 0;
  while (
    suffix < max - prefix &&
    oldText.charCodeAt(oldText.length - 1 - suffix) ===
      newText.charCodeAt(newText.length - 1 - suffix)
  ) suffix++;
  // Never cut a surrogate pair: its two halves are one code point, one UTF-8 sequence.
  if (prefix > 0 && isHighSurrogate(oldText.charCodeAt(prefix - 1))) prefix--;
  if (suffix > 0 && isLowSurrogate(oldText.charCodeAt(oldText.length - suffix))) suffix--;
  const [from, to] = byteOffsets(oldBytes, oldText, [prefix, oldText.length - suffix]);
  const insert = newText.slice(prefix, newText.length - suffix);
  const bad = firstInvalidByte(oldBytes, from!, to!);
  if (bad !== undefined && insert.includes("\uFFFD")) {
    throw new KubeconfigError(
      `kubeconfig ${path} line ${
        lineOfByte(oldBytes, bad)
      } is not valid UTF-8 and lies in the part that ` +
        `changes; nothing was written rather than rewrite those bytes`,
      { hint: "save the file as UTF-8 (kubectl cannot read it otherwise either), then run again" },
    );
  }
  const encoded = new TextEncoder().encode(insert);
  const out = new Uint8Array(from! + encoded.length + oldBytes.length - to!);
  out.set(oldBytes.subarray(0, from));
  out.set(encoded, from);
  out.set(oldBytes.subarray(to), from! + encoded.length);
  // The span found in the bytes must decode to the span of the text, or the offsets are wrong. The result then
  // decodes as its parts do (so a 20 MB file is not decoded again), unless a continuation byte now follows the
  // kept prefix: a dangling lead byte before it could take it in. Only then is the whole result decoded.
  const joined = out[from!];
  const spanOk = new TextDecoder().decode(oldBytes.subarray(from, to)) ===
    oldText.slice(prefix, oldText.length - suffix);
  const mayJoin = joined !== undefined && joined >= 0x80 && joined <= 0xbf;
  if (!spanOk || (mayJoin && new TextDecoder().decode(out) !== newText)) {
    throw new KubeconfigError(
      `cannot keep the bytes of kubeconfig ${path} outside the edit exactly, so nothing was written`,
    );
  }
  return out;
}

/** The first line of `bytes` that is not valid UTF-8, 1-based; undefined when all of it is. */
export function firstInvalidUtf8Line(bytes: Uint8Array): number | undefined {
  const bad = firstInvalidByte(bytes, 0, bytes.length);
  return bad === undefined ? undefined : lineOfByte(bytes, bad);
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/**
 * One step of the WHATWG UTF-8 decoder (what TextDecoder does): how many bytes at `at` make one code point or one
 * U+FFFD, how many UTF-16 units that decodes to, and whether it was valid.
 */
function utf8Step(bytes: Uint8Array, at: number): [bytes: number, units: number, ok: boolean] {
  const lead = bytes[at]!;
  if (lead < 0x80) return [1, 1, true];
  let need = 0;
  let lower = 0x80;
  let upper = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) need = 1;
  else if (lead >= 0xe0 && lead <= 0xef) {
    need = 2;
    if (lead === 0xe0) lower = 0xa0;
    if (lead === 0xed) upper = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    need = 3;
    if (lead === 0xf0) lower = 0x90;
    if (lead === 0xf4) upper = 0x8f;
  } else return [1, 1, false];
  let got = 0;
  while (got < need && at + 1 + got < bytes.length) {
    const next = bytes[at + 1 + got]!;
    if (next < lower || next > upper) break;
    lower = 0x80;
    upper = 0xbf;
    got++;
  }
  // On an error the byte that broke the sequence is decoded again on its own.
  if (got < need) return [1 + got, 1, false];
  return [1 + need, need === 3 ? 2 : 1, true];
}

/** Where each UTF-16 offset of `text` (ascending) lies in `bytes`, the bytes it was decoded from. */
function byteOffsets(bytes: Uint8Array, text: string, targets: number[]): number[] {
  const out: number[] = [];
  // TextDecoder drops a leading byte order mark unless told otherwise.
  let at =
    bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf && text.charCodeAt(0) !== 0xfeff
      ? 3
      : 0;
  let units = 0;
  for (const target of targets) {
    while (units < target && at < bytes.length) {
      const [size, count] = utf8Step(bytes, at);
      at += size;
      units += count;
    }
    out.push(at);
  }
  return out;
}

function firstInvalidByte(bytes: Uint8Array, from: number, to: number): number | undefined {
  for (let at = from; at < to;) {
    const [size, , ok] = utf8Step(bytes, at);
    if (!ok) return at;
    at += size;
  }
  return undefined;
}

function lineOfByte(bytes: Uint8Array, at: number): number {
  let line = 1;
  for (let i = 0; i < at; i++) if (bytes[i] === 0x0a) line++;
  return line;
}

/** Whether `text` is one clean document whose content is exactly `expected`. */
function verify(text: string, expected: unknown): boolean {
  const docs = parseAllDocuments(text, YAML_OPTIONS);
  if (!Array.isArray(docs) || docs.length !== 1) return false;
  const doc = docs[0]!;
  if (doc.errors.length > 0) return false;
  try {
    return isDeepStrictEqual(doc.toJS(), expected);
  } catch {
    return false;
  }
}

/** `key: value` as YAML lines at `column`, the first line indented too; ends with a newline. */
function renderPair(
  key: string,
  value: unknown,
  column: number,
  indentSeq: boolean,
  eol: string,
): string {
  return render({ [key]: value }, column, indentSeq, eol);
}

/** YAML lines at `column`, with the file's line break (a CRLF file gets CRLF lines). */
function render(value: unknown, column: number, indentSeq: boolean, eol: string): string {
  const yaml = stringify(value, { ...YAML_OPTIONS, lineWidth: 0, indentSeq });
  const pad = " ".repeat(column);
  return yaml.split("\n").map((line) => line === "" ? line : pad + line).join(eol);
}

/** Whether lists are indented under their key: kubectl writes `users:\n- name: x`, many people indent. */
function sequenceIndent(text: string, root: YAMLMap | null): boolean {
  const pair = root && isMap(root)
    ? findPair(root, "users") ?? findPair(root, "contexts")
    : undefined;
  const seq = pair?.value;
  if (!pair || !isSeq(seq) || seq.flow || seq.items.length === 0) return false;
  const keyColumn = columnOf(text, pair.key);
  const start = rangeOf(seq)?.[0];
  if (keyColumn === undefined || start === undefined) return false;
  return start - lineStart(text, start) > keyColumn;
}

function findPair(map: YAMLMap, key: string): Pair | undefined {
  return map.items.find((pair) => keyOf(pair) === key);
}

/** A pair's key as text; YAML 1.1's merge key `<<` is parsed as a symbol. */
function keyOf(pair: Pair): string {
  if (!isScalar(pair.key)) return "";
  const value = pair.key.value;
  return typeof value === "symbol" ? value.description ?? "" : String(value);
}

function nameOf(map: YAMLMap): string | undefined {
  const name = map.get("name");
  return name === undefined || name === null ? undefined : String(name);
}

function isNullScalar(node: unknown): boolean {
  return isScalar(node) && node.value === null;
}

function rangeOf(node: unknown): [number, number, number] | undefined {
  return isNode(node) && node.range ? node.range : undefined;
}

/** Where a pair's text ends: its value's end, or its key's when the value is empty. */
function pairEnd(pair: Pair): number {
  return rangeOf(pair.value)?.[1] ?? rangeOf(pair.key)?.[1] ?? 0;
}

function lineStart(text: string, at: number): number {
  return text.lastIndexOf("\n", at - 1) + 1;
}

/** The start of the line holding `at`, if only blanks precede `at` on it. */
function lineStartIfAligned(text: string, at: number | undefined): number | undefined {
  if (at === undefined) return undefined;
  const start = lineStart(text, at);
  return /^[ ]*$/.test(text.slice(start, at)) ? start : undefined;
}

/** The offset just after the line that `end` (an exclusive end) finishes, taking a trailing comment along. */
function lineEnd(text: string, end: number): number {
  if (end > 0 && text[end - 1] === "\n") return end;
  const newline = text.indexOf("\n", end);
  return newline === -1 ? text.length : newline + 1;
}

function columnOf(text: string, node: unknown): number | undefined {
  const start = rangeOf(node)?.[0];
  return start === undefined ? undefined : start - lineStart(text, start);
}

/** Anchors that some alias refers to: removing or replacing their node would change other entries. */
function aliasedAnchors(doc: Document): Set<string> {
  const names = new Set<string>();
  visit(doc, {
    Alias(_, node) {
      names.add(node.source);
    },
  });
  return names;
}

function anchoredIn(node: unknown, aliased: Set<string>): string | undefined {
  let found: string | undefined;
  if (!isNode(node)) return undefined;
  visit(node as Node, {
    Node(_, inner) {
      if (inner.anchor && aliased.has(inner.anchor)) {
        found = inner.anchor;
        return visit.BREAK;
      }
    },
  });
  if (!found && node.anchor && aliased.has(node.anchor)) found = node.anchor;
  return found;
}

function shared(what: string, anchor: string): KubeconfigError {
  return new KubeconfigError(
    `${what} defines the YAML anchor &${anchor} that other entries use; the broker cannot change it alone`,
    { hint: "write the shared fields out in full, then run again" },
  );
}

function kindOf(node: unknown): string {
  if (isSeq(node)) return "a list";
  if (isMap(node)) return "a mapping";
  if (isAlias(node)) return "an alias";
  if (isScalar(node)) return node.value === null ? "empty" : `a ${typeof node.value}`;
  return "empty";
}

function kindOfJs(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (isRecord(value)) return "a mapping";
  return `a ${typeof value}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}

function lineColumn(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, col: offset - lineStart(text, offset) + 1 };
}
