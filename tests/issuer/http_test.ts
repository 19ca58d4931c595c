/**
 * The real IssuerFetch against a real TLS server on loopback (Deno.serve with a certificate from a throwaway CA):
 * trust by --issuer-ca-file, the explained trust failure, deadline, size limit, retry, redirects, non-JSON answers.
 */
import assert from "node:assert/strict";
import { makeIssuerFetch } from "../../lib/issuer/http.ts";
import { IssuerError } from "../../lib/shared/errors.ts";
import { createCa, issueCertificate } from "../../scripts/world/ca.ts";
import { tempDir } from "../../scripts/world/temp_dir.ts";
/**
 * Deno.test. The server's certificates come from scripts/world/ca.ts (WebCrypto, no openssl CLI since), so these
 * run on Windows too (they pass under Wine).
 */
function test(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  Deno.test({ name, fn });
}

type Handler = (request: Request, url: URL) => Response | Promise<Response>;

/** A TLS server for 127.0.0.1 and localhost signed by a fresh CA; `handler` answers. */
async function tlsServer(dir: string, handler: Handler) {
  const ca = await createCa(dir, "issuer test CA");
  const server = await issueCertificate(ca, `${dir}/server`, {
    commonName: "127.0.0.1",
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
    server: true,
  });
  const seen: { method: string; path: string; headers: Headers; body: string }[] = [];
  const controller = new AbortController();
  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const httpServer = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(server.certPath),
    key: await Deno.readTextFile(server.keyPath),
    signal: controller.signal,
    onListen: ({ port }) => resolve(port),
  }, async (request) => {
    const url = new URL(request.url);
    seen.push({
      method: request.method,
      path: url.pathname,
      headers: new Headers(request.headers),
      body: await request.text(),
    });
    return handler(request, url);
  });
  const port = await listening;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    caFile: ca.certPath,
    seen,
    async [Symbol.asyncDispose]() {
      controller.abort();
      await httpServer.finished;
    },
  };
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

test("makeIssuerFetch() sends JSON to the issuer it trusts through --issuer-ca-file and parses the answer", async () => {
  await using tmp = await tempDir();
  await using server = await tlsServer(tmp.path, () => json({ data: { ok: true } }, 201));
  using fetch = makeIssuerFetch(`${server.url}/`, {
    caFile: server.caFile,
    deadline: Date.now() + 10_000,
  });
  const answer = await fetch({
    method: "POST",
    path: "/v1/pki/sign/dev",
    headers: { "X-Vault-Request": "true" },
    body: { csr: "x" },
  });
  assert.deepEqual(answer, { status: 201, body: { data: { ok: true } } });
  assert.equal(server.seen.length, 1);
  assert.equal(server.seen[0]!.path, "/v1/pki/sign/dev");
  assert.equal(server.seen[0]!.method, "POST");
  assert.equal(server.seen[0]!.headers.get("x-vault-request"), "true");
  assert.equal(server.seen[0]!.headers.get("content-type"), "application/json");
  assert.deepEqual(JSON.parse(server.seen[0]!.body), { csr: "x" });
});

