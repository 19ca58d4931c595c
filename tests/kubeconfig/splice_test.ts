import assert from "node:assert/strict";
import fc from "fast-check";
import { spliceBytes } from "../../lib/kubeconfig/splice.ts";
import { fuzzParams } from "../helpers.ts";
import { bytesOf, concat, latin1 } from "./bytes.ts";

Deno.test("spliceBytes() keeps a byte order mark and bytes around the span, and refuses U+FFFD over bad bytes", () => {
  const old = concat(bytesOf("\uFEFFa: 1\n"), latin1("# \xff\n"), bytesOf("b: 2\n"));
  const text = new TextDecoder().decode(old);
  const out = spliceBytes(old, text, text.replace("b: 2", "b: 3"), "/k");
  assert.deepEqual(out, concat(bytesOf("\uFEFFa: 1\n"), latin1("# \xff\n"), bytesOf("b: 3\n")));
  assert.throws(
    // The span is " \uFFFD" (the 0xFF byte), and U+FFFD would be written back in its place.
    () => spliceBytes(old, text, text.replace("# \uFFFD\n", "#\n# \uFFFD!\n"), "/k"),
    /^KubeconfigError: kubeconfig \/k line 2 is not valid UTF-8/,
  );
});

Deno.test("spliceBytes() agrees with TextDecoder on any bytes and keeps those outside the edit (property)", () => {
  // Bytes biased towards UTF-8 lead and continuation bytes, so that broken sequences are common.
  const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0x80, max: 0xf4 }));
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 40 }).chain((base) =>
        fc.tuple(
          fc.array(byte, { maxLength: 40 }).map((bytes) => Uint8Array.from([...base, ...bytes])),
          fc.nat(),
          fc.nat(),
          fc.string({ unit: "grapheme", maxLength: 6 }),
        )
      ),
      ([bytes, a, b, insert]) => {
        const text = new TextDecoder().decode(bytes);
        const start = Math.min(a, b) % (text.length + 1);
        const end = Math.min(start + Math.abs(a - b) % 5, text.length);
        // Not inside a surrogate pair (an edit never splits one). slice(-1) would wrap round to the end.
        if (/[\uD800-\uDFFF]/.test(text.slice(Math.max(0, start - 1), end + 1))) return;
        const next = text.slice(0, start) + insert.replaceAll("\uFFFD", "") + text.slice(end);
        let out: Uint8Array;
        try {
          out = spliceBytes(bytes, text, next, "/k");
        } catch (error) {
          // Only a refusal: to write U+FFFD over bytes that are not UTF-8, or a splice that would join a
          // dangling lead byte to a continuation byte (the bytes could not decode to `next`).
          assert.match(
            String(error),
            /is not valid UTF-8 and lies in the part that changes|cannot keep the bytes/,
          );
          return;
        }
        assert.equal(new TextDecoder().decode(out), next);
        // No byte that was not UTF-8 came back as the bytes of U+FFFD.
        const replacements = (data: Uint8Array) =>
          data.reduce(
            (n, _, i) =>
              n + (data[i] === 0xef && data[i + 1] === 0xbf && data[i + 2] === 0xbd ? 1 : 0),
            0,
          );
        assert.ok(replacements(out) <= replacements(bytes));
      },
    ),
    fuzzParams(500),
  );
});
