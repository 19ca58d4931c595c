/**
 * `--issuer step-ca` end to end: a real kubectl through the world's nginx mTLS proxy with certificates the broker
 * got itself from the step-ca stand-in (scripts/world/step_ca_server.ts, behind its own nginx for mTLS renewals),
 * whose intermediate chains to the world's CA, as a step-ca's does to the root the proxy trusts. The first
 * certificate needs the token command; while it is valid the broker rekeys over mTLS with no token; one that
 * expired goes back to the token command; and --renew-ahead renews in the background by rekey.
 */
import assert from "node:assert/strict";
import { e2eTest, parseJson } from "./e2e.ts";
import { joinCommandLine } from "../../lib/shared/command_line.ts";
import { parsePem } from "../../lib/credentials/pem.ts";
import { parseCertificate } from "../../lib/credentials/x509.ts";
import { findKubectls, preferredKubectl } from "../../scripts/world/kubectl.ts";
import { findNginx } from "../../scripts/world/nginx.ts";
import { delay } from "../../scripts/world/process.ts";
import { type Client, World } from "../../scripts/world/world.ts";
import {
  startStepCa,
  type StepCaServer,
  stepTokenCommand,
} from "../../scripts/world/step_ca_server.ts";
import { backgroundSettled } from "../helpers.ts";

const kubectls = await findKubectls();
const SUBJECT = "alice@example.com";

interface StepUser {
  certPath: string;
  keyPath: string;
  tokenLog: string;
  tokenRuns(): Promise<number>;
}

/** A kubeconfig user whose exec runs the installed broker with --issuer step-ca and the token command fixture. */
async function stepUser(
  world: World,
  client: Client,
  ca: StepCaServer,
  flags: string[] = [],
): Promise<StepUser> {
  const certPath = `${client.dir}/step/client.crt`;
  const keyPath = `${client.dir}/step/client.key`;
  const tokenLog = `${client.dir}/token-runs.log`;
  await Deno.mkdir(`${client.dir}/step`, { recursive: true });
  const command = joinCommandLine(stepTokenCommand(ca, SUBJECT, { log: tokenLog }));
  await world.writeKubeconfig(client, {
    exec: {
      apiVersion: "client.authentication.k8s.io/v1",
      command: "kubectl-credentials_broker",
      args: [
        "--issuer=step-ca",
        `--issuer-url=${ca.url}`,
        `--issuer-ca-file=${ca.rootPath}`,
        `--step-token-command=${command}`,
        `--client-certificate-path=${certPath}`,
        `--client-key-path=${keyPath}`,
        ...flags,
      ],
      interactiveMode: "Never",
    },
  });
  return {
    certPath,
    keyPath,
    tokenLog,
    tokenRuns: async () => {
      try {
        return (await Deno.readTextFile(tokenLog)).split("\n").filter(Boolean).length;
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return 0;
        throw error;
      }
    },
  };
}

/** No one-time token the CA made (nor its signature alone) in any file under `dir` or in any output. */
function assertNoTokenLeaked(ca: StepCaServer, dir: string, outputs: string[]): void {
  assert.ok(ca.issuedTokens.length > 0);
  const secrets = ca.issuedTokens.flatMap((token) => [token, token.split(".")[2]!]);
  const texts = [...outputs];
  const walk = (folder: string) => {
    for (const entry of Deno.readDirSync(folder)) {
      const path = `${folder}/${entry.name}`;
      if (entry.isDirectory) walk(path);
      else if (entry.isFile) texts.push(Deno.readTextFileSync(path));
    }
  };
  walk(dir);
  for (const text of texts) {
    for (const secret of secrets) assert.ok(!text.includes(secret), "a one-time token leaked");
  }
}

/**
 * An end-to-end test in a fresh world with the installed broker, its preferred kubectl's client and the step-ca
 * stand-in behind nginx, chained to the world's CA (`ca` adds to its options); needs nginx and a kubectl.
 */
function stepCaTest(
  name: string,
  ca: Partial<Parameters<typeof startStepCa>[0]>,
  fn: (world: World, client: Client, ca: StepCaServer) => Promise<void>,
): void {
  e2eTest(name, { nginx: true, kubectl: true }, kubectls, async () => {
    await using world = await World.start({ installBroker: true });
    await using server = await startStepCa({
      dir: world.tmp.join("step-ca"),
      nginxPath: findNginx()!,
      root: world.ca,
      ...ca,
    });
    await fn(world, await world.client(preferredKubectl(kubectls)!), server);
  });
}

function leafOf(path: string) {
  return parseCertificate(parsePem(Deno.readTextFileSync(path))[0]!.der);
}

