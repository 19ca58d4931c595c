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

/** The message of any thrown value, for wrapping foreign errors without leaking their payload. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
