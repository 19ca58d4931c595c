/**
 * Vault / OpenBao PKI: `POST /v1/<mount>/sign/<role>` with a CSR for a key made here (never `/issue/`, which makes
 * the key on the server and sends it back), authenticated by a token found where the vault CLI finds it, or by
 * cert login with the current certificate so that renewals need no token and no person. Both speak the same /v1
 * API. Tokens are secrets: they go in a header and nowhere else, not even in an error that Vault echoes them in.
 */
import { HOST_OS, isAbsolute, joinPath } from "../shared/platform.ts";
import { CliError, describeError, IssuerError } from "../shared/errors.ts";
import { CREDENTIAL_FILE_LIMIT, FileReadError, readRegularFileSync } from "../shared/read_file.ts";
import { formatDuration } from "../shared/duration.ts";
import { encodePem, parsePem } from "../credentials/pem.ts";
import { parseCertificate } from "../credentials/x509.ts";
import type {
  CsrMaker,
  CurrentCredentials,
  Issued,
  IssuerAnswer,
  IssuerCheck,
  IssuerContext,
  IssuerDriver,
  IssuerOptions,
  IssuerRequest,
  KeyType,
  VaultOptions,
} from "./issuer.ts";

/** A token and where it came from ("$VAULT_TOKEN", "token helper /usr/bin/x", "/home/u/.vault-token"). */
export interface FoundToken {
  value: string;
  source: string;
}

/** Tokens this issuance handles, so that no message can carry one even when Vault echoes it. */
type Secrets = Set<string>;

/** The Vault driver: issue() for renewals, check() for doctor. */
export const vaultDriver: IssuerDriver = { issue, check };

/** Cert login refused: the token sources may still serve. */
class CertLoginRefused extends IssuerError {}

/**
 * The Vault options, once the URL is one a token may travel to: `http://` only to a loopback address, where the
 * token never crosses a network in clear (a dev server, a local Vault Agent or Proxy). Refused before any request.
 */
function vaultOptions(options: IssuerOptions): VaultOptions {
  if (!options.vault) throw new IssuerError("vault issuer options are missing (--vault-role)");
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new IssuerError(`--issuer-url ${options.url} is not a URL`);
  }
  if (url.protocol === "http:" && !isLoopback(url.hostname)) {
    throw new IssuerError(
      `vault at ${url.origin} over http: its token would travel in clear; refused before any connection`,
      { hint: "use https:// (plain http only to a loopback address, such as a local Vault Agent)" },
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new IssuerError(`--issuer-url ${options.url} is neither https:// nor http://`);
  }
  return options.vault;
}

/** 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

/** Mount and role as path segments: `pki/sign/dev`, a nested mount keeps its slashes. */
function trimSlashes(text: string): string {
  return text.replace(/^\/+|\/+$/g, "");
}

/**
 * The headers every request carries: the namespace (Vault Enterprise and OpenBao namespaces scope tokens, mounts
 * and roles), and `X-Vault-Request`, which a Vault Proxy with `require_request_header` demands against CSRF.
 */
function baseHeaders(vault: VaultOptions, token?: string): Record<string, string> {
  const headers: Record<string, string> = { "X-Vault-Request": "true" };
  const namespace = vault.namespace ? trimSlashes(vault.namespace) : "";
  if (namespace !== "") headers["X-Vault-Namespace"] = namespace;
  if (token !== undefined) headers["X-Vault-Token"] = token;
  return headers;
}

/** Gets one certificate: a token (or cert login), then the CSR signed by the role; leaf first, then the chain. */
async function issue(
  options: IssuerOptions,
  csr: CsrMaker,
  context: IssuerContext,
): Promise<Issued> {
  const vault = vaultOptions(options);
  const secrets: Secrets = new Set();
  const client = envClientCertificate(context);
  const token = await authenticate(vault, context, secrets);
  const path = `/v1/${trimSlashes(vault.mount)}/sign/${trimSlashes(vault.role)}`;
  const body: Record<string, string> = {
    csr: await csr({ commonName: options.commonName, altNames: options.altNames }),
    format: "pem",
  };
  if (options.commonName !== undefined) body.common_name = options.commonName;
  const names = splitAltNames(options.altNames);
  if (names.dns.length) body.alt_names = names.dns.join(",");
  if (names.ip.length) body.ip_sans = names.ip.join(",");
  if (names.uri.length) body.uri_sans = names.uri.join(",");
  if (options.ttlMs !== undefined) body.ttl = `${Math.max(1, Math.ceil(options.ttlMs / 1000))}s`;
  const answer = await send(context, {
    method: "POST",
    path,
    headers: baseHeaders(vault, token.value),
    body,
    clientCertificate: client,
  }, secrets);
  if (answer.status >= 400) {
    throw vaultError(options, answer, path, secrets, {
      token,
      role: vault.role,
      keyType: options.keyType,
      what: "refused to sign the certificate request",
    });
  }
  return { chain: chainOf(options, answer, path), key: "new" };
}

