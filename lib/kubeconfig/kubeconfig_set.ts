/**
 * `kubectl credentials-broker kubeconfig set`: points a kubeconfig user at the broker. Parse (flags -> request),
 * plan (files -> new text and a redacted diff), apply (lock, confirm, atomic write).
 */
import {
  BROKER_FLAGS,
  brokerArgs,
  brokerOptionsFromFlags,
  resolveBrokerPaths,
} from "../plugin/broker_options.ts";
import { splitCommandLine } from "../shared/command_line.ts";
import { KubeconfigError, UsageError } from "../shared/errors.ts";
import { SUPPORTED_API_VERSIONS, V1, V1BETA1 } from "../credentials/exec_credential.ts";
import { formatFlagHelp, parseArgs } from "../shared/flags.ts";
import type { Io } from "../shared/io.ts";
import { setUserExec, spliceBytes } from "./kubeconfig_edit.ts";
import {
  checkWritable,
  type KubeconfigFile,
  kubeconfigPaths,
  lockLikeKubectl,
  mergeKubeconfigs,
  readKubeconfigFiles,
  selectUser,
  unchangedSince,
  type UserSelection,
  writeFileAtomic,
} from "./kubeconfig_files.ts";
import {
  INTERACTIVE_MODES,
  KUBECONFIG_SET_FLAGS_WITH_HELP,
  PLUGIN_COMMAND,
} from "./kubeconfig_set_flags.ts";
import {
  basename,
  executableProbe,
  expandTilde,
  hasSeparator,
  HOST_OS,
  hostHomeDir,
  lookPath,
  resolvePath,
} from "../shared/platform.ts";
import { confirm } from "./prompt.ts";
import { redactedDiff } from "./redact.ts";

/** Where users without the plugin get it; shown by kubectl only when the command is not found. */
export const RELEASES_URL =
  "https://github.com/credentials-broker/kubectl-credentials-broker/releases";

/** Every flag of `kubeconfig set` (re-exported from the light module that completion can import cheaply). */
export { KUBECONFIG_SET_FLAGS } from "./kubeconfig_set_flags.ts";

/** A validated `kubeconfig set` invocation. */
export interface SetRequest {
  exec: Record<string, unknown>;
  /** Names of the --env variables, for the plain-text warning (never their values). */
  envNames: string[];
  /** The command was left to PATH lookup, so it is worth checking that it is there. */
  commandOnPath?: string;
  /** The credential files, by flag, to warn about one nobody will create. */
  credentialFiles: { flag: string; path: string }[];
  /** Whether a --before-exec-command may create missing credential files. */
  beforeExecCommand: boolean;
  kubeconfig?: string;
  context?: string;
  user?: string;
  dryRun: boolean;
  force: boolean;
}

/** Routes `kubectl credentials-broker kubeconfig ...`. */
export async function kubeconfigCommand(rest: string[], io: Io): Promise<number> {
  const [sub, ...args] = rest;
  if (sub === undefined || sub === "help" || sub === "--help" || sub === "-h") {
    if (sub === undefined) {
      await io.stderr(usage());
      return 2;
    }
    await io.stdout(usage());
    return 0;
  }
  if (sub !== "set") {
    throw new UsageError(`unknown kubeconfig subcommand ${JSON.stringify(sub)}`, {
      hint: "the kubeconfig subcommand is: set",
    });
  }
  if (args.some((arg) => arg === "--help" || arg === "-h")) {
    await io.stdout(usage());
    return 0;
  }
  return await kubeconfigSet(parseSetArgs(args, io), io);
}

/**
 * Validates the flags exactly as the plugin will when kubectl runs it with the stored args, and builds the exec
 * block. Nothing is read or written here.
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
  const options = resolveBrokerPaths(brokerOptionsFromFlags(values), { cwd, home, os: HOST_OS });
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

  let command = values["exec-command"] ?? PLUGIN_COMMAND;
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
    beforeExecCommand: options.beforeExecCommand !== undefined,
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

/** What the edit would do to one file: the texts, and the redacted diff a person sees. */
export interface SetPlan {
  file: string;
  selection: UserSelection;
  oldText: string | null;
  newText: string;
  /**
   * What to write: the bytes read with only the edited span replaced, so bytes that are not UTF-8 outside it are
   * kept (`newText` would turn them into U+FFFD).
   */
  newBytes: Uint8Array;
  changed: boolean;
  created: boolean;
  removed: string[];
  layoutKept: boolean;
  diff: string;
}

