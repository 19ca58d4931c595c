/**
 * `deno task test:windows [deno test arguments]`: the unit, process and release tests (`deno task test:portable`,
 * scripts/test.ts portable) run by Deno's own Windows build, deno.exe, under Wine on this Linux machine.
 * Deno.build.os is "windows" there, paths are `Z:\...` (this machine's `/`) and `C:\...`, PATHEXT and `.cmd`
 * files run through cmd.exe, and the broker is installed as `deno task install` installs it on Windows
 * (kubectl-credentials_broker.cmd): a POSIX-only assumption fails here as it would on Windows. Wine is not
 * Windows (its taskkill has no /T, its cmd.exe expands `%*` once more, file ACLs differ, its tasklist lists
 * nothing): the CI matrix's windows-latest job stays the proof, this run the evidence on every `.ci/run`, where it
 * gates (a failed test fails the run; its counts are in the total). A test that Wine cannot run is ignored on
 * Windows with the reason in its name.
 *
 * What it needs, installed when missing and kept under ~/.cache/kubectl-credentials-broker/wine-deno
 * (XDG_CACHE_HOME is honoured; KCB_WINE_HOME names another folder):
 * 1. Debian's `wine64` and `gcc-mingw-w64-x86-64` (apt-get, as root);
 * 2. `@deno/win32-x64` from npm at this Deno's version (`npm pack`, through npm's own proxy and CA settings);
 * 3. bcryptprimitives.dll, built from scripts/wine/bcryptprimitives.c into the Wine prefix's system32: Wine 8 lacks
 *    ProcessPrng, which deno.exe (Rust) and esbuild (Go) call for random bytes;
 * 4. deno.exe with its imports `VirtualAlloc2` and `MapViewOfFile3` renamed, so that V8 takes its documented
 *    fallback for Windows without placeholder reservations: Wine 8's VirtualAlloc2 cannot make them
 *    (`Fatal process out of memory: SegmentedTable::InitializeTable`).
 * This machine's CA bundle (DENO_CERT, else SSL_CERT_FILE or NODE_EXTRA_CA_CERTS) is handed to deno.exe as
 * DENO_CERT, and the proxy variables pass through, so npm packages load as they do for the Linux suite.
 *
 * A run that has not ended after KCB_WINDOWS_TIMEOUT_MIN minutes (default 45) is stopped and fails.
 *
 * Usage: deno task test:windows [--filter NAME] [test files or folders]
 *        deno run -A scripts/windows.ts --deno ARGS...   (run deno.exe itself, e.g. `--deno eval '...'`)
 */
import {
  executableProbe,
  fileUrlToPath,
  HOST_OS,
  joinPath,
  lookPath,
} from "../lib/shared/platform.ts";
import { scriptArgs } from "./args.ts";
import { describeError } from "../lib/shared/errors.ts";

const projectDir = fileUrlToPath(new URL("../", import.meta.url).href, HOST_OS);

/** Something the Windows run cannot set up; the message says what and how to fix it. */
export class WindowsRunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WindowsRunError";
  }
}

/** The path deno.exe under Wine gives a file of this machine: drive Z: is `/`. */
export function wineZPath(path: string): string {
  return `Z:${path.replaceAll("/", "\\")}`;
}

/**
 * The bytes of deno.exe with the two import names renamed (same length, so nothing else moves). Refuses a build
 * that does not hold each name exactly once: another Deno release may need another look.
 */
export function patchImports(exe: Uint8Array): Uint8Array {
  const out = exe.slice();
  for (
    const [from, to] of [["VirtualAlloc2", "VirtualAllocX"], ["MapViewOfFile3", "MapViewOfFileX"]]
  ) {
    const needle = new TextEncoder().encode(`${from}\0`);
    const at = indicesOf(out, needle);
    if (at.length !== 1) {
      throw new WindowsRunError(
        `expected the import name ${from} once in deno.exe, found it ${at.length} times: ` +
          "this Deno release needs another look at the Wine workaround in scripts/windows.ts",
      );
    }
    out.set(new TextEncoder().encode(`${to}\0`), at[0]!);
  }
  return out;
}

function indicesOf(haystack: Uint8Array, needle: Uint8Array): number[] {
  const found: number[] = [];
  const first = needle[0]!;
  for (let i = haystack.indexOf(first); i !== -1; i = haystack.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) found.push(i);
  }
  return found;
}

