/**
 * `deno task build`: type-checks main.ts, bundles it (scripts/bundle.ts), compiles the bundle with
 * `deno compile` for every release platform with the broker's permissions baked in, and writes to dist/ one
 * archive per platform (the executable, LICENSE, README.md and docs/, which README.md links into), a SHA-256 sums file and the krew manifest rendered
 * from the same template krew-release-bot uses.
 *
 * `deno compile` needs Deno's `denort` runtime for each target. It is taken from DENORT_BIN (when that binary is
 * for the target), from Deno's cache, or left to `deno compile` to download when Deno's download host answers;
 * otherwise the build stops, after everything it can do without it, with one sentence naming what is missing.
 */
import { join, relative } from "node:path";
import { type ArchiveEntry, sha256Hex, tarGz, zip } from "./archive.ts";
import {
  archiveFiles,
  DOCS_DIR,
  krewManifest,
  krewTemplate,
  MANIFEST_FILE,
  validateKrewManifest,
} from "./krew.ts";
import {
  BUNDLE_COMMANDS,
  BUNDLE_ENTRY,
  BUNDLE_ISSUER,
  BUNDLE_RENEWAL,
  bundleBroker,
  RUNTIME_FLAGS,
} from "./bundle.ts";
import { fileUrlToPath, HOST_OS } from "../lib/shared/platform.ts";
import { BROKER_PERMISSIONS } from "./permissions.ts";
import { archiveName, selectTargets, sumsName, type Target } from "./targets.ts";
import { scriptArgs } from "./args.ts";
import { describeError } from "../lib/shared/errors.ts";

/** A build failure the user can act on; its message is one plain sentence. */
export class BuildError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BuildError";
  }
}

/** Where `deno compile` gets the runtime for one target; `env` is what its process must see. */
export interface Runtime {
  source: "DENORT_BIN" | "cache" | "download";
  /** The denort binary or Deno's cached denort zip; for "download", the URL deno will fetch. */
  location: string;
  /** Variables for the `deno compile` process; `undefined` removes a variable. */
  env: Record<string, string | undefined>;
}

/** One `deno compile` run: its full argv (after `deno`), its environment and the file it must write. */
export interface CompileRequest {
  target: Target;
  args: string[];
  env: Record<string, string | undefined>;
  output: string;
}

/** Everything the build touches outside its own files, so tests can stand in for deno and the network. */
export interface BuildDeps {
  typeCheck(projectDir: string): Promise<void>;
  /** Writes the bundle of `projectDir`/main.ts into `outDir` (see scripts/bundle.ts). */
  bundle(projectDir: string, outDir: string): Promise<unknown>;
  findRuntime(target: Target): Promise<Runtime | undefined>;
  /** Describes where runtimes were looked for, for the missing-runtime sentence. */
  runtimeSources(): string;
  compile(request: CompileRequest): Promise<void>;
  log(line: string): void;
}

/** What one build is asked to do. */
export interface BuildOptions {
  projectDir: string;
  outDir: string;
  targets: readonly Target[];
  /** File time recorded in the archives (SOURCE_DATE_EPOCH), so that rebuilding gives the same checksums. */
  mtime: Date;
  /** The git tag being released (`--tag`): it must be `v` + the version, or nothing is built. */
  tag?: string;
}

/** The release assets a build wrote. */
export interface BuildResult {
  version: string;
  archives: { target: Target; path: string; sha256: string }[];
  sums: string;
  manifest: string;
}

/** Reads the one version number of the project: deno.json "version". */
export async function readVersion(projectDir: string): Promise<string> {
  const config = JSON.parse(await Deno.readTextFile(join(projectDir, "deno.json")));
  if (
    typeof config.version !== "string" || !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(config.version)
  ) {
    throw new BuildError(
      `deno.json has no semver "version" (found ${JSON.stringify(config.version)})`,
    );
  }
  return config.version;
}

/**
 * Stops a release whose tag is not `v` + deno.json "version": the archives, the krew manifest and `--version`
 * all say the deno.json version, so a tag v1.2.4 on a 1.2.3 tree would publish 1.2.3 under the name 1.2.4.
 */
export function checkTag(tag: string, version: string): void {
  if (tag !== `v${version}`) {
    throw new BuildError(
      `tag ${tag} does not match deno.json "version" ${version}: tag v${version}, or change the version`,
    );
  }
}

/**
 * The exact `deno compile` argv: the bundle that `deno task install` runs too (scripts/bundle.ts), with the same
 * runtime flags, the broker's permissions baked in with --no-prompt (kubectl may hand the plugin a terminal). The
 * bundle holds the npm packages it uses and needs no configuration. main.js names commands.js, renewal.js and issuer.js in
 * variables, which deno compile cannot follow, hence --include.
 */
