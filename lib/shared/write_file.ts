/**
 * Writing a file whole or not at all, for every file the broker (or an issuer) writes that a reader may open at
 * any moment: a credential file, the renew-ahead state. On a full or read-only disk the write fails with an
 * error that names the file and says why in words, and the old file is left exactly as it was.
 * (Kubeconfigs have their own writer in lib/kubeconfig/files.ts: kubectl's lock, in-place rewrites.)
 */
import { CliError, osErrorWords } from "./errors.ts";
import {
  basename,
  dirname,
  hasPosixPermissions,
  HOST_OS,
  isWindows,
  joinPath,
  type Os,
  resolvePath,
} from "./platform.ts";

/** A file could not be written; the old one is intact. `reason` is the OS error in words. */
export class FileWriteError extends CliError {
  constructor(
    readonly path: string,
    readonly reason: string,
    message: string,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

/**
 * The file a write to `path` really changes: symlinks followed, even to a target that does not exist yet, so that
 * a link stays a link (kubectl writes through one too). A loop of links is an error naming `path`.
 */
export function symlinkTargetSync(path: string): string {
  let current = path;
  for (let hops = 0; hops < 40; hops++) {
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(current);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      try {
        const dir = Deno.realPathSync(dirname(current, HOST_OS));
        return joinPath(dir, basename(current, HOST_OS), HOST_OS);
      } catch {
        return current;
      }
    }
    if (!info.isSymlink) return Deno.realPathSync(current);
    current = resolvePath(Deno.readLinkSync(current), dirname(current, HOST_OS), HOST_OS);
  }
  throw new FileWriteError(path, "a loop of symbolic links", `${path} is a loop of symbolic links`);
}

/**
 * Replaces `path` (`what` names it in the error: "client certificate", "renew-ahead state") with `data`: written
 * to a temporary file in the same folder, synced, then renamed over it, so that a reader sees the old file or the
 * new one, never a part, and a failure (ENOSPC, EROFS, a vanished folder) leaves the old file untouched and no
 * temporary file behind. A symlink stays a symlink: its target is replaced. The mode is `mode`, else the old
 * file's, else 0600 (a new file may hold a key). Other hard links to the old file keep the old content.
 */
export function writeFileAtomicSync(
  path: string,
  data: string | Uint8Array,
  options: { what?: string; mode?: number } = {},
): void {
  const what = options.what ? `${options.what} ` : "";
  let tmp: string | undefined;
  try {
    const real = symlinkTargetSync(path);
    let existingMode: number | null = null;
    try {
      existingMode = Deno.statSync(real).mode;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const mode = options.mode ?? (existingMode !== null ? existingMode & 0o7777 : 0o600);
    const name = `.${basename(real, HOST_OS)}.${crypto.randomUUID().slice(0, 8)}.tmp`;
    const candidate = joinPath(dirname(real, HOST_OS), name, HOST_OS);
    const file = Deno.openSync(candidate, { write: true, createNew: true, mode: 0o600 });
    tmp = candidate;
    try {
      let bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
      while (bytes.length > 0) bytes = bytes.subarray(file.writeSync(bytes));
      // Before the rename: a crash after it must not leave an empty file under the real name.
      file.syncDataSync();
    } finally {
      file.close();
    }
    if (hasPosixPermissions(HOST_OS)) Deno.chmodSync(candidate, mode);
    renameRetryingSync(candidate, real);
    tmp = undefined;
  } catch (error) {
    if (tmp !== undefined) {
      try {
        Deno.removeSync(tmp);
      } catch {
        // a read-only disk keeps it; it is hidden and named .<file>.<id>.tmp
      }
    }
    if (error instanceof FileWriteError) throw error;
    const reason = osErrorWords(error);
    throw new FileWriteError(
      path,
      reason,
      `cannot write ${what}${path}: ${reason}; it was left as it was`,
      {
        cause: error,
        hint: writeFailureHint(error),
      },
    );
  }
}

/**
 * How long, in all, a replace that Windows refuses is tried again. Windows does not rename over a file that another
 * process holds open without FILE_SHARE_DELETE (a kubectl reading the kubeconfig, an editor, a virus scanner): the
 * rename fails "access denied" (os error 5) until that process lets go. The known remedy is to try again for a
 * while: npm's graceful-fs does so on win32 for up to 60 s, Go's cmd/go (internal/robustio) for 2 s; 5 s lets a
 * reader finish without holding up a kubectl call for long.
 */
export const RENAME_RETRY_MS = 5000;

/**
 * Whether a failed rename is the one Windows gives while another process holds a file open (access denied,
 * EACCES/EPERM, os error 5; a sharing violation, os error 32; busy): worth another try there. Never elsewhere,
 * where such an error is a real permission problem that waiting does not fix.
 */
export function isTransientRenameError(error: unknown, os: Os): boolean {
  if (!isWindows(os)) return false;
  if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.Busy) {
    return true;
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "EACCES" || code === "EPERM" || code === "EBUSY") return true;
  return /\(os error (5|32)\)/.test(error instanceof Error ? error.message : String(error));
}

/**
 * The milliseconds to wait before trying a rename again after try number `tries` (1 for the first) failed with
 * `error`, `elapsedMs` after the first try; null to give up: the error is not transient on `os`, or
 * RENAME_RETRY_MS is spent. The waits grow from 10 ms to 100 ms, as a reader usually lets go within moments.
 */
export function renameRetryDelay(
  error: unknown,
  os: Os,
  tries: number,
  elapsedMs: number,
): number | null {
  if (!isTransientRenameError(error, os) || elapsedMs >= RENAME_RETRY_MS) return null;
  return Math.max(1, Math.min(10 * 2 ** (tries - 1), 100, RENAME_RETRY_MS - elapsedMs));
}

/** What renaming needs from the world: replaceable in tests. */
export interface RenameEffects {
  os: Os;
  now: () => number;
  sleep: (ms: number) => void | Promise<void>;
}

const HOST_RENAME: RenameEffects = {
  os: HOST_OS,
  now: () => performance.now(),
  // Atomics.wait blocks this thread only: a synchronous writer has nothing else to do meanwhile.
  sleep: (ms) => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms),
};

