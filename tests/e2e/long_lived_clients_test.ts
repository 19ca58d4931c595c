/**
 * Scenario 5: long-lived clients. One `kubectl proxy` process and one `@kubernetes/client-node` program under
 * Node.js keep making requests for ~45 s while their ~15 s client certificates expire several times. nginx closes
 * every connection after its request (`keepalive_timeout 0`), so each request needs a TLS handshake with a
 * currently valid certificate: only the broker's `expirationTimestamp` (notAfter minus the refresh margin) makes
 * these clients run the broker again and pick up the renewed certificate. One request per rotation may hit
 * client-go's own race (see below); that one is told apart, counted and bounded. A control `kubectl proxy` with a static
 * 15 s certificate starts failing once it expires, which shows the world really enforces expiry.
 */
import assert from "node:assert/strict";
import { issueCertificate } from "../../scripts/world/ca.ts";
import { nodeClientDir } from "../../scripts/world/clients.ts";
import { e2eTest } from "./e2e.ts";
import { renewingExec } from "../../scripts/world/kubeconfig.ts";
import { findKubectls, preferredKubectl } from "../../scripts/world/kubectl.ts";
import { delay, startBackground, which } from "../../scripts/world/process.ts";
import { World } from "../../scripts/world/world.ts";

const kubectls = await findKubectls();
const DURATION_MS = Number(Deno.env.get("E2E_LONG_LIVED_SECONDS") ?? 45) * 1000;
const LIFETIME_SECONDS = 15;
const REFRESH_MARGIN = "5s";
const INTERVAL_MS = 1000;

/** The Node.js client: asks /version every interval until the deadline, one JSON line per request. */
const NODE_CLIENT = `
import * as k8s from "@kubernetes/client-node";
const [durationMs, intervalMs] = process.argv.slice(2).map(Number);
const kc = new k8s.KubeConfig();
kc.loadFromDefault();
const api = kc.makeApiClient(k8s.VersionApi);
const deadline = Date.now() + durationMs;
while (Date.now() < deadline) {
  try {
    const info = await api.getCode();
    console.log(JSON.stringify({ ok: true, at: Date.now(), gitVersion: info.gitVersion }));
  } catch (error) {
    console.log(JSON.stringify({ ok: false, at: Date.now(), error: String(error?.message ?? error).slice(0, 500) }));
  }
  await new Promise((resolve) => setTimeout(resolve, intervalMs));
}
`;

interface Sample {
  ok: boolean;
  at: number;
  error?: string;
}

