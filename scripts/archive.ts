/**
 * Deterministic release archives written in TypeScript: a ustar tar compressed with gzip, and a zip with deflate,
 * so that a build needs neither `tar` nor `zip` and the same inputs always give the same bytes (and checksums).
 */

/** One regular file to put in an archive, at the archive's top level or under a relative path. */
export interface ArchiveEntry {
  /** Path inside the archive, with "/" separators; no leading "/" and no "..". */
  name: string;
  data: Uint8Array;
  /** Unix permission bits, e.g. 0o755 for the executable, 0o644 for documents. */
  mode: number;
}

/** Settings that would otherwise make two builds differ. */
export interface ArchiveOptions {
  /** Modification time recorded for every file (SOURCE_DATE_EPOCH in a release build). */
  mtime: Date;
}

const encoder = new TextEncoder();

/** Builds a .tar.gz holding `entries` in the given order, owned by root, with the given modes. */
export async function tarGz(
  entries: readonly ArchiveEntry[],
  options: ArchiveOptions,
): Promise<Uint8Array> {
  const blocks: Uint8Array[] = [];
  for (const entry of entries) {
    checkName(entry.name);
    blocks.push(tarHeader(entry, options.mtime));
    blocks.push(entry.data);
    const padding = (512 - (entry.data.length % 512)) % 512;
    if (padding) blocks.push(new Uint8Array(padding));
  }
  // Two empty blocks end the archive.
  blocks.push(new Uint8Array(1024));
  return await compress(concat(blocks), "gzip");
}

function tarHeader(entry: ArchiveEntry, mtime: Date): Uint8Array {
  const header = new Uint8Array(512);
  const name = encoder.encode(entry.name);
  if (name.length > 100) {
    throw new Error(`archive entry name ${entry.name} is longer than 100 bytes`);
  }
  header.set(name, 0);
  putOctal(header, 100, 8, entry.mode & 0o7777);
  putOctal(header, 108, 8, 0); // uid
  putOctal(header, 116, 8, 0); // gid
  putOctal(header, 124, 12, entry.data.length);
  putOctal(header, 136, 12, Math.max(0, Math.floor(mtime.getTime() / 1000)));
  header.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  header[156] = 0x30; // "0": regular file
  header.set(encoder.encode("ustar\u000000"), 257);
  header.set(encoder.encode("root"), 265);
  header.set(encoder.encode("root"), 297);
  putOctal(header, 329, 8, 0); // devmajor
  putOctal(header, 337, 8, 0); // devminor
  const sum = header.reduce((total, byte) => total + byte, 0);
  header.set(encoder.encode(sum.toString(8).padStart(6, "0") + "\u0000 "), 148);
  return header;
}

function putOctal(target: Uint8Array, offset: number, width: number, value: number): void {
  const digits = value.toString(8).padStart(width - 1, "0");
  if (digits.length > width - 1) throw new Error(`value ${value} does not fit a tar header field`);
  target.set(encoder.encode(digits + "\u0000"), offset);
}

/** Builds a .zip holding `entries` (deflated), with Unix modes so that unzip keeps the executable bit. */
export async function zip(
  entries: readonly ArchiveEntry[],
  options: ArchiveOptions,
): Promise<Uint8Array> {
  const { time, date } = dosDateTime(options.mtime);
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const entry of entries) {
    checkName(entry.name);
    const name = encoder.encode(entry.name);
    const compressed = await compress(entry.data, "deflate-raw");
    const crc = crc32(entry.data);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true); // version needed: 2.0 (deflate)
    local.setUint16(6, 0, true); // flags
    local.setUint16(8, 8, true); // method: deflate
    local.setUint16(10, time, true);
    local.setUint16(12, date, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, compressed.length, true);
    local.setUint32(22, entry.data.length, true);
    local.setUint16(26, name.length, true);
    local.setUint16(28, 0, true); // extra field length
    parts.push(new Uint8Array(local.buffer), name, compressed);

    const record = new DataView(new ArrayBuffer(46));
    record.setUint32(0, 0x02014b50, true);
    record.setUint16(4, (3 << 8) | 20, true); // made by: Unix, spec 2.0, so the external attributes are a mode
    record.setUint16(6, 20, true);
    record.setUint16(8, 0, true);
    record.setUint16(10, 8, true);
    record.setUint16(12, time, true);
    record.setUint16(14, date, true);
    record.setUint32(16, crc, true);
    record.setUint32(20, compressed.length, true);
    record.setUint32(24, entry.data.length, true);
    record.setUint16(28, name.length, true);
    // 30: extra length, 32: comment length, 34: disk number, 36: internal attributes: all 0
    record.setUint32(38, ((0o100000 | (entry.mode & 0o7777)) << 16) >>> 0, true);
    record.setUint32(42, offset, true);
    central.push(new Uint8Array(record.buffer), name);
    offset += 30 + name.length + compressed.length;
  }
  const directory = concat(central);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, directory.length, true);
  end.setUint32(16, offset, true);
  return concat([...parts, directory, new Uint8Array(end.buffer)]);
}

/** MS-DOS date and time (UTC, two-second steps); zip cannot say anything before 1980. */
function dosDateTime(when: Date): { time: number; date: number } {
  const d = when.getUTCFullYear() < 1980 ? new Date(Date.UTC(1980, 0, 1)) : when;
  return {
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | Math.floor(d.getUTCSeconds() / 2),
    date: ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
  };
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, the zip and gzip checksum) of `data`. */
export function crc32(data: Uint8Array): number {
  crcTable ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = 0xffffffff;
  for (const byte of data) crc = crcTable[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Lowercase hex SHA-256 of `data`, the form krew manifests and `sha256sum` use. */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function checkName(name: string): void {
  if (name === "" || name.startsWith("/") || name.split("/").includes("..")) {
    throw new Error(`archive entry name ${JSON.stringify(name)} must be a relative path`);
  }
}

async function compress(data: Uint8Array, format: CompressionFormat): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream(format),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
