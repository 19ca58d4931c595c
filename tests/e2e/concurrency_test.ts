/**
 * Scenario 6: 32 kubectl processes start at once with an expired certificate and `--before-exec-policy
 * =when-invalid`. The broker's per-credential lock lets one of them renew while the others wait and then read the
 * fresh certificate: every kubectl succeeds and the renewal script runs exactly once.
 */
import assert from "node:assert/strict";
import { e2eTest } from "./e2e.ts";
import { renewingExec } from "../../scripts/world/kubeconfig.ts";
import { findKubectls, preferredKubectl } from "../../scripts/world/kubectl.ts";
import { World } from "../../scripts/world/world.ts";

const kubectls = await findKubectls();
const CALLERS = 32;

e2eTest(
  `${CALLERS} concurrent kubectl processes with an expired certificate all succeed and the renewal runs once`,
  { nginx: true, kubectl: true },
  kubectls,
  async () => {
    await using world = await World.start({ installBroker: true });
    const client = await world.client(preferredKubectl(kubectls)!);
    const script = await world.renewalScript("shared");
    await world.writeKubeconfig(client, {
      exec: renewingExec(script),
    });
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: CALLERS }, () => client.run(["get", "--raw", "/version"])),
    );
    const wall = performance.now() - started;
    const failed = results.filter((r) => r.code !== 0);
    assert.deepEqual(
      failed.map((r) => r.stderr),
      [],
      `${failed.length} of ${CALLERS} kubectl calls failed`,
    );
    assert.equal(await script.runs(), 1, "the renewal script ran once for all callers");
    console.log(`${CALLERS} concurrent kubectl calls finished in ${Math.round(wall)} ms`);
  },
);
