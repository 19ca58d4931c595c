/**
 * Permissions that narrow at run time, as a process meets them (the process tier, PROCESS_TESTS in
 * scripts/test.ts): Deno grants and revokes per process, so each case is a process of its own. A real operation
 * of each kind tried after narrowing with the installed broker's flags, the prompt a terminal would show without
 * --no-prompt, and each command of the installed broker reporting what Deno says it still holds once it has parsed
 * its flags. The tables and the Io seam are tested in process in tests/shared/permissions_test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  KEPT_PERMISSIONS,
  PERMISSION_KINDS,
  type PermissionKind,
  type PermissionUse,
} from "../../lib/shared/permissions.ts";
import { BROKER_PERMISSIONS } from "../../lib/plugin/before_exec.ts";
import {
  clientCredentials,
  installedBroker,
  pluginEnv,
  ROOT,
  run,
  tempDir,
  V1_EXEC_INFO,
} from "../helpers.ts";

/** Whether util-linux `script` can give a command a terminal (Linux); the prompt needs one to appear at all. */
const HAS_SCRIPT = Deno.build.os === "linux" && (() => {
  try {
    return Deno.statSync("/usr/bin/script").isFile;
  } catch {
    return false;
  }
})();

const shellWord = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/**
 * Runs `argv` on a terminal of its own (util-linux `script`) and returns what it printed: until it ends, or until
 * Deno asks for a permission (then it is killed, as no one is there to answer).
 */
