/**
 * The new private key of every issued certificate, made here with WebCrypto so that only a CSR leaves the machine
 * (never Vault's /issue/, which makes the key on the server and sends it over the wire).
 */
import { encodePem } from "../credentials/pem.ts";
import type { KeyType } from "./issuer.ts";

/** A key made for one certificate: what signs the CSR, and the PKCS#8 PEM client-go reads. */
export interface LocalKey {
  type: KeyType;
  privateKey: CryptoKey;
  /** The DER SubjectPublicKeyInfo, as it goes into the CSR. */
  spki: Uint8Array;
  /** `-----BEGIN PRIVATE KEY-----` (PKCS#8), which client-go loads for every one of these types. */
  pkcs8Pem: string;
  /** How the CSR is signed with it. */
  signature: SignatureScheme;
}

/** A signature algorithm: its WebCrypto parameters and its X.509 AlgorithmIdentifier. */
export interface SignatureScheme {
  params: AlgorithmIdentifier | EcdsaParams;
  /** OID of the AlgorithmIdentifier. */
  oid: string;
  /** RSA's AlgorithmIdentifier carries an explicit NULL; ECDSA's and Ed25519's carry nothing (RFC 5758, 8410). */
  nullParameters: boolean;
  /** WebCrypto's ECDSA signatures are r||s; X.509 wants DER. */
  ecdsa: boolean;
}

const GENERATE: Record<KeyType, RsaHashedKeyGenParams | EcKeyGenParams | Algorithm> = {
  "ec-p256": { name: "ECDSA", namedCurve: "P-256" },
  "ec-p384": { name: "ECDSA", namedCurve: "P-384" },
  "rsa-2048": {
    name: "RSASSA-PKCS1-v1_5",
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: "SHA-256",
  },
  ed25519: { name: "Ed25519" },
};

const SIGNATURES: Record<KeyType, SignatureScheme> = {
  "ec-p256": {
    params: { name: "ECDSA", hash: "SHA-256" },
    oid: "1.2.840.10045.4.3.2",
    nullParameters: false,
    ecdsa: true,
  },
  "ec-p384": {
    params: { name: "ECDSA", hash: "SHA-384" },
    oid: "1.2.840.10045.4.3.3",
    nullParameters: false,
    ecdsa: true,
  },
  "rsa-2048": {
    params: { name: "RSASSA-PKCS1-v1_5" },
    oid: "1.2.840.113549.1.1.11",
    nullParameters: true,
    ecdsa: false,
  },
  ed25519: { params: { name: "Ed25519" }, oid: "1.3.101.112", nullParameters: false, ecdsa: false },
};

/** Makes a new key of `type` (RSA-2048 takes about 100 ms, the others a millisecond). */
export async function generateLocalKey(type: KeyType): Promise<LocalKey> {
  const pair = await crypto.subtle.generateKey(GENERATE[type], true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const [spki, pkcs8] = await Promise.all([
    crypto.subtle.exportKey("spki", pair.publicKey),
    crypto.subtle.exportKey("pkcs8", pair.privateKey),
  ]);
  return {
    type,
    privateKey: pair.privateKey,
    spki: new Uint8Array(spki),
    pkcs8Pem: encodePem("PRIVATE KEY", new Uint8Array(pkcs8)),
    signature: SIGNATURES[type],
  };
}
