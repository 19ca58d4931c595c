/**
 * Scenario 7: the renewal script fails. kubectl exits non-zero and the user sees, on kubectl's stderr, the
 * script's own message, the broker's one-line error and kubectl's note of the plugin's exit code.
 */
import assert from "node:assert/strict";
import { e2eTest } from "./e2e.ts";
import { renewingExec } from "../../scripts/world/kubeconfig.ts";
import { findKubectls, preferredKubectl } from "../../scripts/world/kubectl.ts";
import { World } from "../../scripts/world/world.ts";

const kubectls = await findKubectls();
const SCRIPT_MESSAGE = "renewal refused: the test CA is offline";

e2eTest(
  "a failing renewal makes kubectl fail with the broker's one-line error and the script's own stderr",
  { nginx: true, kubectl: true },
  kubectls,
  async () => {
    await using world = await World.start({ installBroker: true });
    const client = await world.client(preferredKubectl(kubectls)!);
    const script = await world.renewalScript("failing", { failWith: SCRIPT_MESSAGE });
    await world.writeKubeconfig(client, {
      exec: renewingExec(script),
    });
    const result = await client.run(["get", "--raw", "/version"]);
    assert.notEqual(result.code, 0);
    assert.equal(result.stdout, "");
    assert.ok(
      result.stderr.includes(SCRIPT_MESSAGE),
      `the script's stderr is shown:\n${result.stderr}`,
    );
    const brokerErrors = result.stderr.split("\n").filter((line) =>
      line.startsWith("error: before-exec")
    );
    assert.equal(brokerErrors.length, 1, `one broker error line:\n${result.stderr}`);
    // The script runs as `deno run ... renew-certificate.ts`: the error names the program, never its arguments.
    assert.equal(
      brokerErrors[0],
      `error: before-exec command ${script.argv[0]} failed with exit status 7`,
    );
    assert.match(result.stderr, /kubectl-credentials_broker failed with exit code 3/);
    assert.ok(await script.runs() >= 1);
    assert.equal(world.api.requests.length, 0, "no request went out with the expired certificate");
  },
);
