import { formatDuration, parseDuration } from "../shared/duration.ts";
import { UsageError } from "../shared/errors.ts";
import { formatRenewAhead, parseRenewAhead, type RenewAhead } from "./renew_ahead.ts";
import { type FlagSpec, type FlagValues, parseArgs } from "../shared/flags.ts";
import { COMMANDS_HINT } from "../shared/command_list.ts";
import { expandTilde, HOST_OS, joinPath, type Os, resolvePath } from "../shared/platform.ts";
import type { IssuerName, IssuerOptions, KeyType } from "../issuer/issuer.ts";

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
  /** Get certificates from this CA instead of a command (--issuer ...), every default resolved. */
  issuer?: IssuerOptions;
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
  {
    name: "issuer",
    kind: "string",
    value: "vault|step-ca|cfssl",
    help:
      "get the client certificate from this CA instead of a command (renews when invalid; key made locally)",
  },
  {
    name: "issuer-url",
    kind: "string",
    value: "URL",
    help:
      "the CA's address (vault: default $VAULT_ADDR, $BAO_ADDR; step-ca: ca-url of step's defaults.json)",
  },
  {
    name: "issuer-ca-file",
    kind: "string",
    value: "FILE",
    help:
      "PEM bundle trusted for the CA's TLS (vault: default $VAULT_CACERT; step-ca: step's root; else the OS store)",
  },
  {
    name: "common-name",
    kind: "string",
    value: "NAME",
    help: "the certificate's subject CN (vault, cfssl; step-ca takes it from its token)",
  },
  {
    name: "alt-names",
    kind: "string",
    value: "a,b",
    help: "subject alternative names: DNS names, IP addresses, emails, URIs",
  },
  {
    name: "ttl",
    kind: "string",
    value: "DURATION",
    help: "the lifetime to ask for (vault, step-ca; cfssl's profile decides)",
  },
  {
    name: "key-type",
    kind: "string",
    value: "TYPE",
    help: "ec-p256 (default), ec-p384, rsa-2048 or ed25519: a new key for every certificate",
  },
  {
    name: "vault-mount",
    kind: "string",
    value: "PATH",
    help: "the PKI secrets engine's mount (default pki)",
  },
  { name: "vault-role", kind: "string", value: "NAME", help: "the PKI role to sign with (vault)" },
  {
    name: "vault-auth",
    kind: "string",
    value: "token|cert",
    help:
      "token (default: $VAULT_TOKEN, the token helper, ~/.vault-token) or cert (log in with the current certificate)",
  },
  {
    name: "vault-auth-mount",
    kind: "string",
    value: "PATH",
    help: "the cert auth method's mount (default cert)",
  },
  {
    name: "vault-namespace",
    kind: "string",
    value: "NS",
    help: "Vault namespace (default $VAULT_NAMESPACE)",
  },
  {
    name: "step-token-command",
    kind: "string",
    value: "COMMAND",
    help:
      "prints a one-time token for step-ca's first certificate (e.g. step ca token alice@example.com)",
  },
  { name: "cfssl-profile", kind: "string", value: "NAME", help: "the cfssl signing profile" },
  { name: "cfssl-label", kind: "string", value: "NAME", help: "the cfssl signer label" },
  {
    name: "cfssl-auth-key-file",
    kind: "string",
    value: "FILE",
    help: "file holding the profile's hex auth key: use cfssl's authsign",
  },
] as const satisfies readonly FlagSpec[];

/** The CAs --issuer names; the type check keeps it equal to the contract's IssuerName. */
const ISSUERS = ["vault", "step-ca", "cfssl"] as const satisfies readonly IssuerName[];
/** The key types --key-type takes; kept equal to the contract's KeyType by the type check. */
const KEY_TYPE_NAMES = [
  "ec-p256",
  "ec-p384",
  "rsa-2048",
  "ed25519",
] as const satisfies readonly KeyType[];
// Listed here, not imported: lib/issuer/ stays off the plugin's path while certificates are valid.
type Covers<All, Listed> = [Exclude<All, Listed>] extends [never] ? true : never;
const _issuersCovered: Covers<IssuerName, (typeof ISSUERS)[number]> = true;
const _keyTypesCovered: Covers<KeyType, (typeof KEY_TYPE_NAMES)[number]> = true;

