import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { BROKER_FLAGS } from "../lib/plugin/broker_options.ts";
import {
  complete,
  completionCommand,
  completionScript,
  Directive,
  formatCompletions,
} from "../lib/completion.ts";
import { UsageError } from "../lib/shared/errors.ts";
import { completionName, installCompletion } from "../scripts/install.ts";
import { hasPosixPermissions, HOST_OS } from "../lib/shared/platform.ts";
import { DENO_DIR, fakeIo, installedBroker, writeExecutable } from "./helpers.ts";
import { onPath, run, tempDir } from "./release/release_helpers.ts";

const libDir = fileURLToPath(new URL("../lib/", import.meta.url));

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

/** A PATH folder with a `kubectl-credentials_broker` that answers completion as the real one routes it. */
async function fakePlugin(dir: string): Promise<string> {
  const bin = join(dir, "bin");
  await Deno.mkdir(bin);
  const entry = join(dir, "entry.ts");
  await Deno.writeTextFile(
    entry,
    `import { completionCommand } from ${JSON.stringify(join(libDir, "completion.ts"))};\n` +
      `import { processIo } from ${JSON.stringify(join(libDir, "shared/io.ts"))};\n` +
      "Deno.exit(await completionCommand(Deno.args, processIo()));\n",
  );
  writeExecutable(bin, "kubectl-credentials_broker", [{ import: pathToFileURL(entry).href }], {
    config: join(libDir, "..", "deno.json"),
  });
  return bin;
}

/** Runs the bash script's completion function as bash would for `line`, returning COMPREPLY. */
async function bashComplete(bin: string, cwd: string, line: string): Promise<string[]> {
  const script = completionScript("bash");
  const result = await run("bash", [
    "--norc",
    "--noprofile",
    "-c",
    `${script}\nCOMP_LINE="$1"; COMP_POINT=\${#COMP_LINE}\n` +
    `__kubectl_credentials_broker_complete\nprintf '%s\\n' "\${COMPREPLY[@]}"`,
    "bash",
    line,
  ], { cwd, env: { PATH: `${bin}:${Deno.env.get("PATH")}`, HOME: cwd } });
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.split("\n").filter((l) => l !== "");
}

Deno.test({
  name: "the bash script completes subcommands, flags, values and folders in a real bash" +
    (onPath("bash") ? "" : " (ignored: bash is not installed)"),
  ignore: !onPath("bash"),
  async fn(t) {
    await using tmp = await tempDir();
    const bin = await fakePlugin(tmp.path);
    await Deno.mkdir(join(tmp.path, "locks"));
    await Deno.writeTextFile(join(tmp.path, "lockfile"), "");
    const cases: [string, string[]][] = [
      ["kubectl-credentials_broker ", [
        "kubeconfig",
        "doctor",
        "status",
        "completion",
        "version",
        "help",
      ]],
      ["kubectl-credentials_broker kubeconfig s", ["set"]],
      ["kubectl-credentials_broker kubeconfig set --client-c", ["--client-certificate-path"]],
      ["kubectl-credentials_broker --before-exec-policy=w", ["when-invalid"]],
      ["kubectl-credentials_broker --before-exec-policy ", ["always", "when-invalid"]],
      ["kubectl-credentials_broker --cache-dir lo", ["locks"]],
      ["kubectl-credentials_broker --token-path lo", ["lockfile", "locks"]],
      ["kubectl-credentials_broker version ", []],
    ];
    for (const [line, expected] of cases) {
      await t.step(line, async () => {
        assert.deepEqual((await bashComplete(bin, tmp.path, line)).sort(), expected.sort());
      });
    }
  },
});

Deno.test({
  name: "the fish script completes through __complete in a real fish" +
    (onPath("fish") ? "" : " (ignored: fish is not installed)"),
  ignore: !onPath("fish"),
  async fn() {
    await using tmp = await tempDir();
    const bin = await fakePlugin(tmp.path);
    const result = await run("fish", [
      "--no-config",
      "-c",
      `${
        completionScript("fish")
      }\ncomplete -C 'kubectl-credentials_broker kubeconfig set --before-exec-policy=w'\n` +
      "complete -C 'kubectl-credentials_broker comp'",
    ], { cwd: tmp.path, env: { PATH: `${bin}:${Deno.env.get("PATH")}`, HOME: tmp.path } });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      "--before-exec-policy=when-invalid\n" +
        "completion\tprint a shell completion script (bash, zsh, fish)\n",
    );
  },
});