async function atTerminal(argv: string[]): Promise<string> {
  const child = new Deno.Command("script", {
    args: ["-qec", argv.map(shellWord).join(" "), "/dev/null"],
    // Kept open: at the end of its input `script` would end the session before a prompt could show.
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "", TERM: "dumb" },
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    output += decoder.decode(chunk, { stream: true });
    if (output.includes("Deno requests")) {
      child.kill("SIGKILL"); // its terminal closes, and the Deno waiting at the prompt gets a hangup
      break;
    }
  }
  await child.stdin.close().catch(() => {});
  await child.status;
  // deno-lint-ignore no-control-regex -- Deno colours its prompt: the escape sequences go
  return output.replace(/\x1b\[[0-9;]*m/g, "");
}

Deno.test({
  name:
    "at a terminal, a revoked kind is refused with the broker's flags (--no-prompt), where without them Deno would ask",
  ignore: !HAS_SCRIPT,
  async fn() {
    await using tmp = await tempDir("ccb perms ");
    const probe = join(ROOT, "tests", "fixtures", "permission_probe.ts");
    const argv = (
      flags: readonly string[],
    ) => [
      Deno.execPath(),
      "run",
      "--no-config",
      ...flags,
      "--quiet",
      probe,
      "status",
      tmp.path,
      "9",
    ];
    const refused = await atTerminal(argv(BROKER_PERMISSIONS));
    assert.doesNotMatch(refused, /Deno requests/);
    assert.match(refused, /"write":"NotCapable"/);
    // The control: the same flags without --no-prompt ask at the terminal, where a `y` would undo the narrowing.
    const asked = await atTerminal(
      argv(BROKER_PERMISSIONS.filter((flag) => flag !== "--no-prompt")),
    );
    assert.match(asked, /Deno requests write access/);
  },
});

Deno.test("after narrowing, a real operation of each revoked kind fails with NotCapable, and each kept kind still works", async (t) => {
  await using tmp = await tempDir("ccb perms ");
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = (async () => {
    for await (const connection of listener) connection.close();
  })();
  const probe = join(ROOT, "tests", "fixtures", "permission_probe.ts");
  for (const use of Object.keys(KEPT_PERMISSIONS) as PermissionUse[]) {
    await t.step(use, async () => {
      const folder = tmp.join(use.replaceAll(" ", "-"));
      await Deno.mkdir(folder);
      const result = await run(Deno.execPath(), [
        "run",
        "--no-config",
        ...BROKER_PERMISSIONS,
        "--quiet",
        probe,
        use,
        folder,
        String(listener.addr.port),
      ], { env: { PATH: Deno.env.get("PATH") ?? "" } });
      assert.equal(result.code, 0, result.stderr);
      const kept: readonly PermissionKind[] = KEPT_PERMISSIONS[use];
      assert.deepEqual(
        JSON.parse(result.stdout),
        Object.fromEntries(
          PERMISSION_KINDS.map((kind) => [kind, kept.includes(kind) ? "allowed" : "NotCapable"]),
        ),
      );
    });
  }
  listener.close();
  await accepting.catch(() => {});
});

/** The states the broker's debug line reports after each narrowing, as kind -> state maps, in order. */
function narrowings(stderr: string): { use: string; states: Record<string, string> }[] {
  return [...stderr.matchAll(/^debug: permissions after narrowing for (.+?): (.*)$/gm)].map((
    m,
  ) => ({
    use: m[1]!,
    states: Object.fromEntries(m[2]!.split(" ").map((pair) => pair.split("="))),
  }));
}

/** kind -> "granted" for the kinds kept, "prompt" (with --no-prompt: refused) for the rest. */
function expected(...kept: PermissionKind[]): Record<string, string> {
  return Object.fromEntries(
    PERMISSION_KINDS.map((kind) => [kind, kept.includes(kind) ? "granted" : "prompt"]),
  );
}

Deno.test("each command of the installed broker holds only its kinds once it has parsed its flags (KUBECTL_CREDENTIALS_BROKER_DEBUG shows Deno's own states)", async (t) => {
  await using tmp = await tempDir("ccb perms ");
  const broker = await installedBroker();
  const { cert, key } = await clientCredentials(tmp.path);
  const files = [`--client-certificate-path=${cert}`, `--client-key-path=${key}`];
  const kubeconfig = tmp.join("config");
  await Deno.writeTextFile(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: alice
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: kubectl-credentials_broker
      args: ${JSON.stringify(files)}
      interactiveMode: Never
contexts:
- name: c
  context: {cluster: c, user: alice}
current-context: c
`,
  );
  const env = pluginEnv(tmp.path, {
    KUBECTL_CREDENTIALS_BROKER_DEBUG: "1",
    KUBERNETES_EXEC_INFO: V1_EXEC_INFO,
  });
  const cases: [string, string[], { use: string; states: Record<string, string> }[]][] = [
    ["the plugin with files only", files, [{
      use: "plugin",
      states: expected("read", "env"),
    }]],
    ["the plugin with a before-exec command (credentials valid, so it does not run)", [
      ...files,
      // Never run, nor looked for: the credentials are valid, and when-invalid runs it only for invalid ones.
      "--before-exec-command=renew-credentials",
      "--before-exec-policy=when-invalid",
    ], [{
      use: "plugin with before-exec command",
      states: expected("read", "write", "run", "env", "sys"),
    }]],
    ["the plugin with an issuer (credentials valid, so nothing is contacted)", [
      ...files,
      "--issuer=cfssl",
      "--issuer-url=https://127.0.0.1:9",
      "--common-name=alice",
    ], [{
      use: "plugin with issuer",
      states: expected("read", "write", "run", "env", "sys", "net"),
    }]],
    ["status", ["status", "--kubeconfig", kubeconfig], [{
      use: "status",
      states: expected("read", "env", "sys"),
    }]],
    ["completion", ["completion", "bash"], [{
      use: "completion",
      states: expected("read", "env", "sys"),
    }]],
    ["__complete", ["__complete", "status", "--user", ""], [{
      use: "completion",
      states: expected("read", "env", "sys"),
    }]],
    ["kubeconfig set", [
      "kubeconfig",
      "set",
      "--kubeconfig",
      kubeconfig,
      "--user",
      "alice",
      "--token-path=/t",
      "--dry-run",
    ], [{ use: "kubeconfig", states: expected("read", "write", "env", "sys") }]],
    ["doctor", ["doctor", "--kubeconfig", kubeconfig, "--skip-run"], [
      { use: "doctor", states: expected("read", "run", "env", "sys", "net") },
      { use: "doctor after issuer checks", states: expected("read", "run", "env", "sys") },
    ]],
  ];
  for (const [name, args, narrowed] of cases) {
    await t.step(name, async () => {
      const result = await run(broker, args, { cwd: tmp.path, env });
      assert.deepEqual(narrowings(result.stderr), narrowed, result.stderr);
      // doctor exits 1 for its failed checks (the exec command is not on this PATH); its report came out.
      if (args[0] === "doctor") assert.match(result.stdout, /kubeconfig user/, result.stderr);
      else assert.equal(result.code, 0, result.stderr);
    });
  }
});
