/**
 * `kubeconfig set`, parse step: its flags, and flags -> a validated request holding the exec block to write. Nothing
 * is written here. Shell completion imports the flag list from here, which is why this module imports no YAML or
 * diff library.
 */
import {
  BROKER_FLAGS,
  brokerArgs,
  type BrokerFlagValues,
  brokerOptionsFromFlags,
  resolveBrokerPaths,
} from "../plugin/broker_options.ts";
import { readOptionalTextFileSync } from "../shared/read_file.ts";
import { splitCommandLine } from "../shared/command_line.ts";
import { UsageError } from "../shared/errors.ts";
import { SUPPORTED_API_VERSIONS, V1, V1BETA1 } from "../credentials/exec_credential.ts";
import { type FlagSpec, type FlagValues, HELP_FLAG, parseArgs } from "../shared/flags.ts";
import type { Io } from "../shared/io.ts";
import { PLUGIN_EXECUTABLE } from "../shared/command_list.ts";
import {
  basename,
  expandTilde,
  hasSeparator,
  HOST_OS,
  hostHomeDir,
  resolvePath,
} from "../shared/platform.ts";

/** exec.interactiveMode values client-go accepts. */
export const INTERACTIVE_MODES: readonly string[] = ["Never", "IfAvailable", "Always"];

const OWN_FLAGS = [
  {
    name: "env",
    kind: "list",
    value: "NAME=VALUE",
    help: "set a variable for the broker (repeatable, or A=1,B=2); stored in plain text",
  },
  {
    name: "exec-api-version",
    kind: "string",
    value: "VERSION",
    help: `${V1BETA1} (default) or ${V1}`,
  },
  {
    name: "interactive-mode",
    kind: "string",
    value: "MODE",
    help: "Never, IfAvailable (default) or Always: when kubectl hands its terminal to the broker",
  },
  {
    name: "provide-cluster-info",
    kind: "boolean",
    help: "pass the cluster's details to the broker in KUBERNETES_EXEC_INFO",
  },
  {
    name: "exec-command",
    kind: "string",
    value: "COMMAND",
    help:
      `what kubectl runs (default ${PLUGIN_EXECUTABLE} from PATH; an absolute path for GUI tools, or kubectl)`,
  },
  { name: "kubeconfig", kind: "string", value: "FILE", help: "edit this kubeconfig file only" },
  { name: "context", kind: "string", value: "NAME", help: "configure this context's user" },
  {
    name: "user",
    kind: "string",
    value: "NAME",
    help: "configure this user entry (created when missing)",
  },
  { name: "dry-run", kind: "boolean", help: "print the diff and change nothing" },
  { name: "force", short: "f", kind: "boolean", help: "apply without asking" },
] as const satisfies readonly FlagSpec[];

/**
 * Every flag of `kubeconfig set`, the broker's own first (it stores them in exec.args), without --help; used by
 * shell completion, which is why this module imports no YAML or diff library.
 */
export const KUBECONFIG_SET_FLAGS: readonly FlagSpec[] = [...BROKER_FLAGS, ...OWN_FLAGS];

/** The flags `kubeconfig set` parses and documents: KUBECONFIG_SET_FLAGS and -h/--help. */
export const KUBECONFIG_SET_FLAGS_WITH_HELP = [
  ...BROKER_FLAGS,
  ...OWN_FLAGS,
  HELP_FLAG,
] as const;

/** What parseArgs() returns for `kubeconfig set`. */
export type KubeconfigSetFlagValues = FlagValues<typeof KUBECONFIG_SET_FLAGS_WITH_HELP>;

/** Where users without the plugin get it; shown by kubectl only when the command is not found. */
export const RELEASES_URL =
  "https://github.com/credentials-broker/kubectl-credentials-broker/releases";

/** A validated `kubeconfig set` invocation. */
export interface SetRequest {
  exec: Record<string, unknown>;
  /** Names of the --env variables, for the plain-text warning (never their values). */
  envNames: string[];
  /** The command was left to PATH lookup, so it is worth checking that it is there. */
  commandOnPath?: string;
  /** The credential files, by flag, to warn about one nobody will create. */
  credentialFiles: { flag: string; path: string }[];
  /** Whether a --before-exec-command (or --issuer) may create missing credential files. */
  beforeExecCommand: boolean;
  /** Warnings for stderr found while parsing (an --env name that looks like a secret). */
  warnings?: string[];
  kubeconfig?: string;
  context?: string;
  user?: string;
  dryRun: boolean;
  force: boolean;
}

