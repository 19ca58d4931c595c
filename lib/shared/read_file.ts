/**
 * Reading a user's file without being held hostage by it: a FIFO would block forever (while the renewal lock is
 * held), `/dev/zero` would grow memory without end. Only regular files are opened, and only up to a limit.
 */
import { osErrorWords } from "./errors.ts";

/** Why a file could not be read; `message` completes "<what> <path> ..." and is safe to print. */
export class FileReadError extends Error {
  constructor(
    readonly kind: "missing" | "unreadable" | "not-regular" | "too-large",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "FileReadError";
  }
}

/** 1 MiB: a certificate chain, key or token is a few KiB; anything larger is not one. */
export const CREDENTIAL_FILE_LIMIT = 1024 * 1024;

/** 256 MiB: the largest kubeconfig read; kubectl reads tens of MB, this keeps memory bounded. */
export const KUBECONFIG_FILE_LIMIT = 256 * 1024 * 1024;

/**
 * The bytes of `path` (symlinks followed), refusing anything but a regular file of at most `limit` bytes. The
 * kind is checked before opening (opening a FIFO blocks) and again on the open file, and the read stops at the
 * limit even if the file grows meanwhile.
 */
export function readRegularFileSync(path: string, limit: number): Uint8Array {
  let file: Deno.FsFile;
  try {
    checkKind(Deno.statSync(path), limit);
    file = Deno.openSync(path, { read: true });
  } catch (error) {
    throw asReadError(error);
  }
  try {
    const info = file.statSync();
    checkKind(info, limit);
    const buffer = new Uint8Array(Math.min(info.size, limit) + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        throw new FileReadError("too-large", `is larger than the ${formatSize(limit)} limit`);
      }
      const read = file.readSync(buffer.subarray(length));
      if (read === null || read === 0) break;
      length += read;
    }
    return buffer.subarray(0, length);
  } catch (error) {
    throw asReadError(error);
  } finally {
    file.close();
  }
}

function checkKind(info: Deno.FileInfo, limit: number): void {
  if (info.isDirectory) throw new FileReadError("not-regular", "is a folder, not a file");
  if (!info.isFile) {
    const kind = info.isFifo
      ? "a named pipe (FIFO)"
      : info.isCharDevice || info.isBlockDevice
      ? "a device"
      : info.isSocket
      ? "a socket"
      : "not a regular file";
    throw new FileReadError(
      "not-regular",
      kind === "not a regular file" ? "is not a regular file" : `is ${kind}, not a regular file`,
    );
  }
  if (info.size > limit) {
    throw new FileReadError(
      "too-large",
      `is ${formatSize(info.size)}, larger than the ${formatSize(limit)} limit`,
    );
  }
}

function asReadError(error: unknown): FileReadError {
  if (error instanceof FileReadError) return error;
  if (error instanceof Deno.errors.NotFound) {
    return new FileReadError("missing", "does not exist", { cause: error });
  }
  if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
    return new FileReadError("unreadable", "cannot be read: permission denied", { cause: error });
  }
  if (error instanceof Deno.errors.IsADirectory) {
    return new FileReadError("not-regular", "is a folder, not a file", { cause: error });
  }
  return new FileReadError("unreadable", `cannot be read: ${osErrorWords(error)}`, {
    cause: error,
  });
}

/** "1.5 MB", "300 KB", "12 bytes": sizes in errors. */
export function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${+(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${+(bytes / 1024).toFixed(1)} KB`;
  return `${bytes} bytes`;
}
