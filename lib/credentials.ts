import { formatDuration } from "./duration.ts";
import { jwtExpiry } from "./jwt.ts";
import { parsePem, type PemBlock, PemError } from "./pem.ts";
import { KEY_LABELS, KeyError, parsePrivateKey, type PrivateKey } from "./private_key.ts";
import { type Certificate, parseCertificate, samePublicKey } from "./x509.ts";
import { DerError } from "./der.ts";

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
  token?: { path: string; value: string; expiry?: Date };
}

/** Why a credential cannot be used (or should be renewed); every message is safe to print. */
export interface Problem {
  kind: "missing" | "unreadable" | "empty" | "malformed" | "mismatch" | "expired" | "expiring";
  message: string;
}

/** The result of reading every configured credential file. */
export interface Reading {
  credentials: Credentials;
  problems: Problem[];
  /** Non-fatal findings for stderr, such as a key file others can read. */
  warnings: string[];
}

/** Reads and parses every configured credential file; never throws for a bad file, it reports a Problem. */
export async function readCredentials(paths: CredentialPaths): Promise<Reading> {
  const reading: Reading = { credentials: {}, problems: [], warnings: [] };
  // Synchronous reads, in a fixed order: three small files on every kubectl call, where each async operation
  // costs a thread hop, and warnings come out in the same order every time.
  const certText = paths.clientCertificatePath &&
    readFile("client certificate", paths.clientCertificatePath, reading, false);
  const keyText = paths.clientKeyPath && readFile("client key", paths.clientKeyPath, reading, true);
  const tokenBytes = paths.tokenPath && readFile("token", paths.tokenPath, reading, true);
  if (paths.tokenPath && tokenBytes) readToken(paths.tokenPath, tokenBytes, reading);
  if (paths.clientCertificatePath && paths.clientKeyPath && certText && keyText) {
    await readCertificateAndKey(
      paths.clientCertificatePath,
      certText,
      paths.clientKeyPath,
      keyText,
      reading,
    );
  }
  return reading;
}

function readFile(
  what: string,
  path: string,
  reading: Reading,
  secret: boolean,
): Uint8Array | undefined {
  try {
    const bytes = Deno.readFileSync(path);
    const info = secret ? Deno.statSync(path) : undefined;
    if (info?.mode != null && (info.mode & 0o077) !== 0) {
      const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
      reading.warnings.push(
        `${what} ${path} can be read by other users (mode ${mode}); fix it with: chmod 600 ${path}`,
      );
    }
    if (!/[^\s]/.test(new TextDecoder().decode(bytes.subarray(0, 4096)))) {
      reading.problems.push({ kind: "empty", message: `${what} ${path} is empty` });
      return undefined;
    }
    return bytes;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      reading.problems.push({ kind: "missing", message: `${what} ${path} does not exist` });
    } else if (
      error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable
    ) {
      reading.problems.push({
        kind: "unreadable",
        message: `${what} ${path} cannot be read: permission denied`,
      });
    } else if (error instanceof Deno.errors.IsADirectory) {
      reading.problems.push({
        kind: "unreadable",
        message: `${what} ${path} is a folder, not a file`,
      });
    } else {
      const reason = error instanceof Error ? error.name : "unknown error";
      reading.problems.push({
        kind: "unreadable",
        message: `${what} ${path} cannot be read (${reason})`,
      });
    }
    return undefined;
  }
}

function readToken(path: string, bytes: Uint8Array, reading: Reading): void {
  let value: string;
  try {
    value = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    reading.problems.push({ kind: "malformed", message: `token ${path} is not UTF-8 text` });
    return;
  }
  value = value.replace(/(\r?\n)+$/, "");
  if (value.trim() === "") {
    reading.problems.push({ kind: "empty", message: `token ${path} holds only white space` });
    return;
  }
  // A token becomes an HTTP header value; Go rejects control characters there with an obscure error.
  if (/[\r\n]/.test(value)) {
    reading.problems.push({ kind: "malformed", message: `token ${path} holds more than one line` });
    return;
  }
  // deno-lint-ignore no-control-regex -- control characters are exactly what this looks for
  const bad = value.search(/[\s\x00-\x1f\x7f]/);
  if (bad !== -1) {
    reading.problems.push({
      kind: "malformed",
      message: `token ${path} contains white space or a control character at position ${bad + 1}`,
    });
    return;
  }
  reading.credentials.token = { path, value, expiry: jwtExpiry(value) };
}

