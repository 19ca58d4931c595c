/**
 * Reading one kubeconfig text: the whole-document parser with errors that name the file and never quote a value,
 * and the view of its contexts and users, taken item by item from a big file in kubectl's plain layout.
 */

import { type Document, isMap, isScalar, parseAllDocuments } from "yaml";
import { KubeconfigError } from "../shared/errors.ts";
import { itemRange, type Outline, outlineKubeconfig } from "./kubeconfig_outline.ts";
import { kindOfNode, lineStart, parsedJs, YAML_OPTIONS } from "./yaml_text.ts";
import { isRecord, kindOf } from "../shared/values.ts";

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

export function parseKubeconfigUncached(text: string, path: string): Document.Parsed | null {
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
        kindOfNode(doc.contents)
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
      throw new KubeconfigError(`${list} in kubeconfig ${path} is ${kindOf(value)}, not a list`);
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

export interface LeanParse {
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
export function leanParse(text: string): LeanParse | undefined {
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

function lineColumn(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, col: offset - lineStart(text, offset) + 1 };
}
