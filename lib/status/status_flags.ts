/** The flags of `kubectl credentials-broker status`, apart from its code (the command table and completion read them). */
import type { FlagSpec } from "../shared/flags.ts";

/** The flags of `status`, also offered by shell completion (`--help` is added there). */
export const STATUS_FLAGS = [
  {
    name: "kubeconfig",
    kind: "string",
    value: "FILE",
    help: "read this kubeconfig file instead of KUBECONFIG or ~/.kube/config",
  },
  { name: "context", kind: "string", value: "NAME", help: "show only the user of this context" },
  { name: "user", kind: "string", value: "NAME", help: "show only this kubeconfig user" },
  {
    name: "output",
    short: "o",
    kind: "string",
    value: "FORMAT",
    help: "text (default) or json, for scripts",
  },
] as const satisfies readonly FlagSpec[];
