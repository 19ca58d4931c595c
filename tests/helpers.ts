/**
 * Shared test helpers: temp folders, test certificates made in TypeScript, commands as Deno scripts, and running the
 * broker as kubectl does.
 */
import { fileURLToPath } from "node:url";
import type { Io } from "../lib/shared/io.ts";
import type { PermissionUse } from "../lib/shared/permissions.ts";
import { installPlugin } from "../scripts/install.ts";
import { brokerBin, preparedBroker, sourceBrokerCommand } from "../scripts/world/broker.ts";
import { denoDir, run } from "../scripts/world/process.ts";

// The generic pieces live with the e2e world in scripts/world/, so that tests and scripts share one copy of each.
export { tempDir } from "../scripts/world/temp_dir.ts";
export { run } from "../scripts/world/process.ts";
export {
  clientCredentials,
  type Curve,
  ecParameters,
  generateKey,
  issueCert,
  keyDer,
  type KeyForm,
  type KeyType,
  makeCa,
  openssl,
  opensslTime,
  pem,
  writeKeyForm,
} from "../scripts/world/ca.ts";
export {
  type Command,
  type Step,
  writeCommand,
  writeCommandSync,
  writeExecutable,
} from "../scripts/world/renewal_script.ts";
export { BROKER_BIN_VARIABLE, brokerBin, installBroker } from "../scripts/world/broker.ts";

/** Whether openssl is on PATH (tests that check our output against openssl itself need it: not on Windows). */
export const HAS_OPENSSL = (() => {
  try {
    return new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

/** PATH with `dirs` in front, joined by this OS's list separator. */
export function pathWith(...dirs: string[]): string {
  const separator = Deno.build.os === "windows" ? ";" : ":";
  return [...dirs, Deno.env.get("PATH") ?? ""].join(separator);
}

/** A RegExp source matching `text` literally (a path in an error message, say). */
export const literal = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** The project folder, with a trailing separator. */
export const ROOT = fileURLToPath(new URL("../", import.meta.url));

let installed: Promise<string> | undefined;

/**
 * The broker the tests run: the executable KUBECTL_CREDENTIALS_BROKER_BIN names, else the install scripts/test.ts
 * shares (`deno task test`), else one installed for this test file (as `deno task install` does); returns its path.
 */
export function installedBroker(): Promise<string> {
  installed ??= (async () => {
    const given = preparedBroker();
    if (given) return given;
    const root = await Deno.makeTempDir({ prefix: "ccb-install-" });
    // Removed when this test file's isolate ends.
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(root, { recursive: true });
      } catch {
        // best effort
      }
    });
    return await installPlugin(root);
  })();
  return installed;
}

/** The environment kubectl gives the plugin, without the test runner's own variables leaking in. */
export function pluginEnv(
  home: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: home,
    // Deno keeps its caches under HOME; share the test runner's so a temp HOME starts warm.
    DENO_DIR,
    ...extra,
  };
}

/** What kubectl 1.22+ sets KUBERNETES_EXEC_INFO to for a v1 exec block, without a terminal. */
export const V1_EXEC_INFO = JSON.stringify({
  kind: "ExecCredential",
  apiVersion: "client.authentication.k8s.io/v1",
  spec: { interactive: false },
});

/** Runs the installed broker the way kubectl does: argv from exec.args, env with KUBERNETES_EXEC_INFO, no stdin. */
export async function runBroker(
  args: string[],
  options: { home: string; cwd?: string; execInfo?: string | null; env?: Record<string, string> },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const info = options.execInfo === undefined ? V1_EXEC_INFO : options.execInfo;
  const env = pluginEnv(options.home, options.env);
  if (info !== null) env.KUBERNETES_EXEC_INFO = info;
  return run(await installedBroker(), args, { cwd: options.cwd ?? options.home, env });
}

/** base64url of a JSON value, as in a JWT. */
export const jwtSegment = (value: unknown): string =>
  new TextEncoder().encode(JSON.stringify(value)).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });

