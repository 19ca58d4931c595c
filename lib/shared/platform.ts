/**
 * Every rule that differs between Linux, macOS and Windows: paths, the home folder, the KUBECONFIG list, `~`,
 * PATH lookup, which signals exist and how a process tree is stopped. Each decision is a pure function of (OS,
 * env, input), mirroring client-go and Go's path/filepath and os/exec, so that all three OSes are tested on any
 * machine; the few effects (stat, kill, taskkill) sit at the bottom. No imports: the plugin path loads this on
 * every kubectl call.
 */

/** An OS as Deno names it (`Deno.build.os`); everything that is not "windows" follows POSIX rules here. */
export type Os = typeof Deno.build.os;

/** The OS this process runs on. */
export const HOST_OS: Os = Deno.build.os;

/** Whether `os` is Windows: drive letters, `\` separators, `;` lists, PATHEXT, no signals but SIGINT/SIGBREAK. */
export function isWindows(os: Os): boolean {
  return os === "windows";
}

function isSeparator(c: string | undefined, os: Os): boolean {
  return c === "/" || (isWindows(os) && c === "\\");
}

/** The separator used when joining, as Go's filepath.Separator. */
export function separator(os: Os): string {
  return isWindows(os) ? "\\" : "/";
}

/** Length of a Windows volume name (`C:` or `\\server\share`), 0 elsewhere; as Go's filepath.VolumeName. */
function volumeLength(path: string, os: Os): number {
  if (!isWindows(os)) return 0;
  // Loops, not regular expressions: a valid kubectl call runs none (docs/performance.md). A drive (`C:`), or a
  // UNC prefix: two separators, a server name, separators, a share name.
  const first = path.charCodeAt(0) | 0x20;
  if (first >= 0x61 && first <= 0x7a && path[1] === ":") return 2;
  if (!isSeparator(path[0], os) || !isSeparator(path[1], os)) return 0;
  let end = 2;
  const skip = (separators: boolean) => {
    const start = end;
    while (end < path.length && isSeparator(path[end], os) === separators) end++;
    return end > start;
  };
  return skip(false) && skip(true) && skip(false) ? end : 0;
}

/** Whether `path` is absolute: `/x` on POSIX; `C:\x`, `C:/x` or `\\server\share\x` on Windows (Go's IsAbs). */
export function isAbsolute(path: string, os: Os): boolean {
  if (!isWindows(os)) return path.startsWith("/");
  const volume = volumeLength(path, os);
  if (volume === 0) return false;
  if (isSeparator(path[0], os) && isSeparator(path[1], os)) return true;
  return isSeparator(path[volume], os);
}

/**
 * `path` made absolute against `cwd` (itself absolute), with a leading `./` dropped. On Windows a rooted path
 * without a drive (`\x`) takes the drive of `cwd`, as Windows itself resolves it.
 */
export function resolvePath(path: string, cwd: string, os: Os): string {
  if (isAbsolute(path, os)) return path;
  if (isWindows(os) && isSeparator(path[0], os)) return cwd.slice(0, volumeLength(cwd, os)) + path;
  return joinPath(cwd, path.replace(os === "windows" ? /^\.[\\/]+/ : /^\.\/+/, ""), os);
}

/**
 * A key under which two spellings of one absolute path compare equal: on Windows `/` and `\` are the same
 * separator and names ignore case (`C:/Users/me/.kube/config` is `c:\users\me\.kube\config`); elsewhere the
 * path itself.
 */
export function pathKey(path: string, os: Os): string {
  return isWindows(os) ? path.replaceAll("/", "\\").toLowerCase() : path;
}

/** `dir` and `name` joined by one separator. */
export function joinPath(dir: string, name: string, os: Os): string {
  if (dir === "") return name;
  return isSeparator(dir[dir.length - 1], os) ? dir + name : dir + separator(os) + name;
}

/** The folder part of `path`, as Go's filepath.Dir for the paths the broker handles ("/" for "/x"). */
export function dirname(path: string, os: Os): string {
  const volume = volumeLength(path, os);
  let end = path.length;
  while (end > volume + 1 && isSeparator(path[end - 1], os)) end--;
  let cut = end - 1;
  while (cut >= volume && !isSeparator(path[cut], os)) cut--;
  if (cut < volume) return volume > 0 ? path.slice(0, volume) : ".";
  let keep = cut;
  while (keep > volume && isSeparator(path[keep - 1], os)) keep--;
  return keep === volume ? path.slice(0, volume + 1) : path.slice(0, keep);
}

