/**
 * kubeconfig files on disk, the one module that touches them: which files kubectl would read (`--kubeconfig`,
 * KUBECONFIG, ~/.kube/config), their bytes read bounded, kubectl's `<file>.lock`, and how one is rewritten without
 * ever leaving a broken file. What the bytes say (parsing, merging, choosing a user) is read.ts's.
 */

import { CliError, KubeconfigError, osErrorWords } from "../shared/errors.ts";
import {
  basename,
  dirname,
  expandTilde,
  hasPosixPermissions,
  homeDir,
  HOST_OS,
  joinPath,
  type Os,
  pathKey,
  resolvePath,
  splitPathList,
  statProbe,
} from "../shared/platform.ts";
import { FileReadError, KUBECONFIG_FILE_LIMIT, readRegularFileSync } from "../shared/read_file.ts";
import { FileWriteError, symlinkTargetSync, writeFailureHint } from "../shared/write_file.ts";

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

/** The bytes of one kubeconfig, or null when it does not exist; refuses what is not a bounded regular file. */
export function readKubeconfigBytes(path: string): Uint8Array | null {
  try {
    return readRegularFileSync(path, KUBECONFIG_FILE_LIMIT);
  } catch (error) {
    if (error instanceof FileReadError) {
      if (error.kind === "missing") return null;
      throw new KubeconfigError(`kubeconfig ${path} ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/** How long a write waits for kubectl's `<file>.lock` to go away: kubectl holds it for milliseconds. */
export const KUBECTL_LOCK_WAIT_MS = 5000;

/** kubectl's lock on one kubeconfig, held; disposing removes the lock files. */
export interface KubectlLock extends Disposable {
  files: string[];
}

/**
 * Takes the lock kubectl itself honours: client-go's ModifyConfig creates `<file>.lock` with O_CREATE|O_EXCL
 * before it rewrites a kubeconfig and removes it afterwards (a kubectl that finds one fails at once with "file
 * exists"). Both the path as named and the real file behind a symlink are locked, in sorted order as client-go
 * does, since either may be the name another kubectl uses. An existing lock is waited for at most `timeoutMs`,
 * then the error names it: a kubectl killed while writing leaves it behind, and only a person can tell.
 * Never held while a person is asked anything: kubectl would fail meanwhile.
 */
export async function lockLikeKubectl(
  path: string,
  options: { timeoutMs?: number; onWait?: (lockFile: string) => void | Promise<void> } = {},
): Promise<KubectlLock> {
  // The lock file goes next to the kubeconfig, so its folder must exist first (kubectl creates it too).
  try {
    await Deno.mkdir(dirname(path, HOST_OS), { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new KubeconfigError(
      `cannot create the folder of kubeconfig ${path}: ${osErrorWords(error)}`,
      { cause: error },
    );
  }
  // One lock file per file: on Windows `C:/x/config` and its real path `C:\x\config` are the same one.
  const real = await realPathOf(path);
  const targets = (pathKey(real, HOST_OS) === pathKey(path, HOST_OS) ? [path] : [path, real])
    .sort();
  const held: string[] = [];
  const release = () => {
    for (const file of held.splice(0).reverse()) {
      try {
        Deno.removeSync(file);
      } catch {
        // Already gone: someone removed a lock they thought stale.
      }
    }
  };
  const timeoutMs = options.timeoutMs ?? KUBECTL_LOCK_WAIT_MS;
  try {
    for (const target of targets) {
      const lockFile = `${target}.lock`;
      const deadline = Date.now() + timeoutMs;
      let noticed = false;
      let pause = 5;
      for (;;) {
        try {
          Deno.openSync(lockFile, { write: true, createNew: true, mode: 0o600 }).close();
          held.push(lockFile);
          break;
        } catch (error) {
          if (!(error instanceof Deno.errors.AlreadyExists)) {
            throw new KubeconfigError(
              `cannot create the lock file ${lockFile} of kubeconfig ${path}: ${
                osErrorWords(error)
              }`,
              {
                cause: error,
                hint: writeFailureHint(error) ?? "the folder of the kubeconfig must be writable",
              },
            );
          }
        }
        if (Date.now() >= deadline) {
          throw new KubeconfigError(
            `kubeconfig ${path} is locked by ${lockFile}: still there after ${timeoutMs / 1000}s`,
            {
              hint:
                `kubectl creates it while it writes the file; if no kubectl is running, it is stale ` +
                `(left by a killed kubectl): remove it with rm ${lockFile}`,
            },
          );
        }
        if (!noticed) {
          noticed = true;
          await options.onWait?.(lockFile);
        }
        await new Promise((resolve) =>
          setTimeout(resolve, Math.min(pause, Math.max(1, deadline - Date.now())))
        );
        pause = Math.min(pause * 2, 100);
      }
    }
  } catch (error) {
    release();
    throw error;
  }
  return { files: [...held], [Symbol.dispose]: release };
}

/** Whether every file still holds exactly the bytes (or the absence) it had when `files` were read. */
export function unchangedSince(
  files: readonly { path: string; bytes: Uint8Array | null }[],
): boolean {
  return files.every((file) => sameBytes(readKubeconfigBytes(file.path), file.bytes));
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The file a write to `path` really changes: symlinks followed, even to a target that does not exist yet. */
export function realPathOf(path: string): Promise<string> {
  try {
    return Promise.resolve(symlinkTargetSync(path));
  } catch (error) {
    return Promise.reject(
      error instanceof FileWriteError
        ? new KubeconfigError(`kubeconfig ${path} is a loop of symlinks`, { cause: error })
        : error,
    );
  }
}

/**
 * The file a kubeconfig that is a symlink to nothing (yet) points at, which a write creates as kubectl does, the
 * link kept; undefined for anything else.
 */
export async function danglingLinkTarget(path: string): Promise<string | undefined> {
  try {
    if (!(await Deno.lstat(path)).isSymlink) return undefined;
  } catch {
    return undefined;
  }
  const target = await realPathOf(path);
  return await statOrNull(target) ? undefined : target;
}

/**
 * Refuses, before anyone is asked anything, a kubeconfig that cannot be replaced: a read-only file (no write
 * permission bits; root could otherwise overwrite it) or a read-only folder, where the temporary file and
 * kubectl's lock file must go.
 */
export async function checkWritable(path: string): Promise<void> {
  const real = await realPathOf(path);
  const target = await danglingLinkTarget(path);
  if (target !== undefined && !await statOrNull(dirname(target, HOST_OS))) {
    // kubectl fails on it too ("open <link>: no such file or directory"); its folder is not ours to invent (an
    // unmounted disk, a dotfiles checkout not made yet).
    throw new KubeconfigError(
      `kubeconfig ${path} is a symlink to ${target}, whose folder ${
        dirname(target, HOST_OS)
      } does not exist`,
      { hint: "create that folder, or point the link at an existing one" },
    );
  }
  const file = await statOrNull(real);
  if (file && !file.isFile) throw new KubeconfigError(`kubeconfig ${path} is not a regular file`);
  if (file && !writable(file)) {
    throw new KubeconfigError(`kubeconfig ${path} is read-only`, {
      hint: "make it writable (chmod u+w) or pass --kubeconfig with another file",
    });
  }
  let dir = dirname(real, HOST_OS);
  let info = await statOrNull(dir);
  while (!info && dirname(dir, HOST_OS) !== dir) {
    dir = dirname(dir, HOST_OS);
    info = await statOrNull(dir);
  }
  if (info && !writable(info)) {
    throw new KubeconfigError(`folder ${dir} of kubeconfig ${path} is read-only`, {
      hint: "the file is replaced through a temporary file next to it; make the folder writable",
    });
  }
  if (info) await probeFolder(dir, path);
}

/**
 * Creates and removes a hidden empty file in `dir`: mode bits do not show a read-only mount (EROFS), and only a
 * real create does. Never kubectl's `<file>.lock`, which would make a kubectl running now fail.
 */
async function probeFolder(dir: string, path: string): Promise<void> {
  const probe = joinPath(
    dir,
    `.${basename(path, HOST_OS)}.${crypto.randomUUID().slice(0, 8)}.probe`,
    HOST_OS,
  );
  try {
    (await Deno.open(probe, { write: true, createNew: true, mode: 0o600 })).close();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    throw new KubeconfigError(
      code === "EROFS"
        ? `kubeconfig ${path} cannot be written: ${dir} is on a read-only file system`
        : `kubeconfig ${path} cannot be written: cannot create a file in ${dir}: ${
          osErrorWords(error)
        }`,
      { cause: error, hint: writeFailureHint(error) },
    );
  }
  await Deno.remove(probe).catch(() => {});
}

/** What writeFileAtomic did: replaced the file by a rename, or rewrote it in place (see there). */
export type WriteMethod = "renamed" | "in-place";

/**
 * Replaces `path` so that a crash or a failed write never leaves a broken or lost kubeconfig: the new content is
 * written to a temporary file in the same folder and synced first. Then, normally, that file is renamed over the
 * target (atomic; on Windows Deno's rename is MoveFileEx with MOVEFILE_REPLACE_EXISTING, which replaces an
 * existing file too). The new file gets the old mode (0600 for a new file) and, where modes and owners exist, the
 * old owner and group: root editing another user's kubeconfig (`sudo -E`) must not leave it root-owned and, at
 * 0600, unreadable to its owner. A symlink stays a symlink: its target is what changes.
 *
 * A rename would split a file with more than one hard link (the other names keep the old text), cannot keep an
 * owner this process may not give away, and fails on a file that is a mount point (a container's bind-mounted
 * kubeconfig). There the file is rewritten IN PLACE, as kubectl itself does
 * (os.WriteFile keeps the inode, so links and owner survive). An in-place write is not atomic, so the synced
 * temporary file is kept until the rewrite is synced: if it fails half-way, the error names that file, which holds
 * the complete new text, and nothing is lost. Callers hold kubectl's lock around this.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  hooks: { beforeReplace?: (tmp: string, method: WriteMethod) => void | Promise<void> } = {},
): Promise<WriteMethod> {
  const real = await realPathOf(path);
  const dir = dirname(real, HOST_OS);
  const existing = await statOrNull(real);
  const posix = hasPosixPermissions(HOST_OS);
  const mode = existing?.mode != null ? existing.mode & 0o7777 : 0o600;
  if (!existing) await Deno.mkdir(dir, { recursive: true, mode: 0o700 }).catch(() => {});
  const tmp = joinPath(
    dir,
    `.${basename(real, HOST_OS)}.${crypto.randomUUID().slice(0, 8)}.tmp`,
    HOST_OS,
  );
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let method: WriteMethod = existing?.nlink != null && existing.nlink > 1 ? "in-place" : "renamed";
  let created = false;
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
    created = true;
    try {
      await writeAll(file, bytes);
      if (posix && existing?.uid != null && existing.gid != null) {
        // Compared with the new file itself: its group may come from a set-gid folder, not from this process.
        const made = await file.stat();
        if (existing.uid !== made.uid || existing.gid !== made.gid) {
          try {
            await Deno.chown(tmp, existing.uid, existing.gid);
          } catch {
            // Only root may give a file away: keep the old file (and so its owner) by writing in place.
            method = "in-place";
          }
        }
      }
      // After chown, which clears set-id bits.
      if (posix) await Deno.chmod(tmp, mode);
      await file.syncData();
    } finally {
      file.close();
    }
    await hooks.beforeReplace?.(tmp, method);
    if (method === "renamed") {
      try {
        await Deno.rename(tmp, real);
        created = false;
        return method;
      } catch (error) {
        // A kubeconfig that is a mount point (a container's bind mount of ~/.kube/config) cannot be renamed
        // over (EBUSY, or EXDEV): it is written in place, as kubectl writes it.
        if (!isMountPointError(error)) throw error;
        method = "in-place";
      }
    }
  } catch (error) {
    if (created) await Deno.remove(tmp).catch(() => {});
    if (error instanceof CliError) throw error;
    throw new KubeconfigError(
      `cannot write kubeconfig ${path}: ${osErrorWords(error)}; the file was left as it was`,
      { cause: error, hint: writeFailureHint(error) },
    );
  }
  // In place: the temporary file stays until the target is whole again.
  let target: Deno.FsFile;
  try {
    target = await Deno.open(real, { write: true });
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw new KubeconfigError(
      `cannot write kubeconfig ${path}: ${osErrorWords(error)}; the file was left as it was`,
      { cause: error, hint: writeFailureHint(error) },
    );
  }
  try {
    // Overwrite, then cut: the file is never shorter than the new text while it is written.
    await writeAll(target, bytes);
    await target.truncate(bytes.length);
    await target.syncData();
  } catch (error) {
    throw new KubeconfigError(
      `cannot rewrite kubeconfig ${path} in place: ${
        osErrorWords(error)
      }; it may be incomplete, and its ` +
        `complete new text is in ${tmp}`,
      { cause: error, hint: `copy it over the kubeconfig: cp ${tmp} ${real}` },
    );
  } finally {
    target.close();
  }
  await Deno.remove(tmp).catch(() => {});
  return method;
}

function isMountPointError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Deno.errors.Busy || code === "EBUSY" || code === "EXDEV";
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
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
