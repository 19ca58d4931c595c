/**
 * `deno task install`: bundles the source and installs it as `kubectl-credentials_broker`, so that
 * `kubectl credentials-broker` finds it, and next to it `kubectl_complete-credentials_broker`, which kubectl
 * 1.26+ runs to complete `kubectl credentials-broker <TAB>`. Honours DENO_INSTALL_ROOT (both land in
 * $DENO_INSTALL_ROOT/bin). On Linux and macOS both are `sh` scripts; on Windows, as `deno install` does there,
 * `.cmd` files, which kubectl finds on PATH through PATHEXT.
 */
import { bundleBroker, PORTABLE_FLAGS, V8_FLAGS } from "./bundle.ts";
import { BROKER_PERMISSIONS } from "./permissions.ts";
import { COMPLETION_EXECUTABLE, PLUGIN_EXECUTABLE } from "../lib/shared/command_list.ts";
import { quoteWord } from "../lib/shared/command_line.ts";
import { scriptArgs } from "./args.ts";
import { describeError } from "../lib/shared/errors.ts";
import {
  basename,
  dirname,
  executableProbe,
  fileUrlToPath,
  HOST_OS,
  hostHomeDir,
  isWindows,
  joinPath,
  lookPath,
  type Os,
  splitPathList,
} from "../lib/shared/platform.ts";

const projectDir = fileUrlToPath(new URL("../", import.meta.url).href, HOST_OS);

/**
 * Next to the bundle (Linux, macOS): a file whose modification time is the one the shim's Deno had at install.
 * The Windows shim carries the size of its deno.exe instead: cmd.exe reads a file's size without a process.
 */
export const RUNTIME_STAMP = "deno.stamp";

/** The plugin's file name on `os`: kubectl finds `kubectl-credentials_broker.cmd` on Windows through PATHEXT. */
export function shimName(os: Os): string {
  return isWindows(os) ? `${PLUGIN_EXECUTABLE}.cmd` : PLUGIN_EXECUTABLE;
}

/** The completion executable's file name on `os`. */
export function completionName(os: Os): string {
  return isWindows(os) ? `${COMPLETION_EXECUTABLE}.cmd` : COMPLETION_EXECUTABLE;
}

/** An install that cannot be done as asked; the message is one plain sentence. */
export class InstallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InstallError";
  }
}

/** What an install may be told besides its root; tests stand in for the Deno the shim runs. */
export interface InstallOptions {
  /** The Deno the shim runs, by absolute path (default: the running one). */
  deno?: string;
  /**
   * The install outlives this run (`deno task install`), so it refuses a Deno that npm may delete under it. The
   * tests' and the demo's installs live in temporary folders, removed before npm could empty its npx cache.
   */
  lasting?: boolean;
}

/**
 * Installs the plugin under `root` (default: Deno's install root) and returns the path of its shim: the bundle
 * (see bundle.ts) in bin/.kubectl-credentials_broker/, next to the folder's shim and completion executable. The
 * install is a snapshot of the source: run it again after changing the code.
 */
export async function installPlugin(root?: string, options: InstallOptions = {}): Promise<string> {
  const deno = options.deno ?? denoForShim(Deno.execPath(), (name) => Deno.env.get(name));
  const npx = npxCacheFolder(deno, HOST_OS) ?? npxCacheFolder(Deno.execPath(), HOST_OS);
  if (npx && options.lasting) {
    throw new InstallError(
      `the running deno ${deno} is in npm's temporary npx cache (${npx}), which npm empties at will, ` +
        "and the installed plugin would then stop working: install Deno for good " +
        "(npm install -g deno@2.9.6, or https://deno.land) and run deno task install with it",
    );
  }
  const home = hostHomeDir((name) => Deno.env.get(name));
  const installRoot = root ?? Deno.env.get("DENO_INSTALL_ROOT") ??
    joinPath(home ?? ".", ".deno", HOST_OS);
  const bin = joinPath(installRoot, "bin", HOST_OS);
  await Deno.mkdir(bin, { recursive: true });
  const shim = joinPath(bin, shimName(HOST_OS), HOST_OS);
  const folder = bundleFolder(shim);
  const entry = await bundleBroker(projectDir, folder);
  if (isWindows(HOST_OS)) {
    await writeExecutable(shim, cmdShimScript({ deno, size: (await Deno.stat(deno)).size, entry }));
  } else {
    const stamp = joinPath(folder, RUNTIME_STAMP, HOST_OS);
    await stampRuntime(deno, stamp);
    await writeExecutable(shim, shimScript({ deno, stamp, entry }));
  }
  await installCompletion(shim);
  return shim;
}

