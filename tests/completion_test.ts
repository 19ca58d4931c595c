/**
 * Shell completion in process: what complete() offers, how __complete prints it, the scripts `completion` prints,
 * the names read from kubeconfig files. A real bash, fish, zsh or kubectl completing through the scripts, and the
 * installed broker answering, are processes by nature: tests/completion_process_test.ts (the process tier).
 */
import assert from "node:assert/strict";
import { BROKER_FLAGS } from "../lib/plugin/broker_options.ts";
import {
  complete,
  completionCommand,
  completionScript,
  Directive,
  formatCompletions,
} from "../lib/completion.ts";
import { UsageError } from "../lib/shared/errors.ts";
import { join } from "node:path";
import { HOST_OS } from "../lib/shared/platform.ts";
import { fakeIo } from "./helpers.ts";
import { tempDir } from "./release/release_helpers.ts";
import { twoKubeconfigs } from "./completion_fixtures.ts";

const words = (args: string[], word: string) =>
  complete(args, word).candidates.map((c) => c.split("\t")[0]);

Deno.test("complete() follows cobra: subcommands, flags after -, values after a flag", async (t) => {
  const cases: [string, string[], string, string[], number][] = [
    ["subcommands", [], "", ["kubeconfig", "doctor", "status", "completion", "version", "help"], 4],
    ["subcommand prefix", [], "d", ["doctor"], 4],
    ["kubeconfig's subcommand", ["kubeconfig"], "", ["set"], 4],
    ["no positional for the plugin", ["kubeconfig", "set"], "", [], 4],
    ["shells", ["completion"], "", ["bash", "zsh", "fish"], 4],
    ["shell prefix", ["completion"], "z", ["zsh"], 4],
    ["only one shell", ["completion", "bash"], "", [], 4],
    ["help topics", ["help"], "k", ["kubeconfig"], 4],
    ["root flags", [], "--before-exec-p", ["--before-exec-policy"], 4],
    ["--version at the root", [], "--vers", ["--version"], 4],
    ["no --version below", ["completion"], "--", ["--help"], 4],
    ["-h is --help, given already", ["status", "-h"], "--h", [], 4],
    ["doctor flags", ["doctor"], "--c", ["--context"], 4],
    ["status flags", ["status"], "--", [
      "--kubeconfig",
      "--context",
      "--user",
      "--output",
      "--help",
    ], 4],
    ["status -o values", ["status", "-o"], "", ["text", "json"], 4],
    ["doctor --output value prefix", ["doctor", "--output"], "j", ["json"], 4],
    ["status --kubeconfig completes files", ["status", "--kubeconfig"], "", [], 0],
    ["kubeconfig set flags", ["kubeconfig", "set"], "--interactive-m", ["--interactive-mode"], 4],
    ["interactive modes", ["kubeconfig", "set", "--interactive-mode"], "", [
      "Never",
      "IfAvailable",
      "Always",
    ], 4],
    ["given flags are not offered again", ["--token-path", "t"], "--tok", [], 4],
    ["policy values", ["--before-exec-policy"], "", ["always", "when-invalid"], 4],
    ["issuers", ["--issuer"], "", ["vault", "step-ca", "cfssl"], 4],
    ["key types", ["kubeconfig", "set", "--key-type"], "ec", ["ec-p256", "ec-p384"], 4],
    [
      "policy value prefix",
      ["kubeconfig", "set", "--before-exec-policy"],
      "w",
      ["when-invalid"],
      4,
    ],
    ["value after =", [], "--before-exec-policy=a", ["always"], 4],
    ["file flag completes files", ["--client-key-path"], "", [], 0],
    ["dir flag completes folders", ["kubeconfig", "set", "--cache-dir"], "", [], 16],
    ["duration has no files", ["--refresh-margin"], "", [], 4],
    ["a flag value is not a subcommand", ["--token-path", "doctor"], "", [
      "kubeconfig",
      "doctor",
      "status",
      "completion",
      "version",
      "help",
    ], 4],
    ["after --, no flags", ["--"], "--", [], 4],
    ["unknown flag with =", [], "--nope=", [], 4],
  ];
  for (const [name, args, word, expected, directive] of cases) {
    await t.step(name, () => {
      assert.deepEqual(words(args, word), expected);
      assert.equal(complete(args, word).directive, directive);
    });
  }
});

