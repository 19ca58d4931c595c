/**
 * kubeconfig files as kubectl sees them: which files (`--kubeconfig`, KUBECONFIG, ~/.kube/config), how they merge,
 * which file defines a user or receives a new one, and how one is rewritten without ever leaving a broken file.
 */
import { CliError, KubeconfigError } from "./errors.ts";
import { type KubeconfigView, kubeconfigView } from "./kubeconfig_edit.ts";
import { acquireLock, defaultCacheDir, type HeldLock, lockName } from "./lock.ts";

/** The files kubectl would read, in precedence order, and whether one was named explicitly. */
export interface KubeconfigPaths {
  paths: string[];
  explicit: boolean;
}

/**
 * kubectl's loading rules: `--kubeconfig FILE` alone, else the KUBECONFIG list (':' separated, duplicates and
 * empty entries dropped), else ~/.kube/config. Relative paths are made absolute against `cwd`.
 */
export function kubeconfigPaths(options: {
  explicit?: string;
  env: (name: string) => string | undefined;
  cwd: string;
}): KubeconfigPaths {
  const absolute = (path: string) =>
    path.startsWith("/") ? path : `${options.cwd.replace(/\/$/, "")}/${path}`;
  if (options.explicit !== undefined) {
    return { paths: [absolute(options.explicit)], explicit: true };
  }
  const list = (options.env("KUBECONFIG") ?? "").split(":").filter((path) => path !== "");
  if (list.length > 0) return { paths: [...new Set(list.map(absolute))], explicit: false };
  const home = options.env("HOME");
  if (!home) {
    throw new KubeconfigError("cannot find the kubeconfig: HOME and KUBECONFIG are not set", {
      hint: "pass --kubeconfig FILE",
    });
  }
  return { paths: [`${home.replace(/\/$/, "")}/.kube/config`], explicit: false };
}

/** One kubeconfig file as read: `text` is null when the file does not exist. */
export interface KubeconfigFile {
  path: string;
  text: string | null;
  view: KubeconfigView;
}

/** Reads and parses each file; a missing file is kept (kubectl skips it), an unreadable or malformed one is an error. */
export async function readKubeconfigFiles(paths: readonly string[]): Promise<KubeconfigFile[]> {
  const files: KubeconfigFile[] = [];
  for (const path of paths) {
    let text: string | null;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) text = null;
      else {
        throw new KubeconfigError(`cannot read kubeconfig ${path}: ${errorName(error)}`, {
          cause: error,
        });
      }
    }
    const empty = { currentContext: "", contexts: [], users: [] };
    files.push({ path, text, view: text === null ? empty : kubeconfigView(text, path) });
  }
  return files;
}

/** The merged view kubectl works with: for each name the first file that defines it wins, whole. */
export interface MergedKubeconfig {
  files: KubeconfigFile[];
  currentContext?: { name: string; file: string };
  contexts: Map<string, { file: string; context: Record<string, unknown> }>;
  users: Map<string, { file: string; user: Record<string, unknown> }>;
  /** Where kubectl puts new entries: the first existing file, else the first of the list. */
  defaultFile: string;
}

