import {
  checkBitString,
  children,
  contents,
  DerError,
  type DerNode,
  encodeNode,
  encodeOid,
  expect,
  int64,
  leadingChildren,
  oid,
  optionalChild,
  positiveInteger,
  readNode,
  readRoot,
  smallInteger,
  TAG,
} from "./der.ts";
import type { PemBlock } from "./pem.ts";
import { CURVES, OID, type PublicKey } from "./x509.ts";

/** A private key the broker can hand to client-go, with the public half needed to find its certificate. */
export interface PrivateKey {
  /** The PEM label client-go will see: PRIVATE KEY (PKCS#8), RSA PRIVATE KEY or EC PRIVATE KEY. */
  label: string;
  der: Uint8Array;
  /** "RSA", "EC P-256", "Ed25519", for messages. */
  type: string;
  publicKey: PublicKey;
}

/** A key block that is not a usable private key; the message is safe to print (no key material). */
export class KeyError extends Error {}

/** The PEM labels that hold a private key client-go can load. */
export const KEY_LABELS = ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"];

/** The forms a key's DER may have, in the order Go's crypto/tls tries them. */
const FORMS = ["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY"] as const;

/**
 * Parses a private key block and works out its public key. As in client-go (crypto/tls X509KeyPair), the label
 * names no format: the DER is read as PKCS#1, then PKCS#8, then SEC1, and the first that fits wins, so a PKCS#8
 * key labelled "EC PRIVATE KEY" works as it works with kubectl. When none fits, the error is the one of the form
 * the label names (the likely intent).
 */
export async function parsePrivateKey(block: PemBlock): Promise<PrivateKey> {
  if (block.encrypted || block.label === "ENCRYPTED PRIVATE KEY") {
    throw new KeyError(
      "the private key is encrypted, and kubectl cannot use an encrypted key; " +
        "decrypt it with `openssl pkey -in KEY -out KEY.plain`",
    );
  }
  // Go takes any block whose label ends in " PRIVATE KEY".
  const known = (FORMS as readonly string[]).includes(block.label);
  if (!known && !block.label.endsWith(" PRIVATE KEY")) {
    throw new KeyError(`a "${block.label}" block is not a private key kubectl can use`);
  }
  // The three forms differ in their second field, so at most one can fit: try that one alone first. A form that
  // cannot fit would only throw, and an error object costs a valid call about a millisecond (V8 collects its stack
  // and source positions). When it does not fit either, the loop below gives Go's answer and the label's error.
  const second = secondFieldTag(block.der);
  const fitting = FORMS.find((form) => SECOND_FIELD[form] === second);
  if (fitting) {
    try {
      return { label: block.label, der: block.der, ...(await parseForm(fitting, block.der)) };
    } catch (error) {
      if (!(error instanceof DerError) && !(error instanceof KeyError)) throw error;
    }
  }
  let labelError: unknown;
  for (const form of FORMS) {
    try {
      return { label: block.label, der: block.der, ...(await parseForm(form, block.der)) };
    } catch (error) {
      if (!(error instanceof DerError) && !(error instanceof KeyError)) throw error;
      if (form === block.label || (!known && form === "PRIVATE KEY")) labelError = error;
    }
  }
  if (!known) throw new KeyError(`a "${block.label}" block is not a private key kubectl can use`);
  if (labelError instanceof DerError) {
    throw new KeyError(`the private key is malformed (${labelError.message})`);
  }
  throw labelError;
}

/** The tag of each form's second field: PKCS#1's modulus, PKCS#8's algorithm, SEC1's private key. */
const SECOND_FIELD: Record<typeof FORMS[number], number> = {
  "RSA PRIVATE KEY": TAG.integer,
  "PRIVATE KEY": TAG.sequence,
  "EC PRIVATE KEY": TAG.octetString,
};

/** The tag of the second field of a key's outer SEQUENCE, or undefined when the DER does not get that far. */
function secondFieldTag(der: Uint8Array): number | undefined {
  try {
    const root = readNode(der, 0);
    return root.tag === TAG.sequence ? leadingChildren(root, 2)[1]?.tag : undefined;
  } catch (error) {
    if (error instanceof DerError) return undefined;
    throw error;
  }
}

async function parseForm(
  form: typeof FORMS[number],
  der: Uint8Array,
): Promise<{ type: string; publicKey: PublicKey }> {
  switch (form) {
    case "RSA PRIVATE KEY":
      return { type: "RSA", publicKey: rsaPublic(readRoot(der)) };
    case "EC PRIVATE KEY": {
      // Go's ParseECPrivateKey ignores bytes after the key.
      const publicKey = await ecPublic(readNode(der, 0), undefined);
      return { type: `EC ${CURVES[publicKey.curve] ?? publicKey.curve}`, publicKey };
    }
    case "PRIVATE KEY":
      return await pkcs8(der);
  }
}

