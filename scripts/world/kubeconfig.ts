/** Kubeconfig files for the e2e world's clients, and the exec blocks that run the broker in them. */
import { stringify as toYaml } from "yaml";
import { PLUGIN_EXECUTABLE } from "../../lib/shared/command_list.ts";

/** The apiVersions of client.authentication.k8s.io that kubectl 1.24+ accepts. */
export const EXEC_API_VERSIONS = [
  "client.authentication.k8s.io/v1",
  "client.authentication.k8s.io/v1beta1",
] as const;
export type ExecApiVersion = (typeof EXEC_API_VERSIONS)[number];
export type InteractiveMode = "Never" | "IfAvailable" | "Always";

export interface ExecConfig {
  apiVersion: ExecApiVersion;
  command: string;
  args?: string[];
  env?: { name: string; value: string }[];
  interactiveMode?: InteractiveMode;
  provideClusterInfo?: boolean;
}

export interface KubeconfigUser {
  clientCertificate?: string;
  clientKey?: string;
  token?: string;
  exec?: ExecConfig;
}

export interface KubeconfigOptions {
  server: string;
  caPath: string;
  user?: KubeconfigUser;
  userName?: string;
  contextName?: string;
}

/** Writes a one-cluster, one-context kubeconfig for the world's server. */
export async function writeKubeconfig(path: string, options: KubeconfigOptions): Promise<void> {
  const user: Record<string, unknown> = {};
  const u = options.user ?? {};
  if (u.clientCertificate) user["client-certificate"] = u.clientCertificate;
  if (u.clientKey) user["client-key"] = u.clientKey;
  if (u.token) user.token = u.token;
  if (u.exec) user.exec = u.exec;
  const userName = options.userName ?? "alice";
  const contextName = options.contextName ?? "e2e";
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{
      name: "e2e",
      cluster: { server: options.server, "certificate-authority": options.caPath },
    }],
    users: [{ name: userName, user }],
    contexts: [{ name: contextName, context: { cluster: "e2e", user: userName } }],
    "current-context": contextName,
    preferences: {},
  };
  await Deno.writeTextFile(path, toYaml(config), { mode: 0o600 });
}

export interface BrokerFlags {
  certPath: string;
  keyPath: string;
  tokenPath?: string;
  command?: string;
  policy?: "always" | "when-invalid";
  refreshMargin?: string;
  renewAhead?: string;
  cacheDir?: string;
}

/** The broker's flags, one `--flag=value` word each, as they appear in exec.args. */
export function brokerFlags(flags: BrokerFlags): string[] {
  const args = [
    `--client-certificate-path=${flags.certPath}`,
    `--client-key-path=${flags.keyPath}`,
  ];
  if (flags.tokenPath) args.push(`--token-path=${flags.tokenPath}`);
  if (flags.command) args.push(`--before-exec-command=${flags.command}`);
  if (flags.policy) args.push(`--before-exec-policy=${flags.policy}`);
  if (flags.refreshMargin) args.push(`--refresh-margin=${flags.refreshMargin}`);
  if (flags.renewAhead) args.push(`--renew-ahead=${flags.renewAhead}`);
  if (flags.cacheDir) args.push(`--cache-dir=${flags.cacheDir}`);
  return args;
}

/**
 * The exec block most scenarios use: the installed broker renewing through `script` under when-invalid, never
 * interactive. The options set the apiVersion, or add a token or a refresh margin.
 */
export function renewingExec(
  script: { certPath: string; keyPath: string; command: string },
  options: { apiVersion?: ExecConfig["apiVersion"] } & Partial<BrokerFlags> = {},
): ExecConfig {
  const { apiVersion = "client.authentication.k8s.io/v1", ...extra } = options;
  return {
    apiVersion,
    command: PLUGIN_EXECUTABLE,
    args: brokerFlags({
      certPath: script.certPath,
      keyPath: script.keyPath,
      command: script.command,
      policy: "when-invalid",
      ...extra,
    }),
    interactiveMode: "Never",
  };
}
