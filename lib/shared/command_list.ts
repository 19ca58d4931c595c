/**
 * The commands of kubectl-credentials_broker by name, with what the help text and the hints say of them: the
 * light half of the command table. main.ts reads it on every kubectl call to tell a subcommand from the plugin's
 * flags, and the plugin's help prints it, so it imports nothing. lib/commands.ts adds each command's flags and
 * loader, keyed by these names (the compiler checks that every name has them); completion reads both.
 */

/**
 * The executable kubectl looks up for `kubectl credentials-broker` (dashes inside a word of the command become
 * underscores in the file name): what kubeconfig set writes as exec.command and what doctor and status look for.
 */
export const PLUGIN_EXECUTABLE = "kubectl-credentials_broker";

/** The executable kubectl 1.26+ runs to complete `kubectl credentials-broker <TAB>`. */
export const COMPLETION_EXECUTABLE = "kubectl_complete-credentials_broker";

/** The shells `completion` prints a script for. */
export const SHELLS = ["bash", "zsh", "fish"] as const;

/** One command as people see it. */
export interface CommandInfo {
  readonly name: string;
  /** One line for the help text and shell completion. */
  readonly summary: string;
  /** What follows `kubectl credentials-broker` in the help text's usage line. */
  readonly usage: string;
  /**
   * "plugin": answered by lib/plugin on kubectl's own path (it needs nothing else); "subcommand": main.ts loads
   * lib/commands.ts for it.
   */
  readonly runs: "plugin" | "subcommand";
  /** Words one level down (`kubeconfig set`); the help text lists them in the command's place. */
  readonly subcommands?: readonly {
    readonly name: string;
    readonly summary: string;
    readonly usage: string;
  }[];
  /** Fixed positional values, offered by completion. */
  readonly args?: readonly string[];
  /** Not for people: left out of the help text, the hints and completion (`__complete`). */
  readonly hidden?: boolean;
}

/** Every command, in the order the help text lists them. */
export const COMMANDS = [
  {
    name: "kubeconfig",
    summary: "manage kubeconfig users that get their credentials from the broker",
    usage: "kubeconfig SUBCOMMAND",
    runs: "subcommand",
    subcommands: [
      {
        name: "set",
        summary: "point a kubeconfig user at the broker",
        usage: "kubeconfig set ...",
      },
    ],
  },
  {
    name: "doctor",
    summary: "check a kubeconfig user end to end",
    usage: "doctor",
    runs: "subcommand",
  },
  {
    name: "status",
    summary: "show every broker user: credentials, expiry, renewal and problems",
    usage: "status",
    runs: "subcommand",
  },
  {
    name: "completion",
    summary: "print a bash, zsh or fish completion script",
    usage: "completion SHELL",
    runs: "subcommand",
    args: SHELLS,
  },
  { name: "version", summary: "print the version", usage: "version", runs: "plugin" },
  { name: "help", summary: "show help for a command", usage: "help [COMMAND]", runs: "plugin" },
  {
    name: "__complete",
    summary: "answer shell completion (cobra's protocol, as kubectl asks it)",
    usage: "__complete ARGS... WORD",
    runs: "subcommand",
    hidden: true,
  },
] as const satisfies readonly CommandInfo[];

/** A command's name. */
export type CommandName = (typeof COMMANDS)[number]["name"];

/** The commands people are told about: all but the hidden ones. */
export const VISIBLE_COMMANDS: readonly CommandInfo[] = COMMANDS.filter((command: CommandInfo) =>
  !command.hidden
);

/** The command `name` names, if any. */
export function findCommand(name: string | undefined): CommandInfo | undefined {
  return COMMANDS.find((command: CommandInfo) => command.name === name);
}

/**
 * Whether `argv` asks for a subcommand, which lib/commands.ts runs; anything else is the plugin's (its flags,
 * `version`, `help`). `help COMMAND` is the subcommand's own help.
 */
export function wantsSubcommand(argv: readonly string[]): boolean {
  const command = findCommand(argv[0]);
  if (command?.runs === "subcommand") return true;
  const topic = command?.name === "help" ? findCommand(argv[1]) : undefined;
  return topic?.runs === "subcommand" && !topic.hidden;
}

/** The hint that follows an unknown command: every visible command, subcommands spelled out. */
export const COMMANDS_HINT = `commands are: ${
  VISIBLE_COMMANDS.flatMap((command) =>
    command.subcommands?.map((sub) => `${command.name} ${sub.name}`) ?? [command.name]
  ).join(", ")
}`;

/** The help text's usage lines, aligned: the plugin's own (`[flags]`) first, then every visible command. */
export function commandUsageLines(program: string, pluginLine: readonly [string, string]): string {
  const rows = [
    pluginLine,
    ...VISIBLE_COMMANDS.flatMap((command) =>
      (command.subcommands ?? [command]).map((c) => [c.usage, c.summary] as const)
    ),
  ];
  const width = Math.max(...rows.map(([usage]) => usage.length));
  return rows.map(([usage, summary]) => `  ${program} ${usage.padEnd(width)}   ${summary}`).join(
    "\n",
  );
}
