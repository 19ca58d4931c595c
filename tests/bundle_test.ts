/**
 * The bundle that `deno task install` runs and `deno task build` compiles: what it holds, what the plugin's path
 * loads of it, and the guards that keep npm packages off that path.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  BUNDLE_COMMANDS,
  BUNDLE_ENTRY,
  bundleBroker,
  BundleError,
  RUNTIME_FLAGS,
} from "../scripts/bundle.ts";
import { BROKER_PERMISSIONS, COMPLETION_EXECUTABLE } from "../scripts/permissions.ts";
import { installPlugin } from "../scripts/install.ts";
import { VERSION } from "../lib/version.ts";
import { DENO_DIR, generateKey, issueCert, makeCa, ROOT, run, tempDir } from "./helpers.ts";

async function listDir(dir: string): Promise<string[]> {
  const names = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("the bundle is main.js alone on the plugin's path, and commands.js for the subcommands", async () => {
  await using tmp = await tempDir();
  const out = join(tmp.path, "app");
  const entry = await bundleBroker(ROOT, out);
  assert.equal(entry, join(out, BUNDLE_ENTRY));
  assert.deepEqual(await listDir(out), [BUNDLE_COMMANDS, BUNDLE_ENTRY].sort());
  const main = await Deno.readTextFile(entry);
  // One module: esbuild wrote no static import of another chunk.
  assert.doesNotMatch(main, /^import\s[^;]*from\s+"\.\//m);
  const commands = await Deno.readTextFile(join(out, BUNDLE_COMMANDS));
  // esbuild heads every bundled module with its path.
  assert.match(main, /^\/\/ lib\/plugin\.ts$/m);
  assert.doesNotMatch(main, /^\/\/ lib\/(kubeconfig_set|doctor|completion)\.ts$/m);
  assert.doesNotMatch(main, /^\/\/ .*(registry\.npmjs\.org|node_modules)\//m);
  assert.match(commands, /^\/\/ lib\/kubeconfig_set\.ts$/m);
  assert.match(commands, /^\/\/ .*registry\.npmjs\.org\/yaml\//m);
  assert.match(main, /"\.\/commands\.js"/);
  assert.doesNotMatch(main + commands, /from\s+"node:module"/);
});

Deno.test("the bundle runs anywhere with no configuration, subcommands included", async () => {
  await using tmp = await tempDir();
  const entry = await bundleBroker(ROOT, join(tmp.path, "app"));
  const deno = (...args: string[]) =>
    run(Deno.execPath(), ["run", ...RUNTIME_FLAGS, ...BROKER_PERMISSIONS, entry, ...args], {
      cwd: tmp.path,
      env: { PATH: Deno.env.get("PATH") ?? "", HOME: tmp.path, DENO_DIR },
    });
  const version = await deno("--version");
  assert.equal(version.stdout, `kubectl-credentials_broker ${VERSION}\n`, version.stderr);
  const completion = await deno("completion", "bash");
  assert.equal(completion.code, 0, completion.stderr);
  assert.match(completion.stdout, /^# bash completion for kubectl-credentials_broker/);
  const doctor = await deno("doctor", "--kubeconfig", join(tmp.path, "missing"));
  assert.equal(doctor.code, 1, doctor.stderr);
  assert.match(doctor.stderr + doctor.stdout, /missing/);
});

Deno.test("a kubectl call never reads commands.js: the plugin works without it, subcommands say it is gone", async () => {
  await using tmp = await tempDir();
  const entry = await bundleBroker(ROOT, join(tmp.path, "app"));
  await Deno.remove(join(tmp.path, "app", BUNDLE_COMMANDS));
  const ca = await makeCa(tmp.path);
  const key = await generateKey(tmp.path, "client.key", "ec");
  const cert = await issueCert({
    dir: tmp.path,
    ca,
    keyPath: key,
    out: "client.crt",
    notAfter: new Date(Date.now() + 3600_000),
  });
  const deno = (...args: string[]) =>
    run(Deno.execPath(), ["run", ...RUNTIME_FLAGS, ...BROKER_PERMISSIONS, entry, ...args], {
      cwd: tmp.path,
      env: {
        PATH: Deno.env.get("PATH") ?? "",
        HOME: tmp.path,
        DENO_DIR,
        KUBERNETES_EXEC_INFO: JSON.stringify({
          kind: "ExecCredential",
          apiVersion: "client.authentication.k8s.io/v1",
          spec: { interactive: false },
        }),
      },
    });
  const plugin = await deno(
    `--client-certificate-path=${cert}`,
    `--client-key-path=${key}`,
    "--before-exec-policy=when-invalid",
    "--before-exec-command=false",
  );
  assert.equal(plugin.code, 0, plugin.stderr);
  assert.match(
    JSON.parse(plugin.stdout).status.clientCertificateData,
    /^-----BEGIN CERTIFICATE-----/,
  );
  const completion = await deno("completion", "bash");
  assert.equal(completion.code, 1);
  assert.equal(
    completion.stderr,
    `error: cannot load the subcommands from ${
      join(tmp.path, "app", BUNDLE_COMMANDS)
    }: the installation is incomplete\nhint: install kubectl-credentials-broker again\n`,
  );
});

Deno.test("bundling again replaces the whole folder and leaves nothing beside it", async () => {
  await using tmp = await tempDir();
  const out = join(tmp.path, "app");
  await bundleBroker(ROOT, out);
  await Deno.writeTextFile(join(out, "chunk-OLD.js"), "// from an older bundle\n");
  await bundleBroker(ROOT, out);
  assert.deepEqual(await listDir(out), [BUNDLE_COMMANDS, BUNDLE_ENTRY].sort());
  assert.deepEqual(await listDir(tmp.path), ["app"]);
});

Deno.test("bundleBroker() refuses a main.ts that would load an npm package on every call", async () => {
  await using tmp = await tempDir();
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  await Deno.writeTextFile(
    join(tmp.path, "deno.json"),
    JSON.stringify({ imports: { yaml: config.imports.yaml } }),
  );
  await Deno.mkdir(join(tmp.path, "lib"));
  await Deno.writeTextFile(join(tmp.path, "lib", "commands.ts"), "export const none = 1;\n");
  await Deno.writeTextFile(
    join(tmp.path, "main.ts"),
    'import { parse } from "yaml";\nconsole.log(parse("a: 1"));\n' +
      'const m = "./lib/commands.ts";\nawait import(m);\n',
  );
  const out = join(tmp.path, "app");
  await assert.rejects(
    bundleBroker(tmp.path, out),
    (error) =>
      error instanceof BundleError &&
      /^the bundle loads the npm package yaml at start-up \(in main\.js\); npm packages must only be imported lazily/
        .test(error.message),
  );
  // Nothing is left of a refused bundle.
  assert.deepEqual((await listDir(tmp.path)).filter((name) => name.startsWith("app")), []);
});

Deno.test("bundleBroker() refuses a main.ts that does not name lib/commands.ts", async () => {
  await using tmp = await tempDir();
  await Deno.writeTextFile(join(tmp.path, "deno.json"), "{}\n");
  await Deno.writeTextFile(join(tmp.path, "main.ts"), 'console.log("no subcommands");\n');
  await assert.rejects(
    bundleBroker(tmp.path, join(tmp.path, "app")),
    (error) =>
      error instanceof BundleError &&
      error.message === 'the bundled main.ts does not hold "./lib/commands.ts" exactly once',
  );
});

Deno.test("deno task install writes a shim that runs the bundle with the runtime flags, by absolute deno path", async () => {
  await using tmp = await tempDir();
  const shim = await installPlugin(join(tmp.path, "root"));
  const bin = join(tmp.path, "root", "bin");
  assert.equal(shim, join(bin, "kubectl-credentials_broker"));
  assert.deepEqual(
    await listDir(bin),
    [".kubectl-credentials_broker", COMPLETION_EXECUTABLE, "kubectl-credentials_broker"].sort(),
  );
  assert.deepEqual(
    await listDir(join(bin, ".kubectl-credentials_broker")),
    [
      BUNDLE_COMMANDS,
      BUNDLE_ENTRY,
    ].sort(),
  );
  const lines = (await Deno.readTextFile(shim)).trimEnd().split("\n");
  assert.equal(lines[0], "#!/bin/sh");
  assert.equal(
    lines.at(-1),
    `exec ${
      [
        Deno.execPath(),
        "run",
        ...RUNTIME_FLAGS,
        ...BROKER_PERMISSIONS,
        "--quiet",
        join(bin, ".kubectl-credentials_broker", BUNDLE_ENTRY),
      ].join(" ")
    } "$@"`,
  );
  assert.equal((await Deno.stat(shim)).mode! & 0o777, 0o755);
  // Run with a bare PATH, as GUI tools start kubectl: the shim does not need deno on PATH.
  const version = await run(shim, ["version"], {
    env: { PATH: "/nonexistent", HOME: tmp.path, DENO_DIR },
  });
  assert.equal(version.stdout, `kubectl-credentials_broker ${VERSION}\n`, version.stderr);
});