/** The last element of `path` (trailing separators ignored), as Go's filepath.Base. */
export function basename(path: string, os: Os): string {
  const rest = path.slice(volumeLength(path, os));
  let end = rest.length;
  while (end > 0 && isSeparator(rest[end - 1], os)) end--;
  if (end === 0) return rest === "" ? "." : separator(os);
  let start = end - 1;
  while (start >= 0 && !isSeparator(rest[start], os)) start--;
  return rest.slice(start + 1, end);
}

/**
 * Splits a PATH-style list (KUBECONFIG, PATH) as Go's filepath.SplitList does: `:` on POSIX; `;` on Windows,
 * where a `"..."` quoted part may hold a `;`. Empty entries are dropped, as kubectl's loader and exec skip them.
 */
export function splitPathList(value: string | undefined, os: Os): string[] {
  if (!value) return [];
  if (!isWindows(os)) return value.split(":").filter((part) => part !== "");
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  for (const c of value) {
    if (c === '"') quoted = !quoted;
    else if (c === ";" && !quoted) {
      parts.push(current);
      current = "";
    } else current += c;
  }
  parts.push(current);
  return parts.filter((part) => part !== "");
}

/** What `homeDir` may ask of the file system: a path's kind, or null when it does not exist. */
export type StatProbe = (path: string) => "writable-dir" | "exists" | null;

/**
 * The home folder as client-go's util/homedir finds it: HOME on POSIX; on Windows the first of HOME,
 * HOMEDRIVE+HOMEPATH and USERPROFILE that holds `.kube\config`, else the first of HOME, USERPROFILE and
 * HOMEDRIVE+HOMEPATH that is a writable folder, else the first that exists, else the first that is set.
 */
export function homeDir(
  os: Os,
  env: (name: string) => string | undefined,
  probe: StatProbe,
): string | undefined {
  if (!isWindows(os)) return env("HOME") || undefined;
  const home = env("HOME") || "";
  const drive = env("HOMEDRIVE") || "";
  const homePath = env("HOMEPATH") || "";
  const drivePath = drive && homePath ? drive + homePath : "";
  const profile = env("USERPROFILE") || "";
  for (const dir of [home, drivePath, profile]) {
    if (dir && probe(joinPath(joinPath(dir, ".kube", os), "config", os)) !== null) return dir;
  }
  let firstSet = "";
  let firstExisting = "";
  for (const dir of [home, profile, drivePath]) {
    if (!dir) continue;
    firstSet ||= dir;
    const kind = probe(dir);
    if (kind === null) continue;
    firstExisting ||= dir;
    if (kind === "writable-dir") return dir;
  }
  return firstExisting || firstSet || undefined;
}

/** Expands a leading `~` or `~/` (also `~\` on Windows) to `home`; anything else, or no home, is left as it is. */
export function expandTilde(path: string, home: string | undefined, os: Os): string {
  if (!home || path[0] !== "~") return path;
  if (path === "~") return home;
  if (isSeparator(path[1], os)) return joinPath(home, path.slice(2), os);
  return path;
}

/**
 * The path a `file:` URL names: percent-decoded, and on Windows without the `/` before the drive letter and with
 * `\` separators (`file:///C:/x` is `C:\x`; `file://server/share/x` is `\\server\share\x`).
 */
export function fileUrlToPath(url: string, os: Os): string {
  const { hostname, pathname } = new URL(url);
  const path = decodeURIComponent(pathname);
  if (!isWindows(os)) return path;
  const local = /^\/[A-Za-z]:/.test(path) ? path.slice(1) : path;
  const unc = hostname ? `//${hostname}${local}` : local;
  return unc.replaceAll("/", "\\");
}

/** Whether `command` names a file by path (holds a separator) rather than a name to look up on PATH. */
export function hasSeparator(command: string, os: Os): boolean {
  return command.includes("/") || (isWindows(os) && command.includes("\\"));
}

/**
 * The file names exec would try for `command` in `dir`, in order: on Windows each PATHEXT extension (`.COM;.EXE;
 * .BAT;.CMD` when unset), after the name itself when it already ends in one of them, as Go's exec.LookPath does.
 */
