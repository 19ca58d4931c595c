/**
 * The Vault driver against the Vault test server (scripts/world/vault_server.ts), in-process: what it sends
 * (sign, never issue; the CSR, names, ttl; the headers), where it finds tokens and in which order, and how it
 * reports what Vault refuses (tokens, key types, namespaces, busy or sealed Vaults, HTML from proxies) without ever
 * printing a token. Cert login needs a client certificate, so those tests run behind nginx where it is installed.
 * Each test has a Vault of its own; they share one root and intermediate (made once: a fixture, not the subject).
 */
import "reflect-metadata";
import assert from "node:assert/strict";
import * as x509 from "@peculiar/x509";
import { isLoopback, tokenHelperOf, vaultDriver } from "../../lib/issuer/vault.ts";
import { makeIssuerFetch } from "../../lib/issuer/http.ts";
import { generateLocalKey } from "../../lib/issuer/keys.ts";
import { csrMaker } from "../../lib/issuer/csr.ts";
import { runIssuance } from "../../lib/issuer/issue.ts";
import { readCredentials } from "../../lib/credentials/credentials.ts";
import type {
  CsrMaker,
  CurrentCredentials,
  IssuerContext,
  IssuerFetch,
  IssuerOptions,
  KeyType,
} from "../../lib/issuer/issuer.ts";
import { IssuerError } from "../../lib/shared/errors.ts";
import { ExitCode } from "../../lib/shared/errors.ts";
import { HOST_OS, joinPath } from "../../lib/shared/platform.ts";
import { findNginx } from "../../scripts/world/nginx.ts";
import { tempDir } from "../../scripts/world/temp_dir.ts";
import {
  makeTestCa,
  startVaultBehindNginx,
  startVaultServer,
  type VaultServer,
  type VaultServerOptions,
} from "../../scripts/world/vault_server.ts";

/** Cert login needs a TLS server that asks for client certificates: nginx in front (not on Windows runs). */
const NO_NGINX = !findNginx() || Deno.build.os === "windows";

/** The real IssuerFetch (lib/issuer/http.ts), with a short pause before its one retry. */
function testFetch(base: string, caFile?: string): IssuerFetch & Disposable {
  return makeIssuerFetch(base, { caFile, deadline: Date.now() + 60_000, retryDelayMs: 20 });
}

/** A new local key of the type and the real CsrMaker for it, remembering the subjects it was asked for. */
async function keyAndCsr(keyType: KeyType) {
  const key = await generateLocalKey(keyType);
  const made: { commonName?: string; altNames: readonly string[] }[] = [];
  const maker = csrMaker(key);
  const csr: CsrMaker = (subject) => {
    made.push(subject);
    return maker(subject);
  };
  return { csr, made, spki: key.spki, keyPem: key.pkcs8Pem };
}

interface Fixture extends AsyncDisposable {
  home: string;
  env: Record<string, string>;
  helperCalls: (readonly string[])[];
  stderr: string[];
  context(overrides?: Partial<IssuerContext>): IssuerContext;
  options(
    overrides?: Partial<IssuerOptions>,
    vault?: Partial<IssuerOptions["vault"]>,
  ): IssuerOptions;
  writeHome(name: string, text: string): Promise<string>;
}

/** A temp HOME, an environment, a recording token-helper runner and options pointing at `url`. */
async function fixture(
  url: string,
  fetcher: IssuerFetch & Disposable,
  helperOutput: (argv: readonly string[]) => string = () => "",
): Promise<Fixture> {
  const tmp = await tempDir("ccb-vault-");
  const home = tmp.join("home");
  await Deno.mkdir(home);
  const env: Record<string, string> = {};
  const helperCalls: (readonly string[])[] = [];
  const stderr: string[] = [];
  return {
    home,
    env,
    helperCalls,
    stderr,
    context: (overrides = {}) => ({
      fetch: fetcher,
      runForOutput: (argv) => {
        helperCalls.push(argv);
        return Promise.resolve(helperOutput(argv));
      },
      env: (name) => env[name],
      home: () => home,
      now: () => new Date(),
      deadline: Date.now() + 30_000,
      interactive: false,
      stderr: (text) => {
        stderr.push(text);
        return Promise.resolve();
      },
      ...overrides,
    }),
    options: (overrides = {}, vault = {}) => ({
      issuer: "vault",
      url,
      commonName: "alice",
      altNames: ["alice.dev.example"],
      ttlMs: 3600_000,
      keyType: "ec-p256",
      vault: { mount: "pki", role: "dev", auth: "token", authMount: "cert", ...vault },
      ...overrides,
    }),
    writeHome: async (name, text) => {
      const path = joinPath(home, name, HOST_OS);
      await Deno.writeTextFile(path, text, { mode: 0o600 });
      return path;
    },
    [Symbol.asyncDispose]: () => {
      fetcher[Symbol.dispose]();
      return tmp[Symbol.asyncDispose]();
    },
  };
}

