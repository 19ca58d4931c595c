/**
 * The bundle that `deno task install` runs and `deno task build` compiles: what it holds, what the plugin's path
 * loads of it, and the guards that keep npm packages off that path.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  BUNDLE_COMMANDS,
  BUNDLE_ENTRY,
  BUNDLE_ISSUER,
  BUNDLE_RENEWAL,
  bundleBroker,
  BundleError,
  PORTABLE_FLAGS,
  RUNTIME_FLAGS,
  staticNodeImport,
  V8_FLAGS,
} from "../../scripts/bundle.ts";
import { BROKER_PERMISSIONS } from "../../scripts/permissions.ts";
import {
  batchQuote,
  completionName,
  completionPath,
  denoForShim,
  InstallError,
  installPlugin,
  npxCacheFolder,
  RUNTIME_STAMP,
  shimName,
} from "../../scripts/install.ts";
import { HOST_OS } from "../../lib/shared/platform.ts";
import { underWine } from "../../scripts/world/process.ts";
import { VERSION } from "../../lib/shared/version.ts";
import {
  BROKER_BIN_VARIABLE,
  DENO_DIR,
  generateKey,
  issueCert,
  literal,
  makeCa,
  ROOT,
  run,
  tempDir,
} from "../helpers.ts";
import { tokenWorld } from "../plugin/token_world.ts";

let projectBundle: Promise<string> | undefined;

/**
 * This project's bundle (bundleBroker(ROOT, ...)) copied into `out`, for the tests that read or run it: the
 * project is bundled once per test file, since a bundle costs 0.4 s of CPU. Returns the entry's path in `out`.
 */