e2eTest(
  "kubectl proxy and @kubernetes/client-node keep working across several expiries of 15 s certificates",
  { nginx: true, kubectl: true, node: true },
  kubectls,
  async () => {
    const node = which("node");
    assert.ok(node, "node is needed for the @kubernetes/client-node client");
    await using world = await World.start({ installBroker: true, closeEachConnection: true });
    const kubectl = preferredKubectl(kubectls)!;
    const execFor = async (name: string) => {
      const client = await world.client(kubectl, name);
      const script = await world.renewalScript(name, {
        commonName: name,
        lifetimeSeconds: LIFETIME_SECONDS,
      });
      await world.writeKubeconfig(client, {
        exec: renewingExec(script, { refreshMargin: REFRESH_MARGIN }),
      });
      return { client, script };
    };
    const proxyUser = await execFor("proxy-user");
    const nodeUser = await execFor("node-user");

    // The control: a static certificate in the kubeconfig, valid for LIFETIME_SECONDS from now.
    const control = await world.client(kubectl, "control-user");
    const now = Date.now();
    const staticCert = await issueCertificate(world.ca, `${control.dir}/static`, {
      commonName: "control-user",
      notBefore: new Date(now - 5000),
      notAfter: new Date(now + LIFETIME_SECONDS * 1000),
    });
    const staticNotAfter = Math.floor((now + LIFETIME_SECONDS * 1000) / 1000) * 1000;
    await world.writeKubeconfig(control, {
      clientCertificate: staticCert.certPath,
      clientKey: staticCert.keyPath,
    });

    const proxyArgs = ["proxy", "--port=0", "--address=127.0.0.1"];
    await using proxy = startBackground(kubectl.path, proxyArgs, { env: proxyUser.client.env });
    await using controlProxy = startBackground(kubectl.path, proxyArgs, { env: control.env });
    const proxyPort = (await proxy.waitFor(/Starting to serve on 127\.0\.0\.1:(\d+)/))[1];
    const controlPort = (await controlProxy.waitFor(/Starting to serve on 127\.0\.0\.1:(\d+)/))[1];

    const nodeDir = await nodeClientDir(world.tmp.join("node-client"));
    await Deno.writeTextFile(`${nodeDir}/client.mjs`, NODE_CLIENT);
    await using nodeClient = startBackground(
      node,
      [`${nodeDir}/client.mjs`, String(DURATION_MS), String(INTERVAL_MS)],
      { env: nodeUser.client.env, cwd: nodeDir },
    );

    const proxied: Sample[] = [];
    const controlled: Sample[] = [];
    const get = async (port: string | undefined, into: Sample[]) => {
      const at = Date.now();
      try {
        const response = await fetch(`http://127.0.0.1:${port}/version`);
        const body = await response.text();
        into.push({
          ok: response.ok,
          at,
          error: response.ok ? undefined : `${response.status} ${body}`,
        });
      } catch (error) {
        into.push({ ok: false, at, error: String(error) });
      }
    };
    const deadline = Date.now() + DURATION_MS;
    while (Date.now() < deadline) {
      await Promise.all([get(proxyPort, proxied), get(controlPort, controlled)]);
      await delay(INTERVAL_MS);
    }
    const nodeStatus = await nodeClient.status;
    assert.equal(nodeStatus.code, 0, nodeClient.stderr());
    const nodeSamples = nodeClient.stdout().trim().split("\n").map((line) =>
      JSON.parse(line) as Sample
    );

    const serials = (commonName: string) =>
      new Set(
        world.api.requests.filter((r) => r.subject === `CN=${commonName},O=developers`).map((r) =>
          r.serial
        ),
      );
    const expiries = Math.floor(DURATION_MS / 1000 / LIFETIME_SECONDS);
    const report = {
      proxy: {
        requests: proxied.length,
        renewals: await proxyUser.script.runs(),
        certificates: serials("proxy-user").size,
      },
      node: {
        requests: nodeSamples.length,
        renewals: await nodeUser.script.runs(),
        certificates: serials("node-user").size,
      },
    };
    console.log(
      `over ${DURATION_MS / 1000} s with ${LIFETIME_SECONDS} s certificates: ${
        JSON.stringify(report)
      }`,
    );

    // client-go closes every connection it opened when the certificate changes, and it can change during the
    // TLS handshake of the very request that found it still valid a moment before (kubernetes/kubernetes#112404):
    // that one request fails with "use of closed network connection" and the next one, on a fresh connection
    // with the new certificate, works. Any other failure, or two in a row, is the broker's.
    const raced = proxied.filter((s, i) =>
      !s.ok && /use of closed network connection/.test(s.error ?? "") && proxied[i + 1]?.ok === true
    );
    if (raced.length > 0) {
      console.log(`client-go's rotation race failed ${raced.length} request(s)`);
    }
    assert.ok(raced.length < report.proxy.certificates, "at most one raced request per rotation");
    assert.deepEqual(
      proxied.filter((s) => !s.ok && !raced.includes(s)),
      [],
      "every request through kubectl proxy succeeded (but for client-go's rotation race)",
    );
    assert.ok(
      proxied.length >= DURATION_MS / INTERVAL_MS / 2,
      `enough proxy requests: ${proxied.length}`,
    );
    assert.ok(
      report.proxy.certificates > expiries,
      `kubectl proxy used ${report.proxy.certificates} certificates`,
    );
    assert.ok(report.proxy.renewals > expiries);

    assert.deepEqual(
      nodeSamples.filter((s) => !s.ok),
      [],
      "every @kubernetes/client-node request succeeded",
    );
    assert.ok(
      nodeSamples.length >= DURATION_MS / INTERVAL_MS / 2,
      `enough node requests: ${nodeSamples.length}`,
    );
    assert.ok(
      report.node.certificates > expiries,
      `client-node used ${report.node.certificates} certificates`,
    );
    assert.ok(report.node.renewals > expiries);

    // The control worked while its certificate was valid and failed once it had expired.
    assert.ok(
      controlled.filter((s) => s.at < staticNotAfter - 2000).every((s) => s.ok),
      "control before expiry",
    );
    const afterExpiry = controlled.filter((s) => s.at > staticNotAfter + 2000);
    assert.ok(
      afterExpiry.length > 0 && afterExpiry.every((s) => !s.ok),
      "control fails after expiry",
    );
  },
);
