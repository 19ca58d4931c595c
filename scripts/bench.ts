/**
 * `deno task bench`: the broker's cost per kubectl call, measured side by side in one run (rounds interleaved so
 * that machine noise hits every candidate alike), reported as median, spread and ratios. Not a test: timings on a
 * shared machine are noisy, so nothing here asserts.
 */
import { bundleFolder, installPlugin, RUNTIME_STAMP } from "./install.ts";
import { fileUrlToPath, HOST_OS } from "../lib/shared/platform.ts";
import { BUNDLE_ENTRY, RUNTIME_FLAGS } from "./bundle.ts";
import { BROKER_PERMISSIONS } from "./permissions.ts";
import { scriptArgs } from "./args.ts";
import { clientCredentials, generateKey, issueCert } from "./world/ca.ts";

interface Candidate {
  name: string;
  cmd: string[];
  env?: Record<string, string>;
}

interface Stats {
  median: number;
  p10: number;
  p90: number;
  /** Each round's time in the order of the rounds, so that a candidate can be compared round by round. */
  rounds?: number[];
  /** Each round's CPU time (user + system, ms) and minor page faults, where the OS tells them (Linux). */
  cpu?: number[];
  faults?: number[];
}

/**
 * What the children reaped so far have used, by getrusage(RUSAGE_CHILDREN) through libc (Linux): CPU time in ms
 * and minor page faults. Wall time on a shared 2-core machine moves with everyone else's work; the CPU time and the
 * page faults of a run are its own (a page fault costs 20-30 us on the VM the figures come from).
 */
function childUsage(): (() => { cpuMs: number; faults: number }) | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    const libc = Deno.dlopen("libc.so.6", {
      getrusage: { parameters: ["i32", "buffer"], result: "i32" },
    });
    const buffer = new BigInt64Array(18); // struct rusage: two timevals, then 14 longs
    return () => {
      if (libc.symbols.getrusage(-1, buffer) !== 0) throw new Error("getrusage failed");
      const [userS, userUs, systemS, systemUs] = [0, 1, 2, 3].map((i) => Number(buffer[i]));
      return {
        cpuMs: (userS! + systemS!) * 1000 + (userUs! + systemUs!) / 1000,
        faults: Number(buffer[8]), // ru_minflt
      };
    };
  } catch {
    return undefined;
  }
}

/** Runs each candidate `rounds` times, interleaved and in a shuffled order each round; returns wall-time stats. */
export async function measure(
  candidates: Candidate[],
  rounds: number,
  warmup = 3,
): Promise<Map<string, Stats>> {
  const samples = new Map(candidates.map((c) => [c.name, [] as number[]]));
  const cpu = new Map(candidates.map((c) => [c.name, [] as number[]]));
  const faults = new Map(candidates.map((c) => [c.name, [] as number[]]));
  const usage = childUsage();
  for (let round = -warmup; round < rounds; round++) {
    const order = [...candidates].sort(() => Math.random() - 0.5);
    for (const candidate of order) {
      const before = usage?.();
      const started = performance.now();
      const { code } = await new Deno.Command(candidate.cmd[0]!, {
        args: candidate.cmd.slice(1),
        env: candidate.env,
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).output();
      const elapsed = performance.now() - started;
      if (code !== 0) throw new Error(`${candidate.name} failed with exit ${code}`);
      if (round >= 0) samples.get(candidate.name)!.push(elapsed);
      const after = usage?.();
      if (round >= 0 && before && after) {
        cpu.get(candidate.name)!.push(after.cpuMs - before.cpuMs);
        faults.get(candidate.name)!.push(after.faults - before.faults);
      }
    }
  }
  return new Map(
    [...samples].map(([name, values]) => [name, {
      ...stats(values),
      rounds: values,
      ...(usage ? { cpu: cpu.get(name)!, faults: faults.get(name)! } : {}),
    }]),
  );
}

function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { median: at(0.5), p10: at(0.1), p90: at(0.9) };
}

/**
 * The median of the round-by-round ratios of `a` to `b`: each round ran both within moments of each other, so
 * a machine that slows down for a while (other work, CPU frequency) slows both sides of a ratio alike.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  return stats(a.map((value, i) => value / b[i]!)).median;
}

/**
 * Prints a table of stats with each median's ratio to the baseline's and, where the rounds are known, the
 * paired ratio (the median of the round-by-round ratios), the figure to quote on a busy machine.
 */