/** The flags that only mean something with --issuer, and the issuer each belongs to (undefined: any). */
const ISSUER_FLAGS: readonly [string, IssuerName | undefined][] = [
  ["issuer-url", undefined],
  ["issuer-ca-file", undefined],
  ["common-name", undefined],
  ["alt-names", undefined],
  ["ttl", undefined],
  ["key-type", undefined],
  ["vault-mount", "vault"],
  ["vault-role", "vault"],
  ["vault-auth", "vault"],
  ["vault-auth-mount", "vault"],
  ["vault-namespace", "vault"],
  ["step-token-command", "step-ca"],
  ["cfssl-profile", "cfssl"],
  ["cfssl-label", "cfssl"],
  ["cfssl-auth-key-file", "cfssl"],
];

/**
 * Where the defaults of absent issuer flags come from: the environment as the vault and step CLIs read it, step's
 * defaults file, the home folder. The plugin passes the real ones; `kubeconfig set` too, and stores the result as
 * explicit flags; without them only the flags count.
 */
export interface IssuerSources {
  env(name: string): string | undefined;
  home(): string | undefined;
  /** A small text file's content, or undefined when it cannot be read. */
  readFile(path: string): string | undefined;
  /** The kubeconfig user, to name the default storage folder after (kubeconfig set --user). */
  userName?: string;
}

const NO_SOURCES: IssuerSources = {
  env: () => undefined,
  home: () => undefined,
  readFile: () => undefined,
};

/**
 * How the plugin names lib/plugin/issuance.ts: in a variable, so that the installed bundle keeps the issuer code
 * in issuer.js (scripts/bundle.ts points this at it) and a kubectl call with valid certificates never loads it.
 */
export const ISSUANCE_MODULE = "./issuance.ts";

/**
 * How the plugin names lib/plugin/renewal.ts (the lock, the command, renew-ahead): in a variable, so that the
 * installed bundle keeps it in renewal.js (scripts/bundle.ts points this at it) and a valid call never loads it.
 */
export const RENEWAL_MODULE = "./renewal.ts";

/** The first argument of the detached broker a renew-ahead call starts. */
export const BACKGROUND_RENEWAL = "__renew-ahead";

/** The folder under the home folder where issued credentials are kept by default (not the cache: users delete it). */
export const ISSUED_CREDENTIALS_DIR = [".kube", "credentials-broker"] as const;

/** The broker's flags as parseArgs() returns them. */
export type BrokerFlagValues = FlagValues<typeof BROKER_FLAGS>;

