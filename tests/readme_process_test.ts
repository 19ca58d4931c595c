/**
 * The README's doctor sample as its user meets it: `kubectl credentials-broker doctor` through a real kubectl,
 * which starts the installed broker, which runs the exec command through kubectl again. The process tier
 * (PROCESS_TESTS in scripts/test.ts): the broker started as a process. The other samples run in process in
 * tests/readme_test.ts, which says how samples are compared.
 */
import assert from "node:assert/strict";
import { installBroker, pluginEnv, run, tempDir } from "./helpers.ts";
import { dirname, HOST_OS, isWindows } from "../lib/shared/platform.ts";
import { aliceCertificate, aliceHome, normalise, sample, splitSample } from "./readme_samples.ts";

/** The kubectl the doctor sample was made with (the test is ignored where there is none). */
const SAMPLE_KUBECTL = "/usr/bin/kubectl";

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

Deno.test({
  // tests/doctor/doctor_test.ts runs doctor on Windows.
  name:
    "README sample doctor: kubectl credentials-broker doctor prints this report (ignored on Windows: the sample " +
    "is a Linux user's, with /usr/bin/kubectl and a key of mode 0644; and where there is no /usr/bin/kubectl)",
  ignore: isWindows(HOST_OS) || !isFile(SAMPLE_KUBECTL),
  fn: readmeDoctorSample,
});

async function readmeDoctorSample() {
  const { argv, output } = splitSample(sample("doctor").text);
  assert.deepEqual(argv.slice(0, 3), ["kubectl", "credentials-broker", "doctor"]);
  const kubectl = SAMPLE_KUBECTL;
  assert.ok(output.includes(`kubectl is ${kubectl}`), "the sample was made with /usr/bin/kubectl");
  await using tmp = await tempDir();
  const home = await aliceHome(tmp.path);
  // Where `deno task install` puts it: the run's shared install, linked there (no bundling of its own).
  const shim = await installBroker(`${home}/.deno`);
  const prod = `${home}/.kube/prod`;
  const cert = await aliceCertificate(prod, "client");
  await Deno.chmod(cert.keyPath, 0o644);
  await Deno.writeTextFile(
    `${home}/.kube/config`,
    `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://k8s.prod.example:6443
contexts:
- name: prod
  context:
    cluster: prod
    user: alice
current-context: prod
users:
- name: alice
  user:
    token: STATIC-TOKEN
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: kubectl
      args:
      - credentials-broker
      - --client-certificate-path=${cert.certPath}
      - --client-key-path=${cert.keyPath}
      - --before-exec-command=renew-client-cert
      - --before-exec-policy=when-invalid
      env:
      - name: VAULT_ADDR
        value: https://vault.example:8200
      interactiveMode: IfAvailable
`,
    { mode: 0o600 },
  );

  const result = await run(kubectl, argv.slice(1), {
    cwd: home,
    env: pluginEnv(home, { PATH: `${dirname(shim, HOST_OS)}:/usr/bin:/bin` }),
  });

  assert.equal(
    normalise(result.stdout, tmp.path),
    normalise(output, tmp.path),
    `${
      sample("doctor").file
    }'s doctor sample differs from what doctor prints: update it\n${result.stderr}`,
  );
  assert.equal(result.code, /checks? failed/.test(output) ? 1 : 0);
}
