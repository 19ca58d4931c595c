/**
 * Permissions that narrow, for the uses that only print or end early (the process tier, PROCESS_TESTS in
 * scripts/test.ts: a process apiece): `help` (and `help COMMAND`, every command's `--help`) and `version` give up every kind but
 * env (which every use keeps: the error report reads the debug switch), and doctor gives up the network on every
 * path that ends before an issuer's checks (no such user, no exec block, no kubeconfig, --help). Each command of
 * the installed broker reports what Deno says it still holds (KUBECTL_CREDENTIALS_BROKER_DEBUG), as
 * tests/shared/permissions_process_test.ts does for the other uses.
 */
import assert from "node:assert/strict";
import { PERMISSION_KINDS, type PermissionKind } from "../../lib/shared/permissions.ts";
import { installedBroker, pluginEnv, run, tempDir, V1_EXEC_INFO } from "../helpers.ts";

/** The states the broker's debug line reports after each narrowing, as "use: kind=state ..." lines, in order. */
function narrowings(stderr: string): string[] {
  return [...stderr.matchAll(/^debug: permissions after narrowing for (.+)$/gm)].map((m) => m[1]!);
}

/** The debug line's text for `use` keeping `kept` ("prompt", refused with --no-prompt, for the rest). */
function holding(use: string, ...kept: PermissionKind[]): string {
  return `${use}: ${
    PERMISSION_KINDS.map((kind) => `${kind}=${kept.includes(kind) ? "granted" : "prompt"}`).join(
      " ",
    )
  }`;
}

/** What help and version keep: env only, which every use keeps (the error report reads the debug switch). */
const ENV_ONLY = PERMISSION_KINDS.map((kind) => `${kind}=${kind === "env" ? "granted" : "prompt"}`)
  .join(" ");

Deno.test("help (every command's) and version give up every kind but env before they print, and doctor gives up the network on its early exits", async (t) => {
  await using tmp = await tempDir("ccb perms ");
  const broker = await installedBroker();
  const kubeconfig = tmp.join("config");
  await Deno.writeTextFile(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: static
  user: {token: not-a-real-token}
contexts:
- name: c
  context: {cluster: c, user: static}
current-context: c
`,
  );
  const env = pluginEnv(tmp.path, {
    KUBECTL_CREDENTIALS_BROKER_DEBUG: "1",
    KUBERNETES_EXEC_INFO: V1_EXEC_INFO,
  });
  const doctor = holding("doctor", "read", "run", "env", "sys", "net");
  const status = holding("status", "read", "env", "sys");
  const editor = holding("kubeconfig", "read", "write", "env", "sys");
  const completion = holding("completion", "read", "env", "sys");
  const afterIssuer = holding("doctor after issuer checks", "read", "run", "env", "sys");
  const cases: [string, string[], string[], RegExp][] = [
    ["help", ["help"], [`help: ${ENV_ONLY}`], /^kubectl-credentials_broker \S+: a client-go/],
    ["--help", ["--help"], [`help: ${ENV_ONLY}`], /^kubectl-credentials_broker \S+: a client-go/],
    ["version", ["version"], [`version: ${ENV_ONLY}`], /^kubectl-credentials_broker \S+\n$/],
    ["--version", ["--version"], [`version: ${ENV_ONLY}`], /^kubectl-credentials_broker \S+\n$/],
    // The router narrows for `help COMMAND`, then the command's own --help again: env only either time. Typed
    // directly, `COMMAND --help` narrows for the command first, then for help.
    [
      "help doctor",
      ["help", "doctor"],
      [`help: ${ENV_ONLY}`, `help: ${ENV_ONLY}`],
      /doctor \[flags\]/,
    ],
    ["help status", ["help", "status"], [`help: ${ENV_ONLY}`, `help: ${ENV_ONLY}`], /status/],
    ["status --help", ["status", "--help"], [status, `help: ${ENV_ONLY}`], /status \[flags\]/],
    ["kubeconfig --help", ["kubeconfig", "--help"], [editor, `help: ${ENV_ONLY}`], /set/],
    [
      "kubeconfig set --help",
      ["kubeconfig", "set", "--help"],
      [editor, `help: ${ENV_ONLY}`],
      /set/,
    ],
    ["completion --help", ["completion", "--help"], [completion, `help: ${ENV_ONLY}`], /bash/],
    ["doctor --help", ["doctor", "--help"], [doctor, `help: ${ENV_ONLY}`], /doctor \[flags\]/],
    [
      "doctor, a user that is not defined",
      [
        "doctor",
        "--kubeconfig",
        kubeconfig,
        "--user",
        "nobody",
        "--skip-run",
      ],
      [doctor, afterIssuer],
      /kubeconfig user/,
    ],
    [
      "doctor, a user without an exec block",
      [
        "doctor",
        "--kubeconfig",
        kubeconfig,
        "--skip-run",
      ],
      [doctor, afterIssuer],
      /exec block/,
    ],
    [
      "doctor, no kubeconfig at all",
      [
        "doctor",
        "--kubeconfig",
        tmp.join("missing"),
        "--skip-run",
      ],
      [doctor, afterIssuer],
      /kubeconfig user/,
    ],
  ];
  for (const [name, args, narrowed, output] of cases) {
    await t.step(name, async () => {
      const result = await run(broker, args, { cwd: tmp.path, env });
      assert.deepEqual(narrowings(result.stderr), narrowed, result.stderr);
      assert.match(result.stdout, output, result.stderr);
      assert.doesNotMatch(result.stderr, /^error:/m);
    });
  }
});
