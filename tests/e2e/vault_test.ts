/**
 * `--issuer vault` end to end: kubectl runs the installed broker, which gets its certificate from the Vault test
 * server (scripts/world/vault_server.ts, behind its own nginx TLS) and presents it through the world's nginx mTLS
 * proxy to the API server. The Vault signs with the world's CA, as a cluster whose proxy trusts a Vault PKI does.
 * Scenarios: the first certificate with the token `vault login` left, renewal at expiry, a token helper, cert auth
 * renewals with no token anywhere (and an expired certificate sending the user back to `vault login`), and
 * renew-ahead asking Vault in the background.
 */
import assert from "node:assert/strict";
import { e2eTest, parseJson } from "./e2e.ts";
import type { ExecConfig } from "../../scripts/world/kubeconfig.ts";
import { findKubectls, preferredKubectl } from "../../scripts/world/kubectl.ts";
import { delay } from "../../scripts/world/process.ts";
import { type Client, World } from "../../scripts/world/world.ts";
import { startVaultBehindNginx, type VaultBehindNginx } from "../../scripts/world/vault_server.ts";
import { backgroundSettled } from "../helpers.ts";
import { parsePem } from "../../lib/credentials/pem.ts";
import { parseCertificate } from "../../lib/credentials/x509.ts";

const kubectls = await findKubectls();
const SECOND = 1000;

