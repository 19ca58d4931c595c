/**
 * The end-to-end world: a throwaway CA, an nginx that terminates mTLS on a loopback port, a small test API server
 * behind it, renewal scripts that issue short-lived client certificates with openssl, and clients that run a real
 * kubectl against all of it with a clean environment. Used by tests/e2e/*_test.ts, scripts/demo.ts and
 * scripts/bench_e2e.ts; its parts live beside it (ca.ts, nginx.ts, api_server.ts, kubectl.ts, kubeconfig.ts,
 * renewal_script.ts, clients.ts). Everything it starts is stopped by `[Symbol.asyncDispose]`, and everything it
 * writes lives in one temp dir.
 */
import { dirname, HOST_OS } from "../../lib/shared/platform.ts";
import { quoteWord } from "../../lib/shared/command_line.ts";
import { networkEnv } from "./network_env.ts";
import { installBroker } from "./broker.ts";
import { type Ca, createCa, issueCertificate, issueExpiredCertificate } from "./ca.ts";
import { type ApiServer, STAND_IN_GIT_VERSION, startApiServer, versionInfo } from "./api_server.ts";
import { findNginx, type Nginx, nginxConfig, startNginx, startOpensslWww } from "./nginx.ts";
import type { Kubectl } from "./kubectl.ts";
import { type KubeconfigOptions, type KubeconfigUser, writeKubeconfig } from "./kubeconfig.ts";
import {
  type RenewalScript,
  type RenewalScriptOptions,
  writeRenewalScript,
} from "./renewal_script.ts";
import { denoDir, run, type RunOptions, type RunResult } from "./process.ts";
import { type TempDir, tempDir } from "./temp_dir.ts";

export interface WorldOptions {
  nginxPath?: string;
  /**
   * Where nginx is missing, serve through `openssl s_server -WWW` instead (the demo's no-install path): it
   * verifies client certificates the same way but only serves /version, without the API server behind it.
   */
  fallbackToOpenssl?: boolean;
  /** Bearer token the API server demands (scenario 2). */
  token?: string;
  closeEachConnection?: boolean;
  /** Install the broker from source under the world's temp dir (`deno task install` with a temp root). */
  installBroker?: boolean;
}

/** A user of the world: own HOME, kubeconfig, and a bin dir holding the chosen kubectl as `kubectl`. */
export interface Client {
  name: string;
  dir: string;
  home: string;
  kubeconfig: string;
  bin: string;
  kubectl: Kubectl;
  env: Record<string, string>;
  /** Runs this client's kubectl with `args` and the client's clean environment. */
  run(args: readonly string[], options?: Partial<RunOptions>): Promise<RunResult>;
  /** Runs an arbitrary command with the client's environment. */
  exec(command: string, args: readonly string[], options?: Partial<RunOptions>): Promise<RunResult>;
  /** Runs this client's kubectl with a terminal as stdin/stdout (util-linux `script`), as a user at a shell. */
  runInTerminal(args: readonly string[]): Promise<RunResult>;
}

/**
 * The running world: CA, API server, nginx, optionally the installed broker. `await using world = await
 * World.start()` stops everything and removes the temp dir, on success and on failure.
 */
export class World implements AsyncDisposable {
  #stack: AsyncDisposableStack;
  readonly tmp: TempDir;
  readonly ca: Ca;
  readonly api: ApiServer;
  /** nginx, or the openssl s_server fallback (same interface). */
  readonly nginx: Nginx;
  /** Directory holding the installed `kubectl-credentials_broker` shim, when installed. */
  readonly pluginBin?: string;
  readonly denoDir: string;
  #clients = 0;

  /** What terminates mTLS in front of the server. */
  readonly proxy: "nginx" | "openssl s_server";

  private constructor(parts: {
    proxy: "nginx" | "openssl s_server";
    stack: AsyncDisposableStack;
    tmp: TempDir;
    ca: Ca;
    api: ApiServer;
    nginx: Nginx;
    pluginBin?: string;
    denoDir: string;
  }) {
    this.proxy = parts.proxy;
    this.#stack = parts.stack;
    this.tmp = parts.tmp;
    this.ca = parts.ca;
    this.api = parts.api;
    this.nginx = parts.nginx;
    this.pluginBin = parts.pluginBin;
    this.denoDir = parts.denoDir;
  }

