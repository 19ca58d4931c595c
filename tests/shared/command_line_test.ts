import assert from "node:assert/strict";
import { joinCommandLine, splitCommandLine } from "../../lib/shared/command_line.ts";
import { UsageError } from "../../lib/shared/errors.ts";

Deno.test("splitCommandLine() honours quotes and escapes like a POSIX shell", async (t) => {
  const cases: [string, string[]][] = [
    ["/opt/renew.sh --role 'dev team'", ["/opt/renew.sh", "--role", "dev team"]],
    [`renew "a \\"b\\" c" d`, ["renew", `a "b" c`, "d"]],
    ["a\\ b c", ["a b", "c"]],
    ["  spaced   out  ", ["spaced", "out"]],
    ["empty '' arg", ["empty", "", "arg"]],
    [`mixed'single'"double"bare`, ["mixedsingledoublebare"]],
    ["sh -c 'echo $HOME; exit 1'", ["sh", "-c", "echo $HOME; exit 1"]],
    [`"$literal" '\\n'`, ["$literal", "\\n"]],
    ["~/bin/renew ~/x '~/quoted' a~/b", ["/home/u/bin/renew", "/home/u/x", "~/quoted", "a~/b"]],
    ["tab\tseparated\nlines", ["tab", "separated", "lines"]],
  ];
  for (const [line, argv] of cases) {
    await t.step(line, () => assert.deepEqual(splitCommandLine(line, "/home/u"), argv));
  }
});

Deno.test("splitCommandLine() rejects unterminated quotes with the column", async (t) => {
  for (const [line, column] of [["renew 'oops", 7], ['renew "oops', 7], ["renew \\", 7]] as const) {
    await t.step(line, () => {
      assert.throws(() => splitCommandLine(line), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, new RegExp(`column ${column}`));
        return true;
      });
    });
  }
});

Deno.test("joinCommandLine() quotes words so that splitCommandLine() gives them back", () => {
  const argvs = [
    ["/opt/renew.sh", "--role", "dev team"],
    ["it's", 'say "hi"', "$HOME", "", "back\\slash", "~/not-home", "tab\there"],
    ["plain", "a=b,c:d", "x/y.z"],
  ];
  for (const argv of argvs) {
    assert.deepEqual(splitCommandLine(joinCommandLine(argv), "/home/u"), argv);
  }
  assert.equal(
    joinCommandLine(["/opt/renew.sh", "--role", "dev team"]),
    "/opt/renew.sh --role 'dev team'",
  );
});

Deno.test("splitCommandLine() expands ~ by the platform's rule: a Windows home joins with a backslash", () => {
  assert.deepEqual(splitCommandLine("~/bin/renew.cmd --x", "C:\\Users\\u", "windows"), [
    "C:\\Users\\u\\bin/renew.cmd",
    "--x",
  ]);
  assert.deepEqual(splitCommandLine("~/bin/renew", "/home/u/", "linux"), ["/home/u/bin/renew"]);
  assert.deepEqual(splitCommandLine("~user/x ~", undefined, "linux"), ["~user/x", "~"]);
});
