import assert from "node:assert/strict";
import {
  brokerArgs,
  parseBrokerArgs,
  resolveBrokerPaths,
} from "../../lib/plugin/broker_options.ts";
import { UsageError } from "../../lib/shared/errors.ts";

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
    [["--token-path=t", "--refresh-margin=600h"], /"600h" for --refresh-margin is too long/],
    [
      ["--token-path=t", "--before-exec-timeout=600h"],
      /"600h" for --before-exec-timeout is too long/,
    ],
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

Deno.test("resolveBrokerPaths() expands a leading ~ and resolves against the working folder, per OS", async (t) => {
  const options = parseBrokerArgs([
    "--client-certificate-path=~/certs/client.crt",
    "--client-key-path=client.key",
    "--token-path=./token",
    "--cache-dir=~",
    "--before-exec-command=~/renew.sh",
  ]);
  await t.step("linux", () => {
    const resolved = resolveBrokerPaths(options, {
      cwd: "/work",
      home: () => "/home/u",
      os: "linux",
    });
    assert.deepEqual(
      [
        resolved.clientCertificatePath,
        resolved.clientKeyPath,
        resolved.tokenPath,
        resolved.cacheDir,
      ],
      ["/home/u/certs/client.crt", "/work/client.key", "/work/token", "/home/u"],
    );
    // The command line keeps its own rules (splitCommandLine expands an unquoted ~ when it runs).
    assert.equal(resolved.beforeExecCommand, "~/renew.sh");
  });
  await t.step("windows", () => {
    const resolved = resolveBrokerPaths(options, {
      cwd: "C:\\work",
      home: () => "C:\\Users\\u",
      os: "windows",
    });
    assert.deepEqual(
      [resolved.clientCertificatePath, resolved.clientKeyPath, resolved.tokenPath],
      ["C:\\Users\\u\\certs/client.crt", "C:\\work\\client.key", "C:\\work\\token"],
    );
  });
  await t.step("home asked only for a ~ path; ~user is a plain name", () => {
    const plain = parseBrokerArgs(["--token-path=~user/t"]);
    const resolved = resolveBrokerPaths(plain, {
      cwd: "/work",
      home: () => {
        throw new Error("home asked");
      },
      os: "linux",
    });
    assert.equal(resolved.tokenPath, "/work/~user/t");
  });
  await t.step("no home folder: a usage error naming the flag", () => {
    assert.throws(
      () => resolveBrokerPaths(options, { cwd: "/work", home: () => undefined, os: "linux" }),
      (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(
          error.message,
          /^--client-certificate-path starts with ~ but the home folder is unknown$/,
        );
        return true;
      },
    );
  });
});
