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
  joinPath,
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
    Deno.renameSync(candidate, real);
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

/** What a person can do about a failed write, for the causes they can fix (full disk, read-only mount). */
export function writeFailureHint(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "ENOSPC" || code === "EDQUOT") return "free some space on that disk and try again";
  if (code === "EROFS") return "that file system is mounted read-only";
  if (error instanceof Deno.errors.PermissionDenied) {
    return "check the permissions of the file and its folder";
  }
  return undefined;
}