export function compileArgs(
  { target, output, bundleDir }: { target: Target; output: string; bundleDir: string },
): string[] {
  return [
    "compile",
    "--target",
    target.triple,
    "--output",
    output,
    ...RUNTIME_FLAGS,
    ...BROKER_PERMISSIONS,
    "--include",
    join(bundleDir, BUNDLE_COMMANDS),
    "--include",
    join(bundleDir, BUNDLE_RENEWAL),
    "--include",
    join(bundleDir, BUNDLE_ISSUER),
    join(bundleDir, BUNDLE_ENTRY),
  ];
}

/** Builds every archive, the sums file and the krew manifest in `outDir`, which it empties first. */
export async function build(options: BuildOptions, deps: BuildDeps): Promise<BuildResult> {
  const { projectDir, outDir, targets } = options;
  const version = await readVersion(projectDir);
  const tag = `v${version}`;
  if (options.tag !== undefined) checkTag(options.tag, version);
  deps.log(
    `building kubectl-credentials_broker ${tag} for ${targets.map((t) => t.triple).join(", ")}`,
  );

  const documents = new Map<string, Uint8Array>();
  for (const name of ["LICENSE", "README.md"]) {
    try {
      documents.set(name, await Deno.readFile(join(projectDir, name)));
    } catch (error) {
      throw new BuildError(
        `${name} is missing from ${projectDir}, and every archive must carry it`,
        {
          cause: error,
        },
      );
    }
  }
  const docs = await readDocs(projectDir);
  for (const [name, data] of docs) documents.set(`${DOCS_DIR}/${name}`, data);

  await deps.typeCheck(projectDir);
  deps.log("type check of main.ts passed");

  await Deno.remove(outDir, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  const bundleDir = join(outDir, "bundle");
  await deps.bundle(projectDir, bundleDir);
  deps.log(`bundled main.ts into ${relative(projectDir, bundleDir)}`);
  const stageDir = join(outDir, "stage");
  const stages = new Map<Target, string>();
  for (const target of targets) {
    const dir = join(stageDir, `${target.os}_${target.arch}`);
    await Deno.mkdir(join(dir, DOCS_DIR), { recursive: true });
    for (const [name, data] of documents) await Deno.writeFile(join(dir, name), data);
    stages.set(target, dir);
  }
  deps.log(
    `staged LICENSE, README.md and ${DOCS_DIR}/ for ${targets.length} platforms in ${
      relative(projectDir, stageDir)
    }`,
  );

  const runtimes = new Map<Target, Runtime>();
  const missing: Target[] = [];
  for (const target of targets) {
    const runtime = await deps.findRuntime(target);
    if (runtime) runtimes.set(target, runtime);
    else missing.push(target);
  }
  if (missing.length > 0) {
    throw new BuildError(
      `cannot compile: Deno's runtime (denort ${Deno.version.deno}) for ${
        missing.map((t) => t.triple).join(", ")
      } is missing, ${deps.runtimeSources()}`,
    );
  }

  const archives: BuildResult["archives"] = [];
  for (const target of targets) {
    const dir = stages.get(target)!;
    const runtime = runtimes.get(target)!;
    const output = join(dir, target.bin);
    deps.log(
      `compiling for ${target.triple} (runtime from ${runtime.source}: ${runtime.location})`,
    );
    await deps.compile({
      target,
      output,
      env: runtime.env,
      args: compileArgs({ target, output, bundleDir }),
    });
    let binary: Uint8Array;
    try {
      binary = await Deno.readFile(output);
    } catch (error) {
      throw new BuildError(`deno compile did not write ${output}`, { cause: error });
    }
    const entries: ArchiveEntry[] = archiveFiles(target, [...docs.keys()]).map((name) => ({
      name,
      data: name === target.bin ? binary : documents.get(name)!,
      mode: name === target.bin ? 0o755 : 0o644,
    }));
    const data = target.archive === "zip"
      ? await zip(entries, { mtime: options.mtime })
      : await tarGz(entries, { mtime: options.mtime });
    const path = join(outDir, archiveName(tag, target));
    await Deno.writeFile(path, data);
    archives.push({ target, path, sha256: await sha256Hex(data) });
    deps.log(`wrote ${relative(projectDir, path)}`);
  }
  await Deno.remove(stageDir, { recursive: true });
  await Deno.remove(bundleDir, { recursive: true });

  const sums = join(outDir, sumsName(tag));
  await Deno.writeTextFile(
    sums,
    archives.map((a) => `${a.sha256}  ${archiveName(tag, a.target)}\n`).join(""),
  );
  deps.log(`wrote ${relative(projectDir, sums)}`);

  const manifestText = krewManifest(
    tag,
    new Map(archives.map((a) => [archiveName(tag, a.target), a.sha256])),
    // All targets give the committed .krew.yaml; a --target build lists only what it built.
    krewTemplate(targets),
  );
  const manifest = join(outDir, MANIFEST_FILE);
  // .krew.yaml is written by hand: check that its files and bin are what each archive holds.
  const problems = validateKrewManifest(manifestText, manifest, (asset) => {
    const built = archives.find((a) => archiveName(tag, a.target) === asset);
    return built && archiveFiles(built.target, [...docs.keys()]);
  });
  if (problems.length > 0) {
    throw new BuildError(`the generated krew manifest is invalid: ${problems.join("; ")}`);
  }
  await Deno.writeTextFile(manifest, manifestText);
  deps.log(`wrote ${relative(projectDir, manifest)}`);
  return { version, archives, sums, manifest };
}

/**
 * The files of `projectDir`/docs/ by name, in name order: README.md links into them, so an archive without them
 * would leave its links dangling. Refused when the folder is missing or holds no file.
 */
async function readDocs(projectDir: string): Promise<Map<string, Uint8Array>> {
  const dir = join(projectDir, DOCS_DIR);
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) if (entry.isFile) names.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (names.length === 0) {
    throw new BuildError(
      `${dir} is missing or empty, and every archive must carry it: README.md links into it`,
    );
  }
  const docs = new Map<string, Uint8Array>();
  for (const name of names.sort()) docs.set(name, await Deno.readFile(join(dir, name)));
  return docs;
}

