/**
 * kubectl-credentials_broker: a client-go exec credential plugin that renews short-lived client certificates and
 * tokens with a user command, and prints them as an ExecCredential for kubectl.
 */
import { CliError, ExitCode } from "./lib/errors.ts";
import { processIo } from "./lib/io.ts";
import { runPlugin } from "./lib/plugin.ts";

const io = processIo();
const [first, ...rest] = Deno.args;
let code: number;
try {
  switch (first) {
    case "kubeconfig":
      code = await (await import("./lib/kubeconfig_set.ts")).kubeconfigCommand(rest, io);
      break;
    case "doctor":
      code = await (await import("./lib/doctor.ts")).doctorCommand(rest, io);
      break;
    case "completion":
    case "__complete":
      code = await (await import("./lib/completion.ts")).completionCommand(Deno.args, io);
      break;
    default:
      code = await runPlugin(Deno.args, io);
  }
} catch (error) {
  code = await report(error);
}
Deno.exit(code);

async function report(error: unknown): Promise<number> {
  const debug = Boolean(Deno.env.get("KUBECTL_CREDENTIALS_BROKER_DEBUG"));
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
  // A bug, not a user error: say so, without echoing values that might hold secrets unless asked to.
  const detail = debug && error instanceof Error ? `\n${error.stack}` : "";
  await io.stderr(
    `error: internal error in kubectl-credentials_broker (${
      error instanceof Error ? error.name : typeof error
    }); set KUBECTL_CREDENTIALS_BROKER_DEBUG=1 for details${detail}\n`,
  );
  return ExitCode.failure;
}
