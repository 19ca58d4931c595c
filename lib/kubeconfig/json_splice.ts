/**
 * The edit of a kubeconfig written as JSON, as JSON text splices indented like the file: kubectl reads JSON too, and
 * YAML spliced into it would leave a file that `jq` and JSON tools cannot read.
 */

import { isSeq, type YAMLMap } from "yaml";
import type { Edit, Splice } from "./splice.ts";
import { findPair, lineStart, pairEnd, rangeOf } from "./text.ts";

/** A file that JSON.parse reads: the whole of it, not just its top level looking like JSON. */
export function isJson(text: string): boolean {
  if (!/^\s*\{/.test(text)) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The edit as JSON text splices, indented like the file; undefined for a layout this does not handle. */
export function jsonSplices(edit: Edit): Splice[] | undefined {
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
