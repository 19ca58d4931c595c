/**
 * One issuance in-process: the real cfssl signs, the files land whole with the right modes and order, and what an
 * issuer must not get stored (another key's certificate, an expired one) is refused with the old files intact;
 * a full disk names the file and leaves the old pair.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { checkIssued, runIssuance, writeIssuedFiles } from "../../lib/issuer/issue.ts";
import { parsePem } from "../../lib/credentials/pem.ts";
import { parsePrivateKey } from "../../lib/credentials/private_key.ts";
import type { Issuance } from "../../lib/issuer/issue.ts";
import type { IssuerDriver, IssuerOptions } from "../../lib/issuer/issuer.ts";
import { readCredentials } from "../../lib/credentials/credentials.ts";
import { IssuerError } from "../../lib/shared/errors.ts";
import { findCfssl, startCfssl } from "../../scripts/world/cfssl.ts";
import { tempDir } from "../../scripts/world/temp_dir.ts";
import { createCa, issueCertificate } from "../../scripts/world/ca.ts";
import { run, which } from "../../scripts/world/process.ts";

const CFSSL = findCfssl();
const OPENSSL = which("openssl");
const POSIX = Deno.build.os !== "windows";

function issuance(options: IssuerOptions, dir: string, extra: Partial<Issuance> = {}): Issuance {
  return {
    options,
    paths: { certificatePath: `${dir}/store/client.crt`, keyPath: `${dir}/store/client.key` },
    deadline: Date.now() + 20_000,
    interactive: false,
    runForOutput: () => Promise.reject(new Error("no helper expected")),
    env: () => undefined,
    home: () => dir,
    now: () => new Date(),
    stderr: () => Promise.resolve(),
    ...extra,
  };
}

const cfsslOptions = (url: string, extra: Partial<IssuerOptions> = {}): IssuerOptions => ({
  issuer: "cfssl",
  url,
  commonName: "alice",
  altNames: [],
  keyType: "ec-p256",
  ...extra,
});

Deno.test({
  name:
    "runIssuance() gets a certificate from the real cfssl and stores key (0600) and certificate as a good pair" +
    (!CFSSL || !OPENSSL ? " (ignored: needs cfssl and the openssl CLI)" : ""),
  ignore: !CFSSL || !OPENSSL,
  fn: async (t) => {
    await using tmp = await tempDir();
    await using cfssl = await startCfssl({ dir: tmp.join("cfssl"), tls: true });
    for (const keyType of ["ec-p256", "ec-p384", "rsa-2048"] as const) {
      await t.step(keyType, async () => {
        const result = await runIssuance(
          issuance(cfsslOptions(cfssl.url, { keyType, caFile: cfssl.caFile }), tmp.path),
        );
        assert.equal(result.leaf.subject, "CN=alice");
        const reading = await readCredentials({
          clientCertificatePath: tmp.join("store", "client.crt"),
          clientKeyPath: tmp.join("store", "client.key"),
        });
        assert.deepEqual(reading.problems, []);
        assert.deepEqual(reading.warnings, []);
        if (POSIX) {
          assert.equal(Deno.statSync(tmp.join("store", "client.key")).mode! & 0o777, 0o600);
          assert.equal(Deno.statSync(tmp.join("store")).mode! & 0o777, 0o700);
        }
        // No temp file left beside them.
        assert.deepEqual([...Deno.readDirSync(tmp.join("store"))].map((e) => e.name).sort(), [
          "client.crt",
          "client.key",
        ]);
      });
    }
    await t.step("authsign with the profile's HMAC key", async () => {
      const before = cfssl.signed();
      await runIssuance(issuance(
        cfsslOptions(cfssl.url, {
          caFile: cfssl.caFile,
          cfssl: { profile: "authed", authKeyFile: cfssl.authKeyFile },
        }),
        tmp.path,
      ));
      assert.equal(cfssl.signed(), before + 1);
    });
    await t.step(
      "the authenticated profile without the key: cfssl's message and a hint",
      async () => {
        await assert.rejects(
          runIssuance(
            issuance(
              cfsslOptions(cfssl.url, { caFile: cfssl.caFile, cfssl: { profile: "authed" } }),
              tmp.path,
            ),
          ),
          (error) => {
            assert.ok(error instanceof IssuerError);
            assert.match(error.message, /refused to sign \(HTTP 400\): authentication required/);
            assert.match(error.hint!, /--cfssl-auth-key-file/);
            return true;
          },
        );
      },
    );
    await t.step("a wrong HMAC key is refused by cfssl", async () => {
      const wrong = tmp.join("wrong.key");
      await Deno.writeTextFile(wrong, "00112233445566778899aabbccddeeff\n");
      await assert.rejects(
        runIssuance(issuance(
          cfsslOptions(cfssl.url, {
            caFile: cfssl.caFile,
            cfssl: { profile: "authed", authKeyFile: wrong },
          }),
          tmp.path,
        )),
        (error) => error instanceof IssuerError && /refused to sign/.test(error.message),
      );
    });
    await t.step(
      "ed25519: cfssl 1.2 refuses, and the error names a --key-type that works",
      async () => {
        await assert.rejects(
          runIssuance(
            issuance(
              cfsslOptions(cfssl.url, { caFile: cfssl.caFile, keyType: "ed25519" }),
              tmp.path,
            ),
          ),
          (error) => {
            assert.ok(error instanceof IssuerError);
            assert.match(error.hint!, /--key-type ec-p256/);
            return true;
          },
        );
      },
    );
  },
});

/** A driver that answers a fixed chain, to see what the broker refuses. */
function fixedDriver(chain: string[]): IssuerDriver {
  return {
    issue: async (_options, csr) => {
      await csr({ commonName: "alice", altNames: [] });
      return { chain, key: "new" };
    },
    check: () => Promise.resolve([]),
  };
}