/**
 * Validates the flags exactly as the plugin will when kubectl runs it with the stored args, and builds the exec
 * block. Nothing is written here; with --issuer the defaults are resolved from the environment and step's
 * defaults file (read) and stored as explicit flags, so that GUI tools started without the shell's environment
 * get the same issuer.
 */
export function parseSetArgs(argv: readonly string[], io: Pick<Io, "cwd" | "env">): SetRequest {
  const { values, positionals } = parseArgs(argv, KUBECONFIG_SET_FLAGS_WITH_HELP);
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, {
      hint: "name the user with --user or --context",
    });
  }
  const home = () => hostHomeDir(io.env);
  // kubectl runs the plugin in the caller's folder, which changes: store paths that mean the same from anywhere,
  // by the plugin's own rule (a leading `~/` is the home folder; the shell leaves the `~` of `--flag=~/x` alone).
  const cwd = io.cwd();
  // --renew-ahead=off: an issuer without the renew-ahead `kubeconfig set` stores by default.
  const aheadOff = values["renew-ahead"] === "off";
  const brokerValues: BrokerFlagValues = aheadOff
    ? { ...values, "renew-ahead": undefined }
    : values;
  if (aheadOff && values.issuer === undefined) {
    throw new UsageError("--renew-ahead off is for --issuer, whose default it turns off");
  }
  const parsed = brokerOptionsFromFlags(brokerValues, {
    sources: {
      env: io.env,
      home,
      readFile: (file) => readOptionalTextFileSync(file),
      ...(values.user !== undefined ? { userName: values.user } : {}),
    },
  });
  // As `step ca renew` does: renew at 2/3 of the lifetime, in the background, so a certificate in use never
  // expires and never needs a person (a token, a one-time token) again.
  if (parsed.issuer && values["renew-ahead"] === undefined) {
    parsed.renewAhead = { kind: "percent", percent: 33 };
  }
  const options = resolveBrokerPaths(parsed, { cwd, home, os: HOST_OS });
  if (options.beforeExecCommand !== undefined) {
    splitCommandLine(options.beforeExecCommand, home());
  }
  const path = (value: string | undefined) =>
    value === undefined
      ? undefined
      : resolvePath(expandTilde(value, home(), HOST_OS), cwd, HOST_OS);

  let apiVersion = values["exec-api-version"] ?? V1BETA1;
  if (apiVersion === "v1" || apiVersion === "v1beta1") {
    apiVersion = `client.authentication.k8s.io/${apiVersion}`;
  }
  if (!SUPPORTED_API_VERSIONS.includes(apiVersion)) {
    throw new UsageError(
      `invalid --exec-api-version ${JSON.stringify(apiVersion)}: use ${V1BETA1} or ${V1}`,
    );
  }
  const mode = values["interactive-mode"] ?? "IfAvailable";
  if (!INTERACTIVE_MODES.includes(mode)) {
    throw new UsageError(
      `invalid --interactive-mode ${JSON.stringify(mode)}: use ${INTERACTIVE_MODES.join(", ")}`,
    );
  }
  const env = parseEnv(values.env);
  const warnings = secretEnvWarnings(env.map((variable) => variable.name));

  let command = values["exec-command"] ?? PLUGIN_EXECUTABLE;
  // kubectl resolves a relative path against the kubeconfig's folder, not the caller's: store it absolute.
  if (hasSeparator(command, HOST_OS)) command = path(command)!;
  const viaKubectl = /^kubectl(\.exe)?$/i.test(basename(command, HOST_OS));
  const args = [...(viaKubectl ? ["credentials-broker"] : []), ...brokerArgs(options)];

  const exec: Record<string, unknown> = { apiVersion, args, command };
  if (env.length > 0) exec.env = env;
  exec.installHint = installHint(command, viaKubectl);
  // v1 requires interactiveMode; writing it for v1beta1 too keeps the block valid when the version changes.
  exec.interactiveMode = mode;
  if (values["provide-cluster-info"]) exec.provideClusterInfo = true;

  const user = values.user;
  const context = values.context;
  if (user !== undefined && context !== undefined) {
    throw new UsageError("--user and --context cannot be used together");
  }
  return {
    exec,
    envNames: env.map((variable) => variable.name),
    commandOnPath: hasSeparator(command, HOST_OS) ? undefined : command,
    credentialFiles: [
      { flag: "client-certificate-path", path: options.clientCertificatePath },
      { flag: "client-key-path", path: options.clientKeyPath },
      { flag: "token-path", path: options.tokenPath },
    ].flatMap(({ flag, path }) => path === undefined ? [] : [{ flag, path }]),
    beforeExecCommand: options.beforeExecCommand !== undefined || options.issuer !== undefined,
    warnings,
    kubeconfig: path(values.kubeconfig),
    context,
    user,
    dryRun: values["dry-run"] ?? false,
    force: values.force ?? false,
  };
}

