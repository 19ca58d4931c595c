/** One PEM block: its label ("CERTIFICATE", "PRIVATE KEY", ...) and decoded DER bytes. */
export interface PemBlock {
  label: string;
  der: Uint8Array;
  /** Whether RFC 1421 headers mark the block as encrypted ("Proc-Type: 4,ENCRYPTED", "DEK-Info: ..."). */
  encrypted: boolean;
}

/** A PEM block whose body is not valid base64, or has no END line; carries no content. */
export class PemError extends Error {}

/** The blocks of a file, and why each block that looked like one was skipped (in file order). */
export interface PemDecoding {
  blocks: PemBlock[];
  skipped: PemError[];
}

const START = "\n-----BEGIN ";
const END = "\n-----END ";
const DASHES = "-----";

/**
 * Finds every PEM block in a file exactly as Go's pem.Decode does, which is what client-go will do with the
 * same bytes: text between blocks is ignored (openssl and Vault write "Bag Attributes" or comments there), and a
 * BEGIN line without a matching END, or a body that is not base64, is skipped rather than fatal. The reasons for
 * skipping are kept, to explain a file where nothing usable was found.
 */
export function decodePem(text: string): PemDecoding {
  const blocks: PemBlock[] = [];
  const skipped: PemError[] = [];
  let rest = 0;
  for (;;) {
    // A BEGIN line starts the text or a line.
    if (text.startsWith(START.slice(1), rest)) rest += START.length - 1;
    else {
      const at = text.indexOf(START, rest);
      if (at === -1) break;
      rest = at + START.length;
    }
    let typeLine: string;
    [typeLine, rest] = getLine(text, rest);
    if (!typeLine.endsWith(DASHES)) continue;
    const label = typeLine.slice(0, -DASHES.length);
    // RFC 1421 headers: lines with a colon, right after the BEGIN line.
    const headers = new Map<string, string>();
    let truncated = false;
    for (;;) {
      if (rest >= text.length) {
        truncated = true;
        break;
      }
      const [line, next] = getLine(text, rest);
      const colon = line.indexOf(":");
      if (colon === -1) break;
      headers.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      rest = next;
    }
    // Go gives up on the whole input here; nothing can follow anyway.
    if (truncated) {
      skipped.push(new PemError(`${name(label)} has no END line`));
      break;
    }
    let endIndex: number;
    let trailer: number;
    if (headers.size === 0 && text.startsWith(END.slice(1), rest)) {
      endIndex = rest;
      trailer = rest + END.length - 1;
    } else {
      endIndex = text.indexOf(END, rest);
      trailer = endIndex + END.length;
    }
    // The END line names the same type, and nothing but spaces and tabs follow it on its line.
    if (
      endIndex === -1 || text.slice(trailer, trailer + typeLine.length) !== typeLine ||
      getLine(text, trailer + typeLine.length)[0] !== ""
    ) {
      skipped.push(new PemError(`${name(label)} has no END line`));
      continue;
    }
    // Go drops spaces and tabs, and its base64 decoder skips CR and LF; anything else must be base64.
    const base64 = withoutBlanks(text, rest, endIndex);
    if (!isPaddedBase64(base64) || base64.length % 4 !== 0) {
      skipped.push(new PemError(`${name(label)} is not valid base64`));
      continue;
    }
    const encrypted = headers.has("DEK-Info") || headers.get("Proc-Type") === "4,ENCRYPTED";
    blocks.push({ label, der: Uint8Array.fromBase64(base64), encrypted });
    rest = getLine(text, endIndex + END.length - 1)[1];
  }
  return { blocks, skipped };
}

// The two below are loops, not regular expressions, as is every check on the plugin's path: a kubectl call that
// runs no regular expression never starts V8's regexp compiler (about 0.3 ms for the first one, more for each).

/** `text` from `from` to `to` without spaces, tabs, CR and LF. */
function withoutBlanks(text: string, from: number, to: number): string {
  let out = "";
  let start = from;
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x20 || code === 0x09 || code === 0x0d || code === 0x0a) {
      out += text.slice(start, i);
      start = i + 1;
    }
  }
  return out + text.slice(start, to);
}

/** Only base64 characters (A-Z, a-z, 0-9, +, /), then at most two `=`. */
function isPaddedBase64(text: string): boolean {
  let end = text.length;
  for (let pad = 0; pad < 2 && end > 0 && text.charCodeAt(end - 1) === 0x3d; pad++) end--;
  for (let i = 0; i < end; i++) {
    const code = text.charCodeAt(i);
    const ok = (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) ||
      (code >= 0x30 && code <= 0x39) || code === 0x2b || code === 0x2f;
    if (!ok) return false;
  }
  return true;
}

/** A block's label as messages quote it: only the usual upper-case names, since the line may hold anything. */
function name(label: string): string {
  return /^[A-Z0-9 ]{1,40}$/.test(label) ? `PEM block "${label}"` : "a PEM block";
}

/**
 * The blocks of a file as decodePem finds them; when there are none but something was skipped, throws why (a
 * truncated or corrupt block is then the likely mistake).
 */
export function parsePem(text: string): PemBlock[] {
  const { blocks, skipped } = decodePem(text);
  if (blocks.length === 0 && skipped.length > 0) throw skipped[0]!;
  return blocks;
}

/** Go's pem getLine: the line at `from` without its CR LF and trailing spaces and tabs, and where the next begins. */
function getLine(text: string, from: number): [string, number] {
  let end = text.indexOf("\n", from);
  let next: number;
  if (end === -1) {
    end = text.length;
    next = end;
  } else {
    next = end + 1;
    if (end > from && text[end - 1] === "\r") end--;
  }
  let stop = end;
  while (stop > from && (text[stop - 1] === " " || text[stop - 1] === "\t")) stop--;
  return [text.slice(from, stop), next];
}

/** Encodes DER as a PEM block with 64-column lines, the form every TLS stack reads. */
export function encodePem(label: string, der: Uint8Array): string {
  const base64 = der.toBase64();
  let out = `-----BEGIN ${label}-----\n`;
  for (let i = 0; i < base64.length; i += 64) out += base64.slice(i, i + 64) + "\n";
  return out + `-----END ${label}-----\n`;
}
