import assert from "node:assert/strict";
import { brokerArgs, parseBrokerArgs } from "../lib/broker_options.ts";
import { UsageError } from "../lib/errors.ts";

Deno.test("parseBrokerArgs() accepts a token, a certificate with its key, or both", () => {
  assert.equal(parseBrokerArgs(["--token-path=/t"]).tokenPath, "/t");
  const both = parseBrokerArgs([
    "--client-certificate-path",
    "c",
    "--client-key-path",
    "k",
    "--token-path",
    "t",
  ]);
  assert.deepEqual([both.clientCertificatePath, both.clientKeyPath, both.tokenPath], [
    "c",
    "k",
    "t",
  ]);
  assert.equal(both.beforeExecPolicy, "always");
  assert.equal(both.beforeExecTimeoutMs, 120_000);
  assert.equal(both.refreshMarginMs, 60_000);
});

Deno.test("parseBrokerArgs() says what is missing or wrong", async (t) => {
  const cases: [string[], RegExp][] = [
    [[], /no credentials configured/],
    [["--client-certificate-path=c"], /--client-key-path is missing/],
    [["--client-key-path=k"], /--client-certificate-path is missing/],
    [["--token-path="], /--token-path is empty/],
    [
      ["--token-path=t", "--before-exec-policy=sometimes"],
      /invalid --before-exec-policy "sometimes"/,
    ],
    [["--token-path=t", "--before-exec-timeout=0"], /must be longer than 0/],
    [["--token-path=t", "--refresh-margin=soon"], /invalid duration "soon" for --refresh-margin/],
    [["--token-path=t", "--before-exec-command=  "], /blank/],
    [["--token-path=t", "extra"], /unexpected argument "extra"/],
  ];
  for (const [argv, message] of cases) {
    await t.step(argv.join(" ") || "(none)", () => {
      assert.throws(() => parseBrokerArgs(argv), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.equal(error.exitCode, 2);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("brokerArgs() round-trips through parseBrokerArgs(), one word per flag", () => {
  const options = parseBrokerArgs([
    "--client-certificate-path=/c d/crt",
    "--client-key-path=/k",
    "--token-path=/t",
    "--before-exec-command=/opt/renew.sh --role 'dev team'",
    "--before-exec-policy=when-invalid",
    "--before-exec-timeout=90s",
    "--refresh-margin=5m",
    "--cache-dir=/cache",
  ]);
  const args = brokerArgs(options);
  assert.ok(args.every((arg) => arg.startsWith("--") && arg.includes("=")));
  assert.deepEqual(parseBrokerArgs(args), options);
  assert.ok(args.includes("--before-exec-timeout=1m30s"));
});

Deno.test("brokerArgs() leaves defaults out", () => {
  assert.deepEqual(
    brokerArgs(parseBrokerArgs(["--token-path=/t", "--before-exec-policy=always"])),
    [
      "--token-path=/t",
    ],
  );
});