test("makeIssuerFetch() explains an untrusted issuer certificate, naming --issuer-ca-file", async () => {
  await using tmp = await tempDir();
  await using server = await tlsServer(tmp.path, () => json({}));
  const set: [string, string][] = [];
  using fetch = makeIssuerFetch(server.url, {
    deadline: Date.now() + 10_000,
    getEnv: () => undefined,
    setEnv: (name, value) => set.push([name, value]),
  });
  // The OS store is asked for before any request: Deno reads DENO_TLS_CA_STORE at its first TLS use.
  assert.deepEqual(set, [["DENO_TLS_CA_STORE", "system,mozilla"]]);
  const error = await fetch({ method: "GET", path: "/health" }).then(
    () => assert.fail("an untrusted issuer was accepted"),
    (e) => e,
  );
  assert.ok(error instanceof IssuerError, String(error));
  assert.equal(error.exitCode, 3);
  assert.match(
    error.message,
    /TLS certificate of issuer https:\/\/127\.0\.0\.1:\d+ is signed by an authority/,
  );
  assert.match(error.hint!, /--issuer-ca-file/);
  // A CA file that is not the issuer's: the hint names the file.
  await using other = await tempDir();
  const wrong = await createCa(other.path, "another CA");
  using wrongFetch = makeIssuerFetch(server.url, {
    caFile: wrong.certPath,
    deadline: Date.now() + 10_000,
  });
  const second = await wrongFetch({ method: "GET", path: "/health" }).then(
    () => undefined,
    (e) => e,
  );
  assert.ok(second instanceof IssuerError);
  assert.ok(second.hint!.includes(`--issuer-ca-file ${wrong.certPath}`), second.hint);
});

test("makeIssuerFetch() gives an HTML answer as its status with no body", async () => {
  await using tmp = await tempDir();
  await using server = await tlsServer(
    tmp.path,
    () =>
      new Response("<html>bad gateway</html>", {
        status: 502,
        headers: { "content-type": "text/html" },
      }),
  );
  using fetch = makeIssuerFetch(server.url, {
    caFile: server.caFile,
    deadline: Date.now() + 10_000,
  });
  assert.deepEqual(await fetch({ method: "GET", path: "/" }), { status: 502, body: undefined });
});

test("makeIssuerFetch() retries 412, 429 and 503 once, within the deadline", async (t) => {
  for (const status of [412, 429, 503]) {
    await t.step(`${status} then 200`, async () => {
      await using tmp = await tempDir();
      let calls = 0;
      await using server = await tlsServer(
        tmp.path,
        () => ++calls === 1 ? json({ errors: ["busy"] }, status) : json({ ok: calls }),
      );
      using fetch = makeIssuerFetch(server.url, {
        caFile: server.caFile,
        deadline: Date.now() + 10_000,
        retryDelayMs: 10,
      });
      assert.deepEqual(await fetch({ method: "POST", path: "/sign", body: {} }), {
        status: 200,
        body: { ok: 2 },
      });
    });
  }
  await t.step("503 twice: the second answer is returned, no third request", async () => {
    await using tmp = await tempDir();
    await using server = await tlsServer(tmp.path, () => json({ errors: ["sealed"] }, 503));
    using fetch = makeIssuerFetch(server.url, {
      caFile: server.caFile,
      deadline: Date.now() + 10_000,
      retryDelayMs: 10,
    });
    assert.equal((await fetch({ method: "GET", path: "/" })).status, 503);
    assert.equal(server.seen.length, 2);
  });
  await t.step("no retry when the wait would pass the deadline", async () => {
    await using tmp = await tempDir();
    await using server = await tlsServer(
      tmp.path,
      () => json({}, 429, { "retry-after": "20" }),
    );
    using fetch = makeIssuerFetch(server.url, {
      caFile: server.caFile,
      deadline: Date.now() + 5000,
    });
    assert.equal((await fetch({ method: "GET", path: "/" })).status, 429);
    assert.equal(server.seen.length, 1);
  });
});

test("makeIssuerFetch() ends a request that outlives the deadline", async () => {
  await using tmp = await tempDir();
  const release = Promise.withResolvers<void>();
  await using server = await tlsServer(tmp.path, async () => {
    await release.promise;
    return json({});
  });
  using fetch = makeIssuerFetch(server.url, { caFile: server.caFile, deadline: Date.now() + 500 });
  const started = Date.now();
  const error = await fetch({ method: "GET", path: "/" }).then(() => undefined, (e) => e);
  release.resolve();
  assert.ok(error instanceof IssuerError, String(error));
  assert.match(error.message, /did not answer in time/);
  assert.match(error.hint!, /--before-exec-timeout/);
  assert.ok(Date.now() - started < 3000);
});

