/**
 * A Vault (or OpenBao) test server, written from Vault's API documentation (website/content/api-docs/): the PKI
 * secrets engine's `sign/<role>` and `roles/<role>` (api-docs/secret/pki), cert auth login (api-docs/auth/cert),
 * `auth/token/lookup-self` (api-docs/auth/token) and `sys/health` (api-docs/system/health), with Vault's request
 * and answer bodies, status codes and `{"errors": [...]}` shapes. It signs CSRs with a CA made in memory at start
 * (a root and an intermediate, as a Vault PKI usually runs) or with a CA it is given (the e2e world's), checks the
 * role's key_type as Vault's validateCsr does, and keeps tokens with a TTL and the paths their policies allow.
 *
 * It serves plain HTTP on loopback (the unit tests' driver talks to it in-process); `startVaultBehindNginx()` puts
 * nginx in front with `ssl_verify_client optional_no_ca`, since Deno cannot ask for client certificates as a TLS
 * server: nginx passes the client's certificate on in a header, which only that server trusts, and cert login
 * verifies it against the cert role's CA here. Every request lands in a log the tests read; tokens appear there by
 * the name a test gave them, never by value.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { certificatePassingConfig, findNginx, startNginx } from "./nginx.ts";

const EC_P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** A PKI role (`POST /v1/<mount>/roles/<name>`), with the fields the broker meets. */
export interface VaultRole {
  /** Vault's default is "rsa", which refuses EC and Ed25519 CSRs. */
  keyType?: "rsa" | "ec" | "ed25519" | "any";
  /** 0: Vault's default for the type (2048 for rsa, 256 for ec). */
  keyBits?: number;
  /** Seconds; Vault's system default is 768h. */
  ttl?: number;
  maxTtl?: number;
  /** Subject O of issued certificates (the role's `organization`). */
  organization?: string[];
}

/** A token: what its policies allow (path globs ending in `*`, e.g. "pki/sign/*") and how long it lives. */
export interface VaultTokenSpec {
  /** How tests and the request log name it; the token's value never appears in the log. */
  name: string;
  paths: string[];
  /** Seconds from now; 0: never expires (a root token). */
  ttl?: number;
  namespace?: string;
  /** The token's value; a random `hvs.` token by default. */
  value?: string;
}

/** A cert auth role (`POST /v1/auth/<mount>/certs/<name>`): certificates from `caPem` log in with these policies. */
export interface VaultCertRole {
  name: string;
  caPem: string;
  paths: string[];
  /** Seconds the login token lives (`token_ttl`). */
  ttl?: number;
  allowedCommonNames?: string[];
  mount?: string;
  namespace?: string;
}

/** One request as the server saw it. `auth` says how it was authenticated; `token` names the token, never its value. */
export interface VaultRequestLog {
  /** When it arrived, epoch milliseconds. */
  at: number;
  method: string;
  path: string;
  namespace: string;
  status: number;
  auth: "none" | "token" | "unknown-token" | "expired-token";
  token?: string;
  /** Whether nginx passed a client certificate on, and its subject. */
  clientCertificate?: string;
  vaultRequestHeader: boolean;
  /** The JSON body's field names (a sign request: csr, common_name, alt_names, ttl). */
  fields: string[];
  body?: Record<string, unknown>;
}

/** An answer to force on the next matching requests: Vault's errors, or a proxy's HTML page. */
export interface VaultFault {
  status: number;
  /** Vault's `{"errors": [...]}`; a function sees the request's token value, to test that echoes never leak. */
  errors?: string[] | ((token: string | undefined) => string[]);
  html?: string;
  /** Only requests whose path (after /v1/) starts with this. */
  pathPrefix?: string;
  /** How many requests get it (1 by default). */
  times?: number;
}

export interface VaultServerOptions {
  /** Sign with this CA (PEM certificate and PKCS#8 key); a fresh root and intermediate by default. */
  ca?: { certificatePem: string; keyPem: string };
  /** Sign with another server's root and intermediate (its `signer`), so that a test file makes them once. */
  signer?: VaultServer["signer"];
  /** Answer 412 unless `X-Vault-Request: true` is sent, as a Vault Proxy with `require_request_header` does. */
  requireRequestHeader?: boolean;
  /** Trust the client certificate header (only behind startVaultBehindNginx's nginx). */
  trustClientCertificateHeader?: boolean;
}

