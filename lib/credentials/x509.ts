import {
  bitStringBytes,
  boolean,
  checkBitString,
  children,
  contents,
  DerError,
  type DerNode,
  directoryString,
  expect,
  int64,
  isAscii,
  isNegative,
  leadingChildren,
  oid,
  optionalChild,
  positiveInteger,
  readNode,
  readRoot,
  smallInteger,
  TAG,
  time,
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

/**
 * Parses a DER X.509 certificate; throws DerError when the structure is not one. The checks are those of Go's
 * x509.ParseCertificate, which client-go runs on the leaf certificate before any connection: a certificate it
 * refuses would make every kubectl call fail with a TLS error, so the broker refuses it first, naming the file.
 * Go reads every field (not only the ones the broker needs), checks the inner and outer signature algorithms
 * match, and the extensions it knows; elements after the ones it reads are ignored, as there.
 */
export function parseCertificate(der: Uint8Array): Certificate {
  const [tbs, outerAlgorithm, signature] = leadingChildren(
    expect(readRoot(der), TAG.sequence, "certificate"),
    3,
  );
  expect(tbs, TAG.sequence, "tbsCertificate");
  // [0] EXPLICIT version is optional (v1 certificates omit it); 0, 1 or 2 (v1, v2, v3), nothing else inside.
  let version = 0;
  const versionNode = optionalChild(tbs!, undefined, 0xa0);
  if (versionNode) {
    const inner = children(versionNode);
    if (inner.length !== 1) throw new DerError("malformed version");
    version = smallInteger(inner[0]!);
    if (version < 0 || version > 2) throw new DerError("invalid version");
  }
  let last = versionNode;
  const next = () => {
    const offset = last ? last.end : tbs!.start;
    last = offset < tbs!.end ? readNode(tbs!.bytes, offset, tbs!.end) : undefined;
    return last;
  };
  const serial = expect(next(), TAG.integer, "serial number");
  // Go 1.23 and later (kubectl 1.31 and later) refuse negative serial numbers.
  if (isNegative(serial)) throw new DerError("negative serial number");
  const algorithm = expect(next(), TAG.sequence, "signature algorithm");
  const outer = expect(outerAlgorithm, TAG.sequence, "signature algorithm");
  if (!equalBytes(contents(algorithm), contents(outer))) {
    throw new DerError("inner and outer signature algorithms differ");
  }
  algorithmIdentifier(algorithm);
  const issuer = formatName(expect(next(), TAG.sequence, "issuer"));
  const [notBefore, notAfter] = leadingChildren(expect(next(), TAG.sequence, "validity"), 2);
  if (!notBefore || !notAfter) throw new DerError("missing validity");
  const validity = { notBefore: time(notBefore), notAfter: time(notAfter) };
  const subject = formatName(expect(next(), TAG.sequence, "subject"));
  const spki = expect(next(), TAG.sequence, "subject public key info");
  const publicKey = parseSubjectPublicKeyInfo(spki);
  if (version >= 1) {
    // issuerUniqueID [1] and subjectUniqueID [2], each optional, then [3] extensions for v3 only.
    last = optionalChild(tbs!, last, 0x81) ?? last;
    last = optionalChild(tbs!, last, 0x82) ?? last;
    const extensions = version === 2 ? optionalChild(tbs!, last, 0xa3) : undefined;
    if (extensions) checkExtensions(extensions);
  }
  checkBitString(expect(signature, TAG.bitString, "signature"));
  return { der, ...validity, subject, issuer, publicKey };
}

/** An AlgorithmIdentifier: an OID and optionally one parameters element, as Go's parseAI reads it. */
function algorithmIdentifier(node: DerNode): { algorithm: string; parameters?: DerNode } {
  const [algorithm, parameters] = leadingChildren(node, 2);
  return { algorithm: oid(expect(algorithm, TAG.oid, "algorithm")), parameters };
}

/**
 * The extensions block, as Go reads it: a SEQUENCE of extensions, each an OID, an optional BOOLEAN and an OCTET
 * STRING, no OID twice, and the contents of the extensions Go interprets well formed (key usage, basic
 * constraints, subject alternative names, key identifiers, extended key usage, policies, CRL distribution points,
 * authority information access).
 */
function checkExtensions(block: DerNode): void {
  const [list] = leadingChildren(block, 1);
  const seen = new Set<string>();
  for (const extension of children(expect(list, TAG.sequence, "extensions"))) {
    const [idNode] = leadingChildren(expect(extension, TAG.sequence, "extension"), 1);
    const id = oid(expect(idNode, TAG.oid, "extension identifier"));
    const critical = optionalChild(extension, idNode, TAG.boolean);
    if (critical) boolean(critical);
    const valueNode = optionalChild(extension, critical ?? idNode, TAG.octetString);
    const value = contents(expect(valueNode, TAG.octetString, "extension value"));
    if (seen.has(id)) throw new DerError("duplicate extension");
    seen.add(id);
    const check = EXTENSION_CHECKS[id];
    if (check) check(value);
  }
}

/** The first element of an extension's value (Go ignores anything after it), checked for its tag. */
function first(value: Uint8Array, tag: number, what: string): DerNode {
  return expect(readNode(value, 0), tag, what);
}

/** Checks a GeneralNames SEQUENCE as Go reads subject alternative names. */
function checkGeneralNames(value: Uint8Array): void {
  for (const name of children(first(value, TAG.sequence, "subject alternative names"))) {
    const raw = contents(name);
    switch (name.tag) {
      case 0x81: // rfc822Name
      case 0x82: // dNSName
      case 0x86: // uniformResourceIdentifier
        if (!isAscii(raw)) throw new DerError("malformed subject alternative name");
        break;
      case 0x87: // iPAddress
        if (raw.length !== 4 && raw.length !== 16) {
          throw new DerError("malformed subject alternative name IP address");
        }
        break;
    }
  }
}

const EXTENSION_CHECKS: Record<string, (value: Uint8Array) => void> = {
  // keyUsage
  "2.5.29.15": (value) => checkBitString(first(value, TAG.bitString, "key usage")),
  // basicConstraints: SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL }
  "2.5.29.19": (value) => {
    const constraints = first(value, TAG.sequence, "basic constraints");
    const ca = optionalChild(constraints, undefined, TAG.boolean);
    if (ca) boolean(ca);
    const pathLen = optionalChild(constraints, ca, TAG.integer);
    if (pathLen && int64(pathLen) < 0n) throw new DerError("malformed basic constraints");
  },
  // subjectAltName
  "2.5.29.17": checkGeneralNames,
  // subjectKeyIdentifier
  "2.5.29.14": (value) => void first(value, TAG.octetString, "subject key identifier"),
  // authorityKeyIdentifier: SEQUENCE { keyIdentifier [0] OPTIONAL, ... }
  "2.5.29.35": (value) => void children(first(value, TAG.sequence, "authority key identifier")),
  // extKeyUsage: SEQUENCE OF OID
  "2.5.29.37": (value) => {
    for (const usage of children(first(value, TAG.sequence, "extended key usage"))) oid(usage);
  },
  // certificatePolicies: SEQUENCE OF SEQUENCE { policyIdentifier OID, ... }
  "2.5.29.32": (value) => {
    for (const policy of children(first(value, TAG.sequence, "certificate policies"))) {
      oid(expect(leadingChildren(expect(policy, TAG.sequence, "policy"), 1)[0], TAG.oid, "policy"));
    }
  },
  // cRLDistributionPoints: SEQUENCE OF SEQUENCE { [0] { [0] GeneralNames } OPTIONAL, ... }
  "2.5.29.31": (value) => {
    for (const point of children(first(value, TAG.sequence, "CRL distribution points"))) {
      const name = optionalChild(
        expect(point, TAG.sequence, "CRL distribution point"),
        undefined,
        0xa0,
      );
      if (!name) continue;
      children(expect(leadingChildren(name, 1)[0], 0xa0, "CRL distribution point name"));
    }
  },
  // authorityInfoAccess: SEQUENCE OF SEQUENCE { accessMethod OID, accessLocation GeneralName }
  "1.3.6.1.5.5.7.1.1": (value) => {
    for (const access of children(first(value, TAG.sequence, "authority information access"))) {
      const [method] = leadingChildren(expect(access, TAG.sequence, "access description"), 1);
      oid(expect(method, TAG.oid, "access method"));
    }
  },
};

/**
 * Reads the key of a SubjectPublicKeyInfo, with Go's checks: RSA with NULL parameters and a positive modulus and
 * exponent, EC on a named curve with an uncompressed point that lies on it, Ed25519 without parameters and with
 * 32 bytes. Other algorithms are kept by name (Go loads the certificate, and the key match then fails).
 */
export function parseSubjectPublicKeyInfo(spki: DerNode): PublicKey {
  const [algorithm, key] = leadingChildren(spki, 2);
  const { algorithm: algorithmName, parameters } = algorithmIdentifier(
    expect(algorithm, TAG.sequence, "algorithm"),
  );
  expect(key, TAG.bitString, "subject public key");
  switch (algorithmName) {
    case OID.rsaEncryption: {
      if (parameters?.tag !== TAG.null || parameters.end !== parameters.start) {
        throw new DerError("RSA key without NULL parameters");
      }
      const rsa = expect(readNode(bitStringBytes(key!), 0), TAG.sequence, "RSA key");
      const [n, e] = leadingChildren(rsa, 2);
      if (int64(expect(e, TAG.integer, "RSA exponent")) <= 0n) {
        throw new DerError("RSA exponent not positive");
      }
      return { kind: "rsa", n: positiveInteger(n!), e: positiveInteger(e!) };
    }
    case OID.ecPublicKey: {
      const curve = oid(expect(parameters, TAG.oid, "named curve"));
      if (!CURVES[curve]) throw new DerError("unsupported elliptic curve");
      const point = bitStringBytes(key!);
      if (!onCurve(curve, point)) throw new DerError("invalid elliptic curve point");
      return { kind: "ec", curve, point };
    }
    case OID.ed25519: {
      if (parameters) throw new DerError("Ed25519 key with parameters");
      const bits = bitStringBytes(key!);
      if (bits.length !== 32) throw new DerError("Ed25519 key of the wrong size");
      return { kind: "ed25519", key: bits };
    }
    default:
      return { kind: "other", algorithm: algorithmName };
  }
}

/** Each curve's field prime and b (a is -3 on all three), for the check Go's elliptic.Unmarshal makes. */
const CURVE_PARAMETERS: Record<string, { p: bigint; b: bigint; size: number }> = {
  [OID.p256]: {
    p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
    size: 32,
  },
  [OID.p384]: {
    p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
    size: 48,
  },
  [OID.p521]: {
    p: 2n ** 521n - 1n,
    b: 0x51953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
    size: 66,
  },
};

/**
 * Whether `point` is an uncompressed point on the curve (y² = x³ - 3x + b mod p, both coordinates below p), the
 * only form Go's certificate parser takes. A few BigInt operations, well under a millisecond.
 */
export function onCurve(curve: string, point: Uint8Array): boolean {
  const parameters = CURVE_PARAMETERS[curve];
  if (!parameters || point.length !== 1 + 2 * parameters.size || point[0] !== 4) return false;
  const { p, b, size } = parameters;
  const x = BigInt(`0x${point.subarray(1, 1 + size).toHex()}`);
  const y = BigInt(`0x${point.subarray(1 + size).toHex()}`);
  if (x >= p || y >= p) return false;
  return (y * y - (x * x * x - 3n * x + b)) % p === 0n;
}

/**
 * A distinguished name as openssl prints it by default ("CN=alice, O=dev"), for messages and doctor. Read as Go
 * reads one: a SEQUENCE of SETs of SEQUENCEs, each an OID and a value of a valid type (see directoryString).
 */
export function formatName(name: DerNode): string {
  const parts: string[] = [];
  for (const rdn of children(name)) {
    for (const attribute of children(expect(rdn, TAG.set, "relative distinguished name"))) {
      const [type, value] = leadingChildren(expect(attribute, TAG.sequence, "name attribute"), 2);
      const key = oid(expect(type, TAG.oid, "name attribute type"));
      if (!value) throw new DerError("name attribute without a value");
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