/** Plans the edit of the selected user's file from files already read; pure. */
export function planSet(
  files: readonly KubeconfigFile[],
  selection: UserSelection,
  request: SetRequest,
  color = false,
): SetPlan {
  const file = files.find((candidate) => candidate.path === selection.file);
  const oldText = file?.text ?? null;
  // The bytes `text` was decoded from.
  const bytes = file?.bytes;
  const result = setUserExec(oldText ?? "", selection.file, {
    user: selection.name,
    exec: request.exec,
    create: !selection.exists,
  });
  const diff = result.changed
    ? redactedDiff(oldText ?? "", result.text, {
      oldName: oldText === null ? "/dev/null" : selection.file,
      newName: selection.file,
      color,
    })
    : "";
  return {
    file: selection.file,
    selection,
    oldText,
    newText: result.text,
    newBytes: bytes && oldText !== null && result.changed
      ? spliceBytes(bytes, oldText, result.text, selection.file)
      : new TextEncoder().encode(result.text),
    changed: result.changed,
    created: result.created,
    removed: result.removed,
    layoutKept: result.layoutKept,
    // Only a secret changed (e.g. an env value): say so rather than show an empty diff.
    diff: result.changed && diff === "" ? `${selection.file}: only redacted values change\n` : diff,
  };
}

/** Test seam: runs under kubectl's lock right before the write (a test starts a real kubectl there). */
export interface SetHooks {
  beforeWrite?: (file: string) => void | Promise<void>;
}

/** How often -f plans again when the file keeps changing under it before giving up. */
const MAX_ATTEMPTS = 20;

/**
 * Plans, asks and writes: the effects of `kubeconfig set`. No lock is held while planning or asking; the write
 * happens under kubectl's own `<file>.lock` and only if every kubeconfig still holds exactly the bytes the shown
 * diff was computed from. Otherwise it plans again from what is there now: with -f it applies that, on a terminal
 * it shows the new diff and asks again. So nothing kubectl (or another run) wrote meanwhile is lost.
 */
export async function kubeconfigSet(
  request: SetRequest,
  io: Io,
  hooks: SetHooks = {},
): Promise<number> {
  const { paths } = kubeconfigPaths({ explicit: request.kubeconfig, env: io.env, cwd: io.cwd() });
  const planNow = async () => {
    const files = await readKubeconfigFiles(paths);
    const selection = selectUser(mergeKubeconfigs(files), request);
    return { files, plan: planSet(files, selection, request, !request.dryRun && io.color) };
  };
  let { files, plan } = await planNow();
  await notes(request, plan, io);
  if (!plan.changed) return await upToDate(plan, io);
  if (request.dryRun) {
    await io.stdout(plan.diff);
    return 0;
  }
  for (let attempt = 1;; attempt++) {
    await checkWritable(plan.file);
    await io.stderr(plan.diff);
    if (!request.force) {
      if (!io.stdinIsTerminal) {
        throw new KubeconfigError(
          `not changing ${plan.file}: confirmation needed, and standard input is not a terminal`,
          {
            hint: "pass -f (--force) to apply without asking, or --dry-run to only print the diff",
          },
        );
      }
      if (!await confirm(io, `Apply these changes to ${plan.file}?`)) {
        await io.stderr(`nothing written to ${plan.file}\n`);
        return 1;
      }
    }
    if (await writeIfUnchanged(files, plan, io, hooks)) break;
    if (attempt >= MAX_ATTEMPTS) {
      throw new KubeconfigError(
        `kubeconfig ${plan.file} changed ${attempt} times while this edit was being written; nothing written`,
        { hint: "run the command again when nothing else is editing it" },
      );
    }
    const changed = plan.file;
    ({ files, plan } = await planNow());
    await io.stderr(
      `note: ${changed} changed since the diff above was made (kubectl or another program wrote it); ` +
        `planned again from its new content\n`,
    );
    await notes(request, plan, io);
    if (!plan.changed) return await upToDate(plan, io);
  }
  if (plan.oldText === null) await io.stderr(`created ${plan.file}\n`);
  const verb = plan.created ? "added user" : "updated user";
  await io.stderr(`${verb} "${plan.selection.name}" in ${plan.file}\n`);
  return 0;
}

/**
 * The check-and-write, under kubectl's lock on the target file for milliseconds: false, with nothing written,
 * when any kubeconfig no longer holds the bytes the plan was computed from.
 */
async function writeIfUnchanged(
  files: readonly KubeconfigFile[],
  plan: SetPlan,
  io: Io,
  hooks: SetHooks,
): Promise<boolean> {
  using _lock = await lockLikeKubectl(plan.file, {
    onWait: (lockFile) => io.stderr(`waiting for ${lockFile}: kubectl is writing ${plan.file}\n`),
  });
  if (!unchangedSince(files)) return false;
  await hooks.beforeWrite?.(plan.file);
  await writeFileAtomic(plan.file, plan.newBytes);
  return true;
}

