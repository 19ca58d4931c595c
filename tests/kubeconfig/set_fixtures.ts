/**
 * What tests/kubeconfig/set_test.ts (in-process, the unit tier) and set_process_test.ts (the process tier) share:
 * the kubectl-written fixture with secrets, reading it back, paths as the broker stores them on this OS, and the
 * real kubectl the tests living next to kubectl run.
 */
import { parse } from "yaml";
import {
  executableProbe,
  HOST_OS,
  joinPath,
  lookPath,
  resolvePath,
} from "../../lib/shared/platform.ts";
import { fakeIo, run } from "../helpers.ts";

/** A KUBECONFIG list, joined as Go's filepath.SplitList reads it on this OS. */
export const list = (...paths: string[]) => paths.join(HOST_OS === "windows" ? ";" : ":");

/** `name` (relative, `/` inside) under `dir`, as the broker stores it on this OS: `dir\\name` on Windows. */
export const under = (dir: string, name: string) => joinPath(dir, name, HOST_OS);

/** `path` made absolute from `cwd` on this OS: a drive-less `/t` is `C:/t` (the drive of `cwd`) on Windows. */
export const from = (cwd: string, path: string) => resolvePath(path, cwd, HOST_OS);

/** The exec apiVersions kubeconfig set writes. */
export const V1 = "client.authentication.k8s.io/v1";
export const V1BETA1 = "client.authentication.k8s.io/v1beta1";

/** A kubectl-written kubeconfig with comments, unknown fields and other users' secrets. */
export const KUBECONFIG = `# managed by hand: keep this comment
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0FEQVRB
    server: https://prod.example:6443 # behind the mTLS proxy
  name: prod
contexts:
- context:
    cluster: prod
    user: alice
  name: prod
- context:
    cluster: prod
    user: bob
  name: bob-ctx
current-context: prod
kind: Config
preferences: {}
users:
- name: alice
  user:
    client-certificate-data: ALICE-CERT-SECRET
    client-key-data: ALICE-KEY-SECRET
    x-vendor: keep-me # unknown field
- name: bob
  user:
    token: BOB-TOKEN-SECRET
    auth-provider:
      name: oidc
      config:
        refresh-token: BOB-REFRESH-SECRET
x-unknown-top: {nested: [1, 2]}
`;
/** The secret values in KUBECONFIG, which no output may show. */
export const SECRETS = [
  "ALICE-CERT-SECRET",
  "ALICE-KEY-SECRET",
  "BOB-TOKEN-SECRET",
  "BOB-REFRESH-SECRET",
];

/** The part of a kubeconfig the tests read back. */
export interface Config {
  users: { name: string; user: Record<string, unknown> & { exec?: Exec } }[];
}
export interface Exec {
  apiVersion: string;
  command: string;
  args: string[];
  env?: { name: string; value: string }[];
  installHint?: string;
  interactiveMode?: string;
  provideClusterInfo?: boolean;
}

/** The `user` map of user `name` in the kubeconfig at `path`, parsed. */
export async function readUser(path: string, name: string) {
  const config = parse(await Deno.readTextFile(path)) as Config;
  return config.users.find((entry) => entry.name === name)?.user;
}

/** Writes `text` (the fixture by default) as `tmp`/config, mode 0600; its path. */
export async function setup(tmp: string, text = KUBECONFIG) {
  const path = `${tmp}/config`;
  await Deno.writeTextFile(path, text, { mode: 0o600 });
  await Deno.chmod(path, 0o600);
  return path;
}

/** A fake Io whose HOME and folder are `home`. */
export const ioFor = (home: string, options: Parameters<typeof fakeIo>[0] = {}) =>
  fakeIo({ cwd: home, ...options, env: { HOME: home, ...options.env } });

/** `name` looked up on PATH as the broker looks commands up; undefined when absent. */
export function which(name: string): string | undefined {
  const found = lookPath(name, "/", HOST_OS, (key) => Deno.env.get(key), executableProbe);
  return found.problem ? undefined : found.resolved;
}

/** The fixture with base64 where kubectl expects it (it refuses to load the file otherwise). */
export const FOR_KUBECTL = SECRETS.reduce(
  (text, secret) => text.replaceAll(secret, btoa(secret)),
  KUBECONFIG,
);

/** A real kubectl: a versioned binary runs once per command; the gcloud dispatcher is the fallback. */
function realKubectl(): string | undefined {
  if (HOST_OS === "windows") return undefined;
  for (const path of ["/usr/lib/google-cloud-sdk/bin/kubectl.1.32", "/usr/bin/kubectl"]) {
    if (executableProbe(path) === "executable") return path;
  }
  return which("kubectl");
}

/** The kubectl the tests that live next to kubectl run (Linux: the Windows one is not installed here). */
export const KUBECTL = realKubectl();
export const NO_KUBECTL = KUBECTL ? "" : " (ignored: kubectl is not installed)";

/** Runs kubectl `bin` with HOME `home` and PATH only. */
export function kubectl(bin: string, home: string, args: string[]) {
  return run(bin, args, { env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: home } });
}

/** The context names of the kubeconfig at `path`, in file order. */
export async function contextNames(path: string): Promise<string[]> {
  const config = parse(await Deno.readTextFile(path)) as { contexts?: { name: string }[] };
  return (config.contexts ?? []).map((context) => context.name);
}
