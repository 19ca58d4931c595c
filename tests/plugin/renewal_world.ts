/**
 * The renewal world of tests/plugin/renewal_test.ts and lock_test.ts: expired credentials in place, a valid pair
 * ready, and a renewal script that installs it, counting its runs and recording overlapping ones.
 */
import { clientCredentials, generateKey, issueCert } from "../helpers.ts";

const HOUR = 3600_000;

/**
 * Expired (or otherwise bad) credentials in place, a valid pair ready in next.crt/next.key, and a renewal script
 * that copies them over (after `sleep` seconds, only on its first run with `sleepOnce`), counts its runs and records
 * overlapping runs.
 */
export async function renewalWorld(
  dir: string,
  options: { sleep?: number; sleepOnce?: boolean; slowWrite?: boolean } = {},
) {
  const { ca, key, cert } = await clientCredentials(dir, {
    notAfter: new Date(Date.now() - 60_000),
    token: null,
  });
  const nextKey = await generateKey(dir, "next.key", "ec");
  await issueCert({
    dir,
    ca,
    keyPath: nextKey,
    out: "next.crt",
    notAfter: new Date(Date.now() + 2 * HOUR),
  });
  // Writes in place, a few bytes at a time, certificate first: a reader outside the lock would see a truncated
  // certificate, or a new certificate next to the old key.
  const copy = options.slowWrite
    ? `slow() { : > "$2"; while IFS= read -r line; do printf '%s\\n' "$line" >> "$2"; sleep 0.01; done < "$1"; }
slow "${dir}/next.crt" "${dir}/client.crt"
slow "${dir}/next.key" "${dir}/client.key"`
    : `cp "${dir}/next.crt" "${dir}/client.crt"; cp "${dir}/next.key" "${dir}/client.key"`;
  const renew = `${dir}/renew.sh`;
  Deno.writeTextFileSync(
    renew,
    `#!/bin/sh
mkdir "${dir}/running" 2>/dev/null || echo overlap >> "${dir}/overlaps"
echo run >> "${dir}/runs"
${
      options.sleepOnce
        ? `[ -e "${dir}/slept" ] || { : > "${dir}/slept"; sleep ${options.sleep ?? 0}; }`
        : `sleep ${options.sleep ?? 0}`
    }
${copy}
rmdir "${dir}/running"
`,
    { mode: 0o755 },
  );
  const count = (name: string) => {
    try {
      return Deno.readTextFileSync(`${dir}/${name}`).split("\n").filter(Boolean).length;
    } catch {
      return 0;
    }
  };
  return { ca, key, cert, renew, runs: () => count("runs"), overlaps: () => count("overlaps") };
}

/** The plugin's arguments for world `w`, then `extra`. */
export const brokerArgs = (w: { cert: string; key: string; renew: string }, ...extra: string[]) => [
  `--client-certificate-path=${w.cert}`,
  `--client-key-path=${w.key}`,
  `--before-exec-command=${w.renew}`,
  ...extra,
];