Deno.test("complete() offers every broker flag, with its help as the description", () => {
  const flags = complete(["kubeconfig", "set"], "--").candidates;
  for (const spec of BROKER_FLAGS) {
    assert.ok(flags.includes(`--${spec.name}\t${spec.help}`), spec.name);
  }
  assert.ok(flags.includes("--help\tshow help"));
});

Deno.test("formatCompletions() prints one candidate per line, then :directive", () => {
  assert.equal(
    formatCompletions({ candidates: ["a\tA", "b"], directive: Directive.noFileComp }),
    "a\tA\nb\n:4\n",
  );
  assert.equal(formatCompletions({ candidates: [], directive: Directive.default }), ":0\n");
});

Deno.test("completionCommand() answers __complete with the last word as the one to complete", async () => {
  const io = fakeIo({ now: new Date(0) });
  assert.equal(await completionCommand(["__complete", "kubeconfig", "s"], io), 0);
  assert.equal(io.out, "set\tpoint a kubeconfig user at the broker\n:4\n");
  const bare = fakeIo({ now: new Date(0) });
  await completionCommand(["__complete"], bare);
  assert.match(bare.out, /^kubeconfig\t/);
});

Deno.test("completionCommand() prints each shell's script to stdout", async (t) => {
  for (const shell of ["bash", "zsh", "fish"] as const) {
    await t.step(shell, async () => {
      const io = fakeIo({ now: new Date(0) });
      assert.equal(await completionCommand(["completion", shell], io), 0);
      assert.equal(io.out, completionScript(shell));
      assert.match(io.out, /__complete/);
      assert.equal(io.err, "");
    });
  }
});

Deno.test("completionCommand() refuses a missing, unknown or extra shell with a usage error", async (t) => {
  const cases: [string[], RegExp][] = [
    [["completion"], /^completion needs a shell: bash, zsh or fish$/],
    [["completion", "powershell"], /^unknown shell "powershell": use bash, zsh or fish$/],
    [["completion", "bash", "zsh"], /^unexpected argument "zsh"$/],
  ];
  for (const [argv, message] of cases) {
    await t.step(argv.join(" "), async () => {
      await assert.rejects(
        completionCommand(argv, fakeIo({ now: new Date(0) })),
        (e) => e instanceof UsageError && e.exitCode === 2 && message.test(e.message),
      );
    });
  }
});

Deno.test("__complete offers the kubeconfig's context and user names for --context and --user", async (t) => {
  await using tmp = await tempDir();
  const { a, b } = await twoKubeconfigs(tmp.path);
  // KUBECONFIG is a list with the OS's separator (Go's filepath.SplitList).
  const env = { KUBECONFIG: [a, b].join(HOST_OS === "windows" ? ";" : ":"), HOME: tmp.path };
  const cases: [string, string[], string][] = [
    [
      "doctor --context, merged KUBECONFIG",
      ["doctor", "--context", ""],
      "dev\nprod\nstaging\n:4\n",
    ],
    ["doctor --user, a line break never offered", ["doctor", "--user", ""], "alice\nbob\n:4\n"],
    ["a prefix", ["doctor", "--context", "s"], "staging\n:4\n"],
    [
      "--kubeconfig typed before wins",
      ["doctor", "--kubeconfig", b, "--context", ""],
      "dev\nstaging\n:4\n",
    ],
    ["--kubeconfig= and --user=", ["doctor", `--kubeconfig=${a}`, "--user="], "alice\n:4\n"],
    ["kubeconfig set --user", ["kubeconfig", "set", "--user", "b"], "bob\n:4\n"],
    ["kubeconfig set --context", ["kubeconfig", "set", "--context", "p"], "prod\n:4\n"],
    ["a missing kubeconfig offers nothing", [
      "doctor",
      "--kubeconfig",
      join(tmp.path, "nope"),
      "--user",
      "",
    ], ":4\n"],
  ];
  for (const [name, words, expected] of cases) {
    await t.step(name, async () => {
      const io = fakeIo({ env, cwd: tmp.path });
      assert.equal(await completionCommand(["__complete", ...words], io), 0);
      assert.equal(io.out, expected);
      assert.equal(io.err, "");
    });
  }
  await t.step("relative --kubeconfig against the working folder", async () => {
    const io = fakeIo({ env: { HOME: tmp.path }, cwd: tmp.path });
    await completionCommand(
      ["__complete", "doctor", "--kubeconfig", "a.yaml", "--context", ""],
      io,
    );
    assert.equal(io.out, "dev\nprod\n:4\n");
  });
});