Deno.test({
  name:
    "runIssuance() refuses a certificate for another key, or an expired one, and keeps the old files" +
    (!OPENSSL ? " (ignored: no openssl CLI here)" : ""),
  ignore: !OPENSSL,
  fn: async (t) => {
    await using tmp = await tempDir();
    const ca = await createCa(tmp.join("ca"));
    const now = Date.now();
    const other = await issueCertificate(ca, tmp.join("other"), {
      commonName: "alice",
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + 3600_000),
    });
    await Deno.mkdir(tmp.join("store"));
    await Deno.writeTextFile(tmp.join("store", "client.crt"), "old certificate");
    await Deno.writeTextFile(tmp.join("store", "client.key"), "old key");
    const options = cfsslOptions("https://cfssl.invalid");
    await t.step("another key's certificate", async () => {
      const driver = fixedDriver([await Deno.readTextFile(other.certPath)]);
      await assert.rejects(
        runIssuance(
          issuance(options, tmp.path, { driver, fetch: () => Promise.reject(new Error("unused")) }),
        ),
        /for another key than the one the broker asked for; refused/,
      );
    });
    await t.step("no certificate at all", async () => {
      await assert.rejects(
        runIssuance(
          issuance(options, tmp.path, {
            driver: fixedDriver([]),
            fetch: () => Promise.reject(new Error()),
          }),
        ),
        /answered no certificate/,
      );
    });
    await t.step("expired, or not valid yet, for the right key", async () => {
      const expired = await issueCertificate(ca, tmp.join("expired"), {
        commonName: "alice",
        notBefore: new Date(now - 7200_000),
        notAfter: new Date(now - 3600_000),
      });
      const key = await parsePrivateKey(parsePem(await Deno.readTextFile(expired.keyPath))[0]!);
      const pem = await Deno.readTextFile(expired.certPath);
      assert.throws(
        () => checkIssued([pem], key.publicKey, new Date(), "u"),
        /expired at .*; refused/,
      );
      assert.throws(
        () => checkIssued([pem], key.publicKey, new Date(now - 3 * 3600_000), "u"),
        /not valid before .*; refused/,
      );
      assert.equal(checkIssued([pem], key.publicKey, new Date(now - 5400_000), "u").length, 1);
    });
    assert.equal(await Deno.readTextFile(tmp.join("store", "client.crt")), "old certificate");
    assert.equal(await Deno.readTextFile(tmp.join("store", "client.key")), "old key");
  },
});

