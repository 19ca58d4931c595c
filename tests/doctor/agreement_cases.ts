/**
 * Doctor and the plugin judge credentials alike: for each broken (and one good) credential set, the plugin's
 * verdict (its exit code) and doctor's verdict (whether any of its credential checks failed) are the same. The
 * table of cases, run by tests/doctor/agreement_test.ts with the plugin in-process (the unit tier) and by
 * tests/doctor/agreement_process_test.ts with the broker spawned as kubectl meets it (the process tier).
 */
import assert from "node:assert/strict";
import { diagnose } from "../../lib/doctor/doctor.ts";
import type { CheckResult } from "../../lib/doctor/result.ts";
import {
  clientCredentials,
  generateKey,
  issueCert,
  keyDer,
  makeCa,
  run,
  tempDir,
} from "../helpers.ts";

const HOUR = 3600_000;

/** The lines of doctor's report that judge credential files (the rest is about commands and the run). */
const CREDENTIAL_CHECKS = new Set([
  "client certificate",
  "certificate expiry",
  "client key",
  "key matches certificate",
  "token",
  "token expiry",
  "credential files",
]);

/** Doctor's verdict on the credential files alone: no credential check failed. */
async function doctorAccepts(dir: string, args: string[]): Promise<[boolean, CheckResult[]]> {
  const checks = await diagnose(
    {
      name: "alice",
      file: `${dir}/config`,
      exists: true,
      user: {
        exec: {
          command: "kubectl-credentials_broker",
          args,
          apiVersion: "client.authentication.k8s.io/v1",
          interactiveMode: "Never",
        },
      },
    },
    { env: () => undefined, cwd: () => dir, now: () => new Date(), narrow: () => {} },
    { skipRun: true, timeoutMs: 60_000 },
  );
  const judged = checks.filter((check) => CREDENTIAL_CHECKS.has(check.check));
  assert.ok(judged.length > 0, JSON.stringify(checks));
  return [judged.every((check) => check.status !== "fail"), judged];
}

/** An EC key whose stored public point is the certificate's but whose private scalar is another key's. */
async function craftedKey(dir: string, certKey: string): Promise<string> {
  const other = await generateKey(dir, "other.key", "ec");
  const mine = keyDer(certKey, "sec1");
  const theirs = keyDer(other, "sec1");
  // SEC1 ECPrivateKey for P-256 ends with the 65-byte uncompressed public point, in both keys alike.
  assert.equal(mine.length, theirs.length);
  const crafted = new Uint8Array(theirs);
  crafted.set(mine.subarray(mine.length - 65), theirs.length - 65);
  const body = crafted.toBase64().match(/.{1,64}/g)!.join("\n");
  const path = `${dir}/crafted.key`;
  Deno.writeTextFileSync(
    path,
    `-----BEGIN EC PRIVATE KEY-----\n${body}\n-----END EC PRIVATE KEY-----\n`,
    {
      mode: 0o600,
    },
  );
  return path;
}

/** The plugin run with `args` in `home`: its exit code and stderr (in-process, or the broker spawned). */
export type PluginRun = (
  args: string[],
  options: { home: string },
) => Promise<{ code: number; stderr: string }>;

/** Runs every case as a step of `t`: the plugin's exit code (through `plugin`) against doctor's checks. */
export async function checkAgreement(t: Deno.TestContext, plugin: PluginRun): Promise<void> {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const { ca, key, cert } = await clientCredentials(dir, { token: null });
  const pem = Deno.readTextFileSync(cert);
  const pairArgs = (certPath: string, keyPath = key) => [
    `--client-certificate-path=${certPath}`,
    `--client-key-path=${keyPath}`,
  ];
  const write = (name: string, text: string) => {
    Deno.writeTextFileSync(`${dir}/${name}`, text, { mode: 0o600 });
    return `${dir}/${name}`;
  };
  // Lives 70m in all, 10m left: inside a 20m margin (a third of the lifetime is more).
  const soon = () =>
    issueCert({
      dir,
      ca,
      keyPath: key,
      out: "soon.crt",
      notBefore: new Date(Date.now() - HOUR),
      notAfter: new Date(Date.now() + 10 * 60_000),
    });
  /** `notOnWindows`: why the row cannot be set up there. */
  const rows: { name: string; args: () => Promise<string[]>; notOnWindows?: string }[] = [
    { name: "a good certificate and key", args: () => Promise.resolve(pairArgs(cert)) },
    {
      name: "a stray BEGIN line before the certificate",
      args: () =>
        Promise.resolve(pairArgs(write("stray.crt", `-----BEGIN CERTIFICATE-----\n${pem}`))),
    },
    {
      name: "a blank first 5 KiB, then the certificate",
      args: () => Promise.resolve(pairArgs(write("late.crt", " \n".repeat(2560) + pem))),
    },
    {
      name: "only white space",
      args: () => Promise.resolve(pairArgs(write("blank.crt", " \n".repeat(3000)))),
    },
    {
      name: "a token with surrounding white space",
      args: () => Promise.resolve([`--token-path=${write("spaced.token", "  \t s.tok \n\n")}`]),
    },
    {
      name: "a token with a space inside",
      args: () => Promise.resolve([`--token-path=${write("inner.token", "s.a b\n")}`]),
    },
    {
      name: "a crafted key: the certificate's public point over another private key",
      args: async () => pairArgs(cert, await craftedKey(dir, key)),
    },
    {
      name: "a certificate not valid yet",
      args: async () =>
        pairArgs(
          await issueCert({
            dir,
            ca,
            keyPath: key,
            out: "future.crt",
            notBefore: new Date(Date.now() + HOUR),
            notAfter: new Date(Date.now() + 3 * HOUR),
          }),
        ),
    },
    {
      name: "a certificate from another CA's key pair",
      args: async () => {
        const other = await makeCa(dir, "other-ca");
        const otherKey = await generateKey(dir, "stranger.key", "rsa");
        return pairArgs(
          await issueCert({
            dir,
            ca: other,
            keyPath: otherKey,
            out: "stranger.crt",
            notAfter: new Date(Date.now() + 2 * HOUR),
          }),
        );
      },
    },
    {
      name: "a certificate inside the refresh margin, handed out under the default policy",
      args: async () => [...pairArgs(await soon()), "--refresh-margin=20m"],
    },
    {
      name: "a certificate inside the refresh margin, refused under when-invalid",
      args: async () => [
        ...pairArgs(await soon()),
        "--refresh-margin=20m",
        "--before-exec-policy=when-invalid",
      ],
    },
    {
      name: "a FIFO as the token",
      notOnWindows: "Windows has no mkfifo",
      args: async () => {
        const fifo = `${dir}/token.fifo`;
        assert.equal((await run("mkfifo", [fifo])).code, 0);
        return [`--token-path=${fifo}`];
      },
    },
  ];
  for (const row of rows) {
    const ignored = Deno.build.os === "windows" && row.notOnWindows !== undefined;
    await t.step({
      name: row.name + (ignored ? ` (ignored: ${row.notOnWindows})` : ""),
      ignore: ignored,
      fn: async () => {
        const args = await row.args();
        const verdict = await plugin(args, { home: dir });
        const [accepted, judged] = await doctorAccepts(dir, args);
        assert.equal(
          accepted,
          verdict.code === 0,
          `plugin exit ${verdict.code} (${verdict.stderr.trim()}), doctor: ${
            JSON.stringify(judged)
          }`,
        );
      },
    });
  }
}