/** The cached runtime `deno compile` looks for: $DENO_DIR/dl/release/v<deno version>/denort-<target>.zip. */
export function runtimeCachePath(denoDir: string, denoVersion: string, target: Target): string {
  return join(denoDir, "dl", "release", `v${denoVersion}`, `denort-${target.triple}.zip`);
}

/** The URL `deno compile` downloads a missing runtime from. */
export function runtimeDownloadUrl(denoVersion: string, target: Target): string {
  return `https://dl.deno.land/release/v${denoVersion}/denort-${target.triple}.zip`;
}

/**
 * The target triple an executable was built for, read from its header (ELF, Mach-O or PE), or undefined.
 * DENORT_BIN names one binary that `deno compile` would use for every target, so it only serves its own.
 */
export function executableTarget(header: Uint8Array): string | undefined {
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (header.length >= 20 && view.getUint32(0) === 0x7f454c46) {
    const machine = view.getUint16(18, true);
    if (machine === 62) return "x86_64-unknown-linux-gnu";
    if (machine === 183) return "aarch64-unknown-linux-gnu";
    return undefined;
  }
  if (header.length >= 8 && view.getUint32(0, true) === 0xfeedfacf) {
    const cpu = view.getUint32(4, true);
    if (cpu === 0x01000007) return "x86_64-apple-darwin";
    if (cpu === 0x0100000c) return "aarch64-apple-darwin";
    return undefined;
  }
  if (header.length >= 0x40 && header[0] === 0x4d && header[1] === 0x5a) {
    const pe = view.getUint32(0x3c, true);
    if (pe + 6 <= header.length && view.getUint32(pe) === 0x50450000) {
      const machine = view.getUint16(pe + 4, true);
      if (machine === 0x8664) return "x86_64-pc-windows-msvc";
    }
  }
  return undefined;
}

/** How the real build looks for runtimes: what the environment, Deno's cache and the network offer. */
export interface RuntimeSearch {
  denortBin?: string;
  denoDir: string;
  denoVersion: string;
  canDownload(url: string): Promise<boolean>;
}

/** Finds the runtime for `target` the way `deno compile` will use it, or undefined if none is there. */
export async function findRuntime(
  target: Target,
  search: RuntimeSearch,
): Promise<Runtime | undefined> {
  if (search.denortBin) {
    let header: Uint8Array;
    try {
      using file = await Deno.open(search.denortBin);
      header = new Uint8Array(4096);
      header = header.subarray(0, (await file.read(header)) ?? 0);
    } catch (error) {
      throw new BuildError(`DENORT_BIN ${search.denortBin} cannot be read`, { cause: error });
    }
    if (executableTarget(header) === target.triple) {
      return {
        source: "DENORT_BIN",
        location: search.denortBin,
        env: { DENORT_BIN: search.denortBin },
      };
    }
  }
  // Without DENORT_BIN in its environment, deno compile takes the cached zip or downloads it.
  const cached = runtimeCachePath(search.denoDir, search.denoVersion, target);
  if (await exists(cached)) {
    return { source: "cache", location: cached, env: { DENORT_BIN: undefined } };
  }
  const url = runtimeDownloadUrl(search.denoVersion, target);
  if (await search.canDownload(url)) {
    return { source: "download", location: url, env: { DENORT_BIN: undefined } };
  }
  return undefined;
}