async function notes(request: SetRequest, plan: SetPlan, io: Io): Promise<void> {
  const messages: string[] = [];
  if (plan.oldText === null && plan.changed) {
    messages.push(`note: kubeconfig ${plan.file} does not exist yet; it will be created`);
  }
  if (request.envNames.length > 0) {
    messages.push(
      `note: --env values (${
        request.envNames.join(", ")
      }) are stored in plain text in ${plan.file}; anyone who can read it can read them`,
    );
  }
  if (plan.removed.length > 0 && plan.changed) {
    messages.push(
      `note: removing ${
        plan.removed.join(", ")
      } from user "${plan.selection.name}": kubectl never calls an exec plugin while static credentials are set`,
    );
  }
  const dropped = droppedSettings(plan.selection.user.exec, request.exec);
  if (dropped.length > 0 && plan.changed) {
    messages.push(
      `note: user "${plan.selection.name}" had ${
        listing(dropped)
      } in its exec block; this run leaves ${dropped.length === 1 ? "it" : "them"} out (pass ${
        dropped.length === 1 ? "it" : "them"
      } again to keep ${dropped.length === 1 ? "it" : "them"})`,
    );
  }
  if (!plan.layoutKept) {
    messages.push(
      `note: the layout of ${plan.file} could not be kept exactly; the diff shows every line that changes`,
    );
  }
  if (!request.beforeExecCommand) {
    for (const { flag, path } of request.credentialFiles) {
      if (await exists(path)) continue;
      messages.push(
        `warning: --${flag} ${path} does not exist, and no --before-exec-command is given to create it: ` +
          `kubectl will fail to get credentials until it does`,
      );
    }
  }
  if (
    request.commandOnPath &&
    lookPath(request.commandOnPath, io.cwd(), HOST_OS, io.env, executableProbe).problem
  ) {
    messages.push(
      `warning: ${request.commandOnPath} is not on PATH, so kubectl will not find it; install it, or pass ` +
        `--exec-command with its absolute path`,
    );
  }
  if (messages.length > 0) await io.stderr(messages.join("\n") + "\n");
}

/**
 * What the user's previous exec block set that the new one leaves out: the broker's flags (when it ran the
 * broker) and env variables, by name only (values may be secrets). Re-running `kubeconfig set` replaces the
 * whole block, so a forgotten --before-exec-command would silently stop renewals.
 */
export function droppedSettings(previous: unknown, exec: Record<string, unknown>): string[] {
  if (!isRecord(previous)) return [];
  const dropped: string[] = [];
  if (runsBroker(previous)) {
    const after = brokerFlagsIn(exec.args);
    for (const flag of brokerFlagsIn(previous.args)) {
      if (!after.has(flag)) dropped.push(`--${flag}`);
    }
  }
  const envNames = (value: unknown) =>
    Array.isArray(value)
      ? value.flatMap((entry) =>
        isRecord(entry) && typeof entry.name === "string" ? [entry.name] : []
      )
      : [];
  const kept = new Set(envNames(exec.env));
  for (const name of envNames(previous.env)) if (!kept.has(name)) dropped.push(`env ${name}`);
  return dropped;
}

const BROKER_FLAG_NAMES = new Set<string>(BROKER_FLAGS.map((flag) => flag.name));

function brokerFlagsIn(args: unknown): Set<string> {
  const found = new Set<string>();
  if (!Array.isArray(args)) return found;
  for (const arg of args) {
    const match = typeof arg === "string" ? /^--([a-z-]+)(=|$)/.exec(arg) : null;
    if (match && BROKER_FLAG_NAMES.has(match[1]!)) found.add(match[1]!);
  }
  return found;
}

function runsBroker(exec: Record<string, unknown>): boolean {
  if (typeof exec.command !== "string") return false;
  const name = basename(exec.command, HOST_OS).replace(/\.exe$/i, "");
  if (name === PLUGIN_COMMAND) return true;
  return name === "kubectl" && Array.isArray(exec.args) && exec.args[0] === "credentials-broker";
}

function listing(items: readonly string[]): string {
  return items.length <= 1
    ? items.join("")
    : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    // Only a clear "not there" warns; a permission problem is doctor's to explain.
    return !(error instanceof Deno.errors.NotFound);
  }
}

async function upToDate(plan: SetPlan, io: Io): Promise<number> {
  await io.stderr(
    `kubeconfig ${plan.file} is up to date: user "${plan.selection.name}" already uses the broker this way\n`,
  );
  return 0;
}

function installHint(command: string, viaKubectl: boolean): string {
  const what = viaKubectl ? "the kubectl plugin credentials-broker" : command;
  return `${what} is needed to get credentials for this user. Install it with:
  kubectl krew install credentials-broker
or download it from ${RELEASES_URL}
`;
}

function usage(): string {
  return `Point a kubeconfig user at kubectl-credentials_broker.

Usage:
  kubectl credentials-broker kubeconfig set [flags]

Writes an exec block that runs the broker with the credential flags given here, and removes static credentials
(token, client certificate and key, basic auth, auth-provider) that would stop kubectl from calling it. The user is
the current context's, or the one named by --context or --user. Shows a diff (secrets redacted) and asks before
writing; -f applies without asking, --dry-run only prints the diff.

Flags:
${formatFlagHelp(KUBECONFIG_SET_FLAGS_WITH_HELP)}

Example:
  kubectl credentials-broker kubeconfig set --context prod \\
    --client-certificate-path ~/.certs/me.crt --client-key-path ~/.certs/me.key \\
    --before-exec-command "/opt/renew.sh --role 'dev team'" --before-exec-policy when-invalid
`;
}
