/**
 * `deno task bench:kubeconfig`: the cost of `kubeconfig set -f` on a big kubeconfig (issue 11: 115,000 users,
 * ~20 MB), next to `kubectl config set-credentials` on a copy of the same file and `kubectl config view` reading
 * it. The broker runs from source (`deno run` of main.ts with this repository's deno.json), as `deno task` runs
 * it. Reports wall time and peak RSS of each process (GNU time when installed, else VmHWM from /proc while
 * polling). Not a test: timings on a shared machine are noisy, so nothing here asserts.
 *
 *   deno task bench:kubeconfig [--users N] [--rounds N] [--kubectl PATH]
 */
import { sourceBrokerCommand } from "./world/broker.ts";
import { PLUGIN_EXECUTABLE } from "../lib/shared/command_list.ts";
import { scriptArgs } from "./args.ts";

/** A kubectl-style kubeconfig with `users` user entries, each with a token, and one context. */
export function bigKubeconfig(users: number): string {
  const out = [
    "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://prod.example:6443\n  name: prod\n",
    "contexts:\n- context:\n    cluster: prod\n    user: user-0\n  name: prod\ncurrent-context: prod\n",
    "preferences: {}\nusers:\n",
  ];
  for (let i = 0; i < users; i++) {
    out.push(`- name: user-${i}\n  user:\n    token: tok-${i.toString(36)}-${"x".repeat(110)}\n`);
  }
  return out.join("");
}

interface Measured {
  seconds: number;
  peakKiB: number;
  code: number;
}

/** Runs a command, timing it and taking its peak resident memory. */
async function measured(cmd: string, args: string[]): Promise<Measured> {
  const gnuTime = await exists("/usr/bin/time");
  if (gnuTime) {
    const out = await Deno.makeTempFile();
    try {
      const started = performance.now();
      const { code } = await new Deno.Command("/usr/bin/time", {
        args: ["-o", out, "-f", "%M", cmd, ...args],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).output();
      const seconds = (performance.now() - started) / 1000;
      const peakKiB = Number((await Deno.readTextFile(out)).trim().split("\n").pop());
      return { seconds, peakKiB, code };
    } finally {
      await Deno.remove(out);
    }
  }
  // Without GNU time: poll the high-water mark, which the kernel keeps for the process's whole life.
  const started = performance.now();
  const child = new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr: "null" })
    .spawn();
  let peakKiB = 0;
  const poll = setInterval(() => {
    try {
      const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
      const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
      if (hwm) peakKiB = Math.max(peakKiB, Number(hwm[1]));
    } catch {
      // gone already
    }
  }, 20);
  const { code } = await child.status;
  clearInterval(poll);
  return { seconds: (performance.now() - started) / 1000, peakKiB, code };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const { values } = scriptArgs({
    usage: "deno task bench:kubeconfig [--users N] [--rounds N] [--kubectl PATH]",
    about:
      "The cost of kubeconfig set -f on a big kubeconfig, next to kubectl config set-credentials and " +
      "kubectl config view on the same file. Not a test: nothing asserts.",
    flags: [
      {
        name: "users",
        kind: "string",
        value: "N",
        help: "users in the kubeconfig (default 115000)",
      },
      { name: "rounds", kind: "string", value: "N", help: "runs of each command (default 1)" },
      {
        name: "kubectl",
        kind: "string",
        value: "PATH",
        help: "the kubectl to compare with (default /usr/bin/kubectl)",
      },
    ],
  });
  const users = Number(values.users ?? "115000");
  const rounds = Number(values.rounds ?? "1");
  const kubectl = values.kubectl ?? "/usr/bin/kubectl";
  const dir = await Deno.makeTempDir({ prefix: "ccb-bench-kubeconfig-" });
  try {
    const text = bigKubeconfig(users);
    const original = `${dir}/original`;
    await Deno.writeTextFile(original, text);
    const size = (await Deno.stat(original)).size;
    const target = `user-${Math.floor(users / 2)}`;
    console.log(
      `kubeconfig: ${users} users, ${
        (size / 1e6).toFixed(1)
      } MB; editing ${target}, ${rounds} round(s)`,
    );
    const tokenPath = `${dir}/token`;
    const [deno, ...source] = sourceBrokerCommand();
    const rows: Record<string, Measured[]> = {};
    const add = (name: string, result: Measured) => {
      if (result.code !== 0) throw new Error(`${name} failed with exit ${result.code}`);
      (rows[name] ??= []).push(result);
    };
    for (let round = 0; round < rounds; round++) {
      const mine = `${dir}/broker-${round}`;
      const theirs = `${dir}/kubectl-${round}`;
      await Deno.copyFile(original, mine);
      await Deno.copyFile(original, theirs);
      add(
        "kubeconfig set -f (from source)",
        await measured(deno!, [
          ...source,
          "kubeconfig",
          "set",
          "-f",
          "--kubeconfig",
          mine,
          "--user",
          target,
          "--token-path",
          tokenPath,
        ]),
      );
      add(
        "kubectl config set-credentials",
        await measured(kubectl, [
          "--kubeconfig",
          theirs,
          "config",
          "set-credentials",
          target,
          `--exec-command=${PLUGIN_EXECUTABLE}`,
          "--exec-api-version=client.authentication.k8s.io/v1beta1",
          `--exec-arg=--token-path=${tokenPath}`,
        ]),
      );
      add(
        "kubectl config view",
        await measured(kubectl, ["--kubeconfig", original, "config", "view"]),
      );
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
    const base = median(rows["kubectl config set-credentials"]!.map((row) => row.seconds));
    const width = Math.max(...Object.keys(rows).map((name) => name.length));
    for (const [name, results] of Object.entries(rows)) {
      const seconds = median(results.map((row) => row.seconds));
      const peak = median(results.map((row) => row.peakKiB)) * 1024;
      console.log(
        `${name.padEnd(width)}  ${seconds.toFixed(1).padStart(6)} s  ${
          (seconds / base).toFixed(2)
        }x  peak RSS ${(peak / 1e6).toFixed(0).padStart(5)} MB  ${
          (peak / size).toFixed(1)
        }x the file`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
