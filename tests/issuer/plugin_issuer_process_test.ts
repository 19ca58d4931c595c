/**
 * The process tier of tests/issuer/plugin_issuer_test.ts: the plugin with --issuer, run as kubectl runs it, where
 * the process is the subject: with valid certificates no module of lib/issuer/ is even loaded (main.ts run with the
 * network denied), and renew-ahead asks the issuer from a detached background broker (the installed one, or
 * KUBECTL_CREDENTIALS_BROKER_BIN).
 *
 * Where a test goes: one that starts the broker as a process belongs here, listed in PROCESS_TESTS
 * (scripts/test.ts); the issuance's messages and files are tested in-process in plugin_issuer_test.ts.
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

const CFSSL = findCfssl();
const POSIX = Deno.build.os !== "windows";

function credential(stdout: string): { clientCertificateData: string; clientKeyData: string } {
  return JSON.parse(stdout).status;
}

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
