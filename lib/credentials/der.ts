/** A malformed DER structure; callers turn it into a message that names the file. */
export class DerError extends Error {}

/** One DER element: its tag byte and where its contents lie in the buffer. */
export interface DerNode {
  tag: number;
  bytes: Uint8Array;
  /** Offset of the tag byte within `bytes`. */
  offset: number;
  /** Offset of the contents within `bytes`. */
  start: number;
  /** Offset just past the contents. */
  end: number;
}

export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  numericString: 0x12,
  printableString: 0x13,
  t61String: 0x14,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  bmpString: 0x1e,
  sequence: 0x30,
  set: 0x31,
} as const;

/**
 * Reads the element at `offset`, checking every length against the buffer. Lengths must be DER's shortest form,
 * as Go's encoding/asn1 and cryptobyte (client-go's key and certificate readers) require: a long form for less
 * than 128 bytes, or with a leading zero byte, is refused there, so it is here.
 */
export function readNode(
  bytes: Uint8Array,
  offset: number,
  limit = bytes.length,
  bounded = true,
): DerNode {
  if (offset + 2 > limit) throw new DerError("truncated DER element");
  const tag = bytes[offset]!;
  if (!bounded && (tag & 0x1f) === 0x1f) return { tag, bytes, offset, start: limit, end: limit };
  if ((tag & 0x1f) === 0x1f) throw new DerError("unsupported multi-byte DER tag");
  let length = bytes[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new DerError("unsupported DER length");
    if (start + count > limit) throw new DerError("truncated DER length");
    if (bytes[start] === 0) throw new DerError("DER length with a leading zero byte");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[start + i]!;
    if (length < 0x80) throw new DerError("DER length not in its shortest form");
    start += count;
  }
  const end = start + length;
  if (end > limit && bounded) throw new DerError("DER element runs past its container");
  return { tag, bytes, offset, start, end };
}

/** The whole buffer as one element, with nothing after it. */
export function readRoot(bytes: Uint8Array): DerNode {
  const node = readNode(bytes, 0);
  if (node.end !== bytes.length) throw new DerError("trailing bytes after DER element");
  return node;
}

/** The children of a constructed element. */
export function children(node: DerNode): DerNode[] {
  const out: DerNode[] = [];
  let offset = node.start;
  while (offset < node.end) {
    const child = readNode(node.bytes, offset, node.end);
    out.push(child);
    offset = child.end;
  }
  return out;
}

/**
 * The first `count` children of a constructed element, read one by one; what follows them is not read, as Go's
 * encoding/asn1 and cryptobyte ignore elements after the fields they know (a later version's additions).
 */
export function leadingChildren(node: DerNode, count: number): DerNode[] {
  const out: DerNode[] = [];
  let offset = node.start;
  while (out.length < count && offset < node.end) {
    const child = readNode(node.bytes, offset, node.end);
    out.push(child);
    offset = child.end;
  }
  return out;
}

/**
 * The child of `parent` right after `after` (or its first) when it has tag `tag`, else undefined: an OPTIONAL
 * field, as Go matches one. Go's cryptobyte (certificates) only peeks at the tag; its encoding/asn1 (keys,
 * `header`) also reads the next element's tag and length, and refuses a malformed one even when it is skipped.
 */
export function optionalChild(
  parent: DerNode,
  after: DerNode | undefined,
  tag: number,
  header = false,
): DerNode | undefined {
  const offset = after ? after.end : parent.start;
  if (offset >= parent.end) return undefined;
  if (parent.bytes[offset] !== tag) {
    if (header) readNode(parent.bytes, offset, parent.end, false);
    return undefined;
  }
  return readNode(parent.bytes, offset, parent.end);
}

/** Checks the tag and returns the node, for readable structure walks. */
export function expect(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node) throw new DerError(`missing ${what}`);
  if (node.tag !== tag) throw new DerError(`unexpected ${what}`);
  return node;
}

/** The raw contents of an element. */
export function contents(node: DerNode): Uint8Array {
  return node.bytes.subarray(node.start, node.end);
}

/** The whole element, tag and length included, to copy it into a new structure. */
export function encoded(node: DerNode): Uint8Array {
  return node.bytes.subarray(node.offset, node.end);
}

