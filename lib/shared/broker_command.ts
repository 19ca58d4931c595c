/**
 * Whether an exec block runs the broker, and with which of its own arguments: one rule for `kubeconfig set` (what
 * a re-run would drop), doctor (what it checks and runs) and status (which users it lists). Kept out of
 * command_list.ts, which main.ts reads on every kubectl call and which imports nothing.
 */
import { PLUGIN_EXECUTABLE } from "./command_list.ts";
import { basename, HOST_OS } from "./platform.ts";

/** How the exec block invokes the broker, if it does. */
export type BrokerInvocation = "kubectl" | "direct" | "other";

/**
 * Whether exec.command is kubectl (then args start with the plugin name), the broker itself, or something else.
 * A `.exe` or `.cmd` counts as the bare name: the compiled broker and the `deno task install` shim on Windows.
 */
export function brokerInvocation(command: string): BrokerInvocation {
  const base = basename(command, HOST_OS).replace(/\.(exe|cmd)$/i, "");
  if (/^kubectl(\.\d+(\.\d+)*)?$/.test(base)) return "kubectl";
  if (base === PLUGIN_EXECUTABLE) return "direct";
  return "other";
}

/**
 * Whether an exec block runs the broker (`kubectl-credentials_broker`, or `kubectl credentials-broker ...`): what
 * `status` lists. The broker's own arguments when it does, without kubectl's plugin name.
 */
export function brokerArgsOf(
  command: string,
  args: readonly string[],
): string[] | undefined {
  const kind = brokerInvocation(command);
  if (kind === "direct") return [...args];
  if (kind === "kubectl" && args[0] === "credentials-broker") return args.slice(1);
  return undefined;
}
