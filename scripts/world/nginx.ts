/**
 * What terminates mTLS in front of the test API server: nginx on a loopback port (verifying client certificates
 * against the world's CA and passing the verified subject on), or, where nginx is not installed, the demo's
 * `openssl s_server -WWW` stand-in.
 */
import type { Ca, IssuedCertificate } from "./ca.ts";
import { freePort, toolEnv, waitForPort, which } from "./process.ts";

export const NGINX_CANDIDATES = [
  "/usr/sbin/nginx",
  "/usr/local/sbin/nginx",
  "/usr/local/bin/nginx",
];

export function findNginx(): string | undefined {
  return NGINX_CANDIDATES.find((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  }) ?? which("nginx");
}

/** What the API server's mTLS front needs: its folder, the CA clients must chain to, and where to pass requests. */
export interface ApiProxyOptions {
  dir: string;
  ca: Ca;
  serverCert: IssuedCertificate;
  upstreamPort: number;
  /** keepalive_timeout 0: every request needs a fresh TLS handshake (and so a valid client certificate). */
  closeEachConnection?: boolean;
}

/** One nginx to run: the binary, the folder it keeps everything in, and its nginx.conf for a given port. */
export interface NginxRun {
  nginxPath: string;
  dir: string;
  /** The nginx.conf for `port`; asked again with another port when the first was taken meanwhile. */
  config(port: number): string;
}

export interface Nginx extends AsyncDisposable {
  port: number;
  url: string;
  errorLog(): Promise<string>;
}

/**
 * nginx.conf for a foreground, single-process nginx run as the current user, everything under `dir`, serving the
 * one `server` block given (the API server's front, the Vault and step-ca stand-ins' fronts).
 */
export function nginxConfigAround(dir: string, server: string): string {
  return `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 512; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${server.trimEnd().replace(/^(?=.)/gm, "  ")}
}
`;
}

/** nginx.conf for the API server's front: client certificates verified against the world's CA. */
export function nginxConfig(options: ApiProxyOptions, port: number): string {
  return nginxConfigAround(
    options.dir,
    `server {
  listen 127.0.0.1:${port} ssl;
  ssl_certificate ${options.serverCert.certPath};
  ssl_certificate_key ${options.serverCert.keyPath};
  ssl_client_certificate ${options.ca.certPath};
  ssl_verify_client on;
  ssl_verify_depth 2;
  ssl_session_tickets off;
  ssl_session_cache off;
  ${options.closeEachConnection ? "keepalive_timeout 0;" : ""}
  location / {
    proxy_pass http://127.0.0.1:${options.upstreamPort};
    proxy_buffering off;
    proxy_set_header Host $host;
    proxy_set_header X-Client-Verify $ssl_client_verify;
    proxy_set_header X-Client-Subject $ssl_client_s_dn;
    proxy_set_header X-Client-Serial $ssl_client_serial;
    proxy_set_header X-Client-Not-After $ssl_client_v_end;
  }
}`,
  );
}

/**
 * nginx.conf for a front that asks for a client certificate without requiring or verifying one
 * (`optional_no_ca`) and passes it on in X-Client-Certificate, for a stand-in that checks it itself: Vault's cert
 * login (against its roles' CAs) and step-ca's renew and rekey; Deno cannot ask for client certificates as a TLS
 * server. Serves `dir`/server.crt and server.key; `clientCa` names the CAs nginx tells clients it takes.
 */
export function certificatePassingConfig(
  dir: string,
  port: number,
  upstreamPort: number,
  clientCa?: string,
): string {
  return nginxConfigAround(
    dir,
    `server {
  listen 127.0.0.1:${port} ssl;
  ssl_certificate ${dir}/server.crt;
  ssl_certificate_key ${dir}/server.key;
  ${clientCa ? `ssl_client_certificate ${clientCa};` : ""}
  ssl_verify_client optional_no_ca;
  ssl_session_tickets off;
  ssl_session_cache off;
  location / {
    proxy_pass http://127.0.0.1:${upstreamPort};
    proxy_buffering off;
    proxy_set_header Host $host;
    proxy_set_header X-Client-Certificate $ssl_client_escaped_cert;
  }
}`,
  );
}

/**
 * Starts nginx in the foreground on a free loopback port with `run.config(port)`; dispose stops it. A port taken
 * between choosing it and nginx binding it ("address in use") is tried again on another, up to three times.
 */
export async function startNginx(run: NginxRun): Promise<Nginx> {
  await Deno.mkdir(run.dir, { recursive: true });
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = freePort();
    const config = `${run.dir}/nginx.conf`;
    await Deno.writeTextFile(config, run.config(port));
    const child = new Deno.Command(run.nginxPath, {
      args: ["-p", `${run.dir}/`, "-c", config, "-e", `${run.dir}/error.log`],
      env: toolEnv(),
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const stop = async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
      await child.status;
      return await stderr;
    };
    try {
      await waitForPort(port, child.status);
    } catch (error) {
      const text = await stop();
      lastError = new Error(`nginx did not start: ${text.trim()}`, { cause: error });
      if (/in use/i.test(text)) continue;
      throw lastError;
    }
    return {
      port,
      url: `https://127.0.0.1:${port}`,
      errorLog: () => Deno.readTextFile(`${run.dir}/error.log`).catch(() => ""),
      async [Symbol.asyncDispose]() {
        await stop();
      },
    };
  }
  throw lastError;
}

export interface OpensslWwwOptions {
  dir: string;
  ca: Ca;
  serverCert: IssuedCertificate;
  /** Files to serve, by path without the leading slash (e.g. "version"). */
  files: Record<string, string>;
}

/**
 * The fallback mTLS endpoint that needs no install: `openssl s_server -Verify 1 -verify_return_error -WWW` demands
 * a client certificate from the CA (expired or foreign ones fail the handshake) and serves files from `dir/www`,
 * so a `version` file answers `kubectl get --raw /version`. One connection at a time: enough for the demo.
 */
export async function startOpensslWww(options: OpensslWwwOptions): Promise<Nginx> {
  const www = `${options.dir}/www`;
  await Deno.mkdir(www, { recursive: true });
  for (const [name, text] of Object.entries(options.files)) {
    await Deno.writeTextFile(`${www}/${name}`, text);
  }
  const port = freePort();
  const child = new Deno.Command("openssl", {
    args: [
      "s_server",
      "-quiet",
      "-accept",
      `127.0.0.1:${port}`,
      "-cert",
      options.serverCert.certPath,
      "-key",
      options.serverCert.keyPath,
      "-CAfile",
      options.ca.certPath,
      "-Verify",
      "1",
      "-verify_return_error",
      "-WWW",
    ],
    cwd: www,
    env: toolEnv(),
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already exited */ }
    await child.status;
  };
  try {
    await waitForPort(port, child.status);
  } catch (error) {
    await stop();
    throw new Error("openssl s_server did not start", { cause: error });
  }
  return {
    port,
    url: `https://127.0.0.1:${port}`,
    errorLog: () => Promise.resolve(""),
    [Symbol.asyncDispose]: stop,
  };
}
