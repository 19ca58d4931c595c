/**
 * Regression tests for what the differential tests (differential_test.ts) found: inputs where the broker's
 * readers disagreed with Go's crypto/x509 and crypto/tls, which client-go runs on the same bytes. Each row names
 * Go's rule and says what Go does (checked against Go's parser.go, pkcs1.go, pkcs8.go, sec1.go and
 * encoding/asn1 and cryptobyte); before the fix the broker did the opposite.
 */
import assert from "node:assert/strict";
import { encodeNode, encodeOid, TAG } from "../../lib/credentials/der.ts";
import { parsePrivateKey } from "../../lib/credentials/private_key.ts";
import { parseCertificate } from "../../lib/credentials/x509.ts";
import { derInteger, derName, derTime, makeKey } from "./differential_fixtures.ts";

const seq = (...parts: Uint8Array[]) => encodeNode(TAG.sequence, ...parts);
const bytes = (...values: number[]) => new Uint8Array(values);
const oid = encodeOid;
const octets = (...parts: Uint8Array[]) => encodeNode(TAG.octetString, ...parts);
const bits = (...parts: Uint8Array[]) => encodeNode(TAG.bitString, bytes(0), ...parts);
const utf8 = (text: string) => encodeNode(TAG.utf8String, new TextEncoder().encode(text));
const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));

const p256 = makeKey("p256");
const rsa = makeKey("rsa");
const ed25519 = makeKey("ed25519");

/** A certificate's parts, each replaceable by a test row; the signature is not checked by Go nor here. */
function certificate(parts: Partial<
  Record<
    | "version"
    | "serial"
    | "algorithm"
    | "issuer"
    | "validity"
    | "subject"
    | "spki"
    | "extensions"
    | "outer",
    Uint8Array
  >
> = {}): Uint8Array {
  const p = {
    version: encodeNode(0xa0, derInteger(bytes(2))),
    serial: derInteger(bytes(0x12, 0x34)),
    algorithm: ECDSA_SHA256,
    issuer: derName([["2.5.4.3", "test CA"]]),
    validity: seq(
      derTime(new Date("2026-01-01T00:00:00Z")),
      derTime(new Date("2027-01-01T00:00:00Z")),
    ),
    subject: derName([["2.5.4.3", "alice"]]),
    spki: p256.spki,
    extensions: extensions(seq(oid("2.5.29.19"), octets(seq()))),
    ...parts,
  };
  return seq(
    seq(p.version, p.serial, p.algorithm, p.issuer, p.validity, p.subject, p.spki, p.extensions),
    parts.outer ?? p.algorithm,
    bits(bytes(1, 2, 3)),
  );
}

function extensions(...list: Uint8Array[]): Uint8Array {
  return encodeNode(0xa3, seq(...list));
}

const time = (tag: number, text: string) => encodeNode(tag, new TextEncoder().encode(text));
const validity = (notBefore: Uint8Array) =>
  seq(notBefore, derTime(new Date("2027-01-01T00:00:00Z")));

