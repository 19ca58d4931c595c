/**
 * The samples of the README and of docs/ are what the broker prints. Each block after a `<!-- sample: NAME -->`
 * comment (in README.md or any docs/*.md) starts with
 * the documented command (`$ ...`, `\` continues a line); the test runs that command in a temp folder laid out
 * like the sample's user (HOME is `<tmp>/home/alice`, so paths read `/home/alice/...` once the temp prefix is
 * cut), and compares the whole transcript with the block, times and durations normalised. Whoever changes a
 * message updates the sample, and this test says which file holds it. The samples run in process through the
 * Io seam; the doctor sample, run through a real kubectl and the installed broker as its user meets it, is in
 * tests/readme_process_test.ts (the process tier).
 */
import assert from "node:assert/strict";
import { posix } from "node:path";
import { runCommand } from "../lib/commands.ts";
import type { Io } from "../lib/shared/io.ts";
import { createCa, issueCertificate } from "../scripts/world/ca.ts";
import { fakeIo, makeJwt, ROOT, tempDir } from "./helpers.ts";
import { HOST_OS, isWindows } from "../lib/shared/platform.ts";
import { renewalLock } from "../lib/plugin/lock.ts";
import { aheadFiles } from "../lib/plugin/renew_ahead.ts";
import { writeAheadState } from "../lib/plugin/background_renewal.ts";
import {
  aliceCertificate,
  aliceHome,
  markdownFiles,
  normalise,
  posixSpelling,
  sample,
  SAMPLES,
  splitSample,
} from "./readme_samples.ts";

/** An Io whose stdout and stderr land in one transcript, as on a terminal, with typed answers echoed. */
function terminalIo(options: { env: Record<string, string>; cwd: string; answer: string | null }) {
  const io = fakeIo({
    ...options,
    terminal: true,
    input: options.answer === null ? [] : [options.answer],
  });
  let transcript = "";
  const terminal: Io = {
    ...io,
    stdout: (text) => Promise.resolve(void (transcript += text)),
    stderr: (text) => Promise.resolve(void (transcript += text)),
    readLine: async () => {
      const line = await io.readLine();
      transcript += `${line ?? ""}\n`;
      return line;
    },
  };
  return { io: terminal, transcript: () => transcript };
}

/** The kubeconfig the `kubeconfig set` sample starts from (its diff shows lines 16 on). */
const KUBECONFIG_BEFORE = `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://k8s.prod.example:6443
    certificate-authority: /home/alice/.kube/prod/ca.crt
contexts:
- name: prod
  context:
    cluster: prod
    user: alice
    namespace: default
current-context: prod
preferences: {}
users:
- name: alice
  user:
    client-certificate-data: U1RBVElDLUNFUlQ=
    client-key-data: U1RBVElDLUtFWQ==
    x-unknown: keep me
- name: bob
  user:
    token: STATIC-BOB-TOKEN
`;

Deno.test("the samples of the README and docs/ are found", () => {
  assert.deepEqual([...SAMPLES.keys()].sort(), [
    "doctor",
    "kubeconfig-set",
    "status",
  ]);
});

Deno.test("README sample kubeconfig-set: the walk-through prints these notes, this diff and this prompt", async () => {
  const { argv, output } = splitSample(sample("kubeconfig-set").text);
  assert.deepEqual(argv.slice(0, 4), ["kubectl", "credentials-broker", "kubeconfig", "set"]);
  await using tmp = await tempDir();
  const home = await aliceHome(tmp.path);
  await Deno.writeTextFile(`${home}/.kube/config`, KUBECONFIG_BEFORE, { mode: 0o600 });
  await aliceCertificate(`${home}/certs`, "alice");
  const answer = /\[y\/N\] (\S*)$/m.exec(output)?.[1] || null;
  // The sample's user has the broker installed: kubectl-credentials_broker is on PATH.
  // On Windows, as `deno task install` puts it there: a .cmd, on a `;` list.
  const bin = `${home}/.deno/bin`;
  await Deno.mkdir(bin, { recursive: true });
  const windows = isWindows(HOST_OS);
  const shim = `${bin}/kubectl-credentials_broker${windows ? ".cmd" : ""}`;
  await Deno.writeTextFile(shim, windows ? "@echo off\r\n" : "#!/bin/sh\n", { mode: 0o755 });
  const { io, transcript } = terminalIo({
    env: { HOME: home, PATH: windows ? bin : `${bin}:/usr/bin:/bin` },
    cwd: home,
    answer,
  });

  const code = await runCommand(argv.slice(2), io);

  assert.equal(
    posixSpelling(normalise(transcript(), tmp.path)),
    normalise(output, tmp.path),
    `${
      sample("kubeconfig-set").file
    }'s kubeconfig-set sample differs from what the command prints: update it`,
  );
  assert.equal(code, answer === "y" || answer === "yes" ? 0 : 1);
});

