/**
 * The renewal world of tests/plugin/renewal_test.ts and lock_test.ts: expired credentials in place, a valid pair
 * ready, and a renewal script that installs it, counting its runs and recording overlapping ones. Also how those
 * tests and background_renewal_test.ts wait on events rather than set times: until() a condition holds, and
 * runBrokerUntil() to act once a broker has said something.
 */
import {
  clientCredentials,
  generateKey,
  installedBroker,
  issueCert,
  pluginEnv,
  type Step,
  V1_EXEC_INFO,
  writeCommand,
} from "../helpers.ts";
import { networkEnv } from "../../scripts/world/network_env.ts";

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

/** Waits for `condition`, failing after two minutes (a broker that never gets there, rather than a hung test). */
export async function until(condition: () => boolean): Promise<void> {
  const limit = Date.now() + 120_000;
  while (!condition()) {
    if (Date.now() > limit) throw new Error(`still waiting after 2 minutes for ${condition}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * runBroker(), calling `onMatch` once as soon as the broker's stderr so far matches `pattern`: the test acts while
 * the broker is in the middle of its call.
 */
export async function runBrokerUntil(
  args: string[],
  home: string,
  pattern: RegExp,
  onMatch: () => void,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(await installedBroker(), {
    args,
    cwd: home,
    env: { ...networkEnv(), ...pluginEnv(home), KUBERNETES_EXEC_INFO: V1_EXEC_INFO },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new Response(child.stdout).text();
  let stderr = "";
  let matched = false;
  for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
    stderr += text;
    if (!matched && pattern.test(stderr)) {
      matched = true;
      onMatch();
    }
  }
  return { code: (await child.status).code, stdout: await stdout, stderr };
}
