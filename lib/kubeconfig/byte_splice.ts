/**
 * From the edited text back to the bytes to write: only the changed span is replaced, so bytes outside it stay
 * exactly as they were on disk, even bytes that are not UTF-8; with the UTF-8 checks that guard it.
 */

import { KubeconfigError } from "../shared/errors.ts";

/**
 * Where two texts differ: the length of their common start (`prefix`) and of their common end after it
 * (`suffix`), in UTF-16 code units. The edit and the diff a person sees both work on that span only.
 */
export function changedSpan(oldText: string, newText: string): { prefix: number; suffix: number } {
  const max = Math.min(oldText.length, newText.length);
  let prefix = 0;
  while (prefix < max && oldText.charCodeAt(prefix) === newText.charCodeAt(prefix)) prefix++;
  let suffix = 0;
  while (
    suffix < max - prefix &&
    oldText.charCodeAt(oldText.length - 1 - suffix) ===
      newText.charCodeAt(newText.length - 1 - suffix)
  ) suffix++;
  return { prefix, suffix };
}

/**
 * The bytes to write: `oldBytes` with only the span where `oldText` (their UTF-8 decoding) and `newText` differ
 * replaced, so that every byte outside the edit stays exactly as it was, even bytes that are not UTF-8 (which
 * `oldText` holds as U+FFFD). Refuses, naming the line, rather than write U+FFFD over such bytes inside the span.
 */
export function spliceBytes(
  oldBytes: Uint8Array,
  oldText: string,
  newText: string,
  path: string,
): Uint8Array {
  let { prefix, suffix } = changedSpan(oldText, newText);
  // Never cut a surrogate pair: its two halves are one code point, one UTF-8 sequence.
  if (prefix > 0 && isHighSurrogate(oldText.charCodeAt(prefix - 1))) prefix--;
  if (suffix > 0 && isLowSurrogate(oldText.charCodeAt(oldText.length - suffix))) suffix--;
  const [from, to] = byteOffsets(oldBytes, oldText, [prefix, oldText.length - suffix]);
  const insert = newText.slice(prefix, newText.length - suffix);
  const bad = firstInvalidByte(oldBytes, from!, to!);
  if (bad !== undefined && insert.includes("\uFFFD")) {
    throw new KubeconfigError(
      `kubeconfig ${path} line ${
        lineOfByte(oldBytes, bad)
      } is not valid UTF-8 and lies in the part that ` +
        `changes; nothing was written rather than rewrite those bytes`,
      { hint: "save the file as UTF-8 (kubectl cannot read it otherwise either), then run again" },
    );
  }
  const encoded = new TextEncoder().encode(insert);
  const out = new Uint8Array(from! + encoded.length + oldBytes.length - to!);
  out.set(oldBytes.subarray(0, from));
  out.set(encoded, from);
  out.set(oldBytes.subarray(to), from! + encoded.length);
  // The span found in the bytes must decode to the span of the text, or the offsets are wrong. The result then
  // decodes as its parts do (so a 20 MB file is not decoded again), unless a continuation byte now follows the
  // kept prefix: a dangling lead byte before it could take it in. Only then is the whole result decoded.
  const joined = out[from!];
  const spanOk = new TextDecoder().decode(oldBytes.subarray(from, to)) ===
    oldText.slice(prefix, oldText.length - suffix);
  const mayJoin = joined !== undefined && joined >= 0x80 && joined <= 0xbf;
  if (!spanOk || (mayJoin && new TextDecoder().decode(out) !== newText)) {
    throw new KubeconfigError(
      `cannot keep the bytes of kubeconfig ${path} outside the edit exactly, so nothing was written`,
    );
  }
  return out;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/**
 * One step of the WHATWG UTF-8 decoder (what TextDecoder does): how many bytes at `at` make one code point or one
 * U+FFFD, how many UTF-16 units that decodes to, and whether it was valid.
 */
function utf8Step(bytes: Uint8Array, at: number): [bytes: number, units: number, ok: boolean] {
  const lead = bytes[at]!;
  if (lead < 0x80) return [1, 1, true];
  let need = 0;
  let lower = 0x80;
  let upper = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) need = 1;
  else if (lead >= 0xe0 && lead <= 0xef) {
    need = 2;
    if (lead === 0xe0) lower = 0xa0;
    if (lead === 0xed) upper = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    need = 3;
    if (lead === 0xf0) lower = 0x90;
    if (lead === 0xf4) upper = 0x8f;
  } else return [1, 1, false];
  let got = 0;
  while (got < need && at + 1 + got < bytes.length) {
    const next = bytes[at + 1 + got]!;
    if (next < lower || next > upper) break;
    lower = 0x80;
    upper = 0xbf;
    got++;
  }
  // On an error the byte that broke the sequence is decoded again on its own.
  if (got < need) return [1 + got, 1, false];
  return [1 + need, need === 3 ? 2 : 1, true];
}

/** Where each UTF-16 offset of `text` (ascending) lies in `bytes`, the bytes it was decoded from. */
function byteOffsets(bytes: Uint8Array, text: string, targets: number[]): number[] {
  const out: number[] = [];
  // TextDecoder drops a leading byte order mark unless told otherwise.
  let at =
    bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf && text.charCodeAt(0) !== 0xfeff
      ? 3
      : 0;
  let units = 0;
  for (const target of targets) {
    while (units < target && at < bytes.length) {
      const [size, count] = utf8Step(bytes, at);
      at += size;
      units += count;
    }
    out.push(at);
  }
  return out;
}

function firstInvalidByte(bytes: Uint8Array, from: number, to: number): number | undefined {
  for (let at = from; at < to;) {
    const [size, , ok] = utf8Step(bytes, at);
    if (!ok) return at;
    at += size;
  }
  return undefined;
}

function lineOfByte(bytes: Uint8Array, at: number): number {
  let line = 1;
  for (let i = 0; i < at; i++) if (bytes[i] === 0x0a) line++;
  return line;
}
