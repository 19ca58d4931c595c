import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { join } from "node:path";
import { cp } from "node:fs/promises";
import { sha256Hex } from "../../scripts/archive.ts";
import {
  build,
  BuildError,
  compileArgs,
  executableTarget,
  findRuntime,
  runtimeCachePath,
  sourceDate,
} from "../../scripts/build.ts";
import { MANIFEST_FILE, validateKrewManifest } from "../../scripts/krew.ts";
import { V8_FLAGS } from "../../scripts/bundle.ts";
import { smokeTest } from "../../scripts/smoke.ts";
import {
  archiveName,
  hostTarget,
  selectTargets,
  sumsName,
  TARGETS,
} from "../../scripts/targets.ts";
import { VERSION } from "../../lib/shared/version.ts";
import { fakeProject, onPath, run, standInDeps, tempDir, unpack } from "./release_helpers.ts";

/** The archives are checked by unpacking them with the system's tar (Windows 10+ ships one in System32). */
const HAS_TAR = onPath("tar");

const projectDir = fileURLToPath(new URL("../..", import.meta.url)).replace(/[\\/]$/, "");
const mtime = new Date(Date.UTC(2025, 0, 2));

Deno.test("TARGETS are the five deno compile triples with krew's Go os/arch names", () => {
  assert.deepEqual(
    TARGETS.map((t) => [t.triple, t.os, t.arch, t.archive, t.bin]),
    [
      ["x86_64-unknown-linux-gnu", "linux", "amd64", "tar.gz", "kubectl-credentials_broker"],
      ["aarch64-unknown-linux-gnu", "linux", "arm64", "tar.gz", "kubectl-credentials_broker"],
      ["x86_64-apple-darwin", "darwin", "amd64", "tar.gz", "kubectl-credentials_broker"],
      ["aarch64-apple-darwin", "darwin", "arm64", "tar.gz", "kubectl-credentials_broker"],
      ["x86_64-pc-windows-msvc", "windows", "amd64", "zip", "kubectl-credentials_broker.exe"],
    ],
  );
});

Deno.test("archiveName() and sumsName() carry the tag, os and arch", () => {
  assert.equal(
    archiveName("v1.2.3", TARGETS[1]!),
    "kubectl-credentials_broker_v1.2.3_linux_arm64.tar.gz",
  );
  assert.equal(
    archiveName("v1.2.3", TARGETS[4]!),
    "kubectl-credentials_broker_v1.2.3_windows_amd64.zip",
  );
  assert.equal(sumsName("v1.2.3"), "kubectl-credentials_broker_v1.2.3_SHA256SUMS");
});

Deno.test("selectTargets() takes triples or os/arch and refuses unknown ones", () => {
  assert.equal(selectTargets([]).length, 5);
  assert.deepEqual(
    selectTargets(["darwin/arm64", "x86_64-pc-windows-msvc"]).map((t) => t.triple),
    ["aarch64-apple-darwin", "x86_64-pc-windows-msvc"],
  );
  assert.throws(() => selectTargets(["linux/386"]), /unknown target "linux\/386"/);
});

Deno.test("a tag that does not match deno.json's version stops the release before anything is built", async () => {
  await using tmp = await tempDir();
  await fakeProject(tmp.path, "1.2.3");
  const outDir = join(tmp.path, "dist");
  await Deno.mkdir(outDir);
  await Deno.writeTextFile(join(outDir, "earlier.txt"), "kept\n");
  const deps = standInDeps();
  await assert.rejects(
    build({ projectDir: tmp.path, outDir, targets: TARGETS, mtime, tag: "v1.2.4" }, deps),
    (error) =>
      error instanceof BuildError &&
      error.message ===
        'tag v1.2.4 does not match deno.json "version" 1.2.3: tag v1.2.3, or change the version',
  );
  assert.deepEqual(deps.calls, [], "nothing was checked, bundled or compiled");
  assert.equal(await Deno.readTextFile(join(outDir, "earlier.txt")), "kept\n");
  const tagged = await build(
    { projectDir: tmp.path, outDir, targets: [TARGETS[0]!], mtime, tag: "v1.2.3" },
    standInDeps(),
  );
  assert.equal(tagged.version, "1.2.3");
});