export function report(title: string, results: Map<string, Stats>, baseline: string): void {
  console.log(`\n${title}`);
  const base = results.get(baseline)!;
  const width = Math.max(...[...results.keys()].map((k) => k.length));
  for (const [name, s] of results) {
    const paired = s.rounds && base.rounds
      ? `, paired ${pairedRatio(s.rounds, base.rounds).toFixed(2)}x`
      : "";
    console.log(
      `  ${name.padEnd(width)}  median ${s.median.toFixed(1).padStart(6)} ms  ` +
        `(p10 ${s.p10.toFixed(1)}, p90 ${s.p90.toFixed(1)})  ${
          (s.median / base.median).toFixed(2)
        }x ${baseline}${paired}`,
    );
    if (s.cpu && base.cpu && s.faults && base.faults) {
      console.log(
        `  ${"".padEnd(width)}  cpu ${stats(s.cpu).median.toFixed(1).padStart(6)} ms, paired ${
          pairedRatio(s.cpu, base.cpu).toFixed(2)
        }x; page faults ${stats(s.faults).median.toFixed(0)} (${
          stats(s.faults).median - stats(base.faults).median >= 0 ? "+" : ""
        }${(stats(s.faults).median - stats(base.faults).median).toFixed(0)})`,
      );
    }
  }
}

