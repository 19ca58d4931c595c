/**
 * `deno task bench`'s end-to-end part (scripts/bench_e2e.ts) runs as written: one round of each variant through
 * the real nginx and kubectl. The bench checks after every call that it measured what its row says (no renewal, a
 * background renewal started or running, a foreground renewal) and counts the renewals; a bench that cannot run
 * its scenarios throws here instead of at the next person who wants figures.
 */
import assert from "node:assert/strict";
import { benchEndToEnd } from "../../scripts/bench_e2e.ts";
import { findKubectls, preferredKubectl } from "../../scripts/world/kubectl.ts";
import { e2eTest } from "./e2e.ts";

const kubectls = await findKubectls();

e2eTest(
  "the end-to-end bench runs each of its variants once and measures what each row says",
  { nginx: true, kubectl: true, linux: true },
  kubectls,
  async () => {
    const result = await benchEndToEnd({
      rounds: 1,
      warmup: 0,
      print: false,
      kubectl: preferredKubectl(kubectls),
    });
    assert.deepEqual(result.variants.map((variant) => variant.name), [
      "static client certificate",
      "command: kubectl-credentials_broker",
      "command: kubectl credentials-broker",
      "--renew-ahead, outside the window",
      "window: starts the renewal",
      "window: a renewal is running",
      "expired: foreground renewal (1 s)",
    ]);
    for (const variant of result.variants) {
      assert.equal(variant.rounds, 1, variant.name);
      assert.ok(variant.medianMs > 0, `${variant.name}: ${variant.medianMs} ms`);
    }
    // The foreground renewal sleeps 1 s, so that row cannot be faster than a second.
    assert.ok(result.variants.at(-1)!.medianMs >= 1000, `${result.variants.at(-1)!.medianMs} ms`);
  },
);