Deno.test("deno task build --tag with another version exits 1 with one sentence (what release.yml runs)", async () => {
  const result = await run(Deno.execPath(), [
    "run",
    "--allow-all",
    join(projectDir, "scripts", "build.ts"),
    "--target",
    "linux/amd64",
    "--tag",
    "v0.0.0-not-this",
  ], { cwd: projectDir, env: { NO_COLOR: "1" } });
  assert.equal(result.code, 1, result.stderr);
  assert.equal(
    result.stderr.trim().split("\n").at(-1),
    `error: tag v0.0.0-not-this does not match deno.json "version" ${VERSION}: tag v${VERSION}, ` +
      "or change the version",
  );
  assert.doesNotMatch(result.stderr, /type check|bundled/);
});

Deno.test("compileArgs() bakes in what the plugin needs to run and no network or prompt", () => {
  const args = compileArgs({
    target: TARGETS[4]!,
    output: "/out/kubectl-credentials_broker.exe",
    bundleDir: "/b",
  });
  const after = (flag: string) => args[args.indexOf(flag) + 1];
  assert.equal(args[0], "compile");
  assert.equal(after("--target"), "x86_64-pc-windows-msvc");
  assert.equal(after("--output"), "/out/kubectl-credentials_broker.exe");
  // The entry point is main.js; commands.js is only named in a variable, so it must be included by hand.
  assert.equal(args.at(-1), join("/b", "main.js"));
  assert.equal(after("--include"), join("/b", "commands.js"));
  assert.ok(args.includes(join("/b", "issuer.js")));
  assert.ok(args.includes(join("/b", "renewal.js")));
  // Credential files and kubeconfigs (read), lock folder and kubeconfig (write), the before-exec command (run),
  // KUBERNETES_EXEC_INFO and HOME (env).
  for (const flag of ["--allow-read", "--allow-write", "--allow-run", "--allow-env"]) {
    assert.ok(args.includes(flag), `${flag} missing`);
  }
  // The network for --issuer (its CA's address is only known from the kubeconfig), and kubectl may hand it a
  // terminal: no prompt for permissions.
  assert.ok(args.includes("--allow-net"));
  assert.ok(args.includes("--no-prompt"));
  for (const arg of args) {
    assert.doesNotMatch(arg, /^(-A|--allow-all|--allow-ffi|--allow-import)(=|$)/, arg);
  }
  // The runtime is inside the binary, so its V8 flags are safe there; the bundle needs no deno.json.
  assert.ok(args.includes(V8_FLAGS));
  assert.ok(args.includes("--no-config"));
});

Deno.test({
  name:
    "the binary a build ships runs the plugin with the flags baked in: version and a credential (needs tar: Windows 10's System32\\tar.exe, missing under Wine)",
  ignore: !HAS_TAR,
  fn: async () => {
    await using tmp = await tempDir();
    const target = hostTarget();
    assert.ok(target, `no release target for ${Deno.build.os}/${Deno.build.arch}`);
    const outDir = join(tmp.path, "dist");
    // The real bundle; the stand-in "compiler" writes a script that runs it with exactly the compile flags.
    const result = await build(
      { projectDir, outDir, targets: [target], mtime },
      standInDeps({ real: true }),
    );
    const work = join(tmp.path, "smoke");
    await Deno.mkdir(work);
    const bin = await smokeTest(result.archives[0]!.path, VERSION, work);
    assert.equal(bin, join(work, "unpacked", target.bin));
    // A permission the compile flags lacked would show as a NotCapable error instead of doctor's report.
    const doctor = await run(bin, ["doctor", "--kubeconfig", join(tmp.path, "missing")]);
    assert.equal(doctor.code, 1);
    assert.doesNotMatch(doctor.stderr + doctor.stdout, /NotCapable|Requires .* access/);
  },
});

