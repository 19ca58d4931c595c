/**
 * The one home of credential reading and judging, for the plugin and for `doctor` alike: the files, the token
 * rules, the certificate and key pair, and the time rules. Longer than 400 lines on purpose: split, the rules
 * that must agree (what counts as empty, which block is the key, the leaf) would drift apart again.
 */
import { formatDuration, formatTimestamp } from "../shared/duration.ts";
import { jwtTimes } from "./jwt.ts";
import { decodePem, type PemBlock, type PemError } from "./pem.ts";
import { hasPosixPermissions, HOST_OS, type Os } from "../shared/platform.ts";
import { KEY_LABELS, KeyError, parsePrivateKey, type PrivateKey } from "./private_key.ts";
import { CREDENTIAL_FILE_LIMIT, FileReadError, readRegularFileSync } from "../shared/read_file.ts";
import { type Certificate, parseCertificate, samePublicKey } from "./x509.ts";
import { decodeText, DerError, isAscii } from "./der.ts";

/** Where the credentials live, as absolute paths. */
export interface CredentialPaths {
  clientCertificatePath?: string;
  clientKeyPath?: string;
  tokenPath?: string;
}

/** A certificate file read and matched with its key: the leaf first, then the rest of the chain in file order. */
export interface CertificateChain {
  path: string;
  chain: Certificate[];
}

/** The credentials as read, whatever problems were found with some of them. */
export interface Credentials {
  certificate?: CertificateChain;
  key?: { path: string; key: PrivateKey };
  /** The times are a JWT's `exp`, `nbf` and `iat`, when it is one. */
  token?: { path: string; value: string; expiry?: Date; notBefore?: Date; issuedAt?: Date };
}

/** The credential files the plugin reads, as its messages name them. */
export type CredentialFile = "client certificate" | "client key" | "token";

/** Why a credential cannot be used (or should be renewed); every message is safe to print. */
export interface Problem {
  /** The file it is about (for a key that does not match its certificate: the key). */
  about: CredentialFile;
  path: string;
  kind:
    | "missing"
    | "unreadable"
    | "empty"
    | "malformed"
    | "mismatch"
    | "not-yet-valid"
    | "expired"
    | "expiring";
  /** `<about> <path> ...`: the whole sentence. */
  message: string;
}

/**
 * What was learned of one configured file on the way, whatever became of it: `doctor` explains the verdict from
 * these facts instead of reading and parsing again. Nothing here costs the plugin more than it does anyway.
 */
export interface FileReading {
  path: string;
  /** The content was read (whether or not it parses). */
  read: boolean;
  /** Permission bits, when they were looked at (key and token files, where modes mean something). */
  mode?: number;
  /** Every certificate of the file, in file order, when all of them parsed. */
  certificates?: Certificate[];
  /** The key's type ("EC P-256", "RSA"...), when it parsed. */
  keyType?: string;
}

/** The result of reading every configured credential file. */
export interface Reading {
  credentials: Credentials;
  problems: Problem[];
  /** Non-fatal findings for stderr, such as a key file others can read. */
  warnings: string[];
  /** Each configured file, by what it holds. */
  files: Partial<Record<CredentialFile, FileReading>>;
}

/** Reads and parses every configured credential file; never throws for a bad file, it reports a Problem. */
export async function readCredentials(paths: CredentialPaths): Promise<Reading> {
  const reading: Reading = { credentials: {}, problems: [], warnings: [], files: {} };
  // Synchronous reads, in a fixed order: three small files on every kubectl call, where each async operation
  // costs a thread hop, and warnings come out in the same order every time.
  const certText = paths.clientCertificatePath &&
    readFile("client certificate", paths.clientCertificatePath, reading, false);
  const keyText = paths.clientKeyPath && readFile("client key", paths.clientKeyPath, reading, true);
  const tokenBytes = paths.tokenPath && readFile("token", paths.tokenPath, reading, true);
  if (paths.tokenPath && tokenBytes) readToken(paths.tokenPath, tokenBytes, reading);
  // Each file is parsed even when the other is unusable, so every problem is reported at once; a good pair costs
  // what it always did.
  const certificates = paths.clientCertificatePath && certText
    ? readCertificates(paths.clientCertificatePath, certText, reading)
    : undefined;
  const key = paths.clientKeyPath && keyText
    ? await readKey(paths.clientKeyPath, keyText, reading)
    : undefined;
  if (certificates && key) matchKey(certificates, key, reading);
  return reading;
}