interface Token extends VaultTokenSpec {
  value: string;
  namespace: string;
  expiresAt: number | null;
  issuedAt: number;
  policies: string[];
}

interface Signer {
  certificate: x509.X509Certificate;
  key: CryptoKey;
  /** ca_chain: the issuing CA first, then its parents up to the root. */
  chain: x509.X509Certificate[];
}

/** Vault's token form (`hvs.` and 24 base62 characters). */
export function randomVaultToken(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return "hvs." + Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** Vault's error answer: `{"errors": [...]}` with the status. */
function errors(status: number, messages: string[]): Response {
  return json({ errors: messages }, status);
}

/** Vault wraps ACL failures in a go-multierror list. */
const PERMISSION_DENIED = "1 error occurred:\n\t* permission denied\n\n";
const INVALID_TOKEN = "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n";

/** Vault's duration parameters: seconds as a number or string, or Go-like "1h30m", "3600s", "2d". */
export function parseVaultDuration(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value !== "string" || value === "") return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
  let total = 0;
  const rest = value.replace(/(\d+)([smhd])/g, (_, n: string, unit: string) => {
    total += Number(n) * units[unit]!;
    return "";
  });
  if (rest !== "") throw new Error(`time: invalid duration "${value}"`);
  return total;
}

function formatSerial(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(":");
}

function randomSerial(): Uint8Array {
  const bytes = crypto.getRandomValues(new Uint8Array(20));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes;
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A CA certificate made with WebCrypto (EC P-256), signed by `parent` or by itself. */
async function makeCaCertificate(
  commonName: string,
  parent?: Signer,
): Promise<Signer> {
  const keys = await crypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
  const now = Date.now();
  const extensions = [
    new x509.BasicConstraintsExtension(true, parent ? 0 : undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  const certificate = parent
    ? await x509.X509CertificateGenerator.create({
      serialNumber: toHex(randomSerial()),
      subject: `CN=${commonName}`,
      issuer: parent.certificate.subject,
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + 7 * 86400_000),
      signingAlgorithm: EC_P256,
      publicKey: keys.publicKey,
      signingKey: parent.key,
      extensions: [
        ...extensions,
        await x509.AuthorityKeyIdentifierExtension.create(parent.certificate),
      ],
    })
    : await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: toHex(randomSerial()),
      name: `CN=${commonName}`,
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + 7 * 86400_000),
      signingAlgorithm: EC_P256,
      keys,
      extensions,
    });
  return {
    certificate,
    key: keys.privateKey,
    chain: [certificate, ...(parent?.chain ?? [])],
  };
}

/** A self-signed EC P-256 CA for tests (another CA, a root-only Vault): PEM certificate and PKCS#8 PEM key. */
export async function makeTestCa(
  commonName: string,
): Promise<{ certificatePem: string; keyPem: string }> {
  const ca = await makeCaCertificate(commonName);
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", ca.key);
  return {
    certificatePem: ca.certificate.toString("pem") + "\n",
    keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") + "\n",
  };
}

/** Imports a PKCS#8 PEM key of an EC P-256 CA (what the world's openssl CA has). */
async function importCaKey(keyPem: string): Promise<CryptoKey> {
  const base64 = keyPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return await crypto.subtle.importKey(
    "pkcs8",
    Uint8Array.fromBase64(base64),
    EC_P256,
    false,
    ["sign"],
  );
}

/** The server certificate nginx presents (for 127.0.0.1 and localhost), signed by `ca`; PEM and PKCS#8 PEM key. */
export async function makeServerCertificate(
  ca: Signer,
): Promise<{ certificatePem: string; keyPem: string }> {
  const keys = await crypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: toHex(randomSerial()),
    subject: "CN=127.0.0.1",
    issuer: ca.certificate.subject,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 2 * 86400_000),
    signingAlgorithm: EC_P256,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: "ip", value: "127.0.0.1" },
        { type: "dns", value: "localhost" },
      ]),
    ],
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return {
    certificatePem: certificate.toString("pem") + "\n",
    keyPem: x509.PemConverter.encode(pkcs8.buffer, "PRIVATE KEY") + "\n",
  };
}

