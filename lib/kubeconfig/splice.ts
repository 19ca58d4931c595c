/**
 * The YAML edit as text splices inside the target user's entry, so everything else keeps its bytes, and the same edit
 * through yaml's Document API for layouts the splices do not handle. Neither is trusted: edit.ts verifies
 * what they return.
 */

import { type Document, isMap, isNode, isSeq, type Pair, parseDocument, type YAMLMap } from "yaml";
import type { ExecEditRequest } from "./user_entry.ts";
import {
  columnOf,
  findPair,
  isNullScalar,
  keyOf,
  lineEnd,
  lineStart,
  lineStartIfAligned,
  pairEnd,
  rangeOf,
  render,
  renderPair,
  YAML_OPTIONS,
} from "./text.ts";

export interface Edit {
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

export interface Splice {
  start: number;
  end: number;
  insert: string;
}

/** Applies splices from the end so earlier offsets stay valid; undefined when two overlap. */
export function applySplices(text: string, splices: Splice[]): string | undefined {
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
export function spliceEdit(edit: Edit): Splice[] | undefined {
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
export function documentEdit(edit: Edit): string | undefined {
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

/** Whether lists are indented under their key: kubectl writes `users:\n- name: x`, many people indent. */
export function sequenceIndent(text: string, root: YAMLMap | null): boolean {
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
