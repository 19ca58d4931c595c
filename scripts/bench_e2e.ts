/**
 * End-to-end cost of the broker as kubectl users meet it: wall time of `kubectl get --raw /version` through the
 * e2e world's nginx (mTLS) with
 *   1. a static client certificate in the kubeconfig (the baseline: no exec plugin),
 *   2. the broker as `command: kubectl-credentials_broker`,
 *   3. the broker as `command: kubectl` + `args: [credentials-broker, ...]` (kubectl's plugin lookup in between),
 * all with a valid certificate so that no renewal runs (the broker's everyday path); then, with `--renew-ahead=30m`
 * and a renewal that takes 1 s (issue 15),
 *   4. credentials valid outside the window (the hot path with the flag set),
 *   5. inside the window: the call that starts the background renewal,
 *   6. inside the window while that renewal runs,
 *   7. an expired certificate: the call renews in the foreground.
 * Rounds interleave the variants so that machine noise hits them alike; each round waits for its background renewal
 * to end before the next one. Run alone with `deno run -A scripts/bench_e2e.ts [rounds]`, or from scripts/bench.ts
 * through benchEndToEnd().
 */
import { PLUGIN_EXECUTABLE } from "../lib/shared/command_list.ts";
import { issueCertificate } from "./world/ca.ts";
import { brokerFlags } from "./world/kubeconfig.ts";
import { findKubectls, type Kubectl, preferredKubectl } from "./world/kubectl.ts";
import { delay } from "./world/process.ts";
import { type Client, World } from "./world/world.ts";
import { scriptArgs } from "./args.ts";
import { describeError } from "../lib/shared/errors.ts";

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
  /** median / median of the renew-ahead hot path (variants with --renew-ahead only). */
  vsHotPath?: number;
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
    command: script.command,
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
  const variants: {
    name: string;
    client: Client;
    /** Puts the credentials in the state this variant measures, before each call. */
    prepare?: () => Promise<void>;
    /** Checks, after each call, that it measured what its name says. */
    check?: (stderr: string) => Promise<void>;
  }[] = [];
  const add = async (
    name: string,
    write: (client: Client) => Promise<void>,
    hooks: Pick<(typeof variants)[number], "prepare" | "check"> = {},
  ) => {
    const client = await world.client(kubectl, name.replace(/\W+/g, "-"));
    await write(client);
    variants.push({ name, client, ...hooks });
  };
  await add("static client certificate", async (client) => {
    // Renew once up front so that the static variant uses the same kind of certificate.
    const result = await client.exec(script.argv[0]!, script.argv.slice(1));
    if (result.code !== 0) throw new Error(`renewal script failed: ${result.stderr}`);
    await world.writeKubeconfig(client, {
      clientCertificate: script.certPath,
      clientKey: script.keyPath,
    });
  });
  await add(
    "command: kubectl-credentials_broker",
    (client) => world.writeKubeconfig(client, exec(PLUGIN_EXECUTABLE, flags)),
  );
  await add(
    "command: kubectl credentials-broker",
    (client) => world.writeKubeconfig(client, exec("kubectl", ["credentials-broker", ...flags])),
  );

  // Issue 15: the same flags with --renew-ahead=30m for variants 4-7, each with its own renewal script (1 s, then a
  // fresh 1 h certificate: outside the window) and cache folder.
  const ahead = async (name: string) => {
    const s = await world.renewalScript(name, { lifetimeSeconds: 3600, sleepSeconds: 1 });
    const cacheDir = `${s.dir}/cache`;
    const aheadFlags = brokerFlags({
      certPath: s.certPath,
      keyPath: s.keyPath,
      command: s.command,
      policy: "when-invalid",
      cacheDir,
    });
    return { script: s, cacheDir, flags: [...aheadFlags, "--renew-ahead=30m"] };
  };
  const claimed = (cacheDir: string) => {
    try {
      return [...Deno.readDirSync(cacheDir)].some((entry) => entry.name.endsWith(".claim"));
    } catch {
      return false;
    }
  };
  const settled = async (cacheDir: string) => {
    const deadline = Date.now() + 30_000;
    while (claimed(cacheDir)) {
      if (Date.now() > deadline) throw new Error("a background renewal did not end within 30 s");
      await delay(20);
    }
  };
  const quiet = (name: string) => (stderr: string) => {
    if (stderr.trim() !== "") throw new Error(`${name}: kubectl printed: ${stderr}`);
    return Promise.resolve();
  };

  const hot = await ahead("ahead-hot");
  const hotName = "--renew-ahead, outside the window";
  await add(hotName, async (client) => {
    const result = await client.exec(hot.script.argv[0]!, hot.script.argv.slice(1));
    if (result.code !== 0) throw new Error(`renewal script failed: ${result.stderr}`);
    await world.writeKubeconfig(client, exec(PLUGIN_EXECUTABLE, hot.flags));
  }, { check: quiet(hotName) });

  // Inside the window: a certificate with 20 minutes left (of 80), put back before each round.
  const window = await ahead("ahead-window");
  const inWindow = await issueCertificate(world.ca, `${window.script.dir}/in-window`, {
    commonName: "alice",
    organization: "developers",
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 20 * 60_000),
  });
  const startsName = "window: starts the renewal";
  await add(
    startsName,
    (client) => world.writeKubeconfig(client, exec(PLUGIN_EXECUTABLE, window.flags)),
    {
      prepare: async () => {
        await settled(window.cacheDir);
        await Deno.copyFile(inWindow.keyPath, window.script.keyPath);
        await Deno.copyFile(inWindow.certPath, window.script.certPath);
      },
      check: async (stderr) => {
        await quiet(startsName)(stderr);
        if (!claimed(window.cacheDir)) throw new Error(`${startsName}: no background renewal`);
      },
    },
  );
  // The same credentials, one call later: the renewal started by the previous call still runs (it sleeps 1 s).
  const runningName = "window: a renewal is running";
  variants.push({
    name: runningName,
    client: variants.at(-1)!.client,
    prepare: () => {
      if (!claimed(window.cacheDir)) throw new Error(`${runningName}: the renewal already ended`);
      return Promise.resolve();
    },
    check: async (stderr) => {
      await quiet(runningName)(stderr);
      if (!claimed(window.cacheDir)) throw new Error(`${runningName}: the renewal ended meanwhile`);
      await settled(window.cacheDir);
    },
  });

  const expired = await ahead("ahead-expired");
  const expiredCopy = `${expired.script.dir}/expired`;
  const foregroundName = "expired: foreground renewal (1 s)";
  await add(
    foregroundName,
    async (client) => {
      await Deno.copyFile(expired.script.keyPath, `${expiredCopy}.key`);
      await Deno.copyFile(expired.script.certPath, `${expiredCopy}.crt`);
      await world.writeKubeconfig(client, exec(PLUGIN_EXECUTABLE, expired.flags));
    },
    {
      prepare: async () => {
        await Deno.copyFile(`${expiredCopy}.key`, expired.script.keyPath);
        await Deno.copyFile(`${expiredCopy}.crt`, expired.script.certPath);
      },
      check: quiet(foregroundName),
    },
  );

  const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  for (let round = 0; round < warmup + rounds; round++) {
    for (const variant of variants) {
      await variant.prepare?.();
      const result = await variant.client.run(["get", "--raw", "/version"]);
      if (result.code !== 0) throw new Error(`${variant.name}: kubectl failed: ${result.stderr}`);
      await variant.check?.(result.stderr);
      if (round >= warmup) samples.get(variant.name)!.push(result.ms);
    }
  }
  const total = warmup + rounds;
  const expectRuns = async (what: string, s: { runs(): Promise<number> }, expected: number) => {
    const runs = await s.runs();
    if (runs !== expected) {
      throw new Error(`${what}: the renewal script ran ${runs} times, expected ${expected}`);
    }
  };
  await expectRuns("no renewal", script, 1);
  await expectRuns(hotName, hot.script, 1);
  await expectRuns("window (one background renewal per round)", window.script, total);
  await expectRuns(foregroundName, expired.script, total);

  const stats = variants.map(({ name }): VariantStats => {
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
  const hotMedian = stats.find((s) => s.name === hotName)!.medianMs;
  for (const s of stats) {
    s.ratio = s.medianMs / stats[0]!.medianMs;
    if (
      variants.findIndex((v) => v.name === s.name) >= variants.findIndex((v) => v.name === hotName)
    ) {
      s.vsHotPath = s.medianMs / hotMedian;
    }
  }
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
    }  ratio  vs hot path`,
  ];
  const ms = (n: number) => `${n.toFixed(0)}`;
  for (const v of result.variants) {
    lines.push(
      `  ${v.name.padEnd(38)} ${`${ms(v.medianMs)} ms`.padStart(8)} ${
        `${ms(v.p25Ms)}-${ms(v.p75Ms)} ms`.padStart(13)
      } ${`${ms(v.minMs)}-${ms(v.maxMs)} ms`.padStart(13)}  ${
        `${v.ratio.toFixed(2)}x`.padStart(5)
      }${v.vsHotPath === undefined ? "" : `  ${v.vsHotPath.toFixed(2)}x`.padStart(12)}`,
    );
  }
  lines.push(
    `  (${
      result.variants[0]?.rounds ?? 0
    } rounds each, interleaved; ratio: to the static certificate; vs hot path: to the first --renew-ahead row;`,
    `   rows 1-4 run no renewal, "window" rows answer with the current certificate while a detached broker renews,`,
    `   the expired row waits for its renewal)`,
  );
  return lines.join("\n");
}

if (import.meta.main) {
  const { positionals } = scriptArgs({
    usage: "deno run -A scripts/bench_e2e.ts [ROUNDS]",
    about:
      "kubectl get --raw /version through nginx with a static certificate and with the broker in each " +
      "of its ways, ROUNDS rounds interleaved.",
    flags: [],
    positionals: { max: 1 },
  });
  const rounds = positionals[0] ? Number(positionals[0]) : undefined;
  try {
    await benchEndToEnd({ rounds });
  } catch (error) {
    console.error(`error: ${describeError(error)}`);
    Deno.exitCode = 1;
  }
}