/**
 * Vault's alt_names takes DNS names and emails; IP addresses go in ip_sans and URIs in uri_sans, or the role
 * refuses them as names it does not allow.
 */
export function splitAltNames(
  names: readonly string[],
): { dns: string[]; ip: string[]; uri: string[] } {
  const out = { dns: [] as string[], ip: [] as string[], uri: [] as string[] };
  for (const name of names) {
    if (
      /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || (name.includes(":") && /^[0-9a-f:.]+$/i.test(name))
    ) {
      out.ip.push(name);
    } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(name) || name.startsWith("spiffe:")) {
      out.uri.push(name);
    } else out.dns.push(name);
  }
  return out;
}

/** Sends a request through the context's fetch, keeping any thrown message free of the tokens in hand. */
async function send(
  context: IssuerContext,
  request: IssuerRequest,
  secrets: Secrets,
): Promise<IssuerAnswer> {
  try {
    return await context.fetch(request);
  } catch (error) {
    if (error instanceof CliError) {
      const message = scrub(error.message, secrets);
      if (message === error.message) throw error;
      throw new IssuerError(message, { hint: error.hint && scrub(error.hint, secrets) });
    }
    throw new IssuerError(
      `vault request ${request.method} ${request.path} failed: ${
        scrub(describeError(error), secrets)
      }`,
    );
  }
}

/**
 * The token for this issuance. With `--vault-auth cert` and a valid current certificate, cert login over mTLS
 * (the token lives for this renewal only and is never stored); the first certificate, an expired one, or a cert
 * login Vault refuses while a token is at hand, use the token sources.
 */
async function authenticate(
  vault: VaultOptions,
  context: IssuerContext,
  secrets: Secrets,
): Promise<FoundToken> {
  if (vault.auth === "cert" && context.current) {
    let refusal: IssuerError;
    try {
      return await certLogin(vault, context, context.current, secrets);
    } catch (error) {
      if (!(error instanceof CertLoginRefused)) throw error;
      refusal = error;
    }
    const token = await findToken(context);
    if (!token) throw refusal;
    secrets.add(token.value);
    await context.stderr(
      `warning: ${refusal.message}; using the token from ${token.source}\n`,
    );
    return token;
  }
  const token = await findToken(context);
  if (!token) {
    throw new IssuerError(
      `no vault token found (looked in $VAULT_TOKEN, $BAO_TOKEN, a token_helper in ~/.vault or ~/.bao, ${
        tokenFilePath(context) ?? "~/.vault-token"
      })`,
      {
        hint: vault.auth === "cert"
          ? "cert auth needs a token for the first certificate and after one expired: run `vault login`"
          : "run `vault login` (or set VAULT_TOKEN in kubectl's environment)",
      },
    );
  }
  secrets.add(token.value);
  return token;
}

/** `POST /v1/auth/<mount>/login` over mTLS with the current certificate; answers `auth.client_token`. */
async function certLogin(
  vault: VaultOptions,
  context: IssuerContext,
  current: CurrentCredentials,
  secrets: Secrets,
): Promise<FoundToken> {
  const path = `/v1/auth/${trimSlashes(vault.authMount)}/login`;
  const answer = await send(context, {
    method: "POST",
    path,
    headers: baseHeaders(vault),
    body: {},
    clientCertificate: current,
  }, secrets);
  const auth = (answer.body as { auth?: { client_token?: unknown } } | undefined)?.auth;
  if (answer.status >= 400 || typeof auth?.client_token !== "string" || auth.client_token === "") {
    if (typeof auth?.client_token === "string") secrets.add(auth.client_token);
    const status = answer.status >= 400
      ? answer.status
      : `${answer.status} without auth.client_token`;
    const said = answer.status >= 400 ? vaultMessages(answer.body, secrets) : undefined;
    throw new CertLoginRefused(
      `vault refused cert login at ${path}: ${status}${said ? ` ${said}` : ""}`,
      {
        hint:
          `a cert role of auth/${vault.authMount} must trust the CA of the current certificate and allow its name`,
      },
    );
  }
  const token = auth.client_token;
  validateToken(token, "vault cert login");
  secrets.add(token);
  return { value: token, source: `cert login at auth/${trimSlashes(vault.authMount)}` };
}

