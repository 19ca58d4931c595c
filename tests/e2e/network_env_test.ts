/**
 * Tools the tests start get the proxy and CA variables of the test process (a fresh machine behind a
 * TLS-intercepting proxy fetches npm packages at test time), and the test world's loopback servers bypass the proxy.
 */
import assert from "node:assert/strict";
import { run as runTool } from "../helpers.ts";
import { networkEnv } from "../../scripts/world/network_env.ts";
import { run, toolEnv } from "../../scripts/world/process.ts";

const SET = {
  HTTPS_PROXY: "http://proxy.example:3128",
  no_proxy: "internal.example",
  NODE_EXTRA_CA_CERTS: "/etc/ssl/proxy-ca.pem",
  DENO_CERT: "/etc/ssl/proxy-ca.pem",
};

/** Sets variables in this process for the scope of `using`, restoring what was there. */
function withEnv(vars: Record<string, string>): Disposable {
  const before = Object.fromEntries(Object.keys(vars).map((name) => [name, Deno.env.get(name)]));
  for (const [name, value] of Object.entries(vars)) Deno.env.set(name, value);
  return {
    [Symbol.dispose]() {
      for (const [name, value] of Object.entries(before)) {
        if (value === undefined) Deno.env.delete(name);
        else Deno.env.set(name, value);
      }
    },
  };
}

const envOf = (text: string) =>
  Object.fromEntries(
    text.trim().split("\n").map((line) => {
      const at = line.indexOf("=");
      return [line.slice(0, at), line.slice(at + 1)];
    }),
  );

Deno.test("tools started with an explicit environment keep the proxy and CA variables", async (t) => {
  using _ = withEnv(SET);
  await t.step("the e2e world's tools (openssl, nginx, deno install, kubectl's env)", async () => {
    const seen = envOf((await run("/usr/bin/env", [], { env: toolEnv() })).stdout);
    assert.equal(seen.HTTPS_PROXY, SET.HTTPS_PROXY);
    assert.equal(seen.NODE_EXTRA_CA_CERTS, SET.NODE_EXTRA_CA_CERTS);
    assert.equal(seen.DENO_CERT, SET.DENO_CERT);
    assert.equal(seen.NO_PROXY, "127.0.0.1,localhost,::1");
    assert.equal(seen.no_proxy, "internal.example,127.0.0.1,localhost,::1");
  });
  await t.step("tests/helpers.ts run() with an explicit env", async () => {
    const seen = envOf(
      (await runTool("/usr/bin/env", [], { env: { HOME: "/nonexistent" } })).stdout,
    );
    assert.equal(seen.HTTPS_PROXY, SET.HTTPS_PROXY);
    assert.equal(seen.NODE_EXTRA_CA_CERTS, SET.NODE_EXTRA_CA_CERTS);
    assert.equal(seen.HOME, "/nonexistent");
  });
});

Deno.test("networkEnv() leaves NO_PROXY alone when no proxy is set", () => {
  assert.deepEqual(networkEnv({ NODE_EXTRA_CA_CERTS: "/ca.pem", HOME: "/h", NO_PROXY: "" }), {
    NODE_EXTRA_CA_CERTS: "/ca.pem",
  });
});
