/**
 * `kubeconfig set`, plan step, pure: the files already read and the request -> the new text, the bytes to write and
 * the redacted diff, and what the new exec block leaves out of the old one.
 */

import { BROKER_FLAGS } from "../plugin/broker_options.ts";
import { setUserExec } from "./edit.ts";
import type { KubeconfigFile, UserSelection } from "./read.ts";
import type { SetRequest } from "./set_flags.ts";
import { brokerArgsOf } from "../shared/broker_command.ts";
import { isRecord } from "../shared/values.ts";
import { redactedDiff } from "./redact.ts";

/** What the edit would do to one file: the texts, and the redacted diff a person sees. */
export interface SetPlan {
  file: string;
  selection: UserSelection;
  oldText: string | null;
  newText: string;
  /**
   * What to write: the bytes read with only the edited span replaced, so bytes that are not UTF-8 outside it are
   * kept (`newText` would turn them into U+FFFD).
   */
  newBytes: Uint8Array;
  changed: boolean;
  created: boolean;
  removed: string[];
  layoutKept: boolean;
  diff: string;
}

/** Plans the edit of the selected user's file from files already read; pure. */
export function planSet(
  files: readonly KubeconfigFile[],
  selection: UserSelection,
  request: SetRequest,
  color = false,
): SetPlan {
  const file = files.find((candidate) => candidate.path === selection.file);
  const oldText = file?.text ?? null;
  const result = setUserExec(
    oldText ?? "",
    selection.file,
    { user: selection.name, exec: request.exec, create: !selection.exists },
    // The bytes `text` was decoded from: the editor keeps those outside the edit.
    file?.bytes ?? undefined,
  );
  const diff = result.changed
    ? redactedDiff(oldText ?? "", result.text, {
      oldName: oldText === null ? "/dev/null" : selection.file,
      newName: selection.file,
      color,
    })
    : "";
  return {
    file: selection.file,
    selection,
    oldText,
    newText: result.text,
    newBytes: result.bytes,
    changed: result.changed,
    created: result.created,
    removed: result.removed,
    layoutKept: result.layoutKept,
    // Only a secret changed (e.g. an env value): say so rather than show an empty diff.
    diff: result.changed && diff === "" ? `${selection.file}: only redacted values change\n` : diff,
  };
}

/**
 * What the user's previous exec block set that the new one leaves out: the broker's flags (when it ran the
 * broker) and env variables, by name only (values may be secrets). Re-running `kubeconfig set` replaces the
 * whole block, so a forgotten --before-exec-command would silently stop renewals.
 */
export function droppedSettings(previous: unknown, exec: Record<string, unknown>): string[] {
  if (!isRecord(previous)) return [];
  const dropped: string[] = [];
  if (runsBroker(previous)) {
    const after = brokerFlagsIn(exec.args);
    for (const flag of brokerFlagsIn(previous.args)) {
      if (!after.has(flag)) dropped.push(`--${flag}`);
    }
  }
  const envNames = (value: unknown) =>
    Array.isArray(value)
      ? value.flatMap((entry) =>
        isRecord(entry) && typeof entry.name === "string" ? [entry.name] : []
      )
      : [];
  const kept = new Set(envNames(exec.env));
  for (const name of envNames(previous.env)) if (!kept.has(name)) dropped.push(`env ${name}`);
  return dropped;
}

const BROKER_FLAG_NAMES = new Set<string>(BROKER_FLAGS.map((flag) => flag.name));

function brokerFlagsIn(args: unknown): Set<string> {
  const found = new Set<string>();
  if (!Array.isArray(args)) return found;
  for (const arg of args) {
    const match = typeof arg === "string" ? /^--([a-z-]+)(=|$)/.exec(arg) : null;
    if (match && BROKER_FLAG_NAMES.has(match[1]!)) found.add(match[1]!);
  }
  return found;
}

function runsBroker(exec: Record<string, unknown>): boolean {
  if (typeof exec.command !== "string") return false;
  const args = Array.isArray(exec.args) ? exec.args.map(String) : [];
  return brokerArgsOf(exec.command, args) !== undefined;
}
