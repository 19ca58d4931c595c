/**
 * `--renew-ahead` with real processes (the detached background renewal is one): the broker as installed,
 * certificates issued ahead of time as "generations", and a renewal script that goes on only when the test says
 * so, so that calls meet each moment of a renewal (running, half written, done) whatever the machine's load.
 */
import assert from "node:assert/strict";
import { parsePem } from "../../lib/credentials/pem.ts";
import { parseCertificate } from "../../lib/credentials/x509.ts";
import {
  backgroundSettled,
  clientCredentials,
  generateKey,
  issueCert,
  lingeringProcesses,
  literal,
  runBroker,
  tempDir,
  writeCommand,
  writeCommandSync,
} from "../helpers.ts";
import { callPlugin } from "./call_plugin.ts";
import { runBrokerUntil, until } from "./renewal_world.ts";

const SECOND = 1000;
/** How long a gated renewal waits for the test's signal before it gives up (exit 8): a test that never signals. */
const GATE_MS = 120 * SECOND;
/** Why the tests with real background renewals run on Linux only. */
const OFF_LINUX = Deno.build.os === "linux"
  ? ""
  : " (ignored off Linux: it looks for stray processes in /proc)";

/**
 * Generation n of the credentials is gen-n.crt/key (CN gen-n), valid until `start + n * step`. The renewal
 * script installs the next generation after `sleep` seconds, writing in place (certificate first, so a reader
 * outside the lock can see a new certificate next to an old key), and records which generation it replaced.
 * With `gated`, it waits for the test instead of set times: it writes `renewing` and waits for `copy` before the
 * certificate, then writes `half` and waits for `key` before the key.
 */
async function generations(
  dir: string,
  options: { count: number; stepMs: number; sleep: number; gated?: boolean },
) {
  const { ca } = await clientCredentials(dir, { token: null });
  const keys: string[] = [];
  for (let n = 1; n <= options.count; n++) keys.push(await generateKey(dir, `gen-${n}.key`, "ec"));
  // Lifetimes count from here, after the key generation, so that a slow machine does not eat into the first one.
  const start = Date.now();
  for (let n = 1; n <= options.count; n++) {
    await issueCert({
      dir,
      ca,
      keyPath: keys[n - 1]!,
      out: `gen-${n}.crt`,
      subject: `/CN=gen-${n}`,
      notAfter: new Date(start + n * options.stepMs),
    });
  }
  Deno.copyFileSync(`${dir}/gen-1.crt`, `${dir}/client.crt`);
  Deno.copyFileSync(`${dir}/gen-1.key`, `${dir}/client.key`);
  Deno.writeTextFileSync(`${dir}/generation`, "1\n");
  const at = (name: string) => `${dir}/${name}`;
  const { line: renew } = await writeCommand(dir, "renew", [
    {
      if: { exists: at("fail") },
      then: [
        { print: "renewal refused (test)" },
        { append: at("attempts"), value: "attempt" },
        { exit: 1 },
      ],
    },
    { append: at("attempts"), value: "attempt" },
    { enter: at("running"), overlaps: at("overlaps") },
    { readCounter: at("generation") },
    { append: at("replaced"), value: "{n}" },
    ...(options.gated
      ? [{ write: at("renewing"), value: "" }, { waitFor: at("copy"), timeoutMs: GATE_MS }] as const
      : [{ sleepMs: options.sleep * SECOND }] as const),
    { copy: at("gen-{next}.crt"), to: at("client.crt") },
    ...(options.gated
      ? [{ write: at("half"), value: "" }, { waitFor: at("key"), timeoutMs: GATE_MS }] as const
      : [{ sleepMs: 200 }] as const),
    { copy: at("gen-{next}.key"), to: at("client.key") },
    { write: at("generation"), value: "{next}\n" },
    { leave: at("running") },
  ]);
  const lines = (name: string) => {
    try {
      return Deno.readTextFileSync(`${dir}/${name}`).split("\n").filter(Boolean);
    } catch {
      return [];
    }
  };
  return { renew, lines, start };
}

const args = (dir: string, renew: string, ...extra: string[]) => [
  `--client-certificate-path=${dir}/client.crt`,
  `--client-key-path=${dir}/client.key`,
  `--before-exec-command=${renew}`,
  "--before-exec-policy=when-invalid",
  "--refresh-margin=1s",
  ...extra,
];

/** The generation a call's ExecCredential holds, checking that its certificate and key are one pair. */
function generationOf(stdout: string, dir: string): number {
  const status = JSON.parse(stdout).status;
  const blocks = parsePem(status.clientCertificateData);
  const subject = parseCertificate(blocks[0]!.der).subject;
  const n = Number(/gen-(\d+)/.exec(subject)?.[1]);
  assert.ok(n > 0, `unexpected subject ${subject}`);
  const key = Deno.readTextFileSync(`${dir}/gen-${n}.key`);
  assert.equal(status.clientKeyData, key, `the certificate of gen-${n} came with another key`);
  return n;
}