/** Turns parsed broker flags into options, checking that a usable credential is configured. */
export function brokerOptionsFromFlags(
  values: BrokerFlagValues,
  { requireCredentials = true, sources = NO_SOURCES, os = undefined as Os | undefined } = {},
): BrokerOptions {
  const issuer = values.issuer;
  checkIssuerFlagCombinations(values);
  const policy = values["before-exec-policy"] ?? (issuer ? "when-invalid" : "always");
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
    if (
      issuer === undefined &&
      (options.beforeExecPolicy !== "when-invalid" || options.beforeExecCommand === undefined)
    ) {
      throw new UsageError(
        "--renew-ahead needs --before-exec-policy=when-invalid and a --before-exec-command to run, or an --issuer",
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
  if (issuer !== undefined) {
    options.issuer = resolveIssuerOptions(values, sources, os ?? HOST_OS);
    const stored = issuedCredentialPaths(options, options.issuer, sources, os ?? HOST_OS);
    options.clientCertificatePath = stored.certificate;
    options.clientKeyPath = stored.key;
  }
  if (requireCredentials) checkCredentialFlags(options);
  return options;
}

/** Usage errors of flags that go only with --issuer, or with one issuer, or never with one. */
function checkIssuerFlagCombinations(values: BrokerFlagValues): void {
  const issuer = values.issuer;
  const given = (name: string) => (values as Record<string, unknown>)[name] !== undefined;
  if (issuer === undefined) {
    const stray = ISSUER_FLAGS.find(([name]) => given(name));
    if (stray) {
      throw new UsageError(`--${stray[0]} needs --issuer`, {
        hint: "add --issuer vault, --issuer step-ca or --issuer cfssl",
      });
    }
    return;
  }
  if (!(ISSUERS as readonly string[]).includes(issuer)) {
    throw new UsageError(`invalid --issuer ${JSON.stringify(issuer)}: use ${ISSUERS.join(", ")}`);
  }
  if (values["before-exec-command"] !== undefined) {
    throw new UsageError("--issuer and --before-exec-command cannot be used together", {
      hint: "with --issuer the broker gets the certificate itself: drop --before-exec-command",
    });
  }
  if (values["before-exec-policy"] === "always") {
    throw new UsageError("--issuer and --before-exec-policy always cannot be used together", {
      hint:
        "an issuer renews when the certificate needs it (when-invalid); use --renew-ahead to renew early",
    });
  }
  for (const [name, only] of ISSUER_FLAGS) {
    if (only !== undefined && only !== issuer && given(name)) {
      throw new UsageError(`--${name} is for --issuer ${only}, not --issuer ${issuer}`);
    }
  }
  if (issuer === "step-ca" && given("common-name")) {
    throw new UsageError("--common-name cannot be used with --issuer step-ca", {
      hint:
        "step-ca takes the subject and SANs from its one-time token: name them in --step-token-command",
    });
  }
  if (issuer === "cfssl" && given("ttl")) {
    throw new UsageError("--ttl cannot be used with --issuer cfssl", {
      hint: "the cfssl signing profile decides the lifetime: choose it with --cfssl-profile",
    });
  }
}

/**
 * The issuer's options, every default resolved, as a pure function of the flags and the sources: the plugin uses
 * the environment only for absent flags, and `kubeconfig set` stores what comes out as explicit flags. Throws
 * UsageError for what is missing or wrong, before any connection.
 */
export function resolveIssuerOptions(
  values: BrokerFlagValues,
  sources: IssuerSources = NO_SOURCES,
  os: Os = HOST_OS,
): IssuerOptions {
  const issuer = values.issuer as IssuerName;
  const env = (name: string) => {
    const value = sources.env(name);
    return value === undefined || value === "" ? undefined : value;
  };
  let url = values["issuer-url"];
  let caFile = values["issuer-ca-file"];
  if (issuer === "vault") {
    url ??= env("VAULT_ADDR") ?? env("BAO_ADDR");
    caFile ??= env("VAULT_CACERT") ?? env("BAO_CACERT") ?? env("VAULT_CAPATH") ?? env("BAO_CAPATH");
  } else if (issuer === "step-ca" && (url === undefined || caFile === undefined)) {
    const defaults = stepDefaults(sources, os);
    url ??= defaults.url;
    caFile ??= defaults.root;
  }
  if (url === undefined) {
    throw new UsageError(`--issuer ${issuer} needs --issuer-url`, {
      hint: issuer === "vault"
        ? "give --issuer-url, or set VAULT_ADDR (as for the vault CLI)"
        : issuer === "step-ca"
        ? "give --issuer-url, or run step ca bootstrap so that step's defaults.json names the CA"
        : "give cfssl's address, e.g. --issuer-url https://cfssl.example.com:8888",
    });
  }
  url = checkIssuerUrl(url, issuer);
  const commonName = values["common-name"];
  if (commonName !== undefined && commonName.trim() === "") {
    throw new UsageError("--common-name is blank");
  }
  if (issuer !== "step-ca" && commonName === undefined) {
    throw new UsageError(`--issuer ${issuer} needs --common-name`, {
      hint: "the certificate's subject CN: the user name the cluster sees",
    });
  }
  const altNames = (values["alt-names"] ?? "").split(",").map((name) => name.trim()).filter((
    name,
  ) => name !== "");
  const keyType = values["key-type"] ?? "ec-p256";
  if (!(KEY_TYPE_NAMES as readonly string[]).includes(keyType)) {
    throw new UsageError(
      `invalid --key-type ${JSON.stringify(keyType)}: use ${KEY_TYPE_NAMES.join(", ")}`,
    );
  }
  const options: IssuerOptions = {
    issuer,
    url,
    altNames,
    keyType: keyType as KeyType,
  };
  if (caFile !== undefined) options.caFile = caFile;
  if (commonName !== undefined) options.commonName = commonName;
  const ttl = values.ttl;
  if (ttl !== undefined) {
    options.ttlMs = parseDuration(ttl, "--ttl");
    if (options.ttlMs <= 0) throw new UsageError(`--ttl must be longer than 0, got ${ttl}`);
  }
  if (issuer === "vault") {
    const role = values["vault-role"];
    if (role === undefined || role.trim() === "") {
      throw new UsageError("--issuer vault needs --vault-role", {
        hint: "the PKI role that signs: POST /v1/<mount>/sign/<role>",
      });
    }
    const auth = values["vault-auth"] ?? "token";
    if (auth !== "token" && auth !== "cert") {
      throw new UsageError(`invalid --vault-auth ${JSON.stringify(auth)}: use token or cert`);
    }
    const namespace = values["vault-namespace"] ?? env("VAULT_NAMESPACE") ?? env("BAO_NAMESPACE");
    options.vault = {
      mount: trimSlashes(values["vault-mount"] ?? "pki"),
      role,
      auth,
      authMount: trimSlashes(values["vault-auth-mount"] ?? "cert"),
      ...(namespace !== undefined ? { namespace } : {}),
    };
  } else if (issuer === "step-ca") {
    const command = values["step-token-command"];
    if (command !== undefined && command.trim() === "") {
      throw new UsageError("--step-token-command is blank");
    }
    options.step = command === undefined ? {} : { tokenCommand: command };
  } else {
    const cfssl: NonNullable<IssuerOptions["cfssl"]> = {};
    if (values["cfssl-profile"] !== undefined) cfssl.profile = values["cfssl-profile"];
    if (values["cfssl-label"] !== undefined) cfssl.label = values["cfssl-label"];
    if (values["cfssl-auth-key-file"] !== undefined) {
      cfssl.authKeyFile = values["cfssl-auth-key-file"];
    }
    options.cfssl = cfssl;
  }
  return options;
}

/** An http(s) URL without a trailing slash; Vault over http only to loopback (its token would travel in clear). */
function checkIssuerUrl(url: string, issuer: IssuerName): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--issuer-url ${JSON.stringify(url)} is not a URL`, {
      hint: "give it whole, e.g. https://vault.example.com:8200",
    });
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    throw new UsageError(`--issuer-url ${url} is not an http or https URL`);
  }
  if (parsed.username || parsed.password) {
    throw new UsageError("--issuer-url must not hold a user name or password");
  }
  if (parsed.protocol === "http:" && issuer === "vault" && !isLoopback(parsed.hostname)) {
    throw new UsageError(
      `--issuer-url ${parsed.origin}: Vault over http:// only to a loopback address, since its token would travel in clear`,
      { hint: "use https://, or a local Vault Agent or proxy on 127.0.0.1" },
    );
  }
  // The trailing slashes go; a loop, not replace(/\/+$/, ""): a valid call runs no regular expression.
  let end = url.length;
  while (end > 0 && url[end - 1] === "/") end--;
  return url.slice(0, end);
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname === "[::1]";
}

