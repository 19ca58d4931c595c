import { formatDuration, parseDuration } from "../shared/duration.ts";
import { UsageError } from "../shared/errors.ts";
import { formatRenewAhead, parseRenewAhead, type RenewAhead } from "./renew_ahead.ts";
import { type FlagSpec, type FlagValues, parseArgs } from "../shared/flags.ts";
import { COMMANDS_HINT } from "../shared/command_list.ts";
import { expandTilde, type Os, resolvePath } from "../shared/platform.ts";

/** When the before-exec command runs: on every call, or only when a credential needs renewing. */
export type BeforeExecPolicy = "always" | "when-invalid";

/** What the plugin was asked to do, exactly as the flags (and so the kubeconfig's exec.args) say. */
export interface BrokerOptions {
  beforeExecCommand?: string;
  beforeExecPolicy: BeforeExecPolicy;
  beforeExecTimeoutMs: number;
  refreshMarginMs: number;
  clientCertificatePath?: string;
  clientKeyPath?: string;
  tokenPath?: string;
  cacheDir?: string;
  /** Renew in the background this long (or this share of the lifetime) before expiry; off when unset. */
  renewAhead?: RenewAhead;
}

export const DEFAULT_TIMEOUT_MS = 120_000;
export const DEFAULT_REFRESH_MARGIN_MS = 60_000;
export const POLICIES: readonly BeforeExecPolicy[] = ["always", "when-invalid"];

/** The flags that define the credentials; `kubeconfig set` takes them too and stores them in exec.args. */
export const BROKER_FLAGS = [
  {
    name: "client-certificate-path",
    kind: "string",
    value: "FILE",
    help: "PEM client certificate (leaf, optionally followed by intermediates)",
  },
  {
    name: "client-key-path",
    kind: "string",
    value: "FILE",
    help: "PEM private key of the client certificate (PKCS#8, PKCS#1 RSA, SEC1 EC or Ed25519)",
  },
  { name: "token-path", kind: "string", value: "FILE", help: "file holding a bearer token" },
  {
    name: "before-exec-command",
    kind: "string",
    value: "COMMAND",
    help: "command line run before the files are read, to renew them (quotes honoured, no shell)",
  },
  {
    name: "before-exec-policy",
    kind: "string",
    value: "POLICY",
    help:
      "always (default): run the command on every call; when-invalid: only when a credential needs renewing",
  },
  {
    name: "before-exec-timeout",
    kind: "string",
    value: "DURATION",
    help: "stop the command and fail after this long (default 2m)",
  },
  {
    name: "refresh-margin",
    kind: "string",
    value: "DURATION",
    help:
      "renew credentials that expire within this margin, and expire them early for kubectl (default 1m)",
  },
  {
    name: "renew-ahead",
    kind: "string",
    value: "DURATION|PERCENT",
    help:
      "with when-invalid: from this long (10m) or this share of the lifetime (30%) before expiry, answer at once and renew in the background (default off)",
  },
  {
    name: "cache-dir",
    kind: "string",
    value: "DIR",
    help: "folder for the renewal locks (default ~/.kube/cache/credentials-broker)",
  },
] as const satisfies readonly FlagSpec[];

/** The broker's flags as parseArgs() returns them. */
export type BrokerFlagValues = FlagValues<typeof BROKER_FLAGS>;

/** Turns parsed broker flags into options, checking that a usable credential is configured. */
export function brokerOptionsFromFlags(
  values: BrokerFlagValues,
  { requireCredentials = true } = {},
): BrokerOptions {
  const policy = values["before-exec-policy"] ?? "always";
  if (!POLICIES.includes(policy as BeforeExecPolicy)) {
    throw new UsageError(
      `invalid --before-exec-policy ${JSON.stringify(policy)}: use ${POLICIES.join(" or ")}`,
    );
  }
  const timeout = values["before-exec-timeout"];
  const margin = values["refresh-margin"];
  const options: BrokerOptions = {
    beforeExecCommand: values["before-exec-command"],
    beforeExecPolicy: policy as BeforeExecPolicy,
    beforeExecTimeoutMs: timeout === undefined
      ? DEFAULT_TIMEOUT_MS
      : parseDuration(timeout, "--before-exec-timeout"),
    refreshMarginMs: margin === undefined
      ? DEFAULT_REFRESH_MARGIN_MS
      : parseDuration(margin, "--refresh-margin"),
    clientCertificatePath: values["client-certificate-path"],
    clientKeyPath: values["client-key-path"],
    tokenPath: values["token-path"],
    cacheDir: values["cache-dir"],
  };
  const ahead = values["renew-ahead"];
  if (ahead !== undefined) {
    options.renewAhead = parseRenewAhead(ahead);
    if (options.beforeExecPolicy !== "when-invalid" || options.beforeExecCommand === undefined) {
      throw new UsageError(
        "--renew-ahead needs --before-exec-policy=when-invalid and a --before-exec-command to run",
      );
    }
    if (
      options.renewAhead.kind === "duration" && options.renewAhead.ms <= options.refreshMarginMs
    ) {
      throw new UsageError(
        `--renew-ahead ${ahead} is not longer than the refresh margin (${
          formatDuration(options.refreshMarginMs)
        }), so it would never start a renewal`,
        {
          hint:
            "renew-ahead counts from expiry, like the margin: make it longer than --refresh-margin",
        },
      );
    }
  }
  if (options.beforeExecTimeoutMs <= 0) {
    throw new UsageError(`--before-exec-timeout must be longer than 0, got ${timeout}`);
  }
  if (options.refreshMarginMs < 0) {
    throw new UsageError(`--refresh-margin must not be negative, got ${margin}`);
  }
  if (options.beforeExecCommand !== undefined && options.beforeExecCommand.trim() === "") {
    throw new UsageError("--before-exec-command is blank");
  }
  if (requireCredentials) checkCredentialFlags(options);
  return options;
}