Deno.test({
  name:
    "build() type-checks, compiles every target and writes archives, sums and manifest (needs tar: Windows 10's System32\\tar.exe, missing under Wine)",
  ignore: !HAS_TAR,
  fn: async () => {
    await using tmp = await tempDir();
    await fakeProject(tmp.path);
    const outDir = join(tmp.path, "dist");
    const deps = standInDeps();
    const result = await build({ projectDir: tmp.path, outDir, targets: TARGETS, mtime }, deps);

    assert.equal(result.version, "1.2.3");
    assert.deepEqual(deps.calls.slice(0, 2), [`typeCheck ${tmp.path}`, `bundle ${tmp.path}`]);
    assert.deepEqual(
      deps.calls.filter((c) => c.startsWith("compile")),
      TARGETS.map((t) => `compile ${t.triple}`),
    );
    for (const request of deps.requests) {
      // Each compile writes into its own platform's stage and compiles the bundle the build just made.
      assert.equal(request.args[request.args.indexOf("--target") + 1], request.target.triple);
      assert.equal(request.args[request.args.indexOf("--output") + 1], request.output);
      assert.equal(
        request.output,
        join(outDir, "stage", `${request.target.os}_${request.target.arch}`, request.target.bin),
      );
      assert.equal(request.args.at(-1), join(outDir, "bundle", "main.js"));
    }

    const names = [];
    for await (const entry of Deno.readDir(outDir)) names.push(entry.name);
    assert.deepEqual(
      names.sort(),
      [
        ...TARGETS.map((t) => archiveName("v1.2.3", t)),
        sumsName("v1.2.3"),
        MANIFEST_FILE,
      ].sort(),
    );

    for (const target of TARGETS) {
      await using unpacked = await tempDir();
      const archive = join(outDir, archiveName("v1.2.3", target));
      await unpack(archive, unpacked.path);
      const files = [];
      for await (const entry of Deno.readDir(unpacked.path)) files.push(entry.name);
      assert.deepEqual(files.sort(), [target.bin, "LICENSE", "README.md", "docs"].sort(), archive);
      // Every relative link of the shipped markdown leads to a file that is there once unpacked.
      assert.deepEqual(relativeLinks(unpacked.path, "README.md"), [
        "docs/renewal.md",
        "docs/issuers.md",
        "LICENSE",
      ]);
      for (const file of ["README.md", "docs/renewal.md", "docs/issuers.md"]) {
        for (const link of relativeLinks(unpacked.path, file)) {
          const path = join(unpacked.path, file, "..", link);
          assert.ok(
            Deno.statSync(path).isFile,
            `${file} links to ${link}, missing from ${archive}`,
          );
        }
      }
      assert.equal(
        await Deno.readTextFile(join(unpacked.path, "docs", "renewal.md")),
        await Deno.readTextFile(join(tmp.path, "docs", "renewal.md")),
      );
      const bin = join(unpacked.path, target.bin);
      assert.equal((await Deno.stat(bin)).mode! & 0o111, 0o111, `${target.bin} is not executable`);
      assert.equal((await run(bin, [])).stdout, `stand-in broker for ${target.triple}\n`);
      assert.equal(
        await Deno.readTextFile(join(unpacked.path, "LICENSE")),
        await Deno.readTextFile(join(tmp.path, "LICENSE")),
      );
    }

    const sums = await Deno.readTextFile(result.sums);
    const expected = [];
    for (const target of TARGETS) {
      const name = archiveName("v1.2.3", target);
      expected.push(`${await sha256Hex(await Deno.readFile(join(outDir, name)))}  ${name}`);
    }
    assert.equal(sums, expected.join("\n") + "\n");
    const checked = await run("sha256sum", ["-c", sumsName("v1.2.3")], { cwd: outDir });
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);

    const manifest = await Deno.readTextFile(result.manifest);
    assert.deepEqual(validateKrewManifest(manifest, result.manifest), []);
    assert.match(manifest, /^ {2}version: v1\.2\.3$/m);
    for (const archive of result.archives) {
      assert.ok(manifest.includes(`sha256: ${archive.sha256}`));
    }
  },
});

