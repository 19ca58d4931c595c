/** Shared test helpers: temp folders, test certificates made with openssl, and running the broker as kubectl does. */
import { fileURLToPath } from "node:url";
import type { Io } from "../lib/shared/io.ts";
import {
  executableProbe,
  HOST_OS,
  hostHomeDir,
  isWindows,
  joinPath,
  resolvePath,
} from "../lib/shared/platform.ts";
import { installCompletion, installPlugin } from "../scripts/install.ts";
import { PLUGIN_EXECUTABLE } from "../scripts/permissions.ts";
import { networkEnv } from "./e2e/network_env.ts";

/** The project folder, with a trailing separator. */
export const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** A fresh temp folder, removed when disposed: `await using tmp = await tempDir()`. */
export async function tempDir(prefix = "ccb-test-"): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

/** Runs a command and returns its exit code and output (it does not throw on a non-zero exit). */
export async function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; stdin?: string; inheritEnv?: boolean } =
    {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    // By default `env` is the whole environment, as kubectl would give it (plus the proxy and CA variables, so
    // a tool that fetches works behind a TLS-intercepting proxy); inheritEnv adds to this process's.
    env: options.env === undefined || options.inheritEnv
      ? options.env
      : { ...networkEnv(), ...options.env },
    clearEnv: options.env !== undefined && !options.inheritEnv,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** Runs openssl, failing the test with its stderr when it fails. */
export async function openssl(args: string[], cwd: string): Promise<void> {
  const result = await run("openssl", args, { cwd });
  if (result.code !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr}`);
}

export type KeyType = "rsa" | "ec" | "ed25519";

/** Generates a private key file (PKCS#8) of the given type. */
export async function generateKey(dir: string, name: string, type: KeyType): Promise<string> {
  const args = type === "rsa"
    ? ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
    : type === "ec"
    ? ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    : ["genpkey", "-algorithm", "ED25519"];
  await openssl([...args, "-out", name], dir);
  await Deno.chmod(`${dir}/${name}`, 0o600);
  return `${dir}/${name}`;
}

/** A throwaway CA in `dir`: ca.key and ca.crt. */
export async function makeCa(dir: string, name = "ca"): Promise<{ cert: string; key: string }> {
  await generateKey(dir, `${name}.key`, "ec");
  await openssl([
    "req",
    "-x509",
    "-new",
    "-key",
    `${name}.key`,
    "-out",
    `${name}.crt`,
    "-days",
    "2",
    "-subj",
    `/CN=test ${name}`,
  ], dir);
  return { cert: `${dir}/${name}.crt`, key: `${dir}/${name}.key` };
}

/** Formats a Date as openssl's -not_before/-not_after (YYYYMMDDHHMMSSZ). */
export function opensslTime(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, "").replace(/\.\d{3}Z$/, "Z");
}

const CA_CONFIG = `[ca]
default_ca = ca_default
[ca_default]
database = index.txt
serial = serial
new_certs_dir = .
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[policy_any]
commonName = supplied
organizationName = optional
`;

/**
 * Issues a client certificate for `keyPath` from the CA, valid from `notBefore` to `notAfter` (which may be in
 * the past, for expired certificates). Uses `openssl ca`, since openssl 3.0's x509 cannot set exact dates.
 */
export async function issueCert(options: {
  dir: string;
  ca: { cert: string; key: string };
  keyPath: string;
  out: string;
  subject?: string;
  notBefore?: Date;
  notAfter: Date;
}): Promise<string> {
  const work = await Deno.makeTempDir({ dir: options.dir, prefix: ".ca-" });
  try {
    await Deno.writeTextFile(`${work}/ca.cnf`, CA_CONFIG);
    await Deno.writeTextFile(`${work}/index.txt`, "");
    await Deno.writeTextFile(
      `${work}/serial`,
      `${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}\n`,
    );
    await openssl([
      "req",
      "-new",
      "-key",
      options.keyPath,
      "-out",
      "req.csr",
      "-subj",
      options.subject ?? "/CN=alice/O=dev",
    ], work);
    const out = resolvePath(options.out, options.dir, HOST_OS);
    await openssl([
      "ca",
      "-batch",
      "-notext",
      "-config",
      "ca.cnf",
      "-cert",
      options.ca.cert,
      "-keyfile",
      options.ca.key,
      "-in",
      "req.csr",
      "-out",
      "issued.crt",
      "-startdate",
      opensslTime(options.notBefore ?? new Date(Date.now() - 3600_000)),
      "-enddate",
      opensslTime(options.notAfter),
    ], work);
    await Deno.rename(`${work}/issued.crt`, out);
    return out;
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/**
 * The usual test credentials in `dir`: a CA, client.key (`type`, EC by default), client.crt for it valid until
 * `notAfter` (two hours from now by default), and, unless `token` is null, a private token file holding `token`.
 */
export async function clientCredentials(
  dir: string,
  options: { type?: KeyType; notAfter?: Date; token?: string | null } = {},
): Promise<{ ca: { cert: string; key: string }; key: string; cert: string; token: string }> {
  const ca = await makeCa(dir);
  const key = await generateKey(dir, "client.key", options.type ?? "ec");
  const cert = await issueCert({
    dir,
    ca,
    keyPath: key,
    out: "client.crt",
    notAfter: options.notAfter ?? new Date(Date.now() + 2 * 3600_000),
  });
  const token = `${dir}/token`;
  if (options.token !== null) {
    await Deno.writeTextFile(token, options.token ?? "s.test-token\n", { mode: 0o600 });
  }
  return { ca, key, cert, token };
}

/**
 * Names an executable the tests run as the broker instead of installing it from source: a compiled binary
 * (`deno task build`) or an installed shim, so that the plugin, `kubeconfig set`, `doctor` and end-to-end tests
 * check what users run. A relative path is taken from the test runner's folder.
 */
export const BROKER_BIN_VARIABLE = "KUBECTL_CREDENTIALS_BROKER_BIN";

/** The executable KUBECTL_CREDENTIALS_BROKER_BIN names, or undefined when it is unset or empty. */
export function brokerBin(): string | undefined {
  const value = Deno.env.get(BROKER_BIN_VARIABLE);
  if (!value) return undefined;
  const path = resolvePath(value, Deno.cwd(), HOST_OS);
  if (executableProbe(path) !== "executable") {
    throw new Error(`${BROKER_BIN_VARIABLE} ${path} is not an executable file`);
  }
  return path;
}

let installed: Promise<string> | undefined;

/**
 * The broker the tests run, installed once per test process (as `deno task install` does) unless
 * KUBECTL_CREDENTIALS_BROKER_BIN names one; returns its path.
 */
export function installedBroker(): Promise<string> {
  installed ??= (async () => {
    const given = brokerBin();
    if (given) return given;
    const root = await Deno.makeTempDir({ prefix: "ccb-install-" });
    // Removed at exit; test files share one install.
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

/**
 * Puts the broker under `root`/bin as kubectl looks it up (`kubectl-credentials_broker`, and the completion
 * executable beside it) and returns its path: `deno task install` with that root, or, when
 * KUBECTL_CREDENTIALS_BROKER_BIN is set, a link to (on Windows a copy of) that executable.
 */
export async function installBroker(root: string): Promise<string> {
  const given = brokerBin();
  if (!given) return await installPlugin(root);
  const bin = joinPath(root, "bin", HOST_OS);
  await Deno.mkdir(bin, { recursive: true });
  if (isWindows(HOST_OS)) {
    const exe = joinPath(bin, `${PLUGIN_EXECUTABLE}.exe`, HOST_OS);
    await Deno.copyFile(given, exe);
    return exe;
  }
  const shim = joinPath(bin, PLUGIN_EXECUTABLE, HOST_OS);
  await Deno.symlink(given, shim);
  await installCompletion(shim);
  return shim;
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

/** Runs the installed broker the way kubectl does: argv from exec.args, env with KUBERNETES_EXEC_INFO, no stdin. */
export async function runBroker(
  args: string[],
  options: { home: string; cwd?: string; execInfo?: string | null; env?: Record<string, string> },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const info = options.execInfo === undefined
    ? JSON.stringify({
      kind: "ExecCredential",
      apiVersion: "client.authentication.k8s.io/v1",
      spec: { interactive: false },
    })
    : options.execInfo;
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

/** An Io for in-process tests: captures stdout and stderr, answers readLine from `input`, reads `env` only. */
export function fakeIo(options: {
  env?: Record<string, string>;
  cwd?: string;
  /** Lines the user types; readLine returns null after the last (end of input). */
  input?: string[];
  terminal?: boolean;
  color?: boolean;
  now?: Date;
} = {}): Io & { out: string; err: string; prompts: number } {
  const input = [...(options.input ?? [])];
  const io = {
    out: "",
    err: "",
    prompts: 0,
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
  };
  return io;
}

/** Deno's cache of this process, for child processes whose HOME is a temp folder (so npm packages are found). */
export const DENO_DIR = Deno.env.get("DENO_DIR") ??
  joinPath(
    Deno.env.get("XDG_CACHE_HOME") ??
      joinPath(hostHomeDir((name) => Deno.env.get(name)) ?? ".", ".cache", HOST_OS),
    "deno",
    HOST_OS,
  );

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
  return await run(Deno.execPath(), [
    "run",
    "-A",
    "--quiet",
    "--config",
    `${ROOT}deno.json`,
    `${ROOT}main.ts`,
    ...args,
  ], { cwd: options.cwd, env, stdin: options.stdin });
}
