/**
 * The renewal world of tests/plugin/renewal_test.ts and lock_test.ts: expired credentials in place, a valid pair
 * ready, and a renewal script that installs it, counting its runs and recording overlapping ones.
 */
import { clientCredentials, generateKey, issueCert, type Step, writeCommand } from "../helpers.ts";

const HOUR = 3600_000;

/**
 * Expired (or otherwise bad) credentials in place, a valid pair ready in next.crt/next.key, and a renewal script
 * that copies them over (after `sleep` seconds, only on its first run with `sleepOnce`), counts its runs and records
 * overlapping runs. `renew` is its command line (a Deno script), `steps` what it does. With `holdUntil` a run
 * writes its broker's pid to `broker.pid`, then waits for that file to exist before it copies (at most 2 minutes):
 * the test says when, whatever the time a broker takes to start (seconds under Wine).
 */
export async function renewalWorld(
  dir: string,
  options: { sleep?: number; sleepOnce?: boolean; slowWrite?: boolean; holdUntil?: string } = {},
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
  // Writes in place, a line at a time, certificate first: a reader outside the lock would see a truncated
  // certificate, or a new certificate next to the old key.
  const slow = options.slowWrite ?? false;
  const steps: Step[] = [
    { enter: `${dir}/running`, overlaps: `${dir}/overlaps` },
    { append: `${dir}/runs`, value: "run" },
    ...(options.holdUntil
      ? [
        { write: `${dir}/broker.pid`, value: { ppid: true } } as const,
        { waitFor: options.holdUntil, timeoutMs: 120_000 },
      ]
      : []),
    options.sleepOnce
      ? { sleepMs: (options.sleep ?? 0) * 1000, once: `${dir}/slept` }
      : { sleepMs: (options.sleep ?? 0) * 1000 },
    { copy: `${dir}/next.crt`, to: `${dir}/client.crt`, slow },
    { copy: `${dir}/next.key`, to: `${dir}/client.key`, slow },
    { leave: `${dir}/running` },
  ];
  const renew = (await writeCommand(dir, "renew", steps)).line;
  const count = (name: string) => {
    try {
      return Deno.readTextFileSync(`${dir}/${name}`).split("\n").filter(Boolean).length;
    } catch {
      return 0;
    }
  };
  return {
    ca,
    key,
    cert,
    renew,
    steps,
    runs: () => count("runs"),
    /** The pid of the broker that started the last run (`holdUntil` only; 0 until written). */
    brokerPid: () => {
      try {
        return Number(Deno.readTextFileSync(`${dir}/broker.pid`).trim()) || 0;
      } catch {
        return 0;
      }
    },
    overlaps: () => count("overlaps"),
  };
}

/** The plugin's arguments for world `w`, then `extra`. */
export const brokerArgs = (w: { cert: string; key: string; renew: string }, ...extra: string[]) => [
  `--client-certificate-path=${w.cert}`,
  `--client-key-path=${w.key}`,
  `--before-exec-command=${w.renew}`,
  ...extra,
];
