import {
  children,
  contents,
  DerError,
  type DerNode,
  encoded,
  encodeNode,
  encodeOid,
  expect,
  oid,
  readRoot,
  smallInteger,
  TAG,
  unsignedInteger,
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

/** Parses a private key block and works out its public key. */
export async function parsePrivateKey(block: PemBlock): Promise<PrivateKey> {
  if (block.encrypted || block.label === "ENCRYPTED PRIVATE KEY") {
    throw new KeyError(
      "the private key is encrypted, and kubectl cannot use an encrypted key; " +
        "decrypt it with `openssl pkey -in KEY -out KEY.plain`",
    );
  }
  try {
    switch (block.label) {
      case "RSA PRIVATE KEY":
        return {
          label: block.label,
          der: block.der,
          type: "RSA",
          publicKey: rsaPublic(readRoot(block.der)),
        };
      case "EC PRIVATE KEY": {
        const publicKey = await ecPublic(readRoot(block.der), undefined);
        return {
          label: block.label,
          der: block.der,
          type: `EC ${CURVES[publicKey.curve] ?? publicKey.curve}`,
          publicKey,
        };
      }
      case "PRIVATE KEY":
        return { label: block.label, der: block.der, ...(await pkcs8(block.der)) };
      default:
        throw new KeyError(`a "${block.label}" block is not a private key kubectl can use`);
    }
  } catch (error) {
    if (error instanceof DerError) {
      throw new KeyError(`the private key is malformed (${error.message})`);
    }
    throw error;
  }
}

async function pkcs8(der: Uint8Array): Promise<{ type: string; publicKey: PublicKey }> {
  const [version, algorithm, privateKey] = children(
    expect(readRoot(der), TAG.sequence, "PKCS#8"),
  );
  smallInteger(version!);
  const [algorithmOid, parameters] = children(expect(algorithm, TAG.sequence, "algorithm"));
  const inner = contents(expect(privateKey, TAG.octetString, "private key"));
  switch (oid(algorithmOid!)) {
    case OID.rsaEncryption:
      return { type: "RSA", publicKey: rsaPublic(readRoot(inner)) };
    case OID.ecPublicKey: {
      const publicKey = await ecPublic(readRoot(inner), parameters ? oid(parameters) : undefined);
      return { type: `EC ${CURVES[publicKey.curve] ?? publicKey.curve}`, publicKey };
    }
    case OID.ed25519: {
      // Derived from the seed, as Go's ParsePKCS8PrivateKey does: a public key carried beside it (RFC 8410's
      // OneAsymmetricKey [1]) is not trusted, since client-go ignores it too.
      const seedOnly = encodeNode(
        TAG.sequence,
        encodeNode(TAG.integer, new Uint8Array([0])),
        encoded(algorithm!),
        encoded(privateKey!),
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
 * The public half of a PKCS#1 key, after checking that its private parts belong to it, as Go's
 * ParsePKCS1PrivateKey does (client-go refuses an inconsistent key): n = p·q, e·d ≡ 1 mod p-1 and q-1, and the CRT
 * values. Otherwise a key file holding one key's modulus and another key's private parts would pass the match
 * with its certificate. BigInt work on a 2048-bit key takes well under a millisecond.
 */
function rsaPublic(root: DerNode): PublicKey & { kind: "rsa" } {
  const [version, n, e, d, p, q, dp, dq, qinv, others] = children(
    expect(root, TAG.sequence, "RSA key"),
  );
  smallInteger(version!);
  const publicKey = { kind: "rsa" as const, n: unsignedInteger(n!), e: unsignedInteger(e!) };
  const int = (node: DerNode | undefined) => bigInteger(unsignedInteger(node!));
  const [N, E, D, P, Q] = [int(n), int(e), int(d), int(p), int(q)];
  // Multi-prime keys (version 1) list further primes, each with its CRT exponent.
  const extra = others ? children(others).map((info) => children(info).map(int)) : [];
  const primes = [P, Q, ...extra.map(([prime]) => prime ?? 0n)];
  const exponents = [int(dp), int(dq), ...extra.map(([, exponent]) => exponent ?? 0n)];
  const consistent = primes.every((prime) => prime > 1n) &&
    primes.reduce((product, prime) => product * prime, 1n) === N &&
    primes.every((prime, i) =>
      (E * D) % (prime - 1n) === 1n % (prime - 1n) && exponents[i] === D % (prime - 1n)
    ) &&
    (int(qinv) * Q) % P === 1n % P;
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
  const [version, privateKey, ...tagged] = children(expect(root, TAG.sequence, "EC key"));
  if (smallInteger(version!) !== 1) throw new DerError("unsupported EC key version");
  const parameters = tagged.find((node) => node.tag === 0xa0);
  const curve = parameters ? oid(children(parameters)[0]!) : curveFromAlgorithm;
  if (!curve) throw new DerError("EC key without a named curve");
  if (!CURVES[curve]) throw new KeyError(`the EC key's curve ${curve} is not supported by kubectl`);
  // Some writers drop the scalar's leading zero bytes; Go pads them back, WebCrypto wants the full size.
  const scalar = contents(expect(privateKey, TAG.octetString, "EC private key"));
  const size = SCALAR_BYTES[curve]!;
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
      encodeNode(TAG.sequence, encoded(version!), encodeNode(TAG.octetString, padded)),
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
