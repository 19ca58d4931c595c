/**
 * Clients other than kubectl: a direct request presenting a certificate, @kubernetes/client-node under plain Node.js,
 * and the official Python client under the system python.
 */
import type { Ca, IssuedCertificate } from "./ca.ts";
import { denoDir, run, toolEnv } from "./process.ts";

/** Debian's python, not a pyenv or venv one that PATH may find first: python3-kubernetes lives there. */
export const SYSTEM_PYTHON = "/usr/bin/python3";

/** Whether the system python imports the official Kubernetes client. */
export function hasPythonClient(): boolean {
  try {
    const { code } = new Deno.Command(SYSTEM_PYTHON, {
      args: ["-c", "import kubernetes"],
      env: toolEnv(),
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return code === 0;
  } catch {
    return false;
  }
}

/** GETs `url` presenting `cert` (or no certificate), trusting the world's CA; returns status and body. */
export async function fetchWithCertificate(
  url: string,
  ca: Ca,
  cert?: IssuedCertificate,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const client = Deno.createHttpClient({
    caCerts: [await Deno.readTextFile(ca.certPath)],
    ...(cert
      ? { cert: await Deno.readTextFile(cert.certPath), key: await Deno.readTextFile(cert.keyPath) }
      : {}),
  });
  try {
    const response = await fetch(url, { client, headers });
    return { status: response.status, body: await response.text() };
  } finally {
    client.close();
  }
}

/**
 * A folder where Node.js resolves `@kubernetes/client-node` (the version pinned in deno.json), materialised from
 * Deno's npm cache with `deno install`, so that the client can run under plain `node`.
 */
export async function nodeClientDir(dir: string): Promise<string> {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
  ) as { imports: Record<string, string> };
  const spec = config.imports["@kubernetes/client-node"]!;
  const version = spec.slice(spec.lastIndexOf("@") + 1);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/package.json`,
    JSON.stringify({
      private: true,
      type: "module",
      dependencies: { "@kubernetes/client-node": version },
    }),
  );
  const result = await run(Deno.execPath(), ["install", "--quiet"], {
    cwd: dir,
    env: { ...toolEnv(), HOME: Deno.env.get("HOME") ?? "/", DENO_DIR: denoDir() },
  });
  if (result.code !== 0) {
    throw new Error(`deno install for the Node.js client failed: ${result.stderr}`);
  }
  return dir;
}