/**
 * A PKCS#8 key, read as Go's ParsePKCS8PrivateKey reads it: the version is not checked, and bytes after the
 * key, or after its three first fields (attributes, an RFC 8410 public key), are ignored.
 */
async function pkcs8(der: Uint8Array): Promise<{ type: string; publicKey: PublicKey }> {
  const [version, algorithm, privateKey] = leadingChildren(
    expect(readNode(der, 0), TAG.sequence, "PKCS#8"),
    3,
  );
  int64(expect(version, TAG.integer, "version"));
  const [algorithmOid, parameters] = leadingChildren(
    expect(algorithm, TAG.sequence, "algorithm"),
    2,
  );
  const inner = contents(expect(privateKey, TAG.octetString, "private key"));
  switch (oid(expect(algorithmOid, TAG.oid, "algorithm"))) {
    case OID.rsaEncryption:
      return { type: "RSA", publicKey: rsaPublic(readRoot(inner)) };
    case OID.ecPublicKey: {
      // Go takes the curve from here when these parameters are a curve OID, else from the SEC1 key.
      let curve: string | undefined;
      try {
        curve = parameters && oid(parameters);
      } catch {
        curve = undefined;
      }
      const publicKey = await ecPublic(readNode(inner, 0), curve);
      return { type: `EC ${CURVES[publicKey.curve] ?? publicKey.curve}`, publicKey };
    }
    case OID.ed25519: {
      if (parameters) throw new DerError("Ed25519 key with parameters");
      const seed = contents(expect(readNode(inner, 0), TAG.octetString, "Ed25519 seed"));
      if (seed.length !== 32) throw new DerError("Ed25519 seed of the wrong size");
      // Derived from the seed, as Go's ParsePKCS8PrivateKey does: a public key carried beside it (RFC 8410's
      // OneAsymmetricKey [1]) is not trusted, since client-go ignores it too.
      const seedOnly = encodeNode(
        TAG.sequence,
        encodeNode(TAG.integer, new Uint8Array([0])),
        encodeNode(TAG.sequence, encodeOid(OID.ed25519)),
        encodeNode(TAG.octetString, encodeNode(TAG.octetString, seed)),
      );
      const jwk = await exportJwk(seedOnly, { name: "Ed25519" });
      return {
        type: "Ed25519",
        publicKey: {
          kind: "ed25519",
          key: Uint8Array.fromBase64(jwk.x!, { alphabet: "base64url" }),
        },
      };
    }
    default:
      throw new KeyError(
        `the private key's algorithm ${oid(algorithmOid!)} is not supported by kubectl`,
      );
  }
}

/**
 * The public half of a PKCS#1 key, after the checks of Go's ParsePKCS1PrivateKey (client-go refuses a key that
 * fails them): version 0 or 1, no bytes after the key, positive n, d, p, q, e from 2 to 2^31-1, and a key whose
 * private parts belong to it: n = p·q, e·d ≡ 1 mod p-1 and q-1, and the CRT values when present (Go 1.24 and
 * later use and check them). Otherwise a key file holding one key's modulus and another key's private parts would
 * pass the match with its certificate. BigInt work on a 2048-bit key takes well under a millisecond.
 */
function rsaPublic(root: DerNode): PublicKey & { kind: "rsa" } {
  const [version, n, e, d, p, q] = leadingChildren(expect(root, TAG.sequence, "RSA key"), 6);
  if (int64(expect(version, TAG.integer, "version")) > 1n) {
    throw new DerError("unsupported RSA key version");
  }
  const exponent = int64(expect(e, TAG.integer, "RSA exponent"));
  if (exponent < 2n || exponent > 0x7fffffffn) throw new DerError("RSA exponent out of range");
  const publicKey = { kind: "rsa" as const, n: positiveInteger(n!), e: positiveInteger(e!) };
  const int = (node: DerNode | undefined) => bigInteger(positiveInteger(node!));
  const [N, E, D, P, Q] = [int(n), int(e), int(d), int(p), int(q)];
  // dp, dq and qinv are optional for Go, then the multi-prime keys' (version 1) further primes, each with its CRT
  // exponent and coefficient.
  const crtNodes: DerNode[] = [];
  let last = q;
  for (let i = 0; i < 3; i++) {
    const node = optionalChild(root, last, TAG.integer, true);
    if (!node) break;
    crtNodes.push(node);
    last = node;
  }
  const crt = crtNodes.map((node) => int(node));
  const others = optionalChild(root, last, TAG.sequence, true);
  const extra = others
    ? children(others).map((info) => children(expect(info, TAG.sequence, "RSA prime")).map(int))
    : [];
  const primes = [P, Q, ...extra.map(([prime]) => prime ?? 0n)];
  const consistent = primes.every((prime) => prime > 1n) &&
    primes.reduce((product, prime) => product * prime, 1n) === N &&
    primes.every((prime) => (E * D) % (prime - 1n) === 1n % (prime - 1n)) &&
    (crt[0] === undefined || crt[0] === D % (P - 1n)) &&
    (crt[1] === undefined || crt[1] === D % (Q - 1n)) &&
    (crt[2] === undefined || (crt[2] * Q) % P === 1n % P) &&
    extra.every(([prime, exponent]) => exponent === undefined || exponent === D % (prime! - 1n));
  if (!consistent) {
    throw new KeyError(
      "the RSA private key is inconsistent: its private parts do not belong to its public modulus",
    );
  }
  return publicKey;
}

