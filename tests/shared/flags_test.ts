import assert from "node:assert/strict";
import { UsageError } from "../../lib/shared/errors.ts";
import { type FlagSpec, parseFlags } from "../../lib/shared/flags.ts";

const SPECS: FlagSpec[] = [
  { name: "token-path", kind: "string", help: "" },
  { name: "env", kind: "list", help: "" },
  { name: "force", short: "f", kind: "boolean", help: "" },
];

Deno.test("parseFlags() takes --name=value, --name value, repeated lists, -f and --", () => {
  const { values, positionals } = parseFlags(
    ["set", "--token-path=/t", "--env", "A=1", "--env=B=2", "-f", "--", "--not-a-flag"],
    SPECS,
  );
  assert.equal(values.get("token-path"), "/t");
  assert.deepEqual(values.get("env"), ["A=1", "B=2"]);
  assert.equal(values.get("force"), true);
  assert.deepEqual(positionals, ["set", "--not-a-flag"]);
});

Deno.test("parseFlags() keeps a value that starts with dashes when written with =", () => {
  assert.equal(parseFlags(["--token-path=--weird"], SPECS).values.get("token-path"), "--weird");
});

Deno.test("parseFlags() errors name the flag and suggest the closest one", async (t) => {
  const cases: [string[], RegExp, RegExp?][] = [
    [["--token-pth=/x"], /unknown flag --token-pth/, /did you mean --token-path/],
    [["--token-path"], /flag --token-path needs a value/],
    [["--token-path=a", "--token-path=b"], /given more than once/],
    [["--force=maybe"], /takes true or false/],
    [["-x"], /unknown flag -x/],
  ];
  for (const [argv, message, hint] of cases) {
    await t.step(argv.join(" "), () => {
      assert.throws(() => parseFlags(argv, SPECS), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, message);
        if (hint) assert.match(error.hint ?? "", hint);
        return true;
      });
    });
  }
});
