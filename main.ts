/**
 * kubectl-credentials_broker: a client-go exec credential plugin that renews short-lived client certificates and
 * tokens with a user command, and prints them as an ExecCredential for kubectl.
 */
import { CliError } from "./lib/shared/errors.ts";
import { processIo } from "./lib/shared/io.ts";
import { runPlugin } from "./lib/plugin/plugin.ts";
import { reportError } from "./lib/shared/report.ts";
import { wantsSubcommand } from "./lib/shared/command_list.ts";
import { fileUrlToPath, HOST_OS } from "./lib/shared/platform.ts";

/**
 * Loaded only for a subcommand: kubectl runs the plugin on every call, and that path needs none of it. Named by
 * a variable, not a literal: Deno reads every file a literal import() names when it starts, whether or not the
 * import runs, and the installed subcommands bundle is about 550 KB (scripts/bundle.ts points this at it).
 */
const COMMANDS_MODULE = "./lib/commands.ts";

const io = processIo();
if (wantsSubcommand(Deno.args)) {
  let commands: typeof import("./lib/commands.ts");
  try {
    commands = await import(COMMANDS_MODULE);
  } catch (error) {
    const path = fileUrlToPath(new URL(COMMANDS_MODULE, import.meta.url).href, HOST_OS);
    Deno.exit(
      await reportError(
        new CliError(`cannot load the subcommands from ${path}: the installation is incomplete`, {
          cause: error,
          hint: "install kubectl-credentials-broker again",
        }),
        io,
      ),
    );
  }
  Deno.exit(await commands.runCommand(Deno.args, io));
}
try {
  Deno.exitCode = await runPlugin(Deno.args, io);
} catch (error) {
  Deno.exitCode = await reportError(error, io);
}
// No Deno.exit(): the plugin ends with nothing pending, and the event loop's last turn is when Deno writes this
// module's V8 code cache, which every later call starts from.
