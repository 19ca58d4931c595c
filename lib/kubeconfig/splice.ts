/**
 * The splices edit.ts makes and then verifies; nothing here is trusted on its own. The YAML edit as text splices
 * inside the target user's entry, so everything else keeps its bytes, and the same edit through yaml's Document API
 * for layouts the splices do not handle; the edit of a kubeconfig written as JSON as JSON splices (kubectl reads
 * JSON too, and YAML spliced into it would leave a file that `jq` and JSON tools cannot read); and from the edited
 * text back to the bytes to write, only the changed span replaced, so bytes outside it stay exactly as they were on
 * disk, even bytes that are not UTF-8.
 */

import { type Document, isMap, isNode, isSeq, type Pair, parseDocument, type YAMLMap } from "yaml";
import { KubeconfigError } from "../shared/errors.ts";
import type { ExecEditRequest } from "./edit.ts";
import {
  changedSpan,
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

/** Everything the splices need to know about one edit: the parsed file, the request and the planned user entry. */
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

/** Replace [start, end) of the text with `insert`. */
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

// JSON

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

// Bytes

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
  let { prefix, suffix } = changedSpan(oldText, newText);
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