/** Where the Windows run keeps what it fetched and built, between runs. */
export function cacheHome(env: (name: string) => string | undefined): string {
  const own = env("KCB_WINE_HOME");
  if (own) return own;
  const cache = env("XDG_CACHE_HOME") || joinPath(env("HOME") || "/tmp", ".cache", HOST_OS);
  return joinPath(cache, "kubectl-credentials-broker/wine-deno", HOST_OS);
}

function say(message: string): void {
  console.error(`test:windows: ${message}`);
}

function onPath(name: string): string | undefined {
  const found = lookPath(name, "/", HOST_OS, (n) => Deno.env.get(n), executableProbe);
  return found.problem === undefined ? found.resolved : undefined;
}

async function runTool(program: string, args: string[], options: Deno.CommandOptions = {}) {
  const { code, stderr } = await new Deno.Command(program, {
    args,
    stdout: "null",
    stderr: "piped",
    ...options,
  }).output();
  if (code !== 0) {
    const detail = new TextDecoder().decode(stderr).trim().split("\n").slice(-5).join("\n");
    throw new WindowsRunError(`${program} ${args.join(" ")} failed (exit ${code}):\n${detail}`);
  }
}

/** wine64 and the mingw-w64 compiler: from Debian when missing (as root, as on a CI machine). */
async function ensureTools(): Promise<string> {
  const wine = () =>
    onPath("wine64") ??
      (executableProbe("/usr/lib/wine/wine64") === "executable"
        ? "/usr/lib/wine/wine64"
        : undefined);
  if (wine() && onPath("x86_64-w64-mingw32-gcc")) return wine()!;
  if (Deno.uid() !== 0) {
    throw new WindowsRunError(
      "wine64 or x86_64-w64-mingw32-gcc is missing: install them (Debian: sudo apt-get install wine64 " +
        "gcc-mingw-w64-x86-64), or run this as root to let it install them",
    );
  }
  say("installing wine64 and gcc-mingw-w64-x86-64 from Debian");
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  await runTool("apt-get", ["update", "-qq"], { env });
  await runTool("apt-get", ["install", "-y", "-qq", "wine64", "gcc-mingw-w64-x86-64"], { env });
  const found = wine();
  if (!found) {
    throw new WindowsRunError("apt-get installed wine64, but no wine64 executable was found");
  }
  return found;
}

