import assert from "node:assert/strict";
import { earliestExpiry, expiryProblems, readCredentials } from "../lib/credentials.ts";
import { parsePem } from "../lib/pem.ts";
import { parseCertificate } from "../lib/x509.ts";
import {
  generateKey,
  issueCert,
  type KeyType,
  makeCa,
  makeJwt,
  openssl,
  tempDir,
} from "./helpers.ts";

const HOUR = 3600_000;

/** A CA and one key + certificate per key type, made once for this file. */
async function world(dir: string) {
  const ca = await makeCa(dir);
  const issued: Record<string, { key: string; cert: string }> = {};
  for (const type of ["rsa", "ec", "ed25519"] as KeyType[]) {
    const key = await generateKey(dir, `${type}.key`, type);
    const cert = await issueCert({
      dir,
      ca,
      keyPath: key,
      out: `${type}.crt`,
      subject: `/CN=${type}`,
      notAfter: new Date(Date.now() + 2 * HOUR),
    });
    issued[type] = { key, cert };
  }
  return { ca, issued };
}

Deno.test("readCredentials() loads every key format client-go accepts and matches it to its certificate", async (t) => {
  await using tmp = await tempDir();
  const { issued } = await world(tmp.path);
  const dir = tmp.path;
  // Other encodings of the same keys: PKCS#1 RSA and SEC1 EC (with the EC PARAMETERS block openssl ecparam adds).
  await openssl(["rsa", "-in", "rsa.key", "-traditional", "-out", "rsa1.key"], dir);
  await openssl(["ec", "-in", "ec.key", "-out", "sec1.key"], dir);
  await openssl(["ecparam", "-name", "prime256v1", "-out", "params.pem"], dir);
  await Deno.writeTextFile(
    `${dir}/sec1-params.key`,
    Deno.readTextFileSync(`${dir}/params.pem`) + Deno.readTextFileSync(`${dir}/sec1.key`),
  );
  // SEC1 without the optional public key: the broker must derive it.
  await openssl(["ec", "-in", "ec.key", "-no_public", "-out", "sec1-nopub.key"], dir);
  const cases: [string, string, string, string][] = [
    ["PKCS#8 RSA", "rsa.crt", "rsa.key", "PRIVATE KEY"],
    ["PKCS#1 RSA", "rsa.crt", "rsa1.key", "RSA PRIVATE KEY"],
    ["PKCS#8 EC P-256", "ec.crt", "ec.key", "PRIVATE KEY"],
    ["SEC1 EC", "ec.crt", "sec1.key", "EC PRIVATE KEY"],
    ["SEC1 EC after EC PARAMETERS", "ec.crt", "sec1-params.key", "EC PRIVATE KEY"],
    ["SEC1 EC without public key", "ec.crt", "sec1-nopub.key", "EC PRIVATE KEY"],
    ["Ed25519", "ed25519.crt", "ed25519.key", "PRIVATE KEY"],
  ];
  for (const [name, cert, key, label] of cases) {
    await t.step(name, async () => {
      const reading = await readCredentials({
        clientCertificatePath: `${dir}/${cert}`,
        clientKeyPath: `${dir}/${key}`,
      });
      assert.deepEqual(reading.problems, []);
      assert.equal(reading.credentials.key?.key.label, label);
      assert.equal(reading.credentials.certificate?.chain.length, 1);
    });
  }
  void issued;
});

Deno.test("readCredentials() puts the certificate that matches the key first, whatever the file order", async () => {
  await using tmp = await tempDir();
  const { ca, issued } = await world(tmp.path);
  const chainFile = `${tmp.path}/chain.crt`;
  // Intermediate-like extra certificates before and after the leaf.
  await Deno.writeTextFile(
    chainFile,
    Deno.readTextFileSync(ca.cert) + Deno.readTextFileSync(issued.ec!.cert) +
      Deno.readTextFileSync(issued.rsa!.cert),
  );
  const reading = await readCredentials({
    clientCertificatePath: chainFile,
    clientKeyPath: issued.ec!.key,
  });
  assert.deepEqual(reading.problems, []);
  const subjects = reading.credentials.certificate!.chain.map((cert) => cert.subject);
  assert.deepEqual(subjects, ["CN=ec", "CN=test ca", "CN=rsa"]);
});

Deno.test("readCredentials() reports a key that matches no certificate, naming both files", async () => {
  await using tmp = await tempDir();
  const { issued } = await world(tmp.path);
  const reading = await readCredentials({
    clientCertificatePath: issued.rsa!.cert,
    clientKeyPath: issued.ec!.key,
  });
  assert.equal(reading.problems.length, 1);
  assert.equal(reading.problems[0]!.kind, "mismatch");
  assert.equal(
    reading.problems[0]!.message,
    `client key ${issued.ec!.key} (EC P-256) does not match the certificate in ${issued.rsa!.cert}`,
  );
});