stepCaTest(
  "step-ca: kubectl gets a first certificate with the token command, then renewals rekey over mTLS with no token",
  {
    defaultDurationMs: 40_000,
    minDurationMs: 1000,
  },
  async (world, client, ca) => {
    // Certificates live 100 s (40 s ahead, backdated a minute as step-ca does): the 50 s margin is capped at a
    // third of that, so a renewal is due 7 s after each one is issued.
    const user = await stepUser(world, client, ca, ["--refresh-margin=50s"]);

    const first = await client.run(["get", "--raw", "/version"]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(parseJson<{ gitVersion: string }>(first.stdout).gitVersion, "v1.32.0");
    assert.equal(await user.tokenRuns(), 1, "the first certificate needs a one-time token");
    assert.deepEqual(ca.requests.map((r) => [r.path, r.status, r.tokenSubject]), [
      ["/1.0/sign", 201, SUBJECT],
    ]);
    assert.ok(world.api.requests.length > 0);
    assert.ok(world.api.requests.every((r) => r.subject === `CN=${SUBJECT}`));
    const firstLeaf = leafOf(user.certPath);
    assert.equal((await Deno.stat(user.keyPath)).mode! & 0o777, 0o600);

    const again = await client.run(["get", "--raw", "/version"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(ca.requests.length, 1, "a valid certificate is used as it is");

    await delay(9_000);
    const renewed = await client.run(["get", "--raw", "/version"]);
    assert.equal(renewed.code, 0, renewed.stderr);
    assert.equal(await user.tokenRuns(), 1, "renewal by rekey runs no token command");
    assert.deepEqual(ca.requests.slice(1).map((r) => [r.path, r.status, r.clientSubject]), [
      ["/1.0/rekey", 201, `CN=${SUBJECT}`],
    ]);
    const secondLeaf = leafOf(user.certPath);
    assert.ok(secondLeaf.notAfter > firstLeaf.notAfter);
    assert.notDeepEqual(secondLeaf.publicKey, firstLeaf.publicKey, "rekey: a new key");
    const serials = new Set(world.api.requests.map((r) => r.serial));
    assert.equal(serials.size, 2, "the API server saw the first and the rekeyed certificate");
    console.log(
      `kubectl get --raw /version: ${
        Math.round(first.ms)
      } ms with the first certificate (token command + sign), ${
        Math.round(again.ms)
      } ms with a valid one, ${Math.round(renewed.ms)} ms with a rekey over mTLS`,
    );
    assertNoTokenLeaked(
      ca,
      client.dir,
      [first, again, renewed].flatMap((result) => [result.stdout, result.stderr]),
    );
  },
);

stepCaTest(
  "step-ca: a certificate that expired while unused goes back to the token command (no mTLS renewal)",
  {},
  async (world, client, ca) => {
    const user = await stepUser(world, client, ca);
    const now = Date.now();
    const expired = await ca.issue({
      subject: SUBJECT,
      notBefore: new Date(now - 2 * 3_600_000),
      notAfter: new Date(now - 3_600_000),
    });
    await Deno.writeTextFile(user.certPath, expired.certificatePem);
    await Deno.writeTextFile(user.keyPath, expired.keyPem, { mode: 0o600 });

    const result = await client.run(["get", "--raw", "/version"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await user.tokenRuns(), 1);
    assert.deepEqual(ca.requests.map((r) => [r.path, r.status]), [["/1.0/sign", 201]]);
    assert.ok(leafOf(user.certPath).notAfter.getTime() > Date.now());
    assertNoTokenLeaked(ca, client.dir, [result.stdout, result.stderr]);
  },
);

stepCaTest(
  "step-ca with --renew-ahead: calls across certificate lifetimes all succeed while the background renews by rekey",
  {
    defaultDurationMs: 20_000,
    minDurationMs: 1000,
  },
  async (world, client, ca) => {
    const cache = `${client.dir}/cache`;
    const user = await stepUser(world, client, ca, [
      "--renew-ahead=12s",
      "--refresh-margin=3s",
      `--cache-dir=${cache}`,
    ]);
    const first = await client.run(["get", "--raw", "/version"]);
    assert.equal(first.code, 0, first.stderr);
    const firstExpiry = leafOf(user.certPath).notAfter;
    const loopStart = Date.now();
    let calls = 0;
    while (Date.now() - loopStart < 30_000) {
      const result = await client.run(["get", "--raw", "/version"]);
      assert.equal(result.code, 0, `call ${calls + 1} failed: ${result.stderr}`);
      calls++;
      await delay(300);
    }
    const loopEnd = Date.now();
    await backgroundSettled(cache);
    // The loop outlived the first certificate: without the renewals some call would have failed or waited.
    assert.ok(firstExpiry.getTime() < loopEnd, "the loop crossed the first certificate's expiry");
    const rekeys = ca.requests.filter((r) => r.path === "/1.0/rekey" && r.status === 201).length;
    console.log(
      `${calls} kubectl calls in 30 s with 20 s certificates: ${rekeys} background rekeys`,
    );
    assert.equal(await user.tokenRuns(), 1, "only the first certificate needed a token");
    assert.equal(ca.requests.filter((r) => r.path === "/1.0/sign").length, 1);
    assert.ok(rekeys >= 2, `${rekeys} rekeys`);
    // Every certificate the API server saw was valid when used: no call failed, and more than one was used.
    assert.ok(new Set(world.api.requests.map((r) => r.serial)).size >= 2);
  },
);
