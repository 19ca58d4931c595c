/**
 * Scenario 1 (and its half of scenario 4): with an expired client certificate, kubectl runs the broker, the
 * renewal script issues a new certificate, and the request succeeds through nginx's mTLS; the next kubectl call
 * finds the certificate valid and does not renew (`--before-exec-policy=when-invalid`). For every installed
 * kubectl, with both exec apiVersions.
 */
import assert from "node:assert/strict";
import { e2eTest, parseJson } from "./e2e.ts";
import { EXEC_API_VERSIONS, renewingExec } from "../../scripts/world/kubeconfig.ts";
import { findKubectls } from "../../scripts/world/kubectl.ts";
import { World } from "../../scripts/world/world.ts";

const kubectls = await findKubectls();

e2eTest(
  "an expired certificate is renewed once by the broker and the next kubectl call reuses it, for every kubectl and exec apiVersion",
  { nginx: true, kubectl: true },
  kubectls,
  async (t) => {
    await using world = await World.start({ installBroker: true });
    const exercised = new Set<string>();
    for (const kubectl of kubectls) {
      for (const apiVersion of EXEC_API_VERSIONS) {
        await t.step(`${kubectl.version} ${apiVersion}`, async () => {
          const client = await world.client(kubectl);
          const script = await world.renewalScript(client.name);
          await world.writeKubeconfig(client, {
            exec: renewingExec(script, { apiVersion }),
          });
          const seenBefore = world.api.requests.length;

          const first = await client.run(["get", "--raw", "/version"]);
          assert.equal(first.code, 0, first.stderr);
          assert.equal(parseJson<{ gitVersion: string }>(first.stdout).gitVersion, "v1.32.0");
          assert.equal(await script.runs(), 1, "the expired certificate was renewed once");
          const served = world.api.requests.slice(seenBefore);
          assert.ok(
            served.length > 0 && served.every((r) => r.subject === "CN=alice,O=developers"),
          );

          const second = await client.run(["get", "--raw", "/version"]);
          assert.equal(second.code, 0, second.stderr);
          assert.equal(await script.runs(), 1, "a valid certificate is not renewed again");
          exercised.add(kubectl.version);
        });
      }
    }
    console.log(`kubectl versions exercised: ${exercised.size} (${[...exercised].join(", ")})`);
    assert.equal(exercised.size, kubectls.length);
  },
);