Deno.test("parseCertificate() accepts and refuses as Go's x509.ParseCertificate does", async (t) => {
  const cases: [string, Uint8Array, RegExp | null][] = [
    ["a certificate as Go writes it loads", certificate(), null],
    [
      "a long-form length for fewer than 128 bytes: Go refuses (cryptobyte, DER)",
      certificate({
        // The CN value as `0c 81 05 alice` instead of `0c 05 alice`.
        subject: seq(encodeNode(
          TAG.set,
          seq(oid("2.5.4.3"), bytes(0x0c, 0x81, 5, ...new TextEncoder().encode("alice"))),
        )),
      }),
      /DER length not in its shortest form/,
    ],
    [
      "inner and outer signature algorithms differ: Go refuses",
      certificate({ outer: seq(oid("1.2.840.10045.4.3.3")) }),
      /inner and outer signature algorithms differ/,
    ],
    [
      "a negative serial number: Go 1.23 and later refuse",
      certificate({ serial: encodeNode(TAG.integer, bytes(0x81)) }),
      /negative serial number/,
    ],
    [
      "a serial number not in its shortest form: Go refuses",
      certificate({ serial: encodeNode(TAG.integer, bytes(0, 1)) }),
      /shortest form/,
    ],
    [
      "version 4 (3 encoded): Go refuses",
      certificate({ version: encodeNode(0xa0, derInteger(bytes(3))) }),
      /invalid version/,
    ],
    [
      "a subject that is not UTF-8 in a UTF8String: Go refuses",
      certificate({
        subject: seq(encodeNode(
          TAG.set,
          seq(oid("2.5.4.3"), encodeNode(TAG.utf8String, bytes(0xc3, 0x28))),
        )),
      }),
      /invalid UTF8String/,
    ],
    [
      "a PrintableString with a character outside its set: Go refuses",
      certificate({
        subject: seq(encodeNode(
          TAG.set,
          seq(oid("2.5.4.3"), encodeNode(TAG.printableString, new TextEncoder().encode("a_b"))),
        )),
      }),
      /invalid PrintableString/,
    ],
    [
      "a name attribute without a value: Go refuses",
      certificate({ subject: seq(encodeNode(TAG.set, seq(oid("2.5.4.3")))) }),
      /without a value/,
    ],
    [
      "30 February: Go refuses (time.Parse)",
      certificate({ validity: validity(time(TAG.utcTime, "260230000000Z")) }),
      /invalid date/,
    ],
    [
      "a GeneralizedTime with fractions of a second: Go refuses (it must round-trip)",
      certificate({ validity: validity(time(TAG.generalizedTime, "20260101000000.5Z")) }),
      /malformed GeneralizedTime/,
    ],
    [
      "a UTCTime without seconds: Go takes it",
      certificate({ validity: validity(time(TAG.utcTime, "2601010000Z")) }),
      null,
    ],
    [
      "a UTCTime with an offset: Go takes it",
      certificate({ validity: validity(time(TAG.utcTime, "260101000000+0100")) }),
      null,
    ],
    [
      "an EC point that is not on the curve: Go refuses",
      certificate({
        spki: (() => {
          const spki = Uint8Array.from(p256.spki);
          spki[spki.length - 1]! ^= 1;
          return spki;
        })(),
      }),
      /invalid elliptic curve point/,
    ],
    [
      "an RSA key without NULL parameters: Go refuses",
      certificate({
        spki: seq(
          seq(oid("1.2.840.113549.1.1.1")),
          bits(seq(derInteger(bytes(0xc5, 1)), derInteger(bytes(1, 0, 1)))),
        ),
      }),
      /NULL parameters/,
    ],
    [
      "an RSA key with a negative modulus: Go refuses",
      certificate({
        spki: seq(
          seq(oid("1.2.840.113549.1.1.1"), encodeNode(TAG.null)),
          bits(seq(encodeNode(TAG.integer, bytes(0xc5, 1)), derInteger(bytes(1, 0, 1)))),
        ),
      }),
      /negative integer/,
    ],
    [
      "an Ed25519 key of 31 bytes: Go refuses",
      certificate({ spki: seq(seq(oid("1.3.101.112")), bits(new Uint8Array(31))) }),
      /wrong size/,
    ],
    [
      "an RSA certificate as Go writes it loads",
      certificate({ spki: rsa.spki }),
      null,
    ],
    [
      "an Ed25519 certificate as Go writes it loads",
      certificate({ spki: ed25519.spki }),
      null,
    ],
    [
      "a key usage BIT STRING with set unused bits: Go refuses",
      certificate({
        extensions: extensions(
          seq(oid("2.5.29.15"), octets(encodeNode(TAG.bitString, bytes(7, 0x81)))),
        ),
      }),
      /malformed bit string/,
    ],
    [
      "a critical flag that is not DER's 0xff: Go refuses",
      certificate({
        extensions: extensions(
          seq(oid("2.5.29.19"), encodeNode(0x01, bytes(1)), octets(seq())),
        ),
      }),
      /malformed boolean/,
    ],
    [
      "an extended key usage that is not a list of OIDs: Go refuses",
      certificate({ extensions: extensions(seq(oid("2.5.29.37"), octets(seq(utf8("x"))))) }),
      /unexpected object identifier/,
    ],
    [
      "the same extension twice: Go refuses",
      certificate({
        extensions: extensions(
          seq(oid("2.5.29.19"), octets(seq())),
          seq(oid("2.5.29.19"), octets(seq())),
        ),
      }),
      /duplicate extension/,
    ],
    [
      "an OID arc with a leading 0x80: Go refuses",
      certificate({
        extensions: extensions(
          seq(encodeNode(TAG.oid, bytes(0x55, 0x80, 0x1d, 0x13)), octets(seq())),
        ),
      }),
      /shortest form/,
    ],
    [
      "an unknown extension with any contents: Go takes it",
      certificate({ extensions: extensions(seq(oid("1.2.3.4"), octets(bytes(0xff, 0xff)))) }),
      null,
    ],
    [
      "bytes after the certificate: Go refuses (x509: trailing data)",
      Uint8Array.from([...certificate(), 0]),
      /trailing bytes/,
    ],
  ];
  for (const [name, der, error] of cases) {
    await t.step(name, () => {
      if (error === null) parseCertificate(der);
      else assert.throws(() => parseCertificate(der), error);
    });
  }
});

/** The parts of a PKCS#1 key, to put back together with changes. */
function rsaParts(): Uint8Array[] {
  const der = rsa.traditional!;
  const out: Uint8Array[] = [];
  // Walk the top-level SEQUENCE's elements by their headers (4-byte header: 30 82 LL LL).
  let offset = 4;
  while (offset < der.length) {
    const length = der[offset + 1]! < 0x80
      ? der[offset + 1]!
      : der.subarray(offset + 2, offset + 2 + (der[offset + 1]! & 0x7f)).reduce(
        (n, b) => n * 256 + b,
        0,
      );
    const header = der[offset + 1]! < 0x80 ? 2 : 2 + (der[offset + 1]! & 0x7f);
    out.push(der.subarray(offset, offset + header + length));
    offset += header + length;
  }
  return out;
}

