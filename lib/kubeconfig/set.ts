/**
 * `kubectl credentials-broker kubeconfig set`: points a kubeconfig user at the broker. Parse (flags -> request,
 * set_flags.ts), plan (files -> new text and a redacted diff, set_plan.ts), apply (here: lock,
 * confirm, atomic write).
 */

import { KubeconfigError, UsageError } from "../shared/errors.ts";
import { formatFlagHelp } from "../shared/flags.ts";
import type { Io } from "../shared/io.ts";
import {
  checkWritable,
  danglingLinkTarget,
  lockLikeKubectl,
  unchangedSince,
  writeFileAtomic,
} from "./files.ts";
import { type KubeconfigFile, readKubeconfig, selectUser } from "./read.ts";
import { droppedSettings, planSet, type SetPlan } from "./set_plan.ts";
import { KUBECONFIG_SET_FLAGS_WITH_HELP, parseSetArgs, type SetRequest } from "./set_flags.ts";
import { executableProbe, HOST_OS, lookPath } from "../shared/platform.ts";

/** Routes `kubectl credentials-broker kubeconfig ...`. */
export async function kubeconfigCommand(rest: string[], io: Io): Promise<number> {
  const [sub, ...args] = rest;
  if (sub === undefined || sub === "help" || sub === "--help" || sub === "-h") {
    if (sub === undefined) {
      await io.stderr(usage());
      return 2;
    }
    io.narrow("help");
    await io.stdout(usage());
    return 0;
  }
  if (sub !== "set") {
    throw new UsageError(`unknown kubeconfig subcommand ${JSON.stringify(sub)}`, {
      hint: "the kubeconfig subcommand is: set",
    });
  }
  if (args.some((arg) => arg === "--help" || arg === "-h")) {
    io.narrow("help");
    await io.stdout(usage());
    return 0;
  }
  return await kubeconfigSet(parseSetArgs(args, io), io);
}

/** Test seams; `kubeconfig set` itself passes none. */
export interface SetHooks {
  /** Runs under kubectl's lock right before the write (a test starts a real kubectl there). */
  beforeWrite?: (file: string) => void | Promise<void>;
  /** How long to wait for someone else's `<file>.lock`; unset, kubectl's bound (KUBECTL_LOCK_WAIT_MS). */
  lockWaitMs?: number;
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
  const planNow = async () => {
    const merged = await readKubeconfig({
      explicit: request.kubeconfig,
      env: io.env,
      cwd: io.cwd(),
    });
    const files = merged.files;
    const selection = selectUser(merged, request);
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
    timeoutMs: hooks.lockWaitMs,
    onWait: (lockFile) => io.stderr(`waiting for ${lockFile}: kubectl is writing ${plan.file}\n`),
  });
  if (!unchangedSince(files)) return false;
  await hooks.beforeWrite?.(plan.file);
  await writeFileAtomic(plan.file, plan.newBytes);
  return true;
}

async function notes(request: SetRequest, plan: SetPlan, io: Io): Promise<void> {
  const messages: string[] = [...(request.warnings ?? [])];
  if (plan.oldText === null && plan.changed) {
    const target = await danglingLinkTarget(plan.file);
    messages.push(
      target === undefined
        ? `note: kubeconfig ${plan.file} does not exist yet; it will be created`
        : `note: kubeconfig ${plan.file} is a symlink to ${target}, which does not exist yet; it will be ` +
          `created there, and the link kept`,
    );
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

function listing(items: readonly string[]): string {
  return items.length <= 1
    ? items.join("")
    : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
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

/**
 * Asks a yes/no question on stderr and reads the answer; only `y` or `yes` (any case) says yes, so end of input,
 * an empty line or anything unexpected leaves things as they were.
 */
export async function confirm(
  io: Pick<Io, "stderr" | "readLine">,
  question: string,
): Promise<boolean> {
  await io.stderr(`${question} [y/N] `);
  const answer = await io.readLine();
  if (answer === null) {
    await io.stderr("\n");
    return false;
  }
  return /^y(es)?$/i.test(answer.trim());
}
