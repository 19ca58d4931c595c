/**
 * Keys of every type client-go takes, and certificates for them, made at test time without openssl (node:crypto
 * makes and signs the keys; the certificates are DER written with lib/credentials/der.ts's encoders), so the
 * differential tests run wherever Deno runs, Windows under Wine included. Nothing here parses: the parsers under
 * test never judge their own fixtures; node:crypto checks each certificate's signature when it is made.
 */
import { Buffer } from "node:buffer";
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  X509Certificate,
} from "node:crypto";
import { encodeNode, encodeOid, TAG } from "../../lib/credentials/der.ts";

/** The key types of the fixtures: what Go's crypto/x509 (and so client-go) can load, and RSA-PSS, which it cannot. */
export type KeyKind = "rsa" | "p256" | "p384" | "p521" | "ed25519";

/** A generated key pair with its DER encodings. */
export interface KeyFixture {
  kind: KeyKind;
  privateKey: KeyObject;
  /** SubjectPublicKeyInfo DER, as node:crypto exports it. */
  spki: Uint8Array;
  /** PKCS#8 DER. */
  pkcs8: Uint8Array;
  /** PKCS#1 (RSA) or SEC1 (EC) DER: the "traditional" forms. */
  traditional?: Uint8Array;
}

const CURVE: Record<string, string> = { p256: "prime256v1", p384: "secp384r1", p521: "secp521r1" };

/** Makes a key pair of `kind` with node:crypto (RSA 2048 takes 0.1-1 s: make each once per test file). */
export function makeKey(kind: KeyKind): KeyFixture {
  const { privateKey, publicKey } = kind === "rsa"
    ? generateKeyPairSync("rsa", { modulusLength: 2048 })
    : kind === "ed25519"
    ? generateKeyPairSync("ed25519")
    : generateKeyPairSync("ec", { namedCurve: CURVE[kind]! });
  const der = (buffer: Buffer) => new Uint8Array(buffer);
  return {
    kind,
    privateKey,
    spki: der(publicKey.export({ type: "spki", format: "der" })),
    pkcs8: der(privateKey.export({ type: "pkcs8", format: "der" })),
    traditional: kind === "ed25519" ? undefined : der(
      privateKey.export({ type: kind === "rsa" ? "pkcs1" : "sec1", format: "der" }),
    ),
  };
}

const SIGNATURE: Record<KeyKind, { oid: string; params: boolean; hash: string | null }> = {
  rsa: { oid: "1.2.840.113549.1.1.11", params: true, hash: "sha256" },
  p256: { oid: "1.2.840.10045.4.3.2", params: false, hash: "sha256" },
  p384: { oid: "1.2.840.10045.4.3.3", params: false, hash: "sha384" },
  p521: { oid: "1.2.840.10045.4.3.4", params: false, hash: "sha512" },
  ed25519: { oid: "1.3.101.112", params: false, hash: null },
};

const text = new TextEncoder();
const seq = (...parts: Uint8Array[]) => encodeNode(TAG.sequence, ...parts);

/** A positive DER INTEGER from its big-endian magnitude. */
export function derInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  return encodeNode(
    TAG.integer,
    trimmed.length > 0 && trimmed[0]! & 0x80 ? new Uint8Array([0, ...trimmed]) : trimmed,
  );
}

/** A Name from [attribute OID, value] pairs, one per RDN; the values as UTF8String, countryName Printable. */
export function derName(attributes: [string, string][]): Uint8Array {
  return seq(
    ...attributes.map(([type, value]) =>
      encodeNode(
        TAG.set,
        seq(
          encodeOid(type),
          encodeNode(type === "2.5.4.6" ? TAG.printableString : TAG.utf8String, text.encode(value)),
        ),
      )
    ),
  );
}

/** RFC 5280 Time: UTCTime through 2049, GeneralizedTime from 2050; whole seconds. */
export function derTime(date: Date): Uint8Array {
  const iso = date.toISOString();
  const digits = iso.slice(0, 19).replace(/[-:T]/g, "");
  return date.getUTCFullYear() < 2050
    ? encodeNode(TAG.utcTime, text.encode(digits.slice(2) + "Z"))
    : encodeNode(TAG.generalizedTime, text.encode(digits + "Z"));
}

/** What a test certificate says. */
export interface CertificateSpec {
  subject: [string, string][];
  issuer: [string, string][];
  subjectSpki: Uint8Array;
  issuerKey: KeyFixture;
  notBefore: Date;
  notAfter: Date;
  /** A CA certificate (basicConstraints CA:TRUE, keyCertSign), else a client certificate (clientAuth). */
  ca: boolean;
  serial: Uint8Array;
}

const CN = "2.5.4.3";
const O = "2.5.4.10";

