/**
 * `deno task demo`: the broker renewing an expired client certificate, end to end, in one command. It builds a
 * throwaway CA, starts an mTLS proxy (nginx when installed, else `openssl s_server`) and a test API server on
 * loopback, installs the broker and writes a scratch kubeconfig with `kubectl credentials-broker kubeconfig set`
 * (all under one temp dir: the user's own kubeconfig and PATH are never touched), then runs the real kubectl while
 * a short-lived certificate expires. Everything is stopped and removed at the end.
 */
import { STAND_IN_GIT_VERSION } from "./world/api_server.ts";
import { findKubectls, preferredKubectl } from "./world/kubectl.ts";
import { delay, type RunResult, which } from "./world/process.ts";
import { World } from "./world/world.ts";
import { scriptArgs } from "./args.ts";
import { describeError } from "../lib/shared/errors.ts";

const LIFETIME_SECONDS = 6;
const REFRESH_MARGIN = "1s";

const bold = (text: string) =>
  Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR") ? `\x1b[1m${text}\x1b[22m` : text;

function say(text: string): void {
  console.log(text);
}

function fail(step: string, result: RunResult): never {
  throw new Error(`${step} failed (exit ${result.code}):\n${result.stderr.trim()}`);
}

/** Runs the demo, printing what happens; returns the process exit code. */
export async function demo({ withoutNginx = false } = {}): Promise<number> {
  if (!which("openssl")) {
    say("the demo needs openssl (Debian: apt-get install openssl; macOS: brew install openssl)");
    return 1;
  }
  const kubectl = preferredKubectl(await findKubectls());
  if (!kubectl) {
    say("the demo needs kubectl, which was not found on PATH.");
    say(
      "get it from https://kubernetes.io/docs/tasks/tools/ (or: gcloud components install kubectl,",
    );
    say(
      "brew install kubectl, apt-get install kubectl from the Kubernetes apt repository), then run it again.",
    );
    return 1;
  }
  say(bold("kubectl-credentials-broker demo") + ` (kubectl ${kubectl.version})`);
  await using world = await World.start({
    installBroker: true,
    fallbackToOpenssl: true,
    ...(withoutNginx ? { nginxPath: "" } : {}),
  });
  say(
    `- throwaway CA and ${world.proxy} demanding a client certificate from it on ${world.server}` +
      (world.proxy === "nginx" ? "" : " (no nginx: the no-install fallback)"),
  );
  say(
    `- behind it a test stand-in for the Kubernetes API server, not a cluster: it reports ${STAND_IN_GIT_VERSION}` +
      ` whatever your kubectl's version`,
  );
  const client = await world.client(kubectl, "demo");
  const script = await world.renewalScript("demo", { lifetimeSeconds: LIFETIME_SECONDS });
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
    "client.authentication.k8s.io/v1",
    "--interactive-mode",
    "Never",
    `--client-certificate-path=${script.certPath}`,
    `--client-key-path=${script.keyPath}`,
    `--before-exec-command=${script.command}`,
    "--before-exec-policy=when-invalid",
    `--refresh-margin=${REFRESH_MARGIN}`,
  ]);
  if (set.code !== 0) fail("kubectl credentials-broker kubeconfig set", set);
  say(
    `- scratch kubeconfig ${client.kubeconfig} written by \`kubectl credentials-broker kubeconfig set\``,
  );
  say(
    `- the client certificate starts out expired; the renewal script issues ${LIFETIME_SECONDS} s ones`,
  );

  const call = async (label: string) => {
    const runsBefore = await script.runs();
    const result = await client.run(["get", "--raw", "/version"]);
    if (result.code !== 0) fail("kubectl get --raw /version", result);
    const renewed = (await script.runs()) - runsBefore;
    const version = JSON.parse(result.stdout).gitVersion;
    say(
      `- ${label}: \`kubectl get --raw /version\` -> ${version} (the stand-in) in ` +
        `${Math.round(result.ms)} ms, ` +
        (renewed ? bold("certificate renewed") : "certificate reused, no renewal"),
    );
  };
  await call("expired certificate");
  await call("right after");
  say(`- waiting ${LIFETIME_SECONDS} s for the certificate to expire...`);
  await delay(LIFETIME_SECONDS * 1000 + 200);
  await call("after expiry");
  say(`- renewal script ran ${await script.runs()} times; cleaning up`);
  return 0;
}

if (import.meta.main) {
  const { values } = scriptArgs({
    usage: "deno task demo [--without-nginx]",
    about:
      "The broker renewing an expired client certificate, end to end, with the real kubectl; " +
      "everything under one temp dir, removed at the end.",
    flags: [{
      name: "without-nginx",
      kind: "boolean",
      help: "use the openssl s_server stand-in even where nginx is installed",
    }],
  });
  try {
    Deno.exitCode = await demo({ withoutNginx: values["without-nginx"] ?? false });
  } catch (error) {
    console.error(`error: ${describeError(error)}`);
    Deno.exitCode = 1;
  }
}