/** The root and intermediate of this file's Vaults, made by the first one (each server keeps its own state). */
let fileSigner: VaultServer["signer"] | undefined;

/** A Vault server signing with this file's root and intermediate, unless `options.ca` names another CA. */
async function startVault(options: VaultServerOptions = {}): Promise<VaultServer> {
  const vault = await startVaultServer({ signer: fileSigner, ...options });
  if (!options.ca) fileSigner ??= vault.signer;
  return vault;
}

/** A Vault with an `ec` role "dev" in mount pki and a signing token, and a fixture for it. */
async function vaultWorld(options: VaultServerOptions = {}) {
  const vault = await startVault(options);
  vault.addRole("dev", { keyType: "ec", maxTtl: 24 * 3600, organization: ["developers"] });
  const f = await fixture(vault.url, testFetch(vault.url));
  return {
    vault,
    f,
    async [Symbol.asyncDispose]() {
      await f[Symbol.asyncDispose]();
      await vault[Symbol.asyncDispose]();
    },
  };
}

/**
 * The Vault behind nginx TLS (which passes client certificates on, for cert login) in a temp folder, with an `ec`
 * role "dev" (and `role`), and a fixture whose fetch trusts nginx's CA.
 */
async function vaultBehindNginx(role: Parameters<VaultServer["addRole"]>[1] = {}) {
  await using stack = new AsyncDisposableStack();
  const tmp = stack.use(await tempDir("ccb-vault-tls-"));
  const tls = stack.use(await startVaultBehindNginx(tmp.join("nginx"), { signer: fileSigner }));
  fileSigner ??= tls.vault.signer;
  tls.vault.addRole("dev", { keyType: "ec", ...role });
  const f = stack.use(await fixture(tls.url, testFetch(tls.url, tls.listenerCaFile)));
  const owned = stack.move();
  return { vault: tls.vault, f, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

/** The IssuerError `promise` rejects with; fails the test if it resolves or throws anything else. */
async function issuerError(promise: Promise<unknown>): Promise<IssuerError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof IssuerError, `expected an IssuerError, got ${error}`);
    assert.equal(error.exitCode, ExitCode.beforeExec);
    return error;
  }
  assert.fail("expected an IssuerError");
}

const signs = (vault: VaultServer) => vault.requests.filter((r) => r.path.includes("/sign/"));

Deno.test("issue() posts the CSR to /v1/<mount>/sign/<role> (never /issue/) and returns the leaf and the intermediate, not the root", async () => {
  await using w = await vaultWorld();
  w.f.env.VAULT_TOKEN = w.vault.addToken({ name: "env", paths: ["pki/sign/*"] });
  const { csr, made, spki } = await keyAndCsr("ec-p256");
  const issued = await vaultDriver.issue(w.f.options(), csr, w.f.context());

  assert.equal(issued.key, "new");
  assert.deepEqual(made, [{ commonName: "alice", altNames: ["alice.dev.example"] }]);
  assert.equal(issued.chain.length, 2, "leaf and intermediate");
  const leaf = new x509.X509Certificate(issued.chain[0]!);
  const intermediate = new x509.X509Certificate(issued.chain[1]!);
  assert.equal(leaf.subject, "O=developers, CN=alice");
  assert.deepEqual(
    new Uint8Array(leaf.publicKey.rawData),
    spki,
    "the leaf certifies the CSR's key",
  );
  assert.equal(intermediate.toString("pem") + "\n", w.vault.issuingPem);
  assert.ok(await leaf.verify({ publicKey: intermediate.publicKey, signatureOnly: true }));
  const lifetime = leaf.notAfter.getTime() - Date.now();
  assert.ok(lifetime > 3500_000 && lifetime <= 3600_000, `ttl 3600s asked: ${lifetime} ms`);
  for (const pem of issued.chain) {
    assert.match(pem, /^-----BEGIN CERTIFICATE-----\n[^]*\n-----END CERTIFICATE-----\n$/);
  }

  assert.deepEqual(w.vault.requests.map((r) => [r.method, r.path, r.status, r.token]), [
    ["POST", "/v1/pki/sign/dev", 200, "env"],
  ]);
  const [request] = w.vault.requests;
  assert.deepEqual(request!.fields.sort(), ["alt_names", "common_name", "csr", "format", "ttl"]);
  assert.deepEqual(request!.body, {
    common_name: "alice",
    alt_names: "alice.dev.example",
    ttl: "3600s",
    format: "pem",
  });
  assert.equal(request!.vaultRequestHeader, true);
  assert.equal(request!.namespace, "");
});

