/** Byte helpers for the kubeconfig editor's tests: files that are not (all) UTF-8, and bytes put together. */

/** The UTF-8 bytes of `text`. */
export const bytesOf = (text: string) => new TextEncoder().encode(text);

/** The Latin-1 bytes of `text` (one byte per character): a file that is not valid UTF-8. */
export const latin1 = (text: string) => Uint8Array.from(text, (ch) => ch.charCodeAt(0));

/** `parts` one after the other. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