function trimSlashes(path: string): string {
  return path.replace(/^\/+|\/+$/g, "");
}

/** `ca-url` and `root` of $STEPPATH/config/defaults.json (~/.step), as `step ca bootstrap` writes them. */
function stepDefaults(sources: IssuerSources, os: Os): { url?: string; root?: string } {
  const home = sources.home();
  const stepPath = sources.env("STEPPATH") || (home ? joinPath(home, ".step", os) : undefined);
  if (!stepPath) return {};
  const text = sources.readFile(joinPath(joinPath(stepPath, "config", os), "defaults.json", os));
  if (text === undefined) return {};
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    const str = (value: unknown) => typeof value === "string" && value !== "" ? value : undefined;
    return { url: str(json["ca-url"]), root: str(json["root"]) };
  } catch {
    return {};
  }
}

/**
 * Where issued credentials are stored: the flags' paths, or a private folder per credential set under
 * ~/.kube/credentials-broker/, named after the kubeconfig user when known, else after the issuer, its host, the
 * role or profile and the subject. Relative and `~` paths are resolved later, as for every path flag.
 */
function issuedCredentialPaths(
  options: BrokerOptions,
  issuer: IssuerOptions,
  sources: IssuerSources,
  os: Os,
): { certificate?: string; key?: string } {
  const certificate = options.clientCertificatePath;
  const key = options.clientKeyPath;
  if (certificate !== undefined || key !== undefined) return { certificate, key };
  const name = sources.userName ?? defaultStorageName(issuer);
  const home = sources.home();
  const sep = os === "windows" ? "\\" : "/";
  const dir = `${home ?? "~"}${sep}${ISSUED_CREDENTIALS_DIR.join(sep)}${sep}${safeName(name)}`;
  return { certificate: `${dir}${sep}client.crt`, key: `${dir}${sep}client.key` };
}

