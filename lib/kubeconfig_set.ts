/**
 * `kubectl credentials-broker kubeconfig set`: points a kubeconfig user at the broker. Parse (flags -> request),
 * plan (files -> new text and a redacted diff), apply (lock, confirm, atomic write).
 */
import { brokerArgs, brokerOptionsFromFlags } from "./broker_options.ts";
import { splitCommandLine } from "./command_line.ts";
import { KubeconfigError, UsageError } from "./errors.ts";
import { SUPPORTED_API_VERSIONS, V1, V1BETA1 } from "./exec_credential.ts";
import { formatFlagHelp, parseFlags } from "./flags.ts";
import type { Io } from "./io.ts";
import { setUserExec, spliceBytes } from "./kubeconfig_edit.ts";
import {
  checkWritable,
  type KubeconfigFile,
  kubeconfigPaths,
  lockKubeconfig,
  mergeKubeconfigs,
  readKubeconfigFiles,
  selectUser,
  type UserSelection,
  writeFileAtomic,
} from "./kubeconfig_files.ts";
import {
  INTERACTIVE_MODES,
  KUBECONFIG_SET_FLAGS_WITH_HELP,
  PLUGIN_COMMAND,
} from "./kubeconfig_set_flags.ts";
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
  const { values, positionals } = parseFlags(argv, KUBECONFIG_SET_FLAGS_WITH_HELP);
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, {
      hint: "name the user with --user or --context",
    });
  }
  const text = (name: string): string | undefined => {
    const value = values.get(name);
    if (value === undefined) return undefined;
    if (typeof value !== "string" || value === "") throw new UsageError(`flag --${name} is empty`);
    return value;
  };
  const options = brokerOptionsFromFlags(values);
  if (options.beforeExecCommand !== undefined) {
    splitCommandLine(options.beforeExecCommand, io.env("HOME"));
  }
  // kubectl runs the plugin in the caller's folder, which changes: store paths that mean the same from anywhere.
  const cwd = io.cwd();
  options.clientCertificatePath = absolute(options.clientCertificatePath, cwd);
  options.clientKeyPath = absolute(options.clientKeyPath, cwd);
  options.tokenPath = absolute(options.tokenPath, cwd);
  options.cacheDir = absolute(options.cacheDir, cwd);

  let apiVersion = text("exec-api-version") ?? V1BETA1;
  if (apiVersion === "v1" || apiVersion === "v1beta1") {
    apiVersion = `client.authentication.k8s.io/${apiVersion}`;
  }
  if (!SUPPORTED_API_VERSIONS.includes(apiVersion)) {
    throw new UsageError(
      `invalid --exec-api-version ${JSON.stringify(apiVersion)}: use ${V1BETA1} or ${V1}`,
    );
  }
  const mode = text("interactive-mode") ?? "IfAvailable";
  if (!INTERACTIVE_MODES.includes(mode)) {
    throw new UsageError(
      `invalid --interactive-mode ${JSON.stringify(mode)}: use ${INTERACTIVE_MODES.join(", ")}`,
    );
  }
  const env = parseEnv((values.get("env") as string[] | undefined) ?? []);

  let command = text("exec-command") ?? PLUGIN_COMMAND;
  // kubectl resolves a relative path against the kubeconfig's folder, not the caller's: store it absolute.
  if (command.includes("/")) command = absolute(command, cwd)!;
  const viaKubectl = basename(command) === "kubectl";
  const args = [...(viaKubectl ? ["credentials-broker"] : []), ...brokerArgs(options)];

  const exec: Record<string, unknown> = { apiVersion, args, command };
  if (env.length > 0) exec.env = env;
  exec.installHint = installHint(command, viaKubectl);
  // v1 requires interactiveMode; writing it for v1beta1 too keeps the block valid when the version changes.
  exec.interactiveMode = mode;
  if (values.get("provide-cluster-info") === true) exec.provideClusterInfo = true;

  const user = text("user");
  const context = text("context");
  if (user !== undefined && context !== undefined) {
    throw new UsageError("--user and --context cannot be used together");
  }
  return {
    exec,
    envNames: env.map((variable) => variable.name),
    commandOnPath: command.includes("/") ? undefined : command,
    kubeconfig: text("kubeconfig"),
    context,
    user,
    dryRun: values.get("dry-run") === true,
    force: values.get("force") === true,
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
  return entries.map((entry) => {
    const eq = entry.indexOf("=");
    const name = eq === -1 ? entry : entry.slice(0, eq);
    if (eq <= 0 || /[\s\0]/.test(name)) {
      // Only the name: the value may be a secret.
      throw new UsageError(
        `invalid --env ${JSON.stringify(name)}: use NAME=VALUE`,
      );
    }
    if (seen.has(name)) throw new UsageError(`--env ${name} is given more than once`);
    seen.add(name);
    return { name, value: entry.slice(eq + 1) };
  });
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
  // The bytes `text` was decoded from, once the file reader keeps them.
  const bytes = (file as { bytes?: Uint8Array | null } | undefined)?.bytes;
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

/** Plans, asks and writes: the effects of `kubeconfig set`. */
export async function kubeconfigSet(request: SetRequest, io: Io): Promise<number> {
  const { paths } = kubeconfigPaths({ explicit: request.kubeconfig, env: io.env, cwd: io.cwd() });
  const choose = async () => {
    const files = await readKubeconfigFiles(paths);
    return { files, selection: selectUser(mergeKubeconfigs(files), request) };
  };
  const first = await choose();
  // Plan once before taking the lock: every error shows before anything (even the lock file) is touched.
  const draft = planSet(first.files, first.selection, request);
  if (request.dryRun || !draft.changed) {
    await notes(request, draft, io);
    if (!draft.changed) return await upToDate(draft, io);
    await io.stdout(draft.diff);
    return 0;
  }
  await checkWritable(first.selection.file);
  using _lock = await lockKubeconfig(
    first.selection.file,
    io.env,
    () =>
      io.stderr(`waiting for another kubectl credentials-broker editing ${first.selection.file}\n`),
  );
  // Re-read under the lock: another run may have changed the files while this one waited.
  const { files, selection } = await choose();
  if (selection.file !== first.selection.file) {
    throw new KubeconfigError(
      `user "${selection.name}" moved to ${selection.file} while waiting to edit ${first.selection.file}`,
      { hint: "run the command again" },
    );
  }
  const plan = planSet(files, selection, request, io.color);
  await notes(request, plan, io);
  if (!plan.changed) return await upToDate(plan, io);
  await checkWritable(plan.file);
  await io.stderr(plan.diff);
  if (!request.force) {
    if (!io.stdinIsTerminal) {
      throw new KubeconfigError(
        `not changing ${plan.file}: confirmation needed, and standard input is not a terminal`,
        { hint: "pass -f (--force) to apply without asking, or --dry-run to only print the diff" },
      );
    }
    if (!await confirm(io, `Apply these changes to ${plan.file}?`)) {
      await io.stderr(`nothing written to ${plan.file}\n`);
      return 1;
    }
  }
  await writeFileAtomic(plan.file, plan.newText);
  const verb = plan.created ? "added user" : "updated user";
  await io.stderr(`${verb} "${selection.name}" in ${plan.file}\n`);
  return 0;
}

async function notes(request: SetRequest, plan: SetPlan, io: Io): Promise<void> {
  const messages: string[] = [];
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
  if (!plan.layoutKept) {
    messages.push(
      `note: the layout of ${plan.file} could not be kept exactly; the diff shows every line that changes`,
    );
  }
  if (request.commandOnPath && !await onPath(request.commandOnPath, io.env("PATH"))) {
    messages.push(
      `warning: ${request.commandOnPath} is not on PATH, so kubectl will not find it; install it, or pass ` +
        `--exec-command with its absolute path`,
    );
  }
  if (messages.length > 0) await io.stderr(messages.join("\n") + "\n");
}

async function upToDate(plan: SetPlan, io: Io): Promise<number> {
  await io.stderr(
    `kubeconfig ${plan.file} is up to date: user "${plan.selection.name}" already uses the broker this way\n`,
  );
  return 0;
}

async function onPath(command: string, path: string | undefined): Promise<boolean> {
  for (const dir of (path ?? "").split(":")) {
    if (dir === "") continue;
    try {
      const info = await Deno.stat(`${dir}/${command}`);
      if (info.isFile && (info.mode === null || (info.mode & 0o111) !== 0)) return true;
    } catch {
      // not here
    }
  }
  return false;
}

function installHint(command: string, viaKubectl: boolean): string {
  const what = viaKubectl ? "the kubectl plugin credentials-broker" : command;
  return `${what} is needed to get credentials for this user. Install it with:
  kubectl krew install credentials-broker
or download it from ${RELEASES_URL}
`;
}

function absolute(path: string | undefined, cwd: string): string | undefined {
  if (path === undefined || path.startsWith("/")) return path;
  return `${cwd.replace(/\/$/, "")}/${path.replace(/^\.\//, "")}`;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
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
