/**
 * Renew-ahead's rules in-process: the window, the backoff, the state file, the claim and the log.
 *
 * Where a test goes: one that checks a rule, a message or a file runs here, in the unit tier; one whose subject is
 * processes (many claiming at once) is in renew_ahead_process_test.ts (the process tier).
 */
import assert from "node:assert/strict";
import {
  aheadDecision,
  backoffMs,
  claimBackground,
  LOG_LIMIT,
  logStream,
  nextState,
  parseRenewAhead,
  readAheadState,
  renewAheadDue,
  renewAheadMs,
  takeOverStale,
} from "../../lib/plugin/renew_ahead.ts";
import { writeAheadState } from "../../lib/plugin/background_renewal.ts";
import { UsageError } from "../../lib/shared/errors.ts";
import { tempDir } from "../../scripts/world/temp_dir.ts";

Deno.test("parseRenewAhead() takes a duration or a share of the lifetime, and refuses the rest", async (t) => {
  await t.step("durations", () => {
    assert.deepEqual(parseRenewAhead("10m"), { kind: "duration", ms: 600_000 });
    assert.deepEqual(parseRenewAhead("1h30m"), { kind: "duration", ms: 5_400_000 });
  });
  await t.step("percentages", () => {
    assert.deepEqual(parseRenewAhead("30%"), { kind: "percent", percent: 30 });
    assert.deepEqual(parseRenewAhead("12.5%"), { kind: "percent", percent: 12.5 });
  });
  for (const bad of ["0%", "100%", "150%", "-5%", "%", "0", "0s", "ten minutes", "10x", "5%m"]) {
    await t.step(`refuses ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseRenewAhead(bad), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, /--renew-ahead/);
        return true;
      });
    });
  }
});

Deno.test("renewAheadMs() turns a share into time only when the lifetime is known", () => {
  assert.equal(renewAheadMs({ kind: "duration", ms: 5000 }, undefined), 5000);
  assert.equal(renewAheadMs({ kind: "percent", percent: 30 }, 86_400_000), 25_920_000);
  assert.equal(renewAheadMs({ kind: "percent", percent: 30 }, undefined), undefined);
});

Deno.test("backoffMs() doubles from 30 s and never waits past the refresh margin", () => {
  assert.deepEqual([1, 2, 3, 4].map((n) => backoffMs(n, 3_600_000)), [
    30_000,
    60_000,
    120_000,
    240_000,
  ]);
  assert.equal(backoffMs(10, 90_000), 90_000);
  assert.equal(backoffMs(1, -5), 0);
});

Deno.test("renewAheadDue() opens the window by duration, or by a share of each credential's lifetime", () => {
  const now = new Date("2026-12-01T12:00:00Z");
  const inFive = { expiry: new Date("2026-12-01T12:05:00Z"), lifetimeMs: 3_600_000 };
  assert.equal(renewAheadDue([inFive], { kind: "duration", ms: 120_000 }, now), false);
  assert.equal(renewAheadDue([inFive], { kind: "duration", ms: 300_000 }, now), true);
  // 10% of an hour is 6 minutes: 5 minutes left is inside.
  assert.equal(renewAheadDue([inFive], { kind: "percent", percent: 10 }, now), true);
  assert.equal(renewAheadDue([inFive], { kind: "percent", percent: 5 }, now), false);
  // A token without iat/nbf has no known lifetime: a share never opens it; a duration does.
  const opaque = { expiry: new Date("2026-12-01T12:05:00Z") };
  assert.equal(renewAheadDue([opaque], { kind: "percent", percent: 90 }, now), false);
  assert.equal(renewAheadDue([opaque], { kind: "duration", ms: 600_000 }, now), true);
  // Any credential of the set opens it; one without expiry never does.
  assert.equal(renewAheadDue([{}, inFive], { kind: "duration", ms: 600_000 }, now), true);
  assert.equal(renewAheadDue([{}], { kind: "duration", ms: 600_000 }, now), false);
});

Deno.test("aheadDecision() starts unless a backoff runs, and tells the last failure", async (t) => {
  const now = new Date("2026-12-01T12:00:00Z");
  const logPath = "/c/renew.ahead.log";
  await t.step("no failure: start, no warning", () => {
    assert.deepEqual(aheadDecision({ now, state: { failures: 0 }, logPath }), {
      start: true,
      warning: undefined,
    });
  });
  await t.step(
    "during a backoff: no start, one warning line with the time, outcome and log",
    () => {
      const decision = aheadDecision({
        now,
        logPath,
        state: {
          failures: 2,
          lastEndedAt: "2026-12-01T11:59:00Z",
          lastOutcome: "exit status 1",
          nextTryAt: "2026-12-01T12:00:30Z",
        },
      });
      assert.equal(decision.start, false);
      assert.equal(
        decision.warning,
        "background renewal failed at 2026-12-01T11:59:00Z (exit status 1); next try at " +
          "2026-12-01T12:00:30Z; log: /c/renew.ahead.log",
      );
    },
  );
  await t.step("after the backoff: start again, still telling the failure", () => {
    const decision = aheadDecision({
      now,
      logPath,
      state: {
        failures: 1,
        lastEndedAt: "2026-12-01T11:58:00Z",
        lastOutcome: "exit status 1",
        nextTryAt: "2026-12-01T11:59:00Z",
      },
    });
    assert.equal(decision.start, true);
    assert.match(decision.warning ?? "", /trying again now/);
  });
});

Deno.test("nextState() counts failures in a row and clears them on success", () => {
  const startedAt = new Date("2026-12-01T12:00:00Z");
  const endedAt = new Date("2026-12-01T12:00:02Z");
  const failed = nextState({ failures: 1 }, {
    startedAt,
    endedAt,
    outcome: "exit status 3",
    ok: false,
    untilMarginMs: 3_600_000,
  });
  assert.deepEqual(failed, {
    failures: 2,
    lastStartedAt: "2026-12-01T12:00:00Z",
    lastEndedAt: "2026-12-01T12:00:02Z",
    lastOutcome: "exit status 3",
    nextTryAt: "2026-12-01T12:01:02Z",
  });
  const ok = nextState(failed, { startedAt, endedAt, outcome: "ok", ok: true, untilMarginMs: 0 });
  assert.deepEqual(ok, {
    failures: 0,
    lastStartedAt: "2026-12-01T12:00:00Z",
    lastEndedAt: "2026-12-01T12:00:02Z",
    lastOutcome: "ok",
  });
});

Deno.test("the state file round-trips, and a damaged one reads as empty", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.path}/x.ahead.json`;
  assert.deepEqual(readAheadState(path), { failures: 0 });
  writeAheadState(path, { failures: 3, lastOutcome: "exit status 1" });
  assert.deepEqual(readAheadState(path), { failures: 3, lastOutcome: "exit status 1" });
  // Private where files have modes (Windows reports 0o666 for every file).
  if (Deno.build.os !== "windows") assert.equal((Deno.statSync(path).mode ?? 0) & 0o777, 0o600);
  Deno.writeTextFileSync(path, "{not json");
  assert.deepEqual(readAheadState(path), { failures: 0 });
});

Deno.test("two callers that both found a claim stale do not both win: the second moves the fresh claim back", async () => {
  await using tmp = await tempDir();
  const claim = `${tmp.path}/x.ahead.claim`;
  const now = new Date();
  Deno.writeTextFileSync(claim, "1 an hour ago\n");
  const hourAgo = new Date(now.getTime() - 3600_000);
  Deno.utimeSync(claim, hourAgo, hourAgo);
  // Both A and B read the stale claim's time; A takes it over first and makes its own.
  assert.equal(claimBackground(claim, now, 60_000), true);
  const fresh = Deno.readTextFileSync(claim);
  assert.match(fresh, new RegExp(`^${Deno.pid} `));
  // B, acting on what it read before, moves what is there now: A's fresh claim, which goes back in place.
  takeOverStale(claim, now, 60_000);
  assert.equal(Deno.readTextFileSync(claim), fresh);
  assert.equal(claimBackground(claim, now, 60_000), false, "B loses to A's claim");
  assert.deepEqual([...Deno.readDirSync(tmp.path)].map((entry) => entry.name), ["x.ahead.claim"]);
  // A claim that is stale when moved is gone, and the next caller wins.
  const later = new Date(now.getTime() + 120_000);
  takeOverStale(claim, later, 60_000);
  assert.deepEqual([...Deno.readDirSync(tmp.path)], []);
  assert.equal(claimBackground(claim, later, 60_000), true);
});

Deno.test("the background log keeps one run and is cut at 64 KiB", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.path}/x.ahead.log`;
  Deno.writeTextFileSync(path, "an earlier run's output\n");
  const log = logStream(path);
  const writer = log.stream.getWriter();
  const chunk = new Uint8Array(10_000).fill(0x61);
  for (let i = 0; i < 10; i++) await writer.write(chunk);
  await writer.close();
  log.close();
  const text = Deno.readTextFileSync(path);
  assert.ok(!text.includes("earlier run"));
  assert.ok(text.endsWith("\n[log cut at 64 KiB]\n"));
  assert.equal(text.length, LOG_LIMIT + "\n[log cut at 64 KiB]\n".length);
});

Deno.test("parseRenewAhead() tells a share from a duration as its regular expressions did", () => {
  // Before it became a loop (a kubectl call runs no regular expression): a share was /^(\d+(?:\.\d+)?)%$/, and
  // any other text holding % was refused as neither.
  const reference = (text: string) => {
    const percent = /^(\d+(?:\.\d+)?)%$/.exec(text);
    if (percent) return Number(percent[1]) > 0 && Number(percent[1]) < 100 ? "share" : "range";
    return /%/.test(text) ? "neither" : "duration";
  };
  const kind = (text: string) => {
    try {
      return parseRenewAhead(text).kind === "percent" ? "share" : "duration";
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      if (/above 0% and below 100%/.test(error.message)) return "range";
      if (/a duration like 10m or a share/.test(error.message)) return "neither";
      return "duration"; // refused by parseDuration or as 0
    }
  };
  let seed = 5;
  const random = (below: number) => (seed = (seed * 48_271) % 2_147_483_647) % below;
  const alphabet = "0123456789.%m ";
  const texts = [
    "30%",
    "0%",
    "100%",
    "99.5%",
    ".5%",
    "5.%",
    "1.2.3%",
    "%",
    "5%%",
    "10m",
    "",
    "５%",
  ];
  for (let i = 0; i < 20_000; i++) {
    let text = "";
    for (let j = 1 + random(6); j > 0; j--) text += alphabet[random(alphabet.length)];
    texts.push(text);
  }
  for (const text of texts) assert.equal(kind(text), reference(text), JSON.stringify(text));
});