/** The key type and size of a CSR's public key, as Go's x509 reports them. */
function csrKey(csr: x509.Pkcs10CertificateRequest): { type: string; bits: number } {
  const algorithm = csr.publicKey.algorithm as {
    name: string;
    namedCurve?: string;
    modulusLength?: number;
  };
  switch (algorithm.name) {
    case "RSASSA-PKCS1-v1_5":
    case "RSA-PSS":
      return { type: "rsa", bits: algorithm.modulusLength ?? 0 };
    case "ECDSA":
      return { type: "ec", bits: Number(algorithm.namedCurve?.slice(2) ?? 0) };
    case "Ed25519":
      return { type: "ed25519", bits: 0 };
    default:
      return { type: algorithm.name, bits: 0 };
  }
}

/**
 * Vault's validateCsr (builtin/logical/pki): the role's key_type must match the CSR's key (any: every type), and
 * the key must be at least key_bits (the type's default when 0; for `any`, 2048 for RSA and 224 for EC).
 */
export function validateCsrKey(
  role: VaultRole,
  key: { type: string; bits: number },
): string | null {
  const roleType = role.keyType ?? "rsa";
  if (roleType !== "any" && key.type !== roleType) return `role requires keys of type ${roleType}`;
  if (!["rsa", "ec", "ed25519"].includes(key.type)) return `Unknown key type in CSR: ${key.type}`;
  let minimum = role.keyBits ?? 0;
  if (roleType === "any" || minimum === 0) {
    minimum = key.type === "rsa" ? 2048 : key.type === "ec" ? (roleType === "any" ? 224 : 256) : 0;
  }
  if (key.type === "rsa" || key.type === "ec") {
    if (key.bits < minimum) {
      return `role requires a minimum of a ${minimum}-bit key, but CSR's key is ${key.bits} bits`;
    }
  }
  return null;
}

/** The running server: plain HTTP on loopback; state a test changes between requests. */
export interface VaultServer extends AsyncDisposable {
  port: number;
  /** http://127.0.0.1:PORT */
  url: string;
  requests: VaultRequestLog[];
  /** The root of the signing chain, PEM: what a verifier trusts. */
  rootPem: string;
  /** The issuing CA, PEM. */
  issuingPem: string;
  sealed: boolean;
  addRole(name: string, role?: VaultRole, place?: { mount?: string; namespace?: string }): void;
  addToken(spec: VaultTokenSpec): string;
  addCertRole(role: VaultCertRole): void;
  /** Makes a token invalid from now on (as `vault token revoke`). */
  revoke(name: string): void;
  fault(fault: VaultFault): void;
  /** The CA's signer, to make more certificates in tests (the nginx server certificate). */
  signer: Signer;
}