Deno.test("readCredentials() gives one clear problem per bad file", async (t) => {
  await using tmp = await tempDir();
  const { issued } = await world(tmp.path);
  const dir = tmp.path;
  const write = (name: string, text: string) => {
    Deno.writeTextFileSync(`${dir}/${name}`, text, { mode: 0o600 });
    return `${dir}/${name}`;
  };
  const goodCert = issued.rsa!.cert;
  const goodKey = issued.rsa!.key;
  const keyText = Deno.readTextFileSync(goodKey);
  const cases: [string, { cert?: string; key?: string; token?: string }, string, RegExp][] = [
    [
      "missing certificate",
      { cert: `${dir}/nope.crt`, key: goodKey },
      "missing",
      /^client certificate .*nope\.crt does not exist$/,
    ],
    [
      "missing key",
      { cert: goodCert, key: `${dir}/nope.key` },
      "missing",
      /^client key .*nope\.key does not exist$/,
    ],
    [
      "missing token",
      { token: `${dir}/nope.token` },
      "missing",
      /^token .*nope\.token does not exist$/,
    ],
    [
      "certificate is a folder",
      { cert: dir, key: goodKey },
      "unreadable",
      /is a folder, not a file$/,
    ],
    [
      "empty certificate",
      { cert: write("empty.crt", ""), key: goodKey },
      "empty",
      /empty\.crt is empty$/,
    ],
    [
      "blank key",
      { cert: goodCert, key: write("blank.key", " \n\n") },
      "empty",
      /blank\.key is empty$/,
    ],
    ["empty token", { token: write("empty.token", "") }, "empty", /is empty$/],
    ["whitespace token", { token: write("ws.token", " \t \r\n") }, "empty", /ws\.token is empty$/],
    [
      "not PEM",
      { cert: write("junk.crt", "hello"), key: goodKey },
      "malformed",
      /holds no PEM certificate/,
    ],
    [
      "key file without a key",
      { cert: goodCert, key: write("nokey.key", Deno.readTextFileSync(goodCert)) },
      "malformed",
      /holds no PEM private key/,
    ],
    [
      "truncated PEM",
      { cert: write("cut.crt", Deno.readTextFileSync(goodCert).slice(0, 200)), key: goodKey },
      "malformed",
      /has no END line/,
    ],
    [
      "bad base64",
      {
        cert: write("b64.crt", "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"),
        key: goodKey,
      },
      "malformed",
      /not valid base64/,
    ],
    [
      "DER that is not a certificate",
      {
        cert: write(
          "der.crt",
          "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n",
        ),
        key: goodKey,
      },
      "malformed",
      /certificate 1 is malformed/,
    ],
    [
      "garbage key DER",
      {
        cert: goodCert,
        key: write(
          "garbage.key",
          "-----BEGIN PRIVATE KEY-----\nMAMCAQE=\n-----END PRIVATE KEY-----\n",
        ),
      },
      "malformed",
      /the private key is malformed/,
    ],
    [
      "encrypted key",
      {
        cert: goodCert,
        key: write(
          "enc.key",
          keyText.replace("BEGIN PRIVATE KEY", "BEGIN ENCRYPTED PRIVATE KEY").replace(
            "END PRIVATE KEY",
            "END ENCRYPTED PRIVATE KEY",
          ),
        ),
      },
      "malformed",
      /encrypted/,
    ],
    [
      "two keys",
      { cert: goodCert, key: write("two.key", keyText + keyText) },
      "malformed",
      /holds 2 private keys/,
    ],
    [
      "token with a space inside",
      { token: write("space.token", "abc def\n") },
      "malformed",
      /white space or a control character at position 4$/,
    ],
    [
      "token with two lines",
      { token: write("lines.token", "abc\ndef\n") },
      "malformed",
      /holds more than one line$/,
    ],
    [
      "token not UTF-8",
      {
        token: write("bin.token", "") &&
          (Deno.writeFileSync(`${dir}/bin.token`, new Uint8Array([0xff, 0xfe, 0x41])),
            `${dir}/bin.token`),
      },
      "malformed",
      /not UTF-8/,
    ],
  ];
  for (const [name, paths, kind, message] of cases) {
    await t.step(name, async () => {
      const reading = await readCredentials({
        clientCertificatePath: paths.cert,
        clientKeyPath: paths.key,
        tokenPath: paths.token,
      });
      assert.equal(reading.problems.length, 1, JSON.stringify(reading.problems));
      assert.equal(reading.problems[0]!.kind, kind);
      assert.match(reading.problems[0]!.message, message);
      // Problems never quote file content.
      assert.ok(!reading.problems[0]!.message.includes(keyText.slice(40, 80)));
    });
  }
  if (Deno.uid() !== 0) {
    await t.step("unreadable key (not as root)", async () => {
      const key = write("locked.key", keyText);
      Deno.chmodSync(key, 0);
      const reading = await readCredentials({
        clientCertificatePath: goodCert,
        clientKeyPath: key,
      });
      assert.match(reading.problems[0]!.message, /cannot be read: permission denied/);
    });
  }
});

