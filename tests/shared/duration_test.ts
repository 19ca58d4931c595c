import assert from "node:assert/strict";
import {
  formatDuration,
  formatTimestamp,
  MAX_DURATION_MS,
  parseDuration,
} from "../../lib/shared/duration.ts";
import { UsageError } from "../../lib/shared/errors.ts";

Deno.test("parseDuration() reads Go-style durations as kubectl flags write them", async (t) => {
  const cases: [string, number][] = [
    ["0", 0],
    ["90s", 90_000],
    ["5m", 300_000],
    ["1h30m", 5_400_000],
    ["500ms", 500],
    ["1.5h", 5_400_000],
    ["2m30s", 150_000],
    ["-1m", -60_000],
  ];
  for (const [text, ms] of cases) {
    await t.step(text, () => assert.equal(parseDuration(text, "--x"), ms));
  }
});

Deno.test("parseDuration() rejects text without units or with junk, naming the flag", async (t) => {
  for (const text of ["", "90", "5 m", "1d", "m", "1h-", "abc", "1e3s", "-"]) {
    await t.step(JSON.stringify(text), () => {
      assert.throws(() => parseDuration(text, "--before-exec-timeout"), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, /--before-exec-timeout/);
        return true;
      });
    });
  }
});

Deno.test("formatDuration() output parses back to the same duration", () => {
  for (const ms of [0, 1, 999, 1000, 59_000, 60_000, 90_000, 3_600_000, 5_400_500, 86_400_000]) {
    assert.equal(parseDuration(formatDuration(ms), "--x"), ms, formatDuration(ms));
  }
  assert.equal(formatDuration(90_000), "1m30s");
  assert.equal(formatDuration(120_000), "2m");
});

Deno.test("parseDuration() refuses durations a timer cannot wait, naming the flag and the limit", async (t) => {
  for (const text of ["600h", "596h31m24s", "-600h", "100000000h", "9".repeat(400) + "h"]) {
    await t.step(text, () => {
      assert.throws(() => parseDuration(text, "--before-exec-timeout"), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.equal(error.exitCode, 2);
        assert.match(
          error.message,
          /^duration ".*" for --before-exec-timeout is too long: the longest is 596h31m23\.647s/,
        );
        return true;
      });
    });
  }
  await t.step("the limit itself is accepted", () => {
    assert.equal(parseDuration("596h31m23.647s", "--x"), MAX_DURATION_MS);
    assert.equal(parseDuration(formatDuration(MAX_DURATION_MS), "--x"), 2 ** 31 - 1);
  });
});

Deno.test("formatTimestamp() writes RFC 3339 in UTC without fractions, as Kubernetes writes timestamps", () => {
  assert.equal(
    formatTimestamp(new Date(Date.UTC(2026, 11, 1, 10, 0, 0, 999))),
    "2026-12-01T10:00:00Z",
  );
  assert.equal(formatTimestamp(new Date("2026-12-01T11:30:05+01:00")), "2026-12-01T10:30:05Z");
});
