/**
 * Scenario 2: a client certificate plus a bearer token, the two factors the original design used. The broker
 * hands kubectl both; the API server (behind nginx's mTLS) demands the token. A wrong token gives kubectl's own
 * 401 error.
 */
import assert from "node:assert/strict";
import { e2eTest, parseJson } from "./e2e.ts";
import { renewingExec } from "../../scripts/world/kubeconfig.ts";
import { findKubectls, preferredKubectl } from "../../scripts/world/kubectl.ts";
import { World } from "../../scripts/world/world.ts";

const kubectls = await findKubectls();
const TOKEN = "e2e-bearer-token-3f9c1d";

interface Review {
  status: { userInfo: { username: string; groups: string[]; extra: Record<string, string[]> } };
}

e2eTest(
  "the broker sends a renewed client certificate and a bearer token together; a wrong token gets kubectl's 401 error",
  { nginx: true, kubectl: true },
  kubectls,
  async (t) => {
    await using world = await World.start({ installBroker: true, token: TOKEN });
    const kubectl = preferredKubectl(kubectls)!;
    for (
      const [name, token] of [["right token", TOKEN], ["wrong token", "not-the-token"]] as const
    ) {
      await t.step(name, async () => {
        const client = await world.client(kubectl);
        const script = await world.renewalScript(client.name);
        const tokenPath = `${client.dir}/token`;
        await Deno.writeTextFile(tokenPath, `${token}\n`, { mode: 0o600 });
        await world.writeKubeconfig(client, {
          exec: renewingExec(script, { tokenPath }),
        });
        const whoami = await client.run(["auth", "whoami", "-o", "json"]);
        if (token === TOKEN) {
          assert.equal(whoami.code, 0, whoami.stderr);
          const { userInfo } = parseJson<Review>(whoami.stdout).status;
          assert.equal(userInfo.username, "alice", "identity from the certificate");
          assert.deepEqual(userInfo.extra["authenticated-by"], ["x509", "bearer-token"]);
          const table = await client.run(["auth", "whoami"]);
          assert.equal(table.code, 0, table.stderr);
          assert.match(table.stdout, /Username\s+alice/);
          assert.match(table.stdout, /authenticated-by\s+\[x509 bearer-token\]/);
        } else {
          assert.notEqual(whoami.code, 0);
          assert.match(
            whoami.stderr,
            /error: You must be logged in to the server \(Unauthorized\)/,
          );
          assert.doesNotMatch(
            whoami.stderr,
            /not-the-token/,
            "the token never shows in kubectl's error",
          );
          assert.ok(
            world.api.requests.some((r) => r.token === "wrong" && r.status === 401),
            "the wrong token reached the API server over mTLS and got 401",
          );
        }
        assert.equal(await script.runs(), 1);
      });
    }
  },
);
