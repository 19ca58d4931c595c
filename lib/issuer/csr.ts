/**
 * A PKCS#10 certificate signing request (RFC 2986) written by hand next to the DER reader: subject CN and a
 * subjectAltName extension request, signed by the new local key. npm:@peculiar/x509 would do it too, but its import
 * alone took 120-140 ms and would put npm on the plugin's path.
 */
import { encodeNode, encodeOid, TAG } from "../credentials/der.ts";
import { encodePem } from "../credentials/pem.ts";
import { UsageError } from "../shared/errors.ts";
import type { CsrMaker } from "./issuer.ts";
import type { LocalKey } from "./keys.ts";

const OIDS = {
  commonName: "2.5.4.3",
  extensionRequest: "1.2.840.113549.1.9.14",
  subjectAltName: "2.5.29.17",
} as const;

/** The CSR maker a driver gets: CSRs for `key`, whatever subject the driver settles on. */
export function csrMaker(key: LocalKey): CsrMaker {
  return (subject) => makeCsr(key, subject);
}

/** A PEM `CERTIFICATE REQUEST` for `key` with this subject, signed by it. */
export async function makeCsr(
  key: LocalKey,
  subject: { commonName?: string; altNames: readonly string[] },
): Promise<string> {
  const names = subject.altNames.map(generalName);
  const extensions = names.length === 0 ? [] : [
    encodeNode(
      TAG.sequence,
      encodeOid(OIDS.extensionRequest),
      encodeNode(
        TAG.set,
        encodeNode(
          TAG.sequence,
          encodeNode(
            TAG.sequence,
            encodeOid(OIDS.subjectAltName),
            encodeNode(TAG.octetString, encodeNode(TAG.sequence, ...names)),
          ),
        ),
      ),
    ),
  ];
  const info = encodeNode(
    TAG.sequence,
    encodeNode(TAG.integer, new Uint8Array([0])),
    name(subject.commonName),
    key.spki,
    // attributes [0] IMPLICIT SET OF Attribute: present even when empty.
    encodeNode(0xa0, ...extensions),
  );
  const raw = new Uint8Array(
    await crypto.subtle.sign(key.signature.params, key.privateKey, info as Uint8Array<ArrayBuffer>),
  );
  const signature = key.signature.ecdsa ? ecdsaDer(raw) : raw;
  const algorithm = encodeNode(
    TAG.sequence,
    encodeOid(key.signature.oid),
    ...(key.signature.nullParameters ? [encodeNode(TAG.null)] : []),
  );
  const request = encodeNode(
    TAG.sequence,
    info,
    algorithm,
    encodeNode(TAG.bitString, new Uint8Array([0]), signature),
  );
  return encodePem("CERTIFICATE REQUEST", request);
}

const encoder = new TextEncoder();

/** The subject: CN only, as UTF8String; an empty name when there is none (step-ca takes it from its token). */
function name(commonName: string | undefined): Uint8Array {
  if (commonName === undefined || commonName === "") return encodeNode(TAG.sequence);
  return encodeNode(
    TAG.sequence,
    encodeNode(
      TAG.set,
      encodeNode(
        TAG.sequence,
        encodeOid(OIDS.commonName),
        encodeNode(TAG.utf8String, encoder.encode(commonName)),
      ),
    ),
  );
}

/** One alt name as its GeneralName: an IP address, an email, a URI (spiffe://...), or else a DNS name. */
export function generalName(value: string): Uint8Array {
  const ip = parseIp(value);
  if (ip) return encodeNode(0x87, ip);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return encodeNode(0x86, ascii(value, "URI"));
  if (value.includes("@")) return encodeNode(0x81, ascii(value, "email address"));
  return encodeNode(0x82, ascii(value, "DNS name"));
}

function ascii(value: string, what: string): Uint8Array {
  // IA5String: 7-bit only. An internationalised DNS name goes in its xn-- form.
  if (!/^[\x21-\x7e]+$/.test(value)) {
    throw new UsageError(`--alt-names ${JSON.stringify(value)} is not a valid ${what}`, {
      hint: "alt names are ASCII: write an internationalised domain in its xn-- form",
    });
  }
  return encoder.encode(value);
}

/** IPv4 or IPv6 text as its 4 or 16 bytes, or undefined when it is not an address. */
export function parseIp(text: string): Uint8Array | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const bytes = v4.slice(1).map(Number);
    return bytes.every((b) => b <= 255) ? new Uint8Array(bytes) : undefined;
  }
  if (!text.includes(":") || !/^[0-9a-f:.]+$/i.test(text)) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && piece.includes(".")) {
        const tail = parseIp(piece);
        if (!tail || tail.length !== 4) return undefined;
        out.push((tail[0]! << 8) | tail[1]!, (tail[2]! << 8) | tail[3]!);
      } else if (/^[0-9a-f]{1,4}$/i.test(piece)) out.push(parseInt(piece, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  return bytes;
}

/** WebCrypto's ECDSA signature (r||s, each the curve's size) as X.509's SEQUENCE { INTEGER r, INTEGER s }. */
export function ecdsaDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  const integer = (bytes: Uint8Array) => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    const trimmed = bytes.subarray(start);
    // A positive INTEGER whose top bit is set takes a leading zero.
    return encodeNode(
      TAG.integer,
      trimmed[0]! & 0x80 ? new Uint8Array([0, ...trimmed]) : trimmed,
    );
  };
  return encodeNode(TAG.sequence, integer(raw.subarray(0, half)), integer(raw.subarray(half)));
}