export function executableCandidates(
  command: string,
  dir: string,
  os: Os,
  env: (name: string) => string | undefined,
): string[] {
  const path = joinPath(dir, command, os);
  if (!isWindows(os)) return [path];
  const extensions = pathExtensions(env);
  const lower = command.toLowerCase();
  const hasExtension = extensions.some((ext) => lower.endsWith(ext.toLowerCase()));
  return [...(hasExtension ? [path] : []), ...extensions.map((ext) => path + ext)];
}

/** Whether Windows would start `path` by its name: its extension is one of PATHEXT's (true elsewhere). */
export function hasExecutableExtension(
  path: string,
  os: Os,
  env: (name: string) => string | undefined,
): boolean {
  if (!isWindows(os)) return true;
  const name = basename(path, os).toLowerCase();
  return pathExtensions(env).some((ext) =>
    name.endsWith(ext.toLowerCase()) && name !== ext.toLowerCase()
  );
}

function pathExtensions(env: (name: string) => string | undefined): string[] {
  return (env("PATHEXT") || ".com;.exe;.bat;.cmd").split(";")
    .filter((ext) => ext !== "").map((ext) => ext.startsWith(".") ? ext : `.${ext}`);
}

/** What lookPath may ask of the file system about one candidate. */
export type ExecutableProbe = (
  path: string,
) => "executable" | "not-executable" | "not-a-file" | null;

/** One step of a PATH lookup: where it looked and what it found there. */
export interface LookupResult {
  /** The executable found, or the first candidate that exists but cannot run. */
  resolved?: string;
  problem?: "not-found" | "not-a-file" | "not-executable";
  /** "PATH", or the folder a relative command was resolved against. */
  searched: string;
}

/**
 * Finds `command` the way kubectl's exec (Go's os/exec.LookPath) does: a name with a separator is resolved
 * against `base`, a bare name is searched on PATH (with PATHEXT on Windows). Empty PATH entries are skipped:
 * Go refuses to run a program found through the current folder.
 */
export function lookPath(
  command: string,
  base: string,
  os: Os,
  env: (name: string) => string | undefined,
  probe: ExecutableProbe,
): LookupResult {
  const check = (candidates: string[], searched: string): LookupResult | undefined => {
    let problem: LookupResult | undefined;
    for (const candidate of candidates) {
      const kind = probe(candidate);
      if (kind === "executable") return { resolved: candidate, searched };
      if (kind !== null) problem ??= { resolved: candidate, problem: kind, searched };
    }
    return problem;
  };
  if (hasSeparator(command, os)) {
    const resolved = resolvePath(command, base, os);
    const candidates = isWindows(os)
      ? executableCandidates(basename(resolved, os), dirname(resolved, os), os, env)
      : [resolved];
    return check(candidates, base) ?? { resolved, problem: "not-found", searched: base };
  }
  let firstProblem: LookupResult | undefined;
  for (const dir of splitPathList(env("PATH") ?? env("Path"), os)) {
    const found = check(executableCandidates(command, dir, os, env), "PATH");
    if (found && !found.problem) return found;
    firstProblem ??= found;
  }
  return firstProblem ?? { problem: "not-found", searched: "PATH" };
}

/** The signals a parent may forward to its child: Deno on Windows listens only for SIGINT and SIGBREAK. */
export function forwardedSignals(os: Os): Deno.Signal[] {
  return isWindows(os) ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM", "SIGHUP"];
}

/** Whether file modes and owners mean anything (they are null on Windows, where ACLs protect files instead). */
export function hasPosixPermissions(os: Os): boolean {
  return !isWindows(os);
}

/**
 * How to stop a command and everything it started. POSIX: signal its process group (the command runs in a
 * session of its own, so the group id is its pid). Windows has no process groups: `taskkill /T /F` ends the
 * tree by parent links, at once (there is no gentle step).
 */
export type StopPlan =
  | { kind: "signal-group"; pid: number; signal: Deno.Signal }
  | { kind: "signal"; pid: number; signal: Deno.Signal }
  | { kind: "command"; argv: string[] };

/** The plan for stopping `pid` (and, when `tree`, its descendants) gently (`force` false) or at once. */
export function stopPlan(
  os: Os,
  pid: number,
  options: { tree: boolean; force: boolean },
): StopPlan {
  if (isWindows(os)) {
    return {
      kind: "command",
      argv: ["taskkill", ...(options.tree ? ["/T"] : []), "/F", "/PID", String(pid)],
    };
  }
  const signal: Deno.Signal = options.force ? "SIGKILL" : "SIGTERM";
  return options.tree ? { kind: "signal-group", pid, signal } : { kind: "signal", pid, signal };
}

