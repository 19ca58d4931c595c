/**
 * scripts/args.ts: every script reads its command line with the broker's own parser and answers -h/--help. The
 * parser and the help text in process; one script run to show the wiring (a flag it does not take). Every script
 * answering --help, each a deno run of its own, is in tests/scripts_args_process_test.ts (the process tier).
 */
import assert from "node:assert/strict";
import { parseScriptArgs, scriptHelp } from "../scripts/args.ts";
import { UsageError } from "../lib/shared/errors.ts";
import { ROOT } from "./helpers.ts";
import { run } from "./release/release_helpers.ts";

const BUILD_LIKE = {
  usage: "deno task build [--target OS/ARCH]... [--tag vX.Y.Z]",
  about: "builds",
  flags: [
    { name: "target", kind: "list", value: "OS/ARCH", help: "a platform" },
    { name: "tag", kind: "string", value: "vX.Y.Z", help: "the tag" },
    { name: "dry", kind: "boolean", help: "do nothing" },
  ],
  positionals: { max: 1 },
} as const;

Deno.test("parseScriptArgs() reads a script's flags and words as the plugin's parser does", async (t) => {
  const rows: [string, string[], unknown][] = [
    ["nothing", [], { values: { target: [] }, positionals: [] }],
    [
      "both forms, a list flag twice and one word",
      ["--target", "linux/amd64", "--target=windows/amd64", "--tag=v1.0.0", "--dry", "x"],
      {
        values: { target: ["linux/amd64", "windows/amd64"], tag: "v1.0.0", dry: true },
        positionals: ["x"],
      },
    ],
  ];
  for (const [name, argv, expected] of rows) {
    await t.step(name, () => {
      const parsed = parseScriptArgs(BUILD_LIKE, argv);
      assert.ok(!parsed.help);
      assert.deepEqual({ values: parsed.values, positionals: parsed.positionals }, expected);
    });
  }
  for (const argv of [["--help"], ["-h"], ["--tag", "v1", "--help", "extra", "words"]]) {
    await t.step(`${argv.join(" ")} asks for help`, () => {
      assert.deepEqual(parseScriptArgs(BUILD_LIKE, argv), { help: true });
    });
  }
});

Deno.test("parseScriptArgs() refuses what a script does not take, naming it", async (t) => {
  const rows: [string, string[], RegExp, string | undefined][] = [
    ["a typo", ["--targt", "x"], /^unknown flag --targt$/, "did you mean --target?"],
    ["a flag without its value", ["--tag"], /^flag --tag needs a value$/, undefined],
    ["one word too many", ["a", "b"], /^unexpected argument "b"$/, undefined],
  ];
  for (const [name, argv, message, hint] of rows) {
    await t.step(name, () => {
      assert.throws(() => parseScriptArgs(BUILD_LIKE, argv), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, message);
        if (hint) assert.equal(error.hint, hint);
        return true;
      });
    });
  }
  await t.step("too few words", () => {
    assert.throws(
      () => parseScriptArgs({ ...BUILD_LIKE, positionals: { min: 1, max: 2 } }, []),
      /missing arguments/,
    );
  });
});

Deno.test("parseScriptArgs() with passThrough hands on every word from the first it does not know", async (t) => {
  const line = {
    usage: "deno task test:windows [deno test arguments] | --deno ARGS...",
    about: "",
    flags: [{ name: "deno", kind: "boolean", help: "run deno.exe" }],
    passThrough: true,
  } as const;
  const rows: [string, string[], boolean | undefined, string[]][] = [
    ["deno test's own flags", ["--filter", "x", "tests/plugin"], undefined, [
      "--filter",
      "x",
      "tests/plugin",
    ]],
    ["its flag first", ["--deno", "eval", "--help"], true, ["eval", "--help"]],
    ["-- starts what is handed on", ["--", "--deno"], undefined, ["--", "--deno"]],
    ["nothing", [], undefined, []],
  ];
  for (const [name, argv, deno, rest] of rows) {
    await t.step(name, () => {
      const parsed = parseScriptArgs(line, argv);
      assert.ok(!parsed.help);
      assert.equal(parsed.values.deno, deno);
      assert.deepEqual(parsed.positionals, rest);
    });
  }
  await t.step("--help before the rest is the script's", () => {
    assert.deepEqual(parseScriptArgs(line, ["--help", "--filter", "x"]), { help: true });
  });
});

Deno.test("scriptHelp() shows the usage, what the script does and every flag with -h/--help", () => {
  assert.equal(
    scriptHelp(BUILD_LIKE),
    `Usage: deno task build [--target OS/ARCH]... [--tag vX.Y.Z]

builds

Flags:
      --target OS/ARCH  a platform
      --tag vX.Y.Z      the tag
      --dry             do nothing
  -h, --help            show this help
`,
  );
});

Deno.test("a script given a flag it does not take says so with its usage line and exits 2", async () => {
  const wrong = await run(
    Deno.execPath(),
    ["run", "--allow-all", "scripts/smoke.ts", "--keeep", "d", "a.tar.gz"],
    { cwd: ROOT },
  );
  assert.equal(wrong.code, 2, wrong.stderr);
  assert.equal(
    wrong.stderr,
    "error: unknown flag --keeep\nhint: did you mean --keep?\n" +
      "usage: deno run -A scripts/smoke.ts [--keep DIR] ARCHIVE...\n",
  );
  assert.equal(wrong.stdout, "");
});
