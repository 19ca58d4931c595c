import {
  type Document,
  isAlias,
  isMap,
  isNode,
  isPair,
  isScalar,
  isSeq,
  parseDocument,
} from "yaml";
import { YAML_OPTIONS } from "./kubeconfig_edit.ts";

/** What replaces a secret value in diffs and messages. */
export const REDACTED = "<redacted>";

/** Keys of a kubeconfig `user` whose values are secrets (kubectl's AuthInfo fields). */
export const SECRET_USER_KEYS: readonly string[] = [
  "token",
  "password",
  "client-certificate-data",
  "client-key-data",
];

/**
 * Replaces every secret value of a kubeconfig text with `<redacted>`: user tokens, passwords, certificate and key
 * data, auth-provider config values and exec env values, in every user, so that a diff or a message built from the
 * result shows the layout but never a secret. Text that does not parse is replaced whole: it cannot be redacted
 * safely.
 */
export function redactKubeconfig(text: string): string {
  const doc = parseDocument(text, YAML_OPTIONS);
  if (doc.errors.length > 0) return `${REDACTED}\n`;
  const ranges: [number, number][] = [];
  const add = (node: unknown) => {
    if (isAlias(node)) {
      // The secret lives where the anchor is defined.
      add(node.resolve(doc));
      return;
    }
    if (isNode(node) && node.range) ranges.push([node.range[0], node.range[1]]);
  };
  const users = doc.get("users", true);
  if (isSeq(users)) {
    for (const item of users.items) {
      if (!isMap(item)) continue;
      const user = deref(item.get("user", true), doc);
      if (!isMap(user)) continue;
      for (const pair of user.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : "";
        if (SECRET_USER_KEYS.includes(key)) add(pair.value);
        else if (key === "auth-provider") {
          const provider = deref(pair.value, doc);
          if (isMap(provider)) {
            const config = provider.get("config", true);
            if (isMap(config)) {
              for (const entry of config.items) add(isPair(entry) && entry.value);
            } else add(config);
          }
        } else if (key === "exec") {
          const exec = deref(pair.value, doc);
          const env = isMap(exec) ? deref(exec.get("env", true), doc) : undefined;
          if (isSeq(env)) {
            for (const entry of env.items) {
              const variable = deref(entry, doc);
              if (isMap(variable)) add(variable.get("value", true));
            }
          }
        }
      }
    }
  }
  return replaceRanges(text, ranges);
}

function deref(node: unknown, doc: Document): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

/** Replaces each range with REDACTED, keeping a newline a block scalar's range ends with. */
function replaceRanges(text: string, ranges: [number, number][]): string {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  let out = "";
  let at = 0;
  for (const [start, end] of sorted) {
    if (start < at || end <= start) continue; // nested in one already replaced, or empty
    out += text.slice(at, start) + REDACTED + (text[end - 1] === "\n" ? "\n" : "");
    at = end;
  }
  return out + text.slice(at);
}