Deno.test("build() gives the same checksums when run twice on the same inputs", async () => {
  await using tmp = await tempDir();
  await fakeProject(tmp.path);
  const first = await build(
    { projectDir: tmp.path, outDir: join(tmp.path, "a"), targets: TARGETS, mtime },
    standInDeps(),
  );
  const second = await build(
    { projectDir: tmp.path, outDir: join(tmp.path, "b"), targets: TARGETS, mtime },
    standInDeps(),
  );
  assert.equal(await Deno.readTextFile(first.sums), await Deno.readTextFile(second.sums));
});

Deno.test("build() without a runtime stops after type check and staging, naming what is missing", async () => {
  await using tmp = await tempDir();
  await fakeProject(tmp.path);
  const outDir = join(tmp.path, "dist");
  const deps = standInDeps({ missing: ["aarch64-apple-darwin", "x86_64-pc-windows-msvc"] });
  const error = await build({ projectDir: tmp.path, outDir, targets: TARGETS, mtime }, deps).then(
    () => assert.fail("build succeeded"),
    (e) => e,
  );
  assert.ok(error instanceof BuildError);
  assert.equal(
    error.message,
    `cannot compile: Deno's runtime (denort ${Deno.version.deno}) for aarch64-apple-darwin, ` +
      "x86_64-pc-windows-msvc is missing, and nothing else offers it",
  );
  assert.ok(deps.calls.includes(`typeCheck ${tmp.path}`));
  assert.ok(!deps.calls.some((c) => c.startsWith("compile")), "compiled without all runtimes");
  assert.equal(
    await Deno.readTextFile(join(outDir, "stage", "darwin_arm64", "README.md")),
    await Deno.readTextFile(join(tmp.path, "README.md")),
  );
  assert.equal(
    await Deno.readTextFile(join(outDir, "stage", "darwin_arm64", "docs", "renewal.md")),
    await Deno.readTextFile(join(tmp.path, "docs", "renewal.md")),
  );
});

