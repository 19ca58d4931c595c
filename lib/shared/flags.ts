import { UsageError } from "./errors.ts";

/**
 * One command-line flag: long name without dashes, optional one-letter alias. Declare a command's flags
 * `as const satisfies readonly FlagSpec[]` so that parseArgs() can type what it returns from them.
 */
export interface FlagSpec {
  readonly name: string;
  /** "list" is repeatable: every occurrence is kept, in order. */
  readonly kind: "string" | "boolean" | "list";
  readonly short?: string;
  /** One line for --help and shell completion. */
  readonly help: string;
  /** Shown in --help as the value's placeholder. */
  readonly value?: string;
}

/** -h/--help, which every command takes: one spec, so that its letter and its line read the same everywhere. */
export const HELP_FLAG = {
  name: "help",
  short: "h",
  kind: "boolean",
  help: "show this help",
} as const satisfies FlagSpec;

/** The value a flag of kind `K` parses to, when given. */
type FlagValue<K> = K extends "boolean" ? boolean : K extends "list" ? string[] : string;

/**
 * The parsed values typed from a `const` spec list, as @std/cli's parseArgs types them: a "string" flag is
 * `string | undefined`, a "boolean" one `boolean | undefined`, a "list" one `string[]` (empty when not given).
 */
export type FlagValues<S extends readonly FlagSpec[]> =
  & { readonly [F in S[number] as F["kind"] extends "list" ? F["name"] : never]: string[] }
  & {
    readonly [F in S[number] as F["kind"] extends "list" ? never : F["name"]]?: FlagValue<
      F["kind"]
    >;
  };

/** Parsed flags, typed from their specs, and the positional words in order. */
export interface ParsedArgs<S extends readonly FlagSpec[]> {
  values: FlagValues<S>;
  positionals: string[];
}

/**
 * Parses GNU-style flags (`--name=value`, `--name value`, `-f`, `--` ends flags), the convention of kubectl and
 * its plugins. Unknown flags are a usage error naming the closest known one; an empty value (`--name=`,
 * `--name ""`) is a usage error for every flag of every command, here and only here.
 */
export function parseArgs<const S extends readonly FlagSpec[]>(
  argv: readonly string[],
  specs: S,
): ParsedArgs<S> {
  const byName = new Map<string, FlagSpec>(specs.map((spec) => [spec.name, spec]));
  const byShort = new Map<string, FlagSpec>(
    specs.filter((s) => s.short).map((spec) => [spec.short!, spec]),
  );
  const values: Record<string, string | boolean | string[]> = {};
  for (const spec of specs) if (spec.kind === "list") values[spec.name] = [];
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let spec: FlagSpec | undefined;
    let inline: string | undefined;
    let shown: string;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
      shown = `--${name}`;
      spec = byName.get(name);
      if (!spec) throw unknownFlag(shown, specs);
    } else if (arg.startsWith("-") && arg.length > 1) {
      const eq = arg.indexOf("=");
      const name = eq === -1 ? arg.slice(1) : arg.slice(1, eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
      shown = `-${name}`;
      spec = byShort.get(name);
      if (!spec) throw unknownFlag(shown, specs);
    } else {
      positionals.push(arg);
      continue;
    }
    if (spec.kind === "boolean") {
      values[spec.name] = inline === undefined ? true : parseBoolean(inline, shown);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`flag ${shown} needs a value`);
      value = argv[++i]!;
    }
    if (value === "") throw new UsageError(`flag ${shown} is empty`);
    if (spec.kind === "list") {
      (values[spec.name] as string[]).push(value);
    } else {
      if (Object.hasOwn(values, spec.name)) {
        throw new UsageError(`flag ${shown} is given more than once`);
      }
      values[spec.name] = value;
    }
  }
  // The record holds exactly the keys and kinds FlagValues<S> names: one entry per spec, of the spec's kind.
  return { values: values as FlagValues<S>, positionals };
}

function parseBoolean(text: string, flag: string): boolean {
  if (/^(true|1|yes)$/i.test(text)) return true;
  if (/^(false|0|no)$/i.test(text)) return false;
  throw new UsageError(`flag ${flag} takes true or false, not ${JSON.stringify(text)}`);
}

function unknownFlag(shown: string, specs: readonly FlagSpec[]): UsageError {
  const name = shown.replace(/^-+/, "");
  let best: string | undefined;
  let bestScore = Infinity;
  for (const spec of specs) {
    const score = editDistance(name, spec.name);
    if (score < bestScore) [best, bestScore] = [spec.name, score];
  }
  const hint = best && bestScore <= Math.max(2, name.length / 3)
    ? `did you mean --${best}?`
    : undefined;
  return new UsageError(`unknown flag ${shown}`, { hint: hint ?? "see --help for the flags" });
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** What -o/--output takes (doctor, status; completion offers them): text for people, json for scripts. */
export const OUTPUT_FORMATS = ["text", "json"] as const;

/** The --output a command was given, text when none; any other value is a usage error. */
export function outputFormat(value: string | undefined): (typeof OUTPUT_FORMATS)[number] {
  const output = value ?? "text";
  const known = OUTPUT_FORMATS.find((format) => format === output);
  if (!known) {
    throw new UsageError(
      `invalid --output ${JSON.stringify(output)}: use ${OUTPUT_FORMATS.join(" or ")}`,
    );
  }
  return known;
}

/** A subcommand that takes flags only refuses any other word, pointing at its --help. */
export function refuseArguments(positionals: readonly string[], command: string): void {
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, {
      hint: `see kubectl credentials-broker ${command} --help`,
    });
  }
}

/** A command's --help (a subcommand's, a script's): the usage line, what it does, and its flags aligned. */
export function helpText(usage: string, about: string, specs: readonly FlagSpec[]): string {
  return `Usage: ${usage}\n\n${about.trim()}\n\nFlags:\n${formatFlagHelp(specs)}\n`;
}

/** The --help lines for a flag list, aligned. */
export function formatFlagHelp(specs: readonly FlagSpec[]): string {
  const left = specs.map((spec) => {
    const value = spec.kind === "boolean" ? "" : ` ${spec.value ?? "VALUE"}`;
    return `${spec.short ? `-${spec.short}, ` : "    "}--${spec.name}${value}`;
  });
  const width = Math.max(...left.map((l) => l.length));
  return specs.map((spec, i) => `  ${left[i]!.padEnd(width)}  ${spec.help}`).join("\n");
}
