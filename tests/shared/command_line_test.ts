/**
 * The `--before-exec-command` rule (lib/shared/command_line.ts) as tables for Linux, macOS and Windows on any host:
 * quotes group words everywhere; a backslash escapes on POSIX and is a path character on Windows.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { joinCommandLine, quoteWord, splitCommandLine } from "../../lib/shared/command_line.ts";
import { UsageError } from "../../lib/shared/errors.ts";
import { HOST_OS, type Os } from "../../lib/shared/platform.ts";
import { join } from "node:path";
import { parse } from "yaml";
import { runCommand } from "../../lib/commands.ts";
import { runPlugin } from "../../lib/plugin/plugin.ts";
import { fakeIo, fuzzParams, tempDir, V1_EXEC_INFO } from "../helpers.ts";

const POSIX: Os[] = ["linux", "darwin"];
const ALL: Os[] = ["linux", "darwin", "windows"];

Deno.test("splitCommandLine(): the same words on every OS where no backslash is involved", async (t) => {
  const cases: [string, string[]][] = [
    ["/opt/renew.sh --role 'dev team'", ["/opt/renew.sh", "--role", "dev team"]],
    [`renew --role "dev team"`, ["renew", "--role", "dev team"]],
    ["  spaced   out  ", ["spaced", "out"]],
    ["empty '' arg \"\"", ["empty", "", "arg", ""]],
    [`mixed'single'"double"bare`, ["mixedsingledoublebare"]],
    ["sh -c 'echo $HOME; exit 1'", ["sh", "-c", "echo $HOME; exit 1"]],
    [`say "it's" '"hi"'`, ["say", "it's", '"hi"']],
    ["tab\tseparated\nlines\r\nend", ["tab", "separated", "lines", "end"]],
    ["renew --renew-ahead=30% a&b ^c", ["renew", "--renew-ahead=30%", "a&b", "^c"]],
  ];
  for (const os of ALL) {
    for (const [line, argv] of cases) {
      await t.step(
        `${os}: ${line}`,
        () => assert.deepEqual(splitCommandLine(line, "/h", os), argv),
      );
    }
  }
});

Deno.test("splitCommandLine() on Linux and macOS: backslash escapes as in a POSIX shell", async (t) => {
  const cases: [string, string[]][] = [
    [`renew "a \\"b\\" c" d`, ["renew", `a "b" c`, "d"]],
    ["a\\ b c", ["a b", "c"]],
    [`"$literal" '\\n' "\\$x \\q"`, ["$literal", "\\n", "$x \\q"]],
    ["C:\\Users\\me\\renew.cmd", ["C:Usersmerenew.cmd"]],
    ["line\\\ncontinued", ["linecontinued"]],
  ];
  for (const os of POSIX) {
    for (const [line, argv] of cases) {
      await t.step(
        `${os}: ${line}`,
        () => assert.deepEqual(splitCommandLine(line, "/h", os), argv),
      );
    }
  }
});

Deno.test("splitCommandLine() on Windows: a backslash is a path character, never an escape", async (t) => {
  const cases: [string, string[]][] = [
    ["C:\\Users\\me\\renew.cmd --x", ["C:\\Users\\me\\renew.cmd", "--x"]],
    [`"C:\\Program Files\\Renew\\renew.cmd" --role "dev team"`, [
      "C:\\Program Files\\Renew\\renew.cmd",
      "--role",
      "dev team",
    ]],
    ["\\\\server\\share\\renew.cmd", ["\\\\server\\share\\renew.cmd"]],
    [`"ends with backslash\\" next`, ["ends with backslash\\", "next"]],
    ["a\\ b", ["a\\", "b"]],
    ["trailing\\", ["trailing\\"]],
    [`say '"quoted"' "it's"`, ["say", '"quoted"', "it's"]],
  ];
  for (const [line, argv] of cases) {
    await t.step(
      line,
      () => assert.deepEqual(splitCommandLine(line, "C:\\Users\\u", "windows"), argv),
    );
  }
});

Deno.test("splitCommandLine() expands an unquoted leading ~ by each OS's rule", async (t) => {
  const cases: [Os, string, string, string[]][] = [
    ["linux", "/home/u", "~/bin/renew ~/x '~/quoted' a~/b ~", [
      "/home/u/bin/renew",
      "/home/u/x",
      "~/quoted",
      "a~/b",
      "/home/u",
    ]],
    ["darwin", "/Users/u/", "~/bin/renew ~user/x", ["/Users/u/bin/renew", "~user/x"]],
    ["windows", "C:\\Users\\u", '~/bin/renew.cmd ~\\x.cmd "~\\y"', [
      "C:\\Users\\u\\bin/renew.cmd",
      "C:\\Users\\u\\x.cmd",
      "~\\y",
    ]],
    ["linux", "", "~/x", ["~/x"]],
  ];
  for (const [os, home, line, argv] of cases) {
    await t.step(`${os}: ${line}`, () => {
      assert.deepEqual(splitCommandLine(line, home || undefined, os), argv);
    });
  }
});

Deno.test("splitCommandLine() refuses an unterminated quote (and on POSIX a lone backslash) with the column", async (t) => {
  const cases: [Os, string, number, string][] = [];
  for (const os of ALL) {
    cases.push([os, "renew 'oops", 7, "single"], [os, 'renew "oops', 7, "double"]);
  }
  for (const os of POSIX) cases.push([os, "renew \\", 7, "lone backslash"]);
  for (const [os, line, column, what] of cases) {
    await t.step(`${os}: ${line}`, () => {
      assert.throws(() => splitCommandLine(line, undefined, os), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, new RegExp(`${what}.* at column ${column}|column ${column}`));
        return true;
      });
    });
  }
});

Deno.test("quoteWord() quotes only what needs it, as each OS's users write it", async (t) => {
  const cases: [Os, string, string][] = [
    ["linux", "/opt/renew.sh", "/opt/renew.sh"],
    ["linux", "dev team", "'dev team'"],
    ["linux", "it's", `'it'\\''s'`],
    ["darwin", "", "''"],
    ["linux", "C:\\x", "'C:\\x'"],
    ["windows", "C:\\Users\\me\\renew.cmd", "C:\\Users\\me\\renew.cmd"],
    ["windows", "C:\\Program Files\\renew.cmd", `"C:\\Program Files\\renew.cmd"`],
    ["windows", "--renew-ahead=30%", "--renew-ahead=30%"],
    ["windows", "a&b", `"a&b"`],
    ["windows", 'say "hi"', `'say "hi"'`],
    ["windows", `it's "x"`, `"it's "'"'"x"'"'`],
    ["windows", "", `""`],
    ["windows", "~\\x", `"~\\x"`],
  ];
  for (const [os, word, quoted] of cases) {
    await t.step(`${os}: ${word}`, () => assert.equal(quoteWord(word, os), quoted));
  }
  assert.equal(
    joinCommandLine(["C:\\Program Files\\renew.cmd", "--role", "dev team"], "windows"),
    `"C:\\Program Files\\renew.cmd" --role "dev team"`,
  );
  assert.equal(
    joinCommandLine(["/opt/renew.sh", "--role", "dev team"], "linux"),
    "/opt/renew.sh --role 'dev team'",
  );
});

Deno.test("joinCommandLine() gives a line that the same OS's splitCommandLine() turns back into the argv", async (t) => {
  const chars = fc.constantFrom(..."ab ~/\\'\"$`\t\n\r=-%^&:;".split(""));
  const word = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: chars, maxLength: 12 }));
  for (const os of ALL) {
    await t.step(os, () => {
      fc.assert(
        fc.property(fc.array(word, { minLength: 1, maxLength: 6 }), (argv) => {
          assert.deepEqual(splitCommandLine(joinCommandLine(argv, os), "/home/u", os), argv);
        }),
        fuzzParams(200),
      );
    });
  }
});

/** A renewal script run by Deno: writes the words it got to `seen`, and a new token to `token`. */
async function renewalScript(dir: string, seen: string, token: string): Promise<string> {
  const script = join(dir, "renew.ts");
  await Deno.writeTextFile(
    script,
    `await Deno.writeTextFile(${
      JSON.stringify(seen)
    }, Deno.args.map((a) => "[" + a + "]\\n").join(""));\n` +
      `await Deno.writeTextFile(${JSON.stringify(token)}, "renewed-token");\n`,
  );
  return script;
}