Deno.test({
  name:
    "README sample status: kubectl credentials-broker status prints these blocks (ignored on Windows: " +
    "the sample's paths read /home/alice/..., which Windows spells C:\\...\\home\\alice)",
  ignore: isWindows(HOST_OS),
  async fn() {
    const { argv, output } = splitSample(sample("status").text);
    assert.deepEqual(argv.slice(0, 3), ["kubectl", "credentials-broker", "status"]);
    await using tmp = await tempDir();
    const home = await aliceHome(tmp.path);
    const minute = 60_000;
    const now = new Date(Math.floor(Date.now() / minute) * minute);
    const at = (minutes: number) => new Date(now.getTime() + minutes * minute);
    const ca = await createCa(`${tmp.path}/ca`, "vault-pki intermediate");
    // alice: a Vault PKI certificate of 8 hours, as kubeconfig set stores an issuer user.
    const stored = `${home}/.kube/credentials-broker/alice`;
    await Deno.mkdir(stored, { recursive: true });
    const vault = await issueCertificate(ca, `${stored}/client`, {
      commonName: "alice",
      organization: "developers",
      notBefore: at(-168),
      notAfter: at(312),
    });
    const aliceArgs = [
      `--client-certificate-path=${vault.certPath}`,
      `--client-key-path=${vault.keyPath}`,
      "--renew-ahead=33%",
      "--issuer=vault",
      "--issuer-url=https://vault.example:8200",
      "--common-name=alice",
      "--vault-role=developers",
    ];
    const { dir, name } = renewalLock({
      clientCertificatePath: vault.certPath,
      clientKeyPath: vault.keyPath,
    }, (variable) => variable === "HOME" ? home : undefined);
    await Deno.mkdir(dir, { recursive: true });
    writeAheadState(aheadFiles(dir, name).state, {
      failures: 0,
      lastStartedAt: at(-149).toISOString(),
      lastEndedAt: at(-148).toISOString(),
      lastOutcome: "ok",
    });
    // ci-bot: a JWT its own script renews.
    await Deno.mkdir(`${home}/bin`);
    await Deno.writeTextFile(`${home}/bin/renew-ci-token`, "", { mode: 0o755 });
    await Deno.writeTextFile(
      `${home}/.kube/ci-token`,
      makeJwt({ iat: at(-48).getTime() / 1000, exp: at(12).getTime() / 1000 }),
      { mode: 0o600 },
    );
    // legacy: a certificate nothing renews, expired three days ago.
    const legacy = await issueCertificate(ca, `${home}/.kube/legacy`, {
      commonName: "legacy",
      notBefore: at(-30 * 24 * 60),
      notAfter: at(-(3 * 24 + 2) * 60),
    });
    await Deno.mkdir(`${home}/.deno/bin`, { recursive: true });
    await Deno.writeTextFile(`${home}/.deno/bin/kubectl-credentials_broker`, "", { mode: 0o755 });
    const user = (userName: string, args: string[]) =>
      `- name: ${userName}
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: kubectl-credentials_broker
      args:
${args.map((arg) => `      - ${JSON.stringify(arg)}`).join("\n")}
      interactiveMode: IfAvailable
`;
    await Deno.writeTextFile(
      `${home}/.kube/config`,
      `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://k8s.prod.example:6443
contexts:
- {name: prod, context: {cluster: prod, user: alice}}
- {name: prod-admin, context: {cluster: prod, user: alice, namespace: kube-system}}
- {name: ci, context: {cluster: prod, user: ci-bot}}
- {name: legacy, context: {cluster: prod, user: legacy}}
current-context: prod
users:
${user("alice", aliceArgs)}${
        user("ci-bot", [
          `--token-path=${home}/.kube/ci-token`,
          `--before-exec-command=${home}/bin/renew-ci-token --audience k8s`,
          "--before-exec-policy=when-invalid",
        ])
      }${
        user("legacy", [
          `--client-certificate-path=${legacy.certPath}`,
          `--client-key-path=${legacy.keyPath}`,
        ])
      }`,
      { mode: 0o600 },
    );
    const io = fakeIo({
      env: { HOME: home, PATH: `${home}/.deno/bin` },
      cwd: home,
      now,
    });
    assert.equal(await runCommand(argv.slice(2), io), 0, io.err);
    assert.equal(
      normalise(io.out, tmp.path),
      normalise(output, tmp.path),
      `${sample("status").file}'s status sample differs from what status prints: update it`,
    );
  },
});