/** A folder name for a credential set without a kubeconfig user: issuer, host, role or profile, subject. */
export function defaultStorageName(issuer: IssuerOptions): string {
  let host = issuer.url;
  try {
    host = new URL(issuer.url).host;
  } catch {
    // Checked already.
  }
  const which = issuer.vault?.role ?? issuer.cfssl?.profile ?? issuer.cfssl?.label;
  return [issuer.issuer, host, which, issuer.commonName].filter((part) => part).join("-");
}

function safeName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._@-]+/g, "_").replace(/^\.+/, "_").slice(0, 120);
  return safe === "" ? "default" : safe;
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
  const issuer = options.issuer && { ...options.issuer };
  if (issuer) resolved.issuer = issuer;
  const file = (path: string | undefined, flag: string) =>
    path === undefined ? undefined : resolveOne(path, flag, where);
  if (issuer?.caFile !== undefined) issuer.caFile = file(issuer.caFile, "issuer-ca-file");
  if (issuer?.cfssl?.authKeyFile !== undefined) {
    issuer.cfssl = {
      ...issuer.cfssl,
      authKeyFile: file(issuer.cfssl.authKeyFile, "cfssl-auth-key-file"),
    };
  }
  for (const [field, flag] of PATH_FLAGS) {
    const path = options[field];
    if (path !== undefined) resolved[field] = resolveOne(path, flag, where);
  }
  return resolved;
}

function resolveOne(
  path: string,
  flag: string,
  where: { cwd: string; home: () => string | undefined; os: Os },
): string {
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
  return resolvePath(path, where.cwd, where.os);
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
  if (options.beforeExecPolicy !== (options.issuer ? "when-invalid" : "always")) {
    add("before-exec-policy", options.beforeExecPolicy);
  }
  if (options.beforeExecTimeoutMs !== DEFAULT_TIMEOUT_MS) {
    add("before-exec-timeout", formatDuration(options.beforeExecTimeoutMs));
  }
  if (options.refreshMarginMs !== DEFAULT_REFRESH_MARGIN_MS) {
    add("refresh-margin", formatDuration(options.refreshMarginMs));
  }
  if (options.renewAhead) add("renew-ahead", formatRenewAhead(options.renewAhead));
  add("cache-dir", options.cacheDir);
  const issuer = options.issuer;
  if (issuer) {
    add("issuer", issuer.issuer);
    add("issuer-url", issuer.url);
    add("issuer-ca-file", issuer.caFile);
    add("common-name", issuer.commonName);
    if (issuer.altNames.length > 0) add("alt-names", issuer.altNames.join(","));
    if (issuer.ttlMs !== undefined) add("ttl", formatDuration(issuer.ttlMs));
    if (issuer.keyType !== "ec-p256") add("key-type", issuer.keyType);
    if (issuer.vault) {
      if (issuer.vault.mount !== "pki") add("vault-mount", issuer.vault.mount);
      add("vault-role", issuer.vault.role);
      if (issuer.vault.auth !== "token") add("vault-auth", issuer.vault.auth);
      if (issuer.vault.authMount !== "cert") add("vault-auth-mount", issuer.vault.authMount);
      add("vault-namespace", issuer.vault.namespace);
    }
    add("step-token-command", issuer.step?.tokenCommand);
    add("cfssl-profile", issuer.cfssl?.profile);
    add("cfssl-label", issuer.cfssl?.label);
    add("cfssl-auth-key-file", issuer.cfssl?.authKeyFile);
  }
  return args;
}