/** The bits of a BIT STRING with no unused bits (keys and signatures). */
export function bitStringBytes(node: DerNode): Uint8Array {
  const raw = contents(expect(node, TAG.bitString, "bit string"));
  if (raw.length === 0 || raw[0] !== 0) throw new DerError("bit string with unused bits");
  return raw.subarray(1);
}

/**
 * Checks a BIT STRING as Go's cryptobyte reads one (key usage, a SEC1 key's public key): at most 7 unused bits,
 * none in an empty string, and the unused bits zero.
 */
export function checkBitString(node: DerNode): void {
  const raw = contents(expect(node, TAG.bitString, "bit string"));
  const unused = raw[0];
  if (
    unused === undefined || unused > 7 || (raw.length === 1 && unused > 0) ||
    (raw[raw.length - 1]! & ((1 << unused) - 1)) !== 0
  ) {
    throw new DerError("malformed bit string");
  }
}

/**
 * An INTEGER's content octets after DER's checks, which Go applies to every INTEGER it reads: not empty, and in
 * the shortest form (no 0x00 before a byte below 0x80, no 0xff before one from 0x80).
 */
function integerBytes(node: DerNode): Uint8Array {
  const raw = contents(expect(node, TAG.integer, "integer"));
  if (raw.length === 0) throw new DerError("empty integer");
  if (
    raw.length > 1 && ((raw[0] === 0 && raw[1]! < 0x80) || (raw[0] === 0xff && raw[1]! >= 0x80))
  ) {
    throw new DerError("integer not in its shortest form");
  }
  return raw;
}

/** Whether an INTEGER is negative (its first bit set). */
export function isNegative(node: DerNode): boolean {
  return integerBytes(node)[0]! >= 0x80;
}

/**
 * The magnitude of an INTEGER that must be positive (moduli, primes, exponents), without the sign padding byte,
 * as JWK and key comparison want it; zero and negative numbers are refused, as Go refuses them in keys.
 */
export function positiveInteger(node: DerNode): Uint8Array {
  let raw = integerBytes(node);
  if (raw[0]! >= 0x80) throw new DerError("negative integer");
  while (raw.length > 1 && raw[0] === 0) raw = raw.subarray(1);
  if (raw.length === 1 && raw[0] === 0) throw new DerError("zero integer");
  return raw;
}

/** An INTEGER that Go reads into an int (versions, exponents): at most 8 bytes, as a BigInt with its sign. */
export function int64(node: DerNode): bigint {
  const raw = integerBytes(node);
  if (raw.length > 8) throw new DerError("integer out of range");
  const value = BigInt(`0x${raw.toHex()}`);
  return raw[0]! >= 0x80 ? value - (1n << BigInt(raw.length * 8)) : value;
}

/** A small INTEGER (versions): Go's int rules, then within ±2^31 for plain comparisons. */
export function smallInteger(node: DerNode): number {
  const value = int64(node);
  if (value > 0x7fffffffn || value < -0x80000000n) throw new DerError("integer out of range");
  return Number(value);
}

/**
 * An OBJECT IDENTIFIER in dotted form. As in Go: each arc in its shortest base-128 form and below 2^31, so an
 * identifier Go refuses is not read here as another one.
 */