/** GitHub's anchor for a heading: lowercase, punctuation dropped, each space a dash. */
function anchorOf(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replaceAll(" ", "-");
}

Deno.test("anchorOf() spells headings as GitHub links them", async (t) => {
  const cases: [string, string][] = [
    [
      "With certificates straight from the CA (`--issuer`)",
      "with-certificates-straight-from-the-ca---issuer",
    ],
    ["The plugin's flags", "the-plugins-flags"],
    ["`kubeconfig set`", "kubeconfig-set"],
  ];
  for (const [heading, anchor] of cases) {
    await t.step(heading, () => assert.equal(anchorOf(heading), anchor));
  }
});

Deno.test("the links of the README and docs/ lead to files and headings that exist", async () => {
  const files = await markdownFiles();
  const anchors = new Map<string, Set<string>>();
  for (const file of files) {
    const text = (await Deno.readTextFile(`${ROOT}${file}`)).replace(/```[\s\S]*?```/g, "");
    anchors.set(file, new Set([...text.matchAll(/^#+ (.*)$/gm)].map((m) => anchorOf(m[1]!))));
  }
  const problems: string[] = [];
  let links = 0;
  for (const file of files) {
    const text = (await Deno.readTextFile(`${ROOT}${file}`)).replace(/```[\s\S]*?```/g, "");
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target!)) continue; // https:, mailto:
      links++;
      const [path, anchor] = target!.split("#");
      const to = path ? posix.normalize(posix.join(posix.dirname(file), path)) : file;
      if (!(await Deno.stat(`${ROOT}${to}`).catch(() => null))) {
        problems.push(`${file}: ${target} names no file`);
      } else if (anchor && !anchors.get(to)?.has(anchor)) {
        problems.push(`${file}: ${target} names no heading of ${to}`);
      }
    }
  }
  assert.ok(links > 10, `${links} links`);
  assert.deepEqual(problems, []);
});

Deno.test("the project paths the README and docs/ name exist", async () => {
  const problems: string[] = [];
  let paths = 0;
  for (const file of await markdownFiles()) {
    const text = await Deno.readTextFile(`${ROOT}${file}`);
    for (
      const [, path] of text.matchAll(/`((?:lib|tests|scripts|docs|\.ci|\.github)\/[\w./-]*)`/g)
    ) {
      paths++;
      if (!(await Deno.stat(`${ROOT}${path!.replace(/\/$/, "")}`).catch(() => null))) {
        problems.push(`${file} names ${path}, which does not exist`);
      }
    }
  }
  assert.ok(paths > 20, `${paths} paths`);
  assert.deepEqual(problems, []);
});

Deno.test("the README's two commands are deno.json tasks, its test command is what .ci/run runs, with the same Deno", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const tryIt = /## Try it\n[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
  const commands = [...tryIt.matchAll(/^npx -y (deno@[\d.]+) task (\S+)/gm)];
  assert.deepEqual(commands.map((m) => m[2]), ["demo", "test"], tryIt);
  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks;
  for (const [, , task] of commands) assert.ok(task! in tasks, `deno.json has no task ${task}`);
  const ci = await Deno.readTextFile(`${ROOT}.ci/run`);
  assert.match(ci, /^(NO_COLOR=1 )?deno task test 2>&1/m, ".ci/run runs deno task test");
  for (const [, deno] of commands) assert.ok(ci.includes(`npm install -g ${deno}`), deno);
});