async function main({ e2e, hotOnly }: { e2e: boolean; hotOnly: boolean }) {
  const rounds = Number(Deno.env.get("BENCH_ROUNDS") ?? 30);
  const dir = await Deno.makeTempDir({ prefix: "ccb-bench-" });
  try {
    const home = `${dir}/home`;
    await Deno.mkdir(home);
    const broker = await installPlugin(`${dir}/root`);
    // A second install whose stamp no longer matches its Deno: what the shim runs after a Deno upgrade.
    const changed = await installPlugin(`${dir}/changed`);
    await Deno.utime(`${bundleFolder(changed)}/${RUNTIME_STAMP}`, 0, 0);
    const { ca, key, cert, token } = await clientCredentials(dir, {
      notAfter: new Date(Date.now() + 86_400_000),
      token: "s.bench-token\n",
    });
    const empty = `${dir}/empty.ts`;
    await Deno.writeTextFile(empty, "");
    // The runtime's floor with the broker's own flags, and the same plus the run-time narrowing of permissions
    // (Deno.permissions.revokeSync of the kinds a valid call never uses), so that its cost has a figure of its own.
    const emptyJs = `${dir}/empty.js`;
    await Deno.writeTextFile(emptyJs, "");
    const revoking = `${dir}/revoke.js`;
    await Deno.writeTextFile(
      revoking,
      `for (const name of ["net", "write", "run", "sys"]) Deno.permissions.revokeSync({ name });\n`,
    );
    const runtimeFloor = (script: string) => [
      Deno.execPath(),
      "run",
      ...RUNTIME_FLAGS,
      ...BROKER_PERMISSIONS,
      "--quiet",
      script,
    ];
    // What the original tool asked users to run before every call: renew when the certificate expires within a
    // minute or the token is missing.
    const original = `${dir}/original-check.sh`;
    await Deno.writeTextFile(
      original,
      `#!/usr/bin/env bash
set -e
if ! openssl x509 -checkend 60 -noout -in "${cert}" >/dev/null; then echo renew; fi
if [ ! -s "${token}" ]; then echo renew; fi
`,
      { mode: 0o755 },
    );
    const env = {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: home,
      KUBERNETES_EXEC_INFO: JSON.stringify({
        kind: "ExecCredential",
        apiVersion: "client.authentication.k8s.io/v1",
        spec: { interactive: false },
      }),
    };
    const credentialArgs = [
      `--client-certificate-path=${cert}`,
      `--client-key-path=${key}`,
      `--token-path=${token}`,
    ];
    console.log(
      `deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, ${rounds} rounds each`,
    );
    const hot = await measure([
      { name: "deno run empty.ts", cmd: [Deno.execPath(), "run", empty], env },
      { name: "  empty.js with the broker's flags", cmd: runtimeFloor(emptyJs), env },
      { name: "    same, revoking net, write, run, sys", cmd: runtimeFloor(revoking), env },
      {
        name: "broker when-invalid (valid)",
        cmd: [
          broker,
          ...credentialArgs,
          `--before-exec-command=${original}`,
          "--before-exec-policy=when-invalid",
        ],
        env,
      },
      {
        // The shim after a Deno upgrade: the same call without the V8 flags.
        name: "  same, Deno changed since install",
        cmd: [
          changed,
          ...credentialArgs,
          `--before-exec-command=${original}`,
          "--before-exec-policy=when-invalid",
        ],
        env,
      },
      {
        // The same without the installed shim's /bin/sh: how a compiled binary starts.
        name: "  same, without the sh shim",
        cmd: [
          Deno.execPath(),
          "run",
          ...RUNTIME_FLAGS,
          ...BROKER_PERMISSIONS,
          "--quiet",
          `${bundleFolder(broker)}/${BUNDLE_ENTRY}`,
          ...credentialArgs,
          `--before-exec-command=${original}`,
          "--before-exec-policy=when-invalid",
        ],
        env,
      },
      {
        // What the bundle and the runtime flags buy: the same call run from the TypeScript source.
        name: "  same, from source (main.ts)",
        cmd: [
          Deno.execPath(),
          "run",
          "--config",
          fileUrlToPath(new URL("../deno.json", import.meta.url).href, HOST_OS),
          ...BROKER_PERMISSIONS,
          "--quiet",
          fileUrlToPath(new URL("../main.ts", import.meta.url).href, HOST_OS),
          ...credentialArgs,
          `--before-exec-command=${original}`,
          "--before-exec-policy=when-invalid",
        ],
        env,
      },
      {
        // The hot path with --issuer configured: the same files, no issuer module loaded, nothing contacted (the
        // issuer's address has no one listening, so any attempt would fail the call).
        name: "  same files, --issuer cfssl instead",
        cmd: [
          broker,
          ...credentialArgs,
          "--issuer=cfssl",
          "--issuer-url=https://127.0.0.1:9",
          "--common-name=alice",
        ],
        env,
      },
      { name: "original check script", cmd: [original], env },
      {
        name: "broker always + true",
        cmd: [broker, ...credentialArgs, "--before-exec-command=true"],
        env,
      },
    ], rounds);
    report("1-2. one call, credentials valid", hot, "deno run empty.ts");
    if (hotOnly) return;

    // 3. 32 calls at once with expired credentials and a renewal that takes about a second.
    const nextKey = await generateKey(dir, "next.key", "ec");
    await issueCert({
      dir,
      ca,
      keyPath: nextKey,
      out: "next.crt",
      notAfter: new Date(Date.now() + 86_400_000),
    });
    const renew = `${dir}/renew.sh`;
    await Deno.writeTextFile(
      renew,
      `#!/bin/sh\necho run >> "${dir}/runs"\nsleep 1\ncp "${dir}/next.crt" "${cert}"\ncp "${dir}/next.key" "${key}"\n`,
      { mode: 0o755 },
    );
    const expire = () =>
      issueCert({
        dir,
        ca,
        keyPath: key,
        out: "client.crt",
        notAfter: new Date(Date.now() - 60_000),
      });
    const call = () =>
      new Deno.Command(broker, {
        args: [
          `--client-certificate-path=${cert}`,
          `--client-key-path=${key}`,
          `--before-exec-command=${renew}`,
          "--before-exec-policy=when-invalid",
        ],
        env,
        stdout: "null",
        stderr: "null",
      }).output();
    const single: number[] = [];
    const concurrent: number[] = [];
    let runs = 0;
    for (let round = 0; round < 3; round++) {
      await Deno.copyFile(`${dir}/client.key`, `${dir}/client.key.orig`).catch(() => {});
      await expire();
      let started = performance.now();
      await call();
      single.push(performance.now() - started);
      await generateKey(dir, "client.key", "ec");
      await expire();
      await Deno.remove(`${dir}/runs`).catch(() => {});
      started = performance.now();
      const results = await Promise.all(Array.from({ length: 32 }, call));
      concurrent.push(performance.now() - started);
      if (results.some((r) => r.code !== 0)) throw new Error("a concurrent call failed");
      runs = (await Deno.readTextFile(`${dir}/runs`)).split("\n").filter(Boolean).length;
      console.log(
        `  round ${round + 1}: single ${single.at(-1)!.toFixed(0)} ms, 32 concurrent ${
          concurrent.at(-1)!.toFixed(0)
        } ms, renewals ${runs}`,
      );
    }
    const s = stats(single);
    const c = stats(concurrent);
    console.log(
      `\n3. 32 concurrent calls, expired certificate, 1 s renewal\n` +
        `  single renewal call  median ${s.median.toFixed(0)} ms\n` +
        `  32 concurrent calls  median ${c.median.toFixed(0)} ms  ${
          (c.median / s.median).toFixed(2)
        }x single, renewals per round: ${runs}`,
    );
    // 5. A renewal through --issuer cfssl against a curl/openssl script doing the same.
    const { benchIssuer } = await import("./bench_issuer.ts");
    const issued = await benchIssuer({
      broker,
      rounds: Math.max(5, Math.round(rounds / 2)),
      dir: `${dir}/issuer`,
      env,
    });
    if (issued) {
      report(
        "5. one renewal from the real cfssl, no certificate in hand",
        issued,
        "broker + curl/openssl script",
      );
    } else console.log("\n5. skipped: cfssl, curl or openssl is missing");
    if (e2e) {
      // 4. kubectl itself, through an nginx mTLS proxy: static certificate against the broker.
      const { benchEndToEnd, formatEndToEnd } = await import("./bench_e2e.ts");
      console.log(
        "\n4. " + formatEndToEnd(await benchEndToEnd({ rounds, print: false })).trimEnd(),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const { values } = scriptArgs({
    usage: "deno task bench [--no-e2e] [--hot-only]",
    about:
      "The broker's cost per kubectl call, side by side with the alternatives (BENCH_ROUNDS rounds, " +
      "default 30). Not a test: nothing asserts.",
    flags: [
      { name: "no-e2e", kind: "boolean", help: "skip the kubectl through nginx part" },
      { name: "hot-only", kind: "boolean", help: "only sections 1-2: one call, credentials valid" },
    ],
  });
  await main({ e2e: !values["no-e2e"], hotOnly: Boolean(values["hot-only"]) });
}
