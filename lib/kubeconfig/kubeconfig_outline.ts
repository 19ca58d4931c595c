/**
 * A kubeconfig's top-level layout found by scanning its lines, without parsing, and one list item parsed alone: what
 * lets a big file be read, redacted and edited item by item.
 */

import { type Document, isNode, isSeq, type Node, parseDocument, visit } from "yaml";
import { YAML_OPTIONS } from "./text.ts";

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
