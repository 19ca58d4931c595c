/** The flags of `kubectl credentials-broker doctor`, apart from its YAML-heavy code (for shell completion). */
import type { FlagSpec, FlagValues, HELP_FLAG } from "../shared/flags.ts";

/** The flags of `doctor`, also offered by shell completion (`--help` is added there). */
export const DOCTOR_FLAGS = [
  {
    name: "kubeconfig",
    kind: "string",
    value: "FILE",
    help: "check this kubeconfig file instead of KUBECONFIG or ~/.kube/config",
  },
  { name: "context", kind: "string", value: "NAME", help: "check the user of this context" },
  { name: "user", kind: "string", value: "NAME", help: "check this kubeconfig user" },
  {
    name: "output",
    short: "o",
    kind: "string",
    value: "FORMAT",
    help: "text (default) or json, for scripts",
  },
  {
    name: "skip-run",
    kind: "boolean",
    help: "do not run the exec command (e.g. when its before-exec command needs a person)",
  },
  {
    name: "timeout",
    kind: "string",
    value: "DURATION",
    help: "stop the exec command's run after this long (default 3m)",
  },
] as const satisfies readonly FlagSpec[];

/** What parseArgs() returns for `doctor` (with its -h/--help). */
export type DoctorFlagValues = FlagValues<
  readonly [...typeof DOCTOR_FLAGS, typeof HELP_FLAG]
>;
