/**
 * Shell completion. `completion bash|zsh|fish` prints a script for the shell; every script, and kubectl itself
 * (1.26+, through the `kubectl_complete-credentials_broker` executable on PATH), asks the plugin what to offer
 * with cobra's `__complete` protocol: `__complete ARGS... WORD` prints one candidate per line (optionally
 * "candidate<TAB>description"), then `:<directive>`, the bit set below. The kubeconfig (and its YAML library) is
 * read only to complete a `--context` or `--user` value, as kubectl's own completion does.
 */
import { COMMAND_TABLE, ROOT_FLAGS } from "./commands.ts";
import { POLICIES } from "./plugin/broker_options.ts";
import { ISSUER_NAMES, KEY_TYPES } from "./issuer/issuer.ts";
import { SHELLS } from "./shared/command_list.ts";
import { UsageError } from "./shared/errors.ts";
import { type FlagSpec, HELP_FLAG, OUTPUT_FORMATS } from "./shared/flags.ts";
import type { Io } from "./shared/io.ts";
import { INTERACTIVE_MODES } from "./kubeconfig/set_flags.ts";
import { SUPPORTED_API_VERSIONS } from "./credentials/exec_credential.ts";
import { readKubeconfig } from "./kubeconfig/read.ts";

/** cobra's ShellCompDirective bits, which kubectl relays to the shell unchanged. */
export const Directive = {
  default: 0,
  error: 1,
  noSpace: 2,
  noFileComp: 4,
  filterFileExt: 8,
  filterDirs: 16,
  keepOrder: 32,
} as const;

export { SHELLS };

/** In a list of candidates "show this help" would name no command: the menu says "show help". */
const COMPLETED_HELP_FLAG: FlagSpec = { ...HELP_FLAG, help: "show help" };

/** Values a flag accepts, by flag name, for flags whose values are a fixed list. */
const FLAG_VALUES: Record<string, readonly string[]> = {
  "before-exec-policy": POLICIES,
  "interactive-mode": INTERACTIVE_MODES,
  "exec-api-version": SUPPORTED_API_VERSIONS,
  issuer: ISSUER_NAMES,
  "key-type": KEY_TYPES,
  "vault-auth": ["token", "cert"],
  // doctor's and status's -o.
  output: OUTPUT_FORMATS,
};

/** Flags whose values are names from the kubeconfig the command would read, and which names. */
const KUBECONFIG_NAMES: Record<string, "contexts" | "users"> = {
  context: "contexts",
  user: "users",
};

/** A node of the command tree completion walks, read off the command table. */
interface Node {
  name: string;
  help: string;
  flags: readonly FlagSpec[];
  subcommands: readonly Node[];
  /** Fixed positional values (a shell name, a command name). */
  args: readonly string[];
}

const ROOT: Node = {
  name: "",
  help: "",
  flags: ROOT_FLAGS,
  args: [],
  subcommands: COMMAND_TABLE.filter((command) => !command.hidden).map((command) => ({
    name: command.name,
    help: command.summary,
    flags: command.flags,
    args: command.args ?? [],
    subcommands: (command.subcommands ?? []).map((sub) => ({
      name: sub.name,
      help: sub.summary,
      flags: command.subcommandFlags?.[sub.name] ?? [],
      args: [],
      subcommands: [],
    })),
  })),
};

/** What the shell should offer for the word being completed. */
export interface Completions {
  /** "candidate" or "candidate\tdescription", already filtered by the word's prefix. */
  candidates: string[];
  directive: number;
  /**
   * Set when the candidates are names from the kubeconfig (not filled in yet: `complete` reads no files):
   * which names, the `--kubeconfig` already typed, and the prefix to filter by.
   */
  kubeconfigNames?: { kind: "contexts" | "users"; kubeconfig?: string; prefix: string };
}

/**
 * Completes `toComplete` after `args` (the words typed after the plugin name), like cobra would: subcommands
 * for a bare word, the current command's flags after "-", and flag values after a flag that takes one.
 */
