/**
 * A third real client: Debian's python3-kubernetes (the official Python client), under the system python, through
 * the same nginx mTLS world as kubectl. What it does differently, and what the README's compatibility table tells
 * users: it runs the plugin in the kubeconfig's folder, keeps the first client certificate for the life of the
 * loaded configuration (it ignores `expirationTimestamp` for certificates), and uses only the token when the
 * plugin returns a token and a certificate.
 */
import assert from "node:assert/strict";
import { SYSTEM_PYTHON } from "../../scripts/world/clients.ts";
import { e2eTest, parseJson } from "./e2e.ts";
import { renewingExec } from "../../scripts/world/kubeconfig.ts";
import { findKubectls, preferredKubectl } from "../../scripts/world/kubectl.ts";
import { World } from "../../scripts/world/world.ts";

const kubectls = await findKubectls();

/**
 * Loads the kubeconfig, asks /version, and with `wait SECONDS` asks again after that long with the same loaded
 * configuration, then once more after loading the kubeconfig again. One JSON line per request.
 */
const PYTHON_CLIENT = `
import json, sys, time
from kubernetes import client, config

mode, kubeconfig = sys.argv[1], sys.argv[2]

def call():
    try:
        return {"ok": True, "gitVersion": client.VersionApi().get_code().git_version}
    except Exception as error:
        return {"ok": False, "error": type(error).__name__, "status": getattr(error, "status", None)}

config.load_kube_config(config_file=kubeconfig)
print(json.dumps(call()), flush=True)
if mode == "wait":
    time.sleep(float(sys.argv[3]))
    print(json.dumps(call()), flush=True)
    config.load_kube_config(config_file=kubeconfig)
    print(json.dumps(call()), flush=True)
`;

interface Answer {
  ok: boolean;
  gitVersion?: string;
  error?: string;
  status?: number | null;
}

async function pythonWorld(
  name: string,
  options: { token?: string; lifetimeSeconds?: number } = {},
) {
  const world = await World.start({
    installBroker: true,
    token: options.token,
    // Every request needs a handshake with a valid certificate, as in the long-lived kubectl scenario.
    closeEachConnection: true,
  });
  const client = await world.client(preferredKubectl(kubectls)!, name);
  const script = await world.renewalScript(name, {
    commonName: name,
    lifetimeSeconds: options.lifetimeSeconds,
  });
  const program = `${client.dir}/client.py`;
  await Deno.writeTextFile(program, PYTHON_CLIENT);
  const python = async (args: string[]) => {
    // Started from HOME, not from the kubeconfig's folder, to see which folder the plugin runs in.
    const result = await client.exec(SYSTEM_PYTHON, [program, ...args], {
      cwd: client.home,
      timeoutMs: 60_000,
    });
    assert.equal(result.code, 0, result.stderr);
    return {
      answers: result.stdout.trim().split("\n").map((line) => parseJson<Answer>(line)),
      stderr: result.stderr,
    };
  };
  return { world, client, script, python };
}

e2eTest(
  "python3-kubernetes gets a renewed client certificate from the broker through nginx mTLS",
  { nginx: true, kubectl: true, python: true },
  kubectls,
  async () => {
    const { world, client, script, python } = await pythonWorld("python-user");
    await using _ = world;
    await world.writeKubeconfig(client, { exec: renewingExec(script) });

    const { answers, stderr } = await python(["once", client.kubeconfig]);
    assert.deepEqual(answers, [{ ok: true, gitVersion: "v1.32.0" }], stderr);
    assert.equal(await script.runs(), 1, "the expired certificate was renewed once");
    assert.ok(
      world.api.requests.some((r) => r.subject === "CN=python-user,O=developers"),
      "the API server saw the renewed certificate's subject",
    );
    const [info] = await script.execInfos();
    assert.deepEqual(parseJson(info!), {
      apiVersion: "client.authentication.k8s.io/v1",
      kind: "ExecCredential",
      spec: { interactive: false },
    }, "it sets KUBERNETES_EXEC_INFO with the kubeconfig's apiVersion");
    assert.deepEqual(
      await script.cwds(),
      [client.dir],
      "it runs the plugin in the kubeconfig's folder, not the caller's",
    );
  },
);

e2eTest(
  "a long-running python3-kubernetes process keeps its first certificate until it loads the kubeconfig again",
  { nginx: true, kubectl: true, python: true },
  kubectls,
  async () => {
    const lifetimeSeconds = 4;
    const { world, client, script, python } = await pythonWorld("python-long", {
      lifetimeSeconds,
    });
    await using _ = world;
    await world.writeKubeconfig(client, {
      exec: renewingExec(script, { refreshMargin: "1s" }),
    });

    const { answers, stderr } = await python([
      "wait",
      client.kubeconfig,
      String(lifetimeSeconds + 1.5),
    ]);
    assert.equal(answers.length, 3, stderr);
    assert.deepEqual(answers[0], { ok: true, gitVersion: "v1.32.0" }, "first request");
    // nginx answers an expired client certificate with 400: the client never runs the plugin again by itself.
    assert.deepEqual(answers[1], { ok: false, error: "ApiException", status: 400 }, stderr);
    assert.deepEqual(answers[2], { ok: true, gitVersion: "v1.32.0" }, "after load_kube_config()");
    assert.equal(await script.runs(), 2, "renewed at the first load and again at the second");
  },
);

e2eTest(
  "python3-kubernetes uses only the token when the broker returns a token and a certificate",
  { nginx: true, kubectl: true, python: true },
  kubectls,
  async () => {
    const token = "python-e2e-token";
    const { world, client, script, python } = await pythonWorld("python-both", { token });
    await using _ = world;
    const tokenPath = `${client.dir}/token`;
    await Deno.writeTextFile(tokenPath, `${token}\n`, { mode: 0o600 });
    await world.writeKubeconfig(client, { exec: renewingExec(script, { tokenPath }) });

    // kubectl sends both, so the same kubeconfig works for it.
    const kubectl = await client.run(["get", "--raw", "/version"]);
    assert.equal(kubectl.code, 0, kubectl.stderr);
    // python3-kubernetes sends the token without the certificate, and nginx refuses the handshake's lack of one.
    const { answers, stderr } = await python(["once", client.kubeconfig]);
    assert.deepEqual(answers, [{ ok: false, error: "ApiException", status: 400 }], stderr);
  },
);
