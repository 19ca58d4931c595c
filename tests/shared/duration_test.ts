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

Deno.test("formatTimestamp() writes what toISOString() writes without the fraction, for every year", () => {
  // It is put together by hand (toISOString's first call costs a kubectl call 0.7 ms): the two must agree, from
  // year 0 to 9999 and beyond (a JWT's exp can be anything), where toISOString writes a signed six-digit year.
  const iso = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, "Z");
  const edges = [
    Date.UTC(0, 0, 1) - 1000,
    Date.UTC(0, 0, 1),
    -62_135_596_800_000, // 0001-01-01
    -1,
    0,
    Date.UTC(999, 11, 31, 23, 59, 59, 999),
    Date.UTC(2026, 1, 28, 23, 59, 59),
    Date.UTC(2028, 1, 29, 12, 0, 0),
    Date.UTC(9999, 11, 31, 23, 59, 59, 999),
    Date.UTC(10000, 0, 1),
    8.64e15,
    -8.64e15,
  ];
  let seed = 1;
  const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
  const samples = Array.from({ length: 2000 }, () => Math.floor((random() - 0.3) * 5e14));
  for (const ms of [...edges, ...samples]) {
    const date = new Date(ms);
    assert.equal(formatTimestamp(date), iso(date), `at ${ms}`);
  }
  assert.throws(() => formatTimestamp(new Date(NaN)), RangeError);
});

Deno.test("parseDuration() reads by hand what its regular expression read: the same value or the same error", () => {
  // The regular expression parseDuration() used before it became a loop (a kubectl call runs none).
  const reference = (text: string, _flag: string): number => {
    const input = text.trim();
    if (input === "0") return 0;
    const part = /(\d+(?:\.\d+)?|\.\d+)(ms|h|m|s)/y;
    const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
    let total = 0;
    let position = 0;
    let sign = 1;
    if (input.startsWith("-") || input.startsWith("+")) {
      sign = input.startsWith("-") ? -1 : 1;
      position = 1;
    }
    if (position >= input.length) throw new Error("invalid");
    while (position < input.length) {
      part.lastIndex = position;
      const match = part.exec(input);
      if (!match) throw new Error("invalid");
      total += Number(match[1]) * units[match[2]!]!;
      position = part.lastIndex;
    }
    if (!(Math.round(total) <= MAX_DURATION_MS)) throw new Error("too long");
    return sign * Math.round(total);
  };
  const outcome = (parse: (text: string, flag: string) => number, text: string) => {
    try {
      return parse(text, "--x");
    } catch (error) {
      return error instanceof UsageError && /too long/.test(error.message) ||
          error instanceof Error && error.message === "too long"
        ? "too long"
        : "invalid";
    }
  };
  let seed = 3;
  const random = (below: number) => (seed = (seed * 48_271) % 2_147_483_647) % below;
  const alphabet = "0123456789.msh+- x";
  const texts = [
    "",
    "0",
    " 5m ",
    "1.h",
    ".5s",
    "5.",
    "1..5s",
    "5mh",
    "5ms5m",
    "-",
    "+1h",
    "1.5.5s",
  ];
  for (let i = 0; i < 20_000; i++) {
    let text = "";
    for (let j = 1 + random(7); j > 0; j--) text += alphabet[random(alphabet.length)];
    texts.push(text);
  }
  for (const text of texts) {
    assert.deepEqual(outcome(parseDuration, text), outcome(reference, text), JSON.stringify(text));
  }
});
