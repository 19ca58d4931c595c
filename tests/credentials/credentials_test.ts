/**
 * readCredentials() and the expiry rules, in-process on real files: every key form client-go accepts, one clear
 * problem per bad file, margins and not-yet-valid credentials; and the same rules as the plugin applies them
 * (callPlugin, with real before-exec commands). A FIFO, a device or a huge file is read in one child process,
 * killed if it blocks.
 *
 * Where a test goes: one that checks a rule, a message or a file runs here, in the unit tier. One that starts the
 * broker as a process (a FIFO key that would hang it) is in credentials_process_test.ts (the process tier).
 */
import assert from "node:assert/strict";
import {
  earliestExpiry,
  effectiveMarginMs,
  expiryProblems,
  permissionWarning,
  readCredentials,
  refreshAt,
} from "../../lib/credentials/credentials.ts";
import { jwtTimes } from "../../lib/credentials/jwt.ts";
import type { Os } from "../../lib/shared/platform.ts";
import { children, encoded, encodeNode, readRoot, TAG } from "../../lib/credentials/der.ts";
import { encodePem, parsePem } from "../../lib/credentials/pem.ts";
import { parseCertificate } from "../../lib/credentials/x509.ts";
import {
  clientCredentials,
  ecParameters,
  generateKey,
  issueCert,
  keyDer,
  type KeyType,
  makeCa,
  makeJwt,
  ROOT,
  tempDir,
  writeCommandSync,
  writeKeyForm,
} from "../helpers.ts";
import { callPlugin } from "../plugin/call_plugin.ts";

const HOUR = 3600_000;

/** Where this file's CA, keys and certificates are made, once; removed when the file's isolate ends. */
let made: Promise<string> | undefined;

/** The types world() makes a key and certificate of. */
const WORLD_TYPES: KeyType[] = ["rsa", "ec", "ed25519"];

/**
 * A CA and one key + certificate per key type, copied into `dir` (each test may change its copies). They are made
 * once for this file: an RSA key costs up to a second of CPU, and a test run makes as many as the file that asks
 * for most (this one asks for two).
 */
async function world(dir: string) {
  made ??= (async () => {
    const source = await Deno.makeTempDir({ prefix: "ccb-credentials-world-" });
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(source, { recursive: true });
      } catch {
        // best effort
      }
    });
    const ca = await makeCa(source);
    for (const type of WORLD_TYPES) {
      const key = await generateKey(source, `${type}.key`, type);
      await issueCert({
        dir: source,
        ca,
        keyPath: key,
        out: `${type}.crt`,
        subject: `/CN=${type}`,
        notAfter: new Date(Date.now() + 2 * HOUR),
      });
    }
    return source;
  })();
  const source = await made;
  const copy = (name: string) => {
    Deno.copyFileSync(`${source}/${name}`, `${dir}/${name}`);
    return `${dir}/${name}`;
  };
  const ca = { cert: copy("ca.crt"), key: copy("ca.key") };
  const issued: Record<string, { key: string; cert: string }> = {};
  for (const type of WORLD_TYPES) {
    issued[type] = { key: copy(`${type}.key`), cert: copy(`${type}.crt`) };
  }
  return { ca, issued };
}

