/**
 * Running tools for tests, the demo and the benchmarks: one process runner (clean environment, captured output,
 * optional timeout), background processes whose output is collected, loopback ports, and a PATH lookup by the
 * platform module's rule.
 */
import { executableProbe, HOST_OS, lookPath } from "../../lib/shared/platform.ts";
import { networkEnv } from "./network_env.ts";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time of the process, milliseconds. */
  ms: number;
}

export interface RunOptions {
  /**
   * The environment of the process, plus this process's proxy and CA variables (network_env.ts): nothing else is
   * inherited. Unset: the whole environment of this process.
   */
  env?: Record<string, string>;
  /** With `env`: add it to this process's environment instead of replacing it. */
  inheritEnv?: boolean;
  cwd?: string;
  stdin?: string;
  /** Kill the process (SIGKILL) after this long; the result then has code 137 and says so on stderr. */
  timeoutMs?: number;
}

/** Runs a command to completion, capturing its output (it does not throw on a non-zero exit). */
export async function run(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const started = performance.now();
  const replaceEnv = options.env !== undefined && !options.inheritEnv;
  const child = new Deno.Command(command, {
    args: [...args],
    env: replaceEnv ? { ...networkEnv(), ...options.env } : options.env,
    clearEnv: replaceEnv,
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin)).catch(() => {});
    await writer.close().catch(() => {});
  }
  let timedOut = false;
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, options.timeoutMs);
  try {
    const output = await child.output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr) +
        (timedOut ? `\n[killed after ${options.timeoutMs} ms]\n` : ""),
      ms: performance.now() - started,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a tool that must succeed, throwing with its stderr otherwise. */
export async function runChecked(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} failed with exit code ${result.code}:\n${result.stderr}`,
    );
  }
  return result;
}

/**
 * The minimal environment for tools run on the world's behalf (openssl, nginx, deno install), plus the proxy and CA
 * variables of this process: a machine behind a TLS-intercepting proxy needs them to fetch.
 */
export function toolEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
    LANG: "C",
    ...networkEnv(),
    ...extra,
  };
}

/** Looks a program up on a PATH-style list (lib/shared/platform.ts's rule), returning its path or undefined. */
export function which(name: string, path = Deno.env.get("PATH") ?? ""): string | undefined {
  const found = lookPath(
    name,
    "/",
    HOST_OS,
    (n) => n === "PATH" ? path : Deno.env.get(n),
    executableProbe,
  );
  return found.problem ? undefined : found.resolved;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A loopback port that was free a moment ago (bound to port 0, then released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Waits until `port` accepts a connection; fails early when `exited` settles first. */
export async function waitForPort(
  port: number,
  exited: Promise<unknown>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  exited.then(() => (gone = true), () => (gone = true));
  while (Date.now() < deadline && !gone) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await delay(20);
    }
  }
  throw new Error(
    gone ? "the process exited before listening" : `port ${port} not open after ${timeoutMs} ms`,
  );
}

/** A background process whose output is collected; dispose stops it (SIGTERM, then SIGKILL after 3 s). */
export interface Background extends AsyncDisposable {
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout match of `pattern`, or rejects when the process exits or time runs out. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  status: Promise<Deno.CommandStatus>;
}

/** Starts `command` with exactly `options.env`, collecting its output until it is disposed. */
export function startBackground(
  command: string,
  args: readonly string[],
  options: { env: Record<string, string>; cwd?: string },
): Background {
  const child = new Deno.Command(command, {
    args: [...args],
    env: options.env,
    clearEnv: true,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  const listeners = new Set<() => void>();
  const collect = async (stream: ReadableStream<Uint8Array>, add: (text: string) => void) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      add(text);
      for (const listener of listeners) listener();
    }
  };
  const collected = Promise.all([
    collect(child.stdout, (text) => (out += text)),
    collect(child.stderr, (text) => (err += text)),
  ]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    for (const listener of listeners) listener();
    return s;
  });
  return {
    pid: child.pid,
    stdout: () => out,
    stderr: () => err,
    status,
    waitFor(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(out);
          if (match) done(() => resolve(match));
          else if (exited) done(() => reject(new Error(`${command} exited: ${err}`)));
        };
        const timer = setTimeout(
          () =>
            done(() =>
              reject(new Error(`${command}: no ${pattern} within ${timeoutMs} ms: ${err}`))
            ),
          timeoutMs,
        );
        const done = (settle: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        };
        listeners.add(check);
        check();
      });
    },
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* exited meanwhile */ }
      }, 3000);
      await status;
      clearTimeout(timer);
      await collected;
    },
  };
}

/**
 * Where Deno keeps its caches (DENO_DIR, else what `deno info` says: the OS's cache folder differs by OS), for
 * children whose HOME is a temp folder, so that they find the npm packages and compiled modules already there.
 * Asked once per process, and scripts/test.ts sets DENO_DIR for the test files, so they need not ask at all.
 */
let denoDirCache: string | undefined;
export function denoDir(): string {
  if (denoDirCache) return denoDirCache;
  const fromEnv = Deno.env.get("DENO_DIR");
  if (fromEnv) return (denoDirCache = fromEnv);
  // This process's environment, whole: the answer is the cache this process uses (LOCALAPPDATA on Windows).
  const result = new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdin: "null",
    stderr: "inherit",
  }).outputSync();
  if (!result.success) {
    throw new Error("deno info --json failed: cannot tell where Deno's cache is");
  }
  denoDirCache = JSON.parse(new TextDecoder().decode(result.stdout)).denoDir as string;
  return denoDirCache;
}

/**
 * Whether this Windows is Wine (its system32 holds winecfg.exe; `deno task test:windows` runs the suite there): a
 * few Windows details differ under Wine, and the tests that meet them say so in an `ignore:`.
 */
export function underWine(): boolean {
  if (HOST_OS !== "windows") return false;
  const root = Deno.env.get("SystemRoot") ?? Deno.env.get("windir") ?? "C:\\windows";
  return executableProbe(`${root}\\system32\\winecfg.exe`) === "executable";
}
