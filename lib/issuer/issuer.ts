/**
 * The contract between the plugin and the certificate authorities it can ask itself (Vault/OpenBao PKI, step-ca,
 * cfssl): what the flags say about an issuer once every default is resolved, what a driver may use, and what it
 * returns. Loaded only when a certificate must be issued (or by doctor and status): with valid certificates the
 * plugin never imports lib/issuer/.
 */

/** The CAs the broker speaks to. */
export type IssuerName = "vault" | "step-ca" | "cfssl";
export const ISSUER_NAMES: readonly IssuerName[] = ["vault", "step-ca", "cfssl"];

/** The kinds of key the broker makes locally, one new key per certificate. */
export type KeyType = "ec-p256" | "ec-p384" | "rsa-2048" | "ed25519";
export const KEY_TYPES: readonly KeyType[] = ["ec-p256", "ec-p384", "rsa-2048", "ed25519"];
export const DEFAULT_KEY_TYPE: KeyType = "ec-p256";

/** Vault/OpenBao PKI: `POST /v1/<mount>/sign/<role>`, authenticated by a token or by cert login. */
export interface VaultOptions {
  mount: string;
  role: string;
  auth: "token" | "cert";
  authMount: string;
  namespace?: string;
}

/** step-ca: `/1.0/sign` with a one-time token from the command, `/1.0/rekey` (or `/renew`) over mTLS after. */
export interface StepCaOptions {
  tokenCommand?: string;
}

/** cfssl: `/api/v1/cfssl/sign`, or `authsign` with an HMAC key from a file. */
export interface CfsslOptions {
  profile?: string;
  label?: string;
  authKeyFile?: string;
}

/** Everything the flags say about the issuer, defaults resolved (URL, CA file, auth sources named by flags). */
export interface IssuerOptions {
  issuer: IssuerName;
  /** The CA's base URL, without a trailing slash. */
  url: string;
  /** PEM bundle trusted for the issuer's TLS; the operating system's trust store when absent. */
  caFile?: string;
  commonName?: string;
  altNames: readonly string[];
  ttlMs?: number;
  keyType: KeyType;
  vault?: VaultOptions;
  step?: StepCaOptions;
  cfssl?: CfsslOptions;
}

/** The certificate and key in hand while still valid: what mTLS renewals (Vault cert login, step-ca rekey) use. */
export interface CurrentCredentials {
  certificatePem: string;
  keyPem: string;
}

/**
 * One HTTP exchange with the issuer, JSON in and out. lib/issuer/http.ts makes the real one for `options.url`: it
 * trusts `options.caFile` (or the OS store), presents `clientCertificate` for mTLS, honours the deadline, reads
 * answers up to a size limit, retries 412/429/503 once, follows redirects only to https on the same host, and
 * throws an IssuerError for what no driver can interpret (TLS trust naming --issuer-ca-file, refused connection,
 * timeout). Statuses >= 400 come back as answers: each driver reads its CA's error shape.
 */
export interface IssuerRequest {
  method: "GET" | "POST";
  /** Appended to the issuer URL: "/v1/pki/sign/dev". */
  path: string;
  headers?: Readonly<Record<string, string>>;
  /** Sent as JSON when present. */
  body?: unknown;
  clientCertificate?: CurrentCredentials;
}

/** An answer: its status and its body parsed as JSON (undefined when it is not JSON: an HTML page of a proxy). */
export interface IssuerAnswer {
  status: number;
  body: unknown;
}

/** Sends one request to the issuer (see IssuerRequest). */
export type IssuerFetch = (request: IssuerRequest) => Promise<IssuerAnswer>;

/**
 * Runs a helper command (Vault's token_helper with `get`, step-ca's --step-token-command) under the deadline and
 * returns its stdout; its stderr goes to the user's. With `interactive` it gets the terminal, so it can prompt.
 */
export type RunForOutput = (
  argv: readonly string[],
  options: { interactive: boolean },
) => Promise<string>;

/** What a driver may touch: no globals, so every driver runs in-process in tests. */
export interface IssuerContext {
  fetch: IssuerFetch;
  runForOutput: RunForOutput;
  env(name: string): string | undefined;
  home(): string | undefined;
  now(): Date;
  /** Epoch milliseconds by which the whole issuance must end: --before-exec-timeout bounds all of it. */
  deadline: number;
  /** Whether the terminal was handed to the broker: a token command or token helper may prompt. */
  interactive: boolean;
  stderr(text: string): Promise<void>;
  /** Present only while the current certificate is valid and matches its key. */
  current?: CurrentCredentials;
}

/** Makes a PKCS#10 CSR (PEM) for the new local key with this subject; the key itself never leaves the broker. */
export type CsrMaker = (
  subject: { commonName?: string; altNames: readonly string[] },
) => Promise<string>;

/** What a driver got: PEM certificates leaf first, then the chain; and which key the leaf certifies. */
export interface Issued {
  chain: string[];
  /** "new": the key the CSR was made for; "current": the key in hand (step-ca /renew keeps it). */
  key: "new" | "current";
}

/** One finding of `doctor` about an issuer: it answers, its TLS is trusted, the token is valid, the role exists. */
export interface IssuerCheck {
  title: string;
  ok: boolean;
  /** One line, never a secret. */
  detail: string;
  hint?: string;
}

/** One CA's client. */
export interface IssuerDriver {
  /** Gets one certificate; throws IssuerError (exit 3) with the CA's own message and a hint. */
  issue(options: IssuerOptions, csr: CsrMaker, context: IssuerContext): Promise<Issued>;
  /** doctor's checks, without issuing anything. */
  check(options: IssuerOptions, context: IssuerContext): Promise<IssuerCheck[]>;
}