Deno.test("runIssuance() with --issuer vault (the driver loaded by name, the real fetch) stores a key and its chain that read as a good pair", async () => {
  await using w = await vaultWorld();
  w.f.env.VAULT_TOKEN = w.vault.addToken({ name: "env", paths: ["pki/sign/dev"] });
  const store = joinPath(w.f.home, "store", HOST_OS);
  const paths = {
    certificatePath: joinPath(store, "client.crt", HOST_OS),
    keyPath: joinPath(store, "client.key", HOST_OS),
  };
  const { fetch: _fetch, ...context } = w.f.context();
  const result = await runIssuance({ ...context, options: w.f.options(), paths });
  assert.equal(result.leaf.subject, "O=developers, CN=alice");
  assert.equal(result.chainLength, 2);
  const reading = await readCredentials({
    clientCertificatePath: paths.certificatePath,
    clientKeyPath: paths.keyPath,
  });
  assert.deepEqual(reading.problems, []);
  assert.deepEqual(signs(w.vault).map((r) => [r.status, r.token]), [[200, "env"]]);
});

Deno.test("issue() with a root-only CA returns the leaf alone; IP and URI names go in ip_sans and uri_sans", async () => {
  const ca = await makeTestCa("vault test root only");
  await using w = await vaultWorld({ ca });
  w.f.env.VAULT_TOKEN = w.vault.addToken({ name: "env", paths: ["pki/*"] });
  const { csr } = await keyAndCsr("ec-p256");
  const options = w.f.options({ altNames: ["a.example", "10.0.0.1", "spiffe://dev/alice"] });
  const issued = await vaultDriver.issue(options, csr, w.f.context());
  assert.equal(issued.chain.length, 1, "the self-signed root is not appended");
  const leaf = new x509.X509Certificate(issued.chain[0]!);
  assert.equal(leaf.issuer, "CN=vault test root only");
  assert.deepEqual(signs(w.vault)[0]!.body, {
    common_name: "alice",
    alt_names: "a.example",
    ip_sans: "10.0.0.1",
    uri_sans: "spiffe://dev/alice",
    ttl: "3600s",
    format: "pem",
  });
});

Deno.test("issue() finds the token as the vault CLI does: $VAULT_TOKEN, $BAO_TOKEN, the token_helper of ~/.vault, then ~/.vault-token", async (t) => {
  await using w = await vaultWorld();
  const value = (name: string) => w.vault.addToken({ name, paths: ["pki/sign/dev"] });
  const helperToken = value("helper");
  await using f = await fixture(
    w.vault.url,
    testFetch(w.vault.url),
    (argv) => argv[1] === "get" ? `${helperToken}\n` : "",
  );
  const { csr } = await keyAndCsr("ec-p256");
  const usedToken = async () => {
    await vaultDriver.issue(f.options(), csr, f.context());
    return signs(w.vault).at(-1)!.token;
  };
  const helperPath = joinPath(f.home, "vault token helper", HOST_OS);

  await t.step("everything set: $VAULT_TOKEN wins", async () => {
    f.env.VAULT_TOKEN = value("vault-env");
    f.env.BAO_TOKEN = value("bao-env");
    await f.writeHome(".vault", `token_helper = "${helperPath.replaceAll("\\", "\\\\")}"\n`);
    await f.writeHome(".vault-token", value("file"));
    assert.equal(await usedToken(), "vault-env");
    assert.deepEqual(f.helperCalls, [], "the helper is not run when a variable holds a token");
  });
  await t.step("no $VAULT_TOKEN: $BAO_TOKEN (OpenBao)", async () => {
    delete f.env.VAULT_TOKEN;
    assert.equal(await usedToken(), "bao-env");
  });
  await t.step(
    "no variables: the token_helper, run with `get`; ~/.vault-token is not read",
    async () => {
      delete f.env.BAO_TOKEN;
      assert.equal(await usedToken(), "helper");
      assert.deepEqual(f.helperCalls, [[helperPath, "get"]]);
    },
  );
  await t.step("$VAULT_CONFIG_PATH names the configuration instead of ~/.vault", async () => {
    f.helperCalls.length = 0;
    f.env.VAULT_CONFIG_PATH = await f.writeHome(
      "other.hcl",
      `# JSON form\n{"token_helper": "/opt/other helper"}\n`,
    );
    assert.equal(await usedToken(), "helper");
    assert.deepEqual(f.helperCalls, [["/opt/other helper", "get"]]);
    delete f.env.VAULT_CONFIG_PATH;
  });
  await t.step("OpenBao: $BAO_CONFIG_PATH, else ~/.bao when there is no ~/.vault", async () => {
    f.helperCalls.length = 0;
    await Deno.remove(joinPath(f.home, ".vault", HOST_OS));
    f.env.BAO_CONFIG_PATH = await f.writeHome("bao.hcl", 'token_helper = "/opt/bao-helper"\n');
    assert.equal(await usedToken(), "helper");
    delete f.env.BAO_CONFIG_PATH;
    await f.writeHome(".bao", 'token_helper = "/opt/dot-bao-helper"\n');
    assert.equal(await usedToken(), "helper");
    assert.deepEqual(f.helperCalls, [["/opt/bao-helper", "get"], ["/opt/dot-bao-helper", "get"]]);
    await Deno.remove(joinPath(f.home, ".bao", HOST_OS));
  });
  await t.step("no helper configured: ~/.vault-token, as written by vault login", async () => {
    assert.equal(await usedToken(), "file");
  });
  await t.step("a variable set but empty counts as unset", async () => {
    f.env.VAULT_TOKEN = "";
    f.env.BAO_TOKEN = "  ";
    assert.equal(await usedToken(), "file");
  });
});