export function complete(args: readonly string[], toComplete: string): Completions {
  let command = ROOT;
  let pendingFlag: FlagSpec | undefined;
  let positionals = 0;
  let flagsEnded = false;
  const given = new Set<string>();
  const values = new Map<string, string>();
  for (const arg of args) {
    if (pendingFlag) {
      values.set(pendingFlag.name, arg);
      pendingFlag = undefined;
      continue;
    }
    if (!flagsEnded && arg === "--") {
      flagsEnded = true;
      continue;
    }
    if (!flagsEnded && arg.startsWith("-") && arg !== "-") {
      const eq = arg.indexOf("=");
      const spec = findFlag(command, eq === -1 ? arg : arg.slice(0, eq));
      if (spec) {
        given.add(spec.name);
        if (spec.kind !== "boolean" && eq === -1) pendingFlag = spec;
        else if (eq !== -1) values.set(spec.name, arg.slice(eq + 1));
      }
      continue;
    }
    const sub = positionals === 0 ? command.subcommands.find((c) => c.name === arg) : undefined;
    if (sub) command = sub;
    else positionals++;
  }
  if (pendingFlag) return flagValues(pendingFlag, toComplete, values);
  if (!flagsEnded && toComplete.startsWith("-")) {
    const eq = toComplete.indexOf("=");
    if (eq !== -1) {
      const spec = findFlag(command, toComplete.slice(0, eq));
      if (!spec) return { candidates: [], directive: Directive.noFileComp };
      // Like cobra: the candidates are the value part; the shell script puts "--flag=" back if it must.
      return flagValues(spec, toComplete.slice(eq + 1), values);
    }
    const candidates = flagsOf(command)
      .filter((spec) => spec.kind === "list" || !given.has(spec.name))
      .map((spec) => [`--${spec.name}`, spec.help] as const)
      .filter(([name]) => name.startsWith(toComplete))
      .map(([name, help]) => `${name}\t${help}`);
    return { candidates, directive: Directive.noFileComp };
  }
  const words: (readonly [string, string])[] = [];
  if (positionals === 0) {
    for (const sub of command.subcommands) words.push([sub.name, sub.help]);
    for (const value of command.args) words.push([value, ""]);
  }
  return {
    candidates: words.filter(([word]) => word.startsWith(toComplete)).map(([word, help]) =>
      help ? `${word}\t${help}` : word
    ),
    directive: Directive.noFileComp,
  };
}

function flagValues(
  spec: FlagSpec,
  prefix: string,
  given: ReadonlyMap<string, string>,
): Completions {
  const names = KUBECONFIG_NAMES[spec.name];
  if (names) {
    return {
      candidates: [],
      directive: Directive.noFileComp,
      kubeconfigNames: { kind: names, kubeconfig: given.get("kubeconfig"), prefix },
    };
  }
  const fixed = spec.kind === "boolean" ? ["true", "false"] : FLAG_VALUES[spec.name];
  if (fixed) {
    return {
      candidates: fixed.filter((value) => value.startsWith(prefix)),
      directive: Directive.noFileComp,
    };
  }
  switch (spec.value) {
    case "FILE":
    case "COMMAND":
      return { candidates: [], directive: Directive.default };
    case "DIR":
      return { candidates: [], directive: Directive.filterDirs };
    default:
      return { candidates: [], directive: Directive.noFileComp };
  }
}

function flagsOf(command: Node): FlagSpec[] {
  return command.flags.some((spec) => spec.name === "help")
    ? [...command.flags]
    : [...command.flags, COMPLETED_HELP_FLAG];
}

function findFlag(command: Node, word: string): FlagSpec | undefined {
  return flagsOf(command).find((spec) =>
    word === `--${spec.name}` || (spec.short !== undefined && word === `-${spec.short}`)
  );
}

/**
 * Fills in `kubeconfigNames`: the context or user names of the kubeconfig the command would read (`--kubeconfig`
 * as typed, else KUBECONFIG, else ~/.kube/config, merged as kubectl merges them). A file that cannot be read
 * offers nothing: completion never prints an error.
 */