/** The relative links (no scheme, no anchor) of a markdown file in `dir`, in order. */
function relativeLinks(dir: string, file: string): string[] {
  return [...Deno.readTextFileSync(join(dir, file)).matchAll(/\]\(([^)#:]+)(#[^)]*)?\)/g)].map((
    m,
  ) => m[1]!);
}

Deno.test("build() refuses to ship archives without docs/, which README.md links into", async () => {
  await using tmp = await tempDir();
  await fakeProject(tmp.path);
  await Deno.remove(join(tmp.path, "docs"), { recursive: true });
  await assert.rejects(
    build(
      { projectDir: tmp.path, outDir: join(tmp.path, "dist"), targets: TARGETS, mtime },
      standInDeps(),
    ),
    (error) => {
      assert.ok(error instanceof BuildError);
      assert.equal(
        error.message,
        `${
          join(tmp.path, "docs")
        } is missing or empty, and every archive must carry it: README.md links into it`,
      );
      return true;
    },
  );
});

Deno.test("build() refuses to ship archives without the LICENSE", async () => {
  await using tmp = await tempDir();
  await fakeProject(tmp.path);
  await Deno.remove(join(tmp.path, "LICENSE"));
  await assert.rejects(
    build(
      { projectDir: tmp.path, outDir: join(tmp.path, "dist"), targets: TARGETS, mtime },
      standInDeps(),
    ),
    /LICENSE is missing from/,
  );
});

Deno.test("findRuntime() uses Deno's cached runtime, then a reachable download, else nothing", async () => {
  await using tmp = await tempDir();
  const [linux, darwin] = [TARGETS[0]!, TARGETS[3]!];
  const cached = runtimeCachePath(tmp.path, "9.9.9", linux);
  assert.equal(cached, join(tmp.path, "dl/release/v9.9.9/denort-x86_64-unknown-linux-gnu.zip"));
  await Deno.mkdir(join(cached, ".."), { recursive: true });
  await Deno.writeFile(cached, new Uint8Array([0x50, 0x4b, 5, 6]));
  const offline = {
    denoDir: tmp.path,
    denoVersion: "9.9.9",
    canDownload: () => Promise.resolve(false),
  };
  assert.deepEqual(await findRuntime(linux, offline), {
    source: "cache",
    location: cached,
    env: { DENORT_BIN: undefined },
  });
  assert.equal(await findRuntime(darwin, offline), undefined);
  const online = {
    ...offline,
    canDownload: (url: string) => Promise.resolve(url.endsWith(".zip")),
  };
  assert.deepEqual(await findRuntime(darwin, online), {
    source: "download",
    location: "https://dl.deno.land/release/v9.9.9/denort-aarch64-apple-darwin.zip",
    env: { DENORT_BIN: undefined },
  });
});

Deno.test("findRuntime() uses DENORT_BIN only for the platform that binary is built for", async () => {
  await using tmp = await tempDir();
  const denort = join(tmp.path, "denort");
  await Deno.writeFile(denort, elfHeader(62));
  const search = {
    denortBin: denort,
    denoDir: tmp.path,
    denoVersion: "9.9.9",
    canDownload: () => Promise.resolve(false),
  };
  assert.deepEqual(await findRuntime(TARGETS[0]!, search), {
    source: "DENORT_BIN",
    location: denort,
    env: { DENORT_BIN: denort },
  });
  assert.equal(await findRuntime(TARGETS[1]!, search), undefined);
  await assert.rejects(
    findRuntime(TARGETS[0]!, { ...search, denortBin: join(tmp.path, "nope") }),
    /DENORT_BIN .*nope cannot be read/,
  );
});

Deno.test("executableTarget() reads the platform from ELF, Mach-O and PE headers", async (t) => {
  const macho = (cpu: number) => {
    const bytes = new Uint8Array(64);
    new DataView(bytes.buffer).setUint32(0, 0xfeedfacf, true);
    new DataView(bytes.buffer).setUint32(4, cpu, true);
    return bytes;
  };
  const pe = (machine: number) => {
    const bytes = new Uint8Array(256);
    bytes.set([0x4d, 0x5a]);
    const view = new DataView(bytes.buffer);
    view.setUint32(0x3c, 0x80, true);
    view.setUint32(0x80, 0x50450000);
    view.setUint16(0x84, machine, true);
    return bytes;
  };
  const cases: [string, Uint8Array, string | undefined][] = [
    ["ELF x86-64", elfHeader(62), "x86_64-unknown-linux-gnu"],
    ["ELF aarch64", elfHeader(183), "aarch64-unknown-linux-gnu"],
    ["ELF riscv", elfHeader(243), undefined],
    ["Mach-O x86-64", macho(0x01000007), "x86_64-apple-darwin"],
    ["Mach-O arm64", macho(0x0100000c), "aarch64-apple-darwin"],
    ["PE amd64", pe(0x8664), "x86_64-pc-windows-msvc"],
    ["PE arm64", pe(0xaa64), undefined],
    ["shell script", new TextEncoder().encode("#!/bin/sh\n"), undefined],
  ];
  for (const [name, header, expected] of cases) {
    await t.step(name, () => assert.equal(executableTarget(header), expected));
  }
});

Deno.test("sourceDate() reads SOURCE_DATE_EPOCH seconds and defaults to the epoch", () => {
  assert.equal(sourceDate(undefined).getTime(), 0);
  assert.equal(sourceDate("1700000000").toISOString(), "2023-11-14T22:13:20.000Z");
  assert.throws(() => sourceDate("yesterday"), /SOURCE_DATE_EPOCH yesterday is not a number/);
});

Deno.test("deno task build without a runtime type-checks and bundles, then ends with one sentence and exit 1", async () => {
  await using tmp = await tempDir();
  // A copy of the project as a release checkout has it (LICENSE and README from fakeProject).
  await fakeProject(tmp.path);
  for (const entry of ["main.ts", "deno.json", "deno.lock", "lib", "scripts"]) {
    await cp(join(projectDir, entry), join(tmp.path, entry), { recursive: true });
  }
  // A Deno cache without runtimes, sharing the real npm cache so that nothing needs downloading.
  const info = await run(Deno.execPath(), ["info", "--json"]);
  const denoDir = join(tmp.path, "deno-dir");
  await Deno.mkdir(denoDir);
  await Deno.symlink(JSON.parse(info.stdout).npmCache, join(denoDir, "npm"));
  const result = await run(Deno.execPath(), [
    "run",
    "--allow-all",
    join(tmp.path, "scripts", "build.ts"),
    "--target",
    "linux/amd64",
  ], {
    cwd: tmp.path,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: tmp.path,
      DENO_DIR: denoDir,
      DENO_NO_UPDATE_CHECK: "1",
      // Make Deno's download host unreachable even where it is not (CI); npm stays direct.
      HTTPS_PROXY: "http://127.0.0.1:9",
      NO_PROXY: "registry.npmjs.org",
      NO_COLOR: "1",
    },
  });
  const lines = result.stderr.trim().split("\n");
  assert.equal(result.code, 1, result.stderr);
  assert.equal(
    lines.at(-1),
    `error: cannot compile: Deno's runtime (denort ${Deno.version.deno}) for x86_64-unknown-linux-gnu is ` +
      `missing, DENORT_BIN is not set, it is not in Deno's cache (${
        join(denoDir, "dl", "release", `v${Deno.version.deno}`)
      }), ` +
      "and Deno's download host (dl.deno.land) cannot be reached",
  );
  assert.ok(lines.includes("type check of main.ts passed"), result.stderr);
  assert.ok(lines.includes(`bundled main.ts into ${join("dist", "bundle")}`), result.stderr);
  assert.ok(
    lines.includes(
      `staged LICENSE, README.md and docs/ for 1 platforms in ${join("dist", "stage")}`,
    ),
    result.stderr,
  );
  // What would have been compiled: the bundle, which runs.
  const version = await run(Deno.execPath(), [
    "run",
    "--no-config",
    "--allow-read",
    join(tmp.path, "dist", "bundle", "main.js"),
    "--version",
  ]);
  assert.equal(version.stdout, `kubectl-credentials_broker ${VERSION}\n`, version.stderr);
});

