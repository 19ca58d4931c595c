import assert from "node:assert/strict";
import { UsageError } from "../../lib/shared/errors.ts";
import { KUBECONFIG_SET_FLAGS, parseEnv } from "../../lib/kubeconfig/set_flags.ts";

Deno.test("KUBECONFIG_SET_FLAGS holds the broker's flags and the kubeconfig ones, each once, no --help", () => {
  const names = KUBECONFIG_SET_FLAGS.map((flag) => flag.name);
  assert.equal(new Set(names).size, names.length);
  assert.ok(!names.includes("help"), "completion adds --help itself");
  for (
    const name of [
      "client-certificate-path",
      "before-exec-command",
      "env",
      "exec-api-version",
      "interactive-mode",
      "provide-cluster-info",
      "exec-command",
      "kubeconfig",
      "context",
      "user",
      "dry-run",
      "force",
    ]
  ) assert.ok(names.includes(name), name);
});

Deno.test("parseEnv() splits comma lists only before NAME=", async (t) => {
  const cases: [string[], [string, string][]][] = [
    [["A=1"], [["A", "1"]]],
    [["A=1,B=2"], [["A", "1"], ["B", "2"]]],
    [["A=x,y", "B="], [["A", "x,y"], ["B", ""]]],
    [["URL=http://h/?a=1,b=2"], [["URL", "http://h/?a=1"], ["b", "2"]]],
    [["A=1=2"], [["A", "1=2"]]],
  ];
  for (const [input, expected] of cases) {
    await t.step(JSON.stringify(input), () => {
      assert.deepEqual(
        parseEnv(input),
        expected.map(([name, value]) => ({ name, value })),
      );
    });
  }
  await t.step("duplicates are an error", () => {
    assert.throws(() => parseEnv(["A=1", "A=2"]), /--env A is given more than once/);
  });
});

Deno.test("--env errors name the entry, never its value", async (t) => {
  const cases: [string[], string][] = [
    [["VAULT_TOKEN:s.secret-value"], "invalid --env entry 1 (VAULT_TOKEN): use NAME=VALUE"],
    [["A=1", "s.secret-value"], "invalid --env entry 2: use NAME=VALUE"],
    [["A=1", "=s.secret-value"], "invalid --env entry 2: use NAME=VALUE"],
    [["MY VAR=s.secret-value"], "invalid --env entry 1: use NAME=VALUE"],
    [["x.y:s.secret-value"], "invalid --env entry 1: use NAME=VALUE"],
  ];
  for (const [flags, message] of cases) {
    await t.step(JSON.stringify(flags), () => {
      assert.throws(() => parseEnv(flags), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.equal(error.message, message);
        assert.ok(!error.message.includes("secret"));
        return true;
      });
    });
  }
});
