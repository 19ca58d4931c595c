import {
  bitStringBytes,
  children,
  contents,
  DerError,
  type DerNode,
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
  const [version, algorithm, privateKey, ...optional] = children(
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
      // OneAsymmetricKey (RFC 8410) may carry the public key as [1]; otherwise derive it.
      const embedded = optional.find((node) => node.tag === 0x81);
      if (embedded) {
        return {
          type: "Ed25519",
          publicKey: { kind: "ed25519", key: contents(embedded).subarray(1) },
        };
      }
      const jwk = await exportJwk(der, { name: "Ed25519" });
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

function rsaPublic(root: DerNode): PublicKey & { kind: "rsa" } {
  const [version, n, e] = children(expect(root, TAG.sequence, "RSA key"));
  smallInteger(version!);
  return { kind: "rsa", n: unsignedInteger(n!), e: unsignedInteger(e!) };
}

async function ecPublic(
  root: DerNode,
  curveFromAlgorithm: string | undefined,
): Promise<PublicKey & { kind: "ec" }> {
  const [version, , ...tagged] = children(expect(root, TAG.sequence, "EC key"));
  if (smallInteger(version!) !== 1) throw new DerError("unsupported EC key version");
  const parameters = tagged.find((node) => node.tag === 0xa0);
  const publicKey = tagged.find((node) => node.tag === 0xa1);
  const curve = parameters ? oid(children(parameters)[0]!) : curveFromAlgorithm;
  if (!curve) throw new DerError("EC key without a named curve");
  if (!CURVES[curve]) throw new KeyError(`the EC key's curve ${curve} is not supported by kubectl`);
  if (publicKey) return { kind: "ec", curve, point: bitStringBytes(children(publicKey)[0]!) };
  // SEC1 leaves the public key optional; WebCrypto derives it from a PKCS#8 wrapping.
  const wrapped = encodeNode(
    TAG.sequence,
    encodeNode(TAG.integer, new Uint8Array([0])),
    encodeNode(TAG.sequence, encodeOid(OID.ecPublicKey), encodeOid(curve)),
    encodeNode(TAG.octetString, root.bytes.subarray(0, root.end)),
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