/** deno.exe (patched) and bcryptprimitives.dll for `version`, fetched and built once. */
async function ensureDenoExe(dir: string, version: string): Promise<string> {
  const exe = joinPath(dir, "deno.exe", HOST_OS);
  const dll = joinPath(dir, "bcryptprimitives.dll", HOST_OS);
  if (executableProbe(exe) === "executable" && executableProbe(dll) !== null) return exe;
  await Deno.mkdir(dir, { recursive: true });
  const tmp = await Deno.makeTempDir({ prefix: "kcb-wine-" });
  try {
    say(`fetching @deno/win32-x64@${version} from npm`);
    await runTool("npm", ["pack", "--silent", `@deno/win32-x64@${version}`], { cwd: tmp });
    const tgz = [...Deno.readDirSync(tmp)].find((entry) => entry.name.endsWith(".tgz"));
    if (!tgz) throw new WindowsRunError(`npm pack @deno/win32-x64@${version} left no .tgz`);
    await runTool("tar", ["xzf", tgz.name], { cwd: tmp });
    await runTool("x86_64-w64-mingw32-gcc", [
      "-shared",
      "-O2",
      "-o",
      joinPath(tmp, "bcryptprimitives.dll", HOST_OS),
      fileUrlToPath(new URL("wine/bcryptprimitives.c", import.meta.url).href, HOST_OS),
      "-Wl,--export-all-symbols",
      "-lbcrypt",
    ]);
    const patched = patchImports(await Deno.readFile(joinPath(tmp, "package/deno.exe", HOST_OS)));
    await Deno.rename(joinPath(tmp, "bcryptprimitives.dll", HOST_OS), dll);
    await Deno.writeFile(`${exe}.part`, patched, { mode: 0o755 });
    await Deno.rename(`${exe}.part`, exe);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  return exe;
}

/** The environment deno.exe runs with: the Wine prefix, quiet Wine, the CA bundle as DENO_CERT. */
export function wineEnv(
  env: (name: string) => string | undefined,
  prefix: string,
): Record<string, string> {
  const out: Record<string, string> = { WINEPREFIX: prefix, WINEDEBUG: env("WINEDEBUG") || "-all" };
  const ca = env("DENO_CERT") || env("SSL_CERT_FILE") || env("NODE_EXTRA_CA_CERTS");
  if (ca) out.DENO_CERT = ca.startsWith("/") ? wineZPath(ca) : ca;
  // A Linux DENO_DIR (.ci/run's empty one) would be read as a folder of drive Z: anyway; a folder of its own
  // keeps the Windows cache apart from the Linux one.
  const denoDir = env("DENO_DIR");
  if (denoDir?.startsWith("/")) out.DENO_DIR = wineZPath(joinPath(denoDir, "windows", HOST_OS));
  return out;
}

/** Sets up Wine and deno.exe (cached) and returns how to run it: the wine program, deno.exe and the env. */
export async function prepare(): Promise<
  { wine: string; exe: string; env: Record<string, string> }
> {
  const get = (name: string) => Deno.env.get(name);
  const home = cacheHome(get);
  const version = Deno.version.deno;
  const wine = await ensureTools();
  const exe = await ensureDenoExe(joinPath(home, version, HOST_OS), version);
  const prefix = joinPath(home, "prefix", HOST_OS);
  const env = wineEnv(get, prefix);
  // Every Windows program started there (esbuild, which deno bundle runs, too) needs ProcessPrng: the DLL goes
  // into the prefix's system32 once the prefix exists.
  const system32 = joinPath(prefix, "drive_c/windows/system32", HOST_OS);
  const dll = joinPath(system32, "bcryptprimitives.dll", HOST_OS);
  if (executableProbe(dll) === null) {
    if (executableProbe(system32) === null) {
      say(`creating the Wine prefix ${prefix}`);
      await new Deno.Command(wine, {
        args: [exe, "--version"],
        env,
        stdout: "null",
        stderr: "null",
      })
        .output();
    }
    await Deno.copyFile(
      joinPath(joinPath(home, version, HOST_OS), "bcryptprimitives.dll", HOST_OS),
      dll,
    );
  }
  return { wine, exe, env };
}

/**
 * Removes the copies of deno.exe that deno.exe leaves under Wine: each start may copy itself to
 * `node_compat_bin/node.exe.tmp-<pid>` (97 MB) to refresh its `node.exe`, and under Wine the rename that
 * would replace the file fails, so the copy stays. A full run left tens of GB and filled the disk. Copies younger
 * than `minAgeMs` may still be being written and are left for the next sweep. Returns how many were removed.
 */
export function sweepNodeCompatCopies(roots: string[], minAgeMs: number, now = Date.now()): number {
  let removed = 0;
  const visit = (dir: string, depth: number) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return; // gone meanwhile, or never made
    }
    for (const entry of entries) {
      const path = joinPath(dir, entry.name, HOST_OS);
      if (entry.isDirectory && !entry.isSymlink && depth > 0) visit(path, depth - 1);
      if (!entry.isFile || !/^node\.exe\.tmp-/.test(entry.name)) continue;
      if (!dir.endsWith("node_compat_bin")) continue;
      try {
        const mtime = Deno.statSync(path).mtime?.getTime() ?? now;
        if (now - mtime < minAgeMs) continue;
        Deno.removeSync(path);
        removed++;
      } catch {
        // removed by someone else, or still held: the next sweep tries again
      }
    }
  };
  for (const root of roots) visit(root, 6);
  return removed;
}

/**
 * Minutes after which a test that still runs under Wine counts as lost: Wine now and then loses a deno.exe started
 * next to others (the child ends, its parent never hears of it), and the test waits forever. No test of the suite
 * runs near this long on its own; deno test says so in a line "'NAME' has been running for over (Nm0s)".
 */
export const STALL_MIN = 5;

