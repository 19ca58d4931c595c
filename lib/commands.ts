/**
 * The subcommands: everything but the credential plugin itself. main.ts imports this module only when one of
 * them is asked for, so the YAML and diff libraries never load on a kubectl call. Errors are reported here, by
 * this module's own reportError: the installed bundle holds this module and its imports in a file of their own
 * (see scripts/bundle.ts), with their own copies of the error classes.
 */
import { completionCommand } from "./completion.ts";
import { doctorCommand } from "./doctor/doctor.ts";
import { UsageError } from "./shared/errors.ts";
import type { Io } from "./shared/io.ts";
import { kubeconfigCommand } from "./kubeconfig/kubeconfig_set.ts";
import { reportError } from "./shared/report.ts";

/** Runs the subcommand named by argv[0] and returns the exit code; errors are printed, never thrown. */
export async function runCommand(argv: readonly string[], io: Io): Promise<number> {
  const [first, ...rest] = argv;
  try {
    switch (first) {
      case "kubeconfig":
        return await kubeconfigCommand(rest, io);
      case "doctor":
        return await doctorCommand(rest, io);
      case "completion":
      case "__complete":
        return await completionCommand([...argv], io);
      default:
        throw new UsageError(`unknown subcommand ${JSON.stringify(first)}`, {
          hint: "commands are: kubeconfig set, doctor, completion, version, help",
        });
    }
  } catch (error) {
    return await reportError(error, io);
  }
}
