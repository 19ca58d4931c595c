/** Exit codes the broker documents in the README; kubectl shows them as "exit code N". */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  beforeExec: 3,
  lockTimeout: 4,
} as const;

/** Base of every error the broker reports to the user: the message is safe to print, never a secret. */
export class CliError extends Error {
  readonly exitCode: number;
  /** What the user can do about it, printed under the error (one line). */
  readonly hint?: string;
  constructor(
    message: string,
    options: { exitCode?: number; hint?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = options.exitCode ?? ExitCode.failure;
    this.hint = options.hint;
  }
}

/** Bad flags or arguments: exit 2, like kubectl and most CLIs. */
export class UsageError extends CliError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { ...options, exitCode: ExitCode.usage });
  }
}

/** A credential file is missing, unreadable, malformed, expired or inconsistent. */
export class CredentialError extends CliError {}

/** The before-exec command failed, timed out or could not be started. */
export class BeforeExecError extends CliError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { ...options, exitCode: ExitCode.beforeExec });
  }
}

/**
 * A certificate authority (--issuer) could not be reached, refused, or answered something unusable: exit 3, as a
 * failing renewal command. The message carries the issuer's own words, never a token, key or one-time token.
 */
export class IssuerError extends CliError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { ...options, exitCode: ExitCode.beforeExec });
  }
}

/** Another broker held the renewal lock for longer than we were allowed to wait. */
export class LockTimeoutError extends CliError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { ...options, exitCode: ExitCode.lockTimeout });
  }
}

/** A kubeconfig could not be read, understood or safely written. */
export class KubeconfigError extends CliError {}

/** A foreign error's class name (or the type of a thrown non-Error): the one part of it safe to print. */
export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/** The message of any thrown value, for wrapping foreign errors without leaking their payload. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Deno's error classes in words, for the OS errors that have one. */
const OS_ERROR_CLASSES: Record<string, string> = {
  NotFound: "no such file or folder",
  PermissionDenied: "permission denied",
  NotCapable: "not allowed by the permissions Deno runs with",
  AlreadyExists: "it already exists",
  IsADirectory: "it is a folder",
  NotADirectory: "a part of the path is not a folder",
  FilesystemLoop: "too many levels of symbolic links",
  Busy: "the file is busy",
  Interrupted: "interrupted",
  TimedOut: "timed out",
  WriteZero: "nothing could be written",
  UnexpectedEof: "the file ended early",
  InvalidData: "invalid data",
};

/** POSIX error codes (Deno's `error.code`) in words; the ones a file operation meets. */
const OS_ERROR_CODES: Record<string, string> = {
  ENOENT: "no such file or folder",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EEXIST: "it already exists",
  EISDIR: "it is a folder",
  ENOTDIR: "a part of the path is not a folder",
  ENOTEMPTY: "the folder is not empty",
  ELOOP: "too many levels of symbolic links",
  ENOSPC: "no space left on the disk",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EIO: "input/output error",
  EBUSY: "the file is busy",
  ETXTBSY: "the file is busy",
  EXDEV: "it is on another file system",
  ENAMETOOLONG: "the file name is too long",
  EMFILE: "too many open files",
  ENFILE: "too many open files in the system",
  EFBIG: "the file is too large",
  EINTR: "interrupted",
  EAGAIN: "resource temporarily unavailable",
  ENODEV: "no such device",
  ENXIO: "no such device",
};

/**
 * An OS error in words ("no space left on the disk", "read-only file system"), for messages that name the file:
 * a user should not have to decode `NotFound` or `Error`. Only the OS's own wording is used, never the rest of a
 * foreign message (it may carry a path or a value). Windows codes Deno gives no POSIX code keep the OS's text.
 */
export function osErrorWords(error: unknown): string {
  if (!(error instanceof Error)) return "unknown error";
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && code in OS_ERROR_CODES) return OS_ERROR_CODES[code]!;
  if (error.name in OS_ERROR_CLASSES) return OS_ERROR_CLASSES[error.name]!;
  // "Lock violation (os error 33)", "There is not enough space on the disk. (os error 112)": the OS's words.
  const os = /^([A-Za-z][A-Za-z ,'/-]*?)\.? \(os error \d+\)/.exec(error.message);
  if (os) return os[1]!.toLowerCase();
  return error.name === "Error" ? "unexpected error" : `unexpected error (${error.name})`;
}