/** Starts the server on a free loopback port. */
export async function startVaultServer(options: VaultServerOptions = {}): Promise<VaultServer> {
  let signer: Signer;
  let root: x509.X509Certificate;
  if (options.ca) {
    const certificate = new x509.X509Certificate(options.ca.certificatePem);
    signer = { certificate, key: await importCaKey(options.ca.keyPem), chain: [certificate] };
    root = certificate;
  } else if (options.signer) {
    signer = options.signer;
    root = signer.chain.at(-1)!;
  } else {
    const rootCa = await makeCaCertificate("vault test root");
    signer = await makeCaCertificate("vault test intermediate", rootCa);
    root = rootCa.certificate;
  }
  const roles = new Map<string, VaultRole>();
  const tokens = new Map<string, Token>();
  const certRoles: VaultCertRole[] = [];
  const faults: VaultFault[] = [];
  const requests: VaultRequestLog[] = [];
  const ns = (namespace: string | undefined) => (namespace ?? "").replace(/^\/+|\/+$/g, "");
  const state = { sealed: false };

  const addToken = (spec: VaultTokenSpec): string => {
    const value = spec.value ?? randomVaultToken();
    const ttl = spec.ttl ?? 3600;
    tokens.set(value, {
      ...spec,
      value,
      namespace: ns(spec.namespace),
      issuedAt: Date.now(),
      expiresAt: ttl === 0 ? null : Date.now() + ttl * 1000,
      policies: [
        "default",
        ...spec.paths.map((p) => p.replace(/[^a-z0-9]+/gi, "-").replace(/-+$/, "")),
      ],
    });
    return value;
  };

  const allows = (token: Token, path: string) =>
    token.paths.some((p) => p.endsWith("*") ? path.startsWith(p.slice(0, -1)) : path === p);

  /** The client certificate nginx passed on (URL-escaped PEM), when this server may trust the header. */
  const clientCertificateOf = (request: Request): x509.X509Certificate | undefined => {
    if (!options.trustClientCertificateHeader) return undefined;
    const escaped = request.headers.get("x-client-certificate");
    if (!escaped) return undefined;
    try {
      return new x509.X509Certificate(decodeURIComponent(escaped));
    } catch {
      return undefined;
    }
  };

  async function certLogin(
    namespace: string,
    mount: string,
    body: Record<string, unknown>,
    certificate: x509.X509Certificate | undefined,
  ): Promise<Response> {
    const refused = () => errors(400, ["invalid certificate or no client certificate supplied"]);
    if (!certificate) return refused();
    const now = new Date();
    if (certificate.notBefore > now || certificate.notAfter < now) return refused();
    const name = typeof body.name === "string" && body.name !== "" ? body.name : undefined;
    for (const role of certRoles) {
      if (ns(role.namespace) !== namespace || (role.mount ?? "cert") !== mount) continue;
      if (name && role.name !== name) continue;
      const ca = new x509.X509Certificate(role.caPem);
      if (certificate.issuer !== ca.subject) continue;
      if (!(await certificate.verify({ publicKey: ca.publicKey, signatureOnly: true }))) continue;
      const commonName = certificate.subjectName.getField("CN")[0] ?? "";
      if (
        role.allowedCommonNames &&
        !role.allowedCommonNames.some((glob) =>
          glob.endsWith("*") ? commonName.startsWith(glob.slice(0, -1)) : glob === commonName
        )
      ) continue;
      const ttl = role.ttl ?? 3600;
      const value = addToken({
        name: `cert-login:${role.name}`,
        paths: role.paths,
        ttl,
        namespace,
      });
      const token = tokens.get(value)!;
      return json({
        request_id: crypto.randomUUID(),
        lease_id: "",
        renewable: false,
        lease_duration: 0,
        data: null,
        wrap_info: null,
        warnings: null,
        auth: {
          client_token: value,
          accessor: crypto.randomUUID(),
          policies: token.policies,
          token_policies: token.policies,
          metadata: {
            authority_key_id: "",
            cert_name: role.name,
            common_name: commonName,
            serial_number: BigInt("0x" + certificate.serialNumber).toString(),
            subject_key_id: "",
          },
          lease_duration: ttl,
          renewable: true,
          entity_id: crypto.randomUUID(),
          token_type: "service",
          orphan: true,
        },
      });
    }
    return refused();
  }

  async function sign(
    roleKey: string,
    roleName: string,
    body: Record<string, unknown>,
  ): Promise<Response> {
    const role = roles.get(roleKey);
    if (!role) return errors(400, [`unknown role: ${roleName}`]);
    if (typeof body.csr !== "string" || body.csr === "") {
      return errors(400, ["csr contains no data"]);
    }
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(body.csr);
    } catch (error) {
      return errors(400, [`certificate request could not be parsed: ${(error as Error).message}`]);
    }
    if (!(await csr.verify().catch(() => false))) {
      return errors(400, ["request signature invalid"]);
    }
    const keyProblem = validateCsrKey(role, csrKey(csr));
    if (keyProblem) return errors(400, [keyProblem]);
    // use_csr_common_name and use_csr_sans default to true: the CSR's names win.
    const commonName = csr.subjectName.getField("CN")[0] ??
      (typeof body.common_name === "string" ? body.common_name : "");
    if (commonName === "") {
      return errors(400, [
        'the common_name field is required, or must be provided in a CSR with "use_csr_common_name" set to true, unless "require_cn" is set to false',
      ]);
    }
    const warnings: string[] = [];
    const maxTtl = role.maxTtl ?? 768 * 3600;
    let ttl: number;
    try {
      ttl = parseVaultDuration(body.ttl) ?? role.ttl ?? maxTtl;
    } catch (error) {
      return errors(400, [(error as Error).message]);
    }
    if (ttl > maxTtl) {
      warnings.push(
        `TTL "${ttl}s" is longer than permitted maxTTL "${maxTtl}s", so maxTTL is being used`,
      );
      ttl = maxTtl;
    }
    const names: x509.JsonGeneralName[] = [];
    const csrSans = csr.getExtension("2.5.29.17");
    if (csrSans) {
      const sans = new x509.SubjectAlternativeNameExtension(csrSans.rawData);
      for (const name of sans.names.toJSON()) names.push(name);
    }
    const split = (value: unknown) =>
      typeof value === "string" ? value.split(",").map((s) => s.trim()).filter(Boolean) : [];
    for (const dns of split(body.alt_names)) {
      if (!names.some((n) => n.value === dns)) {
        names.push({ type: dns.includes("@") ? "email" : "dns", value: dns });
      }
    }
    for (const ip of split(body.ip_sans)) {
      if (!names.some((n) => n.value === ip)) names.push({ type: "ip", value: ip });
    }
    for (const uri of split(body.uri_sans)) {
      if (!names.some((n) => n.value === uri)) names.push({ type: "url", value: uri });
    }
    const now = Date.now();
    const serial = randomSerial();
    const subject = [
      ...(role.organization ?? []).map((o) => `O=${o}`),
      `CN=${commonName}`,
    ].join(", ");
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: toHex(serial),
      subject,
      issuer: signer.certificate.subject,
      // Vault's not_before_duration: 30 s of slack for clocks.
      notBefore: new Date(Math.floor(now / 1000) * 1000 - 30_000),
      notAfter: new Date(Math.floor(now / 1000) * 1000 + ttl * 1000),
      signingAlgorithm: EC_P256,
      publicKey: await csr.publicKey.export(),
      signingKey: signer.key,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement |
            x509.KeyUsageFlags.keyEncipherment,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        await x509.AuthorityKeyIdentifierExtension.create(signer.certificate),
        ...(names.length ? [new x509.SubjectAlternativeNameExtension(names)] : []),
      ],
    });
    const pem = (c: x509.X509Certificate) => c.toString("pem");
    return json({
      request_id: crypto.randomUUID(),
      lease_id: "",
      renewable: false,
      lease_duration: 0,
      data: {
        certificate: pem(leaf),
        issuing_ca: pem(signer.certificate),
        ca_chain: signer.chain.map(pem),
        serial_number: formatSerial(serial),
        expiration: Math.floor(leaf.notAfter.getTime() / 1000),
      },
      wrap_info: null,
      warnings: warnings.length ? warnings : null,
      auth: null,
    });
  }

  function readRole(roleKey: string): Response {
    const role = roles.get(roleKey);
    if (!role) return errors(404, []);
    return json({
      request_id: crypto.randomUUID(),
      lease_id: "",
      renewable: false,
      lease_duration: 0,
      data: {
        allow_any_name: true,
        client_flag: true,
        server_flag: true,
        key_type: role.keyType ?? "rsa",
        key_bits: role.keyBits ??
          ((role.keyType ?? "rsa") === "rsa" ? 2048 : role.keyType === "ec" ? 256 : 0),
        ttl: role.ttl ?? 0,
        max_ttl: role.maxTtl ?? 0,
        organization: role.organization ?? [],
        use_csr_common_name: true,
        use_csr_sans: true,
        require_cn: true,
      },
      wrap_info: null,
      warnings: null,
      auth: null,
    });
  }

  function lookupSelf(token: Token): Response {
    const now = Date.now();
    return json({
      request_id: crypto.randomUUID(),
      lease_id: "",
      renewable: false,
      lease_duration: 0,
      data: {
        accessor: crypto.randomUUID(),
        creation_time: Math.floor(token.issuedAt / 1000),
        creation_ttl: token.expiresAt === null
          ? 0
          : Math.round((token.expiresAt - token.issuedAt) / 1000),
        display_name: token.name,
        entity_id: "",
        expire_time: token.expiresAt === null ? null : new Date(token.expiresAt).toISOString(),
        explicit_max_ttl: 0,
        // Vault answers the token itself here: a client must never print this answer.
        id: token.value,
        issue_time: new Date(token.issuedAt).toISOString(),
        meta: null,
        num_uses: 0,
        orphan: true,
        path: "auth/token/create",
        policies: token.policies,
        renewable: token.expiresAt !== null,
        ttl: token.expiresAt === null ? 0 : Math.max(0, Math.round((token.expiresAt - now) / 1000)),
        type: "service",
      },
      wrap_info: null,
      warnings: null,
      auth: null,
    });
  }

  function health(): Response {
    return json({
      initialized: true,
      sealed: state.sealed,
      standby: false,
      performance_standby: false,
      replication_performance_mode: "disabled",
      replication_dr_mode: "disabled",
      server_time_utc: Math.floor(Date.now() / 1000),
      version: "1.18.0",
      cluster_name: "vault-cluster-test",
      cluster_id: "00000000-0000-0000-0000-000000000000",
    }, state.sealed ? 503 : 200);
  }

  async function handle(request: Request, log: VaultRequestLog): Promise<Response> {
    const url = new URL(request.url);
    if (!url.pathname.startsWith("/v1/")) return errors(404, []);
    const path = url.pathname.slice("/v1/".length);
    const namespace = log.namespace;
    let body: Record<string, unknown> = {};
    if (request.method === "POST" || request.method === "PUT") {
      const text = await request.text();
      if (text !== "") {
        try {
          body = JSON.parse(text);
        } catch {
          return errors(400, ["error parsing JSON"]);
        }
      }
    }
    log.fields = Object.keys(body);
    log.body = Object.fromEntries(
      Object.entries(body).filter(([key]) => key !== "csr"),
    );
    const certificate = clientCertificateOf(request);
    if (certificate) log.clientCertificate = certificate.subject;
    const tokenValue = request.headers.get("x-vault-token") ??
      request.headers.get("authorization")?.replace(/^Bearer\s+/i, "") ?? undefined;

    const index = faults.findIndex((f) => !f.pathPrefix || path.startsWith(f.pathPrefix));
    if (index !== -1) {
      const fault = faults[index]!;
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) faults.splice(index, 1);
      if (fault.html !== undefined) {
        return new Response(fault.html, {
          status: fault.status,
          headers: { "content-type": "text/html" },
        });
      }
      const messages = typeof fault.errors === "function"
        ? fault.errors(tokenValue)
        : fault.errors ?? [];
      return errors(fault.status, messages);
    }
    if (options.requireRequestHeader && request.headers.get("x-vault-request") !== "true") {
      return errors(412, ["missing 'X-Vault-Request' header"]);
    }
    if (path === "sys/health" && request.method === "GET") return health();
    if (state.sealed) return errors(503, ["Vault is sealed"]);

    const login = /^auth\/([^/]+(?:\/[^/]+)*)\/login$/.exec(path);
    if (login && request.method === "POST") {
      return await certLogin(namespace, login[1]!, body, certificate);
    }

    // Everything else needs a token.
    if (!tokenValue) return errors(403, ["permission denied"]);
    const token = tokens.get(tokenValue);
    if (!token) {
      log.auth = "unknown-token";
      return errors(403, [INVALID_TOKEN]);
    }
    log.token = token.name;
    if (token.expiresAt !== null && token.expiresAt <= Date.now()) {
      log.auth = "expired-token";
      return errors(403, [INVALID_TOKEN]);
    }
    // A token lives in its namespace: elsewhere Vault does not know it.
    if (token.namespace !== namespace) {
      log.auth = "unknown-token";
      return errors(403, [INVALID_TOKEN]);
    }
    log.auth = "token";
    if (path === "auth/token/lookup-self" && request.method === "GET") return lookupSelf(token);

    const signMatch = /^(.+)\/sign\/([^/]+)$/.exec(path);
    const roleMatch = /^(.+)\/roles\/([^/]+)$/.exec(path);
    if (!allows(token, path)) return errors(403, [PERMISSION_DENIED]);
    if (signMatch && (request.method === "POST" || request.method === "PUT")) {
      const [, mount, role] = signMatch;
      if (!hasMount(namespace, mount!)) return noHandler(path);
      return await sign(roleKey(namespace, mount!, role!), role!, body);
    }
    if (roleMatch && request.method === "GET") {
      const [, mount, role] = roleMatch;
      if (!hasMount(namespace, mount!)) return noHandler(path);
      return readRole(roleKey(namespace, mount!, role!));
    }
    return noHandler(path);
  }

  const roleKey = (namespace: string, mount: string, role: string) =>
    `${namespace}\u0000${mount}\u0000${role}`;
  const hasMount = (namespace: string, mount: string) =>
    [...roles.keys()].some((key) => key.startsWith(`${namespace}\u0000${mount}\u0000`));
  const noHandler = (path: string) =>
    errors(404, [`no handler for route "${path}". route entry not found.`]);

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
  }, async (request) => {
    const url = new URL(request.url);
    const log: VaultRequestLog = {
      at: Date.now(),
      method: request.method,
      path: url.pathname,
      namespace: ns(request.headers.get("x-vault-namespace") ?? undefined),
      status: 0,
      auth: "none",
      vaultRequestHeader: request.headers.get("x-vault-request") === "true",
      fields: [],
    };
    const response = await handle(request, log);
    log.status = response.status;
    requests.push(log);
    return response;
  });
  const port = server.addr.port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    rootPem: root.toString("pem") + "\n",
    issuingPem: signer.certificate.toString("pem") + "\n",
    get sealed() {
      return state.sealed;
    },
    set sealed(value: boolean) {
      state.sealed = value;
    },
    signer,
    addRole(name, role = {}, place = {}) {
      roles.set(roleKey(ns(place.namespace), place.mount ?? "pki", name), role);
    },
    addToken,
    addCertRole(role) {
      certRoles.push(role);
    },
    revoke(name) {
      for (const [value, token] of tokens) if (token.name === name) tokens.delete(value);
    },
    fault(fault) {
      faults.push({ ...fault });
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** The Vault server behind nginx TLS: its URL, the CA that signed nginx's certificate, and the server itself. */
export interface VaultBehindNginx extends AsyncDisposable {
  url: string;
  /** PEM of the CA nginx's server certificate chains to: what `--issuer-ca-file` names. */
  listenerCaPem: string;
  listenerCaFile: string;
  vault: VaultServer;
  errorLog(): Promise<string>;
}

/**
 * Starts the Vault server and nginx in front of it (TLS on a free loopback port, client certificates passed on to
 * cert login), everything under `dir`. Throws when nginx is not installed: tests `ignore:` that case.
 */
export async function startVaultBehindNginx(
  dir: string,
  options: Omit<VaultServerOptions, "trustClientCertificateHeader"> = {},
): Promise<VaultBehindNginx> {
  const nginxPath = findNginx();
  if (!nginxPath) throw new Error("nginx not found (Debian: apt-get install nginx-light)");
  await using stack = new AsyncDisposableStack();
  const vault = stack.use(
    await startVaultServer({ ...options, trustClientCertificateHeader: true }),
  );
  await Deno.mkdir(dir, { recursive: true });
  const listenerCa = await makeCaCertificate("vault listener test CA");
  const server = await makeServerCertificate(listenerCa);
  await Deno.writeTextFile(`${dir}/server.crt`, server.certificatePem);
  await Deno.writeTextFile(`${dir}/server.key`, server.keyPem, { mode: 0o600 });
  const listenerCaPem = listenerCa.certificate.toString("pem") + "\n";
  const listenerCaFile = `${dir}/listener-ca.crt`;
  await Deno.writeTextFile(listenerCaFile, listenerCaPem);
  const nginx = stack.use(
    await startNginx({
      nginxPath,
      dir,
      config: (port) => certificatePassingConfig(dir, port, vault.port),
    }),
  );
  const owned = stack.move();
  return {
    url: nginx.url,
    listenerCaPem,
    listenerCaFile,
    vault,
    errorLog: nginx.errorLog,
    async [Symbol.asyncDispose]() {
      await owned.disposeAsync();
    },
  };
}
