/**
 * Scenario 3 (and its half of scenario 4): `kubectl credentials-broker kubeconfig set -f`, reached through
 * kubectl's plugin mechanism, writes an exec block that every installed kubectl accepts and runs: v1beta1 (no
 * interactiveMode needed) and v1 with each interactiveMode. provideClusterInfo lets the renewal script read the
 * server URL from KUBERNETES_EXEC_INFO, kubeconfig `env` entries reach it, and spec.interactive follows the mode:
 * with a terminal (util-linux `script`) and without.
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { e2eTest, parseJson } from "./e2e.ts";
import type {
  ExecApiVersion,
  ExecConfig,
  InteractiveMode,
} from "../../scripts/world/kubeconfig.ts";
import { findKubectls } from "../../scripts/world/kubectl.ts";
import { which } from "../../scripts/world/process.ts";
import type { RenewalScript } from "../../scripts/world/renewal_script.ts";
import { type Client, World } from "../../scripts/world/world.ts";

const kubectls = await findKubectls();
const haveTerminal = which("script") !== undefined;

interface Case {
  apiVersion: ExecApiVersion;
  mode?: InteractiveMode;
  /** spec.interactive the plugin should see without a terminal, or "refused" when kubectl refuses to run it. */
  withoutTerminal: boolean | "refused";
  withTerminal: boolean;
}

const CASES: Case[] = [
  {
    apiVersion: "client.authentication.k8s.io/v1beta1",
    withoutTerminal: false,
    withTerminal: true,
  },
  {
    apiVersion: "client.authentication.k8s.io/v1",
    mode: "Never",
    withoutTerminal: false,
    withTerminal: false,
  },
  {
    apiVersion: "client.authentication.k8s.io/v1",
    mode: "IfAvailable",
    withoutTerminal: false,
    withTerminal: true,
  },
  {
    apiVersion: "client.authentication.k8s.io/v1",
    mode: "Always",
    withoutTerminal: "refused",
    withTerminal: true,
  },
];

interface ExecInfo {
  apiVersion: string;
  spec: { interactive: boolean; cluster?: { server: string } };
}

async function lastExecInfo(script: RenewalScript): Promise<ExecInfo> {
  const infos = await script.execInfos();
  assert.ok(infos.length > 0, "the renewal script ran");
  return parseJson<ExecInfo>(infos.at(-1)!);
}

async function readExec(client: Client): Promise<ExecConfig> {
  const config = parseYaml(await Deno.readTextFile(client.kubeconfig)) as {
    users: { name: string; user: { exec?: ExecConfig } }[];
  };
  const exec = config.users.find((u) => u.name === "alice")?.user.exec;
  assert.ok(exec, "kubeconfig set wrote an exec block for the context's user");
  return exec;
}

e2eTest(
  "the exec block written by `kubectl credentials-broker kubeconfig set -f` works for every kubectl, apiVersion and interactiveMode",
  { nginx: true, kubectl: true },
  kubectls,
  async (t) => {
    await using world = await World.start({ installBroker: true });
    const exercised = new Set<string>();
    let command: string | undefined;
    for (const kubectl of kubectls) {
      for (const c of CASES) {
        await t.step(
          `${kubectl.version} ${c.apiVersion} ${c.mode ?? "(no interactiveMode)"}`,
          async () => {
            const client = await world.client(kubectl);
            const script = await world.renewalScript(client.name);
            await world.writeKubeconfig(client);
            const set = await client.run([
              "credentials-broker",
              "kubeconfig",
              "set",
              "-f",
              "--kubeconfig",
              client.kubeconfig,
              "--context",
              "e2e",
              "--exec-api-version",
              c.apiVersion,
              ...(c.mode ? ["--interactive-mode", c.mode] : []),
              "--provide-cluster-info",
              "--env",
              "E2E_MARKER=from-kubeconfig",
              `--client-certificate-path=${script.certPath}`,
              `--client-key-path=${script.keyPath}`,
              `--before-exec-command=${script.command}`,
              "--before-exec-policy=always",
            ]);
            assert.equal(set.code, 0, `kubeconfig set failed:\n${set.stderr}`);
            const exec = await readExec(client);
            assert.equal(exec.apiVersion, c.apiVersion);
            if (c.mode) assert.equal(exec.interactiveMode, c.mode);
            assert.equal(exec.provideClusterInfo, true);
            command ??= exec.command +
              (exec.args?.[0] === "credentials-broker" ? " credentials-broker" : "");

            const plain = await client.run(["get", "--raw", "/version"]);
            if (c.withoutTerminal === "refused") {
              assert.notEqual(plain.code, 0);
              assert.match(plain.stderr, /standard input is not a terminal/);
              assert.equal(await script.runs(), 0, "kubectl refused before running the plugin");
            } else {
              assert.equal(plain.code, 0, plain.stderr);
              assert.match(plain.stdout, /"gitVersion":"v1\.32\.0"/);
              const info = await lastExecInfo(script);
              assert.equal(info.apiVersion, c.apiVersion);
              assert.equal(info.spec.interactive, c.withoutTerminal);
              assert.equal(
                info.spec.cluster?.server,
                world.server,
                "provideClusterInfo passes the server URL",
              );
              assert.equal(
                (await script.markers()).at(-1),
                "from-kubeconfig",
                "exec.env reaches the script",
              );
            }

            if (haveTerminal) {
              const runsBefore = await script.runs();
              const terminal = await client.runInTerminal(["get", "--raw", "/version"]);
              assert.equal(terminal.code, 0, terminal.stdout + terminal.stderr);
              assert.match(terminal.stdout, /"gitVersion":"v1\.32\.0"/);
              assert.ok(await script.runs() > runsBefore);
              const info = await lastExecInfo(script);
              assert.equal(
                info.spec.interactive,
                c.withTerminal,
                "spec.interactive with a terminal",
              );
              assert.equal(info.spec.cluster?.server, world.server);
            }
            exercised.add(kubectl.version);
          },
        );
      }
    }
    console.log(
      `kubectl versions exercised: ${exercised.size} (${
        [...exercised].join(", ")
      }); exec command written: ${command}` +
        (haveTerminal ? "" : "; terminal cases skipped (util-linux `script` not found)"),
    );
    assert.equal(exercised.size, kubectls.length);
  },
);