Deno.test("readCredentials() strips the token's trailing newline, LF or CRLF, and reads a JWT's exp", async () => {
  await using tmp = await tempDir();
  const crlf = `${tmp.path}/crlf.token`;
  Deno.writeTextFileSync(crlf, "s.opaque-token\r\n", { mode: 0o600 });
  let reading = await readCredentials({ tokenPath: crlf });
  assert.deepEqual(reading.problems, []);
  assert.equal(reading.credentials.token?.value, "s.opaque-token");
  assert.equal(reading.credentials.token?.expiry, undefined);
  const exp = Math.floor(Date.now() / 1000) + 900;
  const jwt = `${tmp.path}/jwt.token`;
  Deno.writeTextFileSync(jwt, makeJwt({ sub: "alice", exp }) + "\n", { mode: 0o600 });
  reading = await readCredentials({ tokenPath: jwt });
  assert.equal(reading.credentials.token?.expiry?.getTime(), exp * 1000);
});

Deno.test("readCredentials() warns once per key or token file that others can read, with the chmod fix", async () => {
  await using tmp = await tempDir();
  const { issued } = await world(tmp.path);
  Deno.chmodSync(issued.ec!.key, 0o644);
  const token = `${tmp.path}/t`;
  Deno.writeTextFileSync(token, "tok", { mode: 0o640 });
  Deno.chmodSync(token, 0o640);
  const reading = await readCredentials({
    clientCertificatePath: issued.ec!.cert,
    clientKeyPath: issued.ec!.key,
    tokenPath: token,
  });
  assert.deepEqual(reading.problems, []);
  assert.deepEqual(reading.warnings, [
    `client key ${issued.ec!.key} can be read by other users (mode 0644); fix it with: chmod 600 ${
      issued.ec!.key
    }`,
    `token ${token} can be read by other users (mode 0640); fix it with: chmod 600 ${token}`,
  ]);
});

Deno.test("expiryProblems() separates expired from expiring within the margin, at the edges", async (t) => {
  await using tmp = await tempDir();
  const ca = await makeCa(tmp.path);
  const key = await generateKey(tmp.path, "k", "ec");
  const notAfter = new Date(Math.floor(Date.now() / 1000) * 1000 + 10 * 60_000);
  const certPath = await issueCert({ dir: tmp.path, ca, keyPath: key, out: "c", notAfter });
  const cert = parseCertificate(parsePem(Deno.readTextFileSync(certPath))[0]!.der);
  assert.equal(cert.notAfter.getTime(), notAfter.getTime());
  const credentials = { certificate: { path: certPath, chain: [cert] } };
  const margin = 60_000;
  const at = (ms: number) => new Date(notAfter.getTime() + ms);
  const cases: [string, Date, string[]][] = [
    ["well before the margin", at(-margin - 1), []],
    ["exactly at the margin", at(-margin), ["expiring"]],
    ["inside the margin", at(-1), ["expiring"]],
    ["exactly at NotAfter", at(0), ["expired"]],
    ["after NotAfter", at(1000), ["expired"]],
  ];
  for (const [name, now, kinds] of cases) {
    await t.step(name, () => {
      assert.deepEqual(expiryProblems(credentials, now, margin).map((p) => p.kind), kinds);
    });
  }
  assert.match(
    expiryProblems(credentials, at(5), margin)[0]!.message,
    /^client certificate .* expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
  );
  assert.match(
    expiryProblems(credentials, at(-5), margin)[0]!.message,
    /within the refresh margin of 1m$/,
  );
});

Deno.test("earliestExpiry() is the earlier of the certificate's NotAfter and the token's exp", () => {
  const cert = { notAfter: new Date("2030-01-02T00:00:00Z") } as ReturnType<
    typeof parseCertificate
  >;
  const token = { path: "t", value: "x", expiry: new Date("2030-01-01T00:00:00Z") };
  assert.equal(
    earliestExpiry({ certificate: { path: "c", chain: [cert] }, token })?.toISOString(),
    "2030-01-01T00:00:00.000Z",
  );
  assert.equal(
    earliestExpiry({ certificate: { path: "c", chain: [cert] } })?.toISOString(),
    "2030-01-02T00:00:00.000Z",
  );
  assert.equal(earliestExpiry({ token: { path: "t", value: "x" } }), undefined);
});