Deno.test("tokenHelperOf() reads token_helper from the vault CLI's HCL or JSON configuration", async (t) => {
  const rows: [string, string | undefined][] = [
    ['token_helper = "/usr/local/bin/vault-helper"\n', "/usr/local/bin/vault-helper"],
    ['  token_helper="/opt/h"  # comment\n', "/opt/h"],
    ['# token_helper = "/commented/out"\n', undefined],
    ['{\n  "token_helper": "/json/helper"\n}\n', "/json/helper"],
    ['{"token_helper":"C:\\\\tools\\\\helper.exe"}', "C:\\tools\\helper.exe"],
    ['token_helper = ""\n', undefined],
    ["disable_mlock = true\n", undefined],
  ];
  for (const [text, expected] of rows) {
    await t.step(JSON.stringify(text), () => assert.equal(tokenHelperOf(text), expected));
  }
});

Deno.test("a token helper that prints nothing means no token; one that fails stops the issuance with its own error", async () => {
  await using w = await vaultWorld();
  let fail = false;
  await using f = await fixture(w.vault.url, testFetch(w.vault.url), () => {
    if (fail) throw new IssuerError("the token helper /opt/helper failed with exit status 2");
    return "\n";
  });
  await f.writeHome(".vault", 'token_helper = "/opt/helper"\n');
  await f.writeHome(".vault-token", "hvs.NotReadWhenAHelperIsConfigured\n");
  const { csr } = await keyAndCsr("ec-p256");
  let error = await issuerError(vaultDriver.issue(f.options(), csr, f.context()));
  assert.match(error.message, /no vault token found/);
  fail = true;
  error = await issuerError(vaultDriver.issue(f.options(), csr, f.context()));
  assert.equal(error.message, "the token helper /opt/helper failed with exit status 2");
  assert.deepEqual(w.vault.requests, []);
});

Deno.test("a ttl above the role's max_ttl is capped by Vault, as it does, and the certificate says so", async () => {
  await using w = await vaultWorld();
  w.f.env.VAULT_TOKEN = w.vault.addToken({ name: "env", paths: ["pki/sign/dev"] });
  const { csr } = await keyAndCsr("ec-p256");
  const issued = await vaultDriver.issue(
    w.f.options({ ttlMs: 48 * 3600_000 }),
    csr,
    w.f.context(),
  );
  assert.equal(signs(w.vault)[0]!.body!.ttl, "172800s");
  const lifetime = new x509.X509Certificate(issued.chain[0]!).notAfter.getTime() - Date.now();
  assert.ok(lifetime <= 24 * 3600_000 && lifetime > 23 * 3600_000, `${lifetime} ms`);
});

Deno.test("issue() without a token anywhere fails before any request, naming the places looked in and `vault login`", async () => {
  await using w = await vaultWorld();
  const { csr, made } = await keyAndCsr("ec-p256");
  const error = await issuerError(vaultDriver.issue(w.f.options(), csr, w.f.context()));
  assert.match(error.message, /no vault token found/);
  assert.match(error.message, /\$VAULT_TOKEN, \$BAO_TOKEN/);
  assert.ok(error.message.includes(joinPath(w.f.home, ".vault-token", HOST_OS)));
  assert.match(error.hint!, /vault login/);
  assert.deepEqual(w.vault.requests, []);
  assert.deepEqual(made, [], "no key or CSR is made for nothing");
});

Deno.test("a refused token: 403 with Vault's words in one line, the token's source, `vault login`, never the token", async (t) => {
  await using w = await vaultWorld();
  const { csr } = await keyAndCsr("ec-p256");
  const cases: [string, () => string, RegExp][] = [
    [
      "expired",
      () => w.vault.addToken({ name: "old", paths: ["pki/*"], ttl: -1 }),
      /permission denied; invalid token/,
    ],
    [
      "unknown to vault",
      () => "hvs.NotAValidTokenAtAllInThisVault",
      /permission denied; invalid token/,
    ],
    [
      "without the policy",
      () => w.vault.addToken({ name: "reader", paths: ["secret/*"] }),
      /403 permission denied$/,
    ],
  ];
  for (const [name, token, said] of cases) {
    await t.step(name, async () => {
      const value = token();
      await w.f.writeHome(".vault-token", value + "\n");
      const error = await issuerError(vaultDriver.issue(w.f.options(), csr, w.f.context()));
      assert.match(
        error.message,
        /^vault refused to sign the certificate request at http:\/\/127\.0\.0\.1:\d+\/v1\/pki\/sign\/dev: 403 /,
      );
      assert.match(error.message, said);
      assert.doesNotMatch(error.message, /\n/);
      assert.match(
        error.hint!,
        /from .*\.vault-token\) is missing, expired or lacks a policy allowing pki\/sign\/dev: run `vault login`/,
      );
      assert.ok(!error.message.includes(value) && !error.hint!.includes(value));
    });
  }
});

