/** Registration of e2e tests: skipped (outside CI) or failed (under CI) when a tool they need is missing. */
import { hasPythonClient } from "../../scripts/world/clients.ts";
import type { Kubectl } from "../../scripts/world/kubectl.ts";
import { findNginx } from "../../scripts/world/nginx.ts";
import { which } from "../../scripts/world/process.ts";

/** Under CI a missing tool is a failure; elsewhere the e2e tests skip and say what is missing. */
export const CI = Deno.env.get("CI") === "true";

export interface Requirements {
  nginx?: boolean;
  kubectl?: boolean;
  /** Node.js, for the @kubernetes/client-node client. */
  node?: boolean;
  /** Debian's python3-kubernetes (the official Python client) under the system python. */
  python?: boolean;
  /** Linux: the test looks for processes left behind in /proc. */
  linux?: boolean;
}

/** What is missing for an e2e test, in words, or [] when everything is there. */
export function missingTools(requirements: Requirements, kubectls: readonly Kubectl[]): string[] {
  const missing: string[] = [];
  if (requirements.nginx && !findNginx()) {
    missing.push("nginx (Debian: apt-get install nginx-light)");
  }
  if (requirements.kubectl && kubectls.length === 0) {
    missing.push("kubectl (https://kubernetes.io/docs/tasks/tools/)");
  }
  if (requirements.node && !which("node")) missing.push("node (Node.js 20+)");
  if (requirements.python && !hasPythonClient()) {
    missing.push("python3-kubernetes (Debian: apt-get install python3-kubernetes)");
  }
  if (requirements.linux && Deno.build.os !== "linux") missing.push("Linux (/proc)");
  if (!which("openssl")) missing.push("openssl");
  return missing;
}

/**
 * Registers an e2e test. When a tool is missing it is skipped with the reason in its name, except under CI=true,
 * where it fails saying what is missing.
 */
export function e2eTest(
  name: string,
  requirements: Requirements,
  kubectls: readonly Kubectl[],
  fn: (t: Deno.TestContext) => Promise<void>,
): void {
  const missing = missingTools(requirements, kubectls);
  if (missing.length === 0) {
    Deno.test(name, fn);
  } else if (CI) {
    Deno.test(name, () => {
      throw new Error(`CI=true and required tools are missing: ${missing.join(", ")}`);
    });
  } else {
    Deno.test({ name: `${name} (skipped: missing ${missing.join(", ")})`, ignore: true, fn });
  }
}

/** Parses the JSON a test expects on stdout, with the whole output in the error when it is not JSON. */
export function parseJson<T = unknown>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new Error(`not JSON: ${text}`, { cause: error });
  }
}