Deno.test("readCredentials() loads every key format client-go accepts and matches it to its certificate", async (t) => {
  await using tmp = await tempDir();
  const { issued } = await world(tmp.path);
  const dir = tmp.path;
  // Other encodings of the same keys: PKCS#1 RSA and SEC1 EC (with the EC PARAMETERS block openssl ecparam adds).
  writeKeyForm(`${dir}/rsa.key`, "pkcs1", `${dir}/rsa1.key`);
  writeKeyForm(`${dir}/ec.key`, "sec1", `${dir}/sec1.key`);
  await Deno.writeTextFile(
    `${dir}/sec1-params.key`,
    ecParameters("P-256") + Deno.readTextFileSync(`${dir}/sec1.key`),
  );
  // SEC1 without the optional public key: the broker must derive it.
  writeKeyForm(`${dir}/ec.key`, "sec1-no-public", `${dir}/sec1-nopub.key`);
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
  const unreadable = Deno.build.os === "windows"
    ? "Windows has no mode bits to take reading away"
    : Deno.uid() === 0
    ? "root reads any file"
    : undefined;
  await t.step({
    name: "unreadable key" + (unreadable ? ` (ignored: ${unreadable})` : ""),
    ignore: unreadable !== undefined,
    fn: async () => {
      const key = write("locked.key", keyText);
      Deno.chmodSync(key, 0);
      const reading = await readCredentials({
        clientCertificatePath: goodCert,
        clientKeyPath: key,
      });
      assert.match(reading.problems[0]!.message, /cannot be read: permission denied/);
    },
  });
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

Deno.test({
  name:
    "readCredentials() warns once per key or token file that others can read, with the chmod fix" +
    (Deno.build.os === "windows" ? " (ignored: Windows files have no mode bits)" : ""),
  ignore: Deno.build.os === "windows",
}, async () => {
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
  // Both dates given: a default NotBefore, taken a moment later, may fall in the next second (1h9m59s).
  const notBefore = new Date(notAfter.getTime() - 70 * 60_000);
  const certPath = await issueCert({
    dir: tmp.path,
    ca,
    keyPath: key,
    out: "c",
    notBefore,
    notAfter,
  });
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
    /within the refresh margin of 1m \(its whole lifetime is 1h10m\)$/,
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

/**
 * Runs readCredentials() on each set of paths in one child process, killed after 60 s: a read that blocks fails
 * the test, not the run. Returns each reading's problems and the child's peak memory over all of them.
 */
async function readInChild(
  cases: { clientCertificatePath?: string; clientKeyPath?: string; tokenPath?: string }[],
): Promise<{ problems: { kind: string; message: string }[][]; rssKb: number }> {
  const module = JSON.stringify(`${ROOT}lib/credentials/credentials.ts`);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const { readCredentials } = await import(${module});
       const problems = [];
       for (const paths of ${JSON.stringify(cases)}) {
         problems.push((await readCredentials(paths)).problems);
       }
       const rss = /VmHWM:\\s+(\\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))?.[1];
       console.log(JSON.stringify({ problems, rssKb: Number(rss) }));`,
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  });
  const result = await child.output();
  assert.equal(result.signal, null, "readCredentials() blocked and was killed after 60 s");
  assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
  return JSON.parse(new TextDecoder().decode(result.stdout));
}

/** Why the FIFO and device tests do not run on Windows. */
const NO_FIFOS = Deno.build.os === "windows"
  ? " (ignored: Windows has no mkfifo, /dev devices or /proc)"
  : "";

Deno.test({
  name:
    "readCredentials() refuses a FIFO, a device, a folder or an oversized file at once, naming the file" +
    NO_FIFOS,
  ignore: NO_FIFOS !== "",
}, async (t) => {
  await using tmp = await tempDir();
  const { cert, key } = await clientCredentials(tmp.path, { token: null });
  const fifo = `${tmp.path}/key.fifo`;
  const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
  assert.equal(made.code, 0);
  const big = `${tmp.path}/big.crt`;
  Deno.writeFileSync(big, new Uint8Array(3 * 1024 * 1024).fill(0x41));
  const cases: [string, Record<string, string>, RegExp][] = [
    [
      "a FIFO as the key",
      { clientCertificatePath: cert, clientKeyPath: fifo },
      /^client key \/.*key\.fifo is a named pipe \(FIFO\), not a regular file$/,
    ],
    [
      "a FIFO as the token",
      { tokenPath: fifo },
      /^token \/.*key\.fifo is a named pipe \(FIFO\), not a regular file$/,
    ],
    [
      "/dev/zero as the certificate",
      { clientCertificatePath: "/dev/zero", clientKeyPath: key },
      /^client certificate \/dev\/zero is a device, not a regular file$/,
    ],
    [
      "/dev/urandom as the token",
      { tokenPath: "/dev/urandom" },
      /^token \/dev\/urandom is a device, not a regular file$/,
    ],
    [
      "a folder as the key",
      { clientCertificatePath: cert, clientKeyPath: tmp.path },
      /^client key \/.* is a folder, not a file$/,
    ],
    [
      "a 3 MB certificate",
      { clientCertificatePath: big, clientKeyPath: key },
      /^client certificate \/.*big\.crt is 3 MB, larger than the 1 MB limit$/,
    ],
  ];
  // One child reads them all (a process costs more than the reads): its peak memory bounds each reading's.
  const { problems: readings, rssKb } = await readInChild(cases.map(([, paths]) => paths));
  for (const [i, [name, , message]] of cases.entries()) {
    await t.step(name, () => {
      const problems = readings[i]!;
      assert.equal(problems.length, 1, JSON.stringify(problems));
      assert.equal(problems[0]!.kind, "unreadable");
      assert.match(problems[0]!.message, message);
      // Nothing was read into memory: far below the 3 MB file, let alone an endless device.
      assert.ok(rssKb < 512 * 1024, `peak memory ${rssKb} KB`);
    });
  }
});

Deno.test("permissionWarning() warns about a key others can read only where file modes mean something", async (t) => {
  const cases: [Os, number | null, boolean][] = [
    ["linux", 0o644, true],
    ["linux", 0o600, false],
    ["linux", 0o640, true],
    ["darwin", 0o604, true],
    ["darwin", 0o400, false],
    // Deno reports no mode on Windows, and ACLs (a private user profile) protect the file there.
    ["windows", null, false],
    ["windows", 0o666, false],
    ["linux", null, false],
  ];
  for (const [os, mode, warns] of cases) {
    await t.step(`${os} ${mode?.toString(8) ?? "no mode"}`, () => {
      const warning = permissionWarning("client key", "/k/client.key", mode, os);
      assert.equal(warning !== undefined, warns, warning);
      if (warns) {
        assert.equal(
          warning,
          `client key /k/client.key can be read by other users (mode ${
            mode!.toString(8).padStart(4, "0")
          }); fix it with: chmod 600 /k/client.key`,
        );
      }
    });
  }
});

Deno.test("readCredentials() trims all white space around a token, as client-go's tokenFile does", async (t) => {
  await using tmp = await tempDir();
  const cases: [string, string, string | RegExp][] = [
    ["one newline", "tok-1\n", "tok-1"],
    ["several newlines", "tok-1\n\n\n", "tok-1"],
    ["CRLF", "tok-1\r\n", "tok-1"],
    ["leading and trailing spaces and tabs", " \t tok-1 \t\n", "tok-1"],
    ["leading blank lines", "\n\r\ntok-1", "tok-1"],
    ["Go white space beyond ASCII (NEL, NBSP)", "\u0085tok-1\u00a0\u3000", "tok-1"],
    // A UTF-8 byte-order mark (Notepad writes one) is dropped by the decoding, before any trimming.
    ["a byte-order mark", "\ufefftok-1\n", "tok-1"],
    ["a zero-width no-break space inside", "tok\ufeff1", /at position 4$/],
    ["inner space", " tok 1 \n", /white space or a control character at position 4$/],
    ["inner newline", "\ntok\n1\n", /holds more than one line$/],
    ["inner tab", "tok\t1", /at position 4$/],
  ];
  for (const [name, content, expected] of cases) {
    await t.step(name, async () => {
      const path = `${tmp.path}/token`;
      Deno.writeTextFileSync(path, content, { mode: 0o600 });
      const reading = await readCredentials({ tokenPath: path });
      if (typeof expected === "string") {
        assert.deepEqual(reading.problems, []);
        assert.equal(reading.credentials.token?.value, expected);
      } else {
        assert.equal(reading.problems.length, 1);
        assert.equal(reading.problems[0]!.kind, "malformed");
        assert.match(reading.problems[0]!.message, expected);
      }
    });
  }
});

Deno.test("readCredentials() looks at the whole file before calling it empty", async () => {
  await using tmp = await tempDir();
  const { cert, key } = await clientCredentials(tmp.path, { token: null });
  const padded = `${tmp.path}/padded.crt`;
  Deno.writeTextFileSync(padded, " \n".repeat(5000) + Deno.readTextFileSync(cert));
  let reading = await readCredentials({ clientCertificatePath: padded, clientKeyPath: key });
  assert.deepEqual(reading.problems, []);
  const token = `${tmp.path}/token`;
  Deno.writeTextFileSync(token, "\n".repeat(8000) + "tok-1\n", { mode: 0o600 });
  reading = await readCredentials({ tokenPath: token });
  assert.equal(reading.credentials.token?.value, "tok-1");
  Deno.writeTextFileSync(token, "\n \t".repeat(8000), { mode: 0o600 });
  reading = await readCredentials({ tokenPath: token });
  assert.deepEqual(reading.problems.map((p) => p.kind), ["empty"]);
});

Deno.test("readCredentials() skips a broken PEM block before the certificate, as client-go does", async () => {
  await using tmp = await tempDir();
  const { cert, key } = await clientCredentials(tmp.path, { token: null });
  const prefixed = `${tmp.path}/prefixed.crt`;
  Deno.writeTextFileSync(
    prefixed,
    "-----BEGIN NOTE-----\nwritten by a tool that never closed it\n" + Deno.readTextFileSync(cert),
  );
  const reading = await readCredentials({ clientCertificatePath: prefixed, clientKeyPath: key });
  assert.deepEqual(reading.problems, []);
  assert.equal(reading.credentials.certificate?.chain.length, 1);
});

/** SEQUENCE { elements } from encoded elements. */
const sequence = (...parts: Uint8Array[]) => encodeNode(TAG.sequence, ...parts);

/** A PKCS#8 wrapping of an inner private key structure, as openssl writes it. */
function pkcs8(algorithm: Uint8Array, inner: Uint8Array): Uint8Array {
  return sequence(
    encodeNode(TAG.integer, new Uint8Array([0])),
    algorithm,
    encodeNode(TAG.octetString, inner),
  );
}

Deno.test("readCredentials() refuses a key that is not the certificate's, whatever public key the key file carries", async (t) => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const ca = await makeCa(dir);
  const write = (name: string, label: string, der: Uint8Array) => {
    Deno.writeTextFileSync(`${dir}/${name}`, encodePem(label, der), { mode: 0o600 });
    return `${dir}/${name}`;
  };
  const check = async (cert: string, key: string, kind: string | undefined, message?: RegExp) => {
    const reading = await readCredentials({ clientCertificatePath: cert, clientKeyPath: key });
    assert.deepEqual(
      reading.problems.map((p) => p.kind),
      kind ? [kind] : [],
      JSON.stringify(reading.problems),
    );
    if (message) assert.match(reading.problems[0]!.message, message);
  };
  for (const curve of ["P-256", "P-384", "P-521"] as const) {
    await t.step(`EC ${curve}`, async () => {
      const [a, b] = await Promise.all(["a", "b"].map(async (name) => {
        return await generateKey(dir, `${curve}-${name}.key`, "ec", curve);
      })) as [string, string];
      const cert = await issueCert({
        dir,
        ca,
        keyPath: a,
        out: `${curve}.crt`,
        notAfter: new Date(Date.now() + 2 * HOUR),
      });
      const [version, scalarA, paramsA, publicA] = children(readRoot(keyDer(a, "sec1")));
      const [, scalarB, , publicB] = children(readRoot(keyDer(b, "sec1")));
      assert.equal(publicA!.tag, 0xa1);
      // B's private scalar with A's public point: the key does not sign for A's certificate.
      const crafted = sequence(...[version, scalarB, paramsA, publicA].map((n) => encoded(n!)));
      const mismatch = new RegExp(`\\(EC ${curve}\\) does not match the certificate in `);
      await check(
        cert,
        write(`${curve}-crafted.key`, "EC PRIVATE KEY", crafted),
        "mismatch",
        mismatch,
      );
      const algorithm = children(readRoot(keyDer(a, "pkcs8")))[1]!;
      await check(
        cert,
        write(`${curve}-crafted.p8`, "PRIVATE KEY", pkcs8(encoded(algorithm), crafted)),
        "mismatch",
        mismatch,
      );
      // A's scalar with B's point still is A's key: Go derives the point and ignores the one in the file.
      const odd = sequence(...[version, scalarA, paramsA, publicB].map((n) => encoded(n!)));
      await check(cert, write(`${curve}-odd.key`, "EC PRIVATE KEY", odd), undefined);
      await check(cert, a, undefined);
      assert.equal(
        (await readCredentials({ clientCertificatePath: cert, clientKeyPath: a })).credentials.key
          ?.key.type,
        `EC ${curve}`,
      );
    });
  }
  await t.step("RSA, PKCS#1 and PKCS#8", async () => {
    // A: the file's RSA key (world()'s, in a folder of its own); B: another.
    const own = `${dir}/world`;
    await Deno.mkdir(own);
    const a = (await world(own)).issued.rsa!.key;
    const b = await generateKey(dir, "rsa-b.key", "rsa");
    const cert = await issueCert({
      dir,
      ca,
      keyPath: a,
      out: "rsa.crt",
      notAfter: new Date(Date.now() + 2 * HOUR),
    });
    const partsA = children(readRoot(keyDer(a, "pkcs1")));
    const partsB = children(readRoot(keyDer(b, "pkcs1")));
    const inconsistent = /the RSA private key is inconsistent/;
    // A's public modulus and exponent, B's private parts.
    const crafted = sequence(
      ...[...partsA.slice(0, 3), ...partsB.slice(3)].map((n) => encoded(n!)),
    );
    await check(
      cert,
      write("rsa-crafted.key", "RSA PRIVATE KEY", crafted),
      "malformed",
      inconsistent,
    );
    const algorithm = children(readRoot(keyDer(a, "pkcs8")))[1]!;
    await check(
      cert,
      write("rsa-crafted.p8", "PRIVATE KEY", pkcs8(encoded(algorithm), crafted)),
      "malformed",
      inconsistent,
    );
    // All of A but one CRT value of B: client-go (Go 1.24+) refuses it too.
    const crt = sequence(
      ...[...partsA.slice(0, 6), partsB[6], ...partsA.slice(7)].map((n) => encoded(n!)),
    );
    await check(cert, write("rsa-crt.key", "RSA PRIVATE KEY", crt), "malformed", inconsistent);
    await check(
      cert,
      write("rsa-a1.key", "RSA PRIVATE KEY", sequence(...partsA.map((n) => encoded(n!)))),
      undefined,
    );
  });
  await t.step("Ed25519 with a public key beside the seed (RFC 8410)", async () => {
    const a = await generateKey(dir, "ed-a.key", "ed25519");
    const b = await generateKey(dir, "ed-b.key", "ed25519");
    const cert = await issueCert({
      dir,
      ca,
      keyPath: a,
      out: "ed.crt",
      notAfter: new Date(Date.now() + 2 * HOUR),
    });
    const [, algorithm, seedA] = children(readRoot(keyDer(a, "pkcs8")));
    const [, , seedB] = children(readRoot(keyDer(b, "pkcs8")));
    const publicOf = (cert: string) =>
      parseCertificate(parsePem(Deno.readTextFileSync(cert))[0]!.der).publicKey;
    const publicA = publicOf(cert);
    assert.equal(publicA.kind, "ed25519");
    const withPublic = (seed: Uint8Array, key: Uint8Array) =>
      sequence(
        encodeNode(TAG.integer, new Uint8Array([1])),
        encoded(algorithm!),
        seed,
        encodeNode(0x81, new Uint8Array([0, ...key])),
      );
    const keyA = (publicA as { key: Uint8Array }).key;
    await check(
      cert,
      write("ed-crafted.key", "PRIVATE KEY", withPublic(encoded(seedB!), keyA)),
      "mismatch",
      /\(Ed25519\) does not match/,
    );
    await check(
      cert,
      write("ed-v2.key", "PRIVATE KEY", withPublic(encoded(seedA!), keyA)),
      undefined,
    );
  });
});

/** A whole second, so openssl's second-precision dates give exact lifetimes. */
const wholeSecond = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

Deno.test("expiryProblems() calls a certificate or JWT that is not valid yet a problem of its own, with the time and a clock hint", async () => {
  await using tmp = await tempDir();
  const ca = await makeCa(tmp.path);
  const key = await generateKey(tmp.path, "k", "ec");
  const now = wholeSecond(Date.now());
  const certPath = await issueCert({
    dir: tmp.path,
    ca,
    keyPath: key,
    out: "c",
    notBefore: new Date(now.getTime() + HOUR),
    notAfter: new Date(now.getTime() + 3 * HOUR),
  });
  const cert = parseCertificate(parsePem(Deno.readTextFileSync(certPath))[0]!.der);
  const problems = expiryProblems({ certificate: { path: certPath, chain: [cert] } }, now, 60_000);
  assert.deepEqual(problems.map((p) => p.kind), ["not-yet-valid"]);
  assert.equal(
    problems[0]!.message,
    `client certificate ${certPath} is not valid before ${
      new Date(now.getTime() + HOUR).toISOString().replace(".000Z", "Z")
    } (1h from now by this machine's clock); if it was just issued, check the clock here and at the issuer`,
  );
  const nbf = now.getTime() / 1000 + 600;
  const path = `${tmp.path}/jwt`;
  Deno.writeTextFileSync(path, makeJwt({ nbf, exp: nbf + 3600 }), { mode: 0o600 });
  const reading = await readCredentials({ tokenPath: path });
  assert.deepEqual(reading.problems, []);
  assert.deepEqual(expiryProblems(reading.credentials, now, 60_000).map((p) => p.kind), [
    "not-yet-valid",
  ]);
  assert.match(
    expiryProblems(reading.credentials, now, 60_000)[0]!.message,
    /^token .* is not valid before .* \(10m from now/,
  );
  // Once nbf has passed the token is good.
  assert.deepEqual(expiryProblems(reading.credentials, new Date(nbf * 1000), 60_000), []);
});

Deno.test("effectiveMarginMs() is the refresh margin, but never more than a third of the lifetime", async (t) => {
  const cases: [number | undefined, number, number][] = [
    [undefined, 60_000, 60_000],
    [3 * 3600_000, 60_000, 60_000],
    [180_000, 60_000, 60_000],
    [60_000, 60_000, 20_000],
    [90_000, 60_000, 30_000],
    [1000, 60_000, 333],
    [0, 60_000, 60_000],
    [-5000, 60_000, 60_000],
    [60_000, 0, 0],
  ];
  for (const [lifetime, margin, expected] of cases) {
    await t.step(`lifetime ${lifetime}, margin ${margin}`, () => {
      assert.equal(effectiveMarginMs(lifetime, margin), expected);
    });
  }
});

Deno.test("expiryProblems() and refreshAt() bound the margin by a third of each credential's lifetime", async (t) => {
  await using tmp = await tempDir();
  const ca = await makeCa(tmp.path);
  const key = await generateKey(tmp.path, "k", "ec");
  const issued = wholeSecond(Date.now());
  const notAfter = new Date(issued.getTime() + 60_000);
  const certPath = await issueCert({
    dir: tmp.path,
    ca,
    keyPath: key,
    out: "c",
    notBefore: issued,
    notAfter,
  });
  const cert = parseCertificate(parsePem(Deno.readTextFileSync(certPath))[0]!.der);
  const credentials = { certificate: { path: certPath, chain: [cert] } };
  const margin = 60_000;
  await t.step("a 60 s certificate under a 1m margin is fine for its first 40 s", () => {
    assert.deepEqual(expiryProblems(credentials, new Date(issued.getTime() + 1000), margin), []);
    assert.deepEqual(expiryProblems(credentials, new Date(issued.getTime() + 39_999), margin), []);
    assert.equal(refreshAt(credentials, issued, margin)?.getTime(), notAfter.getTime() - 20_000);
  });
  await t.step("and expiring in its last 20 s, saying the lifetime", () => {
    const problems = expiryProblems(credentials, new Date(issued.getTime() + 40_000), margin);
    assert.deepEqual(problems.map((p) => p.kind), ["expiring"]);
    assert.match(
      problems[0]!.message,
      /within the refresh margin of 20s \(its whole lifetime is 1m\)$/,
    );
    // Inside the margin kubectl is told the real expiry.
    assert.equal(
      refreshAt(credentials, new Date(issued.getTime() + 45_000), margin)?.getTime(),
      notAfter.getTime(),
    );
  });
  const exp = issued.getTime() / 1000 + 60;
  const token = (claims: Record<string, number>) => {
    const value = makeJwt(claims);
    return { path: "t", value, ...jwtTimes(value) };
  };
  await t.step("a JWT's lifetime is exp - iat, or exp - nbf without iat", () => {
    const starts: Record<string, number>[] = [
      { exp, iat: exp - 60 },
      { exp, nbf: exp - 60 },
      { exp, iat: exp - 60, nbf: exp - 3600 },
    ];
    for (const claims of starts) {
      assert.equal(
        refreshAt({ token: token(claims) }, issued, margin)?.getTime(),
        (exp - 20) * 1000,
      );
    }
    // No start known: the whole margin.
    assert.equal(
      refreshAt({ token: token({ exp: exp + 3600 }) }, issued, margin)?.getTime(),
      (exp + 3600 - 60) * 1000,
    );
  });
  await t.step("each credential keeps its own margin; the earliest wins", () => {
    const longCert = {
      ...credentials.certificate,
      chain: [{ ...cert, notBefore: new Date(0), notAfter: new Date(exp * 1000 + 30_000) }],
    };
    assert.equal(
      refreshAt({ certificate: longCert, token: token({ exp, iat: exp - 60 }) }, issued, margin)
        ?.getTime(),
      (exp - 30) * 1000,
    );
  });
});

// The same rules as the plugin applies them, in-process (callPlugin). The installed plugin spawned, where a process
// shows more (a FIFO that would hang the reader), is in credentials_process_test.ts (the process tier).

/** A renewal command that counts its runs in `runs` and copies `from` over `to`. */
function renewal(dir: string, from: string, to: string): string {
  return writeCommandSync(dir, "renew", [
    { append: `${dir}/runs`, value: "run" },
    { copy: from, to },
  ]).line;
}

const runs = (dir: string) => {
  try {
    return Deno.readTextFileSync(`${dir}/runs`).split("\n").filter(Boolean).length;
  } catch {
    return 0;
  }
};

Deno.test("the plugin treats a certificate that is not valid yet as invalid: renewed under when-invalid, refused otherwise", async (t) => {
  await using tmp = await tempDir();
  const { ca, key, cert } = await clientCredentials(tmp.path, { token: null });
  const good = `${tmp.path}/good.crt`;
  Deno.copyFileSync(cert, good);
  const future = await issueCert({
    dir: tmp.path,
    ca,
    keyPath: key,
    out: "future.crt",
    notBefore: new Date(Date.now() + HOUR),
    notAfter: new Date(Date.now() + 3 * HOUR),
  });
  const args = [`--client-certificate-path=${cert}`, `--client-key-path=${key}`];
  const notYet =
    /^error: client certificate \S+client\.crt is not valid before \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d[\dhms]* from now by this machine's clock\); if it was just issued, check the clock/m;
  await t.step("no renewal command: refused, with the time and a clock hint", async () => {
    Deno.copyFileSync(future, cert);
    const result = await callPlugin(args, { home: tmp.path });
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, notYet);
  });
  await t.step("when-invalid: renewed, and the renewed certificate is handed out", async () => {
    Deno.copyFileSync(future, cert);
    const before = runs(tmp.path);
    const result = await callPlugin([
      ...args,
      `--before-exec-command=${renewal(tmp.path, good, cert)}`,
      "--before-exec-policy=when-invalid",
    ], { home: tmp.path });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(runs(tmp.path), before + 1);
    // Once renewed, the next call under when-invalid has nothing to do.
    const again = await callPlugin([
      ...args,
      `--before-exec-command=${renewal(tmp.path, future, cert)}`,
      "--before-exec-policy=when-invalid",
    ], { home: tmp.path });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(runs(tmp.path), before + 1);
    assert.equal(
      JSON.parse(result.stdout).status.clientCertificateData,
      Deno.readTextFileSync(good),
    );
  });
  await t.step("always: a renewal that leaves it not valid yet is an error", async () => {
    const result = await callPlugin([
      ...args,
      `--before-exec-command=${renewal(tmp.path, future, cert)}`,
      "--before-exec-policy=always",
    ], { home: tmp.path });
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, notYet);
  });
  await t.step("a JWT whose nbf is in the future is refused too", async () => {
    const token = `${tmp.path}/jwt`;
    const nbf = Math.floor(Date.now() / 1000) + 3600;
    Deno.writeTextFileSync(token, makeJwt({ nbf, exp: nbf + 3600 }), { mode: 0o600 });
    const result = await callPlugin([`--token-path=${token}`], { home: tmp.path });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /^error: token \S+jwt is not valid before .*check the clock/m);
  });
});

