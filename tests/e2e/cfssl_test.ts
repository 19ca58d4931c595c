/**
 * --issuer cfssl end to end: a real kubectl through the nginx mTLS proxy with a certificate the broker got from a
 * real cfssl (signing with the world's CA, which nginx trusts, and serving https with it): the first certificate,
 * renewal at expiry, 32 concurrent kubectl calls with no certificate making one signing request, and authsign.
 */
import assert from "node:assert/strict";
import { CI, e2eTest, parseJson } from "./e2e.ts";
import type { ExecConfig } from "../../scripts/world/kubeconfig.ts";
import { findKubectls, preferredKubectl } from "../../scripts/world/kubectl.ts";
import { type Client, World } from "../../scripts/world/world.ts";
import {
  type Cfssl,
  CFSSL_AUTH_PROFILE,
  findCfssl,
  startCfssl,
} from "../../scripts/world/cfssl.ts";
import { issueExpiredCertificate } from "../../scripts/world/ca.ts";

const kubectls = await findKubectls();
const CALLERS = 32;

/** The e2e test, or its reason not to run: cfssl is one more tool the world needs (CI installs it). */
function cfsslTest(name: string, fn: (world: World, cfssl: Cfssl) => Promise<void>): void {
  if (!findCfssl()) {
    if (CI) {
      Deno.test(
        name,
        () => assert.fail("CI=true and cfssl is missing (apt-get install golang-cfssl)"),
      );
    } else Deno.test({ name: `${name} (skipped: missing cfssl)`, ignore: true, fn: () => {} });
    return;
  }
  e2eTest(name, { nginx: true, kubectl: true }, kubectls, async () => {
    await using world = await World.start({ installBroker: true });
    await using cfssl = await startCfssl({ dir: world.tmp.join("cfssl"), ca: world.ca, tls: true });
    await fn(world, cfssl);
  });
}

/** The exec block `kubeconfig set --issuer cfssl ...` writes, with the files in the client's folder. */
function issuerExec(client: Client, cfssl: Cfssl, extra: string[] = []): ExecConfig {
  return {
    apiVersion: "client.authentication.k8s.io/v1",
    command: "kubectl-credentials_broker",
    args: [
      "--issuer=cfssl",
      `--issuer-url=${cfssl.url}`,
      `--issuer-ca-file=${cfssl.caFile}`,
      "--common-name=alice",
      `--client-certificate-path=${client.dir}/issued/client.crt`,
      `--client-key-path=${client.dir}/issued/client.key`,
      ...extra,
    ],
    interactiveMode: "Never",
  };
}

async function getVersion(world: World, client: Client): Promise<void> {
  const seen = world.api.requests.length;
  const result = await client.run(["get", "--raw", "/version"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(parseJson<{ gitVersion: string }>(result.stdout).gitVersion, "v1.32.0");
  const served = world.api.requests.slice(seen);
  assert.ok(
    served.length > 0 && served.every((request) => request.subject === "CN=alice"),
    JSON.stringify(served),
  );
}

cfsslTest(
  "--issuer cfssl: kubectl through the mTLS proxy with a certificate from cfssl; renewed at expiry; reused while valid",
  async (world, cfssl) => {
    const client = await world.client(preferredKubectl(kubectls)!);
    await world.writeKubeconfig(client, { exec: issuerExec(client, cfssl) });
    await getVersion(world, client);
    assert.equal(cfssl.signed(), 1, "the first certificate");
    await getVersion(world, client);
    assert.equal(cfssl.signed(), 1, "a valid certificate is reused: cfssl is not asked");
    // The certificate expires (an expired one of the world's CA takes its place): the next call renews.
    await issueExpiredCertificate(world.ca, `${client.dir}/issued/client`);
    await getVersion(world, client);
    assert.equal(cfssl.signed(), 2, "renewed once at expiry");
    const key = Deno.statSync(`${client.dir}/issued/client.key`);
    assert.equal(key.mode! & 0o777, 0o600);
  },
);

cfsslTest(
  `--issuer cfssl: ${CALLERS} concurrent kubectl calls with no certificate make one signing request`,
  async (world, cfssl) => {
    const client = await world.client(preferredKubectl(kubectls)!);
    await world.writeKubeconfig(client, { exec: issuerExec(client, cfssl) });
    const results = await Promise.all(
      Array.from({ length: CALLERS }, () => client.run(["get", "--raw", "/version"])),
    );
    const failed = results.filter((result) => result.code !== 0);
    assert.deepEqual(
      failed.map((result) => result.stderr),
      [],
      `${failed.length} of ${CALLERS} failed`,
    );
    assert.equal(cfssl.signed(), 1, "one signing request for all callers");
    assert.equal((cfssl.log().match(/"POST \/api\/v1\/cfssl\/sign"/g) ?? []).length, 1);
  },
);

cfsslTest(
  "--issuer cfssl with --cfssl-auth-key-file: authsign with the profile's HMAC key",
  async (world, cfssl) => {
    const client = await world.client(preferredKubectl(kubectls)!);
    await world.writeKubeconfig(client, {
      exec: issuerExec(client, cfssl, [
        `--cfssl-profile=${CFSSL_AUTH_PROFILE}`,
        `--cfssl-auth-key-file=${cfssl.authKeyFile}`,
      ]),
    });
    await getVersion(world, client);
    assert.match(cfssl.log(), /"POST \/api\/v1\/cfssl\/authsign" 200/);
    assert.equal(cfssl.signed(), 1);
  },
);