  get server(): string {
    return this.nginx.url;
  }

  static async start(options: WorldOptions = {}): Promise<World> {
    const nginxPath = options.nginxPath ?? findNginx();
    if (!nginxPath && !options.fallbackToOpenssl) {
      throw new Error("nginx not found (Debian: apt-get install nginx-light)");
    }
    await using stack = new AsyncDisposableStack();
    const tmp = stack.use(await tempDir("credentials-broker-e2e-"));
    const ca = await createCa(tmp.join("ca"));
    const now = Date.now();
    const serverCert = await issueCertificate(ca, tmp.join("ca", "server"), {
      commonName: "127.0.0.1",
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 86_400_000),
      server: true,
    });
    const api = stack.use(startApiServer({ token: options.token }));
    const nginx = stack.use(
      nginxPath
        ? await startNginx({
          nginxPath,
          dir: tmp.join("nginx"),
          config: (port) =>
            nginxConfig({
              dir: tmp.join("nginx"),
              ca,
              serverCert,
              upstreamPort: api.port,
              closeEachConnection: options.closeEachConnection,
            }, port),
        })
        : await startOpensslWww({
          dir: tmp.join("openssl"),
          ca,
          serverCert,
          files: { version: JSON.stringify(versionInfo(STAND_IN_GIT_VERSION)) },
        }),
    );
    let pluginBin: string | undefined;
    if (options.installBroker) {
      const shim = await installBroker(tmp.join("broker"));
      pluginBin = dirname(shim, HOST_OS);
    }
    const world = new World({
      proxy: nginxPath ? "nginx" : "openssl s_server",
      stack: stack.move(),
      tmp,
      ca,
      api,
      nginx,
      pluginBin,
      denoDir: denoDir(),
    });
    return world;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#stack.disposeAsync();
  }

  /** A fresh client dir (HOME, kubeconfig path, bin with `kubectl`) for one kubectl binary. */
  async client(kubectl: Kubectl, name = `client-${++this.#clients}`): Promise<Client> {
    const dir = this.tmp.join("clients", name);
    const home = `${dir}/home`;
    const bin = `${dir}/bin`;
    await Deno.mkdir(home, { recursive: true });
    await Deno.mkdir(bin, { recursive: true });
    // `kubectl` on PATH is the binary under test, so an exec block with `command: kubectl` runs that one.
    await Deno.symlink(kubectl.path, `${bin}/kubectl`);
    const kubeconfig = `${dir}/kubeconfig`;
    const env: Record<string, string> = {
      PATH: [bin, ...(this.pluginBin ? [this.pluginBin] : []), "/usr/local/bin", "/usr/bin", "/bin"]
        .join(":"),
      HOME: home,
      KUBECONFIG: kubeconfig,
      DENO_DIR: this.denoDir,
      LANG: "C",
      ...networkEnv(),
    };
    const execWith = (
      command: string,
      args: readonly string[],
      options: Partial<RunOptions> = {},
    ) =>
      run(command, args, { ...options, env: { ...env, ...options.env }, cwd: options.cwd ?? dir });
    return {
      name,
      dir,
      home,
      kubeconfig,
      bin,
      kubectl,
      env,
      run: (args, options) => execWith(kubectl.path, args, { timeoutMs: 60_000, ...options }),
      exec: execWith,
      runInTerminal: (args) =>
        execWith(
          "script",
          [
            "-qec",
            [kubectl.path, ...args].map((word) => quoteWord(word, "linux")).join(" "),
            "/dev/null",
          ],
          {
            timeoutMs: 60_000,
          },
        ),
    };
  }

  /** Writes the client's kubeconfig pointing at this world's nginx. */
  writeKubeconfig(client: Client, user?: KubeconfigUser, extra: Partial<KubeconfigOptions> = {}) {
    return writeKubeconfig(client.kubeconfig, {
      server: this.server,
      caPath: this.ca.certPath,
      user,
      ...extra,
    });
  }

  /** A renewal script with its own dir, starting from an expired certificate at its cert/key paths. */
  async renewalScript(name: string, options: RenewalScriptOptions = {}): Promise<RenewalScript> {
    const script = await writeRenewalScript(this.ca, this.tmp.join("renewal", name), options);
    await issueExpiredCertificate(this.ca, `${script.dir}/client`, options.commonName ?? "alice");
    return script;
  }
}
