/**
 * kubeconfig files as kubectl sees them, as pure rules: which files (`--kubeconfig`, KUBECONFIG, ~/.kube/config),
 * how they merge, and which file defines a user or receives a new one. Reading and writing them is
 * files.ts's.
 */

import { KubeconfigError } from "../shared/errors.ts";
import type { KubeconfigView } from "./read.ts";
import {
  expandTilde,
  homeDir,
  HOST_OS,
  joinPath,
  type Os,
  resolvePath,
  splitPathList,
  statProbe,
} from "../shared/platform.ts";

/** The files kubectl would read, in precedence order, and whether one was named explicitly. */
export interface KubeconfigPaths {
  paths: string[];
  explicit: boolean;
}

/**
 * kubectl's loading rules: `--kubeconfig FILE` alone (a leading `~/` expanded: the shell leaves `--kubeconfig=~/x`
 * alone), else the KUBECONFIG list (split by the platform's rule, duplicates and empty entries dropped), else
 * `.kube/config` in the home folder. Relative paths are made absolute against `cwd`.
 */
export function kubeconfigPaths(options: {
  explicit?: string;
  env: (name: string) => string | undefined;
  cwd: string;
  os?: Os;
}): KubeconfigPaths {
  const os = options.os ?? HOST_OS;
  const home = () => homeDir(os, options.env, statProbe);
  const absolute = (path: string) => resolvePath(path, options.cwd, os);
  if (options.explicit !== undefined) {
    const explicit = options.explicit.startsWith("~")
      ? expandTilde(options.explicit, home(), os)
      : options.explicit;
    return { paths: [absolute(explicit)], explicit: true };
  }
  const list = splitPathList(options.env("KUBECONFIG"), os);
  if (list.length > 0) return { paths: [...new Set(list.map(absolute))], explicit: false };
  const dir = home();
  if (!dir) {
    throw new KubeconfigError("cannot find the kubeconfig: HOME and KUBECONFIG are not set", {
      hint: "pass --kubeconfig FILE",
    });
  }
  return { paths: [joinPath(joinPath(dir, ".kube", os), "config", os)], explicit: false };
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