export async function withKubeconfigNames(
  completions: Completions,
  io: Pick<Io, "env" | "cwd">,
): Promise<Completions> {
  const wanted = completions.kubeconfigNames;
  if (!wanted) return completions;
  let names: string[];
  try {
    const merged = await readKubeconfig({
      explicit: wanted.kubeconfig,
      env: io.env,
      cwd: io.cwd(),
    });
    names = [...(wanted.kind === "contexts" ? merged.contexts : merged.users).keys()];
  } catch {
    names = [];
  }
  return {
    // A name with a line break or tab would break the one-candidate-per-line answer.
    candidates: names.filter((name) => name.startsWith(wanted.prefix) && !/[\t\r\n]/.test(name)),
    directive: completions.directive,
  };
}

/** The `__complete` answer as kubectl and the shell scripts read it. */
export function formatCompletions({ candidates, directive }: Completions): string {
  return candidates.map((c) => `${c}\n`).join("") + `:${directive}\n`;
}

/** The completion script for `shell`, which completes `kubectl-credentials_broker` typed directly. */
export function completionScript(shell: (typeof SHELLS)[number]): string {
  return { bash: BASH_SCRIPT, zsh: ZSH_SCRIPT, fish: FISH_SCRIPT }[shell];
}

const USAGE = `\
usage: kubectl credentials-broker completion bash|zsh|fish

Prints a script that completes kubectl-credentials_broker's subcommands and flags in that shell:
  source <(kubectl-credentials_broker completion bash)
  source <(kubectl-credentials_broker completion zsh)
  kubectl-credentials_broker completion fish | source

For \`kubectl credentials-broker <TAB>\` (kubectl 1.26+), put an executable named
kubectl_complete-credentials_broker (on Windows kubectl_complete-credentials_broker.cmd) on PATH
that runs:
  kubectl-credentials_broker __complete "$@"      (Windows: kubectl-credentials_broker __complete %*)
(\`deno task install\` installs one.)
`;

/** Entry point of `completion SHELL` and `__complete ARGS... WORD`; `argv` starts with the subcommand. */
export async function completionCommand(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "__complete") {
    const toComplete = rest.length > 0 ? rest[rest.length - 1]! : "";
    const completions = await withKubeconfigNames(complete(rest.slice(0, -1), toComplete), io);
    await io.stdout(formatCompletions(completions));
    return 0;
  }
  if (command !== "completion") throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  if (rest.includes("--help") || rest.includes("-h")) {
    io.narrow("help");
    await io.stdout(USAGE);
    return 0;
  }
  const [shell, ...extra] = rest;
  if (shell === undefined) {
    throw new UsageError("completion needs a shell: bash, zsh or fish", {
      hint: "e.g. source <(kubectl-credentials_broker completion bash)",
    });
  }
  if (!(SHELLS as readonly string[]).includes(shell)) {
    throw new UsageError(`unknown shell ${JSON.stringify(shell)}: use bash, zsh or fish`);
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  await io.stdout(completionScript(shell as (typeof SHELLS)[number]));
  return 0;
}

const BASH_SCRIPT = `# bash completion for kubectl-credentials_broker
#
# Load it in the current shell:  source <(kubectl-credentials_broker completion bash)
# or for every shell:            kubectl-credentials_broker completion bash > ~/.local/share/bash-completion/completions/kubectl-credentials_broker
# \`kubectl credentials-broker <TAB>\` (kubectl 1.26+) needs the kubectl_complete-credentials_broker executable instead.

__kubectl_credentials_broker_complete() {
    local line="\${COMP_LINE:0:COMP_POINT}"
    local -a words=()
    read -r -a words <<< "$line"
    local cur=""
    if [[ \${#words[@]} -gt 1 && "\${line: -1}" != [[:space:]] ]]; then
        cur="\${words[\${#words[@]}-1]}"
        unset "words[\${#words[@]}-1]"
    fi
    local out
    out=$("\${words[0]}" __complete "\${words[@]:1}" "$cur" 2>/dev/null) || return 0
    local -a candidates=()
    local directive=0 entry
    while IFS= read -r entry; do
        if [[ -z "$entry" ]]; then
            continue
        elif [[ "$entry" =~ ^:[0-9]+$ ]]; then
            directive="\${entry:1}"
        else
            candidates+=("\${entry%%$'\\t'*}")
        fi
    done <<< "$out"
    COMPREPLY=()
    if (( directive & 1 )); then
        return 0
    fi
    if (( directive & 2 )); then
        compopt -o nospace 2>/dev/null
    fi
    local word="$cur" candidate
    if [[ "$cur" == -*=* ]]; then
        # The program completed the value after "=": bash treats "=" as a word break unless told otherwise.
        if [[ "$COMP_WORDBREAKS" == *=* ]]; then
            word="\${cur#*=}"
        else
            for candidate in "\${!candidates[@]}"; do
                candidates[candidate]="\${cur%%=*}=\${candidates[candidate]}"
            done
        fi
    fi
    if (( \${#candidates[@]} > 0 )); then
        for candidate in "\${candidates[@]}"; do
            if [[ "$candidate" == "$word"* ]]; then
                COMPREPLY+=("$candidate")
            fi
        done
    elif (( directive & 16 )); then
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -d -- "$word")
    elif (( (directive & 4) == 0 )); then
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$word")
    fi
    return 0
}

complete -F __kubectl_credentials_broker_complete kubectl-credentials_broker
`;

