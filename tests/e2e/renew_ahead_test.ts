/**
 * Issue 15 end to end: kubectl through nginx's mTLS with `--renew-ahead`, certificates that live 24 s and a
 * renewal that takes 2 s. A loop of `kubectl get --raw /version` across several lifetimes never fails and never
 * pays for a renewal (every call is shorter than the renewal's own sleep), while renewals do happen in the
 * background, one per lifetime, and leave no process behind.
 */
import assert from "node:assert/strict";
import { parsePem } from "../../lib/credentials/pem.ts";
import { parseCertificate } from "../../lib/credentials/x509.ts";
import { e2eTest } from "./e2e.ts";
import { renewingExec } from "../../scripts/world/kubeconfig.ts";
import { findKubectls, preferredKubectl } from "../../scripts/world/kubectl.ts";
import { delay } from "../../scripts/world/process.ts";
import { World } from "../../scripts/world/world.ts";
import { backgroundSettled, processesMentioning } from "../helpers.ts";

const kubectls = await findKubectls();
const SECOND = 1000;
const LIFETIME_S = 24;
/** A renewal sleeps this long, far above a kubectl call's own time: a call that waited for one shows it. */
const RENEWAL_SLEEP_S = 2;
const RENEW_AHEAD_S = 14;
const MARGIN_S = 5;
/** Long enough for the first two certificates to expire (24 s, and ~12 s later for the second). */
const LOOP_MS = 38 * SECOND;

/** Expiry of every certificate the renewal script issued (it keeps a copy of each as `issued-<ms>.pem`). */
function issuedExpiries(dir: string): Date[] {
  return [...Deno.readDirSync(dir)]
    .filter((entry) => entry.name.startsWith("issued-") && entry.name.endsWith(".pem"))
    .map((entry) => {
      const [block] = parsePem(Deno.readTextFileSync(`${dir}/${entry.name}`));
      return parseCertificate(block!.der).notAfter;
    });
}

e2eTest(
  "renew-ahead: kubectl calls in a loop across certificate expiries all succeed, none waits for a renewal, renewals happen in the background",
  { nginx: true, kubectl: true, linux: true },
  kubectls,
  async () => {
    await using world = await World.start({ installBroker: true });
    const kubectl = preferredKubectl(kubectls)!;
    const client = await world.client(kubectl);
    const script = await world.renewalScript("ahead", {
      lifetimeSeconds: LIFETIME_S,
      sleepSeconds: RENEWAL_SLEEP_S,
    });
    const cache = `${client.dir}/cache`;
    await world.writeKubeconfig(client, {
      exec: renewingExec(script, {
        renewAhead: `${RENEW_AHEAD_S}s`,
        refreshMargin: `${MARGIN_S}s`,
        cacheDir: cache,
      }),
    });

    // The certificate starts expired: the first call renews in the foreground, as without --renew-ahead, and
    // shows what a call that includes a renewal costs.
    const first = await client.run(["get", "--raw", "/version"]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(await script.runs(), 1);
    assert.ok(first.ms >= RENEWAL_SLEEP_S * SECOND, `the foreground renewal took ${first.ms} ms`);

    const durations: number[] = [];
    const loopStart = Date.now();
    while (Date.now() - loopStart < LOOP_MS) {
      const result = await client.run(["get", "--raw", "/version"]);
      assert.equal(result.code, 0, `call ${durations.length + 1} failed: ${result.stderr}`);
      assert.doesNotMatch(result.stderr, /warning|waiting|error/);
      durations.push(result.ms);
      await delay(150);
    }
    const loopEnd = Date.now();
    await backgroundSettled(cache);

    const renewals = (await script.runs()) - 1;
    const expiredMeanwhile = issuedExpiries(script.dir).filter((expiry) =>
      expiry.getTime() <= loopEnd
    );
    const slowest = Math.max(...durations);
    const sorted = [...durations].sort((a, b) => a - b);
    console.log(
      `${durations.length} kubectl calls (${kubectl.version}) in ${
        Math.round((loopEnd - loopStart) / SECOND)
      } s: median ${Math.round(sorted[sorted.length >> 1]!)} ms, slowest ${
        Math.round(slowest)
      } ms; ${renewals} renewals during the loop; the first call (foreground renewal) took ${
        Math.round(first.ms)
      } ms`,
    );
    // No call's duration includes a renewal: each renewal sleeps 2 s, and every call was shorter.
    assert.ok(slowest < RENEWAL_SLEEP_S * SECOND, `a call took ${Math.round(slowest)} ms`);
    // The loop spans certificate expiries, so without renewals ahead of time some call would have paid for one.
    assert.ok(expiredMeanwhile.length >= 2, `only ${expiredMeanwhile.length} certificates expired`);
    // Renewals happened, one per lifetime: each new certificate opens its window 10 s after it is issued.
    assert.ok(renewals >= 2, `${renewals} background renewals in ${LOOP_MS / SECOND} s`);
    const atMost = Math.floor(LOOP_MS / ((LIFETIME_S - RENEW_AHEAD_S) * SECOND)) + 1;
    assert.ok(renewals <= atMost, `${renewals} renewals: more than one per lifetime`);
    // The server saw the renewed certificates: every one of them was used by some call.
    const serials = new Set(world.api.requests.map((request) => request.serial));
    assert.equal(serials.size, renewals + 1, `the server saw ${serials.size} certificates`);
    const state = JSON.parse(
      Deno.readTextFileSync(
        `${cache}/${
          [...Deno.readDirSync(cache)].find((e) => e.name.endsWith(".ahead.json"))!.name
        }`,
      ),
    );
    assert.equal(state.failures, 0);
    assert.equal(state.lastOutcome, "ok");
    assert.deepEqual(processesMentioning(script.dir), []);
  },
);
