/**
 * The variables that let a tool reach the network where the machine does: through a proxy, trusting a
 * TLS-intercepting proxy's CA, or from an npm mirror. Tests and scripts start their tools with an explicit
 * environment (never the user's HOME or kubeconfig); these pass through, or a fresh machine behind such a proxy
 * cannot fetch anything at test time.
 */

/** The proxy variables, in the forms curl, Go, Node.js, Python and Deno read. */
const PROXY_NAMES = [
  "HTTPS_PROXY",
  "https_proxy",
  "HTTP_PROXY",
  "http_proxy",
  "ALL_PROXY",
  "all_proxy",
] as const;

/** Proxy, CA and registry variables, in the forms curl, Go, Node.js, Python and Deno read. */
export const NETWORK_ENV_NAMES = [
  ...PROXY_NAMES,
  "NO_PROXY",
  "no_proxy",
  "NODE_EXTRA_CA_CERTS",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "NPM_CONFIG_REGISTRY",
  "npm_config_registry",
] as const;

/** Loopback hosts the test world serves on: never sent through a proxy. */
const LOOPBACK = ["127.0.0.1", "localhost", "::1"];

/**
 * The network variables set in `env` (default: this process's), with the loopback hosts added to NO_PROXY and
 * no_proxy when a proxy is set, so that the test world's own servers are reached directly.
 */
export function networkEnv(
  env: Record<string, string> = Deno.env.toObject(),
): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of NETWORK_ENV_NAMES) {
    const value = env[name];
    if (value !== undefined && value !== "") picked[name] = value;
  }
  const proxied = PROXY_NAMES.some((name) => picked[name] !== undefined);
  if (proxied) {
    for (const name of ["NO_PROXY", "no_proxy"]) {
      const listed = (picked[name] ?? "").split(",").map((host) => host.trim()).filter(Boolean);
      picked[name] = [...listed, ...LOOPBACK.filter((host) => !listed.includes(host))].join(",");
    }
  }
  return picked;
}
