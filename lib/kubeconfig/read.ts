/**
 * The one kubeconfig reader. `readKubeconfig()` reads what kubectl reads (`--kubeconfig`, else KUBECONFIG merged,
 * else ~/.kube/config) and merges it with kubectl's first-wins rules; `kubeconfig set`, `doctor`, `status` and
 * completion all start from it and choose a user with `selectUser()`. Below it: one text parsed with errors that
 * name the file and never quote a value, the view of its contexts and users, and the line-scan outline that lets a
 * big file in kubectl's plain layout be read, redacted and edited item by item.
 */

import {
  type Document,
  isMap,
  isNode,
  isScalar,
  isSeq,
  type Node,
  parseAllDocuments,
  parseDocument,
  visit,
} from "yaml";
import { KubeconfigError } from "../shared/errors.ts";
import { kubeconfigPaths, readKubeconfigBytes } from "./files.ts";
import { kindOfNode, lineStart, parsedJs, YAML_OPTIONS } from "./text.ts";
import { isRecord, kindOf } from "../shared/values.ts";

/**
 * The kubeconfig as kubectl reads it: the files `kubeconfigPaths()` names, each read and parsed (a missing one
 * kept as missing), merged first-wins. The one way in for every command that reads a kubeconfig.
 */
export async function readKubeconfig(options: {
  explicit?: string;
  env: (name: string) => string | undefined;
  cwd: string;
}): Promise<MergedKubeconfig> {
  const { paths } = kubeconfigPaths(options);
  return mergeKubeconfigs(await readKubeconfigFiles(paths));
}

/**
 * One kubeconfig file as read: `bytes` and `text` are null when the file does not exist. `bytes` are exactly what
 * is on disk (an edit must keep bytes that are not valid UTF-8, and the final check compares them); `text` is
 * their UTF-8 decoding.
 */
export interface KubeconfigFile {
  path: string;
  bytes: Uint8Array | null;
  text: string | null;
  view: KubeconfigView;
}

/** The merged view kubectl works with: for each name the first file that defines it wins, whole. */
export interface MergedKubeconfig {
  files: KubeconfigFile[];
  currentContext?: { name: string; file: string };
  contexts: Map<string, { file: string; context: Record<string, unknown> }>;
  users: Map<string, { file: string; user: Record<string, unknown> }>;
  /**
   * Where kubectl puts new entries: the first existing file, else the LAST of the list (client-go's
   * GetDefaultFilename; a dangling symlink does not exist for it).
   */
  defaultFile: string;
}

/**
 * Reads and parses each file; a missing file is kept (kubectl skips it), anything that is not a regular file
 * (a FIFO would block, `/dev/zero` never ends), larger than KUBECONFIG_FILE_LIMIT, unreadable or malformed is an
 * error naming the file.
 */
export function readKubeconfigFiles(paths: readonly string[]): Promise<KubeconfigFile[]> {
  try {
    return Promise.resolve(paths.map((path) => {
      const bytes = readKubeconfigBytes(path);
      const text = bytes === null ? null : new TextDecoder().decode(bytes);
      const view = text === null
        ? { currentContext: "", contexts: [], users: [] }
        : kubeconfigView(text, path);
      return { path, bytes, text, view };
    }));
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Merges files in precedence order, the way kubectl's loader does. */
export function mergeKubeconfigs(files: readonly KubeconfigFile[]): MergedKubeconfig {
  const merged: MergedKubeconfig = {
    files: [...files],
    contexts: new Map(),
    users: new Map(),
    defaultFile: files.find((file) => file.text !== null)?.path ?? files.at(-1)?.path ?? "",
  };
  for (const file of files) {
    if (!merged.currentContext && file.view.currentContext) {
      merged.currentContext = { name: file.view.currentContext, file: file.path };
    }
    for (const { name, context } of file.view.contexts) {
      if (!merged.contexts.has(name)) merged.contexts.set(name, { file: file.path, context });
    }
    for (const { name, user } of file.view.users) {
      if (!merged.users.has(name)) merged.users.set(name, { file: file.path, user });
    }
  }
  return merged;
}

/** The user entry to edit: its name, the file that defines it (or will), and how it was chosen. */
export interface UserSelection {
  name: string;
  file: string;
  exists: boolean;
  /** The context it was reached through, if any. */
  context?: string;
  /** The user's fields as kubectl sees them ({} for a new user). */
  user: Record<string, unknown>;
}

/**
 * Picks the user: `--user` names it (created in the default file when missing), `--context` takes that context's
 * user, and neither takes the current context's user.
 */
export function selectUser(
  merged: MergedKubeconfig,
  choice: { user?: string; context?: string },
): UserSelection {
  const where = merged.files.map((file) =>
    file.text === null ? `${file.path} (missing)` : file.path
  )
    .join(", ");
  if (choice.user !== undefined) {
    const found = merged.users.get(choice.user);
    return found
      ? { name: choice.user, file: found.file, exists: true, user: found.user }
      : { name: choice.user, file: merged.defaultFile, exists: false, user: {} };
  }
  if (merged.files.every((file) => file.text === null)) {
    // A mistyped --kubeconfig or KUBECONFIG: say so before anything about contexts.
    const paths = merged.files.map((file) => file.path);
    throw new KubeconfigError(
      paths.length === 1
        ? `kubeconfig ${paths[0]} does not exist`
        : `none of the kubeconfig files exist: ${paths.join(", ")}`,
      { hint: "check the path; to create it with a new user entry, pass --user NAME" },
    );
  }
  let contextName = choice.context;
  if (contextName === undefined) {
    if (!merged.currentContext) {
      throw new KubeconfigError(`no current context is set in ${where}`, {
        hint: "pass --context NAME or --user NAME, or run: kubectl config use-context NAME",
      });
    }
    contextName = merged.currentContext.name;
  }
  const context = merged.contexts.get(contextName);
  if (!context) {
    const what = choice.context === undefined
      ? `current context "${contextName}" (set in ${merged.currentContext!.file})`
      : `context "${contextName}"`;
    throw new KubeconfigError(`${what} not found in ${where}`, {
      hint: "list the contexts with: kubectl config get-contexts",
    });
  }
  const userName = context.context.user;
  if (typeof userName !== "string" || userName === "") {
    throw new KubeconfigError(`context "${contextName}" in ${context.file} has no user`, {
      hint: "pass --user NAME to name the user entry to configure",
    });
  }
  const found = merged.users.get(userName);
  return found
    ? { name: userName, file: found.file, exists: true, context: contextName, user: found.user }
    : { name: userName, file: merged.defaultFile, exists: false, context: contextName, user: {} };
}

// One text: parsed whole, or item by item when its layout is kubectl's plain one

/**
 * The last text parsed whole and its document. Module-level on purpose: `kubeconfig set` reads a file's view and
 * then plans its edit from the same text, and a 20 MB kubeconfig takes seconds to parse. Keyed by the text itself,
 * so a file that changed is never answered from it; one entry, so it holds at most one file's document.
 */
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

/** parseKubeconfig() leaving the cache alone, for a text made here (a new file's minimal kubeconfig). */
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

/** A text parsed item by item: its outline, and its content as plain JS. */
interface LeanParse {
  outline: Outline;
  js: Record<string, unknown>;
}

/** The last text parsed item by item, kept for the same reason as parsedCache (the view, then the edit). */
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

// The outline: a text's layout from a scan of its lines

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
