/** The Deno permissions the broker runs with: one list, kept next to the code that spawns the broker itself. */
export { BROKER_PERMISSIONS } from "../lib/plugin/before_exec.ts";

/** The executable name kubectl looks up for `kubectl credentials-broker` (dashes in a word become underscores). */
export const PLUGIN_EXECUTABLE = "kubectl-credentials_broker";

/** The executable kubectl 1.26+ runs to complete `kubectl credentials-broker <TAB>`. */
export const COMPLETION_EXECUTABLE = "kubectl_complete-credentials_broker";