function bigInteger(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${bytes.toHex()}`);
}

/** Private scalar sizes of the curves client-go accepts, in bytes. */
const SCALAR_BYTES: Record<string, number> = { [OID.p256]: 32, [OID.p384]: 48, [OID.p521]: 66 };

/**
 * The public point of a SEC1 key, always derived from the private scalar, as Go's ParseECPrivateKey does: the
 * optional public key inside the file is not trusted (one that belongs to another key would otherwise make a
 * key file pass the match with a certificate it cannot sign for, and client-go then fails).
 */
async function ecPublic(
  root: DerNode,
  curveFromAlgorithm: string | undefined,
): Promise<PublicKey & { kind: "ec" }> {
  const [version, privateKey] = leadingChildren(expect(root, TAG.sequence, "EC key"), 2);
  if (smallInteger(expect(version, TAG.integer, "version")) !== 1) {
    throw new DerError("unsupported EC key version");
  }
  // As Go reads the optional fields: [0] parameters (a named curve) then [1] public key, in that order; Go checks
  // the public key is a well-formed BIT STRING, but never uses it.
  // encoding/asn1 reads an EXPLICIT field's inner element within the whole key, not within the tagged element,
  // and skips it when its type does not fit.
  const inner = (tagged: DerNode) => {
    if (tagged.start === tagged.end) throw new DerError("empty explicit field");
    return readNode(root.bytes, tagged.start, root.end);
  };
  const parameters = optionalChild(root, privateKey, 0xa0, true);
  const namedCurve = parameters && inner(parameters);
  const curveFromKey = namedCurve?.tag === TAG.oid ? oid(namedCurve) : undefined;
  const embedded = optionalChild(root, parameters ?? privateKey, 0xa1, true);
  const publicKey = embedded && inner(embedded);
  if (publicKey?.tag === TAG.bitString) checkBitString(publicKey);
  const curve = curveFromAlgorithm ?? curveFromKey;
  if (!curve) throw new DerError("EC key without a named curve");
  if (!CURVES[curve]) throw new KeyError(`the EC key's curve ${curve} is not supported by kubectl`);
  // Some writers drop the scalar's leading zero bytes, others add some; Go takes both, WebCrypto wants the size.
  let scalar = contents(expect(privateKey, TAG.octetString, "EC private key"));
  const size = SCALAR_BYTES[curve]!;
  while (scalar.length > size && scalar[0] === 0) scalar = scalar.subarray(1);
  if (scalar.length > size) throw new DerError("EC private key longer than its curve");
  const padded = new Uint8Array(size);
  padded.set(scalar, size - scalar.length);
  // WebCrypto derives the point from a PKCS#8 wrapping of the scalar alone.
  const wrapped = encodeNode(
    TAG.sequence,
    encodeNode(TAG.integer, new Uint8Array([0])),
    encodeNode(TAG.sequence, encodeOid(OID.ecPublicKey), encodeOid(curve)),
    encodeNode(
      TAG.octetString,
      encodeNode(
        TAG.sequence,
        encodeNode(TAG.integer, new Uint8Array([1])),
        encodeNode(TAG.octetString, padded),
      ),
    ),
  );
  const jwk = await exportJwk(wrapped, { name: "ECDSA", namedCurve: CURVES[curve] });
  const x = Uint8Array.fromBase64(jwk.x!, { alphabet: "base64url" });
  const y = Uint8Array.fromBase64(jwk.y!, { alphabet: "base64url" });
  const point = new Uint8Array(1 + x.length + y.length);
  point[0] = 4;
  point.set(x, 1);
  point.set(y, 1 + x.length);
  return { kind: "ec", curve, point };
}

async function exportJwk(
  pkcs8Der: Uint8Array,
  algorithm: EcKeyImportParams | Algorithm,
): Promise<JsonWebKey> {
  try {
    const key = await crypto.subtle.importKey(
      "pkcs8",
      pkcs8Der as Uint8Array<ArrayBuffer>,
      algorithm,
      true,
      ["sign"],
    );
    return await crypto.subtle.exportKey("jwk", key);
  } catch {
    throw new KeyError("the private key could not be loaded to work out its public key");
  }
}