/** Merges files in precedence order, the way kubectl's loader does. */
export function mergeKubeconfigs(files: readonly KubeconfigFile[]): MergedKubeconfig {
  const merged: MergedKubeconfig = {
    files: [...files],
    contexts: new Map(),
    users: new Map(),
    defaultFile: files.find((file) => file.text !== null)?.path ?? files[0]?.path ?? "",
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
  const where = merged.files.map((file) => file.path).join(", ");
  if (choice.user !== undefined) {
    const found = merged.users.get(choice.user);
    return found
      ? { name: choice.user, file: found.file, exists: true, user: found.user }
      : { name: choice.user, file: merged.defaultFile, exists: false, user: {} };
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

/** For `doctor`: the current (or named) context's user entry as kubectl would use it, and the file it comes from. */
export async function loadUserEntry(options: {
  explicit?: string;
  context?: string;
  user?: string;
  env: (name: string) => string | undefined;
  cwd: string;
}): Promise<UserSelection & { paths: string[] }> {
  const { paths } = kubeconfigPaths(options);
  const merged = mergeKubeconfigs(await readKubeconfigFiles(paths));
  return { ...selectUser(merged, options), paths };
}

/**
 * Takes the lock for editing `path`, keyed by its real path so that a symlink and its target share one lock, and
 * held across read, diff, prompt and write so that concurrent edits cannot lose each other's change.
 */
export async function lockKubeconfig(
  path: string,
  env: (name: string) => string | undefined,
  onWait?: () => void | Promise<void>,
): Promise<HeldLock> {
  return await acquireLock({
    dir: defaultCacheDir(env),
    name: lockName("kubeconfig", [await realPathOf(path)]),
    timeoutMs: 60_000,
    noticeAfterMs: 1000,
    onWait,
    holder: `another kubectl credentials-broker editing ${path}`,
  });
}

/** The file a write to `path` really changes: symlinks followed, even to a target that does not exist yet. */
export async function realPathOf(path: string): Promise<string> {
  let current = path;
  for (let hops = 0; hops < 40; hops++) {
    try {
      const info = await Deno.lstat(current);
      if (!info.isSymlink) return await Deno.realPath(current);
      const target = await Deno.readLink(current);
      current = target.startsWith("/") ? target : `${dirname(current)}/${target}`;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      try {
        return `${await Deno.realPath(dirname(current))}/${basename(current)}`;
      } catch {
        return current;
      }
    }
  }
  throw new KubeconfigError(`kubeconfig ${path} is a loop of symlinks`);
}

/**
 * Refuses, before anyone is asked anything, a kubeconfig that cannot be replaced: a read-only file (no write
 * permission bits; root could otherwise overwrite it) or a read-only folder, where the temporary file must go.
 */
export async function checkWritable(path: string): Promise<void> {
  const real = await realPathOf(path);
  const file = await statOrNull(real);
  if (file && !file.isFile) throw new KubeconfigError(`kubeconfig ${path} is not a regular file`);
  if (file && !writable(file)) {
    throw new KubeconfigError(`kubeconfig ${path} is read-only`, {
      hint: "make it writable (chmod u+w) or pass --kubeconfig with another file",
    });
  }
  let dir = dirname(real);
  let info = await statOrNull(dir);
  while (!info && dir !== "/" && dir !== "") {
    dir = dirname(dir);
    info = await statOrNull(dir);
  }
  if (info && !writable(info)) {
    throw new KubeconfigError(`folder ${dir} of kubeconfig ${path} is read-only`, {
      hint: "the file is replaced through a temporary file next to it; make the folder writable",
    });
  }
}

/**
 * Replaces `path` atomically: writes a temporary file in the same folder, syncs it and renames it over the real
 * target, so a crash or a failed write leaves the old file whole. The old mode is kept (0600 for a new file), and
 * a symlink stays a symlink: its target is what changes.
 */
export async function writeFileAtomic(
  path: string,
  text: string,
  hooks: { beforeRename?: (tmp: string) => void | Promise<void> } = {},
): Promise<void> {
  const real = await realPathOf(path);
  const dir = dirname(real);
  const existing = await statOrNull(real);
  const mode = existing?.mode != null ? existing.mode & 0o7777 : 0o600;
  if (!existing) await Deno.mkdir(dir, { recursive: true, mode: 0o700 }).catch(() => {});
  const tmp = `${dir}/.${basename(real)}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  let created = false;
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
    created = true;
    try {
      const bytes = new TextEncoder().encode(text);
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await Deno.chmod(tmp, mode);
      await file.syncData();
    } finally {
      file.close();
    }
    await hooks.beforeRename?.(tmp);
    await Deno.rename(tmp, real);
    created = false;
  } catch (error) {
    if (created) await Deno.remove(tmp).catch(() => {});
    if (error instanceof CliError) throw error;
    throw new KubeconfigError(
      `cannot write kubeconfig ${path}: ${errorName(error)}; the file was left as it was`,
      { cause: error },
    );
  }
}

function writable(info: Deno.FileInfo): boolean {
  if (info.mode === null) return true;
  const uid = Deno.uid();
  if (uid === 0 || uid === null) return (info.mode & 0o222) !== 0;
  if (info.uid === uid) return (info.mode & 0o200) !== 0;
  return (info.mode & 0o022) !== 0;
}

async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function errorName(error: unknown): string {
  if (error instanceof Error) return error.name === "Error" ? error.message : error.name;
  return String(error);
}
