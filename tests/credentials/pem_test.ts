/**
 * PEM decoding as Go's pem.Decode does it, since client-go reads the very same bytes: each row states what Go
 * returns for the input (from encoding/pem's code and tests), so the broker neither refuses what kubectl takes nor
 * takes what kubectl refuses.
 */
import assert from "node:assert/strict";
import { decodePem, encodePem, parsePem, PemError } from "../../lib/credentials/pem.ts";

const DER = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x05]);
const BODY = DER.toBase64();
const block = (label: string, body = BODY) =>
  `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;

Deno.test("decodePem() finds the blocks Go's pem.Decode finds, and skips what it skips", async (t) => {
  // [name, input, labels of the blocks found, number of skipped would-be blocks]
  const cases: [string, string, string[], number][] = [
    ["one block", block("CERTIFICATE"), ["CERTIFICATE"], 0],
    [
      "text before, between and after blocks",
      `Bag Attributes\n  localKeyID: 01\n${block("CERTIFICATE")}subject=CN=x\n${
        block("CERTIFICATE")
      }trailing\n`,
      ["CERTIFICATE", "CERTIFICATE"],
      0,
    ],
    [
      "a BEGIN line without END before a valid block is skipped",
      `-----BEGIN X-----\nnot closed\n${block("CERTIFICATE")}`,
      ["CERTIFICATE"],
      1,
    ],
    [
      "a truncated block inside another block's body: the outer is skipped, the inner found",
      `-----BEGIN CERTIFICATE-----\n${BODY}\n${block("CERTIFICATE")}`,
      ["CERTIFICATE"],
      1,
    ],
    ["END of another type", `-----BEGIN A-----\n${BODY}\n-----END B-----\n`, [], 1],
    ["text after END on its line", `-----BEGIN A-----\n${BODY}\n-----END A----- x\n`, [], 1],
    [
      "spaces and tabs after BEGIN and END lines",
      `-----BEGIN A----- \t\n${BODY}\n-----END A-----\t \n`,
      ["A"],
      0,
    ],
    ["CRLF line ends", block("A").replaceAll("\n", "\r\n"), ["A"], 0],
    [
      "body lines with spaces and tabs",
      `-----BEGIN A-----\n ${BODY}\t\n-----END A-----\n`,
      ["A"],
      0,
    ],
    ["BEGIN not at the start of a line", `x ${block("A")}`, [], 0],
    ["BEGIN without the closing dashes", `-----BEGIN A\n${BODY}\n-----END A-----\n`, [], 0],
    ["no space after BEGIN", `-----BEGINA-----\n${BODY}\n-----ENDA-----\n`, [], 0],
    ["any type, lowercase too", block("weird label 1"), ["weird label 1"], 0],
    ["body not base64", `-----BEGIN A-----\n!!!!\n-----END A-----\n${block("B")}`, ["B"], 1],
    ["body with a bad length", `-----BEGIN A-----\nAAA\n-----END A-----\n`, [], 1],
    ["END without a final newline", block("A").trimEnd(), ["A"], 0],
    ["BEGIN as the last line", "-----BEGIN A-----\n", [], 1],
    ["empty body", "-----BEGIN A-----\n-----END A-----\n", ["A"], 0],
    ["nothing PEM at all", "hello\n", [], 0],
  ];
  for (const [name, text, labels, skipped] of cases) {
    await t.step(name, () => {
      const decoded = decodePem(text);
      assert.deepEqual(decoded.blocks.map((b) => b.label), labels);
      assert.equal(decoded.skipped.length, skipped);
      // Go returns an empty block as it is; parsing its DER then fails, as in client-go.
      const der = name === "empty body" ? new Uint8Array() : DER;
      for (const b of decoded.blocks) assert.deepEqual(b.der, der);
    });
  }
});

Deno.test("decodePem() reads RFC 1421 headers and marks an encrypted block", () => {
  const legacy = `-----BEGIN RSA PRIVATE KEY-----
Proc-Type: 4,ENCRYPTED
DEK-Info: AES-128-CBC,0123456789ABCDEF0123456789ABCDEF

${BODY}
-----END RSA PRIVATE KEY-----
`;
  const { blocks } = decodePem(legacy);
  assert.equal(blocks.length, 1);
  assert.equal(blocks[0]!.encrypted, true);
  assert.deepEqual(blocks[0]!.der, DER);
  assert.equal(decodePem(block("RSA PRIVATE KEY")).blocks[0]!.encrypted, false);
});

Deno.test("parsePem() throws why only when nothing usable was found", () => {
  assert.throws(() => parsePem(`-----BEGIN A-----\n${BODY}\n`), PemError);
  assert.throws(() => parsePem("-----BEGIN A-----\n!!!!\n-----END A-----\n"), /not valid base64/);
  assert.equal(parsePem(`-----BEGIN X-----\n${block("A")}`).length, 1);
  assert.deepEqual(parsePem("no pem here"), []);
  // A label that is not a usual name is not quoted: the BEGIN line may hold anything.
  assert.throws(
    () => parsePem("-----BEGIN s.secret-value-----\nAAA\n"),
    /^Error: a PEM block has no END line$/,
  );
  assert.deepEqual(parsePem(encodePem("CERTIFICATE", DER))[0]!.der, DER);
});
