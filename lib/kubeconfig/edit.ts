/**
 * The one kubeconfig editor, pure: original text (and bytes) + edit request -> new text and the bytes to write. It
 * splices text inside the target user's entry so that comments, key order, formatting and unknown fields elsewhere
 * survive byte for byte, then re-parses the result and checks that exactly the intended change happened before
 * anyone may write it. Its fast path for big files (a file in kubectl's plain layout read and checked item by item)
 * and the byte splice that keeps bytes outside the edit as they were on disk are details inside `setUserExec()`.
 * The splices are made in splice.ts; what may happen to the user entry is at the end of this module.
 */

import { isDeepStrictEqual } from "node:util";
import {
  type Document,
  isAlias,
  isMap,
  isNode,
  isSeq,
  type Node,
  type Pair,
  parseAllDocuments,
  visit,
  type YAMLMap,
} from "yaml";
import { KubeconfigError } from "../shared/errors.ts";
import { isRecord } from "../shared/values.ts";
import {
  itemRange,
  leanParse,
  type ListChunk,
  parseItem,
  parseKubeconfig,
  parseKubeconfigUncached,
} from "./read.ts";
import {
  applySplices,
  documentEdit,
  type Edit,
  isJson,
  jsonSplices,
  sequenceIndent,
  spliceBytes,
  spliceEdit,
} from "./splice.ts";
import {
  findPair,
  isNullScalar,
  keyOf,
  kindOfNode,
  lineBreak,
  nameOf,
  parsedJs,
  render,
  YAML_OPTIONS,
} from "./text.ts";

/** What a new or empty kubeconfig file starts as, the fields `kubectl config` writes. */
export const MINIMAL_KUBECONFIG = `apiVersion: v1
kind: Config
clusters: []
contexts: []
current-context: ""
preferences: {}
users: []
`;

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
  /**
   * What to write: the bytes given with only the edited span replaced, so bytes that are not UTF-8 outside it are
   * kept (`text` would turn them into U+FFFD); the UTF-8 of `text` when no bytes were given or nothing changed.
   */
  bytes: Uint8Array;
}

/**
 * Points `request.user` at the exec block, removing the static credentials that would stop kubectl from calling
 * it. Only that user's entry changes; the result is verified by re-parsing, and an edit that cannot be verified is
 * refused rather than returned. A file in kubectl's plain layout is parsed and checked item by item (the changed
 * item re-parsed, the rest kept byte for byte); any other goes through the whole-document parser.
 */
export function setUserExec(
  text: string,
  path: string,
  request: ExecEditRequest,
  bytes?: Uint8Array,
): ExecEditResult {
  const result = leanSetUserExec(text, path, request) ?? fullSetUserExec(text, path, request);
  return {
    ...result,
    bytes: bytes && result.changed
      ? spliceBytes(bytes, text, result.text, path)
      : new TextEncoder().encode(result.text),
  };
}

/** What the two paths find; setUserExec() adds the bytes. */
type TextEdit = Omit<ExecEditResult, "bytes">;

function leanSetUserExec(
  text: string,
  path: string,
  request: ExecEditRequest,
): TextEdit | undefined {
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

function fullSetUserExec(text: string, path: string, request: ExecEditRequest): TextEdit {
  const parsed = parseKubeconfig(text, path);
  let base = text;
  // Just `{}` (what `echo '{}' > config` makes) holds nothing to keep but comments: kubectl rewrites it as a YAML
  // kubeconfig with its usual fields, and so does this, as for an empty file. JSON with content stays JSON.
  const contents = parsed?.contents;
  const emptyMap = isMap(contents) && contents.items.length === 0 ? contents.range : undefined;
  const newFile = parsed === null || emptyMap !== undefined;
  const eol = lineBreak(text);
  let doc = parsed!;
  if (newFile) {
    const kept = emptyMap ? text.slice(0, emptyMap[0]) + text.slice(emptyMap[1]) : text;
    // Keep a leading comment block, if that is all the file had.
    base = (kept.trim() === "" ? "" : kept.replace(/(?:\r?\n|[ \t])*$/, eol)) +
      MINIMAL_KUBECONFIG.replaceAll("\n", eol);
    doc = parseKubeconfigUncached(base, path)!;
  }
  const root = doc.contents as YAMLMap;
  const usersPair = findPair(root, "users");
  const users = usersPair?.value;
  if (users !== undefined && users !== null && !isSeq(users) && !isNullScalar(users)) {
    throw new KubeconfigError(
      `users in kubeconfig ${path} is ${kindOfNode(users)}, not a list`,
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

// What may happen to the user entry

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

/** Which user gets which exec block. */
export interface ExecEditRequest {
  user: string;
  /** The whole exec block, in the key order it should be written. */
  exec: Record<string, unknown>;
  /** Add the user entry when the file has none of that name. */
  create: boolean;
}

/** The index of the one entry named `request.user`; refuses duplicates, and a missing user unless it may be created. */
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
    throw new KubeconfigError(`${label}: user is ${kindOfNode(value)}, not a mapping`);
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