/** The world, and a Vault that signs with the world's CA (role dev: EC keys, O=developers), behind TLS. */
async function vaultWorld() {
  await using stack = new AsyncDisposableStack();
  const world = stack.use(await World.start({ installBroker: true }));
  const tls = stack.use(
    await startVaultBehindNginx(world.tmp.join("vault"), {
      ca: {
        certificatePem: await Deno.readTextFile(world.ca.certPath),
        keyPem: await Deno.readTextFile(world.ca.keyPath),
      },
    }),
  );
  tls.vault.addRole("dev", { keyType: "ec", maxTtl: 3600, organization: ["developers"] });
  const client = await world.client(preferredKubectl(kubectls)!);
  const owned = stack.move();
  return { world, tls, client, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

type VaultWorld = Awaited<ReturnType<typeof vaultWorld>>;

/** An end-to-end test in a fresh vaultWorld(), which needs nginx and a kubectl. */
function vaultTest(name: string, fn: (w: VaultWorld) => Promise<void>): void {
  e2eTest(name, { nginx: true, kubectl: true }, kubectls, async () => {
    await using w = await vaultWorld();
    await fn(w);
  });
}

/** What `vault login` leaves: a new token with `grant`, in the client's ~/.vault-token (mode 0600). Returns it. */
async function vaultLogin(
  { tls, client }: VaultWorld,
  grant: Parameters<VaultBehindNginx["vault"]["addToken"]>[0],
): Promise<string> {
  const token = tls.vault.addToken(grant);
  await Deno.writeTextFile(`${client.home}/.vault-token`, token, { mode: 0o600 });
  return token;
}

/** Points the client's kubeconfig at the broker with --issuer vault and the scenario's `extra` flags. */
async function useVault({ world, tls, client }: VaultWorld, extra: string[] = []): Promise<void> {
  await world.writeKubeconfig(client, { exec: vaultExec(tls, client, extra) });
}

/** The exec block `kubeconfig set --issuer vault ...` would write, with the flags the scenario adds. */
function vaultExec(tls: VaultBehindNginx, client: Client, extra: string[]): ExecConfig {
  return {
    apiVersion: "client.authentication.k8s.io/v1",
    command: "kubectl-credentials_broker",
    args: [
      "--issuer=vault",
      `--issuer-url=${tls.url}`,
      `--issuer-ca-file=${tls.listenerCaFile}`,
      "--vault-role=dev",
      "--common-name=alice",
      `--client-certificate-path=${client.dir}/issued/client.crt`,
      `--client-key-path=${client.dir}/issued/client.key`,
      ...extra,
    ],
    interactiveMode: "Never",
  };
}

const signs = (tls: VaultBehindNginx) =>
  tls.vault.requests.filter((r) => r.path === "/v1/pki/sign/dev");

/** When the certificate the broker stored for `client` ends. */
function notAfter(client: Client): number {
  const [leaf] = parsePem(Deno.readTextFileSync(`${client.dir}/issued/client.crt`));
  return parseCertificate(leaf!.der).notAfter.getTime();
}

/** Waits until the epoch milliseconds `at`. */
async function until(at: number): Promise<void> {
  const left = at - Date.now();
  if (left > 0) await delay(left);
}

vaultTest(
  "vault: the first kubectl call gets a certificate with the token vault login left, later calls reuse it, an expired one is renewed",
  async (w) => {
    const { world, tls, client } = w;
    await vaultLogin(w, { name: "alice-login", paths: ["pki/sign/dev"] });
    await useVault(w, ["--ttl=8s", "--refresh-margin=2s"]);

    const first = await client.run(["get", "--raw", "/version"]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(parseJson<{ gitVersion: string }>(first.stdout).gitVersion, "v1.32.0");
    assert.deepEqual(signs(tls).map((r) => [r.status, r.token]), [[200, "alice-login"]]);
    assert.ok(world.api.requests.every((r) => r.subject === "CN=alice,O=developers"));
    assert.equal(Deno.statSync(`${client.dir}/issued/client.key`).mode! & 0o777, 0o600);

    const second = await client.run(["get", "--raw", "/version"]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(signs(tls).length, 1, "a valid certificate is not renewed");

    // Past its end (8 s after issuance): the next call renews in the foreground.
    await until(notAfter(client) + 500);
    const third = await client.run(["get", "--raw", "/version"]);
    assert.equal(third.code, 0, third.stderr);
    assert.equal(signs(tls).length, 2);
    assert.equal(new Set(world.api.requests.map((r) => r.serial)).size, 2);
    // doctor checks the issuer end to end through the same driver: health, the token, the role.
    const doctor = await client.run(["credentials-broker", "doctor"]);
    const issuerLines = doctor.stdout.split("\n").filter((line) => line.includes("issuer vault:"));
    assert.equal(issuerLines.length, 3, doctor.stdout);
    assert.match(issuerLines[0]!, /^\[ok\] +issuer vault: vault answers +vault 1\.18\.0 at https:/);
    assert.match(
      issuerLines[1]!,
      /^\[ok\] +issuer vault: vault token +token from .*\.vault-token, valid for/,
    );
    assert.match(issuerLines[2]!, /issuer vault: vault role .*not checked/);
    for (const text of [first.stderr, second.stderr, third.stderr, doctor.stdout, doctor.stderr]) {
      assert.ok(!text.includes("hvs."), "no token in kubectl's output");
    }
  },
);

vaultTest(
  "vault: a token_helper named in ~/.vault is run with `get` and its token used",
  async (w) => {
    const { tls, client } = w;
    const token = tls.vault.addToken({ name: "from-helper", paths: ["pki/sign/dev"] });
    const helper = `${client.dir}/vault-helper`;
    // A Deno script as an executable, as a token helper is any program: it records its argument and prints the token.
    await Deno.writeTextFile(
      helper,
      `#!/usr/bin/env -S ${Deno.execPath()} run --allow-write --quiet --no-config\n` +
        `Deno.writeTextFileSync(${
          JSON.stringify(`${client.dir}/helper-args`)
        }, Deno.args.join(" "));\n` +
        `console.log(${JSON.stringify(token)});\n`,
      { mode: 0o755 },
    );
    await Deno.writeTextFile(`${client.home}/.vault`, `token_helper = "${helper}"\n`);
    await useVault(w);
    const result = await client.run(["get", "--raw", "/version"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await Deno.readTextFile(`${client.dir}/helper-args`), "get");
    assert.deepEqual(signs(tls).map((r) => r.token), ["from-helper"]);
    assert.ok(!result.stderr.includes(token));
  },
);

vaultTest(
  "vault cert auth: renewals log in with the current certificate, with no token anywhere; an expired certificate needs vault login again",
  async (w) => {
    const { world, tls, client } = w;
    tls.vault.addCertRole({
      name: "kube",
      caPem: await Deno.readTextFile(world.ca.certPath),
      paths: ["pki/sign/dev"],
      ttl: 30,
    });
    await vaultLogin(w, { name: "alice-login", paths: ["pki/sign/dev"], ttl: 60 });
    await useVault(w, ["--vault-auth=cert", "--ttl=14s", "--refresh-margin=6s"]);

    // The first certificate needs the token.
    const first = await client.run(["get", "--raw", "/version"]);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(signs(tls).map((r) => r.token), ["alice-login"]);

    // The token is gone (as after it expired): inside the refresh margin, the valid certificate logs in itself.
    await Deno.remove(`${client.home}/.vault-token`);
    tls.vault.revoke("alice-login");
    await until(notAfter(client) - 4 * SECOND);
    const renewed = await client.run(["get", "--raw", "/version"]);
    assert.equal(renewed.code, 0, renewed.stderr);
    const seen = tls.vault.requests.slice(1).map((
      r,
    ) => [r.path, r.status, r.token ?? "", r.clientCertificate ?? ""]);
    assert.deepEqual(seen, [
      ["/v1/auth/cert/login", 200, "", "O=developers, CN=alice"],
      ["/v1/pki/sign/dev", 200, "cert-login:kube", ""],
    ]);
    assert.deepEqual(
      [...Deno.readDirSync(client.home)].map((e) => e.name).filter((n) => n.includes("vault")),
      [],
      "the login token is written nowhere",
    );

    // Left unused past its end, the certificate cannot log in: the broker asks for a token, as the README says.
    await until(notAfter(client) + 500);
    const expired = await client.run(["get", "--raw", "/version"]);
    assert.notEqual(expired.code, 0);
    assert.match(expired.stderr, /no vault token found/);
    assert.match(expired.stderr, /vault login/);
    assert.equal(signs(tls).length, 2);
  },
);

vaultTest(
  "vault renew-ahead: calls across certificate lifetimes all succeed, Vault is asked in the background before the margin",
  async (w) => {
    const { world, tls, client } = w;
    await vaultLogin(w, { name: "alice-login", paths: ["pki/sign/dev"] });
    const cache = `${client.dir}/cache`;
    await useVault(w, [
      "--ttl=16s",
      "--refresh-margin=3s",
      "--renew-ahead=10s",
      `--cache-dir=${cache}`,
    ]);
    const first = await client.run(["get", "--raw", "/version"]);
    assert.equal(first.code, 0, first.stderr);
    const loopStart = Date.now();
    let calls = 0;
    while (Date.now() - loopStart < 30 * SECOND) {
      const result = await client.run(["get", "--raw", "/version"]);
      assert.equal(result.code, 0, `call ${calls + 1} failed: ${result.stderr}`);
      assert.doesNotMatch(result.stderr, /warning|error/);
      calls++;
      await delay(200);
    }
    await backgroundSettled(cache);
    const renewals = signs(tls).length - 1;
    console.log(`${calls} kubectl calls in 30 s, ${renewals} background renewals from Vault`);
    // Each certificate enters the window 6 s after issuance: in 30 s, at least two renewals, at most one per window.
    assert.ok(renewals >= 2, `${renewals} renewals`);
    assert.ok(renewals <= 6, `${renewals} renewals: more than one per lifetime`);
    assert.ok(signs(tls).every((r) => r.status === 200 && r.token === "alice-login"));
    // In the background, ahead of the margin: each certificate was replaced more than the 3 s margin before its
    // end (16 s after it was signed); a foreground renewal at the margin would come 13 s or more after the last.
    const at = signs(tls).map((r) => r.at);
    for (let i = 1; i < at.length; i++) {
      assert.ok(
        at[i]! - at[i - 1]! < 12 * SECOND,
        `renewal ${i} came ${at[i]! - at[i - 1]!} ms after`,
      );
    }
    // Every certificate was used by some call, but the last one when its renewal ended after the last call.
    const used = new Set(world.api.requests.map((r) => r.serial)).size;
    assert.ok(
      used === renewals + 1 || used === renewals,
      `${used} certificates used of ${renewals + 1}`,
    );
  },
);

vaultTest(
  "vault: a refused issuance fails kubectl with exit code 3 and Vault's words in one line, never the token, even echoed",
  async (w) => {
    const { world, tls, client } = w;
    const token = await vaultLogin(w, { name: "alice-login", paths: ["pki/sign/dev"] });
    await useVault(w);
    tls.vault.fault({ status: 400, errors: (seen) => [`invalid request from ${seen}`] });
    const echoed = await client.run(["get", "--raw", "/version"]);
    assert.notEqual(echoed.code, 0);
    assert.match(echoed.stderr, /exit code 3/);
    assert.match(echoed.stderr, /400 invalid request from \[redacted\]/);
    assert.ok(!echoed.stderr.includes(token) && !echoed.stdout.includes(token));

    tls.vault.revoke("alice-login");
    const refused = await client.run(["get", "--raw", "/version"]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /403 permission denied; invalid token/);
    assert.match(refused.stderr, /vault login/);
    assert.ok(!refused.stderr.includes(token));
    assert.equal(world.api.requests.length, 0, "nothing reached the cluster without a certificate");
  },
);

vaultTest(
  "vault namespaces and token order through kubectl: $VAULT_TOKEN from kubectl's environment wins over ~/.vault-token, X-Vault-Namespace scopes both",
  async (w) => {
    const { tls, client } = w;
    tls.vault.addRole("dev", { keyType: "ec", organization: ["developers"] }, {
      namespace: "team-a",
    });
    const rootToken = tls.vault.addToken({ name: "root-namespace", paths: ["pki/sign/dev"] });
    await vaultLogin(w, { name: "team-a", paths: ["pki/sign/dev"], namespace: "team-a" });
    await useVault(w, ["--vault-namespace=team-a"]);
    const withEnv = await client.run(["get", "--raw", "/version"], {
      env: { VAULT_TOKEN: rootToken },
    });
    assert.notEqual(withEnv.code, 0);
    assert.match(withEnv.stderr, /403 permission denied; invalid token/);
    assert.match(withEnv.stderr, /from \$VAULT_TOKEN/);
    const fromFile = await client.run(["get", "--raw", "/version"]);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.deepEqual(signs(tls).map((r) => [r.namespace, r.status, r.token]), [
      ["team-a", 403, "root-namespace"],
      ["team-a", 200, "team-a"],
    ]);
  },
);