export function oid(node: DerNode): string {
  const raw = contents(expect(node, TAG.oid, "object identifier"));
  if (raw.length === 0) throw new DerError("empty object identifier");
  if (raw[raw.length - 1]! & 0x80) throw new DerError("truncated object identifier");
  const parts: number[] = [];
  let value = 0;
  let first = true;
  for (const byte of raw) {
    if (first && byte === 0x80) {
      throw new DerError("object identifier arc not in its shortest form");
    }
    first = false;
    value = value * 128 + (byte & 0x7f);
    if (value > 0x7fffffff) throw new DerError("object identifier arc out of range");
    if (!(byte & 0x80)) {
      if (parts.length === 0) {
        parts.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      } else parts.push(value);
      value = 0;
      first = true;
    }
  }
  return parts.join(".");
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * The fields of a UTCTime (`yearDigits` 2, seconds optional) or GeneralizedTime (4, seconds required) as
 * `text.match()` would give them for `^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?(Z|[+-]\d{4})$` (or `\d{4}` first):
 * [text, year, month, day, hour, minute, second or undefined, zone], or undefined. A loop, not that regular
 * expression: a valid call runs none.
 */
export function timeFields(
  text: string,
  yearDigits: 2 | 4,
  optionalSeconds: boolean,
): (string | undefined)[] | undefined {
  const digits = (from: number, count: number) => {
    if (from + count > text.length) return false;
    for (let i = from; i < from + count; i++) {
      const code = text.charCodeAt(i);
      if (code < 0x30 || code > 0x39) return false;
    }
    return true;
  };
  const fields: (string | undefined)[] = [text];
  let at = 0;
  for (const count of [yearDigits, 2, 2, 2, 2]) {
    if (!digits(at, count)) return undefined;
    fields.push(text.slice(at, at + count));
    at += count;
  }
  // The zone never starts with a digit, so taking the seconds whenever two digits follow is what the regular
  // expression's backtracking comes to.
  if (digits(at, 2)) {
    fields.push(text.slice(at, at + 2));
    at += 2;
  } else if (optionalSeconds) fields.push(undefined);
  else return undefined;
  const zone = text.slice(at);
  const sign = zone.charCodeAt(0);
  if (
    zone !== "Z" && !((sign === 0x2b || sign === 0x2d) && zone.length === 5 && digits(at + 1, 4))
  ) {
    return undefined;
  }
  fields.push(zone);
  return fields;
}

/**
 * UTCTime or GeneralizedTime as a Date (X.509 validity), by Go's cryptobyte rules, which decide whether client-go
 * loads the certificate: UTCTime is YYMMDDHHMM with optional seconds, GeneralizedTime YYYYMMDDHHMMSS without
 * fractions; either ends in Z or a non-zero offset (+hhmm); every field in range (no 30 February).
 */
export function time(node: DerNode): Date {
  const text = decodeText(contents(node));
  let match: (string | undefined)[] | undefined;
  let year: number;
  if (node.tag === TAG.utcTime) {
    match = timeFields(text, 2, true);
    if (!match) throw new DerError("malformed UTCTime");
    const yy = Number(match[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (node.tag === TAG.generalizedTime) {
    match = timeFields(text, 4, false);
    if (!match) throw new DerError("malformed GeneralizedTime");
    year = Number(match[1]);
  } else {
    throw new DerError("unexpected time type");
  }
  const [month, day, hour, minute, second] = [2, 3, 4, 5, 6].map((i) => Number(match[i] ?? 0));
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 && !leap ? 28 : DAYS_IN_MONTH[month! - 1] ?? 0;
  if (month! < 1 || day! < 1 || day! > days || hour! > 23 || minute! > 59 || second! > 59) {
    throw new DerError("invalid date");
  }
  let offsetMinutes = 0;
  const zone = match[7]!;
  if (zone !== "Z") {
    const hours = Number(zone.slice(1, 3));
    const minutes = Number(zone.slice(3, 5));
    // Go writes a zero offset back as "Z" and refuses any text that does not round-trip.
    if (hours > 24 || minutes > 59 || hours + minutes === 0) {
      throw new DerError("invalid time zone");
    }
    offsetMinutes = (zone[0] === "+" ? 1 : -1) * (hours * 60 + minutes);
  }
  return new Date(
    Date.UTC(year, month! - 1, day, hour, minute, second) - offsetMinutes * 60_000,
  );
}

/**
 * A directory string (PrintableString, UTF8String, ...) as text. String types are checked as Go's x509 parser
 * checks them, since it refuses the whole certificate otherwise: PrintableString's characters (with Go's `*` and
 * `&`), valid UTF-8, IA5String ASCII, NumericString digits and spaces, BMPString without surrogates; other
 * value types as Go reads them (INTEGER, BOOLEAN, OID, times, BIT STRING), and anything else as it is.
 */
export function directoryString(node: DerNode): string {
  const raw = contents(node);
  switch (node.tag) {
    case TAG.printableString:
      printable ??= Array.from(
        { length: 256 },
        (_, byte) => /[A-Za-z0-9 '()+,\-./:=?*&]/.test(String.fromCharCode(byte)),
      );
      for (const byte of raw) {
        if (!printable[byte]) throw new DerError("invalid PrintableString");
      }
      return decodeText(raw);
    case TAG.utf8String:
      // ASCII is valid UTF-8, and decodeText reads it without a TextDecoder (start-up time).
      if (isAscii(raw)) return decodeText(raw);
      utf8Fatal ??= new TextDecoder("utf-8", { fatal: true });
      try {
        return utf8Fatal.decode(raw);
      } catch {
        throw new DerError("invalid UTF8String");
      }
    case TAG.ia5String:
      if (!isAscii(raw)) throw new DerError("invalid IA5String");
      return decodeText(raw);
    case TAG.numericString:
      if (!/^[0-9 ]*$/.test(decodeText(raw))) throw new DerError("invalid NumericString");
      return decodeText(raw);
    case TAG.t61String:
      // Latin-1, as Go and BoringSSL read T.61.
      return Array.from(raw, (byte) => String.fromCharCode(byte)).join("");
    case TAG.bmpString: {
      if (raw.length % 2 !== 0) throw new DerError("invalid BMPString");
      let out = "";
      let end = raw.length;
      if (end >= 2 && raw[end - 1] === 0 && raw[end - 2] === 0) end -= 2;
      for (let i = 0; i < end; i += 2) {
        const unit = (raw[i]! << 8) | raw[i + 1]!;
        if (
          unit === 0xfffe || unit === 0xffff || (unit >= 0xfdd0 && unit <= 0xfdef) ||
          (unit >= 0xd800 && unit <= 0xdfff)
        ) {
          throw new DerError("invalid BMPString");
        }
        out += String.fromCharCode(unit);
      }
      return out;
    }
    case TAG.integer:
      return int64(node).toString();
    case TAG.oid:
      return oid(node);
    case TAG.utcTime:
    case TAG.generalizedTime:
      return time(node).toISOString();
    case TAG.bitString:
      checkBitString(node);
      return decodeText(raw);
    case TAG.boolean:
      return String(boolean(node));
    default:
      return decodeText(raw);
  }
}

let utf8Fatal: TextDecoder | undefined;

/** PrintableString's characters, and Go's two extras (`*` and `&`), by byte; made on first use. */
let printable: boolean[] | undefined;

/** A DER BOOLEAN: one byte, 0x00 or 0xff, as Go requires. */
export function boolean(node: DerNode): boolean {
  const raw = contents(expect(node, TAG.boolean, "boolean"));
  if (raw.length !== 1 || (raw[0] !== 0 && raw[0] !== 0xff)) {
    throw new DerError("malformed boolean");
  }
  return raw[0] === 0xff;
}

/** Encodes one DER element (used to wrap PKCS#1 and SEC1 keys into PKCS#8 for WebCrypto). */
export function encodeNode(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const header: number[] = [tag];
  if (length < 0x80) header.push(length);
  else {
    const bytes: number[] = [];
    for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
    header.push(0x80 | bytes.length, ...bytes);
  }
  const out = new Uint8Array(header.length + length);
  out.set(header);
  let offset = header.length;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Encodes a dotted OBJECT IDENTIFIER. */
export function encodeOid(dotted: string): Uint8Array {
  const [first = 0, second = 0, ...rest] = dotted.split(".").map(Number);
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const chunk: number[] = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) {
      chunk.unshift(0x80 | (n & 0x7f));
    }
    bytes.push(...chunk);
  }
  return encodeNode(TAG.oid, new Uint8Array(bytes));
}

let utf8: TextDecoder | undefined;

/**
 * Bytes as text: ASCII (PEM files, times, PrintableString, almost every name) without a TextDecoder, whose first
 * use costs a measurable fraction of a millisecond on every kubectl call; anything else as UTF-8, invalid bytes
 * becoming U+FFFD.
 */
export function decodeText(bytes: Uint8Array): string {
  if (!isAscii(bytes)) {
    utf8 ??= new TextDecoder();
    return utf8.decode(bytes);
  }
  let out = "";
  // In slices, to stay far below the argument limit; `apply` takes the bytes as they are, where a spread would
  // walk an iterator (several times slower on a cold start).
  for (let i = 0; i < bytes.length; i += 4096) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + 4096) as unknown as number[]);
  }
  return out;
}

/** Whether every byte is 7-bit ASCII, so that each byte is one UTF-16 code unit. */
export function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! >= 0x80) return false;
  }
  return true;
}