function readFile(
  what: CredentialFile,
  path: string,
  reading: Reading,
  secret: boolean,
): Uint8Array | undefined {
  const file: FileReading = { path, read: false };
  reading.files[what] = file;
  let bytes: Uint8Array;
  try {
    // Only a regular file, up to a limit: a FIFO would block (while the renewal lock is held) and /dev/zero would
    // grow memory without end.
    bytes = readRegularFileSync(path, CREDENTIAL_FILE_LIMIT);
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    reading.problems.push({
      about: what,
      path,
      kind: error.kind === "missing" ? "missing" : "unreadable",
      message: `${what} ${path} ${error.message}`,
    });
    return undefined;
  }
  file.read = true;
  if (secret && hasPosixPermissions(HOST_OS)) {
    let mode: number | null = null;
    try {
      mode = Deno.statSync(path).mode;
    } catch {
      // Gone since the read: the content is what counts.
    }
    if (mode !== null) file.mode = mode;
    const warning = permissionWarning(what, path, mode, HOST_OS);
    if (warning) reading.warnings.push(warning);
  }
  if (isBlank(bytes)) {
    reading.problems.push({
      about: what,
      path,
      kind: "empty",
      message: `${what} ${path} is empty`,
    });
    return undefined;
  }
  return bytes;
}

/**
 * The warning for a key or token file that others can read, if any. Only where modes mean something: on Windows
 * `mode` is null and ACLs protect files (the user's profile folder is private by default).
 */
export function permissionWarning(
  what: string,
  path: string,
  mode: number | null,
  os: Os,
): string | undefined {
  if (!hasPosixPermissions(os) || mode === null || (mode & 0o077) === 0) return undefined;
  const octal = (mode & 0o777).toString(8).padStart(4, "0");
  return `${what} ${path} can be read by other users (mode ${octal}); fix it with: chmod 600 ${path}`;
}

/** Whether a file holds nothing but ASCII white space, however much of it (the whole file is looked at). */
function isBlank(bytes: Uint8Array): boolean {
  for (const byte of bytes) {
    if (byte !== 0x20 && (byte < 0x09 || byte > 0x0d)) return false;
  }
  return true;
}

function readToken(path: string, bytes: Uint8Array, reading: Reading): void {
  const problem = (kind: Problem["kind"], why: string) =>
    reading.problems.push({ about: "token", path, kind, message: `token ${path} ${why}` });
  let text: string;
  try {
    text = isAscii(bytes)
      ? decodeText(bytes)
      : new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    problem("malformed", "is not UTF-8 text");
    return;
  }
  // client-go reads a tokenFile with strings.TrimSpace: all surrounding white space goes, not just a newline.
  const value = goTrimSpace(text);
  if (value === "") {
    problem("empty", "holds only white space");
    return;
  }
  // A token becomes an HTTP header value; Go rejects control characters there with an obscure error.
  if (value.includes("\r") || value.includes("\n")) {
    problem("malformed", "holds more than one line");
    return;
  }
  const bad = spaceOrControlAt(value);
  if (bad !== -1) {
    problem("malformed", `contains white space or a control character at position ${bad + 1}`);
    return;
  }
  reading.credentials.token = { path, value, ...jwtTimes(value) };
}

/**
 * Where `text` first holds white space as JavaScript's `\s` counts it, or a control character (U+0000 to U+001F,
 * U+007F); -1 when nowhere. A loop, not `search(/[\s\x00-\x1f\x7f]/)`: a valid call runs no regular expression.
 */
export function spaceOrControlAt(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (
      code <= 0x20 || code === 0x7f || code === 0xa0 || code === 0x1680 ||
      (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 || code === 0x202f ||
      code === 0x205f || code === 0x3000 || code === 0xfeff
    ) {
      return i;
    }
  }
  return -1;
}

/**
 * Go's strings.TrimSpace: Unicode white space as Go's unicode.IsSpace counts it, which is not
 * String.prototype.trim's (Go trims U+0085 and keeps U+FEFF; JavaScript does the opposite). A loop, not a
 * regular expression: `\s+$` backtracks quadratically over a long run of inner spaces.
 */