test("makeIssuerFetch() refuses an answer larger than its limit", async () => {
  await using tmp = await tempDir();
  await using server = await tlsServer(tmp.path, () => new Response("x".repeat(200_000)));
  using fetch = makeIssuerFetch(server.url, {
    caFile: server.caFile,
    deadline: Date.now() + 10_000,
    maxAnswerBytes: 64 * 1024,
  });
  await assert.rejects(fetch({ method: "GET", path: "/" }), (error) => {
    assert.ok(error instanceof IssuerError);
    assert.match(error.message, /answered more than 65536 bytes \(HTTP 200\)/);
    return true;
  });
});

test("makeIssuerFetch() follows redirects to https on the same host only", async (t) => {
  await using tmp = await tempDir();
  await using server = await tlsServer(tmp.path, (_request, url) => {
    if (url.pathname === "/standby") {
      return new Response(null, { status: 307, headers: { location: "/active" } });
    }
    if (url.pathname === "/elsewhere") {
      return new Response(null, {
        status: 307,
        headers: { location: `https://localhost:${url.port}/active` },
      });
    }
    if (url.pathname === "/clear") {
      return new Response(null, {
        status: 302,
        headers: { location: `http://127.0.0.1:${url.port}/active` },
      });
    }
    return json({ here: url.pathname });
  });
  using fetch = makeIssuerFetch(server.url, {
    caFile: server.caFile,
    deadline: Date.now() + 10_000,
  });
  await t.step("same host: followed, method and body kept on 307", async () => {
    assert.deepEqual(await fetch({ method: "POST", path: "/standby", body: { a: 1 } }), {
      status: 200,
      body: { here: "/active" },
    });
    const last = server.seen.at(-1)!;
    assert.equal(last.method, "POST");
    assert.deepEqual(JSON.parse(last.body), { a: 1 });
  });
  for (
    const [path, target] of [["/elsewhere", "https://localhost"], ["/clear", "http://127.0.0.1"]]
  ) {
    await t.step(`${path}: refused`, async () => {
      const before = server.seen.length;
      await assert.rejects(fetch({ method: "GET", path: path! }), (error) => {
        assert.ok(error instanceof IssuerError);
        assert.ok(error.message.includes(`redirected to ${target}`), error.message);
        return true;
      });
      assert.equal(server.seen.length, before + 1);
    });
  }
});

test("makeIssuerFetch() names a refused connection and a missing CA file", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await using tmp = await tempDir();
  const ca = await createCa(tmp.path);
  using fetch = makeIssuerFetch(`https://127.0.0.1:${port}`, {
    caFile: ca.certPath,
    deadline: Date.now() + 10_000,
  });
  await assert.rejects(fetch({ method: "GET", path: "/" }), /connection refused/);
  assert.throws(
    () =>
      makeIssuerFetch("https://127.0.0.1:1", {
        caFile: tmp.join("nope.pem"),
        deadline: Date.now() + 1000,
      }),
    (error) => error instanceof IssuerError && /--issuer-ca-file .*nope\.pem/.test(error.message),
  );
});

test("makeIssuerFetch() trusts every PEM file of a folder ($VAULT_CAPATH)", async () => {
  await using tmp = await tempDir();
  await using server = await tlsServer(tmp.join("server"), () => json({ ok: true }));
  await Deno.mkdir(tmp.join("capath"));
  const other = await createCa(tmp.join("other"), "another CA");
  await Deno.copyFile(other.certPath, tmp.join("capath", "a-other.pem"));
  await Deno.copyFile(server.caFile, tmp.join("capath", "b-issuer.crt"));
  await Deno.writeTextFile(tmp.join("capath", "README"), "not a certificate");
  using fetch = makeIssuerFetch(server.url, {
    caFile: tmp.join("capath"),
    deadline: Date.now() + 10_000,
  });
  assert.deepEqual(await fetch({ method: "GET", path: "/" }), { status: 200, body: { ok: true } });
});
