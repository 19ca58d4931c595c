/**
 * Shell completion as processes meet it (the process tier, PROCESS_TESTS in scripts/test.ts): a real bash, fish
 * and zsh running the scripts `completion` prints, the installed kubectl_complete-credentials_broker, kubectl
 * completing through it, and the installed broker answering __complete. What the completion logic offers is
 * tested in process in tests/completion_test.ts; a test that starts a shell, kubectl or the broker goes here.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { completionScript } from "../lib/completion.ts";
import { completionName, installCompletion } from "../scripts/install.ts";
import { hasPosixPermissions, HOST_OS } from "../lib/shared/platform.ts";
import { DENO_DIR, installedBroker, writeExecutable } from "./helpers.ts";
import { onPath, run, tempDir } from "./release/release_helpers.ts";
import { twoKubeconfigs } from "./completion_fixtures.ts";

const libDir = fileURLToPath(new URL("../lib/", import.meta.url));

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

Deno.test("the installed broker answers __complete with the merged KUBECONFIG's contexts, as in process", async () => {
  await using tmp = await tempDir();
  const { a, b } = await twoKubeconfigs(tmp.path);
  // KUBECONFIG is a list with the OS's separator (Go's filepath.SplitList).
  const env = { KUBECONFIG: [a, b].join(HOST_OS === "windows" ? ";" : ":"), HOME: tmp.path };
  const result = await run(await installedBroker(), ["__complete", "doctor", "--context", ""], {
    cwd: tmp.path,
    env: { ...env, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", DENO_DIR },
  });
  assert.equal(result.stdout, "dev\nprod\nstaging\n:4\n", result.stderr);
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