export function goTrimSpace(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isGoSpace(text.charCodeAt(start))) start++;
  while (end > start && isGoSpace(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

function isGoSpace(code: number): boolean {
  return (code >= 0x09 && code <= 0x0d) || code === 0x20 || code === 0x85 || code === 0xa0 ||
    code === 0x1680 || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 ||
    code === 0x202f || code === 0x205f || code === 0x3000;
}

/** The certificates of a file, in file order, or undefined after a Problem. */
function readCertificates(
  certPath: string,
  certBytes: Uint8Array,
  reading: Reading,
): Certificate[] | undefined {
  const malformed = (message: string) =>
    void reading.problems.push({
      about: "client certificate",
      path: certPath,
      kind: "malformed",
      message: `client certificate ${certPath}${message}`,
    });
  // Blocks are found as Go's pem.Decode finds them; a broken one is skipped, as client-go skips it, and only
  // explains the failure when nothing usable is left.
  const certPem = decodePem(decodeText(certBytes));
  const blocks = certPem.blocks.filter((b) => b.label === "CERTIFICATE");
  if (blocks.length === 0) {
    return malformed(
      ` ${
        skippedReason(certPem.skipped) ?? "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
      }`,
    );
  }
  const certificates: Certificate[] = [];
  for (const [index, block] of blocks.entries()) {
    try {
      certificates.push(parseCertificate(block.der));
    } catch (error) {
      if (!(error instanceof DerError)) throw error;
      return malformed(`: certificate ${index + 1} is malformed (${error.message})`);
    }
  }
  reading.files["client certificate"]!.certificates = certificates;
  return certificates;
}

/** The one private key of a file, or undefined after a Problem. */
async function readKey(
  keyPath: string,
  keyBytes: Uint8Array,
  reading: Reading,
): Promise<PrivateKey | undefined> {
  const malformed = (message: string) =>
    void reading.problems.push({
      about: "client key",
      path: keyPath,
      kind: "malformed",
      message: `client key ${keyPath}${message}`,
    });
  const keyPem = decodePem(decodeText(keyBytes));
  const keyBlocks = keyPem.blocks.filter(isKeyBlock);
  if (keyBlocks.length === 0) {
    return malformed(
      ` ${
        skippedReason(keyPem.skipped) ??
          "holds no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
      }`,
    );
  }
  if (keyBlocks.length > 1) {
    return malformed(` holds ${keyBlocks.length} private keys; expected one`);
  }
  let key: PrivateKey;
  try {
    // The public half is derived from the private parts, never taken from the file: a key must be the one its
    // certificate names, whatever public key it carries.
    key = await parsePrivateKey(keyBlocks[0]!);
  } catch (error) {
    if (error instanceof KeyError) return malformed(`: ${error.message}`);
    throw error;
  }
  reading.files["client key"]!.keyType = key.type;
  return key;
}

function matchKey(certificates: Certificate[], key: PrivateKey, reading: Reading): void {
  const certPath = reading.files["client certificate"]!.path;
  const keyPath = reading.files["client key"]!.path;
  // client-go sends the certificates in order and the server takes the first as the leaf, so the one that
  // belongs to the key goes first whatever order the issuer wrote them in.
  const leaf = certificates.findIndex((cert) => samePublicKey(cert.publicKey, key.publicKey));
  if (leaf === -1) {
    reading.problems.push({
      about: "client key",
      path: keyPath,
      kind: "mismatch",
      message: `client key ${keyPath} (${key.type}) does not match ${
        certificates.length === 1
          ? "the certificate"
          : `any of the ${certificates.length} certificates`
      } in ${certPath}`,
    });
    return;
  }
  const chain = [certificates[leaf]!, ...certificates.filter((_, i) => i !== leaf)];
  reading.credentials.certificate = { path: certPath, chain };
  reading.credentials.key = { path: keyPath, key };
}

function skippedReason(skipped: PemError[]): string | undefined {
  return skipped[0] && `: ${skipped[0].message}`;
}

function isKeyBlock(block: PemBlock): boolean {
  return KEY_LABELS.includes(block.label) || block.label === "ENCRYPTED PRIVATE KEY" ||
    block.label.endsWith("PRIVATE KEY");
}

/** Whether a reading can be answered with as it is: nothing wrong, nothing inside the refresh margin. */
export function isUsable(reading: Reading, now: Date, marginMs: number): boolean {
  return reading.problems.length === 0 &&
    expiryProblems(reading.credentials, now, marginMs).length === 0;
}

/** The earliest moment any credential stops working, when known. */
export function earliestExpiry(credentials: Credentials): Date | undefined {
  const times = [credentials.certificate?.chain[0]?.notAfter, credentials.token?.expiry]
    .filter((t): t is Date => t !== undefined);
  if (times.length === 0) return undefined;
  return new Date(Math.min(...times.map((t) => t.getTime())));
}

/** One credential's window of validity, as far as it is known. */
export interface Validity {
  what: "client certificate" | "token";
  path: string;
  notBefore?: Date;
  expiry?: Date;
  /** The whole lifetime: NotAfter - NotBefore, or a JWT's exp - iat (exp - nbf without iat). */
  lifetimeMs?: number;
}

/** Each credential's validity period, for decisions made on all of them (margin, renewal ahead of time). */
export function validities(credentials: Credentials): Validity[] {
  const out: Validity[] = [];
  const leaf = credentials.certificate?.chain[0];
  if (leaf && credentials.certificate) {
    out.push({
      what: "client certificate",
      path: credentials.certificate.path,
      notBefore: leaf.notBefore,
      expiry: leaf.notAfter,
      lifetimeMs: leaf.notAfter.getTime() - leaf.notBefore.getTime(),
    });
  }
  const token = credentials.token;
  if (token) {
    const start = token.issuedAt ?? token.notBefore;
    out.push({
      what: "token",
      path: token.path,
      notBefore: token.notBefore,
      expiry: token.expiry,
      lifetimeMs: token.expiry && start && token.expiry.getTime() - start.getTime(),
    });
  }
  return out;
}

/**
 * The refresh margin for a credential that lives `lifetimeMs` in all: the configured margin, but never more than
 * a third of the lifetime. A renewal that issues 60 s certificates under the default 1m margin would otherwise
 * hand out credentials that are "expiring" the moment they exist, and every call would renew and fail.
 */
export function effectiveMarginMs(lifetimeMs: number | undefined, marginMs: number): number {
  if (lifetimeMs === undefined || !(lifetimeMs > 0)) return marginMs;
  return Math.min(marginMs, Math.floor(lifetimeMs / 3));
}

/**
 * Problems of time: credentials not valid yet (NotBefore, a JWT's nbf: usually a clock that is wrong here or at
 * the issuer), expired, or expiring within their effective refresh margin.
 */
export function expiryProblems(credentials: Credentials, now: Date, marginMs: number): Problem[] {
  const problems: Problem[] = [];
  for (const { what, path, notBefore, expiry, lifetimeMs } of validities(credentials)) {
    if (notBefore && notBefore.getTime() > now.getTime()) {
      problems.push({
        about: what,
        path,
        kind: "not-yet-valid",
        message: `${what} ${path} is not valid before ${formatTimestamp(notBefore)} (${
          formatDuration(roundToSecond(notBefore.getTime() - now.getTime()))
        } from now by this machine's clock); if it was just issued, check the clock here and at the issuer`,
      });
      continue;
    }
    if (!expiry) continue;
    // Formatted only for a problem: a valid call (every kubectl call) asks this twice and formats nothing.
    const at = () => formatTimestamp(expiry);
    const margin = effectiveMarginMs(lifetimeMs, marginMs);
    if (expiry.getTime() <= now.getTime()) {
      problems.push({
        about: what,
        path,
        kind: "expired",
        message: `${what} ${path} expired at ${at()}`,
      });
    } else if (expiry.getTime() - margin <= now.getTime()) {
      const lifetime = lifetimeMs !== undefined && lifetimeMs > 0
        ? ` (its whole lifetime is ${formatDuration(roundToSecond(lifetimeMs))})`
        : "";
      problems.push({
        about: what,
        path,
        kind: "expiring",
        message: `${what} ${path} expires at ${at()}, within the refresh margin of ${
          formatDuration(margin)
        }${lifetime}`,
      });
    }
  }
  return problems;
}

/**
 * The expirationTimestamp to give kubectl: when the first credential reaches its effective refresh margin, so a
 * long-lived client asks again while there is still time to renew; a credential already inside its margin counts
 * with its real expiry.
 */
export function refreshAt(credentials: Credentials, now: Date, marginMs: number): Date | undefined {
  let earliest: number | undefined;
  for (const { expiry, lifetimeMs } of validities(credentials)) {
    if (!expiry) continue;
    const early = expiry.getTime() - effectiveMarginMs(lifetimeMs, marginMs);
    const at = early > now.getTime() ? early : expiry.getTime();
    if (earliest === undefined || at < earliest) earliest = at;
  }
  return earliest === undefined ? undefined : new Date(earliest);
}

function roundToSecond(ms: number): number {
  return Math.max(1000, Math.round(ms / 1000) * 1000);
}
