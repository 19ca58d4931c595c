/** The flags of `kubectl credentials-broker kubeconfig set`, apart from its YAML-heavy code. */
import { BROKER_FLAGS } from "../plugin/broker_options.ts";
import { V1, V1BETA1 } from "../credentials/exec_credential.ts";
import { type FlagSpec, type FlagValues, HELP_FLAG } from "../shared/flags.ts";
import { PLUGIN_EXECUTABLE } from "../shared/command_list.ts";

/** exec.interactiveMode values client-go accepts. */
export const INTERACTIVE_MODES: readonly string[] = ["Never", "IfAvailable", "Always"];

const OWN_FLAGS = [
  {
    name: "env",
    kind: "list",
    value: "NAME=VALUE",
    help: "set a variable for the broker (repeatable, or A=1,B=2); stored in plain text",
  },
  {
    name: "exec-api-version",
    kind: "string",
    value: "VERSION",
    help: `${V1BETA1} (default) or ${V1}`,
  },
  {
    name: "interactive-mode",
    kind: "string",
    value: "MODE",
    help: "Never, IfAvailable (default) or Always: when kubectl hands its terminal to the broker",
  },
  {
    name: "provide-cluster-info",
    kind: "boolean",
    help: "pass the cluster's details to the broker in KUBERNETES_EXEC_INFO",
  },
  {
    name: "exec-command",
    kind: "string",
    value: "COMMAND",
    help:
      `what kubectl runs (default ${PLUGIN_EXECUTABLE} from PATH; an absolute path for GUI tools, or kubectl)`,
  },
  { name: "kubeconfig", kind: "string", value: "FILE", help: "edit this kubeconfig file only" },
  { name: "context", kind: "string", value: "NAME", help: "configure this context's user" },
  {
    name: "user",
    kind: "string",
    value: "NAME",
    help: "configure this user entry (created when missing)",
  },
  { name: "dry-run", kind: "boolean", help: "print the diff and change nothing" },
  { name: "force", short: "f", kind: "boolean", help: "apply without asking" },
] as const satisfies readonly FlagSpec[];

/**
 * Every flag of `kubeconfig set`, the broker's own first (it stores them in exec.args), without --help; used by
 * shell completion, which is why this module imports no YAML or diff library.
 */
export const KUBECONFIG_SET_FLAGS: readonly FlagSpec[] = [...BROKER_FLAGS, ...OWN_FLAGS];

/** The flags `kubeconfig set` parses and documents: KUBECONFIG_SET_FLAGS and -h/--help. */
export const KUBECONFIG_SET_FLAGS_WITH_HELP = [
  ...BROKER_FLAGS,
  ...OWN_FLAGS,
  HELP_FLAG,
] as const;

/** What parseArgs() returns for `kubeconfig set`. */
export type KubeconfigSetFlagValues = FlagValues<typeof KUBECONFIG_SET_FLAGS_WITH_HELP>;
