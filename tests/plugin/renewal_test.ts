/**
 * --before-exec-policy and the renewal lock. The policy in-process (callPlugin), with real renewal scripts; the lock
 * with real processes: many brokers at once, a stuck holder, a killed holder, and a renewal that writes its files
 * slowly in place.
 */
import assert from "node:assert/strict";
import { readCredentials } from "../../lib/credentials/credentials.ts";
import {
  clientCredentials,
  generateKey,
  issueCert,
  makeJwt,
  runBroker,
  tempDir,
} from "../helpers.ts";
import { callPlugin } from "./call_plugin.ts";

const HOUR = 3600_000;

/**
 * Expired (or otherwise bad) credentials in place, a valid pair ready in next.crt/next.key, and a renewal script
 * that copies them over (after `sleep` seconds, only on its first run with `sleepOnce`), counts its runs and records
 * overlapping runs.
 */
async function renewalWorld(
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

const brokerArgs = (w: { cert: string; key: string; renew: string }, ...extra: string[]) => [
  `--client-certificate-path=${w.cert}`,
  `--client-key-path=${w.key}`,
  `--before-exec-command=${w.renew}`,
  ...extra,
];

Deno.test("when-invalid skips the command while the credentials are valid and runs it for each invalid reason", async (t) => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path);
  const valid = () => {
    Deno.copyFileSync(`${tmp.path}/next.crt`, w.cert);
    Deno.copyFileSync(`${tmp.path}/next.key`, w.key);
  };
  const soon = await issueCert({
    dir: tmp.path,
    ca: w.ca,
    keyPath: `${tmp.path}/next.key`,
    out: "soon.crt",
    notAfter: new Date(Date.now() + 30_000),
  });
  const otherKey = await generateKey(tmp.path, "other.key", "ec");
  const cases: [string, () => void, string[]][] = [
    ["valid: no run", valid, []],
    ["expired certificate", () => Deno.copyFileSync(`${tmp.path}/client.crt.expired`, w.cert), []],
    ["certificate inside the refresh margin", () => Deno.copyFileSync(soon, w.cert), []],
    ["missing certificate", () => Deno.removeSync(w.cert), []],
    ["empty key", () => Deno.writeTextFileSync(w.key, ""), []],
    ["unparsable certificate", () => Deno.writeTextFileSync(w.cert, "not a certificate"), []],
    ["key that does not match", () => Deno.copyFileSync(otherKey, w.key), []],
    // The 2 h-left certificate (issued an hour ago) lives 3 h: a 3h margin is capped at a third of that, 1 h.
    ["valid: a margin longer than a third of the lifetime is capped", valid, [
      "--refresh-margin=3h",
    ]],
  ];
  Deno.copyFileSync(w.cert, `${tmp.path}/client.crt.expired`);
  for (const [name, arrange, extra] of cases) {
    await t.step(name, async () => {
      valid();
      arrange();
      const before = w.runs();
      const result = await callPlugin(
        brokerArgs(w, "--before-exec-policy=when-invalid", ...extra),
        {
          home: tmp.path,
        },
      );
      const ran = w.runs() - before;
      if (name.startsWith("valid: ")) {
        assert.equal(result.code, 0, result.stderr);
        assert.equal(ran, 0);
      } else {
        assert.equal(result.code, 0, result.stderr);
        assert.equal(ran, 1);
      }
    });
  }
  await t.step("an opaque token only counts as invalid when missing or empty", async () => {
    const token = `${tmp.path}/opaque`;
    const args = [
      `--token-path=${token}`,
      `--before-exec-command=sh -c 'echo renewed > ${token}; echo run >> ${tmp.path}/token-runs'`,
      "--before-exec-policy=when-invalid",
    ];
    Deno.writeTextFileSync(token, "s.opaque\n", { mode: 0o600 });
    assert.equal((await callPlugin(args, { home: tmp.path })).code, 0);
    assert.throws(() => Deno.statSync(`${tmp.path}/token-runs`));
    Deno.writeTextFileSync(token, "\n");
    const result = await callPlugin(args, { home: tmp.path });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).status.token, "renewed");
  });
  await t.step("an expired JWT is renewed", async () => {
    const token = `${tmp.path}/jwt`;
    const fresh = makeJwt({ exp: Math.floor(Date.now() / 1000) + 3600 });
    Deno.writeTextFileSync(token, makeJwt({ exp: Math.floor(Date.now() / 1000) - 10 }), {
      mode: 0o600,
    });
    const result = await callPlugin(
      [
        `--token-path=${token}`,
        `--before-exec-command=sh -c 'printf %s ${fresh} > ${token}'`,
        "--before-exec-policy=when-invalid",
      ],
      { home: tmp.path },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).status.token, fresh);
  });
});