/**
 * `--env NAME=VALUE`, repeatable; one flag may also hold `A=1,B=2` as the original tool accepted. A comma only
 * separates variables when a `NAME=` follows it, so `A=x,y` keeps its comma.
 */
export function parseEnv(flags: readonly string[]): { name: string; value: string }[] {
  const entries: string[] = [];
  for (const flag of flags) {
    const pieces = flag.split(",");
    let current = pieces[0]!;
    for (const piece of pieces.slice(1)) {
      if (/^[^=,\s]+=/.test(piece)) {
        entries.push(current);
        current = piece;
      } else current += `,${piece}`;
    }
    entries.push(current);
  }
  const seen = new Set<string>();
  return entries.map((entry, index) => {
    const eq = entry.indexOf("=");
    const name = eq === -1 ? entry : entry.slice(0, eq);
    if (eq <= 0 || /[\s\0]/.test(name)) {
      throw new UsageError(`invalid --env ${describeEnvEntry(entry, index)}: use NAME=VALUE`);
    }
    if (seen.has(name)) throw new UsageError(`--env ${name} is given more than once`);
    seen.add(name);
    return { name, value: entry.slice(eq + 1) };
  });
}

/** Variables that hold a Vault or OpenBao token: never stored in a kubeconfig. */
const TOKEN_VARIABLES = ["VAULT_TOKEN", "BAO_TOKEN"];

/**
 * Refuses --env VAULT_TOKEN/BAO_TOKEN (a token in plain text in the kubeconfig, copied into every backup and
 * shared config) and returns warnings for other names that look like secrets. Names only: never a value.
 */
export function secretEnvWarnings(names: readonly string[]): string[] {
  const token = names.find((name) => TOKEN_VARIABLES.includes(name.toUpperCase()));
  if (token) {
    throw new UsageError(
      `--env ${token} would store a token in plain text in the kubeconfig; refused`,
      {
        hint:
          "the broker finds the token as the vault CLI does: vault login keeps it in ~/.vault-token, or the token_helper named in ~/.vault; with --vault-auth cert renewals need no token",
      },
    );
  }
  return names.filter((name) => /TOKEN|SECRET/i.test(name)).map((name) =>
    `warning: --env ${name} looks like a secret: it is stored in plain text in the kubeconfig; prefer a file the broker or the tool reads (a token file, the vault token helper)`
  );
}

/**
 * Names a malformed --env entry without its value, which may be a secret (`VAULT_TOKEN:s.xxx` typed for
 * `VAULT_TOKEN=s.xxx`): its position, and the text before the first `=` or `:` only if that looks like a
 * variable name. An entry with neither is all value as far as anyone can tell.
 */
function describeEnvEntry(entry: string, index: number): string {
  const position = `entry ${index + 1}`;
  const cut = entry.search(/[=:]/);
  if (cut <= 0) return position;
  const name = entry.slice(0, cut);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return position;
  return `${position} (${name})`;
}

function installHint(command: string, viaKubectl: boolean): string {
  const what = viaKubectl ? "the kubectl plugin credentials-broker" : command;
  return `${what} is needed to get credentials for this user. Install it with:
  kubectl krew install credentials-broker
or download it from ${RELEASES_URL}
`;
}