/**
 * The CLI configuration that may name a token_helper: $VAULT_CONFIG_PATH or $BAO_CONFIG_PATH when set, else
 * ~/.vault (the vault CLI's), else ~/.bao (OpenBao's bao reads that one). Undefined when none exists.
 */
function cliConfig(context: IssuerContext): { path: string; text: string } | undefined {
  const home = context.home();
  const fromEnv = context.env("VAULT_CONFIG_PATH") || context.env("BAO_CONFIG_PATH");
  const candidates = fromEnv
    ? [fromEnv]
    : home
    ? [joinPath(home, ".vault", HOST_OS), joinPath(home, ".bao", HOST_OS)]
    : [];
  for (const path of candidates) {
    const text = readOptionalFile(path, "vault configuration");
    if (text !== undefined) return { path, text };
  }
  return undefined;
}

/** The vault CLI's own token cache, written by `vault login` when no token_helper is configured. */
function tokenFilePath(context: IssuerContext): string | undefined {
  const home = context.home();
  return home ? joinPath(home, ".vault-token", HOST_OS) : undefined;
}

/** The text of a file, or undefined when it does not exist; any other problem is an IssuerError naming it. */
function readOptionalFile(path: string, what: string): string | undefined {
  try {
    return new TextDecoder().decode(readRegularFileSync(path, CREDENTIAL_FILE_LIMIT));
  } catch (error) {
    if (error instanceof FileReadError) {
      if (error.kind === "missing") return undefined;
      throw new IssuerError(`${what} ${path} ${error.message}`);
    }
    throw error;
  }
}

/**
 * `token_helper = "/path"` from the vault CLI's configuration (HCL, or its JSON form). Only the one setting the
 * broker needs is read; anything else in the file is left alone.
 */
export function tokenHelperOf(configText: string): string | undefined {
  const match = /(?:^|[{,])\s*"?token_helper"?\s*[=:]\s*"((?:[^"\\]|\\.)*)"/m.exec(configText);
  if (!match) return undefined;
  const value = match[1]!.replace(/\\(.)/g, "$1").trim();
  return value === "" ? undefined : value;
}

/**
 * A token where the vault CLI finds one: $VAULT_TOKEN, then $BAO_TOKEN (OpenBao's bao reads both), then the
 * token helper. The vault CLI's default helper is the file ~/.vault-token; a `token_helper` in ~/.vault replaces
 * it (run with `get`, its stdout the token), so then the file is not read, as the CLI does.
 */
export async function findToken(context: IssuerContext): Promise<FoundToken | undefined> {
  for (const name of ["VAULT_TOKEN", "BAO_TOKEN"]) {
    const value = context.env(name)?.trim();
    if (value) {
      validateToken(value, `$${name}`);
      return { value, source: `$${name}` };
    }
  }
  const config = cliConfig(context);
  const helper = config === undefined ? undefined : tokenHelperOf(config.text);
  const configPath = config?.path;
  if (helper) {
    // The vault CLI makes a relative helper path absolute against its working folder; so does running it here.
    const source = `token helper ${helper}${
      isAbsolute(helper, HOST_OS) ? "" : ` (named in ${configPath})`
    }`;
    let output: string;
    try {
      output = await context.runForOutput([helper, "get"], { interactive: context.interactive });
    } catch (error) {
      if (error instanceof CliError) throw error;
      throw new IssuerError(`vault ${source} failed: ${describeError(error)}`);
    }
    const value = output.trim();
    if (value === "") return undefined;
    validateToken(value, `vault ${source}`);
    return { value, source };
  }
  const file = tokenFilePath(context);
  const text = file ? readOptionalFile(file, "vault token file") : undefined;
  const value = text?.trim();
  if (!value) return undefined;
  validateToken(value, `vault token file ${file}`);
  return { value, source: file! };
}