Deno.test("the plugin hands out 60 s certificates under the default 1m margin: one renewal, asked again 40 s ahead", async () => {
  await using tmp = await tempDir();
  const { ca, key, cert } = await clientCredentials(tmp.path, {
    token: null,
    notAfter: new Date(Date.now() - 60_000),
  });
  const issued = wholeSecond(Date.now());
  const fresh = await issueCert({
    dir: tmp.path,
    ca,
    keyPath: key,
    out: "fresh.crt",
    notBefore: issued,
    notAfter: new Date(issued.getTime() + 60_000),
  });
  const args = [
    `--client-certificate-path=${cert}`,
    `--client-key-path=${key}`,
    `--before-exec-command=${renewal(tmp.path, fresh, cert)}`,
    "--before-exec-policy=when-invalid",
  ];
  for (let call = 1; call <= 2; call++) {
    const result = await callPlugin(args, { home: tmp.path });
    assert.equal(result.code, 0, result.stderr);
    // A third of the 60 s lifetime, not the whole 1m margin, before NotAfter.
    assert.equal(
      JSON.parse(result.stdout).status.expirationTimestamp,
      new Date(issued.getTime() + 40_000).toISOString().replace(".000Z", "Z"),
    );
    assert.equal(runs(tmp.path), 1, `renewals after call ${call}: ${result.stderr}`);
  }
});

Deno.test("the plugin says the lifetime and blames the margin when a renewed certificate is already inside it", async () => {
  await using tmp = await tempDir();
  const { ca, key, cert } = await clientCredentials(tmp.path, {
    token: null,
    notAfter: new Date(Date.now() - 60_000),
  });
  // Backdated an hour, 30 s left: a third of the lifetime is more than the 1m margin, so the margin stays 1m.
  const now = wholeSecond(Date.now());
  const stale = await issueCert({
    dir: tmp.path,
    ca,
    keyPath: key,
    out: "stale.crt",
    notBefore: new Date(now.getTime() - HOUR),
    notAfter: new Date(now.getTime() + 30_000),
  });
  const result = await callPlugin([
    `--client-certificate-path=${cert}`,
    `--client-key-path=${key}`,
    `--before-exec-command=${renewal(tmp.path, stale, cert)}`,
    "--before-exec-policy=when-invalid",
  ], { home: tmp.path });
  assert.equal(result.code, 1, result.stderr);
  assert.match(
    result.stderr,
    /^error: client certificate .* within the refresh margin of 1m \(its whole lifetime is 1h30s\), after the before-exec command/m,
  );
  assert.match(result.stderr, /^hint: .*lower --refresh-margin/m);
});
