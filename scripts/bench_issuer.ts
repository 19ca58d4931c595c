/**
 * A renewal through `--issuer cfssl` against the renewal script people write today (openssl makes the key and CSR,
 * curl asks cfssl, sed splits the JSON into files), run by the broker as its --before-exec-command; both against
 * the same real cfssl, rounds interleaved in a shuffled order, every call starting without a certificate. Used by
 * `deno task bench` (section 5); run alone with `deno run -A scripts/bench_issuer.ts`.
 */
import { findCfssl, startCfssl } from "./world/cfssl.ts";
import { which } from "./world/process.ts";
import { scriptArgs } from "./args.ts";

interface Stats {
  median: number;
  p10: number;
  p90: number;
}

function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { median: at(0.5), p10: at(0.1), p90: at(0.9) };
}

/** The script users write instead of --issuer cfssl: POSIX sh, openssl, curl, sed. */
function renewalScript(
  options: { url: string; caFile: string; cert: string; key: string },
): string {
  return `#!/bin/sh
set -eu
umask 077
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/key" \\
  -subj /CN=alice -out "$dir/csr" 2>/dev/null
csr=$(awk '{printf "%s\\\\n", $0}' "$dir/csr")
curl -sS --fail --cacert "${options.caFile}" -X POST -H 'content-type: application/json' \\
  -d "{\\"certificate_request\\":\\"$csr\\"}" "${options.url}/api/v1/cfssl/sign" > "$dir/answer"
sed -e 's/.*"certificate":"\\([^"]*\\)".*/\\1/' -e 's/\\\\n/\\n/g' "$dir/answer" > "$dir/crt"
grep -q 'BEGIN CERTIFICATE' "$dir/crt"
mv "$dir/key" "${options.key}"
mv "$dir/crt" "${options.cert}"
`;
}

/** One row per way of renewing; undefined when cfssl, curl or openssl is missing. */
export async function benchIssuer(
  options: { broker: string; rounds: number; dir: string; env: Record<string, string> },
): Promise<Map<string, Stats> | undefined> {
  if (!findCfssl() || !which("curl") || !which("openssl")) return undefined;
  await using cfssl = await startCfssl({ dir: `${options.dir}/cfssl`, tls: true });
  const files = (name: string) => ({
    cert: `${options.dir}/${name}/client.crt`,
    key: `${options.dir}/${name}/client.key`,
  });
  const builtIn = files("issuer");
  const scripted = files("script");
  await Deno.mkdir(`${options.dir}/script`, { recursive: true });
  const script = `${options.dir}/renew-cfssl.sh`;
  await Deno.writeTextFile(
    script,
    renewalScript({ url: cfssl.url, caFile: cfssl.caFile, ...scripted }),
    { mode: 0o755 },
  );
  const candidates = [
    {
      name: "broker --issuer cfssl",
      files: builtIn,
      args: [
        "--issuer=cfssl",
        `--issuer-url=${cfssl.url}`,
        `--issuer-ca-file=${cfssl.caFile}`,
        "--common-name=alice",
        `--client-certificate-path=${builtIn.cert}`,
        `--client-key-path=${builtIn.key}`,
        `--cache-dir=${options.dir}/cache`,
      ],
    },
    {
      name: "broker + curl/openssl script",
      files: scripted,
      args: [
        `--before-exec-command=${script}`,
        "--before-exec-policy=when-invalid",
        `--client-certificate-path=${scripted.cert}`,
        `--client-key-path=${scripted.key}`,
        `--cache-dir=${options.dir}/cache`,
      ],
    },
  ];
  const samples = new Map(candidates.map((candidate) => [candidate.name, [] as number[]]));
  const signedBefore = cfssl.signed();
  for (let round = -2; round < options.rounds; round++) {
    for (const candidate of [...candidates].sort(() => Math.random() - 0.5)) {
      // No certificate: every call renews.
      await Deno.remove(candidate.files.cert).catch(() => {});
      const started = performance.now();
      const result = await new Deno.Command(options.broker, {
        args: candidate.args,
        env: options.env,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).output();
      const elapsed = performance.now() - started;
      if (result.code !== 0) {
        throw new Error(
          `${candidate.name} failed (${result.code}): ${new TextDecoder().decode(result.stderr)}`,
        );
      }
      if (round >= 0) samples.get(candidate.name)!.push(elapsed);
    }
  }
  const expected = (options.rounds + 2) * candidates.length;
  if (cfssl.signed() - signedBefore !== expected) {
    throw new Error(`cfssl signed ${cfssl.signed() - signedBefore} certificates, not ${expected}`);
  }
  return new Map([...samples].map(([name, values]) => [name, stats(values)]));
}

if (import.meta.main) {
  scriptArgs({
    usage: "deno run -A scripts/bench_issuer.ts",
    about:
      "One renewal through --issuer cfssl against a curl/openssl script doing the same (BENCH_ROUNDS " +
      "rounds, default 20).",
    flags: [],
  });
  const { installPlugin } = await import("./install.ts");
  const { report } = await import("./bench.ts");
  const dir = await Deno.makeTempDir({ prefix: "ccb-bench-issuer-" });
  try {
    const broker = await installPlugin(`${dir}/root`);
    const rounds = Number(Deno.env.get("BENCH_ROUNDS") ?? 20);
    const results = await benchIssuer({
      broker,
      rounds,
      dir,
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: dir },
    });
    if (!results) console.log("skipped: cfssl, curl or openssl is missing");
    else {report(
        "5. one renewal from cfssl, no certificate in hand",
        results,
        "broker + curl/openssl script",
      );}
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