/**
 * The shim kubectl runs. Deno by absolute path: GUI tools (IDEs, Lens) often start kubectl with a bare PATH.
 * The V8 flags only while that Deno is the one installed with (same modification time as the stamp): a Deno
 * upgrade may not know them, and Deno exits 1 on an unknown V8 flag before the broker runs, which would fail
 * every kubectl call. `test -nt/-ot` are shell built-ins, so the check starts no process.
 */
export function shimScript({ deno, stamp, entry }: {
  deno: string;
  stamp: string;
  entry: string;
}): string {
  const command = (flags: readonly string[]) =>
    `exec "$deno" ${
      ["run", ...flags, ...BROKER_PERMISSIONS, "--quiet", entry].map((word) =>
        quoteWord(word, "linux")
      ).join(" ")
    } "$@"`;
  return [
    "#!/bin/sh",
    "# kubectl-credentials-broker, installed by deno task install",
    `deno=${quoteWord(deno, "linux")}`,
    `stamp=${quoteWord(stamp, "linux")}`,
    "# V8 flags suit the Deno installed with; a changed Deno (upgrade) runs without them: run the install again.",
    `if [ -f "$stamp" ] && ! [ "$deno" -nt "$stamp" ] && ! [ "$deno" -ot "$stamp" ]; then`,
    `  ${command([...PORTABLE_FLAGS, V8_FLAGS])}`,
    "fi",
    command(PORTABLE_FLAGS),
    "",
  ].join("\n");
}

/**
 * The Windows shim, a `.cmd` file as `deno install` writes there: cmd.exe runs it with the arguments kubectl
 * gave, and `%*` hands them on as they came (quoted words stay quoted, so `%`, `^`, `&` and `"` in them reach
 * the broker intact). The V8 flags only while deno.exe has the size it had at install: the same rule as the sh
 * shim's stamp, read by cmd.exe's `for` without starting a process.
 */
export function cmdShimScript({ deno, size, entry }: {
  deno: string;
  size: number;
  entry: string;
}): string {
  const command = (flags: readonly string[]) =>
    [
      batchQuote(deno),
      "run",
      ...[...flags, ...BROKER_PERMISSIONS, "--quiet"].map(batchQuote),
      batchQuote(entry),
      "%*",
    ].join(" ");
  return [
    "@echo off",
    "rem kubectl-credentials-broker, installed by deno task install",
    "rem V8 flags suit the Deno installed with; a changed Deno (upgrade) runs without them: run the install again.",
    `for %%F in (${batchQuote(deno)}) do if "%%~zF"=="${size}" goto tuned`,
    command(PORTABLE_FLAGS),
    "exit /b %ERRORLEVEL%",
    ":tuned",
    command([...PORTABLE_FLAGS, V8_FLAGS]),
    "",
  ].join("\r\n");
}

/**
 * One word of a `.cmd` line, read as written: `%` doubled (cmd.exe expands `%...%` even inside quotes) and
 * anything but plain characters in double quotes, where `^`, `&`, `|`, `<`, `>`, `,`, `;`, `=` and spaces lose
 * their meaning. Windows paths cannot hold a `"`.
 */
export function batchQuote(word: string): string {
  const text = word.replaceAll("%", "%%");
  return /^[\w@+:./\\-]+$/.test(word) ? text : `"${text}"`;
}