/** A token goes in an HTTP header: one line of visible ASCII, or the request would fail (or split) in odd ways. */
function validateToken(value: string, source: string): void {
  if (!/^[\x21-\x7e]+$/.test(value)) {
    throw new IssuerError(`the token from ${source} is not one line of printable characters`, {
      hint: "a vault token looks like hvs.CAESI...; check what the source holds",
    });
  }
}

/**
 * VAULT_CLIENT_CERT and VAULT_CLIENT_KEY (or OpenBao's BAO_CLIENT_CERT and BAO_CLIENT_KEY): a Vault behind mTLS
 * wants this certificate on every request (except cert login, which presents the broker's own).
 */
function envClientCertificate(context: IssuerContext): CurrentCredentials | undefined {
  const prefix = context.env("VAULT_CLIENT_CERT") || context.env("VAULT_CLIENT_KEY")
    ? "VAULT"
    : "BAO";
  const certPath = context.env(`${prefix}_CLIENT_CERT`);
  const keyPath = context.env(`${prefix}_CLIENT_KEY`);
  if (!certPath && !keyPath) return undefined;
  if (!certPath || !keyPath) {
    const [missing, set] = certPath ? ["KEY", "CERT"] : ["CERT", "KEY"];
    throw new IssuerError(
      `${prefix}_CLIENT_${missing} is not set while ${prefix}_CLIENT_${set} is`,
      {
        hint:
          `a client certificate for vault needs both ${prefix}_CLIENT_CERT and ${prefix}_CLIENT_KEY`,
      },
    );
  }
  const read = (path: string, what: string) => {
    const text = readOptionalFile(path, what);
    if (text === undefined) throw new IssuerError(`${what} ${path} does not exist`);
    return text;
  };
  return {
    certificatePem: read(certPath, `${prefix}_CLIENT_CERT`),
    keyPem: read(keyPath, `${prefix}_CLIENT_KEY`),
  };
}

/** Removes every token in hand from a text (and anything shaped like a Vault token), for messages. */
function scrub(text: string, secrets: Secrets): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join("[redacted]");
  return out.replace(/\b(hv[sbr]|[sbr])\.[A-Za-z0-9_-]{16,}/g, "[redacted]");
}

/**
 * Vault's `{"errors": [...]}` as one line: go-multierror's "2 errors occurred:\n\t* a\n\t* b" becomes "a; b".
 * Undefined when the body is not Vault's (a proxy's HTML page): then only the status is worth printing.
 */
export function vaultMessages(body: unknown, secrets: Secrets = new Set()): string | undefined {
  const list = (body as { errors?: unknown } | undefined)?.errors;
  if (!Array.isArray(list)) return undefined;
  const parts: string[] = [];
  for (const item of list) {
    if (typeof item !== "string") continue;
    for (const line of item.split(/\r?\n/)) {
      const text = line.replace(/^\s*\*\s*/, "").trim();
      if (text === "" || /^\d+ errors? occurred:$/.test(text)) continue;
      parts.push(text);
    }
  }
  const joined = scrub(parts.join("; "), secrets).replace(/\p{Cc}/gu, " ");
  return joined.length > 300 ? joined.slice(0, 297) + "..." : joined;
}

/** The --key-type that fits a role's key_type and minimum size, or undefined when the broker makes none that does. */
export function keyTypeFor(roleKeyType: string, minimumBits = 0): KeyType | undefined {
  switch (roleKeyType) {
    case "rsa":
      return minimumBits <= 2048 ? "rsa-2048" : undefined;
    case "ec":
      return minimumBits <= 256 ? "ec-p256" : minimumBits <= 384 ? "ec-p384" : undefined;
    case "ed25519":
      return "ed25519";
    default:
      return undefined;
  }
}

/** The key type family of a --key-type, as Vault names it. */
function vaultKeyType(keyType: KeyType): string {
  return keyType.startsWith("ec-") ? "ec" : keyType.startsWith("rsa-") ? "rsa" : "ed25519";
}

