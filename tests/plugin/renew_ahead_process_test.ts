/**
 * The process tier of tests/plugin/renew_ahead_test.ts: the background claim taken by many processes at once,
 * where only separate processes show that exactly one wins.
 *
 * Where a test goes: one whose subject is processes belongs here, listed in PROCESS_TESTS (scripts/test.ts); the
 * claim's rules for one caller are tested in-process in renew_ahead_test.ts.
 */
import assert from "node:assert/strict";
import { claimBackground, releaseClaim } from "../../lib/plugin/renew_ahead.ts";
import { tempDir } from "../../scripts/world/temp_dir.ts";

Deno.test({
  name: "of many processes claiming at once exactly one wins; a stale claim is taken over" +
    (Deno.build.os === "windows"
      ? " (ignored on Windows: 12 deno.exe started at once never end under Wine)"
      : ""),
  ignore: Deno.build.os === "windows",
}, async () => {
  await using tmp = await tempDir();
  const claim = `${tmp.path}/x.ahead.claim`;
  const module = new URL("../../lib/plugin/renew_ahead.ts", import.meta.url).href;
  const script = `import { claimBackground } from ${JSON.stringify(module)};
    console.log(claimBackground(${JSON.stringify(claim)}, new Date(), 60_000) ? "won" : "lost");`;
  const runs = await Promise.all(
    Array.from({ length: 12 }, () =>
      new Deno.Command(Deno.execPath(), {
        args: ["eval", "--no-config", script],
        stdout: "piped",
        stderr: "inherit",
      }).output()),
  );
  const outcomes = runs.map((run) => new TextDecoder().decode(run.stdout).trim());
  assert.equal(outcomes.filter((outcome) => outcome === "won").length, 1, outcomes.join(","));
  assert.equal(outcomes.filter((outcome) => outcome === "lost").length, 11);
  // A claim left by a process that died is taken over once it is older than the stale limit.
  const later = new Date(Date.now() + 120_000);
  assert.equal(claimBackground(claim, later, 60_000), true);
  releaseClaim(claim);
  assert.equal(claimBackground(claim, new Date(), 60_000), true);
});
