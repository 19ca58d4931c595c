/**
 * `kubectl credentials-broker kubeconfig set -f`, reached through the real kubectl's plugin lookup (the installed
 * `kubectl-credentials_broker` shim on PATH), writes an exec block that `kubectl config view` reads back.
 */
import assert from "node:assert/strict";
import { dirname, HOST_OS } from "../../lib/shared/platform.ts";
import { DENO_DIR, installBroker, run, tempDir } from "../helpers.ts";

const KUBECTL = "/usr/bin/kubectl";
const haveKubectl = await Deno.stat(KUBECTL).then(() => true, () => false);

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://127.0.0.1:6443
contexts:
- name: prod
  context:
    cluster: prod
    user: alice
current-context: prod
users:
- name: alice
  user:
    token: STATIC-TOKEN
`;

Deno.test({
  name:
    "kubectl credentials-broker kubeconfig set -f writes an exec block that kubectl config view shows",
  ignore: !haveKubectl,
  async fn() {
    await using tmp = await tempDir();
    const shim = await installBroker(`${tmp.path}/root`);
    const bin = dirname(shim, HOST_OS);
    const kubeconfig = `${tmp.path}/config`;
    await Deno.writeTextFile(kubeconfig, KUBECONFIG, { mode: 0o600 });
    const env = {
      PATH: `${bin}:/usr/bin:/bin`,
      HOME: tmp.path,
      KUBECONFIG: kubeconfig,
      DENO_DIR,
    };
    const set = await run(KUBECTL, [
      "credentials-broker",
      "kubeconfig",
      "set",
      "-f",
      "--exec-api-version",
      "client.authentication.k8s.io/v1",
      "--token-path=token",
      "--before-exec-command=/opt/renew.sh --role 'dev team'",
    ], { env, cwd: tmp.path });
    assert.equal(set.code, 0, set.stderr);
    assert.doesNotMatch(set.stderr, /not on PATH/, "the plugin was found on PATH");
    assert.doesNotMatch(set.stderr, /STATIC-TOKEN/);

    const view = await run(KUBECTL, ["config", "view", "-o", "json"], { env });
    assert.equal(view.code, 0, view.stderr);
    const config = JSON.parse(view.stdout);
    const user = config.users.find((entry: { name: string }) => entry.name === "alice").user;
    assert.equal(user.token, undefined, "the static token is gone");
    assert.equal(user.exec.command, "kubectl-credentials_broker");
    assert.equal(user.exec.apiVersion, "client.authentication.k8s.io/v1");
    assert.equal(user.exec.interactiveMode, "IfAvailable");
    assert.deepEqual(user.exec.args, [
      `--token-path=${tmp.path}/token`,
      "--before-exec-command=/opt/renew.sh --role 'dev team'",
    ]);
  },
});

Deno.test({
  name: "an exec block with --exec-command kubectl runs the broker through kubectl's plugin lookup",
  ignore: !haveKubectl,
  async fn() {
    await using tmp = await tempDir();
    const shim = await installBroker(`${tmp.path}/root`);
    const kubeconfig = `${tmp.path}/config`;
    await Deno.writeTextFile(kubeconfig, KUBECONFIG, { mode: 0o600 });
    await Deno.writeTextFile(`${tmp.path}/token`, "broker-token\n");
    const env = {
      PATH: `${dirname(shim, HOST_OS)}:/usr/bin:/bin`,
      HOME: tmp.path,
      KUBECONFIG: kubeconfig,
      DENO_DIR,
    };
    const set = await run(KUBECTL, [
      "credentials-broker",
      "kubeconfig",
      "set",
      "-f",
      "--exec-command=kubectl",
      "--token-path=token",
    ], { env, cwd: tmp.path });
    assert.equal(set.code, 0, set.stderr);
    const view = await run(KUBECTL, ["config", "view", "-o", "json"], { env });
    const exec = JSON.parse(view.stdout).users[0].user.exec;
    assert.equal(exec.command, "kubectl");
    assert.deepEqual(exec.args, ["credentials-broker", `--token-path=${tmp.path}/token`]);
    // What kubectl does with the block: run command + args with KUBERNETES_EXEC_INFO, from any folder.
    const credential = await run(exec.command, exec.args, {
      env: {
        ...env,
        KUBERNETES_EXEC_INFO: JSON.stringify({
          kind: "ExecCredential",
          apiVersion: exec.apiVersion,
          spec: { interactive: false },
        }),
      },
      cwd: "/",
    });
    assert.equal(credential.code, 0, credential.stderr);
    assert.equal(JSON.parse(credential.stdout).status.token, "broker-token");
  },
});
