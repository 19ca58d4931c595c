/**
 * End-to-end cost of the broker as kubectl users meet it: wall time of `kubectl get --raw /version` through the
 * e2e world's nginx (mTLS) with
 *   1. a static client certificate in the kubeconfig (the baseline: no exec plugin),
 *   2. the broker as `command: kubectl-credentials_broker`,
 *   3. the broker as `command: kubectl` + `args: [credentials-broker, ...]` (kubectl's plugin lookup in between),
 * all with a valid certificate so that no renewal runs (the broker's everyday path). Rounds interleave the three
 * variants so that machine noise hits them alike. Run alone with `deno run -A scripts/bench_e2e.ts [rounds]`, or
 * from scripts/bench.ts through benchEndToEnd().
 */
import {
  brokerFlags,
  type Client,
  findKubectls,
  type Kubectl,
  preferredKubectl,
  World,
} from "../tests/e2e/world.ts";

export interface BenchEndToEndOptions {
  /** Measured rounds per variant (after `warmup` unmeasured ones). */
  rounds?: number;
  warmup?: number;
  /** Which kubectl; default: the versioned 1.32 if present (the Cloud SDK dispatcher runs plugins twice). */
  kubectl?: Kubectl;
  /** Print the table to stdout (default true). */
  print?: boolean;
}

export interface VariantStats {
  name: string;
  rounds: number;
  medianMs: number;
  p25Ms: number;
  p75Ms: number;
  minMs: number;
  maxMs: number;
  /** median / median of the static-certificate baseline. */
  ratio: number;
}

export interface BenchEndToEndResult {
  kubectl: string;
  proxy: string;
  variants: VariantStats[];
}

function quantile(sorted: readonly number[], q: number): number {
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
}

/** Measures the three variants and returns (and by default prints) median and spread of each. */
export async function benchEndToEnd(
  options: BenchEndToEndOptions = {},
): Promise<BenchEndToEndResult> {
  const rounds = options.rounds ?? 20;
  const warmup = options.warmup ?? 3;
  const kubectl = options.kubectl ?? preferredKubectl(await findKubectls());
  if (!kubectl) throw new Error("kubectl not found: the end-to-end bench needs it");
  await using world = await World.start({ installBroker: true });

  const script = await world.renewalScript("bench", { lifetimeSeconds: 3600 });
  const flags = brokerFlags({
    certPath: script.certPath,
    keyPath: script.keyPath,
    command: script.path,
    policy: "when-invalid",
  });
  const exec = (command: string, args: string[]) => ({
    exec: {
      apiVersion: "client.authentication.k8s.io/v1" as const,
      command,
      args,
      interactiveMode: "Never" as const,
    },
  });
  const variants: { name: string; client: Client }[] = [];
  const add = async (name: string, write: (client: Client) => Promise<void>) => {
    const client = await world.client(kubectl, name.replace(/\W+/g, "-"));
    await write(client);
    variants.push({ name, client });
  };
  await add("static client certificate", async (client) => {
    // Renew once up front so that the static variant uses the same kind of certificate.
    const result = await client.exec(script.path, []);
    if (result.code !== 0) throw new Error(`renewal script failed: ${result.stderr}`);
    await world.writeKubeconfig(client, {
      clientCertificate: script.certPath,
      clientKey: script.keyPath,
    });
  });
  await add(
    "command: kubectl-credentials_broker",
    (client) => world.writeKubeconfig(client, exec("kubectl-credentials_broker", flags)),
  );
  await add(
    "command: kubectl credentials-broker",
    (client) => world.writeKubeconfig(client, exec("kubectl", ["credentials-broker", ...flags])),
  );

  const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  for (let round = 0; round < warmup + rounds; round++) {
    for (const variant of variants) {
      const result = await variant.client.run(["get", "--raw", "/version"]);
      if (result.code !== 0) throw new Error(`${variant.name}: kubectl failed: ${result.stderr}`);
      if (round >= warmup) samples.get(variant.name)!.push(result.ms);
    }
  }
  const runs = await script.runs();
  if (runs !== 1) {
    throw new Error(`the renewal script ran ${runs} times; the bench must measure no renewals`);
  }

  const stats = variants.map(({ name }) => {
    const sorted = [...samples.get(name)!].sort((a, b) => a - b);
    return {
      name,
      rounds: sorted.length,
      medianMs: quantile(sorted, 0.5),
      p25Ms: quantile(sorted, 0.25),
      p75Ms: quantile(sorted, 0.75),
      minMs: sorted[0]!,
      maxMs: sorted.at(-1)!,
      ratio: 1,
    };
  });
  for (const s of stats) s.ratio = s.medianMs / stats[0]!.medianMs;
  const result = {
    kubectl: `${kubectl.version} (${kubectl.path})`,
    proxy: world.proxy,
    variants: stats,
  };
  if (options.print ?? true) console.log(formatEndToEnd(result));
  return result;
}

/** The comparison as a small table: median, interquartile range, min-max, ratio to the static baseline. */
export function formatEndToEnd(result: BenchEndToEndResult): string {
  const lines = [
    `end to end: kubectl get --raw /version through ${result.proxy} mTLS, kubectl ${result.kubectl}`,
    `  ${"variant".padEnd(38)} ${"median".padStart(8)} ${"p25-p75".padStart(13)} ${
      "min-max".padStart(13)
    }  ratio`,
  ];
  const ms = (n: number) => `${n.toFixed(0)}`;
  for (const v of result.variants) {
    lines.push(
      `  ${v.name.padEnd(38)} ${`${ms(v.medianMs)} ms`.padStart(8)} ${
        `${ms(v.p25Ms)}-${ms(v.p75Ms)} ms`.padStart(13)
      } ${`${ms(v.minMs)}-${ms(v.maxMs)} ms`.padStart(13)}  ${v.ratio.toFixed(2)}x`,
    );
  }
  lines.push(
    `  (${result.variants[0]?.rounds ?? 0} rounds each, interleaved, no renewal during the runs)`,
  );
  return lines.join("\n");
}

if (import.meta.main) {
  const rounds = Deno.args[0] ? Number(Deno.args[0]) : undefined;
  try {
    await benchEndToEnd({ rounds });
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : error}`);
    Deno.exitCode = 1;
  }
}
