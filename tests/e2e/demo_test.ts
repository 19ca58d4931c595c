/**
 * `deno task demo` as a new user meets it: it says that what answers behind nginx is a test stand-in (its version
 * is not kubectl's), renews the certificate, and on a warm Deno cache prints nothing but its own story (no
 * download lines).
 */
import assert from "node:assert/strict";
import { e2eTest } from "./e2e.ts";
import { findKubectls } from "../../scripts/world/kubectl.ts";
import { denoDir, run, toolEnv } from "../../scripts/world/process.ts";

const kubectls = await findKubectls();
const ROOT = new URL("../../", import.meta.url).pathname;

e2eTest(
  "the demo names the test stand-in and prints no download noise on a warm cache",
  { nginx: true, kubectl: true },
  kubectls,
  async () => {
    const home = await Deno.makeTempDir({ prefix: "credentials-broker-demo-home-" });
    try {
      const result = await run(Deno.execPath(), ["run", "--allow-all", "scripts/demo.ts"], {
        cwd: ROOT,
        env: toolEnv({ HOME: home, DENO_DIR: denoDir(), NO_COLOR: "1" }),
        timeoutMs: 120_000,
      });
      const output = result.stdout + result.stderr;
      assert.equal(result.code, 0, output);
      assert.match(result.stdout, /test stand-in for the Kubernetes API server, not a cluster/);
      assert.match(result.stdout, /-> v1\.32\.0 \(the stand-in\)/);
      assert.match(result.stdout, /after expiry: .* certificate renewed/);
      assert.doesNotMatch(output, /^\s*(Download|Downloading|Initialize|Warning)\b/m);
      assert.equal(result.stderr, "", "nothing on stderr");
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  },
);