/** Asks Deno's download host whether it serves `url`, giving up after a few seconds. */
export async function canDownload(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(5000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/** The build's real dependencies: the running deno for check and compile, Deno's cache, the network. */
export async function realDeps(): Promise<BuildDeps> {
  const deno = Deno.execPath();
  const info = await new Deno.Command(deno, { args: ["info", "--json"], stderr: "inherit" })
    .output();
  const denoDir = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir as string;
  const search: RuntimeSearch = {
    denortBin: Deno.env.get("DENORT_BIN") || undefined,
    denoDir,
    denoVersion: Deno.version.deno,
    canDownload,
  };
  return {
    async typeCheck(projectDir) {
      const { code } = await new Deno.Command(deno, {
        args: ["check", "--config", join(projectDir, "deno.json"), "--frozen", "main.ts"],
        cwd: projectDir,
        stdout: "inherit",
        stderr: "inherit",
      }).output();
      if (code !== 0) throw new BuildError(`deno check main.ts failed (exit ${code})`);
    },
    bundle: bundleBroker,
    findRuntime: (target) => findRuntime(target, search),
    runtimeSources: () =>
      `${
        search.denortBin
          ? `DENORT_BIN ${search.denortBin} is for another platform`
          : "DENORT_BIN is not set"
      }` +
      `, it is not in Deno's cache (${join(denoDir, "dl", "release", `v${Deno.version.deno}`)})` +
      `, and Deno's download host (dl.deno.land) cannot be reached`,
    async compile(request) {
      const env = { ...Deno.env.toObject() };
      for (const [name, value] of Object.entries(request.env)) {
        if (value === undefined) delete env[name];
        else env[name] = value;
      }
      const { code } = await new Deno.Command(deno, {
        args: request.args,
        cwd: projectDirOf(request),
        clearEnv: true,
        env,
        stdout: "inherit",
        stderr: "inherit",
      }).output();
      if (code !== 0) {
        throw new BuildError(`deno compile for ${request.target.triple} failed (exit ${code})`);
      }
    },
    log: (line) => console.error(line),
  };
}

function projectDirOf(request: CompileRequest): string {
  // The entry point is the last argument: run deno compile in the bundle's folder.
  return join(request.args[request.args.length - 1]!, "..");
}

/** SOURCE_DATE_EPOCH as a date (the reproducible-builds convention), or the Unix epoch. */
export function sourceDate(value: string | undefined): Date {
  if (value === undefined || value === "") return new Date(0);
  if (!/^\d+$/.test(value)) {
    throw new BuildError(`SOURCE_DATE_EPOCH ${value} is not a number of seconds`);
  }
  return new Date(Number(value) * 1000);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

if (import.meta.main) {
  const projectDir = fileUrlToPath(new URL("..", import.meta.url).href, HOST_OS).replace(
    /[\\/]$/,
    "",
  );
  const { values } = scriptArgs({
    usage: "deno task build [--target OS/ARCH]... [--tag vX.Y.Z]",
    about:
      "Compiles the broker for each release platform and writes the archives, SHA256SUMS and the krew " +
      "manifest to dist/.",
    flags: [
      {
        name: "target",
        kind: "list",
        value: "OS/ARCH",
        help: "build only this platform (repeatable), e.g. linux/amd64; default: all",
      },
      {
        name: "tag",
        kind: "string",
        value: "vX.Y.Z",
        help: "the release tag: v and the deno.json version",
      },
    ],
  });
  try {
    const tag = values.tag;
    let targets: Target[];
    try {
      targets = selectTargets(values.target);
    } catch (error) {
      throw new BuildError((error as Error).message);
    }
    const result = await build({
      projectDir,
      outDir: join(projectDir, "dist"),
      targets,
      mtime: sourceDate(Deno.env.get("SOURCE_DATE_EPOCH")),
      tag,
    }, await realDeps());
    console.error(
      `built ${result.archives.length} archives of v${result.version}, ${
        relative(projectDir, result.sums)
      } and ${relative(projectDir, result.manifest)}`,
    );
  } catch (error) {
    console.error(`error: ${describeError(error)}`);
    Deno.exit(1);
  }
}
