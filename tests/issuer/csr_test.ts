/**
 * The hand-written PKCS#10 CSRs and the local keys, checked by what must accept them: openssl (`req -verify`), the
 * real cfssl (which signs them), and the broker's own key reader (the key file client-go will get). One key of each
 * type serves the whole file: the type is the subject, not a fresh key per test.
 */
import assert from "node:assert/strict";
import { generateLocalKey, type LocalKey } from "../../lib/issuer/keys.ts";
import { ecdsaDer, makeCsr, parseIp } from "../../lib/issuer/csr.ts";
import { KEY_TYPES, type KeyType } from "../../lib/issuer/issuer.ts";
import { parsePrivateKey } from "../../lib/credentials/private_key.ts";
import { parsePem } from "../../lib/credentials/pem.ts";
import { parseCertificate, samePublicKey } from "../../lib/credentials/x509.ts";
import { findCfssl } from "../../scripts/world/cfssl.ts";
import { createCa } from "../../scripts/world/ca.ts";
import { run, which } from "../../scripts/world/process.ts";
import { tempDir } from "../../scripts/world/temp_dir.ts";

const OPENSSL = which("openssl");
const CFSSL = findCfssl();

const keys = new Map<KeyType, Promise<LocalKey>>();
/**
 * One local key of each type for this file, made by generateLocalKey() when first asked for (an RSA key costs up
 * to half a second of CPU); the CSR tests make their CSRs from these.
 */
function keyOf(type: KeyType): Promise<LocalKey> {
  let key = keys.get(type);
  if (!key) keys.set(type, key = generateLocalKey(type));
  return key;
}

Deno.test("generateLocalKey() makes a PKCS#8 key of each type that the broker reads as client-go would", async (t) => {
  const expected = {
    "ec-p256": "EC P-256",
    "ec-p384": "EC P-384",
    "rsa-2048": "RSA",
    ed25519: "Ed25519",
  };
  for (const type of KEY_TYPES) {
    await t.step(type, async () => {
      const key = await keyOf(type);
      const [block] = parsePem(key.pkcs8Pem);
      assert.equal(block!.label, "PRIVATE KEY");
      const parsed = await parsePrivateKey(block!);
      assert.equal(parsed.type, expected[type]);
    });
  }
});

Deno.test({
  name:
    "makeCsr() writes CSRs that openssl req -verify accepts, with the CN and every kind of alt name" +
    (!OPENSSL ? " (ignored: no openssl CLI here)" : ""),
  ignore: !OPENSSL,
  fn: async (t) => {
    await using tmp = await tempDir();
    for (const type of KEY_TYPES) {
      await t.step(type, async () => {
        const key = await keyOf(type);
        const csr = await makeCsr(key, {
          commonName: "alice",
          altNames: [
            "alice.example.com",
            "10.0.0.7",
            "2001:db8::1",
            "alice@example.com",
            "spiffe://dev/alice",
          ],
        });
        const path = tmp.join(`${type}.csr`);
        await Deno.writeTextFile(path, csr);
        const result = await run(OPENSSL!, ["req", "-verify", "-noout", "-text", "-in", path]);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stderr + result.stdout, /verif(y|ication) OK/i);
        assert.match(result.stdout, /Subject: CN\s?=\s?alice/);
        assert.match(
          result.stdout,
          /DNS:alice\.example\.com, IP Address:10\.0\.0\.7, IP Address:2001:DB8:0:0:0:0:0:1, email:alice@example\.com, URI:spiffe:\/\/dev\/alice/,
        );
      });
    }
    await t.step(
      "no alt names, and no subject at all (step-ca takes them from its token)",
      async () => {
        const key = await keyOf("ec-p256");
        const path = tmp.join("empty.csr");
        await Deno.writeTextFile(path, await makeCsr(key, { altNames: [] }));
        const result = await run(OPENSSL!, ["req", "-verify", "-noout", "-in", path]);
        assert.equal(result.code, 0, result.stderr);
      },
    );
  },
});

Deno.test({
  name:
    "the real cfssl signs the CSRs for the key they were made with; it refuses Ed25519 (cfssl 1.2)" +
    (!CFSSL ? " (ignored: no cfssl here)" : ""),
  ignore: !CFSSL,
  fn: async (t) => {
    await using tmp = await tempDir();
    const ca = await createCa(tmp.join("ca"));
    for (const type of KEY_TYPES) {
      await t.step(type, async () => {
        const key = await keyOf(type);
        const path = tmp.join(`${type}.csr`);
        await Deno.writeTextFile(
          path,
          await makeCsr(key, { commonName: "alice", altNames: ["alice.dev"] }),
        );
        const result = await run(CFSSL!, ["sign", "-ca", ca.certPath, "-ca-key", ca.keyPath, path]);
        if (type === "ed25519") {
          assert.notEqual(result.code, 0);
          return;
        }
        assert.equal(result.code, 0, result.stderr);
        const cert = parseCertificate(parsePem(JSON.parse(result.stdout).cert)[0]!.der);
        assert.equal(cert.subject, "CN=alice");
        const own = await parsePrivateKey(parsePem(key.pkcs8Pem)[0]!);
        assert.ok(samePublicKey(cert.publicKey, own.publicKey));
      });
    }
  },
});

Deno.test("ecdsaDer() turns r||s into minimal DER integers", () => {
  const raw = new Uint8Array(64);
  raw[0] = 0x80; // r's top bit set: a leading zero keeps it positive
  raw[63] = 1; // s = 1: its leading zeros go
  const der = ecdsaDer(raw);
  assert.equal(der[0], 0x30);
  assert.deepEqual([...der.subarray(2, 5)], [0x02, 33, 0x00]);
  assert.deepEqual([...der.subarray(-3)], [0x02, 1, 1]);
});

Deno.test("parseIp() reads IPv4 and IPv6 addresses and nothing else", async (t) => {
  const cases: [string, number[] | undefined][] = [
    ["10.0.0.7", [10, 0, 0, 7]],
    ["::1", [...new Array(15).fill(0), 1]],
    ["2001:db8::", [0x20, 0x01, 0x0d, 0xb8, ...new Array(12).fill(0)]],
    ["::ffff:1.2.3.4", [...new Array(10).fill(0), 0xff, 0xff, 1, 2, 3, 4]],
    ["300.1.1.1", undefined],
    ["alice.example.com", undefined],
    ["1:2:3:4:5:6:7:8:9", undefined],
    ["1::2::3", undefined],
  ];
  for (const [text, bytes] of cases) {
    await t.step(text, () => {
      const parsed = parseIp(text);
      assert.deepEqual(parsed && [...parsed], bytes);
    });
  }
});