/** Why Vault refused, with a hint: 403 token, a role refusing the key type, a missing role or mount, a busy Vault. */
function vaultError(
  options: IssuerOptions,
  answer: IssuerAnswer,
  path: string,
  secrets: Secrets,
  about: { token?: FoundToken; role?: string; keyType?: KeyType; what: string },
): IssuerError {
  const said = vaultMessages(answer.body, secrets);
  const where = `${options.url}${path}`;
  const message = said === undefined
    ? `vault ${about.what} at ${where}: ${answer.status} (not Vault's JSON: a proxy or another server answered)`
    : `vault ${about.what} at ${where}: ${answer.status}${said ? ` ${said}` : ""}`;
  return new IssuerError(message, { hint: hintFor(answer.status, said ?? "", path, about) });
}

function hintFor(
  status: number,
  said: string,
  path: string,
  about: { token?: FoundToken; role?: string; keyType?: KeyType },
): string | undefined {
  const policyPath = path.replace(/^\/v1\//, "");
  if (status === 403) {
    const from = about.token ? ` (from ${about.token.source})` : "";
    return `the vault token${from} is missing, expired or lacks a policy allowing ${policyPath}: run \`vault login\``;
  }
  const type = /role requires keys of type (\w+)/.exec(said);
  if (type) {
    const fits = keyTypeFor(type[1]!);
    return fits
      ? `role ${about.role} takes only ${
        type[1]
      } keys: use --key-type ${fits} (or ask for key_type=any on the role)`
      : `role ${about.role} takes only ${
        type[1]
      } keys, which the broker does not make: ask for key_type=any on the role`;
  }
  const bits = /requires a minimum of a (\d+)-bit key/.exec(said);
  if (bits && about.keyType) {
    const family = vaultKeyType(about.keyType);
    const fits = keyTypeFor(family, Number(bits[1]));
    return fits
      ? `role ${about.role} wants keys of at least ${bits[1]} bits: use --key-type ${fits}`
      : `role ${about.role} wants ${family} keys of at least ${
        bits[1]
      } bits, larger than the broker makes: ask for key_bits on the role to allow ${about.keyType}`;
  }
  if (/unknown role/.test(said) || (status === 404 && /\/roles\//.test(path))) {
    return `check --vault-role ${about.role}: no such role in this mount (or namespace)`;
  }
  if (status === 404) {
    return "check --vault-mount, --vault-namespace and --issuer-url (Vault also answers 404 where a policy hides a path)";
  }
  if (status === 412 || status === 429) {
    return "vault (or a Vault Proxy) is not ready for this request, even after a retry: try again in a moment";
  }
  if (status === 503) return "vault is sealed or unavailable: try again once it is unsealed";
  if (status >= 500) return "vault failed on its side: try again, or ask its operators";
  return undefined;
}

/**
 * The certificate file's chain: the leaf first, then the CAs that issued it (Vault's `ca_chain` is the issuing CA
 * and its parents; older answers carry `issuing_ca` alone). Each certificate once; self-signed roots left out,
 * since a verifier must hold the root already and sending it changes nothing but the size.
 */
function chainOf(options: IssuerOptions, answer: IssuerAnswer, path: string): string[] {
  const data = (answer.body as { data?: Record<string, unknown> } | undefined)?.data;
  const broken = (why: string) =>
    new IssuerError(`vault answered ${answer.status} at ${options.url}${path} ${why}`, {
      hint: "is --issuer-url a Vault, and the mount a PKI secrets engine?",
    });
  if (!data || typeof data.certificate !== "string") throw broken("without data.certificate");
  const blocks = (text: unknown): Uint8Array[] => {
    if (typeof text !== "string") return [];
    try {
      return parsePem(text).filter((b) => b.label === "CERTIFICATE").map((b) => b.der);
    } catch {
      return [];
    }
  };
  const [leaf] = blocks(data.certificate);
  if (!leaf) throw broken("with a data.certificate that holds no PEM certificate");
  const cas = [
    ...blocks(data.issuing_ca),
    ...(Array.isArray(data.ca_chain) ? data.ca_chain.flatMap(blocks) : []),
  ];
  const seen = new Set<string>([leaf.toBase64()]);
  const chain = [encodePem("CERTIFICATE", leaf)];
  for (const der of cas) {
    const key = der.toBase64();
    if (seen.has(key)) continue;
    seen.add(key);
    let selfSigned = false;
    try {
      const parsed = parseCertificate(der);
      selfSigned = parsed.subject === parsed.issuer;
    } catch {
      throw broken("with a CA certificate that does not parse");
    }
    if (!selfSigned) chain.push(encodePem("CERTIFICATE", der));
  }
  return chain;
}

/** "23h59m", "never expires": a token's lifetime for doctor. */
function formatTtl(seconds: number): string {
  return seconds === 0 ? "never expires" : `valid for ${formatDuration(seconds * 1000)}`;
}

/** doctor's checks: Vault answers (sys/health), the token is found and valid (lookup-self), the role exists. */
async function check(options: IssuerOptions, context: IssuerContext): Promise<IssuerCheck[]> {
  let vault: VaultOptions;
  try {
    vault = vaultOptions(options);
  } catch (error) {
    if (!(error instanceof IssuerError)) throw error;
    return [{ title: "vault answers", ok: false, detail: error.message, hint: error.hint }];
  }
  const secrets: Secrets = new Set();
  const checks: IssuerCheck[] = [];
  let client: CurrentCredentials | undefined;
  try {
    client = envClientCertificate(context);
  } catch (error) {
    if (!(error instanceof IssuerError)) throw error;
    checks.push({
      title: "vault client certificate",
      ok: false,
      detail: error.message,
      hint: error.hint,
    });
    return checks;
  }

  // 1. Vault answers: sys/health needs no token.
  try {
    const answer = await send(context, {
      method: "GET",
      path: "/v1/sys/health",
      headers: baseHeaders(vault),
      clientCertificate: client,
    }, secrets);
    const health = healthCheck(options, answer);
    checks.push(health);
    if (!health.ok) return checks;
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    checks.push({ title: "vault answers", ok: false, detail: error.message, hint: error.hint });
    return checks;
  }

  // 2. A token: cert login with the current certificate, or the token sources.
  let token: FoundToken | undefined;
  try {
    if (vault.auth === "cert" && context.current) {
      token = await certLogin(vault, context, context.current, secrets);
      checks.push({
        title: "vault cert login",
        ok: true,
        detail: `the current certificate logs in at auth/${trimSlashes(vault.authMount)}`,
      });
    } else {
      token = await findToken(context);
      if (token) secrets.add(token.value);
    }
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    checks.push({
      title: vault.auth === "cert" && context.current ? "vault cert login" : "vault token",
      ok: false,
      detail: error.message,
      hint: error.hint,
    });
    return checks;
  }
  if (!token && vault.auth === "cert") {
    // Cert auth needs no token while the certificate is valid; doctor's certificate checks say whether it is.
    checks.push({
      title: "vault token",
      ok: true,
      detail:
        "none found ($VAULT_TOKEN, $BAO_TOKEN, a token_helper, ~/.vault-token): cert login renews a valid certificate without one; a first or expired certificate needs `vault login`",
    });
    return checks;
  }
  if (!token) {
    checks.push({
      title: "vault token",
      ok: false,
      detail: "no vault token found in $VAULT_TOKEN, $BAO_TOKEN, a token_helper or ~/.vault-token",
      hint: vault.auth === "cert"
        ? "the first certificate (and one that expired) needs a token: run `vault login`"
        : "run `vault login`",
    });
    return checks;
  }
  const lookup = await send(context, {
    method: "GET",
    path: "/v1/auth/token/lookup-self",
    headers: baseHeaders(vault, token.value),
    clientCertificate: client,
  }, secrets);
  if (lookup.status >= 400) {
    const error = vaultError(options, lookup, "/v1/auth/token/lookup-self", secrets, {
      token,
      what: `does not accept the token from ${token.source}`,
    });
    checks.push({ title: "vault token", ok: false, detail: error.message, hint: error.hint });
    return checks;
  }
  const data = (lookup.body as { data?: { ttl?: unknown; policies?: unknown } } | undefined)?.data;
  const ttl = typeof data?.ttl === "number" ? data.ttl : undefined;
  const policies = Array.isArray(data?.policies)
    ? data.policies.filter((p): p is string => typeof p === "string")
    : [];
  checks.push({
    title: "vault token",
    ok: true,
    detail: `token from ${token.source}${ttl === undefined ? "" : `, ${formatTtl(ttl)}`}${
      policies.length ? ` (policies: ${scrub(policies.join(", "), secrets)})` : ""
    }`,
  });

  // 3. The role, when the token may read it (signing needs only sign/<role>).
  const rolePath = `/v1/${trimSlashes(vault.mount)}/roles/${trimSlashes(vault.role)}`;
  const role = await send(context, {
    method: "GET",
    path: rolePath,
    headers: baseHeaders(vault, token.value),
    clientCertificate: client,
  }, secrets);
  checks.push(roleCheck(options, vault, role, rolePath, secrets));
  return checks;
}

/** sys/health's status codes: 200 active, 429 standby, 472/473 DR or performance standby, 501, 503 sealed. */
function healthCheck(options: IssuerOptions, answer: IssuerAnswer): IssuerCheck {
  const body = answer.body as
    | { version?: unknown; sealed?: unknown; initialized?: unknown }
    | undefined;
  const version = typeof body?.version === "string" ? ` ${body.version}` : "";
  const at = `vault${version} at ${options.url}`;
  switch (answer.status) {
    case 200:
      return { title: "vault answers", ok: true, detail: `${at}: initialized, unsealed, active` };
    case 429:
    case 472:
    case 473:
      return {
        title: "vault answers",
        ok: true,
        detail:
          `${at}: unsealed, a standby (${answer.status}); requests are forwarded to the active node`,
      };
    case 501:
      return {
        title: "vault answers",
        ok: false,
        detail: `${at}: not initialized (501)`,
        hint: "vault must be initialized and unsealed by its operators",
      };
    case 503:
      return {
        title: "vault answers",
        ok: false,
        detail: `${at}: sealed (503)`,
        hint: "vault must be unsealed by its operators",
      };
    default:
      return {
        title: "vault answers",
        ok: false,
        detail: body === undefined
          ? `${options.url}/v1/sys/health answered ${answer.status}, not Vault's JSON`
          : `${at}: ${answer.status}`,
        hint: "is --issuer-url the address of a Vault or OpenBao server?",
      };
  }
}

function roleCheck(
  options: IssuerOptions,
  vault: VaultOptions,
  answer: IssuerAnswer,
  path: string,
  secrets: Secrets,
): IssuerCheck {
  const title = "vault role";
  const name = `${trimSlashes(vault.mount)}/roles/${trimSlashes(vault.role)}`;
  if (answer.status === 403) {
    return {
      title,
      ok: true,
      detail: `the token may not read ${name} (signing needs only sign/${vault.role}); not checked`,
    };
  }
  if (answer.status >= 400) {
    const error = vaultError(options, answer, path, secrets, {
      role: vault.role,
      what: "has no such role",
    });
    return { title, ok: false, detail: error.message, hint: error.hint };
  }
  const data =
    (answer.body as { data?: { key_type?: unknown; key_bits?: unknown; max_ttl?: unknown } })
      ?.data;
  const keyType = typeof data?.key_type === "string" ? data.key_type : "rsa";
  const keyBits = typeof data?.key_bits === "number" ? data.key_bits : 0;
  const maxTtl = typeof data?.max_ttl === "number" && data.max_ttl > 0
    ? `, max_ttl ${formatDuration(data.max_ttl * 1000)}`
    : "";
  const detail = `role ${vault.role} in ${trimSlashes(vault.mount)}: key_type ${keyType}${
    keyBits ? ` (${keyBits} bits)` : ""
  }${maxTtl}`;
  const family = vaultKeyType(options.keyType);
  const bits = options.keyType === "ec-p384" ? 384 : options.keyType === "ec-p256" ? 256 : 2048;
  const wrongType = keyType !== "any" && keyType !== family;
  const tooSmall = !wrongType && keyType !== "any" && family !== "ed25519" && keyBits > bits;
  if (wrongType || tooSmall) {
    const fits = keyTypeFor(keyType, keyBits);
    return {
      title,
      ok: false,
      detail: `${detail}: it refuses --key-type ${options.keyType}`,
      hint: fits
        ? `use --key-type ${fits} (or ask for key_type=any on the role)`
        : "ask for key_type=any on the role",
    };
  }
  return { title, ok: true, detail };
}
