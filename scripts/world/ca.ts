/**
 * Throwaway certificate authorities made in TypeScript, so that they work wherever Deno does (Windows too, where
 * there is no openssl): keys from WebCrypto, certificates written as DER with lib/credentials/der.ts's encoders and
 * signed through node:crypto, with exact validity dates (in the past for expired ones). One set for the unit tests
 * (tests/helpers.ts re-exports them), the e2e world, the renewal scripts, the demo and the benchmarks. What they
 * write is what `openssl req -x509` and `openssl ca` wrote before (same names, extensions and key forms), and
 * tests/ca_test.ts checks it against node:crypto and, where it is installed, openssl.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign } from "node:crypto";
import {
  children,
  encoded,
  encodeNode,
  encodeOid,
  readRoot,
  TAG,
} from "../../lib/credentials/der.ts";
import { basename, dirname, HOST_OS, joinPath, resolvePath } from "../../lib/shared/platform.ts";
import { runChecked, toolEnv } from "./process.ts";
import { runFolder } from "./temp_dir.ts";

/** Runs openssl in `cwd`, throwing with its stderr when it fails (for tests of openssl itself: Linux only). */
export async function openssl(args: readonly string[], cwd?: string): Promise<void> {
  await runChecked("openssl", args, { cwd, env: toolEnv() });
}

/** Formats a date the way `openssl ca -startdate/-enddate` takes it (GeneralizedTime, UTC, whole seconds). */
export function opensslTime(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, "").replace(/\.\d+Z$/, "Z");
}

export type KeyType = "rsa" | "ec" | "ed25519";
/** The EC curves a key may be on (P-256 unless asked). */
export type Curve = "P-256" | "P-384" | "P-521";

const CURVE_OIDS: Record<Curve, string> = {
  "P-256": "1.2.840.10045.3.1.7",
  "P-384": "1.3.132.0.34",
  "P-521": "1.3.132.0.35",
};

