/**
 * The command table and the router of the subcommands: everything but the credential plugin itself. Each
 * command's name, summary and usage come from lib/shared/command_list.ts (main.ts and the plugin's help read that
 * light half on kubectl's path); this module adds each one's flags and a loader, so the help text, the hints,
 * completion and the router all read one list. main.ts imports this module only when a subcommand is asked for,
 * and the loaders import a subcommand's code (and the YAML and diff libraries) only when it runs. Errors are
 * reported here, by this module's own reportError: the installed bundle holds this module and its imports in a
 * file of their own (see scripts/bundle.ts), with their own copies of the error classes.
 */
import { BROKER_FLAGS } from "./plugin/broker_options.ts";
import { DOCTOR_FLAGS } from "./doctor/doctor_flags.ts";
import { KUBECONFIG_SET_FLAGS } from "./kubeconfig/set_flags.ts";
import { STATUS_FLAGS } from "./status/status_flags.ts";
import {
  type CommandInfo,
  type CommandName,
  COMMANDS,
  COMMANDS_HINT,
  findCommand,
  VISIBLE_COMMANDS,
} from "./shared/command_list.ts";
import { UsageError } from "./shared/errors.ts";
import type { FlagSpec } from "./shared/flags.ts";
import type { Io } from "./shared/io.ts";
import type { PermissionUse } from "./shared/permissions.ts";
import { reportError } from "./shared/report.ts";

/** A subcommand's entry point: the words after its name in, the exit code out. */
export type RunCommand = (args: string[], io: Io) => Promise<number>;

/** One row of the command table. */
export interface Command extends CommandInfo {
  /** The flags it takes, without --help (every command has that one). */
  readonly flags: readonly FlagSpec[];
  /** The flags of each word one level down, by name. */
  readonly subcommandFlags?: Readonly<Record<string, readonly FlagSpec[]>>;
  /** Imports its code when it runs; none for the commands the plugin itself answers. */
  readonly load?: () => Promise<RunCommand>;
  /** The permissions it keeps (lib/shared/permissions.ts); the router revokes the rest before it runs. */
  readonly permissions?: PermissionUse;
}

/** The plugin's own flags when called with no command (what kubectl runs), without --help. */
export const ROOT_FLAGS: readonly FlagSpec[] = [
  ...BROKER_FLAGS,
  { name: "version", kind: "boolean", help: "print the version" },
];

/** A command that runs code of its own says which permissions it keeps; one the plugin answers has neither. */
type Parts =
  & Pick<Command, "flags" | "subcommandFlags" | "args">
  & (
    | { load: () => Promise<RunCommand>; permissions: PermissionUse }
    | { load?: undefined; permissions?: undefined }
  );

/** What each command adds to its light half; `satisfies` makes a new name in command_list.ts need a row here. */
const PARTS = {
  kubeconfig: {
    flags: [],
    subcommandFlags: { set: KUBECONFIG_SET_FLAGS },
    load: async () => (await import("./kubeconfig/set.ts")).kubeconfigCommand,
    permissions: "kubeconfig",
  },
  doctor: {
    flags: DOCTOR_FLAGS,
    load: async () => (await import("./doctor/doctor.ts")).doctorCommand,
    permissions: "doctor",
  },
  status: {
    flags: STATUS_FLAGS,
    load: async () => (await import("./status/status.ts")).statusCommand,
    permissions: "status",
  },
  completion: { flags: [], load: () => completionEntry("completion"), permissions: "completion" },
  version: { flags: [] },
  help: {
    flags: [],
    args: VISIBLE_COMMANDS.map((command) => command.name).filter((name) => name !== "help"),
  },
  __complete: {
    flags: [],
    load: () => completionEntry("__complete"),
    permissions: "completion",
  },
} as const satisfies Record<CommandName, Parts>;

/** Every command, in the help text's order: the one list the router, completion, help and hints read. */
export const COMMAND_TABLE: readonly Command[] = COMMANDS.map((info): Command => ({
  ...info,
  ...PARTS[info.name],
}));

async function completionEntry(name: "completion" | "__complete"): Promise<RunCommand> {
  const { completionCommand } = await import("./completion.ts");
  return (args, io) => completionCommand([name, ...args], io);
}

/**
 * Runs the subcommand named by argv[0] (`help COMMAND` is `COMMAND --help`) and returns the exit code; errors are
 * printed, never thrown.
 */
export async function runCommand(argv: readonly string[], io: Io): Promise<number> {
  let [name, ...args] = argv;
  const help = name === "help" && !findCommand(args[0])?.hidden;
  if (help) [name, ...args] = [...args, "--help"];
  try {
    const command = COMMAND_TABLE.find((command) => command.name === name);
    if (!command?.load) {
      throw new UsageError(`unknown subcommand ${JSON.stringify(name)}`, { hint: COMMANDS_HINT });
    }
    // Before its code loads: what a command keeps depends on the command alone (doctor narrows again itself),
    // and `help COMMAND` only prints. Parts gives every command that loads code its permissions.
    io.narrow(help ? "help" : command.permissions!);
    return await (await command.load())(args, io);
  } catch (error) {
    return await reportError(error, io);
  }
}