Deno.test("a role that refuses the key type: Vault's message and the --key-type that works, which then works", async (t) => {
  await using w = await vaultWorld();
  w.f.env.VAULT_TOKEN = w.vault.addToken({ name: "env", paths: ["pki/sign/*"] });
  w.vault.addRole("rsa-only", {});
  w.vault.addRole("p384", { keyType: "ec", keyBits: 384 });
  w.vault.addRole("ed", { keyType: "ed25519" });
  w.vault.addRole("any", { keyType: "any" });
  const rows: [string, KeyType, RegExp, RegExp, KeyType][] = [
    [
      "rsa-only",
      "ec-p256",
      /400 role requires keys of type rsa$/,
      /takes only rsa keys: use --key-type rsa-2048/,
      "rsa-2048",
    ],
    [
      "p384",
      "ec-p256",
      /role requires a minimum of a 384-bit key, but CSR's key is 256 bits/,
      /use --key-type ec-p384/,
      "ec-p384",
    ],
    ["ed", "ec-p256", /role requires keys of type ed25519/, /use --key-type ed25519/, "ed25519"],
    ["dev", "ed25519", /role requires keys of type ec/, /use --key-type ec-p256/, "ec-p256"],
  ];
  for (const [role, keyType, said, hint, works] of rows) {
    await t.step(`role ${role}, --key-type ${keyType}`, async () => {
      const refused = await keyAndCsr(keyType);
      const error = await issuerError(
        vaultDriver.issue(w.f.options({ keyType }, { role }), refused.csr, w.f.context()),
      );
      assert.match(error.message, said);
      assert.match(error.hint!, hint);
      const accepted = await keyAndCsr(works);
      const issued = await vaultDriver.issue(
        w.f.options({ keyType: works }, { role }),
        accepted.csr,
        w.f.context(),
      );
      const leaf = new x509.X509Certificate(issued.chain[0]!);
      assert.deepEqual(new Uint8Array(leaf.publicKey.rawData), accepted.spki);
    });
  }
  await t.step("key_type=any takes every type the broker makes", async () => {
    for (const keyType of ["ec-p256", "ec-p384", "ed25519"] as const) {
      const { csr } = await keyAndCsr(keyType);
      await vaultDriver.issue(w.f.options({ keyType }, { role: "any" }), csr, w.f.context());
    }
  });
});

Deno.test("namespaces: X-Vault-Namespace scopes the token and the role; without it Vault does not know them", async () => {
  await using w = await vaultWorld();
  w.vault.addRole("dev", { keyType: "ec" }, { namespace: "team-a/" });
  w.f.env.VAULT_TOKEN = w.vault.addToken({
    name: "team-a",
    paths: ["pki/sign/dev"],
    namespace: "team-a",
  });
  const { csr } = await keyAndCsr("ec-p256");
  const error = await issuerError(vaultDriver.issue(w.f.options(), csr, w.f.context()));
  assert.match(error.message, /403 permission denied; invalid token/);
  await vaultDriver.issue(w.f.options({}, { namespace: "team-a" }), csr, w.f.context());
  assert.deepEqual(signs(w.vault).map((r) => [r.namespace, r.status, r.auth]), [
    ["", 403, "unknown-token"],
    ["team-a", 200, "token"],
  ]);
});

Deno.test("vault over http:// is refused before any connection unless the address is a loopback one", async (t) => {
  await using w = await vaultWorld();
  w.f.env.VAULT_TOKEN = w.vault.addToken({ name: "env", paths: ["pki/*"] });
  const { csr, made } = await keyAndCsr("ec-p256");
  for (
    const url of ["http://vault.example:8200", "http://10.0.0.5:8200", "http://[fe80::1]:8200"]
  ) {
    await t.step(url, async () => {
      const error = await issuerError(vaultDriver.issue(w.f.options({ url }), csr, w.f.context()));
      assert.match(
        error.message,
        /over http: its token would travel in clear; refused before any connection$/,
      );
      assert.match(error.hint!, /use https:\/\//);
      const checks = await vaultDriver.check(w.f.options({ url }), w.f.context());
      assert.deepEqual(checks.map((c) => [c.ok, c.detail]), [[false, error.message]]);
    });
  }
  assert.deepEqual(made, []);
  assert.deepEqual(w.vault.requests, []);
  for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "[::1]"]) {
    assert.ok(isLoopback(new URL(`http://${host}:8200`).hostname), host);
  }
});

Deno.test("a Vault Proxy that requires X-Vault-Request gets it", async () => {
  await using w = await vaultWorld({ requireRequestHeader: true });
  w.f.env.VAULT_TOKEN = w.vault.addToken({ name: "env", paths: ["pki/sign/dev"] });
  const { csr } = await keyAndCsr("ec-p256");
  await vaultDriver.issue(w.f.options(), csr, w.f.context());
  assert.deepEqual(w.vault.requests.map((r) => r.status), [200]);
});