const pkcs8 = (algorithm: Uint8Array, inner: Uint8Array) =>
  seq(derInteger(bytes(0)), algorithm, octets(inner));
const EC_P256 = seq(oid("1.2.840.10045.2.1"), oid("1.2.840.10045.3.1.7"));

Deno.test("parsePrivateKey() accepts and refuses as Go's crypto/tls X509KeyPair does", async (t) => {
  const parts = rsaParts();
  const [version, n, e, d, p, q] = parts;
  const scalar = p256.traditional!.subarray(7, 39);
  const cases: [string, string, Uint8Array, RegExp | null][] = [
    ["a PKCS#8 key under EC PRIVATE KEY: Go ignores the label", "EC PRIVATE KEY", p256.pkcs8, null],
    ["a SEC1 key under PRIVATE KEY: Go ignores the label", "PRIVATE KEY", p256.traditional!, null],
    [
      "a PKCS#1 key under FOO PRIVATE KEY: Go takes any such label",
      "FOO PRIVATE KEY",
      rsa.traditional!,
      null,
    ],
    [
      "bytes after a PKCS#8 key: Go ignores them",
      "PRIVATE KEY",
      Uint8Array.from([...p256.pkcs8, 0, 0]),
      null,
    ],
    [
      "bytes after a SEC1 key: Go ignores them",
      "EC PRIVATE KEY",
      Uint8Array.from([...p256.traditional!, 0]),
      null,
    ],
    [
      "bytes after a PKCS#1 key: Go refuses them",
      "RSA PRIVATE KEY",
      Uint8Array.from([...rsa.traditional!, 0]),
      /trailing bytes/,
    ],
    [
      "a PKCS#1 key without dp, dq and qinv: Go computes them",
      "RSA PRIVATE KEY",
      seq(version!, n!, e!, d!, p!, q!),
      null,
    ],
    [
      "a PKCS#1 key with a wrong dp and no dq or qinv: Go 1.24 checks what is there",
      "RSA PRIVATE KEY",
      seq(version!, n!, e!, d!, p!, q!, derInteger(bytes(3))),
      /inconsistent/,
    ],
    [
      "a PKCS#1 key of version 2: Go refuses",
      "RSA PRIVATE KEY",
      seq(derInteger(bytes(2)), ...parts.slice(1)),
      /unsupported RSA key version/,
    ],
    [
      "a PKCS#1 key with the exponent 1: Go refuses",
      "RSA PRIVATE KEY",
      seq(version!, n!, derInteger(bytes(1)), ...parts.slice(3)),
      /exponent out of range/,
    ],
    [
      "a PKCS#8 key of version 7: Go does not look at it",
      "PRIVATE KEY",
      seq(derInteger(bytes(7)), EC_P256, octets(p256.traditional!)),
      null,
    ],
    [
      "PKCS#8 names an unknown curve, the SEC1 key P-256: Go takes PKCS#8's and refuses",
      "PRIVATE KEY",
      pkcs8(seq(oid("1.2.840.10045.2.1"), oid("1.2.3.4")), p256.traditional!),
      /curve 1\.2\.3\.4 is not supported/,
    ],
    [
      "a SEC1 public key that is not a valid BIT STRING: Go refuses",
      "EC PRIVATE KEY",
      seq(
        derInteger(bytes(1)),
        octets(scalar),
        encodeNode(0xa0, oid("1.2.840.10045.3.1.7")),
        encodeNode(0xa1, encodeNode(TAG.bitString, bytes(8, 4))),
      ),
      /malformed bit string/,
    ],
    [
      "a SEC1 scalar with leading zero bytes: Go strips them",
      "EC PRIVATE KEY",
      seq(
        derInteger(bytes(1)),
        octets(bytes(0, 0), scalar),
        encodeNode(0xa0, oid("1.2.840.10045.3.1.7")),
      ),
      null,
    ],
    [
      "an Ed25519 PKCS#8 key with algorithm parameters: Go refuses",
      "PRIVATE KEY",
      pkcs8(seq(oid("1.3.101.112"), encodeNode(TAG.null)), octets(new Uint8Array(32))),
      /Ed25519 key with parameters/,
    ],
    [
      "an Ed25519 seed of 31 bytes: Go refuses",
      "PRIVATE KEY",
      pkcs8(seq(oid("1.3.101.112")), octets(new Uint8Array(31))),
      /seed of the wrong size/,
    ],
  ];
  for (const [name, label, der, error] of cases) {
    await t.step(name, async () => {
      if (error === null) await parsePrivateKey({ label, der, encrypted: false });
      else await assert.rejects(parsePrivateKey({ label, der, encrypted: false }), error);
    });
  }
});