Deno.test("a renewal command line stored by kubeconfig set runs as written on this OS (on Windows, backslash paths and a .cmd)", async (t) => {
  // In process: kubeconfig set and the plugin through the Io seam; the renewal command is a real child, as the
  // plugin runs it. A bare name looked up on the broker's PATH is in command_line_process_test.ts.
  await using tmp = await tempDir();
  const dir = join(tmp.path, "renew dir");
  await Deno.mkdir(dir);
  const token = join(tmp.path, "token");
  const seen = join(tmp.path, "seen.json");
  const script = await renewalScript(dir, seen, token);
  const lines: [string, string][] = [[
    "Deno by its path",
    joinCommandLine([Deno.execPath(), "run", "-A", script, "--role", "dev team"], HOST_OS),
  ]];
  if (HOST_OS === "windows") {
    const cmd = join(dir, "renew.cmd");
    await Deno.writeTextFile(cmd, `@"${Deno.execPath()}" run -A "${script}" %*\r\n`);
    lines.push([
      "a .cmd in a folder with a space",
      `${quoteWord(cmd, "windows")} --role 'dev team'`,
    ]);
  }
  const env = { HOME: tmp.path, PATH: Deno.env.get("PATH") ?? "" };
  for (const [name, line] of lines) {
    await t.step(name, async () => {
      await Deno.remove(seen).catch(() => {});
      await Deno.remove(token).catch(() => {});
      const kubeconfig = join(tmp.path, `config-${lines.findIndex(([n]) => n === name)}`);
      const set = fakeIo({ env, cwd: tmp.path });
      const code = await runCommand([
        "kubeconfig",
        "set",
        "--kubeconfig",
        kubeconfig,
        "--user",
        "u",
        "--token-path",
        token,
        "--before-exec-command",
        line,
        "--force",
      ], set);
      assert.equal(code, 0, set.err);
      const config = parse(await Deno.readTextFile(kubeconfig));
      const args: string[] = config.users[0].user.exec.args;
      assert.ok(args.includes(`--before-exec-command=${line}`), JSON.stringify(args));
      const plugin = fakeIo({ env: { ...env, KUBERNETES_EXEC_INFO: V1_EXEC_INFO }, cwd: tmp.path });
      assert.equal(await runPlugin(args, plugin), 0, plugin.err);
      assert.equal(JSON.parse(plugin.out).status.token, "renewed-token");
      assert.equal(await Deno.readTextFile(seen), "[--role]\n[dev team]\n");
    });
  }
});