Deno.test({
  name: "the zsh script is valid zsh" +
    (onPath("zsh") ? "" : " (ignored: zsh is not installed)"),
  ignore: !onPath("zsh"),
  async fn() {
    await using tmp = await tempDir();
    const file = join(tmp.path, "_kubectl_credentials_broker");
    await Deno.writeTextFile(file, completionScript("zsh"));
    const result = await run("zsh", ["-n", file]);
    assert.equal(result.code, 0, result.stderr);
  },
});

Deno.test("the installed kubectl_complete executable hands its words to the plugin's __complete", async () => {
  await using tmp = await tempDir();
  const dir = join(tmp.path, "it's here");
  await Deno.mkdir(dir);
  // A stand-in broker that shows the arguments it got.
  const shim = writeExecutable(dir, "kubectl-credentials_broker", [
    { print: { argv: "" }, end: "" },
  ]);
  const path = await installCompletion(shim);
  assert.equal(path, join(dir, completionName(HOST_OS)));
  // Windows has no execute bit: a .cmd runs by its name.
  if (hasPosixPermissions(HOST_OS)) assert.equal((await Deno.stat(path)).mode! & 0o777, 0o755);
  const result = await run(path, ["kubeconfig", "set", ""]);
  assert.equal(result.stdout, "[__complete][kubeconfig][set][]");
});

Deno.test({
  name:
    "kubectl completes `kubectl credentials-broker <TAB>` through kubectl_complete-credentials_broker" +
    (onPath("kubectl") ? "" : " (ignored: kubectl is not installed)"),
  ignore: !onPath("kubectl"),
  async fn() {
    await using tmp = await tempDir();
    const bin = await fakePlugin(tmp.path);
    await installCompletion(join(bin, "kubectl-credentials_broker"));
    const env = { PATH: `${bin}:${Deno.env.get("PATH")}`, HOME: tmp.path };
    const result = await run("kubectl", ["__complete", "credentials-broker", "kubeconfig", ""], {
      env,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "set\tpoint a kubeconfig user at the broker\n:4\n");
    const flags = await run("kubectl", [
      "__complete",
      "credentials-broker",
      "--before-exec-policy=",
    ], {
      env,
    });
    assert.equal(flags.stdout, "always\nwhen-invalid\n:4\n");
  },
});

/** Two kubeconfig files in `dir`, as KUBECONFIG would merge them: a's entries win, b adds its own. */
async function twoKubeconfigs(dir: string): Promise<{ a: string; b: string }> {
  const a = join(dir, "a.yaml");
  const b = join(dir, "b.yaml");
  await Deno.writeTextFile(
    a,
    "apiVersion: v1\nkind: Config\ncontexts:\n- name: dev\n  context: {user: alice}\n" +
      "- name: prod\n  context: {user: alice}\nusers:\n- name: alice\n  user: {}\n",
  );
  await Deno.writeTextFile(
    b,
    "apiVersion: v1\nkind: Config\ncontexts:\n- name: dev\n  context: {user: bob}\n" +
      "- name: staging\n  context: {user: bob}\nusers:\n- name: bob\n  user: {}\n" +
      '- name: "bad\\nname"\n  user: {}\n',
  );
  return { a, b };
}

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
  await t.step("the installed broker answers the same", async () => {
    const result = await run(await installedBroker(), ["__complete", "doctor", "--context", ""], {
      cwd: tmp.path,
      env: { ...env, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", DENO_DIR },
    });
    assert.equal(result.stdout, "dev\nprod\nstaging\n:4\n", result.stderr);
  });
});

Deno.test({
  name: "kubectl completes `kubectl credentials-broker doctor --user <TAB>` from the kubeconfig" +
    (onPath("kubectl") ? "" : " (ignored: kubectl is not installed)"),
  ignore: !onPath("kubectl"),
  async fn() {
    await using tmp = await tempDir();
    const { a, b } = await twoKubeconfigs(tmp.path);
    const bin = await fakePlugin(tmp.path);
    await installCompletion(join(bin, "kubectl-credentials_broker"));
    const result = await run(
      "kubectl",
      ["__complete", "credentials-broker", "doctor", "--user", ""],
      { env: { PATH: `${bin}:${Deno.env.get("PATH")}`, HOME: tmp.path, KUBECONFIG: `${a}:${b}` } },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "alice\nbob\n:4\n");
  },
});
