/**
 * The test world itself, before any broker is involved: nginx verifies client certificates against the throwaway
 * CA, the API server answers every installed kubectl, and the renewal script issues short-lived certificates.
 */
import assert from "node:assert/strict";
import { createCa, issueCertificate, issueExpiredCertificate } from "../../scripts/world/ca.ts";
import { fetchWithCertificate } from "../../scripts/world/clients.ts";
import { e2eTest, parseJson } from "./e2e.ts";
import { findKubectls } from "../../scripts/world/kubectl.ts";
import { startOpensslWww } from "../../scripts/world/nginx.ts";
import { denoDir, run, toolEnv } from "../../scripts/world/process.ts";
import { tempDir } from "../../scripts/world/temp_dir.ts";
import { World } from "../../scripts/world/world.ts";

const kubectls = await findKubectls();

function validFor(ms: number) {
  const now = Date.now();
  return { notBefore: new Date(now - 60_000), notAfter: new Date(now + ms) };
}

e2eTest(
  "nginx passes a request with a valid client certificate to the API server with the verified subject",
  { nginx: true },
  kubectls,
  async () => {
    await using world = await World.start();
    const cert = await issueCertificate(world.ca, world.tmp.join("alice"), {
      commonName: "alice",
      organization: "developers",
      ...validFor(60_000),
    });
    const response = await fetchWithCertificate(`${world.server}/version`, world.ca, cert);
    assert.equal(response.status, 200);
    assert.equal(parseJson<{ gitVersion: string }>(response.body).gitVersion, "v1.32.0");
    assert.equal(world.api.requests.length, 1);
    assert.equal(world.api.requests[0]!.subject, "CN=alice,O=developers");
  },
);

e2eTest(
  "nginx answers an expired certificate, a foreign CA's certificate and no certificate with 400",
  { nginx: true },
  kubectls,
  async (t) => {
    await using world = await World.start();
    const foreignCa = await createCa(world.tmp.join("foreign-ca"), "someone else's CA");
    const cases = {
      expired: await issueExpiredCertificate(world.ca, world.tmp.join("expired")),
      "foreign CA": await issueCertificate(foreignCa, world.tmp.join("foreign"), {
        commonName: "mallory",
        ...validFor(60_000),
      }),
      "no certificate": undefined,
    };
    for (const [name, cert] of Object.entries(cases)) {
      await t.step(name, async () => {
        const response = await fetchWithCertificate(`${world.server}/version`, world.ca, cert);
        assert.equal(response.status, 400);
      });
    }
    assert.equal(world.api.requests.length, 0, "nothing reached the API server");
  },
);

e2eTest(
  "the test API server rejects a missing or wrong bearer token with 401 when a token is required",
  { nginx: true },
  kubectls,
  async () => {
    await using world = await World.start({ token: "right-token" });
    const cert = await issueCertificate(world.ca, world.tmp.join("alice"), {
      commonName: "alice",
      ...validFor(60_000),
    });
    const url = `${world.server}/version`;
    assert.equal((await fetchWithCertificate(url, world.ca, cert)).status, 401);
    const wrong = { authorization: "Bearer wrong-token" };
    assert.equal((await fetchWithCertificate(url, world.ca, cert, wrong)).status, 401);
    const right = { authorization: "Bearer right-token" };
    assert.equal((await fetchWithCertificate(url, world.ca, cert, right)).status, 200);
  },
);

e2eTest(
  "the renewal script issues a certificate valid for the requested seconds and counts its runs",
  { nginx: true },
  kubectls,
  async () => {
    await using world = await World.start();
    const script = await world.renewalScript("short", { lifetimeSeconds: 15 });
    assert.equal(await script.runs(), 0);
    const before = Math.floor(Date.now() / 1000);
    const [program, ...args] = script.argv;
    const result = await run(program!, args, {
      env: toolEnv({ KUBERNETES_EXEC_INFO: "{}", DENO_DIR: denoDir() }),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await script.runs(), 1);
    assert.deepEqual(await script.execInfos(), ["{}"]);
    const dates = await run("openssl", ["x509", "-in", script.certPath, "-noout", "-enddate"], {
      env: toolEnv(),
    });
    const notAfter = Date.parse(dates.stdout.trim().replace("notAfter=", "")) / 1000;
    assert.ok(
      notAfter >= before + 14 && notAfter <= before + 17,
      `notAfter ${notAfter} vs ${before}`,
    );
    const response = await fetchWithCertificate(`${world.server}/version`, world.ca, {
      certPath: script.certPath,
      keyPath: script.keyPath,
    });
    assert.equal(response.status, 200);
  },
);

e2eTest(
  "the openssl s_server fallback serves /version to a CA client certificate and refuses an expired one",
  {},
  kubectls,
  async () => {
    await using tmp = await tempDir();
    const ca = await createCa(tmp.join("ca"));
    const serverCert = await issueCertificate(ca, tmp.join("fallback-server"), {
      commonName: "127.0.0.1",
      server: true,
      ...validFor(60_000),
    });
    await using fallback = await startOpensslWww({
      dir: tmp.join("fallback"),
      ca,
      serverCert,
      files: { version: '{"gitVersion":"v1.32.0"}' },
    });
    const good = await issueCertificate(ca, tmp.join("good"), {
      commonName: "alice",
      ...validFor(60_000),
    });
    const response = await fetchWithCertificate(`${fallback.url}/version`, ca, good);
    assert.equal(response.status, 200);
    assert.match(response.body, /v1\.32\.0/);
    const expired = await issueExpiredCertificate(ca, tmp.join("expired"));
    await assert.rejects(fetchWithCertificate(`${fallback.url}/version`, ca, expired));
  },
);

e2eTest(
  "the test API server answers every installed kubectl that uses a static client certificate",
  { nginx: true, kubectl: true },
  kubectls,
  async (t) => {
    await using world = await World.start();
    const cert = await issueCertificate(world.ca, world.tmp.join("alice"), {
      commonName: "alice",
      organization: "developers",
      ...validFor(300_000),
    });
    for (const kubectl of kubectls) {
      await t.step(`${kubectl.version} (${kubectl.path})`, async () => {
        const client = await world.client(kubectl);
        await world.writeKubeconfig(client, {
          clientCertificate: cert.certPath,
          clientKey: cert.keyPath,
        });
        const version = await client.run(["get", "--raw", "/version"]);
        assert.equal(version.code, 0, version.stderr);
        assert.equal(parseJson<{ gitVersion: string }>(version.stdout).gitVersion, "v1.32.0");
        const namespaces = await client.run(["get", "namespaces", "-o", "name"]);
        assert.equal(namespaces.code, 0, namespaces.stderr);
        assert.match(namespaces.stdout, /namespace\/default/);
        const whoami = await client.run(["auth", "whoami", "-o", "json"]);
        assert.equal(whoami.code, 0, whoami.stderr);
        const review = parseJson<{ status: { userInfo: { username: string; groups: string[] } } }>(
          whoami.stdout,
        );
        assert.equal(review.status.userInfo.username, "alice");
        assert.ok(review.status.userInfo.groups.includes("developers"));
      });
    }
    console.log(
      `kubectl versions exercised: ${kubectls.length} (${
        kubectls.map((k) => k.version).join(", ")
      })`,
    );
  },
);