async function projectBundleIn(out: string): Promise<string> {
  projectBundle ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "ccb-bundle-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    await bundleBroker(ROOT, join(dir, "app"));
    return join(dir, "app");
  })();
  const from = await projectBundle;
  await Deno.mkdir(out, { recursive: true });
  for (const name of await listDir(from)) await Deno.copyFile(join(from, name), join(out, name));
  return join(out, BUNDLE_ENTRY);
}

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
  assert.deepEqual(
    await listDir(out),
    [BUNDLE_COMMANDS, BUNDLE_ENTRY, BUNDLE_ISSUER, BUNDLE_RENEWAL].sort(),
  );
  const main = await Deno.readTextFile(entry);
  // One module: esbuild wrote no static import of another chunk.
  assert.doesNotMatch(main, /^import\s[^;]*from\s+"\.\//m);
  const commands = await Deno.readTextFile(join(out, BUNDLE_COMMANDS));
  // esbuild heads every bundled module with its path. The plugin's path is the folders below it: lib/plugin,
  // lib/credentials and lib/shared, and main.ts; nothing of kubeconfig editing, doctor or the command table.
  // The issuer code (lib/issuer, lib/plugin/issuance.ts) is in issuer.js, which only a call that issues loads, and
  // the renewal code (the lock, the command, renew-ahead) in renewal.js, which only a call that renews loads.
  const modules = (text: string) => [...text.matchAll(/^\/\/ (\S+\.ts)$/gm)].map((m) => m[1]!);
  assert.ok(modules(main).includes("lib/plugin/plugin.ts"), modules(main).join(", "));
  for (const module of modules(main)) {
    assert.match(module, /^(main\.ts|lib\/(plugin|credentials|shared)\/[a-z0-9_]+\.ts)$/);
    assert.notEqual(module, "lib/plugin/issuance.ts");
    assert.doesNotMatch(module, /^lib\/plugin\/(renewal|lock|before_exec|background_renewal)\.ts$/);
  }
  assert.doesNotMatch(main, /^\/\/ .*(registry\.npmjs\.org|node_modules)\//m);
  assert.ok(modules(commands).includes("lib/kubeconfig/set.ts"));
  assert.ok(modules(commands).includes("lib/doctor/doctor.ts"));
  assert.match(commands, /^\/\/ .*registry\.npmjs\.org\/yaml\//m);
  assert.match(main, /"\.\/commands\.js"/);
  assert.match(main, /"\.\/renewal\.js"/);
  const renewal = await Deno.readTextFile(join(out, BUNDLE_RENEWAL));
  assert.ok(modules(renewal).includes("lib/plugin/lock.ts"), modules(renewal).join(", "));
  assert.ok(modules(renewal).includes("lib/plugin/before_exec.ts"), modules(renewal).join(", "));
  assert.match(renewal, /"\.\/issuer\.js"/);
  const issuer = await Deno.readTextFile(join(out, BUNDLE_ISSUER));
  assert.ok(modules(issuer).includes("lib/issuer/cfssl.ts"), modules(issuer).join(", "));
  assert.doesNotMatch(main + commands, /from\s+"node:module"/);
});

Deno.test("the bundle runs anywhere with no configuration, subcommands included", async () => {
  await using tmp = await tempDir();
  const entry = await projectBundleIn(join(tmp.path, "app"));
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

Deno.test("a call that renews loads renewal.js; a valid call reads neither it nor issuer.js", async () => {
  await using tmp = await tempDir();
  const app = join(tmp.path, "app");
  const entry = await projectBundleIn(app);
  const world = tokenWorld(tmp.path);
  const call = () =>
    run(Deno.execPath(), [
      "run",
      ...RUNTIME_FLAGS,
      ...BROKER_PERMISSIONS,
      entry,
      `--token-path=${world.token}`,
      `--before-exec-command=${world.command()}`,
      "--before-exec-policy=when-invalid",
      `--cache-dir=${join(tmp.path, "cache")}`,
    ], {
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
  // The token has expired: the call takes the lock and runs the command, all of it code from renewal.js.
  const renewed = await call();
  assert.equal(renewed.code, 0, renewed.stderr);
  assert.equal(world.runs(), 1);
  const token = (await Deno.readTextFile(world.token)).trim();
  assert.equal(JSON.parse(renewed.stdout).status.token, token);
  // Valid now: with renewal.js and issuer.js gone, the same call answers from main.js alone and runs nothing.
  await Deno.remove(join(app, BUNDLE_RENEWAL));
  await Deno.remove(join(app, BUNDLE_ISSUER));
  const valid = await call();
  assert.equal(valid.code, 0, valid.stderr);
  assert.equal(JSON.parse(valid.stdout).status.token, token);
  assert.equal(world.runs(), 1);
  // Expired again, without renewal.js: an incomplete installation, said as such.
  world.setToken(-1);
  const incomplete = await call();
  assert.equal(incomplete.code, 1);
  assert.equal(
    incomplete.stderr,
    `error: cannot load the renewal code from ${
      join(app, BUNDLE_RENEWAL)
    }: the installation is incomplete\nhint: install kubectl-credentials-broker again\n`,
  );
  assert.equal(world.runs(), 1);
});

Deno.test("a kubectl call never reads commands.js: the plugin works without it, subcommands say it is gone", async () => {
  await using tmp = await tempDir();
  const entry = await projectBundleIn(join(tmp.path, "app"));
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
  assert.deepEqual(
    await listDir(out),
    [BUNDLE_COMMANDS, BUNDLE_ENTRY, BUNDLE_ISSUER, BUNDLE_RENEWAL].sort(),
  );
  assert.deepEqual(await listDir(tmp.path), ["app"]);
});

Deno.test("bundleBroker() refuses a main.ts that would load an npm package on every call", async () => {
  await using tmp = await tempDir();
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  await Deno.writeTextFile(
    join(tmp.path, "deno.json"),
    JSON.stringify({ imports: { yaml: config.imports.yaml } }),
  );
  await Deno.mkdir(join(tmp.path, "lib", "plugin"), { recursive: true });
  await Deno.writeTextFile(join(tmp.path, "lib", "commands.ts"), "export const none = 1;\n");
  await Deno.writeTextFile(
    join(tmp.path, "lib", "plugin", "issuance.ts"),
    "export const none = 1;\n",
  );
  await Deno.writeTextFile(
    join(tmp.path, "lib", "plugin", "renewal.ts"),
    'console.log("./issuance.ts");\n',
  );
  await Deno.writeTextFile(
    join(tmp.path, "main.ts"),
    'import { parse } from "yaml";\nconsole.log(parse("a: 1"));\n' +
      'const m = "./lib/commands.ts";\nawait import(m);\nconsole.log("./renewal.ts");\n',
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

Deno.test("bundleBroker() refuses a main.ts that imports a node: module on every call", async () => {
  await using tmp = await tempDir();
  await Deno.writeTextFile(join(tmp.path, "deno.json"), "{}\n");
  await Deno.mkdir(join(tmp.path, "lib", "plugin"), { recursive: true });
  await Deno.writeTextFile(
    join(tmp.path, "lib", "plugin", "issuance.ts"),
    "export const none = 1;\n",
  );
  await Deno.writeTextFile(
    join(tmp.path, "lib", "plugin", "renewal.ts"),
    'console.log("./issuance.ts");\n',
  );
  // The subcommands may use node: modules: only main.js is refused.
  await Deno.writeTextFile(
    join(tmp.path, "lib", "commands.ts"),
    'import { join } from "node:path";\nexport const where = join("a", "b");\n',
  );
  await Deno.writeTextFile(
    join(tmp.path, "main.ts"),
    'import { readFileSync } from "node:fs";\nconsole.log(readFileSync);\n' +
      'const m = "./lib/commands.ts";\nawait import(m);\nconsole.log("./renewal.ts");\n',
  );
  await assert.rejects(
    bundleBroker(tmp.path, join(tmp.path, "app")),
    (error) =>
      error instanceof BundleError &&
      error.message ===
        "the bundle loads node:fs at start-up (in main.js); node: modules must only be imported lazily, " +
          "by the subcommands that use them",
  );
  // A lazy import() of a node: module in main.js is allowed: it costs only the call that takes that branch.
  await Deno.writeTextFile(
    join(tmp.path, "main.ts"),
    'if (Deno.args[0] === "x") console.log(await import("node:os"));\n' +
      'const m = "./lib/commands.ts";\nawait import(m);\nconsole.log("./renewal.ts");\n',
  );
  await bundleBroker(tmp.path, join(tmp.path, "app"));
});

Deno.test("staticNodeImport() finds static imports and re-exports of node: modules, not import()", async (t) => {
  const cases: [string, string, string | undefined][] = [
    ["named", 'import { join } from "node:path";', "node:path"],
    ["namespace", 'import * as fs from "node:fs";', "node:fs"],
    ["over lines", 'import {\n  a,\n  b\n} from "node:util";', "node:util"],
    ["side effect", 'import "node:process";', "node:process"],
    ["re-export", 'export { x } from "node:os";', "node:os"],
    ["dynamic", 'const os = await import("node:os");', undefined],
    ["in a string", 'console.log("import from node:fs");', undefined],
    ["relative", 'import { a } from "./commands.js";', undefined],
  ];
  for (const [name, text, expected] of cases) {
    await t.step(name, () => assert.equal(staticNodeImport(text), expected));
  }
});

Deno.test("the installed plugin loads no node: module and no npm package on a kubectl call", async () => {
  await using tmp = await tempDir();
  const main = await Deno.readTextFile(await projectBundleIn(join(tmp.path, "app")));
  assert.equal(staticNodeImport(main), undefined);
});

const WINDOWS = Deno.build.os === "windows";

/** Lines of a program's output, whatever the OS's line ends (a .cmd echoes CRLF). */
function lf(text: string): string {
  return text.replaceAll("\r\n", "\n");
}

Deno.test("deno task install writes a shim that runs the bundle by absolute deno path (sh, or .cmd on Windows)", async () => {
  await using tmp = await tempDir();
  const shim = await installPlugin(join(tmp.path, "root"));
  const bin = join(tmp.path, "root", "bin");
  assert.equal(shim, join(bin, shimName(HOST_OS)));
  assert.deepEqual(
    await listDir(bin),
    [".kubectl-credentials_broker", completionName(HOST_OS), shimName(HOST_OS)].sort(),
  );
  assert.deepEqual(
    await listDir(join(bin, ".kubectl-credentials_broker")),
    [
      BUNDLE_COMMANDS,
      BUNDLE_ENTRY,
      BUNDLE_ISSUER,
      BUNDLE_RENEWAL,
      ...(WINDOWS ? [] : [RUNTIME_STAMP]),
    ].sort(),
  );
  const text = await Deno.readTextFile(shim);
  const deno = denoForShim(Deno.execPath(), (name) => Deno.env.get(name));
  if (WINDOWS) {
    assert.ok(text.startsWith("@echo off\r\n"), text);
    const size = (await Deno.stat(deno)).size;
    assert.ok(text.includes(`for %%F in (${batchQuote(deno)}) do if "%%~zF"=="${size}"`), text);
  } else {
    assert.ok(text.startsWith("#!/bin/sh\n"));
    assert.ok(text.includes(`deno=${deno}\n`), text);
    assert.equal((await Deno.stat(shim)).mode! & 0o777, 0o755);
  }
  // Run with a bare PATH, as GUI tools start kubectl: the shim does not need deno on PATH.
  const version = await run(shim, ["version"], {
    env: { PATH: "/nonexistent", HOME: tmp.path, DENO_DIR },
  });
  assert.equal(lf(version.stdout), `kubectl-credentials_broker ${VERSION}\n`, version.stderr);
});

Deno.test("the installed shim hands every argument to the broker intact: %, ^, &, | and quotes (cmd.exe reads a .cmd's arguments again)", async (t) => {
  await using tmp = await tempDir();
  const shim = await installPlugin(join(tmp.path, "root"));
  // The broker's place taken by a script that prints the arguments it got.
  await Deno.writeTextFile(
    join(tmp.path, "root", "bin", ".kubectl-credentials_broker", BUNDLE_ENTRY),
    "console.log(JSON.stringify(Deno.args));\n",
  );
  const received = async (args: string[]) => {
    const result = await run(shim, args, { env: { PATH: "/nonexistent", DENO_DIR } });
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout);
  };
  const quoted = `--before-exec-command="C:\\Program Files\\renew.cmd" --role "dev team"`;
  const plain = [
    quoted,
    "--before-exec-command=/opt/renew.sh --role 'dev team'",
    "a&b",
    "c^d",
    "e|f",
    "<g>",
    "!h!",
    "",
    "back\\slash\\",
  ];
  await t.step("quotes, ^, &, |, <, >, !, an empty word, trailing backslashes", async () => {
    assert.deepEqual(await received(plain), plain);
  });
  await t.step(
    "the completion helper hands its words to __complete, an empty last word included",
    async () => {
      const result = await run(completionPath(shim), ["kubeconfig", "set", "--role=dev team", ""], {
        env: { PATH: "/nonexistent", DENO_DIR },
      });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), [
        "__complete",
        "kubeconfig",
        "set",
        "--role=dev team",
        "",
      ]);
    },
  );
  await t.step({
    name:
      "--renew-ahead=30% and 100%PATH%x (ignored under Wine, whose cmd.exe drops a lone % from %*)",
    ignore: underWine(),
    fn: async () => {
      const percent = ["--renew-ahead=30%", "100%PATH%x", "%"];
      assert.deepEqual(await received(percent), percent);
    },
  });
  await t.step({
    name:
      "as kubectl (Go) starts a .cmd: cmd.exe /c with Go's quoting, only where Go quotes (Windows only)",
    ignore: !WINDOWS,
    fn: async () => {
      // Go's syscall.EscapeArg: a word with a space, tab or quote is quoted, `"` as `\"`, backslashes before a
      // quote doubled. Windows runs a .cmd as cmd.exe /c "<command line>".
      const goQuote = (word: string) =>
        word !== "" && !/[ \t"]/.test(word)
          ? word
          : `"${word.replace(/(\\*)"/g, '$1$1\\"').replace(/(\\+)$/, "$1$1")}"`;
      const args = [quoted, "--before-exec-command=C:\\Users\\me\\renew.cmd --x a&b ^c"];
      if (!underWine()) args.push("--renew-ahead=30%");
      const line = [shim, ...args].map(goQuote).join(" ");
      const result = await new Deno.Command("cmd.exe", {
        args: ["/c", `"${line}"`],
        windowsRawArguments: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(result.stdout);
      assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
      assert.deepEqual(JSON.parse(stdout), args);
    },
  });
});

/**
 * A stand-in `deno` that logs each start and prints its arguments; `rejectV8` makes it refuse --v8-flags as a
 * Deno with another V8 does (POSIX only). On Windows a `.cmd` (the shim's `for` reads any file's size).
 */
function standInDeno(log: string, name: string, rejectV8: boolean): string {
  if (WINDOWS) return `@echo off\r\necho start>> "${log}"\r\necho ${name}: %*\r\n`;
  return `#!/bin/sh
echo start >> '${log}'
${
    rejectV8
      ? `case "$*" in *--v8-flags=*) echo "error: V8 did not recognize flag '--no-lazy'" >&2; exit 1;; esac\n`
      : ""
  }echo "${name}: $*"
`;
}

Deno.test("the shim runs the V8 flags only with the Deno it was installed with: an upgraded Deno that rejects them still works", async () => {
  await using tmp = await tempDir();
  const deno = join(tmp.path, "deno-home", WINDOWS ? "deno.cmd" : "deno");
  const log = join(tmp.path, "starts");
  await Deno.mkdir(join(deno, ".."));
  await Deno.writeTextFile(deno, standInDeno(log, "old deno", false), { mode: 0o755 });
  // An install of a while ago: the upgrade below gets another modification time (and size).
  await Deno.utime(deno, 1_700_000_000, 1_700_000_000);
  const shim = await installPlugin(join(tmp.path, "root"), { deno });
  const entry = join(tmp.path, "root", "bin", ".kubectl-credentials_broker", BUNDLE_ENTRY);
  const words = (flags: readonly string[]) =>
    ["run", ...flags, ...BROKER_PERMISSIONS, "--quiet", entry, "version"]
      .join(" ");

  // A .cmd echoes its arguments as cmd.exe got them: quoted by the program that started it.
  const printed = (stdout: string) => WINDOWS ? lf(stdout).replaceAll('"', "") : stdout;
  const before = await run(shim, ["version"], { env: { PATH: "/nonexistent" } });
  assert.equal(printed(before.stdout), `old deno: ${words(RUNTIME_FLAGS)}\n`, before.stderr);

  // An upgrade replaces the file (npm, deno upgrade, a package manager) with a Deno whose V8 lacks the flags.
  await Deno.writeTextFile(`${deno}.new`, standInDeno(log, "upgraded deno", true), { mode: 0o755 });
  await Deno.rename(`${deno}.new`, deno);
  const after = await run(shim, ["version"], { env: { PATH: "/nonexistent" } });
  assert.equal(after.code, 0, after.stderr);
  assert.equal(printed(after.stdout), `upgraded deno: ${words(PORTABLE_FLAGS)}\n`);
  assert.ok(!PORTABLE_FLAGS.includes(V8_FLAGS));
  // Each call started Deno once: the broker never runs twice for one kubectl call.
  assert.equal(lf(await Deno.readTextFile(log)).replaceAll(" \n", "\n"), "start\nstart\n");

  // Installing again with the new Deno brings the flags back (and the new Deno refuses them, as it should).
  await installPlugin(join(tmp.path, "root"), { deno });
  const reinstalled = await run(shim, ["version"], { env: { PATH: "/nonexistent" } });
  if (WINDOWS) {
    assert.equal(printed(reinstalled.stdout), `upgraded deno: ${words(RUNTIME_FLAGS)}\n`);
  } else {
    assert.equal(reinstalled.code, 1);
    assert.match(reinstalled.stderr, /V8 did not recognize flag/);
  }
});

Deno.test({
  name:
    "the shim names Deno by the PATH link that survives upgrades (Homebrew's), not the versioned real path" +
    (Deno.build.os === "windows" ? " (ignored: a POSIX PATH link)" : ""),
  ignore: Deno.build.os === "windows",
  async fn() {
    await using tmp = await tempDir();
    // Homebrew's layout: bin/deno -> ../Cellar/deno/2.9.6/bin/deno, the real executable (here this Deno).
    const cellar = join(tmp.path, "Cellar", "deno", "2.9.6", "bin");
    await Deno.mkdir(cellar, { recursive: true });
    await Deno.symlink(Deno.execPath(), join(cellar, "deno"));
    await Deno.mkdir(join(tmp.path, "bin"));
    await Deno.symlink("../Cellar/deno/2.9.6/bin/deno", join(tmp.path, "bin", "deno"));
    const env = (path: string) => (name: string) => name === "PATH" ? path : undefined;
    const versioned = join(cellar, "deno");
    assert.equal(denoForShim(versioned, env(join(tmp.path, "bin"))), join(tmp.path, "bin", "deno"));
    // Another Deno first on PATH, or none: the running one, by its own path.
    const other = join(tmp.path, "other");
    await Deno.mkdir(other);
    await Deno.writeTextFile(join(other, "deno"), "#!/bin/sh\n", { mode: 0o755 });
    assert.equal(denoForShim(versioned, env(`${other}:${join(tmp.path, "bin")}`)), versioned);
    assert.equal(denoForShim(versioned, env("")), versioned);
    // The shim an install writes names the link.
    const shim = await installPlugin(join(tmp.path, "root"), {
      deno: denoForShim(versioned, env(join(tmp.path, "bin"))),
    });
    assert.ok(
      (await Deno.readTextFile(shim)).includes(`\ndeno=${join(tmp.path, "bin", "deno")}\n`),
    );
  },
});

Deno.test("deno task install refuses to bind the shim to a Deno in npm's temporary npx cache", async () => {
  await using tmp = await tempDir();
  const deno = "/home/u/.npm/_npx/6a9f1c2b/node_modules/deno/deno";
  await assert.rejects(
    installPlugin(join(tmp.path, "root"), { deno, lasting: true }),
    (error) =>
      error instanceof InstallError &&
      error.message ===
        `the running deno ${deno} is in npm's temporary npx cache (/home/u/.npm/_npx), which npm empties ` +
          "at will, and the installed plugin would then stop working: install Deno for good " +
          "(npm install -g deno@2.9.6, or https://deno.land) and run deno task install with it",
  );
  assert.deepEqual(await listDir(tmp.path), [], "nothing was installed");
});

Deno.test("a throwaway install (tests, the demo) runs with a Deno from npm's npx cache, as npx -y deno task test does", async () => {
  await using tmp = await tempDir();
  // `npx -y deno@2.9.6 task test` on a machine without Deno: the running Deno is in npx's cache.
  const deno = join(
    tmp.path,
    ".npm",
    "_npx",
    "6a9f1c2b",
    "node_modules",
    "deno",
    WINDOWS ? "deno.cmd" : "deno",
  );
  await Deno.mkdir(join(deno, ".."), { recursive: true });
  await Deno.writeTextFile(deno, standInDeno(join(tmp.path, "starts"), "npx deno", false), {
    mode: 0o755,
  });
  const shim = await installPlugin(join(tmp.path, "root"), { deno });
  const version = await run(shim, ["version"], { env: { PATH: "/nonexistent" } });
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, /^npx deno: run /);
});

Deno.test("npxCacheFolder() finds npm's _npx folder on every OS", async (t) => {
  const cases: [string, Parameters<typeof npxCacheFolder>[1], string, string | undefined][] = [
    ["linux npx", "linux", "/root/.npm/_npx/1a/node_modules/deno/deno", "/root/.npm/_npx"],
    [
      "darwin npx",
      "darwin",
      "/Users/u/.npm/_npx/2b/node_modules/@deno/darwin-arm64/deno",
      "/Users/u/.npm/_npx",
    ],
    [
      "windows npx",
      "windows",
      "C:\\Users\\u\\AppData\\Local\\npm-cache\\_npx\\3c\\node_modules\\deno\\deno.exe",
      "C:\\Users\\u\\AppData\\Local\\npm-cache\\_npx",
    ],
    ["global npm", "linux", "/usr/lib/node_modules/deno/deno", undefined],
    ["a folder merely named like it", "linux", "/opt/my_npx/deno", undefined],
    ["deno's installer", "darwin", "/Users/u/.deno/bin/deno", undefined],
  ];
  for (const [name, os, path, expected] of cases) {
    await t.step(name, () => assert.equal(npxCacheFolder(path, os), expected));
  }
});

Deno.test("KUBECTL_CREDENTIALS_BROKER_BIN makes the test helpers run that executable instead of the source", async () => {
  await using tmp = await tempDir();
  const given = join(tmp.path, WINDOWS ? "given-broker.cmd" : "given-broker");
  await Deno.writeTextFile(
    given,
    WINDOWS ? "@echo given broker: %*\r\n" : '#!/bin/sh\necho "given broker: $*"\n',
    { mode: 0o755 },
  );
  // In a process of its own: installedBroker() keeps its answer for the life of a test process.
  const script = `
    import { installBroker, installedBroker, runBroker, runMain } from ${
    JSON.stringify(pathToFileURL(join(ROOT, "tests", "helpers.ts")).href)
  };
    const [home, root] = Deno.args;
    console.log(await installedBroker());
    console.log((await runBroker(["a"], { home })).stdout.trim());
    console.log((await runMain(["kubeconfig", "set"], { env: { HOME: home } })).stdout.trim());
    const linked = await installBroker(root);
    console.log(linked);
    console.log(new TextDecoder().decode((await new Deno.Command(linked, { args: ["b"] }).output()).stdout).trim());
  `;
  const root = join(tmp.path, "root");
  const result = await run(Deno.execPath(), ["eval", "--quiet", script, tmp.path, root], {
    env: { [BROKER_BIN_VARIABLE]: given },
    inheritEnv: true,
  });
  assert.equal(result.code, 0, result.stderr);
  // A .cmd echoes its arguments as cmd.exe got them: quoted by the program that started it.
  assert.equal(
    lf(result.stdout).replaceAll('"', ""),
    [
      given,
      "given broker: a",
      "given broker: kubeconfig set",
      join(root, "bin", shimName(HOST_OS)),
      "given broker: b",
      "",
    ].join("\n"),
  );
  const missing = await run(Deno.execPath(), ["eval", "--quiet", script, tmp.path, root], {
    env: { [BROKER_BIN_VARIABLE]: join(tmp.path, "nope") },
    inheritEnv: true,
  });
  assert.notEqual(missing.code, 0);
  assert.match(
    missing.stderr,
    new RegExp(
      `KUBECTL_CREDENTIALS_BROKER_BIN ${literal(join(tmp.path, "nope"))} is not an executable file`,
    ),
  );
});
