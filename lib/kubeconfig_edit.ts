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
import { KubeconfigError } from "./errors.ts";

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

/** Parses one kubeconfig file; null when it holds no document (empty or only comments). */
export function parseKubeconfig(text: string, path: string): Document.Parsed | null {
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
  const doc = parseKubeconfig(text, path);
  const js = (doc?.toJS() ?? {}) as Record<string, unknown>;
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
 * refused rather than returned.
 */
export function setUserExec(text: string, path: string, request: ExecEditRequest): ExecEditResult {
  let doc = parseKubeconfig(text, path);
  let base = text;
  const newFile = doc === null;
  if (doc === null) {
    // Keep a leading comment block, if that is all the file had.
    base = (text.trim() === "" ? "" : text.replace(/\n*$/, "\n")) + MINIMAL_KUBECONFIG;
    doc = parseKubeconfig(base, path)!;
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
  const aliased = aliasedAnchors(doc);
  const label = `user "${request.user}" in kubeconfig ${path}`;

  let oldUser: Record<string, unknown> = {};
  let item: YAMLMap | undefined;
  let userPair: Pair | undefined;
  if (index !== undefined) {
    item = (users as { items: unknown[] }).items[index] as YAMLMap;
    if (item.anchor && aliased.has(item.anchor)) throw shared(label, item.anchor);
    userPair = findPair(item, "user");
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
    if (isMap(value)) {
      if (value.anchor && aliased.has(value.anchor)) throw shared(label, value.anchor);
      oldUser = (value.toJS(doc) ?? {}) as Record<string, unknown>;
      const local = new Set(value.items.map((pair) => keyOf(pair)));
      const merged = STATIC_CREDENTIAL_KEYS.filter((key) => key in oldUser && !local.has(key));
      if (merged.length > 0) {
        throw new KubeconfigError(
          `${label} gets ${
            merged.join(", ")
          } from a YAML merge key (<<); the broker cannot remove ` +
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
  }
  const removed = STATIC_CREDENTIAL_KEYS.filter((key) => key in oldUser);
  const newUser: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(oldUser)) {
    if (key === "exec") newUser.exec = request.exec;
    else if (!removed.includes(key)) newUser[key] = value;
  }
  newUser.exec = request.exec;
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

  const edit: Edit = { doc, text: base, request, removed, newUser, index, item, userPair };
  const spliced = spliceEdit(edit);
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

interface Edit {
  doc: Document.Parsed;
  text: string;
  request: ExecEditRequest;
  removed: string[];
  newUser: Record<string, unknown>;
  index: number | undefined;
  item: YAMLMap | undefined;
  userPair: Pair | undefined;
}

interface Splice {
  start: number;
  end: number;
  insert: string;
}

/** Text splices inside the target entry only; undefined when the layout is one this does not handle. */
function spliceEdit(edit: Edit): string | undefined {
  const { doc, text, request, removed, newUser } = edit;
  const root = doc.contents as YAMLMap;
  const usersPair = findPair(root, "users");
  const users = usersPair?.value;
  const splices: Splice[] = [];
  const indentSeq = sequenceIndent(text, root);

  if (edit.index !== undefined) {
    const item = edit.item!;
    const userValue = edit.userPair?.value;
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
      const exec = renderPair("exec", request.exec, column, indentSeq);
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
        splices.push({ start: at, end: at, insert: (text[at - 1] === "\n" ? "" : "\n") + exec });
      }
    } else if (edit.userPair) {
      // Flow, empty or null user: replace the whole `user:` pair.
      const start = rangeOf(edit.userPair.key)?.[0];
      const column = columnOf(text, edit.userPair.key);
      if (start === undefined || column === undefined) return undefined;
      splices.push({
        start,
        end: lineEnd(text, pairEnd(edit.userPair)),
        insert: renderPair("user", newUser, column, indentSeq).slice(column),
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
        insert: (text[at - 1] === "\n" ? "" : "\n") +
          renderPair("user", newUser, column, indentSeq),
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
        insert: (text[at - 1] === "\n" ? "" : "\n") + render(entry, column, indentSeq),
      });
    } else if (usersPair && (isNullScalar(users) || (isSeq(users) && users.items.length === 0))) {
      const start = lineStartIfAligned(text, rangeOf(usersPair.key)?.[0]);
      const column = columnOf(text, usersPair.key);
      if (start === undefined || column === undefined) return undefined;
      splices.push({
        start,
        end: lineEnd(text, pairEnd(usersPair)),
        insert: renderPair("users", entry, column, indentSeq),
      });
    } else if (!usersPair) {
      if (root.flow || root.items.length === 0) return undefined;
      const column = columnOf(text, root.items[0]!.key);
      if (column === undefined) return undefined;
      const at = lineEnd(text, pairEnd(root.items[root.items.length - 1]!));
      splices.push({
        start: at,
        end: at,
        insert: (text[at - 1] === "\n" ? "" : "\n") +
          renderPair("users", entry, column, indentSeq),
      });
    } else {
      return undefined;
    }
  }
  // Apply from the end so earlier offsets stay valid; an insertion at the end of a removal goes first.
  splices.sort((a, b) => b.start - a.start || b.end - a.end);
  let out = text;
  let limit = Infinity;
  for (const splice of splices) {
    if (splice.end > limit) return undefined; // overlapping: not a layout this understands
    out = out.slice(0, splice.start) + splice.insert + out.slice(splice.end);
    limit = splice.start;
  }
  return out;
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
    return doc.toString({ lineWidth: 0, indentSeq });
  } catch {
    return undefined;
  }
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
function renderPair(key: string, value: unknown, column: number, indentSeq: boolean): string {
  return render({ [key]: value }, column, indentSeq);
}

function render(value: unknown, column: number, indentSeq: boolean): string {
  const yaml = stringify(value, { ...YAML_OPTIONS, lineWidth: 0, indentSeq });
  const pad = " ".repeat(column);
  return yaml.split("\n").map((line) => line === "" ? line : pad + line).join("\n");
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

function keyOf(pair: Pair): string {
  return isScalar(pair.key) ? String(pair.key.value) : "";
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
