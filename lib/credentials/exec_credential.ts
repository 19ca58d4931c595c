import type { Credentials } from "./credentials.ts";
import { formatTimestamp } from "../shared/duration.ts";
import { encodePem } from "./pem.ts";
import { CliError, UsageError } from "../shared/errors.ts";

export const V1 = "client.authentication.k8s.io/v1";
export const V1BETA1 = "client.authentication.k8s.io/v1beta1";
/** The apiVersions kubectl 1.24+ speaks; v1alpha1 was removed in Kubernetes 1.24. */
export const SUPPORTED_API_VERSIONS: readonly string[] = [V1, V1BETA1];

/** What kubectl tells the plugin through KUBERNETES_EXEC_INFO. */
export interface ExecInfo {
  apiVersion: string;
  /**
   * spec.interactive: true when kubectl handed its stdin (a terminal) to the plugin. Undefined when the client
   * did not say: kubectl before 1.22 omits it (and always hands over its stdin), @kubernetes/client-node sets no
   * KUBERNETES_EXEC_INFO at all.
   */
  interactive?: boolean;
  /** spec.cluster.server, with provideClusterInfo: true. */
  server?: string;
}

/**
 * Parses KUBERNETES_EXEC_INFO. Absent means a client that does not set it (e.g. @kubernetes/client-node), which
 * accepts v1beta1. The variable's content is never echoed: with provideClusterInfo it carries cluster config.
 */
export function parseExecInfo(raw: string | undefined): ExecInfo {
  if (raw === undefined || raw.trim() === "") return { apiVersion: V1BETA1 };
  let info: unknown;
  try {
    info = JSON.parse(raw);
  } catch {
    // Not the parser's message: V8 quotes the input in it, and with provideClusterInfo that is cluster config.
    throw new CliError("KUBERNETES_EXEC_INFO is not valid JSON", {
      hint: "kubectl sets this variable; unset it when running the broker by hand",
    });
  }
  if (typeof info !== "object" || info === null || Array.isArray(info)) {
    throw new CliError("KUBERNETES_EXEC_INFO is not a JSON object");
  }
  const { apiVersion, kind, spec } = info as Record<string, unknown>;
  if (kind !== undefined && kind !== "ExecCredential") {
    throw new CliError(
      `KUBERNETES_EXEC_INFO has kind ${JSON.stringify(kind)}, expected "ExecCredential"`,
    );
  }
  if (typeof apiVersion !== "string" || !SUPPORTED_API_VERSIONS.includes(apiVersion)) {
    throw new UsageError(
      `KUBERNETES_EXEC_INFO asks for apiVersion ${
        JSON.stringify(apiVersion ?? null)
      }, which the broker does ` +
        `not support; supported: ${SUPPORTED_API_VERSIONS.join(", ")}`,
      { hint: `set exec.apiVersion in the kubeconfig to ${V1} or ${V1BETA1}` },
    );
  }
  const specObject = typeof spec === "object" && spec !== null
    ? spec as Record<string, unknown>
    : {};
  const cluster = specObject.cluster as Record<string, unknown> | undefined;
  return {
    apiVersion,
    interactive: typeof specObject.interactive === "boolean" ? specObject.interactive : undefined,
    server: typeof cluster?.server === "string" ? cluster.server : undefined,
  };
}

/**
 * The one JSON object kubectl reads from stdout. expirationTimestamp makes long-lived clients (kubectl proxy, k9s,
 * controllers) come back for fresh credentials: behind an mTLS proxy an expired certificate fails the handshake
 * instead of producing the 401 that would otherwise trigger a refresh.
 */
export function buildExecCredential(
  apiVersion: string,
  credentials: Credentials,
  expiration: Date | undefined,
): string {
  const status: Record<string, string> = {};
  if (credentials.certificate && credentials.key) {
    status.clientCertificateData = credentials.certificate.chain.map((cert) =>
      encodePem("CERTIFICATE", cert.der)
    )
      .join("");
    status.clientKeyData = encodePem(credentials.key.key.label, credentials.key.key.der);
  }
  if (credentials.token) status.token = credentials.token.value;
  if (expiration) status.expirationTimestamp = formatTimestamp(expiration);
  return JSON.stringify({ apiVersion, kind: "ExecCredential", spec: {}, status }) + "\n";
}
