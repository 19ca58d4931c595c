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
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  t61String: 0x14,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  bmpString: 0x1e,
  sequence: 0x30,
  set: 0x31,
} as const;

/** Reads the element at `offset`, checking every length against the buffer. */
export function readNode(bytes: Uint8Array, offset: number, limit = bytes.length): DerNode {
  if (offset + 2 > limit) throw new DerError("truncated DER element");
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError("unsupported multi-byte DER tag");
  let length = bytes[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new DerError("unsupported DER length");
    if (start + count > limit) throw new DerError("truncated DER length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[start + i]!;
    start += count;
  }
  const end = start + length;
  if (end > limit) throw new DerError("DER element runs past its container");
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

/** An INTEGER's magnitude without the sign padding byte, as JWK and key comparison want it. */
export function unsignedInteger(node: DerNode): Uint8Array {
  let raw = contents(expect(node, TAG.integer, "integer"));
  while (raw.length > 1 && raw[0] === 0) raw = raw.subarray(1);
  return raw;
}

/** A small INTEGER (versions). */
export function smallInteger(node: DerNode): number {
  const raw = contents(expect(node, TAG.integer, "integer"));
  if (raw.length === 0 || raw.length > 4) throw new DerError("integer out of range");
  return raw.reduce((n, b) => n * 256 + b, 0);
}

/** An OBJECT IDENTIFIER in dotted form. */
export function oid(node: DerNode): string {
  const raw = contents(expect(node, TAG.oid, "object identifier"));
  if (raw.length === 0) throw new DerError("empty object identifier");
  const parts: number[] = [];
  let value = 0;
  for (const byte of raw) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      if (parts.length === 0) {
        parts.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      } else parts.push(value);
      value = 0;
    }
  }
  if (raw[raw.length - 1]! & 0x80) throw new DerError("truncated object identifier");
  return parts.join(".");
}

/** UTCTime or GeneralizedTime as a Date (X.509 validity). */
export function time(node: DerNode): Date {
  const text = decodeText(contents(node));
  let match: RegExpMatchArray | null;
  let year: number;
  if (node.tag === TAG.utcTime) {
    match = text.match(/^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?Z$/);
    if (!match) throw new DerError("malformed UTCTime");
    const yy = Number(match[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (node.tag === TAG.generalizedTime) {
    match = text.match(/^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?(?:\.\d+)?Z$/);
    if (!match) throw new DerError("malformed GeneralizedTime");
    year = Number(match[1]);
  } else {
    throw new DerError("unexpected time type");
  }
  const date = new Date(
    Date.UTC(
      year,
      Number(match[2]) - 1,
      Number(match[3]),
      Number(match[4]),
      Number(match[5]),
      Number(match[6] ?? 0),
    ),
  );
  if (Number.isNaN(date.getTime())) throw new DerError("invalid date");
  return date;
}

/** A directory string (PrintableString, UTF8String, ...) as text. */
export function directoryString(node: DerNode): string {
  const raw = contents(node);
  if (node.tag === TAG.bmpString) {
    let out = "";
    for (let i = 0; i + 1 < raw.length; i += 2) {
      out += String.fromCharCode((raw[i]! << 8) | raw[i + 1]!);
    }
    return out;
  }
  return decodeText(raw);
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