async function readCertificateAndKey(
  certPath: string,
  certBytes: Uint8Array,
  keyPath: string,
  keyBytes: Uint8Array,
  reading: Reading,
): Promise<void> {
  const malformed = (message: string) => reading.problems.push({ kind: "malformed", message });
  let certificates: Certificate[];
  try {
    const blocks = parsePem(new TextDecoder().decode(certBytes)).filter((b) =>
      b.label === "CERTIFICATE"
    );
    if (blocks.length === 0) {
      return void malformed(
        `client certificate ${certPath} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
      );
    }
    certificates = blocks.map((block, index) => {
      try {
        return parseCertificate(block.der);
      } catch (error) {
        if (error instanceof DerError) {
          throw new PemError(`certificate ${index + 1} is malformed (${error.message})`);
        }
        throw error;
      }
    });
  } catch (error) {
    if (error instanceof PemError) {
      return void malformed(`client certificate ${certPath}: ${error.message}`);
    }
    throw error;
  }
  let key: PrivateKey;
  try {
    const blocks = parsePem(new TextDecoder().decode(keyBytes)).filter(isKeyBlock);
    if (blocks.length === 0) {
      return void malformed(
        `client key ${keyPath} holds no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)`,
      );
    }
    if (blocks.length > 1) {
      return void malformed(
        `client key ${keyPath} holds ${blocks.length} private keys; expected one`,
      );
    }
    key = await parsePrivateKey(blocks[0]!);
  } catch (error) {
    if (error instanceof PemError || error instanceof KeyError) {
      return void malformed(`client key ${keyPath}: ${error.message}`);
    }
    throw error;
  }
  // client-go sends the certificates in order and the server takes the first as the leaf, so the one that
  // belongs to the key goes first whatever order the issuer wrote them in.
  const leaf = certificates.findIndex((cert) => samePublicKey(cert.publicKey, key.publicKey));
  if (leaf === -1) {
    reading.problems.push({
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

function isKeyBlock(block: PemBlock): boolean {
  return KEY_LABELS.includes(block.label) || block.label === "ENCRYPTED PRIVATE KEY" ||
    block.label.endsWith("PRIVATE KEY");
}

/** The earliest moment any credential stops working, when known. */
export function earliestExpiry(credentials: Credentials): Date | undefined {
  const times = [credentials.certificate?.chain[0]?.notAfter, credentials.token?.expiry]
    .filter((t): t is Date => t !== undefined);
  if (times.length === 0) return undefined;
  return new Date(Math.min(...times.map((t) => t.getTime())));
}

/** Problems of time: credentials that expired, or expire within the refresh margin. */
export function expiryProblems(credentials: Credentials, now: Date, marginMs: number): Problem[] {
  const problems: Problem[] = [];
  const check = (what: string, path: string, expiry: Date | undefined) => {
    if (!expiry) return;
    const at = formatTimestamp(expiry);
    if (expiry.getTime() <= now.getTime()) {
      problems.push({ kind: "expired", message: `${what} ${path} expired at ${at}` });
    } else if (expiry.getTime() - marginMs <= now.getTime()) {
      problems.push({
        kind: "expiring",
        message: `${what} ${path} expires at ${at}, within the refresh margin of ${
          formatDuration(marginMs)
        }`,
      });
    }
  };
  const leaf = credentials.certificate?.chain[0];
  if (leaf && credentials.certificate) {
    check("client certificate", credentials.certificate.path, leaf.notAfter);
  }
  if (credentials.token) check("token", credentials.token.path, credentials.token.expiry);
  return problems;
}

/** RFC 3339 in UTC without fractions, as Kubernetes writes timestamps. */
export function formatTimestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}
