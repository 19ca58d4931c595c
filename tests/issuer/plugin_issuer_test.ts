/**
 * The plugin with --issuer cfssl, in-process (callPlugin: the same runPlugin and error report main.ts runs), against
 * the real cfssl: the first call issues and stores, later calls read the files and contact nothing, a failure exits
 * 3 with cfssl's words and writes nothing.
 *
 * Where a test goes: one that checks a message, a file or a policy runs here, in the unit tier. One whose subject
 * is a process (the broker's own permissions, a detached background renewal) is in plugin_issuer_process_test.ts
 * (the process tier), run as kubectl runs it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { findCfssl, startCfssl } from "../../scripts/world/cfssl.ts";
import { tempDir } from "../helpers.ts";
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
    const first = await callPlugin(args, { home });
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
      const again = await callPlugin(args, { home });
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
    const result = await callPlugin([
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
    const unreachable = await callPlugin([
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