/** A token, or a certificate and key together, or both: anything else cannot authenticate. */
export function checkCredentialFlags(options: BrokerOptions): void {
  const cert = options.clientCertificatePath !== undefined;
  const key = options.clientKeyPath !== undefined;
  if (cert && !key) {
    throw new UsageError("--client-certificate-path is set but --client-key-path is missing");
  }
  if (key && !cert) {
    throw new UsageError("--client-key-path is set but --client-certificate-path is missing");
  }
  if (!cert && !options.tokenPath) {
    throw new UsageError(
      "no credentials configured: give --token-path, or --client-certificate-path with --client-key-path, or both",
      { hint: "run with --help for the flags" },
    );
  }
}

/** The flags that name files or folders, by option field. */
const PATH_FLAGS = [
  ["clientCertificatePath", "client-certificate-path"],
  ["clientKeyPath", "client-key-path"],
  ["tokenPath", "token-path"],
  ["cacheDir", "cache-dir"],
] as const;

/**
 * `options` with every path flag absolute: a leading `~/` is the home folder (a shell leaves the `~` of
 * `--flag=~/x` alone, and kubectl never expands it), anything relative is taken from `cwd`, the folder kubectl
 * runs the plugin in. `home` is asked only when a path starts with `~`.
 */
export function resolveBrokerPaths(
  options: BrokerOptions,
  where: { cwd: string; home: () => string | undefined; os: Os },
): BrokerOptions {
  const resolved = { ...options };
  for (const [field, flag] of PATH_FLAGS) {
    let path = options[field];
    if (path === undefined) continue;
    // Whether this `~` is one to expand is the platform's rule (`~/`, and `~\` on Windows; not `~user`).
    if (expandTilde(path, "\0", where.os) !== path) {
      const home = where.home();
      if (!home) {
        throw new UsageError(`--${flag} starts with ~ but the home folder is unknown`, {
          hint: "set HOME, or give the full path",
        });
      }
      path = expandTilde(path, home, where.os);
    }
    resolved[field] = resolvePath(path, where.cwd, where.os);
  }
  return resolved;
}

/** Parses the plugin's own argv (what kubectl passes from exec.args). */
export function parseBrokerArgs(argv: readonly string[]): BrokerOptions {
  const { values, positionals } = parseArgs(argv, BROKER_FLAGS);
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, {
      hint: COMMANDS_HINT,
    });
  }
  return brokerOptionsFromFlags(values);
}

/**
 * The argv that makes the plugin behave exactly as `options` say, one `--flag=value` word per flag so that no
 * value can be mistaken for a flag. Defaults are left out so that exec.args stay short.
 */
export function brokerArgs(options: BrokerOptions): string[] {
  const args: string[] = [];
  const add = (name: string, value: string | undefined) => {
    if (value !== undefined) args.push(`--${name}=${value}`);
  };
  add("client-certificate-path", options.clientCertificatePath);
  add("client-key-path", options.clientKeyPath);
  add("token-path", options.tokenPath);
  add("before-exec-command", options.beforeExecCommand);
  if (options.beforeExecPolicy !== "always") add("before-exec-policy", options.beforeExecPolicy);
  if (options.beforeExecTimeoutMs !== DEFAULT_TIMEOUT_MS) {
    add("before-exec-timeout", formatDuration(options.beforeExecTimeoutMs));
  }
  if (options.refreshMarginMs !== DEFAULT_REFRESH_MARGIN_MS) {
    add("refresh-margin", formatDuration(options.refreshMarginMs));
  }
  if (options.renewAhead) add("renew-ahead", formatRenewAhead(options.renewAhead));
  add("cache-dir", options.cacheDir);
  return args;
}