/** Gives `stamp` the modification time of `deno`, to the nanosecond (touch -r copies it whole). */
async function stampRuntime(deno: string, stamp: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("touch", {
    args: ["-r", deno, stamp],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new InstallError(
      `cannot record the modification time of ${deno} in ${stamp}: ${
        new TextDecoder().decode(stderr).trim()
      }`,
    );
  }
}

/**
 * The Deno the shim names: the `deno` PATH finds when it is this very executable through links, else `execPath`
 * (the real path). A package manager's link outlives upgrades (Homebrew's /opt/homebrew/bin/deno points into
 * Cellar/deno/<version>/, which `brew upgrade` replaces and `brew cleanup` deletes); the real path does not.
 */
export function denoForShim(execPath: string, env: (name: string) => string | undefined): string {
  const found = lookPath("deno", "/", HOST_OS, env, executableProbe);
  if (found.problem !== undefined || found.resolved === undefined) return execPath;
  const onPath = found.resolved;
  const real = (path: string) => {
    try {
      return Deno.realPathSync(path);
    } catch {
      return undefined;
    }
  };
  const target = real(execPath);
  return target !== undefined && real(onPath) === target ? onPath : execPath;
}

/** The `_npx` folder `path` lies in (npm's temporary cache for `npx`), or undefined. */
export function npxCacheFolder(path: string, os: Os): string | undefined {
  for (let dir = path; dirname(dir, os) !== dir; dir = dirname(dir, os)) {
    if (basename(dir, os) === "_npx") return dir;
  }
  return undefined;
}

/**
 * Where installPlugin() puts the bundle a shim runs: in a dot folder named after it (without `.cmd`), next to it.
 */
export function bundleFolder(shim: string): string {
  const name = basename(shim, HOST_OS).replace(/\.cmd$/i, "");
  return joinPath(dirname(shim, HOST_OS), `.${name}`, HOST_OS);
}

/** Where installCompletion() puts the completion executable for a plugin shim: in the same folder. */
export function completionPath(shim: string): string {
  return joinPath(dirname(shim, HOST_OS), completionName(HOST_OS), HOST_OS);
}

/**
 * Writes `kubectl_complete-credentials_broker` next to the plugin shim: kubectl runs it with the words typed
 * after `kubectl credentials-broker` and the word being completed, and it hands them to the plugin's
 * `__complete` (cobra's protocol). Returns its path.
 */
export async function installCompletion(shim: string): Promise<string> {
  const path = completionPath(shim);
  const comment = "kubectl 1.26+ runs this to complete `kubectl credentials-broker <TAB>`.";
  await writeExecutable(
    path,
    isWindows(HOST_OS)
      // A .cmd started without `call` from a .cmd takes over and never returns: its exit status is this one's.
      ? `@echo off\r\nrem ${comment}\r\n${batchQuote(shim)} __complete %*\r\n`
      : `#!/bin/sh\n# ${comment}\n` + `exec ${quoteWord(shim, "linux")} __complete "$@"\n`,
  );
  return path;
}

/** Replaces `path` with an executable file in one rename, so a kubectl call never runs half a script. */
async function writeExecutable(path: string, text: string): Promise<void> {
  const staging = `${path}.new-${Deno.pid}`;
  await Deno.writeTextFile(staging, text, { mode: 0o755 });
  // mode only applies when the file is created: make a leftover staging file executable too. Windows has no
  // modes (a .cmd runs by its extension).
  if (!isWindows(HOST_OS)) await Deno.chmod(staging, 0o755);
  await Deno.rename(staging, path);
}

/** Whether two PATH entries name the same folder: Windows paths ignore case and a trailing separator. */
function samePath(a: string, b: string, os: Os): boolean {
  if (!isWindows(os)) return a.replace(/(.)\/+$/, "$1") === b.replace(/(.)\/+$/, "$1");
  const norm = (p: string) => p.replaceAll("/", "\\").replace(/(.)\\+$/, "$1").toLowerCase();
  return norm(a) === norm(b);
}

if (import.meta.main) {
  scriptArgs({
    usage: "deno task install",
    about:
      "Bundles the source and installs it as kubectl-credentials_broker, with its completion executable, " +
      "in $DENO_INSTALL_ROOT/bin (default ~/.deno/bin).",
    flags: [],
  });
  try {
    const shim = await installPlugin(undefined, { lasting: true });
    console.log(`installed ${shim}`);
    console.log(
      `installed ${completionPath(shim)} (completion for kubectl credentials-broker <TAB>)`,
    );
    const dir = dirname(shim, HOST_OS);
    const path = Deno.env.get("PATH") ?? Deno.env.get("Path");
    if (!splitPathList(path, HOST_OS).some((entry) => samePath(entry, dir, HOST_OS))) {
      console.log(
        isWindows(HOST_OS)
          ? `add ${dir} to PATH so that kubectl finds the plugin (Settings > "Edit environment variables ` +
            `for your account"), or for this cmd.exe only:\n  set "PATH=${dir};%PATH%"`
          : `add ${dir} to PATH so that kubectl finds the plugin:\n  export PATH="${dir}:$PATH"`,
      );
    }
    console.log(`try: kubectl credentials-broker --help`);
  } catch (error) {
    console.error(`error: ${describeError(error)}`);
    Deno.exit(1);
  }
}
