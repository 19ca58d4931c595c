/**
 * The pure kubeconfig editor: original text + edit request -> new text. It splices text inside the target user's
 * entry so that comments, key order, formatting and unknown fields elsewhere survive byte for byte, then re-parses
 * the result and checks that exactly the intended change happened before anyone may write it. The splices are made
 * in splice.ts (json_splice.ts for a JSON file), the rules for the user entry live in user_entry.ts.
 */

import { isDeepStrictEqual } from "node:util";
import { isMap, isSeq, type Pair, parseAllDocuments, type YAMLMap } from "yaml";
import { KubeconfigError } from "../shared/errors.ts";
import { isRecord } from "../shared/values.ts";
import { isJson, jsonSplices } from "./json_splice.ts";
import {
  itemRange,
  leanParse,
  type ListChunk,
  parseItem,
  parseKubeconfig,
  parseKubeconfigUncached,
} from "./read.ts";
import {
  aliasedAnchors,
  checkMatches,
  checkUser,
  type ExecEditRequest,
  plannedUser,
} from "./user_entry.ts";
import { applySplices, documentEdit, type Edit, sequenceIndent, spliceEdit } from "./splice.ts";
import {
  findPair,
  isNullScalar,
  kindOfNode,
  lineBreak,
  nameOf,
  parsedJs,
  render,
  YAML_OPTIONS,
} from "./text.ts";

/** Re-exported for `doctor`, which names these fields when it explains why kubectl skips the plugin. */
export { STATIC_CREDENTIAL_KEYS } from "./user_entry.ts";
export type { ExecEditRequest } from "./user_entry.ts";

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

function fullSetUserExec(text: string, path: string, request: ExecEditRequest): ExecEditResult {
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