Deno.test("a renewal that leaves the credentials invalid is an error naming the credential and why", async () => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path);
  for (const policy of ["always", "when-invalid"]) {
    const result = await callPlugin(
      [
        `--client-certificate-path=${w.cert}`,
        `--client-key-path=${w.key}`,
        "--before-exec-command=true",
        `--before-exec-policy=${policy}`,
      ],
      { home: tmp.path },
    );
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^error: client certificate \/.*client\.crt expired at .*, after the before-exec command true ran$/m,
    );
  }
});

Deno.test("32 concurrent calls with expired credentials run the command once under when-invalid", async () => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path, { sleep: 0.5 });
  const results = await Promise.all(
    Array.from(
      { length: 32 },
      () => runBroker(brokerArgs(w, "--before-exec-policy=when-invalid"), { home: tmp.path }),
    ),
  );
  for (const result of results) assert.equal(result.code, 0, result.stderr);
  assert.equal(w.runs(), 1);
  assert.equal(
    new Set(results.map((r) => JSON.parse(r.stdout).status.clientCertificateData)).size,
    1,
  );
});

Deno.test("16 concurrent calls under always never run the command concurrently", async () => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path, { sleep: 0.02 });
  const results = await Promise.all(
    Array.from({ length: 16 }, () => runBroker(brokerArgs(w), { home: tmp.path })),
  );
  for (const result of results) assert.equal(result.code, 0, result.stderr);
  assert.equal(w.runs(), 16);
  assert.equal(w.overlaps(), 0);
});

Deno.test("a waiter gives up after its timeout and says it was waiting for another renewal", async () => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path, { sleep: 1.5 });
  const holder = runBroker(
    brokerArgs(w, "--before-exec-policy=when-invalid", "--before-exec-timeout=20s"),
    { home: tmp.path },
  );
  while (w.runs() === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  const waiter = await runBroker(
    brokerArgs(w, "--before-exec-policy=when-invalid", "--before-exec-timeout=500ms"),
    { home: tmp.path },
  );
  assert.equal(waiter.code, 4, waiter.stderr);
  assert.match(
    waiter.stderr,
    /^error: gave up after waiting 500ms for another kubectl-credentials_broker renewing the same credentials \(lock \/.*\.lock\)$/m,
  );
  assert.equal((await holder).code, 0);
  assert.equal(w.runs(), 1);
});