/** A test JWT: header and claims are real base64url JSON; the signature is random bytes, never verified. */
export function makeJwt(claims: Record<string, unknown>): string {
  const signature = crypto.getRandomValues(new Uint8Array(32)).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
  return `${jwtSegment({ alg: "RS256", typ: "JWT" })}.${jwtSegment(claims)}.${signature}`;
}

/**
 * An Io for in-process tests: captures stdout and stderr, answers readLine from `input`, reads `env` only, and
 * records what narrow() is asked for.
 */
export function fakeIo(options: {
  env?: Record<string, string>;
  cwd?: string;
  /** Lines the user types; readLine returns null after the last (end of input). */
  input?: string[];
  terminal?: boolean;
  color?: boolean;
  now?: Date;
} = {}): Io & { out: string; err: string; prompts: number; narrowed: PermissionUse[] } {
  const input = [...(options.input ?? [])];
  const io = {
    out: "",
    err: "",
    prompts: 0,
    /** What the code asked Io.narrow for, in order; the test process keeps its own permissions. */
    narrowed: [] as PermissionUse[],
    stdout: (text: string) => {
      io.out += text;
      return Promise.resolve();
    },
    stderr: (text: string) => {
      io.err += text;
      return Promise.resolve();
    },
    readLine: () => {
      io.prompts++;
      return Promise.resolve(input.length > 0 ? input.shift()! : null);
    },
    stdinIsTerminal: options.terminal ?? false,
    color: options.color ?? false,
    stdoutColor: options.color ?? false,
    env: (name: string) => options.env?.[name],
    cwd: () => options.cwd ?? "/",
    now: () => options.now ?? new Date(),
    narrow: (use: PermissionUse) => {
      io.narrowed.push(use);
    },
  };
  return io;
}

/** Deno's cache of this process, for child processes whose HOME is a temp folder (so npm packages are found). */
export const DENO_DIR = denoDir();

/**
 * Runs the broker's main.ts from source (`deno run -A`), or the executable KUBECTL_CREDENTIALS_BROKER_BIN names,
 * with exactly `env` (plus PATH and DENO_DIR of this process).
 */
export async function runMain(
  args: string[],
  options: { env: Record<string, string>; cwd?: string; stdin?: string },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", DENO_DIR, ...options.env };
  const given = brokerBin();
  if (given) return await run(given, args, { cwd: options.cwd, env, stdin: options.stdin });
  const [deno, ...source] = sourceBrokerCommand();
  return await run(deno!, [...source, ...args], { cwd: options.cwd, env, stdin: options.stdin });
}

/** Waits (bounded) until no background renewal claims the credentials: its claim file is gone. */
export async function backgroundSettled(cacheDir: string, limitMs = 30_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    const claims = [...Deno.readDirSync(cacheDir)].filter((entry) => entry.name.endsWith(".claim"));
    if (claims.length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("a background renewal still holds its claim");
}

/** Processes whose command line mentions `marker` (the broker's children carry the test folder in argv). */
export function processesMentioning(marker: string): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).replaceAll("\0", " ");
      if (cmdline.includes(marker)) found.push(`${entry.name}: ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/**
 * The processes still mentioning `marker` once those that are ending have had `limitMs` to go: a detached broker
 * gives its claim back a moment before its process ends.
 */
export async function lingeringProcesses(marker: string, limitMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + limitMs;
  let found = processesMentioning(marker);
  while (found.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    found = processesMentioning(marker);
  }
  return found;
}

/**
 * fast-check settings for a property test: `runs` rounds scaled by FUZZ_RUNS (`deno task fuzz` raises it), and
 * the seed FUZZ_SEED names, to replay a failure (fast-check prints its seed); a fresh seed on every run otherwise.
 */
export function fuzzParams(runs: number): { numRuns: number; seed?: number } {
  const scale = Number(Deno.env.get("FUZZ_RUNS") ?? 200) / 200;
  const seed = Deno.env.get("FUZZ_SEED");
  return {
    numRuns: Math.max(1, Math.round(runs * scale)),
    ...(seed === undefined ? {} : { seed: Number(seed) }),
  };
}
