/** The kubectl binaries installed on this machine, found the way the e2e tests and the demo pick one. */
import { run, toolEnv, which } from "./process.ts";

export const VERSIONED_KUBECTL_DIR = "/usr/lib/google-cloud-sdk/bin";

/** A kubectl binary found on this machine, with the version it reports. */
export interface Kubectl {
  path: string;
  /** gitVersion, e.g. v1.32.5 or v1.32.4-dispatcher. */
  version: string;
  /** The Cloud SDK dispatcher, which runs exec plugins twice per command (PROTOCOL.md). */
  dispatcher: boolean;
}

/** Every kubectl installed here: the versioned Cloud SDK binaries, then /usr/bin/kubectl and PATH's kubectl. */
export async function findKubectls(): Promise<Kubectl[]> {
  const candidates: string[] = [];
  try {
    const versioned: string[] = [];
    for (const entry of Deno.readDirSync(VERSIONED_KUBECTL_DIR)) {
      if (/^kubectl\.1\.\d+$/.test(entry.name)) {
        versioned.push(`${VERSIONED_KUBECTL_DIR}/${entry.name}`);
      }
    }
    versioned.sort((a, b) => Number(a.split(".").at(-1)) - Number(b.split(".").at(-1)));
    candidates.push(...versioned);
  } catch { /* no Cloud SDK */ }
  candidates.push("/usr/bin/kubectl", "/usr/local/bin/kubectl");
  const onPath = which("kubectl");
  if (onPath) candidates.push(onPath);
  const seen = new Set<string>();
  const found: Kubectl[] = [];
  for (const path of candidates) {
    let real: string;
    try {
      real = Deno.realPathSync(path);
    } catch {
      continue;
    }
    // The dispatcher is a symlink target shared by several names: keep the first name, but a versioned binary and
    // the dispatcher are different files.
    if (seen.has(real)) continue;
    seen.add(real);
    const result = await run(path, ["version", "--client", "-o", "json"], { env: toolEnv() });
    if (result.code !== 0) continue;
    const version = JSON.parse(result.stdout).clientVersion?.gitVersion ?? "unknown";
    found.push({ path, version, dispatcher: version.includes("dispatcher") });
  }
  return found;
}

/** The versioned kubectl 1.32 if present (runs plugins once), else the first one found. */
export function preferredKubectl(kubectls: readonly Kubectl[]): Kubectl | undefined {
  return kubectls.find((k) => !k.dispatcher && k.version.startsWith("v1.32.")) ??
    kubectls.find((k) => !k.dispatcher) ?? kubectls[0];
}