Deno.test({
  name: "renew-ahead: calls across a renewal never wait for it, start it once, never mix pairs" +
    OFF_LINUX,
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using tmp = await tempDir();
    const dir = tmp.path;
    // gen-1 has 60 s left, inside the 90 s window; gen-2 has 120 s, outside it. The renewal goes on only when the
    // test says so (gated): the calls meet each of its moments, however slowly the machine starts brokers.
    const { renew, lines } = await generations(dir, {
      count: 2,
      stepMs: 60 * SECOND,
      sleep: 0,
      gated: true,
    });
    using _gates = openGatesAtEnd(dir);
    const cache = `${dir}/cache`;
    // A call that waited for the renewal, held until the test lets it go, would give up after 20 s (exit 4).
    const callArgs = args(
      dir,
      renew,
      "--renew-ahead=90s",
      `--cache-dir=${cache}`,
      "--before-exec-timeout=20s",
    );
    const call = () => runBroker(callArgs, { home: dir });
    const answered = (result: { code: number; stdout: string; stderr: string }) => {
      assert.equal(result.code, 0, result.stderr);
      return generationOf(result.stdout, dir);
    };
    const first = await call();
    assert.equal(answered(first), 1);
    assert.equal(first.stderr, "");
    // The background renewal it started runs, holding the lock: calls still answer at once, and start no other.
    await until(() => exists(`${dir}/renewing`));
    for (let i = 0; i < 2; i++) {
      const during = await call();
      assert.equal(answered(during), 1);
      assert.equal(during.stderr, "");
    }
    // The renewal has written the new certificate but not its key yet: a call reading now sees a pair that does
    // not match, never sends it, and waits for the renewal (the lock), which the test then lets finish.
    Deno.writeTextFileSync(`${dir}/copy`, "");
    await until(() => exists(`${dir}/half`));
    const mixed = await runBrokerUntil(
      callArgs,
      dir,
      /^waiting for another kubectl-credentials_broker renewing the same credentials$/m,
      () => Deno.writeTextFileSync(`${dir}/key`, ""),
    );
    assert.equal(answered(mixed), 2);
    assert.equal(
      mixed.stderr,
      "waiting for another kubectl-credentials_broker renewing the same credentials\n",
    );
    await backgroundSettled(cache);
    const after = await call();
    assert.equal(answered(after), 2);
    assert.equal(after.stderr, "");
    // One renewal for the lifetime, however many calls saw the window open while it ran.
    assert.deepEqual(lines("attempts"), ["attempt"]);
    assert.deepEqual(lines("replaced"), ["1"]);
    assert.deepEqual(lines("overlaps"), []);
    assert.deepEqual(await lingeringProcesses(dir), []);
  },
});

/**
 * Opens a gated renewal's gates when the test ends, passed or failed: one left waiting would outlive the test by
 * two minutes, and its broker with it.
 */
function openGatesAtEnd(dir: string): Disposable {
  return {
    [Symbol.dispose]() {
      for (const gate of ["copy", "key"]) Deno.writeTextFileSync(`${dir}/${gate}`, "");
    },
  };
}

/** Whether `path` exists. */
function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "renew-ahead: 32 concurrent calls inside the window start one background renewal" +
    OFF_LINUX,
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using tmp = await tempDir();
    const dir = tmp.path;
    // The renewal goes on only once all 32 have answered (gated), however long they take to start on a loaded
    // machine: all of them answer from gen-1 while it runs.
    const { renew, lines } = await generations(dir, {
      count: 2,
      stepMs: 60 * SECOND,
      sleep: 0,
      gated: true,
    });
    using _gates = openGatesAtEnd(dir);
    const cache = `${dir}/cache`;
    // gen-1 has 60 s left (inside the 90 s window), gen-2 has 120 s (outside it).
    const results = await Promise.all(
      Array.from(
        { length: 32 },
        () =>
          runBroker(args(dir, renew, "--renew-ahead=90s", `--cache-dir=${cache}`), { home: dir }),
      ),
    );
    for (const result of results) {
      assert.equal(result.code, 0, result.stderr);
      assert.equal(generationOf(result.stdout, dir), 1);
    }
    Deno.writeTextFileSync(`${dir}/copy`, "");
    Deno.writeTextFileSync(`${dir}/key`, "");
    await backgroundSettled(cache);
    assert.deepEqual(lines("attempts"), ["attempt"]);
    assert.equal(Deno.readTextFileSync(`${dir}/generation`).trim(), "2");
    // The background broker and its command are gone: no stray or zombie process mentions the test folder.
    assert.deepEqual(await lingeringProcesses(dir), []);
    const log = Deno.readTextFileSync(
      `${cache}/${[...Deno.readDirSync(cache)].find((e) => e.name.endsWith(".ahead.log"))!.name}`,
    );
    assert.match(log, new RegExp(`background renewal started at .*${literal(Deno.execPath())}`));
    assert.match(log, /background renewal ended at \S+: ok/);
  },
});