/** Whether deno test's output says a test has been running for STALL_MIN minutes or more. */
export function stalled(output: string): boolean {
  for (const match of output.matchAll(/has been running for over \((\d+)m/g)) {
    if (Number(match[1]) >= STALL_MIN) return true;
  }
  return false;
}

/**
 * Whether `deno test` output ends well: a summary line `ok | N passed ...` and no `FAILED | ...` one. A Windows
 * process that Wine loses (killed from the Linux side, say) may report exit 0 with no summary at all: that is no
 * pass.
 */
export function summaryPassed(output: string): boolean {
  return /^ok \| \d+ passed/m.test(output) && !/^FAILED \| \d+ passed/m.test(output);
}

if (import.meta.main) {
  const { values, positionals: rest } = scriptArgs({
    usage: "deno task test:windows [deno test arguments] | --deno ARGS...",
    about:
      "Deno's Windows build under Wine: the unit, process and release tests (deno test arguments narrow " +
      "them), or with --deno any deno command.",
    flags: [{ name: "deno", kind: "boolean", help: "run deno.exe with the arguments that follow" }],
    passThrough: true,
  });
  let code = 1;
  try {
    const { wine, exe, env } = await prepare();
    const suite = !values.deno;
    const args = suite ? ["run", "--allow-all", "scripts/test.ts", "portable", ...rest] : rest;
    say(`deno.exe ${Deno.version.deno} under ${wine}: deno ${args.join(" ")}`);
    const started = performance.now();
    // Where deno.exe keeps node_compat_bin: its DENO_DIR (the default one under the prefix's AppData, or the
    // run's own) and the temp DENO_DIRs of tests, in the prefix's Temp.
    const sweepRoots = [
      joinPath(env.WINEPREFIX!, "drive_c/users", HOST_OS),
      ...(Deno.env.get("DENO_DIR")?.startsWith("/")
        ? [joinPath(Deno.env.get("DENO_DIR")!, "windows", HOST_OS)]
        : []),
    ];
    let swept = sweepNodeCompatCopies(sweepRoots, 0);
    const sweeper = setInterval(() => {
      swept += sweepNodeCompatCopies(sweepRoots, 60_000);
    }, 30_000);
    const server = onPath("wineserver") ?? "/usr/lib/wine/wineserver64";
    // Ends every process of this run's Wine prefix (wineserver -k touches no other prefix), then the child.
    const endPrefix = (child: Deno.ChildProcess) => {
      new Deno.Command(server, { args: ["-k"], env, stdout: "null", stderr: "null" }).outputSync();
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    };
    // A test that hangs under Wine (it has happened: one of twelve deno.exe started at once never ended; and two
    // tests of one run at once) must not hold CI past its budget: after KCB_WINDOWS_TIMEOUT_MIN minutes (default
    // 45) every process of the prefix is ended and the run fails. A test running STALL_MIN minutes is such a loss:
    // the prefix is ended at once, and the suite runs once more, from the start; a second loss fails the run.
    const limitMin = Number(Deno.env.get("KCB_WINDOWS_TIMEOUT_MIN") || 45);
    let timedOut = false;
    let running: Deno.ChildProcess | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      say(
        `no end after ${limitMin} min: stopping every process of the Wine prefix ${env.WINEPREFIX}`,
      );
      if (running) endPrefix(running);
    }, limitMin * 60_000);
    const runOnce = async () => {
      const child = new Deno.Command(wine, {
        args: [exe, ...args],
        cwd: projectDir,
        env,
        stdin: "null",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      running = child;
      // Shown as it comes, and kept to read the summary (deno test prints it on stdout).
      let output = "";
      let lost = false;
      const decoder = new TextDecoder();
      for await (const chunk of child.stdout) {
        await Deno.stdout.write(chunk);
        const text = decoder.decode(chunk, { stream: true });
        output += text;
        // deno test repeats the line every minute, so one split across two chunks is seen a minute later.
        if (suite && !lost && stalled(text)) {
          lost = true;
          say(`a test has run ${STALL_MIN} min: Wine lost a process; stopping the prefix`);
          endPrefix(child);
        }
      }
      return { code: (await child.status).code, output, lost };
    };
    let { code: exit, output, lost } = await runOnce();
    if (lost && !timedOut) {
      say("running the suite once more, from the start (the lost run's counts are not summed)");
      ({ code: exit, output, lost } = await runOnce());
      if (lost) exit = 1;
    }
    code = exit;
    clearTimeout(timer);
    clearInterval(sweeper);
    swept += sweepNodeCompatCopies(sweepRoots, 0);
    say(`removed ${swept} copies of deno.exe that Wine left in node_compat_bin folders`);
    if (timedOut) code = 1;
    if (suite && code === 0 && !summaryPassed(output)) {
      say("deno test exited 0 without a passing summary line: counted as a failure");
      code = 1;
    }
    say(`took ${((performance.now() - started) / 1000).toFixed(0)} s, exit ${code}`);
  } catch (error) {
    console.error(`error: ${describeError(error)}`);
  }
  Deno.exit(code);
}
