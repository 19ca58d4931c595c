import { CliError, errorName, ExitCode } from "./errors.ts";
import type { Io } from "./io.ts";

/**
 * Prints a failure as `error:` and `hint:` lines and returns the exit code. A CliError's message is safe to
 * print; anything else is a bug, reported by its class name only, since its message may hold a value read from a
 * secret. KUBECTL_CREDENTIALS_BROKER_DEBUG=1 adds the causes (and a bug's stack).
 */
export async function reportError(error: unknown, io: Pick<Io, "env" | "stderr">): Promise<number> {
  const debug = Boolean(io.env("KUBECTL_CREDENTIALS_BROKER_DEBUG"));
  if (error instanceof CliError) {
    let text = `error: ${error.message}\n`;
    if (error.hint) text += `hint: ${error.hint}\n`;
    if (debug) {
      for (let cause = error.cause; cause; cause = (cause as Error).cause) {
        text += `  caused by: ${
          cause instanceof Error ? `${cause.name}: ${cause.message}` : cause
        }\n`;
      }
    }
    await io.stderr(text);
    return error.exitCode;
  }
  const detail = debug && error instanceof Error ? `\n${error.stack}` : "";
  await io.stderr(
    `error: internal error in kubectl-credentials_broker (${
      errorName(error)
    }); set KUBECTL_CREDENTIALS_BROKER_DEBUG=1 for details${detail}\n`,
  );
  return ExitCode.failure;
}