Deno.test({
  name:
    "renew-ahead: a failing background renewal backs off, warns on later calls, and the margin still renews in the foreground" +
    OFF_LINUX,
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using tmp = await tempDir();
    const dir = tmp.path;
    const { renew, lines } = await generations(dir, { count: 3, stepMs: 120 * SECOND, sleep: 0 });
    const cache = `${dir}/cache`;
    Deno.writeTextFileSync(`${dir}/fail`, "");
    const call = () =>
      runBroker(args(dir, renew, "--renew-ahead=10m", `--cache-dir=${cache}`), { home: dir });
    const first = await call();
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stderr, "");
    await backgroundSettled(cache);
    // Later calls in the backoff: the credentials still work, one warning line each, no new attempt.
    for (let i = 0; i < 5; i++) {
      const later = await call();
      assert.equal(later.code, 0, later.stderr);
      assert.match(
        later.stderr,
        new RegExp(
          `^warning: background renewal failed at \\S+Z \\(before-exec command ${
            literal(Deno.execPath())
          } failed with exit status 1\\); next try at \\S+Z; log: \\S+\\.ahead\\.log\n$`,
        ),
      );
      assert.doesNotMatch(later.stderr, /renewal refused/); // the command's output stays in the log
    }
    await backgroundSettled(cache);
    assert.equal(lines("attempts").length, 1);
    const stateFile = [...Deno.readDirSync(cache)].find((e) => e.name.endsWith(".ahead.json"))!;
    const statePath = `${cache}/${stateFile.name}`;
    const state = JSON.parse(Deno.readTextFileSync(statePath));
    assert.equal(state.failures, 1);
    assert.equal(Date.parse(state.nextTryAt) - Date.parse(state.lastEndedAt), 30 * SECOND);
    const log = Deno.readTextFileSync(statePath.replace(/\.json$/, ".log"));
    assert.match(log, /renewal refused \(test\)/);
    // Once the backoff is over the next call tries again, and a second failure doubles the wait.
    Deno.writeTextFileSync(statePath, JSON.stringify({ ...state, nextTryAt: state.lastEndedAt }));
    assert.equal((await call()).code, 0);
    await backgroundSettled(cache);
    assert.equal(lines("attempts").length, 2);
    const second = JSON.parse(Deno.readTextFileSync(statePath));
    assert.equal(second.failures, 2);
    assert.equal(Date.parse(second.nextTryAt) - Date.parse(second.lastEndedAt), 60 * SECOND);
    // At the margin the foreground call renews as without --renew-ahead, whatever the backoff says.
    Deno.removeSync(`${dir}/fail`);
    const ca = { cert: `${dir}/ca.crt`, key: `${dir}/ca.key` };
    await issueCert({
      dir,
      ca,
      keyPath: `${dir}/gen-1.key`,
      out: "client.crt",
      subject: "/CN=gen-1",
      notAfter: new Date(Date.now() - SECOND),
    });
    const renewed = await call();
    assert.equal(renewed.code, 0, renewed.stderr);
    assert.equal(generationOf(renewed.stdout, dir), 2);
    assert.equal(lines("attempts").length, 3);
  },
});

Deno.test("--renew-ahead is refused where it cannot work, and named in the error", async (t) => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const noop = writeCommandSync(dir, "noop", []).line;
  const cases: [string, string[], RegExp][] = [
    [
      "without when-invalid",
      [`--before-exec-command=${noop}`, "--renew-ahead=10m"],
      /needs --before-exec-policy=when-invalid/,
    ],
    [
      "without a command",
      ["--before-exec-policy=when-invalid", "--renew-ahead=10m"],
      /a --before-exec-command/,
    ],
    [
      "not longer than the margin",
      [`--before-exec-command=${noop}`, "--before-exec-policy=when-invalid", "--renew-ahead=30s"],
      /--renew-ahead 30s is not longer than the refresh margin \(1m\)/,
    ],
    ["a bad share", [
      `--before-exec-command=${noop}`,
      "--before-exec-policy=when-invalid",
      "--renew-ahead=100%",
    ], /--renew-ahead 100%/],
  ];
  for (const [name, extra, message] of cases) {
    await t.step(name, async () => {
      const result = await callPlugin(
        [`--client-certificate-path=${dir}/c.crt`, `--client-key-path=${dir}/c.key`, ...extra],
        { home: dir },
      );
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
    });
  }
});

Deno.test("renew-ahead never fails a call whose credentials are good: an unusable lock folder is a warning", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const { renew, lines } = await generations(dir, { count: 2, stepMs: 60 * SECOND, sleep: 0 });
  // A file where the lock folder should be: the background renewal cannot run, the call still answers.
  const cache = `${dir}/not-a-folder`;
  Deno.writeTextFileSync(cache, "");
  const result = await callPlugin(args(dir, renew, "--renew-ahead=90s", `--cache-dir=${cache}`), {
    home: dir,
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(generationOf(result.stdout, dir), 1);
  assert.equal(
    result.stderr,
    `warning: cannot renew ahead of time: lock folder ${cache} is not a folder; the credentials will be ` +
      "renewed at the margin\n",
  );
  assert.deepEqual(lines("attempts"), []);
});
