import {
  bitStringBytes,
  children,
  DerError,
  type DerNode,
  directoryString,
  expect,
  oid,
  readRoot,
  TAG,
  time,
  unsignedInteger,
} from "./der.ts";

/** A public key in a form that a private key's public half can be compared with. */
export type PublicKey =
  | { kind: "rsa"; n: Uint8Array; e: Uint8Array }
  | { kind: "ec"; curve: string; point: Uint8Array }
  | { kind: "ed25519"; key: Uint8Array }
  | { kind: "other"; algorithm: string };

/** What the broker needs from a certificate: validity, names for messages, and the key to match. */
export interface Certificate {
  der: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  subject: string;
  issuer: string;
  publicKey: PublicKey;
}

export const OID = {
  rsaEncryption: "1.2.840.113549.1.1.1",
  ecPublicKey: "1.2.840.10045.2.1",
  ed25519: "1.3.101.112",
  p256: "1.2.840.10045.3.1.7",
  p384: "1.3.132.0.34",
  p521: "1.3.132.0.35",
} as const;

/** WebCrypto's names for the curves client-go accepts. */
export const CURVES: Record<string, string> = {
  [OID.p256]: "P-256",
  [OID.p384]: "P-384",
  [OID.p521]: "P-521",
};

const NAME_ATTRIBUTES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.5": "serialNumber",
  "0.9.2342.19200300.100.1.25": "DC",
  "0.9.2342.19200300.100.1.1": "UID",
  "1.2.840.113549.1.9.1": "emailAddress",
};

/** Parses a DER X.509 certificate; throws DerError when the structure is not one. */
export function parseCertificate(der: Uint8Array): Certificate {
  const [tbs] = children(expect(readRoot(der), TAG.sequence, "certificate"));
  const fields = children(expect(tbs, TAG.sequence, "tbsCertificate"));
  // [0] EXPLICIT version is optional (v1 certificates omit it).
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
  const issuer = expect(fields[offset + 2], TAG.sequence, "issuer");
  const [notBefore, notAfter] = children(expect(fields[offset + 3], TAG.sequence, "validity"));
  const subject = expect(fields[offset + 4], TAG.sequence, "subject");
  const spki = expect(fields[offset + 5], TAG.sequence, "subject public key info");
  if (!notBefore || !notAfter) throw new DerError("missing validity");
  return {
    der,
    notBefore: time(notBefore),
    notAfter: time(notAfter),
    subject: formatName(subject),
    issuer: formatName(issuer),
    publicKey: parseSubjectPublicKeyInfo(spki),
  };
}

/** Reads the key of a SubjectPublicKeyInfo. */
export function parseSubjectPublicKeyInfo(spki: DerNode): PublicKey {
  const [algorithm, key] = children(spki);
  const [algorithmOid, parameters] = children(expect(algorithm, TAG.sequence, "algorithm"));
  const algorithmName = oid(algorithmOid!);
  const bits = bitStringBytes(key!);
  switch (algorithmName) {
    case OID.rsaEncryption: {
      const [n, e] = children(readRoot(bits));
      return { kind: "rsa", n: unsignedInteger(n!), e: unsignedInteger(e!) };
    }
    case OID.ecPublicKey:
      return { kind: "ec", curve: oid(parameters!), point: bits };
    case OID.ed25519:
      return { kind: "ed25519", key: bits };
    default:
      return { kind: "other", algorithm: algorithmName };
  }
}

/** A distinguished name as openssl prints it by default ("CN=alice, O=dev"), for messages and doctor. */
export function formatName(name: DerNode): string {
  const parts: string[] = [];
  for (const rdn of children(name)) {
    for (const attribute of children(rdn)) {
      const [type, value] = children(attribute);
      if (!type || !value) continue;
      const key = oid(type);
      parts.push(`${NAME_ATTRIBUTES[key] ?? key}=${directoryString(value)}`);
    }
  }
  return parts.join(", ");
}

/** Whether two public keys are the same key. */
export function samePublicKey(a: PublicKey, b: PublicKey): boolean {
  switch (a.kind) {
    case "rsa":
      return b.kind === "rsa" && equalBytes(a.n, b.n) && equalBytes(a.e, b.e);
    case "ec":
      return b.kind === "ec" && a.curve === b.curve && equalBytes(a.point, b.point);
    case "ed25519":
      return b.kind === "ed25519" && equalBytes(a.key, b.key);
    default:
      return false;
  }
}

/** Constant-shape byte comparison. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
