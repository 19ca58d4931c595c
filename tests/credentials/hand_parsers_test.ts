/**
 * The plugin's path runs no regular expression (docs/performance.md): the checks that were regular expressions are
 * loops now, and each must say what its regular expression said, on every input.
 */
import assert from "node:assert/strict";
import { timeFields } from "../../lib/credentials/der.ts";
import { spaceOrControlAt } from "../../lib/credentials/credentials.ts";
import { decodePem } from "../../lib/credentials/pem.ts";
import { isAbsolute, resolvePath } from "../../lib/shared/platform.ts";

/** A small deterministic generator, so a failure names an input that can be run again. */
function generator(seed: number) {
  return (below: number) => {
    seed = (seed * 48_271) % 2_147_483_647;
    return seed % below;
  };
}

Deno.test("timeFields() gives what the UTCTime and GeneralizedTime regular expressions matched", () => {
  const utc = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?(Z|[+-]\d{4})$/;
  const generalized = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(Z|[+-]\d{4})$/;
  const same = (text: string) => {
    assert.deepEqual(timeFields(text, 2, true), text.match(utc)?.slice(), `UTCTime ${text}`);
    assert.deepEqual(
      timeFields(text, 4, false),
      text.match(generalized)?.slice(),
      `GeneralizedTime ${text}`,
    );
  };
  for (
    const text of [
      "2612061013Z",
      "261206101319Z",
      "261206101319+0130",
      "2612061013-0130",
      "20261206101319Z",
      "20261206101319-2400",
      "2026120610131Z",
      "261206101319",
      "261206101319Z ",
      "26120610131Z",
      "261206101319+013",
      "261206101319+01300",
      "1234+0100",
      "２61206101319Z",
      "",
      "Z",
    ]
  ) same(text);
  const random = generator(7);
  const alphabet = "0123456789Z+- a";
  for (let i = 0; i < 20_000; i++) {
    const length = 8 + random(12);
    let text = "";
    // Mostly digits, so that many inputs get far into the pattern.
    for (let j = 0; j < length; j++) text += alphabet[random(10) < 8 ? random(10) : random(15)];
    same(text);
  }
});

Deno.test("spaceOrControlAt() finds what search(/[\\s\\x00-\\x1f\\x7f]/) finds", () => {
  // deno-lint-ignore no-control-regex -- control characters are exactly what this looks for
  const pattern = /[\s\x00-\x1f\x7f]/;
  for (let code = 0; code <= 0xffff; code++) {
    const text = `ab${String.fromCharCode(code)}c`;
    assert.equal(spaceOrControlAt(text), text.search(pattern), `U+${code.toString(16)}`);
  }
  assert.equal(spaceOrControlAt("token"), -1);
  assert.equal(spaceOrControlAt(""), -1);
  assert.equal(spaceOrControlAt("\u{1F600}x y"), 3);
});

Deno.test("decodePem() takes a block body as the regular expressions did: blanks dropped, base64 then 2 =", () => {
  const blank = (body: string) => body.replace(/[ \t\r\n]/g, "");
  const base64 = (body: string) => /^[A-Za-z0-9+/]*={0,2}$/.test(body) && body.length % 4 === 0;
  const random = generator(11);
  const alphabet = "QUJDRA+/=  \t\r\n-_.*é";
  for (let i = 0; i < 5_000; i++) {
    let body = "";
    for (let j = random(14); j > 0; j--) body += alphabet[random(alphabet.length)];
    const text = `-----BEGIN DATA-----\n${body}\n-----END DATA-----\n`;
    const { blocks, skipped } = decodePem(text);
    const expected = blank(body);
    if (base64(expected)) {
      assert.equal(skipped.length, 0, JSON.stringify(body));
      assert.deepEqual(blocks[0]?.der, Uint8Array.fromBase64(expected), JSON.stringify(body));
    } else {
      assert.deepEqual(blocks, [], JSON.stringify(body));
      assert.equal(
        skipped[0]?.message,
        'PEM block "DATA" is not valid base64',
        JSON.stringify(body),
      );
    }
  }
});

Deno.test("isAbsolute() and resolvePath() on Windows give what the drive and UNC regular expressions gave", () => {
  const volumeLength = (path: string) => {
    if (/^[A-Za-z]:/.test(path)) return 2;
    const unc = /^[\\/]{2}[^\\/]+[\\/]+[^\\/]+/.exec(path);
    return unc ? unc[0].length : 0;
  };
  const isAbsoluteBefore = (path: string) => {
    const volume = volumeLength(path);
    if (volume === 0) return false;
    if (/^[\\/]{2}/.test(path)) return true;
    return path[volume] === "/" || path[volume] === "\\";
  };
  const next = generator(7);
  const alphabet = ["C", "z", ":", "\\", "/", "s", ".", "@", "[", "`", "{", "é", " "];
  const inputs = ["", "C:", "c:\\x", "\\\\server\\share\\x", "//s/", "\\\\\\s\\t", "@:\\x", "[:/x"];
  for (let i = 0; i < 20_000; i++) {
    inputs.push(Array.from({ length: next(9) }, () => alphabet[next(alphabet.length)]).join(""));
  }
  for (const path of inputs) {
    assert.equal(isAbsolute(path, "windows"), isAbsoluteBefore(path), JSON.stringify(path));
    if (isAbsoluteBefore(path)) continue;
    // A rooted path without a drive takes the volume of the working folder, whatever form that has.
    for (const cwd of ["C:\\work", "\\\\server\\share\\work", "\\\\server\\\\share"]) {
      const before = path[0] === "/" || path[0] === "\\"
        ? cwd.slice(0, volumeLength(cwd)) + path
        : undefined;
      if (before !== undefined) assert.equal(resolvePath(path, cwd, "windows"), before, path);
    }
  }
});