/** A private key as PKCS#8 DER, made by WebCrypto. */
async function newKey(type: KeyType, curve: Curve = "P-256"): Promise<Uint8Array> {
  const algorithm = type === "rsa"
    ? {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    }
    : type === "ec"
    ? { name: "ECDSA", namedCurve: curve }
    : { name: "Ed25519" };
  const pair = await crypto.subtle.generateKey(algorithm, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  return new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
}

/** PEM text of `der` under `label`, 64 columns, as openssl writes it. */
export function pem(label: string, der: Uint8Array): string {
  const lines = der.toBase64().match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/**
 * How many RSA keys this test file has asked for. A 2048-bit RSA key takes 0.1-1 s of CPU (a few ms for EC or
 * Ed25519), and the unit tests ask for about twenty: the n-th RSA key a test file asks for is the n-th of the run,
 * so the keys of one test file always differ, and each run makes keys of its own. Within scripts/test.ts the test
 * files share them through the run folder; otherwise each test file makes its own.
 */
let rsaKeysAsked = 0;

/** The n-th RSA key of the run (PKCS#8 DER), made by the first test file that asks for it. */
async function sharedRsaKey(n: number): Promise<Uint8Array> {
  const run = runFolder();
  if (!run) return await newKey("rsa");
  const dir = joinPath(run, "keys", HOST_OS);
  const path = joinPath(dir, `rsa-${n}.der`, HOST_OS);
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.mkdir(dir, { recursive: true });
  const der = await newKey("rsa");
  // Written aside and renamed into place: another test file may do the same meanwhile, and either key serves.
  const aside = await Deno.makeTempFile({ dir, prefix: `rsa-${n}-` });
  await Deno.writeFile(aside, der);
  try {
    await Deno.rename(aside, path);
  } catch {
    // Windows refuses to replace a file another process has open: the other key is as good.
    await Deno.remove(aside).catch(() => {});
  }
  return await Deno.readFile(path).catch(() => der);
}

/**
 * Generates a private key file (PKCS#8 PEM, mode 0600) of the given type as `dir/name`; returns its path. EC keys
 * are on P-256 unless `curve` says otherwise.
 */
export async function generateKey(
  dir: string,
  name: string,
  type: KeyType,
  curve?: Curve,
): Promise<string> {
  const path = joinPath(dir, name, HOST_OS);
  const der = type === "rsa" ? await sharedRsaKey(rsaKeysAsked++) : await newKey(type, curve);
  await Deno.writeTextFile(path, pem("PRIVATE KEY", der), { mode: 0o600 });
  await Deno.chmod(path, 0o600);
  return path;
}

/** The other encodings of a key, as `openssl rsa -traditional`, `openssl ec` (-no_public) and `openssl pkcs8`. */
export type KeyForm = "pkcs8" | "pkcs1" | "sec1" | "sec1-no-public";

/** The DER of the key in `keyPath` (any PEM form node:crypto reads) in another form. */
export function keyDer(keyPath: string, form: KeyForm): Uint8Array {
  const key = createPrivateKey(Deno.readTextFileSync(keyPath));
  if (form === "sec1-no-public") {
    // SEQUENCE { version, privateKey, [0] parameters, [1] publicKey }: without the last one.
    const sec1 = key.export({ type: "sec1", format: "der" });
    const parts = children(readRoot(new Uint8Array(sec1))).filter((node) => node.tag !== 0xa1);
    return encodeNode(TAG.sequence, ...parts.map(encoded));
  }
  return new Uint8Array(key.export({ type: form, format: "der" }));
}

/** The PEM label each key form is written under. */
export const KEY_FORM_LABELS: Record<KeyForm, string> = {
  pkcs8: "PRIVATE KEY",
  pkcs1: "RSA PRIVATE KEY",
  sec1: "EC PRIVATE KEY",
  "sec1-no-public": "EC PRIVATE KEY",
};

/** Writes the key in `keyPath` in another form as `out` (mode 0600); returns `out`. */
export function writeKeyForm(keyPath: string, form: KeyForm, out: string): string {
  Deno.writeTextFileSync(out, pem(KEY_FORM_LABELS[form], keyDer(keyPath, form)), { mode: 0o600 });
  return out;
}

/** `-----BEGIN EC PARAMETERS-----` for a curve, the block `openssl ecparam` writes before a SEC1 key. */
export function ecParameters(curve: Curve = "P-256"): string {
  return pem("EC PARAMETERS", encodeOid(CURVE_OIDS[curve]));
}

/** A CA's certificate and key files. */
export interface CaFiles {
  cert: string;
  key: string;
}

// ---------------------------------------------------------------------------------------------------------------
// X.509 in DER (RFC 5280).

const sequence = (...parts: Uint8Array[]) => encodeNode(TAG.sequence, ...parts);
const explicit = (n: number, inner: Uint8Array) => encodeNode(0xa0 + n, inner);
const bitString = (bytes: Uint8Array, unused = 0) =>
  encodeNode(TAG.bitString, new Uint8Array([unused]), bytes);
const octetString = (bytes: Uint8Array) => encodeNode(TAG.octetString, bytes);
const BOOLEAN_TRUE = new Uint8Array([0x01, 0x01, 0xff]);
const ASCII = new TextEncoder();

/** The attribute names a subject such as `/O=dev/CN=alice` may use. */
const NAME_OIDS: Record<string, string> = {
  CN: "2.5.4.3",
  C: "2.5.4.6",
  L: "2.5.4.7",
  ST: "2.5.4.8",
  O: "2.5.4.10",
  OU: "2.5.4.11",
};

/**
 * A Name from openssl's `/K=V/K=V` form, attributes in the order given (`openssl ca -preserveDN`), each in a set of
 * its own, as UTF8String (openssl's default `string_mask = utf8only`; countryName stays PrintableString).
 */
export function encodeName(subject: string): Uint8Array {
  const parts = subject.split("/").filter(Boolean);
  return sequence(...parts.map((part) => {
    const at = part.indexOf("=");
    const type = NAME_OIDS[part.slice(0, at)];
    if (at < 0 || !type) throw new Error(`unsupported subject attribute ${part} in ${subject}`);
    const value = ASCII.encode(part.slice(at + 1));
    const tag = type === NAME_OIDS.C ? TAG.printableString : TAG.utf8String;
    return encodeNode(TAG.set, sequence(encodeOid(type), encodeNode(tag, value)));
  }));
}

/** UTCTime until 2049, GeneralizedTime after (RFC 5280 4.1.2.5), whole seconds. */
function encodeTime(date: Date): Uint8Array {
  const stamp = opensslTime(date);
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050
    ? encodeNode(TAG.utcTime, ASCII.encode(stamp.slice(2)))
    : encodeNode(TAG.generalizedTime, ASCII.encode(stamp));
}

/** A positive 16-byte serial number, as `rand_serial` gives. */
function serialNumber(): Uint8Array {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return encodeNode(TAG.integer, bytes);
}

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return sequence(encodeOid(oid), ...(critical ? [BOOLEAN_TRUE] : []), octetString(value));
}

/** The signature algorithm a CA key signs with, and how node:crypto is asked for it. */
function signatureAlgorithm(key: KeyObject): { algorithm: Uint8Array; hash: string | null } {
  switch (key.asymmetricKeyType) {
    case "rsa":
      return {
        algorithm: sequence(encodeOid("1.2.840.113549.1.1.11"), encodeNode(TAG.null)),
        hash: "sha256",
      };
    case "ec": {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const [oid, hash] = curve === "secp384r1" || curve === "P-384"
        ? ["1.2.840.10045.4.3.3", "sha384"]
        : curve === "secp521r1" || curve === "P-521"
        ? ["1.2.840.10045.4.3.4", "sha512"]
        : ["1.2.840.10045.4.3.2", "sha256"];
      return { algorithm: sequence(encodeOid(oid)), hash };
    }
    case "ed25519":
      return { algorithm: sequence(encodeOid("1.3.101.112")), hash: null };
    default:
      throw new Error(`cannot sign with a ${key.asymmetricKeyType} CA key`);
  }
}

/** The SubjectPublicKeyInfo of a private key file (any PEM form). */
function publicKeyInfo(keyPath: string): Uint8Array {
  const key = createPrivateKey(Deno.readTextFileSync(keyPath));
  return new Uint8Array(createPublicKey(key).export({ type: "spki", format: "der" }));
}

/** SHA-1 of the subjectPublicKey bits: the key identifier openssl puts in SKI and AKI. */
async function keyIdentifier(spki: Uint8Array): Promise<Uint8Array> {
  const bits = children(readRoot(spki))[1]!;
  const key = bits.bytes.slice(bits.start + 1, bits.end);
  return new Uint8Array(await crypto.subtle.digest("SHA-1", key));
}

/** The subject Name (DER) and public key info of a certificate file. */
function certificateParts(certPath: string): { subject: Uint8Array; spki: Uint8Array } {
  const text = Deno.readTextFileSync(certPath);
  const body = /-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/.exec(text)?.[1];
  if (!body) throw new Error(`${certPath} holds no certificate`);
  const der = Uint8Array.fromBase64(body.replace(/\s+/g, ""));
  const fields = children(children(readRoot(der))[0]!);
  // [0] version (v3 only), serial, signature, issuer, validity, subject, subjectPublicKeyInfo, ...
  const at = fields[0]!.tag === 0xa0 ? 1 : 0;
  return { subject: encoded(fields[at + 4]!), spki: encoded(fields[at + 5]!) };
}

export type Extensions = "ca" | "client_cert" | "server_cert";

/** A signed certificate (DER): v3 with `extensions`, v1 without (as `openssl ca` writes one without any). */
async function signCertificate(options: {
  issuer: Uint8Array;
  issuerSpki: Uint8Array;
  issuerKey: KeyObject;
  subject: Uint8Array;
  spki: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  extensions?: Extensions;
}): Promise<Uint8Array> {
  const { algorithm, hash } = signatureAlgorithm(options.issuerKey);
  const exts: Uint8Array[] = [];
  const ski = await keyIdentifier(options.spki);
  const aki = sequence(encodeNode(0x80, await keyIdentifier(options.issuerSpki)));
  switch (options.extensions) {
    case "ca":
      exts.push(
        extension("2.5.29.19", true, sequence(BOOLEAN_TRUE)),
        // keyCertSign (bit 5) and cRLSign (bit 6).
        extension("2.5.29.15", true, bitString(new Uint8Array([0x06]), 1)),
        extension("2.5.29.14", false, octetString(ski)),
      );
      break;
    case "client_cert":
    case "server_cert":
      exts.push(
        extension("2.5.29.19", true, sequence()),
        // digitalSignature (bit 0).
        extension("2.5.29.15", true, bitString(new Uint8Array([0x80]), 7)),
        extension(
          "2.5.29.37",
          false,
          sequence(encodeOid(
            options.extensions === "client_cert" ? "1.3.6.1.5.5.7.3.2" : "1.3.6.1.5.5.7.3.1",
          )),
        ),
      );
      if (options.extensions === "server_cert") {
        exts.push(extension(
          "2.5.29.17",
          false,
          sequence(
            encodeNode(0x87, new Uint8Array([127, 0, 0, 1])),
            encodeNode(0x82, ASCII.encode("localhost")),
          ),
        ));
      }
      exts.push(extension("2.5.29.35", false, aki));
      break;
  }
  const tbs = sequence(
    ...(exts.length > 0 ? [explicit(0, encodeNode(TAG.integer, new Uint8Array([2])))] : []),
    serialNumber(),
    algorithm,
    options.issuer,
    sequence(encodeTime(options.notBefore), encodeTime(options.notAfter)),
    options.subject,
    options.spki,
    ...(exts.length > 0 ? [explicit(3, sequence(...exts))] : []),
  );
  const signature = sign(hash, tbs, options.issuerKey);
  return sequence(tbs, algorithm, bitString(new Uint8Array(signature)));
}

/** A throwaway CA (EC P-256, valid two days) in `dir`: `name`.key and `name`.crt. */
export async function makeCa(
  dir: string,
  name = "ca",
  commonName = `test ${name}`,
): Promise<CaFiles> {
  await Deno.mkdir(dir, { recursive: true });
  const key = await generateKey(dir, `${name}.key`, "ec");
  const issuerKey = createPrivateKey(Deno.readTextFileSync(key));
  const spki = publicKeyInfo(key);
  const subject = encodeName(`/CN=${commonName}`);
  const now = Date.now();
  const der = await signCertificate({
    issuer: subject,
    issuerSpki: spki,
    issuerKey,
    subject,
    spki,
    notBefore: new Date(now),
    notAfter: new Date(now + 2 * 86_400_000),
    extensions: "ca",
  });
  const cert = joinPath(dir, `${name}.crt`, HOST_OS);
  await Deno.writeTextFile(cert, pem("CERTIFICATE", der));
  return { cert, key };
}

/**
 * Issues a certificate for `keyPath` (any PEM key form) from the CA, valid from `notBefore` (an hour ago by
 * default) to `notAfter` (which may be in the past), to the second. Without `extensions` the certificate is a v1
 * one with none (the unit tests' plain client certificate, as `openssl ca` made it).
 */
export async function issueCert(options: {
  dir: string;
  ca: CaFiles;
  keyPath: string;
  /** Where the certificate goes, relative to `dir` or absolute. */
  out: string;
  subject?: string;
  notBefore?: Date;
  notAfter: Date;
  extensions?: "client_cert" | "server_cert";
}): Promise<string> {
  const issuer = certificateParts(options.ca.cert);
  const der = await signCertificate({
    issuer: issuer.subject,
    issuerSpki: issuer.spki,
    issuerKey: createPrivateKey(await Deno.readTextFile(options.ca.key)),
    subject: encodeName(options.subject ?? "/CN=alice/O=dev"),
    spki: publicKeyInfo(options.keyPath),
    notBefore: options.notBefore ?? new Date(Date.now() - 3600_000),
    notAfter: options.notAfter,
    extensions: options.extensions,
  });
  const out = resolvePath(options.out, options.dir, HOST_OS);
  // Written aside and renamed: a reader (the broker under test) never sees half a certificate.
  const aside = `${out}.${crypto.randomUUID()}.part`;
  await Deno.writeTextFile(aside, pem("CERTIFICATE", der));
  await Deno.rename(aside, out);
  return out;
}

/**
 * The usual test credentials in `dir`: a CA, client.key (`type`, EC by default), client.crt for it valid until
 * `notAfter` (two hours from now by default), and, unless `token` is null, a private token file holding `token`.
 */
export async function clientCredentials(
  dir: string,
  options: { type?: KeyType; notAfter?: Date; token?: string | null } = {},
): Promise<{ ca: { cert: string; key: string }; key: string; cert: string; token: string }> {
  const ca = await makeCa(dir);
  const key = await generateKey(dir, "client.key", options.type ?? "ec");
  const cert = await issueCert({
    dir,
    ca,
    keyPath: key,
    out: "client.crt",
    notAfter: options.notAfter ?? new Date(Date.now() + 2 * 3600_000),
  });
  const token = joinPath(dir, "token", HOST_OS);
  if (options.token !== null) {
    await Deno.writeTextFile(token, options.token ?? "s.test-token\n", { mode: 0o600 });
  }
  return { ca, key, cert, token };
}

/** The e2e world's CA: its folder, certificate and key. */
export interface Ca {
  dir: string;
  certPath: string;
  keyPath: string;
}

export interface IssuedCertificate {
  certPath: string;
  keyPath: string;
}

/** Makes the e2e world's CA in `dir` (ca.crt, ca.key). */
export async function createCa(dir: string, name = "credentials-broker e2e CA"): Promise<Ca> {
  const files = await makeCa(dir, "ca", name);
  return { dir, certPath: files.cert, keyPath: files.key };
}

export interface IssueOptions {
  commonName: string;
  organization?: string;
  notBefore: Date;
  notAfter: Date;
  /** A server certificate for 127.0.0.1 instead of a client certificate. */
  server?: boolean;
}

/** Issues a fresh EC key and a client (or server) certificate with exact dates as `basePath`.key and .crt. */
export async function issueCertificate(
  ca: Ca,
  basePath: string,
  options: IssueOptions,
): Promise<IssuedCertificate> {
  const dir = dirname(basePath, HOST_OS);
  const keyPath = `${basePath}.key`;
  await generateKey(dir, basename(keyPath, HOST_OS), "ec");
  const certPath = await issueCert({
    dir,
    ca: { cert: ca.certPath, key: ca.keyPath },
    keyPath,
    out: `${basePath}.crt`,
    subject: (options.organization ? `/O=${options.organization}` : "") +
      `/CN=${options.commonName}`,
    notBefore: options.notBefore,
    notAfter: options.notAfter,
    extensions: options.server ? "server_cert" : "client_cert",
  });
  return { certPath, keyPath };
}

/** An already expired client certificate: the state a renewal starts from. */
export function issueExpiredCertificate(ca: Ca, basePath: string, commonName = "alice") {
  const now = Date.now();
  return issueCertificate(ca, basePath, {
    commonName,
    organization: "developers",
    notBefore: new Date(now - 2 * 3_600_000),
    notAfter: new Date(now - 3_600_000),
  });
}