Deno.test({
  name: "writeIssuedFiles() on a full disk names the file and leaves the old pair whole" +
    (Deno.build.os !== "linux" || Deno.uid() !== 0
      ? " (ignored: needs root and a tmpfs mount on Linux)"
      : ""),
  // A 64 KB tmpfs filled up: Linux and root only (CI runs as root).
  ignore: Deno.build.os !== "linux" || Deno.uid() !== 0,
  fn: async () => {
    await using tmp = await tempDir();
    const mount = tmp.join("small");
    await Deno.mkdir(mount);
    const mounted = await run("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mount]);
    assert.equal(mounted.code, 0, mounted.stderr);
    try {
      await Deno.writeTextFile(`${mount}/client.crt`, "old certificate");
      await Deno.writeTextFile(`${mount}/client.key`, "old key");
      // Fill what is left.
      await Deno.writeFile(`${mount}/filler`, new Uint8Array(64 * 1024)).catch(() => {});
      assert.throws(
        () =>
          writeIssuedFiles(
            { certificatePath: `${mount}/client.crt`, keyPath: `${mount}/client.key` },
            { key: "k".repeat(8192), certificate: "c".repeat(8192) },
          ),
        (error) => {
          assert.ok(error instanceof IssuerError);
          assert.match(
            error.message,
            /cannot write the issued client key .*client\.key: no space left on the disk/,
          );
          assert.match(error.hint!, /previous files were left as they were/);
          return true;
        },
      );
      assert.equal(await Deno.readTextFile(`${mount}/client.crt`), "old certificate");
      assert.equal(await Deno.readTextFile(`${mount}/client.key`), "old key");
      assert.deepEqual([...Deno.readDirSync(mount)].map((e) => e.name).sort(), [
        "client.crt",
        "client.key",
        "filler",
      ]);
    } finally {
      await run("umount", [mount]);
    }
  },
});

Deno.test({
  name: "writeIssuedFiles() gives the key 0600 whatever the umask" +
    (!POSIX ? " (ignored: Windows files have no mode bits)" : ""),
  ignore: !POSIX,
  fn: async () => {
    await using tmp = await tempDir();
    const previous = Deno.umask(0);
    try {
      writeIssuedFiles(
        { certificatePath: tmp.join("a", "c.crt"), keyPath: tmp.join("a", "c.key") },
        { key: "key", certificate: "cert" },
      );
    } finally {
      Deno.umask(previous);
    }
    assert.equal(Deno.statSync(tmp.join("a", "c.key")).mode! & 0o777, 0o600);
    assert.equal(Deno.statSync(tmp.join("a")).mode! & 0o777, 0o700);
  },
});

Deno.test({
  name:
    "writeIssuedFiles() makes the broker's own folders private when they exist loose, and leaves a folder of the user's as it is" +
    (!POSIX ? " (ignored: Windows files have no mode bits)" : ""),
  ignore: !POSIX,
  fn: async () => {
    await using tmp = await tempDir();
    const own = tmp.join("home", ".kube", "credentials-broker");
    const dir = join(own, "alice");
    Deno.mkdirSync(dir, { recursive: true });
    // As `mkdir -p` leaves them under umask 002 and 022 (or an older broker did).
    Deno.chmodSync(own, 0o775);
    Deno.chmodSync(dir, 0o755);
    const mine = tmp.join("mine");
    Deno.mkdirSync(mine);
    Deno.chmodSync(mine, 0o755);
    const opened = writeIssuedFiles(
      {
        certificatePath: join(dir, "client.crt"),
        keyPath: join(dir, "client.key"),
        ownFolder: own,
      },
      { key: "key", certificate: "cert" },
    );
    assert.equal(Deno.statSync(own).mode! & 0o777, 0o700);
    assert.equal(Deno.statSync(dir).mode! & 0o777, 0o700);
    // Only the folder others could write to is worth a line: 0755 let them read names, the key is 0600 anyway.
    assert.deepEqual(opened, [{ path: own, mode: "0775" }]);
    assert.deepEqual(
      writeIssuedFiles(
        { certificatePath: join(mine, "c.crt"), keyPath: join(mine, "c.key"), ownFolder: own },
        { key: "key", certificate: "cert" },
      ),
      [],
    );
    assert.equal(
      Deno.statSync(mine).mode! & 0o777,
      0o755,
      "a folder the user chose keeps its mode",
    );
  },
});

Deno.test({
  name: "writeIssuedFiles() refuses a folder of the broker's own storage that another user owns" +
    (!POSIX || Deno.uid() !== 0 ? " (ignored: chown needs root, which CI has)" : ""),
  ignore: !POSIX || Deno.uid() !== 0,
  fn: async () => {
    await using tmp = await tempDir();
    const own = tmp.join("credentials-broker");
    const dir = join(own, "alice");
    Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
    Deno.chownSync(dir, 65534, 65534);
    assert.throws(
      () =>
        writeIssuedFiles(
          {
            certificatePath: join(dir, "client.crt"),
            keyPath: join(dir, "client.key"),
            ownFolder: own,
          },
          { key: "key", certificate: "cert" },
        ),
      (error) => {
        assert.ok(error instanceof IssuerError);
        assert.equal(
          error.message,
          `the broker's credential folder ${dir} belongs to another user (uid 65534); refusing to write the issued client key there`,
        );
        assert.match(error.hint!, /--client-certificate-path and --client-key-path/);
        return true;
      },
    );
    assert.equal(Deno.statSync(dir).mode! & 0o777, 0o755, "never chmod what is not ours");
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  },
});