Deno.test("a lock holder killed with SIGKILL does not block the next call", async () => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path);
  const stuck = `${tmp.path}/stuck.sh`;
  Deno.writeTextFileSync(stuck, `#!/bin/sh\necho $$ > "${tmp.path}/stuck.pid"\nexec sleep 60\n`, {
    mode: 0o755,
  });
  const { installedBroker, pluginEnv } = await import("../helpers.ts");
  const args = [
    `--client-certificate-path=${w.cert}`,
    `--client-key-path=${w.key}`,
    `--before-exec-command=${stuck}`,
  ];
  const holder = new Deno.Command(await installedBroker(), {
    args: [...args, "--before-exec-timeout=60s"],
    env: pluginEnv(tmp.path),
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  while (!(await Deno.stat(`${tmp.path}/stuck.pid`).catch(() => null))) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  holder.kill("SIGKILL");
  await holder.status;
  // The broker's child lives on in its own session; it does not hold the lock.
  try {
    Deno.kill(Number(Deno.readTextFileSync(`${tmp.path}/stuck.pid`)), "SIGKILL");
  } catch {
    // already gone
  }
  Deno.copyFileSync(`${tmp.path}/next.crt`, w.cert);
  Deno.copyFileSync(`${tmp.path}/next.key`, w.key);
  const started = Date.now();
  const result = await runBroker([
    ...args,
    "--before-exec-policy=when-invalid",
    "--before-exec-timeout=5s",
  ], { home: tmp.path });
  assert.equal(result.code, 0, result.stderr);
  assert.ok(Date.now() - started < 4000);
});

Deno.test("readers never see a half-written renewal: every output is a matching certificate and key", async () => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path, { slowWrite: true });
  const calls = Array.from({ length: 8 }, async (_, i) => {
    await new Promise((resolve) => setTimeout(resolve, i * 40));
    return runBroker(brokerArgs(w, "--before-exec-policy=when-invalid"), { home: tmp.path });
  });
  const results = await Promise.all(calls);
  assert.equal(w.runs(), 1);
  for (const [i, result] of results.entries()) {
    assert.equal(result.code, 0, result.stderr);
    const status = JSON.parse(result.stdout).status;
    Deno.writeTextFileSync(`${tmp.path}/out${i}.crt`, status.clientCertificateData);
    Deno.writeTextFileSync(`${tmp.path}/out${i}.key`, status.clientKeyData, { mode: 0o600 });
    const reread = await readCredentials({
      clientCertificatePath: `${tmp.path}/out${i}.crt`,
      clientKeyPath: `${tmp.path}/out${i}.key`,
    });
    assert.deepEqual(reread.problems, []);
  }
});

Deno.test("the lock folder is private and one owned by someone else is refused", async () => {
  await using tmp = await tempDir();
  // Expired credentials: the call renews, under the lock. (Valid ones are read without it.)
  const w = await renewalWorld(tmp.path);
  const result = await runBroker(brokerArgs(w, "--before-exec-policy=when-invalid"), {
    home: tmp.path,
  });
  assert.equal(result.code, 0, result.stderr);
  const dir = `${tmp.path}/.kube/cache/credentials-broker`;
  assert.equal(Deno.statSync(dir).mode! & 0o777, 0o700);
  for (const entry of Deno.readDirSync(dir)) {
    assert.equal(Deno.statSync(`${dir}/${entry.name}`).mode! & 0o777, 0o600);
  }
  if (Deno.uid() === 0) {
    const foreign = `${tmp.path}/foreign`;
    Deno.mkdirSync(foreign, { mode: 0o700 });
    Deno.chownSync(foreign, 65534, 65534);
    const refused = await runBroker(brokerArgs(w, `--cache-dir=${foreign}`), { home: tmp.path });
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^error: lock folder .*foreign belongs to another user \(uid 65534\); refusing to use it$/m,
    );
  }
});

Deno.test("a lock file owned by another user inside our own folder is refused", async () => {
  if (Deno.uid() !== 0) return; // chown needs root, which CI has
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path);
  const cache = `${tmp.path}/cache`;
  // Under `always` every call takes the lock.
  const args = brokerArgs(w, `--cache-dir=${cache}`);
  assert.equal((await runBroker(args, { home: tmp.path })).code, 0);
  const runs = w.runs();
  const locks = [...Deno.readDirSync(cache)].map((entry) => `${cache}/${entry.name}`);
  assert.equal(locks.length, 1);
  Deno.chownSync(locks[0]!, 65534, 65534);
  const refused = await runBroker(args, { home: tmp.path });
  assert.equal(refused.code, 1);
  assert.equal(refused.stdout, "");
  assert.match(
    refused.stderr,
    /^error: lock file .*\/cache\/renew-[0-9a-f]{16}\.lock belongs to another user \(uid 65534\); refusing to use it$/m,
  );
  assert.equal(w.runs(), runs);
});

