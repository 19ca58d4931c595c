/**
 * What the editor may do to one user entry: which fields stop kubectl from calling an exec plugin, the entry's fields
 * after the edit, and the refusals (a duplicate name, or YAML anchors, aliases and merge keys that other entries
 * share).
 */

import {
  type Document,
  isAlias,
  isMap,
  isNode,
  type Node,
  type Pair,
  visit,
  type YAMLMap,
} from "yaml";
import { KubeconfigError } from "../shared/errors.ts";
import { findPair, isNullScalar, keyOf, kindOfNode } from "./text.ts";

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

export function checkMatches(
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
export function checkUser(
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
export function plannedUser(
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
export function aliasedAnchors(doc: Document): Set<string> {
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