function elfHeader(machine: number): Uint8Array {
  const bytes = new Uint8Array(64);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  new DataView(bytes.buffer).setUint16(18, machine, true);
  return bytes;
}

/** Deno's runtime for this machine's target, where `deno compile` can take it without a download. */
const hostRuntime = await (async () => {
  const target = hostTarget();
  if (!target) return undefined;
  const info = await run(Deno.execPath(), ["info", "--json"]);
  return await findRuntime(target, {
    denortBin: Deno.env.get("DENORT_BIN") || undefined,
    denoDir: JSON.parse(info.stdout).denoDir,
    denoVersion: Deno.version.deno,
    canDownload: () => Promise.resolve(false),
  });
})();
if (!hostRuntime) {
  console.log(
    `skipping the deno compile test: no denort ${Deno.version.deno} for this machine ` +
      "(set DENORT_BIN, or run deno task build where dl.deno.land answers, to fill Deno's cache)",
  );
}

Deno.test({
  name:
    "deno task build compiles a binary for this machine that prints its version and a credential" +
    (!hostRuntime ? " (ignored: no denort runtime for this machine here)" : ""),
  ignore: !hostRuntime,
  async fn() {
    await using tmp = await tempDir();
    const target = hostTarget()!;
    // A release checkout without node_modules: deno compile would embed all of it.
    for (
      const entry of [
        "main.ts",
        "deno.json",
        "deno.lock",
        "lib",
        "scripts",
        "LICENSE",
        "README.md",
        "docs",
      ]
    ) {
      await Deno.copyFile(join(projectDir, entry), join(tmp.path, entry)).catch(() =>
        cp(join(projectDir, entry), join(tmp.path, entry), { recursive: true })
      );
    }
    const result = await run(Deno.execPath(), [
      "run",
      "--allow-all",
      join(tmp.path, "scripts", "build.ts"),
      "--target",
      `${target.os}/${target.arch}`,
      "--tag",
      `v${VERSION}`,
    ], { cwd: tmp.path, env: { NO_COLOR: "1" } });
    assert.equal(result.code, 0, result.stderr);
    const archive = join(tmp.path, "dist", archiveName(`v${VERSION}`, target));
    const work = join(tmp.path, "smoke");
    await Deno.mkdir(work);
    await smokeTest(archive, VERSION, work);
  },
});