Deno.test("busy, sealed and unknown answers: 412, 429, 503, HTML from a proxy, an unknown role or mount, each in one line with a hint", async (t) => {
  await using w = await vaultWorld();
  const token = w.vault.addToken({ name: "env", paths: ["pki/*", "other/*"] });
  w.f.env.VAULT_TOKEN = token;
  const { csr } = await keyAndCsr("ec-p256");
  const rows: [string, () => void, Partial<NonNullable<IssuerOptions["vault"]>>, RegExp, RegExp][] =
    [
      [
        "412",
        () =>
          w.vault.fault({ status: 412, errors: ["required index state not present"], times: 2 }),
        {},
        /: 412 required index state not present$/,
        /not ready/,
      ],
      [
        "429",
        () =>
          w.vault.fault({
            status: 429,
            errors: ['request path "pki/sign/dev": rate limit quota exceeded'],
            times: 2,
          }),
        {},
        /: 429 request path "pki\/sign\/dev": rate limit quota exceeded$/,
        /not ready/,
      ],
      ["503 sealed", () => (w.vault.sealed = true), {}, /: 503 Vault is sealed$/, /sealed/],
      [
        "HTML from a proxy",
        () =>
          w.vault.fault({
            status: 502,
            html: "<html><body><h1>502 Bad Gateway</h1>secret-looking page</body></html>",
          }),
        {},
        /: 502 \(not Vault's JSON: a proxy or another server answered\)$/,
        /failed on its side/,
      ],
      [
        "unknown role",
        () => {},
        { role: "nope" },
        /: 400 unknown role: nope$/,
        /check --vault-role nope/,
      ],
      [
        "unknown mount",
        () => {},
        { mount: "other" },
        /: 404 no handler for route "other\/sign\/dev"\. route entry not found\.$/,
        /check --vault-mount/,
      ],
    ];
  for (const [name, arrange, vault, said, hint] of rows) {
    await t.step(name, async () => {
      arrange();
      const error = await issuerError(
        vaultDriver.issue(w.f.options({}, vault), csr, w.f.context()),
      );
      w.vault.sealed = false;
      assert.match(error.message, said);
      assert.match(error.hint!, hint);
      assert.doesNotMatch(error.message, /<html|secret-looking/);
    });
  }
});

Deno.test("412, 429 and 503 are retried once (lib/issuer/http.ts): a Vault busy for one request signs on the retry", async (t) => {
  await using w = await vaultWorld();
  w.f.env.VAULT_TOKEN = w.vault.addToken({ name: "env", paths: ["pki/*"] });
  const { csr } = await keyAndCsr("ec-p256");
  for (const status of [412, 429, 503]) {
    await t.step(`${status}`, async () => {
      w.vault.requests.length = 0;
      w.vault.fault({ status, errors: ["busy"] });
      const issued = await vaultDriver.issue(w.f.options(), csr, w.f.context());
      assert.equal(issued.chain.length, 2);
      assert.deepEqual(signs(w.vault).map((r) => r.status), [status, 200]);
    });
  }
});

Deno.test("tokens never appear in errors, even when Vault echoes them, nor in doctor's findings (lookup-self answers the token)", async () => {
  await using w = await vaultWorld();
  const token = w.vault.addToken({ name: "env", paths: ["pki/*"] });
  w.f.env.VAULT_TOKEN = token;
  const { csr } = await keyAndCsr("ec-p256");
  w.vault.fault({
    status: 400,
    errors: (
      seen,
    ) => [
      `bad request from token ${seen}`,
      `2 errors occurred:\n\t* token=${seen}\n\t* hvs.SomeOtherTokenVaultMentions\n\n`,
    ],
  });
  const error = await issuerError(vaultDriver.issue(w.f.options(), csr, w.f.context()));
  assert.match(
    error.message,
    /400 bad request from token \[redacted\]; token=\[redacted\]; \[redacted\]$/,
  );
  assert.ok(!JSON.stringify({ m: error.message, h: error.hint }).includes(token));

  const checks = await vaultDriver.check(w.f.options(), w.f.context());
  assert.ok(!JSON.stringify(checks).includes(token));
  assert.ok(
    w.vault.requests.some((r) => r.path === "/v1/auth/token/lookup-self" && r.status === 200),
  );
  for (const request of w.vault.requests) {
    assert.ok(!JSON.stringify(request).includes(token), "the log names tokens");
  }
});

Deno.test("check() for doctor: health without a token, the token's source and TTL, the role and whether it takes the key type", async (t) => {
  await using w = await vaultWorld();
  w.vault.addRole("rsa-only", {});
  const { f, vault } = w;
  await t.step("all good", async () => {
    f.env.VAULT_TOKEN = vault.addToken({ name: "env", paths: ["pki/*"], ttl: 7200 });
    const checks = await vaultDriver.check(f.options(), f.context());
    assert.deepEqual(checks.map((c) => [c.title, c.ok]), [
      ["vault answers", true],
      ["vault token", true],
      ["vault role", true],
    ]);
    assert.match(
      checks[0]!.detail,
      /^vault 1\.18\.0 at http:\/\/127\.0\.0\.1:\d+: initialized, unsealed, active$/,
    );
    assert.match(checks[1]!.detail, /^token from \$VAULT_TOKEN, valid for (2h|1h59m\d+s)/);
    assert.match(checks[2]!.detail, /^role dev in pki: key_type ec \(256 bits\), max_ttl 24h$/);
    const health = vault.requests.find((r) => r.path === "/v1/sys/health")!;
    assert.equal(health.auth, "none");
  });
  await t.step("a role that refuses the key type", async () => {
    const checks = await vaultDriver.check(f.options({}, { role: "rsa-only" }), f.context());
    assert.equal(checks[2]!.ok, false);
    assert.match(checks[2]!.detail, /key_type rsa \(2048 bits\): it refuses --key-type ec-p256$/);
    assert.match(checks[2]!.hint!, /--key-type rsa-2048/);
  });
  await t.step("a role that does not exist", async () => {
    const checks = await vaultDriver.check(f.options({}, { role: "nope" }), f.context());
    assert.equal(checks[2]!.ok, false);
    assert.match(checks[2]!.hint!, /check --vault-role nope/);
  });
  await t.step(
    "a token that may sign but not read the role: not checked, not a failure",
    async () => {
      f.env.VAULT_TOKEN = vault.addToken({ name: "signer", paths: ["pki/sign/dev"], ttl: 0 });
      const checks = await vaultDriver.check(f.options(), f.context());
      assert.match(checks[1]!.detail, /never expires/);
      assert.deepEqual([checks[2]!.ok, checks[2]!.detail], [
        true,
        "the token may not read pki/roles/dev (signing needs only sign/dev); not checked",
      ]);
    },
  );
  await t.step("an expired token", async () => {
    f.env.VAULT_TOKEN = vault.addToken({ name: "old", paths: ["pki/*"], ttl: -1 });
    const checks = await vaultDriver.check(f.options(), f.context());
    assert.deepEqual(checks.map((c) => c.ok), [true, false]);
    assert.match(checks[1]!.hint!, /vault login/);
  });
  await t.step("no token", async () => {
    delete f.env.VAULT_TOKEN;
    const checks = await vaultDriver.check(f.options(), f.context());
    assert.deepEqual(checks.map((c) => c.ok), [true, false]);
    assert.match(checks[1]!.detail, /no vault token found/);
  });
  await t.step("sealed", async () => {
    vault.sealed = true;
    const checks = await vaultDriver.check(f.options(), f.context());
    vault.sealed = false;
    assert.deepEqual(checks.map((c) => [c.ok, c.detail.replace(/\d+/g, "N")]), [
      [false, "vault N.N.N at http://N.N.N.N:N: sealed (N)"],
    ]);
  });
});

/** A certificate for `current` from the Vault itself (the first certificate, got with a token). */
async function firstCertificate(
  vault: VaultServer,
  f: Fixture,
  keyType: KeyType = "ec-p256",
): Promise<CurrentCredentials> {
  const token = vault.addToken({ name: "first", paths: ["pki/sign/dev"] });
  f.env.VAULT_TOKEN = token;
  const { csr, keyPem } = await keyAndCsr(keyType);
  const issued = await vaultDriver.issue(f.options(), csr, f.context());
  delete f.env.VAULT_TOKEN;
  vault.revoke("first");
  return { certificatePem: issued.chain.join(""), keyPem };
}

Deno.test({
  name:
    "cert auth behind nginx: with the current certificate and no token anywhere, login over mTLS then sign; the login token is used once and stored nowhere" +
    (NO_NGINX ? " (ignored: needs nginx, which the Windows run has not)" : ""),
  ignore: NO_NGINX,
  async fn() {
    await using w = await vaultBehindNginx({ maxTtl: 3600 });
    const { vault, f } = w;
    vault.addCertRole({ name: "kube", caPem: vault.issuingPem, paths: ["pki/sign/dev"], ttl: 60 });
    const current = await firstCertificate(vault, f);
    vault.requests.length = 0;

    const { csr } = await keyAndCsr("ec-p256");
    const options = f.options({}, { auth: "cert" });
    const issued = await vaultDriver.issue(options, csr, f.context({ current }));
    assert.equal(issued.chain.length, 2);
    assert.deepEqual(
      vault.requests.map((
        r,
      ) => [r.method, r.path, r.status, r.auth, r.token ?? "", r.clientCertificate ?? ""]),
      [
        ["POST", "/v1/auth/cert/login", 200, "none", "", "CN=alice"],
        ["POST", "/v1/pki/sign/dev", 200, "token", "cert-login:kube", ""],
      ],
    );
    assert.deepEqual(vault.requests[0]!.fields, []);
    const files = [...Deno.readDirSync(f.home)].map((e) => e.name);
    assert.deepEqual(files, [], "no token file is written");
    assert.deepEqual(f.stderr, []);

    // Without a current certificate (the first, or an expired one) cert auth needs a token.
    const error = await issuerError(vaultDriver.issue(options, csr, f.context()));
    assert.match(error.message, /no vault token found/);
    assert.match(
      error.hint!,
      /cert auth needs a token for the first certificate and after one expired: run `vault login`/,
    );

    // doctor logs in the same way.
    const checks = await vaultDriver.check(options, f.context({ current }));
    assert.deepEqual(checks.map((c) => [c.title, c.ok]), [
      ["vault answers", true],
      ["vault cert login", true],
      ["vault token", true],
      ["vault role", true],
    ]);
    // Without the current certificate (doctor on an expired one), a missing token is said, not failed: the
    // certificate checks tell whether it can still log in.
    const withoutCurrent = await vaultDriver.check(options, f.context());
    assert.deepEqual(withoutCurrent.map((c) => [c.title, c.ok]), [
      ["vault answers", true],
      ["vault token", true],
    ]);
    assert.match(withoutCurrent[1]!.detail, /^none found .*needs `vault login`$/);
    assert.match(
      checks[2]!.detail,
      /^token from cert login at auth\/cert, valid for (1m|\d+s) \(policies: default, pki-sign-dev\)$/,
    );
  },
});

Deno.test({
  name:
    "cert auth behind nginx, refused (a certificate of another CA): the token sources, saying so on stderr; with none, Vault's refusal" +
    (NO_NGINX ? " (ignored: needs nginx, which the Windows run has not)" : ""),
  ignore: NO_NGINX,
  async fn() {
    await using w = await vaultBehindNginx();
    const { vault, f } = w;
    const other = await makeTestCa("another CA");
    vault.addCertRole({ name: "kube", caPem: other.certificatePem, paths: ["pki/sign/dev"] });
    const current = await firstCertificate(vault, f);
    const { csr } = await keyAndCsr("ec-p256");
    const options = f.options({}, { auth: "cert" });

    const error = await issuerError(vaultDriver.issue(options, csr, f.context({ current })));
    assert.match(
      error.message,
      /^vault refused cert login at \/v1\/auth\/cert\/login: 400 invalid certificate or no client certificate supplied$/,
    );
    assert.match(error.hint!, /must trust the CA of the current certificate/);

    f.env.BAO_TOKEN = vault.addToken({ name: "bao", paths: ["pki/sign/dev"] });
    await vaultDriver.issue(options, csr, f.context({ current }));
    assert.equal(signs(vault).at(-1)!.token, "bao");
    assert.equal(f.stderr.length, 1);
    assert.match(f.stderr[0]!, /refused cert login.*; using the token from \$BAO_TOKEN\n$/);
  },
});

Deno.test({
  name:
    "VAULT_CLIENT_CERT and VAULT_CLIENT_KEY (a Vault behind mTLS: nginx here) go with every request when no current certificate is presented" +
    (NO_NGINX ? " (ignored: needs nginx, which the Windows run has not)" : ""),
  ignore: NO_NGINX,
  async fn() {
    await using w = await vaultBehindNginx();
    const { vault, f } = w;
    const client = await firstCertificate(vault, f);
    f.env.VAULT_CLIENT_CERT = await f.writeHome("client.crt", client.certificatePem);
    f.env.VAULT_CLIENT_KEY = await f.writeHome("client.key", client.keyPem);
    f.env.VAULT_TOKEN = vault.addToken({ name: "env", paths: ["pki/*"] });
    vault.requests.length = 0;
    const { csr } = await keyAndCsr("ec-p256");
    await vaultDriver.issue(f.options(), csr, f.context());
    await vaultDriver.check(f.options(), f.context());
    assert.deepEqual(vault.requests.map((r) => [r.path, r.clientCertificate]), [
      ["/v1/pki/sign/dev", "CN=alice"],
      ["/v1/sys/health", "CN=alice"],
      ["/v1/auth/token/lookup-self", "CN=alice"],
      ["/v1/pki/roles/dev", "CN=alice"],
    ]);
    delete f.env.VAULT_CLIENT_KEY;
    const error = await issuerError(vaultDriver.issue(f.options(), csr, f.context()));
    assert.match(error.message, /VAULT_CLIENT_KEY is not set while VAULT_CLIENT_CERT is/);

    // OpenBao's names, when the VAULT_ ones are not set.
    delete f.env.VAULT_CLIENT_CERT;
    f.env.BAO_CLIENT_CERT = joinPath(f.home, "client.crt", HOST_OS);
    f.env.BAO_CLIENT_KEY = joinPath(f.home, "client.key", HOST_OS);
    vault.requests.length = 0;
    await vaultDriver.issue(f.options(), csr, f.context());
    assert.deepEqual(vault.requests.map((r) => r.clientCertificate), ["CN=alice"]);
  },
});