/** Whether process `pid` still runs (a zombie waiting to be reaped counts as gone). */
function running(pid: number): boolean {
  try {
    return !/\) Z /.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
}

/** Starts the installed broker as kubectl would, to be killed: its output goes nowhere. */
async function spawnBroker(args: string[], home: string): Promise<Deno.ChildProcess> {
  const { installedBroker, pluginEnv } = await import("../helpers.ts");
  return new Deno.Command(await installedBroker(), {
    args,
    env: pluginEnv(home),
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}

/**
 * Whether a broker with HOME `home` has recorded its running command in its lock file: before that, a broker
 * killed leaves nothing to go by (its command has started a moment before).
 */
function commandRecorded(home: string): boolean {
  const dir = `${home}/.kube/cache/credentials-broker`;
  try {
    return [...Deno.readDirSync(dir)].some((entry) =>
      entry.name.endsWith(".lock") && Deno.statSync(`${dir}/${entry.name}`).size > 0
    );
  } catch {
    return false;
  }
}

Deno.test("a renewal left running by a broker killed with SIGKILL is waited for, never overlapped", async () => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path, { sleep: 2, sleepOnce: true });
  const holder = await spawnBroker(brokerArgs(w, "--before-exec-timeout=60s"), tmp.path);
  await until(() => w.runs() === 1 && commandRecorded(tmp.path));
  holder.kill("SIGKILL");
  await holder.status;
  // The killed broker's command sleeps on in its own session; the next call must not start a second one beside it.
  const next = await runBroker(brokerArgs(w, "--before-exec-timeout=60s"), { home: tmp.path });
  assert.equal(next.code, 0, next.stderr);
  assert.match(
    next.stderr,
    /^waiting for before-exec command \/.*renew\.sh \(pid \d+\), left running by a kubectl-credentials_broker that ended$/m,
  );
  assert.equal(w.runs(), 2);
  assert.equal(w.overlaps(), 0);
});

Deno.test("a left-over renewal that outlives its broker's timeout is stopped with its children, then renewal runs", async () => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path);
  // The first run hangs with a child, as a stuck renewal would; later runs renew.
  const renew = `${tmp.path}/renew-once.sh`;
  Deno.writeTextFileSync(
    renew,
    `#!/bin/sh
if [ ! -e "${tmp.path}/first" ]; then
  touch "${tmp.path}/first"
  sleep 60 & echo $! > "${tmp.path}/child.pid"
  echo $$ > "${tmp.path}/stuck.pid"
  wait
fi
exec "${w.renew}"
`,
    { mode: 0o755 },
  );
  const args = [
    `--client-certificate-path=${w.cert}`,
    `--client-key-path=${w.key}`,
    `--before-exec-command=${renew}`,
  ];
  const holder = await spawnBroker([...args, "--before-exec-timeout=2s"], tmp.path);
  const pidOf = (name: string) => {
    try {
      return Number(Deno.readTextFileSync(`${tmp.path}/${name}`).trim()) || 0;
    } catch {
      return 0;
    }
  };
  await until(() => pidOf("stuck.pid") > 0 && commandRecorded(tmp.path));
  holder.kill("SIGKILL");
  await holder.status;
  const [stuck, child] = [pidOf("stuck.pid"), pidOf("child.pid")];
  try {
    const next = await runBroker([...args, "--before-exec-timeout=30s"], { home: tmp.path });
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stderr, /left running by a kubectl-credentials_broker that ended$/m);
    assert.equal(running(stuck), false, `the stuck renewal ${stuck} lives on`);
    assert.equal(running(child), false, `its child ${child} lives on`);
    assert.equal(w.runs(), 1);
  } finally {
    for (const pid of [stuck, child]) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // gone, as it should be
      }
    }
  }
});
