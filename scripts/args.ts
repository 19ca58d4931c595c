/**
 * How every script under scripts/ reads its command line: the broker's own parser (lib/shared/flags.ts: GNU style,
 * values typed from `const` specs, an unknown flag refused with a did-you-mean), with -h/--help, so that a task
 * takes its flags the way the plugin does. A script declares what it takes once; its --help is made from that.
 */
import { UsageError } from "../lib/shared/errors.ts";
import {
  type FlagSpec,
  type FlagValues,
  HELP_FLAG,
  helpText,
  parseArgs,
  type ParsedArgs,
} from "../lib/shared/flags.ts";

/** What a script takes: its usage line, what it does, its flags and how many other words. */
export interface ScriptCommandLine<S extends readonly FlagSpec[]> {
  /** The usage after `Usage: `, e.g. `deno task build [--target OS/ARCH]... [--tag vX.Y.Z]`. */
  usage: string;
  /** What the script does, a few lines for --help. */
  about: string;
  /** Its flags, without -h/--help (added here). */
  flags: S;
  /** How many positional words it takes; none unless said. Not checked with `passThrough`. */
  positionals?: { min?: number; max?: number };
  /**
   * The script hands words on to another program (`deno test`) untouched: its own flags come first, and the
   * first word that is none of them (or `--`) starts what is handed on, as `positionals`.
   */
  passThrough?: boolean;
}

/** What parseScriptArgs() found: the help asked for, or the flags and the other words. */
export type ScriptArgs<S extends readonly FlagSpec[]> =
  | { help: true }
  | ParsedArgs<S> & { help: false };

/** Reads `argv` as `line` says, pure: the script's flags and words, or that -h/--help was asked; UsageError else. */
export function parseScriptArgs<const S extends readonly FlagSpec[]>(
  line: ScriptCommandLine<S>,
  argv: readonly string[],
): ScriptArgs<S> {
  const specs = [...line.flags, HELP_FLAG] as const;
  const own = line.passThrough ? argv.slice(0, ownFlagsEnd(argv, specs)) : argv;
  const parsed = parseArgs(own, specs);
  if ((parsed.values as { help?: boolean }).help) return { help: true };
  // The values of S's flags, plus `help`, which is false here: the compiler cannot see through the generic spread.
  const values = parsed.values as unknown as FlagValues<S>;
  if (line.passThrough) return { help: false, values, positionals: argv.slice(own.length) };
  const { min = 0, max = 0 } = line.positionals ?? {};
  const count = parsed.positionals.length;
  if (count < min || count > max) {
    throw new UsageError(
      count < min
        ? "missing arguments"
        : `unexpected argument ${JSON.stringify(parsed.positionals[max])}`,
    );
  }
  return { help: false, values, positionals: parsed.positionals };
}

/** The --help text of a script. */
export function scriptHelp(line: ScriptCommandLine<readonly FlagSpec[]>): string {
  return helpText(line.usage, line.about, [...line.flags, HELP_FLAG]);
}

/**
 * Deno.args read as `line` says. -h/--help prints the script's help and exits 0; a usage error prints `error:`
 * and the usage line and exits 2, as the plugin does.
 */
export function scriptArgs<const S extends readonly FlagSpec[]>(
  line: ScriptCommandLine<S>,
  argv: readonly string[] = Deno.args,
): ParsedArgs<S> {
  let parsed: ScriptArgs<S>;
  try {
    parsed = parseScriptArgs(line, argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`error: ${error.message}`);
    // parseArgs' hint is a did-you-mean or "see --help"; the usage line says more than the latter.
    if (error.hint?.startsWith("did you mean")) console.error(`hint: ${error.hint}`);
    console.error(`usage: ${line.usage}`);
    Deno.exit(2);
  }
  if (parsed.help) {
    console.log(scriptHelp(line).trimEnd());
    Deno.exit(0);
  }
  return parsed;
}

/** Where the script's own flags end in `argv`: at the first word that is none of `specs`, or at `--`. */
function ownFlagsEnd(argv: readonly string[], specs: readonly FlagSpec[]): number {
  let i = 0;
  while (i < argv.length) {
    const word = argv[i]!;
    const eq = word.indexOf("=");
    const name = eq === -1 ? word : word.slice(0, eq);
    const spec = specs.find((s) => name === `--${s.name}` || (s.short && name === `-${s.short}`));
    if (!spec) break;
    i += spec.kind !== "boolean" && eq === -1 ? 2 : 1;
  }
  return Math.min(i, argv.length);
}