/** An X.509 v3 certificate signed by `spec.issuerKey`, DER. */
export function makeCertificate(spec: CertificateSpec): Uint8Array {
  const algorithm = SIGNATURE[spec.issuerKey.kind];
  const algorithmId = algorithm.params
    ? seq(encodeOid(algorithm.oid), encodeNode(TAG.null))
    : seq(encodeOid(algorithm.oid));
  const boolean = (value: boolean) => encodeNode(0x01, new Uint8Array([value ? 0xff : 0]));
  const extension = (oid: string, critical: boolean, value: Uint8Array) =>
    seq(encodeOid(oid), ...(critical ? [boolean(true)] : []), encodeNode(TAG.octetString, value));
  const extensions = spec.ca
    ? [
      extension("2.5.29.19", true, seq(boolean(true))),
      // keyCertSign and cRLSign: bits 5 and 6, one unused bit.
      extension("2.5.29.15", true, encodeNode(TAG.bitString, new Uint8Array([1, 0x06]))),
    ]
    : [
      extension("2.5.29.19", true, seq()),
      // digitalSignature: bit 0, seven unused bits.
      extension("2.5.29.15", true, encodeNode(TAG.bitString, new Uint8Array([7, 0x80]))),
      extension("2.5.29.37", false, seq(encodeOid("1.3.6.1.5.5.7.3.2"))),
    ];
  const tbs = seq(
    encodeNode(0xa0, encodeNode(TAG.integer, new Uint8Array([2]))),
    derInteger(spec.serial),
    algorithmId,
    derName(spec.issuer),
    seq(derTime(spec.notBefore), derTime(spec.notAfter)),
    derName(spec.subject),
    spec.subjectSpki,
    encodeNode(0xa3, seq(...extensions)),
  );
  const signature = sign(algorithm.hash, tbs, spec.issuerKey.privateKey);
  return seq(tbs, algorithmId, encodeNode(TAG.bitString, new Uint8Array([0]), signature));
}

/** One certificate of the fixtures, with what it must say. */
export interface CertificateFixture {
  name: string;
  der: Uint8Array;
  key: KeyFixture;
  subject: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * For each key: a self-signed CA certificate, and a client certificate for it issued by the CA of the next key
 * type, so every key type both signs and is signed. node:crypto verifies every signature before it is used.
 */
export function makeCertificates(keys: KeyFixture[], now = new Date()): CertificateFixture[] {
  const second = (date: Date) => new Date(Math.floor(date.getTime() / 1000) * 1000);
  const notBefore = second(new Date(now.getTime() - 3600_000));
  const out: CertificateFixture[] = [];
  const cas = keys.map((key, i) => {
    const name: [string, string][] = [[O, "differential tests"], [CN, `test CA ${key.kind}`]];
    // One CA lives into GeneralizedTime years (2050 and later), the rest in UTCTime ones.
    const notAfter = i === 0 ? new Date(Date.UTC(2051, 0, 2, 3, 4, 5)) : second(
      new Date(now.getTime() + 48 * 3600_000),
    );
    const der = makeCertificate({
      subject: name,
      issuer: name,
      subjectSpki: key.spki,
      issuerKey: key,
      notBefore,
      notAfter,
      ca: true,
      serial: new Uint8Array([0x80 + i, 1, 2, 3]),
    });
    out.push({
      name: `self-signed ${key.kind} CA`,
      der,
      key,
      subject: `O=differential tests, CN=test CA ${key.kind}`,
      notBefore,
      notAfter,
    });
    return { name, der, key };
  });
  for (const [i, key] of keys.entries()) {
    const ca = cas[(i + 1) % cas.length]!;
    const notAfter = second(new Date(now.getTime() + 2 * 3600_000));
    const der = makeCertificate({
      subject: [[CN, `alice ${key.kind}`], [O, "dev"]],
      issuer: ca.name,
      subjectSpki: key.spki,
      issuerKey: ca.key,
      notBefore,
      notAfter,
      ca: false,
      // 16 random bytes, the first below 0x80: a positive serial number of a fixed size.
      serial: crypto.getRandomValues(new Uint8Array(16)).map((b, i) =>
        i === 0 ? 0x40 | (b & 0x3f) : b
      ),
    });
    verified(der, ca.key);
    out.push({
      name: `${key.kind} client certificate issued by the ${ca.key.kind} CA`,
      der,
      key,
      subject: `CN=alice ${key.kind}, O=dev`,
      notBefore,
      notAfter,
    });
  }
  for (const ca of cas) verified(ca.der, ca.key);
  return out;
}

/** Checks a made certificate's signature with node:crypto, which cannot verify P-521 signatures (Deno 2.9.6). */
function verified(der: Uint8Array, issuer: KeyFixture): void {
  if (issuer.kind === "p521") return;
  if (!new X509Certificate(der).verify(createPublicKey(issuer.privateKey))) {
    throw new Error(
      `a certificate made for the tests does not verify with its ${issuer.kind} issuer`,
    );
  }
}

/** node:crypto's private key from DER of the given form. */
export function nodePrivateKey(der: Uint8Array, type: "pkcs8" | "pkcs1" | "sec1"): KeyObject {
  return createPrivateKey({ key: Buffer.from(der), format: "der", type });
}