// ---------------------------------------------------------------------------------------------------------------
// Effects: the host's answers to the probes above.

/**
 * Stops a process (tree) as `stopPlan` says, ignoring one that is already gone. When taskkill fails (Wine's has no
 * /T and refuses it, stopping nothing) the process itself is still ended, so that a timeout always ends the wait.
 */
export function stopProcess(pid: number, options: { tree: boolean; force: boolean }): void {
  const plan = stopPlan(HOST_OS, pid, options);
  try {
    if (plan.kind === "command") {
      const [program, ...args] = plan.argv;
      const killer = new Deno.Command(program!, {
        args,
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      killer.status.then((status) => {
        if (!status.success) killProcess(pid);
      }, () => killProcess(pid));
    } else {
      Deno.kill(plan.kind === "signal-group" ? -plan.pid : plan.pid, plan.signal);
    }
  } catch {
    // Already gone.
  }
}

function killProcess(pid: number): void {
  try {
    // TerminateProcess on Windows.
    Deno.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/**
 * Whether `ps -o stat=,lstart=` output (C locale, UTC) shows a live process started at `startedAt` (epoch ms, taken
 * just before it was spawned) rather than a later one given the same pid: lstart counts whole seconds, and a
 * spawn on a loaded machine may take a few of them.
 */
export function sameProcessStart(psLine: string, startedAt: number): boolean {
  const match = /^(\S+)\s+(.+)$/.exec(psLine.trim());
  if (!match || match[1]!.startsWith("Z")) return false;
  const started = Date.parse(`${match[2]} UTC`);
  // Two seconds of slack below: lstart drops the fraction, and ps derives it from the boot time, which the kernel
  // gives in whole seconds too, so it may read up to a second early on top of that.
  return started >= startedAt - 2000 && started <= startedAt + 10_000;
}

/**
 * Whether the process `pid` spawned at `startedAt` still runs (a zombie counts as gone). POSIX asks `ps` (Deno
 * lets only --allow-all read /proc); Windows asks tasklist, which gives no start time without PowerShell, so a
 * reused pid looks alive there. Spawns a process: not for hot paths.
 */
export function processRuns(pid: number, startedAt: number): boolean {
  const argv = isWindows(HOST_OS)
    ? ["tasklist", "/FI", `PID eq ${pid}`, "/FO", "CSV", "/NH"]
    : ["ps", "-o", "stat=", "-o", "lstart=", "-p", String(pid)];
  try {
    const { success, stdout } = new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      // The same text whatever the caller's locale and time zone.
      env: { LC_ALL: "C", TZ: "UTC" },
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    const line = new TextDecoder().decode(stdout).trim();
    if (!success || line === "") return false;
    // tasklist: "image","pid",...; ps: "S    Tue Dec  1 11:25:31 2026".
    return isWindows(HOST_OS)
      ? line.split(",")[1] === `"${pid}"`
      : sameProcessStart(line, startedAt);
  } catch {
    return false;
  }
}

/** The host's StatProbe for homeDir. */
export const statProbe: StatProbe = (path) => {
  try {
    const info = Deno.statSync(path);
    return info.isDirectory && (info.mode === null || (info.mode & 0o200) !== 0)
      ? "writable-dir"
      : "exists";
  } catch {
    return null;
  }
};

/**
 * The host's ExecutableProbe for lookPath. POSIX: the execute bits. Windows, where Deno reports every file as mode
 * 0o666: the name, as Windows starts a file only by its extension (`.exe`, `.cmd`, ... of PATHEXT).
 */
export const executableProbe: ExecutableProbe = (path) => {
  try {
    const info = Deno.statSync(path);
    if (!info.isFile) return "not-a-file";
    if (isWindows(HOST_OS)) {
      return hasExecutableExtension(path, HOST_OS, (name) => Deno.env.get(name))
        ? "executable"
        : "not-executable";
    }
    if (info.mode !== null && (info.mode & 0o111) === 0) return "not-executable";
    return "executable";
  } catch {
    return null;
  }
};

/** The home folder of this process, by client-go's rules. */
export function hostHomeDir(env: (name: string) => string | undefined): string | undefined {
  return homeDir(HOST_OS, env, statProbe);
}
