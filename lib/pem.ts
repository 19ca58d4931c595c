/** One PEM block: its label ("CERTIFICATE", "PRIVATE KEY", ...) and decoded DER bytes. */
export interface PemBlock {
  label: string;
  der: Uint8Array;
  /** Whether RFC 1421 headers such as "Proc-Type: 4,ENCRYPTED" were present. */
  encrypted: boolean;
}

/** A PEM block whose body is not valid base64, or has no END line; carries no content. */
export class PemError extends Error {}

const BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----/g;

/**
 * Finds every PEM block in a file, ignoring text between blocks the way Go's pem.Decode does (openssl and Vault
 * write "Bag Attributes" or comments there).
 */
export function parsePem(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  BEGIN.lastIndex = 0;
  let match: RegExpExecArray | null;
  while ((match = BEGIN.exec(text))) {
    const label = match[1]!;
    const endMarker = `-----END ${label}-----`;
    const end = text.indexOf(endMarker, BEGIN.lastIndex);
    if (end === -1) throw new PemError(`PEM block "${label}" has no END line`);
    let body = text.slice(BEGIN.lastIndex, end);
    let encrypted = false;
    if (body.includes(":")) {
      // RFC 1421 headers come first and end at a blank line.
      encrypted = /Proc-Type:\s*4,ENCRYPTED/.test(body);
      const blank = body.search(/\r?\n\r?\n/);
      body = blank === -1 ? "" : body.slice(blank);
    }
    const base64 = body.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) {
      throw new PemError(`PEM block "${label}" is not valid base64`);
    }
    const der = Uint8Array.fromBase64(base64);
    if (der.length === 0) throw new PemError(`PEM block "${label}" is empty`);
    blocks.push({ label, der, encrypted });
    BEGIN.lastIndex = end + endMarker.length;
  }
  return blocks;
}

/** Encodes DER as a PEM block with 64-column lines, the form every TLS stack reads. */
export function encodePem(label: string, der: Uint8Array): string {
  const base64 = der.toBase64();
  let out = `-----BEGIN ${label}-----\n`;
  for (let i = 0; i < base64.length; i += 64) out += base64.slice(i, i + 64) + "\n";
  return out + `-----END ${label}-----\n`;
}
