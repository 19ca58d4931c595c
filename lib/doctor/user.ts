/**
 * Doctor's checks of the user entry as kubectl reads it: the exec block (kubectl's validation) and fields next to
 * it that make client-go skip the plugin.
 */
import { SUPPORTED_API_VERSIONS, V1, V1BETA1 } from "../credentials/exec_credential.ts";
import { STATIC_CREDENTIAL_KEYS } from "../kubeconfig/edit.ts";
import { INTERACTIVE_MODES } from "../kubeconfig/set_flags.ts";
import { type CheckResult, result } from "./result.ts";
import { isRecord, kindOf } from "../shared/values.ts";

/** The exec block of a user entry, as kubectl would run it. */
export interface ExecConfig {
  command: string;
  args: string[];
  /** Names and values; values are secrets as far as doctor is concerned and are never printed. */
  env: { name: string; value: string }[];
  apiVersion: string;
  /** As written; for v1beta1 an absent mode means IfAvailable. */
  interactiveMode?: string;
}

const EXEC_KEYS = [
  "command",
  "args",
  "env",
  "apiVersion",
  "installHint",
  "provideClusterInfo",
  "interactiveMode",
];

/**
 * Checks the exec block the way kubectl's kubeconfig validation does: a command, a supported apiVersion, and for
 * v1 an interactiveMode (kubectl refuses a v1 exec block without one).
 */
export function checkExecBlock(
  user: Record<string, unknown>,
  userName: string,
): { result: CheckResult; exec?: ExecConfig } {
  const name = "exec block";
  const fixSet =
    "point the user at the broker with: kubectl credentials-broker kubeconfig set --user " +
    userName + " ...";
  const exec = user.exec;
  if (exec === undefined || exec === null) {
    return { result: result(name, "fail", `user "${userName}" has no exec block`, fixSet) };
  }
  if (!isRecord(exec)) {
    return {
      result: result(name, "fail", `exec of user "${userName}" is not a mapping`, fixSet),
    };
  }
  const errors: string[] = [];
  const warnings: string[] = [];
  const command = exec.command;
  if (typeof command !== "string" || command.trim() === "") {
    errors.push("exec.command is missing or empty");
  }
  const args: string[] = [];
  if (exec.args !== undefined && exec.args !== null) {
    if (!Array.isArray(exec.args)) errors.push("exec.args is not a list");
    else {
      exec.args.forEach((arg, i) => {
        if (typeof arg === "string") args.push(arg);
        else errors.push(`exec.args[${i}] is ${kindOf(arg)}, not a string; quote it`);
      });
    }
  }
  const env: ExecConfig["env"] = [];
  if (exec.env !== undefined && exec.env !== null) {
    if (!Array.isArray(exec.env)) errors.push("exec.env is not a list of {name, value}");
    else {
      exec.env.forEach((entry, i) => {
        if (!isRecord(entry) || typeof entry.name !== "string" || entry.name === "") {
          errors.push(`exec.env[${i}] has no name`);
        } else if (entry.value !== undefined && typeof entry.value !== "string") {
          // Say which variable, never what its value is.
          errors.push(`exec.env ${entry.name} has a value that is not a string; quote it`);
        } else env.push({ name: entry.name, value: (entry.value as string | undefined) ?? "" });
      });
    }
  }
  const apiVersion = exec.apiVersion;
  if (typeof apiVersion !== "string" || apiVersion === "") {
    errors.push(`exec.apiVersion is missing; use ${V1}`);
  } else if (!SUPPORTED_API_VERSIONS.includes(apiVersion)) {
    errors.push(
      `exec.apiVersion ${JSON.stringify(apiVersion)} is not supported (use ${V1} or ${V1BETA1}${
        apiVersion.endsWith("/v1alpha1") ? "; v1alpha1 was removed in Kubernetes 1.24" : ""
      })`,
    );
  }
  const mode = exec.interactiveMode;
  if (mode === undefined || mode === null || mode === "") {
    if (apiVersion === V1) {
      errors.push("exec.interactiveMode is missing, which kubectl refuses for apiVersion v1");
    }
  } else if (typeof mode !== "string" || !INTERACTIVE_MODES.some((known) => known === mode)) {
    errors.push(
      `exec.interactiveMode ${JSON.stringify(mode)} is invalid: use ${
        INTERACTIVE_MODES.join(", ")
      }`,
    );
  } else if (mode === "Always") {
    warnings.push(
      "interactiveMode Always makes kubectl fail whenever its stdin is not a terminal (scripts, IDEs); " +
        "IfAvailable hands the terminal over when there is one",
    );
  }
  const unknown = Object.keys(exec).filter((key) => !EXEC_KEYS.includes(key));
  if (unknown.length > 0) {
    warnings.push(`exec has fields kubectl ignores: ${unknown.join(", ")} (a typo?)`);
  }
  const parsed: ExecConfig | undefined = errors.length === 0
    ? {
      command: command as string,
      args,
      env,
      apiVersion: apiVersion as string,
      interactiveMode: typeof mode === "string" && mode !== "" ? mode : undefined,
    }
    : undefined;
  if (errors.length > 0) {
    return {
      result: result(
        name,
        "fail",
        errors.join("; "),
        "fix the exec block, or rewrite it with: kubectl credentials-broker kubeconfig set --user " +
          userName + " ...",
      ),
    };
  }
  const summary = `apiVersion ${(apiVersion as string).replace(/^.*\//, "")}, interactiveMode ${
    parsed!.interactiveMode ?? "IfAvailable (default)"
  }${env.length > 0 ? `, env ${env.map((e) => e.name).join(", ")}` : ""}`;
  if (warnings.length > 0) {
    return {
      result: result(name, "warn", `${summary}; ${warnings.join("; ")}`),
      exec: parsed,
    };
  }
  return { result: result(name, "pass", summary), exec: parsed };
}

/** Finds fields next to exec that make client-go skip the plugin, or auth-provider, which kubectl refuses. */
export function checkCompetingCredentials(
  user: Record<string, unknown>,
  userName: string,
): CheckResult {
  const name = "no competing credentials";
  const found = STATIC_CREDENTIAL_KEYS.filter((key) =>
    user[key] !== undefined && user[key] !== null
  );
  if (found.length === 0) return result(name, "pass", "the user entry only has exec");
  const provider = found.includes("auth-provider");
  return result(
    name,
    "fail",
    `user "${userName}" also has ${found.join(", ")}: ${
      provider
        ? "kubectl refuses auth-provider together with exec"
        : "kubectl uses that instead of calling the plugin"
    }`,
    `remove ${
      found.join(", ")
    } from the user (kubectl credentials-broker kubeconfig set does it for you)`,
  );
}

/**
 * The plugin's environment as kubectl builds it: the caller's, with the exec block's env entries winning (the
 * issuer flags' defaults, HOME and PATH for the renewal command all come from it).
 */
export function pluginEnvironment(
  execEnv: readonly { name: string; value: string }[],
  callerEnv: (name: string) => string | undefined,
): (name: string) => string | undefined {
  const entries = new Map(execEnv.map(({ name, value }) => [name, value]));
  return (name) => entries.get(name) ?? callerEnv(name);
}
