/**
 * The plugin with --issuer cfssl, run as kubectl runs it (the installed broker, or KUBECTL_CREDENTIALS_BROKER_BIN),
 * against the real cfssl: the first call issues and stores, later calls read the files and contact nothing, a
 * failure exits 3 with cfssl's words and writes nothing, renew-ahead asks the issuer in the background; and with
 * valid certificates no module of lib/issuer/ is even loaded.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { findCfssl, startCfssl } from "../../scripts/world/cfssl.ts";
import { createCa, issueCertificate } from "../../scripts/world/ca.ts";
import {
  backgroundSettled,
  DENO_DIR,
  ROOT,
  run,
  runBroker,
  tempDir,
  V1_EXEC_INFO,
} from "../helpers.ts";
import { freePort } from "../../scripts/world/process.ts";
import { callPlugin } from "../plugin/call_plugin.ts";

const CFSSL = findCfssl();
const POSIX = Deno.build.os !== "windows";

function credential(stdout: string): { clientCertificateData: string; clientKeyData: string } {
  return JSON.parse(stdout).status;
}

Deno.test({
  name:
    "--issuer cfssl: the first call issues and stores under ~/.kube/credentials-broker/, the next ones only read" +
    (!CFSSL ? " (ignored: no cfssl here)" : ""),
  ignore: !CFSSL,
  fn: async () => {
    await using tmp = await tempDir();
    await using cfssl = await startCfssl({ dir: tmp.join("cfssl"), tls: true });
    const args = [
      "--issuer=cfssl",
      `--issuer-url=${cfssl.url}`,
      `--issuer-ca-file=${cfssl.caFile}`,
      "--common-name=alice",
      `--cache-dir=${tmp.join("cache")}`,
    ];
    const home = tmp.join("home");
    await Deno.mkdir(home);
    const first = await runBroker(args, { home });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stderr, "");
    const status = credential(first.stdout);
    assert.match(status.clientCertificateData, /^-----BEGIN CERTIFICATE-----/);
    assert.match(status.clientKeyData, /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(cfssl.signed(), 1);
    const dir = join(home, ".kube", "credentials-broker", `cfssl-127.0.0.1_${cfssl.port}-alice`);
    assert.equal(await Deno.readTextFile(join(dir, "client.key")), status.clientKeyData);
    assert.equal(await Deno.readTextFile(join(dir, "client.crt")), status.clientCertificateData);
    if (POSIX) {
      assert.equal(Deno.statSync(join(dir, "client.key")).mode! & 0o777, 0o600);
      assert.equal(Deno.statSync(dir).mode! & 0o777, 0o700);
    }
    for (let i = 0; i < 3; i++) {
      const again = await runBroker(args, { home });
      assert.equal(again.code, 0, again.stderr);
      assert.equal(credential(again.stdout).clientKeyData, status.clientKeyData);
    }
    assert.equal(cfssl.signed(), 1);
  },
});

Deno.test({
  name:
    "--issuer cfssl: a storage folder left loose under ~/.kube/credentials-broker/ is made private, with a note when others could write to it" +
    (!CFSSL || !POSIX ? " (ignored: needs cfssl and POSIX modes)" : ""),
  ignore: !CFSSL || !POSIX,
  fn: async () => {
    await using tmp = await tempDir();
    await using cfssl = await startCfssl({ dir: tmp.join("cfssl"), tls: true });
    const home = tmp.join("home");
    const own = join(home, ".kube", "credentials-broker");
    const dir = join(own, `cfssl-127.0.0.1_${cfssl.port}-alice`);
    await Deno.mkdir(dir, { recursive: true });
    Deno.chmodSync(own, 0o775);
    Deno.chmodSync(dir, 0o755);
    // In-process (the plugin through the Io seam): what is tested is the issuance's folders, not the process.
    const result = await callPlugin([
      "--issuer=cfssl",
      `--issuer-url=${cfssl.url}`,
      `--issuer-ca-file=${cfssl.caFile}`,
      "--common-name=alice",
      `--cache-dir=${tmp.join("cache")}`,
    ], { home });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stderr,
      `note: made ${own} private (chmod 700; it was 0775, writable by other users): check that its files are the broker's\n`,
    );
    assert.equal(Deno.statSync(own).mode! & 0o777, 0o700);
    assert.equal(Deno.statSync(dir).mode! & 0o777, 0o700);
    assert.equal(Deno.statSync(join(dir, "client.key")).mode! & 0o777, 0o600);
  },
});

Deno.test({
  name:
    "--issuer cfssl: a refusal exits 3 with cfssl's words and a --key-type that works, and writes nothing" +
    (!CFSSL ? " (ignored: no cfssl here)" : ""),
  ignore: !CFSSL,
  fn: async () => {
    await using tmp = await tempDir();
    await using cfssl = await startCfssl({ dir: tmp.join("cfssl") });
    const result = await runBroker([
      "--issuer=cfssl",
      `--issuer-url=${cfssl.url}`,
      "--common-name=alice",
      "--key-type=ed25519",
      `--client-certificate-path=${tmp.join("out", "c.crt")}`,
      `--client-key-path=${tmp.join("out", "c.key")}`,
      `--cache-dir=${tmp.join("cache")}`,
    ], { home: tmp.path });
    assert.equal(result.code, 3, result.stderr);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /cfssl at http:\/\/127\.0\.0\.1:\d+ refused to sign/);
    assert.match(result.stderr, /--key-type ec-p256/);
    assert.throws(() => Deno.statSync(tmp.join("out", "c.key")), Deno.errors.NotFound);
    const unreachable = await runBroker([
      "--issuer=cfssl",
      `--issuer-url=http://127.0.0.1:${freePort()}`,
      "--common-name=alice",
      `--client-certificate-path=${tmp.join("out", "c.crt")}`,
      `--client-key-path=${tmp.join("out", "c.key")}`,
      `--cache-dir=${tmp.join("cache")}`,
    ], { home: tmp.path });
    assert.equal(unreachable.code, 3);
    assert.match(
      unreachable.stderr,
      /cannot connect to issuer http:\/\/127\.0\.0\.1:\d+: connection refused/,
    );
  },
});

Deno.test({
  name:
    "--issuer with valid certificates: nothing is contacted (network denied, no issuer listening)" +
    (!POSIX ? " (ignored: not yet tried on Windows)" : ""),
  ignore: !POSIX,
  fn: async () => {
    await using tmp = await tempDir();
    const ca = await createCa(tmp.join("ca"));
    const now = Date.now();
    const cert = await issueCertificate(ca, tmp.join("client"), {
      commonName: "alice",
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 3600_000),
    });
    const args = [
      "--issuer=cfssl",
      `--issuer-url=https://127.0.0.1:${freePort()}`,
      "--common-name=alice",
      `--client-certificate-path=${cert.certPath}`,
      `--client-key-path=${cert.keyPath}`,
      `--cache-dir=${tmp.join("cache")}`,
    ];
    const call = () =>
      run(Deno.execPath(), [
        "run",
        "--quiet",
        "--no-prompt",
        `--config=${join(ROOT, "deno.json")}`,
        "--allow-read",
        "--allow-write",
        "--allow-env",
        "--allow-run",
        "--allow-sys",
        "--deny-net",
        join(ROOT, "main.ts"),
        ...args,
      ], { env: { HOME: tmp.path, DENO_DIR, KUBERNETES_EXEC_INFO: V1_EXEC_INFO } });
    const valid = await call();
    assert.equal(valid.code, 0, valid.stderr);
    assert.equal(
      credential(valid.stdout).clientCertificateData,
      await Deno.readTextFile(cert.certPath),
    );
    // The control: the same call that must issue (the certificate is gone) reaches for the network.
    await Deno.remove(cert.certPath);
    const issuing = await call();
    assert.equal(issuing.code, 3);
    assert.match(issuing.stderr, /cannot reach issuer https:\/\/127\.0\.0\.1:\d+/);
  },
});

Deno.test({
  name:
    "--issuer with --renew-ahead: the call answers at once and the background renewal asks the issuer" +
    (!CFSSL || !POSIX ? " (ignored: needs cfssl, which the Windows run has not)" : ""),
  ignore: !CFSSL || !POSIX,
  fn: async () => {
    await using tmp = await tempDir();
    await using cfssl = await startCfssl({ dir: tmp.join("cfssl"), expiry: "24h" });
    const now = Date.now();
    // Two thirds of its lifetime gone: inside a 50% renew-ahead window, far from the margin.
    const old = await issueCertificate(cfssl.ca, tmp.join("client"), {
      commonName: "alice",
      notBefore: new Date(now - 2 * 3600_000),
      notAfter: new Date(now + 3600_000),
    });
    const before = await Deno.readTextFile(old.certPath);
    const cache = tmp.join("cache");
    const result = await runBroker([
      "--issuer=cfssl",
      `--issuer-url=${cfssl.url}`,
      "--common-name=alice",
      "--renew-ahead=50%",
      `--client-certificate-path=${old.certPath}`,
      `--client-key-path=${old.keyPath}`,
      `--cache-dir=${cache}`,
    ], { home: tmp.path });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(credential(result.stdout).clientCertificateData, before);
    await backgroundSettled(cache);
    assert.equal(cfssl.signed(), 1);
    const after = await Deno.readTextFile(old.certPath);
    assert.notEqual(after, before);
    const log = [...Deno.readDirSync(cache)].find((entry) => entry.name.endsWith(".log"));
    assert.ok(log);
    assert.match(
      await Deno.readTextFile(join(cache, log.name)),
      /issuer cfssl at http:\/\/127\.0\.0\.1:\d+/,
    );
  },
});