const ZSH_SCRIPT = `#compdef kubectl-credentials_broker
# zsh completion for kubectl-credentials_broker
#
# Load it in the current shell:  source <(kubectl-credentials_broker completion zsh)
# or for every shell, save it as _kubectl_credentials_broker in a folder of $fpath.
# \`kubectl credentials-broker <TAB>\` (kubectl 1.26+) needs the kubectl_complete-credentials_broker executable instead.

_kubectl_credentials_broker() {
  local cur="\${words[CURRENT]}"
  local out
  out=$("\${words[1]}" __complete "\${(@)words[2,CURRENT-1]}" "$cur" 2>/dev/null) || return 1
  local -a described
  local directive=0 line
  for line in "\${(@f)out}"; do
    if [[ -z "$line" ]]; then
      continue
    elif [[ "$line" == :<-> ]]; then
      directive="\${line#:}"
    elif [[ "$line" == *$'\\t'* ]]; then
      described+=("\${\${line%%$'\\t'*}//:/\\\\:}:\${line#*$'\\t'}")
    else
      described+=("\${line//:/\\\\:}")
    fi
  done
  (( directive & 1 )) && return 1
  [[ "$cur" == -*=* ]] && compset -P '*='
  if (( \${#described} )); then
    if (( directive & 2 )); then
      _describe -t values 'completions' described -S ''
    else
      _describe -t values 'completions' described
    fi
  elif (( directive & 16 )); then
    _path_files -/
  elif (( ! (directive & 4) )); then
    _files
  else
    return 1
  fi
}

if [[ "\${funcstack[1]}" == _kubectl_credentials_broker ]]; then
  _kubectl_credentials_broker "$@"
else
  compdef _kubectl_credentials_broker kubectl-credentials_broker
fi
`;

const FISH_SCRIPT = `# fish completion for kubectl-credentials_broker
#
# Load it in the current shell:  kubectl-credentials_broker completion fish | source
# or for every shell:            kubectl-credentials_broker completion fish > ~/.config/fish/completions/kubectl-credentials_broker.fish
# \`kubectl credentials-broker <TAB>\` (kubectl 1.26+) needs the kubectl_complete-credentials_broker executable instead.

function __kubectl_credentials_broker_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    set -l out ($words[1] __complete $words[2..-1] "$cur" 2>/dev/null)
    or return
    set -l directive 0
    if test (count $out) -gt 0; and string match -qr '^:[0-9]+$' -- $out[-1]
        set directive (string sub -s 2 -- $out[-1])
        set -e out[-1]
    end
    if test (math "bitand($directive, 1)") -ne 0
        return
    end
    set -l prefix ""
    if string match -qr '^-[^=]*=' -- $cur
        set prefix (string replace -r '=.*' '=' -- $cur)
    end
    set -l found 0
    for line in $out
        if test -n "$line"
            printf '%s%s\\n' $prefix $line
            set found 1
        end
    end
    if test $found -eq 0
        if test (math "bitand($directive, 16)") -ne 0
            __fish_complete_directories $cur
        else if test (math "bitand($directive, 4)") -eq 0
            __fish_complete_path $cur
        end
    end
end

complete -c kubectl-credentials_broker -f -a '(__kubectl_credentials_broker_complete)'
`;
