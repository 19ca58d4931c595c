/**
 * The Deno permissions the broker runs with, baked into the installed shim and the compiled binaries.
 * read: credential files, kubeconfigs; write: the lock folder and kubeconfigs; run: the before-exec command and
 * (doctor) the exec command; env: KUBERNETES_EXEC_INFO, HOME, KUBECONFIG, PATH; sys=uid: refuse lock folders owned
 * by another user. No network: the broker never talks to a server.
 */
export const BROKER_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-sys=uid",
  "--deny-net",
];

/** The executable name kubectl looks up for `kubectl credentials-broker` (dashes in a word become underscores). */
export const PLUGIN_EXECUTABLE = "kubectl-credentials_broker";

/** The executable kubectl 1.26+ runs to complete `kubectl credentials-broker <TAB>`. */
export const COMPLETION_EXECUTABLE = "kubectl_complete-credentials_broker";