/**
 * Deno.renameSync(from, to), tried again while Windows refuses it because another process holds a file open
 * (renameRetryDelay); the last error is thrown. `from` is never removed here: the caller decides what a failure
 * leaves, and the file at `to` is untouched until a rename succeeds.
 */
export function renameRetryingSync(
  from: string,
  to: string,
  rename: (from: string, to: string) => void = Deno.renameSync,
  effects: RenameEffects = HOST_RENAME,
): void {
  const started = effects.now();
  for (let tries = 1;; tries++) {
    try {
      rename(from, to);
      return;
    } catch (error) {
      const delay = renameRetryDelay(error, effects.os, tries, effects.now() - started);
      if (delay === null) throw error;
      void effects.sleep(delay);
    }
  }
}

/** renameRetryingSync() for async writers (the kubeconfig's): waits without blocking. */
export async function renameRetrying(
  from: string,
  to: string,
  rename: (from: string, to: string) => Promise<void> = Deno.rename,
  effects: RenameEffects = {
    ...HOST_RENAME,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  },
): Promise<void> {
  const started = effects.now();
  for (let tries = 1;; tries++) {
    try {
      await rename(from, to);
      return;
    } catch (error) {
      const delay = renameRetryDelay(error, effects.os, tries, effects.now() - started);
      if (delay === null) throw error;
      await effects.sleep(delay);
    }
  }
}

/** What a person can do about a failed write, for the causes they can fix (full disk, read-only mount). */
export function writeFailureHint(error: unknown, os: Os = HOST_OS): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "ENOSPC" || code === "EDQUOT") return "free some space on that disk and try again";
  if (code === "EROFS") return "that file system is mounted read-only";
  if (isTransientRenameError(error, os)) {
    return "another program (an editor, a kubectl, a virus scanner) may hold the file open: close it and try " +
      "again; else check the permissions of the file and its folder";
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return "check the permissions of the file and its folder";
  }
  return undefined;
}
