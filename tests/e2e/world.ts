/**
 * The end-to-end test world: a throwaway CA, an nginx that terminates mTLS on a loopback port, a small test API
 * server behind it, a renewal script that issues short-lived client certificates with openssl, and the helpers to
 * run a real kubectl against all of it with a clean environment. Used by tests/e2e/*_test.ts, scripts/demo.ts and
 * scripts/bench_e2e.ts. Everything it starts is stopped by `[Symbol.asyncDispose]`, and everything it writes lives
 * in one temp dir.
 */
import { stringify as toYaml } from "yaml";
import { installBroker } from "../helpers.ts";
import {
  dirname,
  executableProbe,
  HOST_OS,
  joinPath,
  lookPath,
} from "../../lib/shared/platform.ts";
import { networkEnv } from "./network_env.ts";

/** Under CI a missing tool is a failure; elsewhere the e2e tests skip and say what is missing. */
export const CI = Deno.env.get("CI") === "true";

export const NGINX_CANDIDATES = [
  "/usr/sbin/nginx",
  "/usr/local/sbin/nginx",
  "/usr/local/bin/nginx",
];
export const VERSIONED_KUBECTL_DIR = "/usr/lib/google-cloud-sdk/bin";

/** The apiVersions of client.authentication.k8s.io that kubectl 1.24+ accepts. */
export const EXEC_API_VERSIONS = [
  "client.authentication.k8s.io/v1",
  "client.authentication.k8s.io/v1beta1",
] as const;
export type ExecApiVersion = (typeof EXEC_API_VERSIONS)[number];
export type InteractiveMode = "Never" | "IfAvailable" | "Always";

// ---------------------------------------------------------------------------------------------------------------
// Processes and files

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time of the process, milliseconds. */
  ms: number;
}

export interface RunOptions {
  /** The whole environment of the process: nothing is inherited. */
  env: Record<string, string>;
  cwd?: string;
  stdin?: string;
  /** Kill the process (SIGKILL) after this long; the result then has code 137 and says so on stderr. */
  timeoutMs?: number;
}

/** Runs a command to completion with exactly `options.env`, capturing its output. */
export async function run(
  command: string,
  args: readonly string[],
  options: RunOptions,
): Promise<RunResult> {
  const started = performance.now();
  const child = new Deno.Command(command, {
    args: [...args],
    env: options.env,
    clearEnv: true,
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
async function runChecked(command: string, args: readonly string[], env: Record<string, string>) {
  const result = await run(command, args, { env });
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} failed with exit code ${result.code}:\n${result.stderr}`,
    );
  }
  return result;
}

/** A fresh temp dir, removed with everything in it on dispose. */
export interface TempDir extends AsyncDisposable {
  path: string;
  join(...parts: string[]): string;
}

export async function makeTempDir(prefix = "credentials-broker-e2e-"): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    join: (...parts) => parts.reduce((dir, part) => joinPath(dir, part, HOST_OS), path),
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** A loopback port that was free a moment ago (bound to port 0, then released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * The minimal environment for tools the world runs itself (openssl, nginx, deno install), plus the proxy and CA
 * variables of this process (network_env.ts): a machine behind a TLS-intercepting proxy needs them to fetch.
 */
export function toolEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
    LANG: "C",
    ...networkEnv(),
    ...extra,
  };
}

async function waitForPort(
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

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Looks a program up on a PATH-style list, returning its path or undefined. */
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

// ---------------------------------------------------------------------------------------------------------------
// Certificates

/** A throwaway certificate authority made with openssl for one test run. */
export interface Ca {
  dir: string;
  certPath: string;
  keyPath: string;
}

export interface IssuedCertificate {
  certPath: string;
  keyPath: string;
}

/** Formats a date the way `openssl ca -startdate/-enddate` takes it (GeneralizedTime, UTC). */
export function opensslDate(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, "").replace(/\.\d+Z$/, "Z");
}

/**
 * The `openssl ca` configuration, with its own database under `dbDir` so that several renewal scripts can issue
 * at the same time without sharing an index file.
 */
export function caConfig(ca: Ca, dbDir: string): string {
  return `[ca]
default_ca = test_ca

[test_ca]
database = ${dbDir}/index.txt
new_certs_dir = ${dbDir}
rand_serial = yes
certificate = ${ca.certPath}
private_key = ${ca.keyPath}
default_md = sha256
policy = any_subject
preserve = yes
unique_subject = no
copy_extensions = none
x509_extensions = client_cert

[any_subject]
organizationName = optional
commonName = supplied

[client_cert]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth

[server_cert]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
`;
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/** Makes a CA (EC P-256, valid for a day) in `dir`. */
export async function createCa(dir: string, name = "credentials-broker e2e CA"): Promise<Ca> {
  await Deno.mkdir(dir, { recursive: true });
  const ca: Ca = { dir, certPath: `${dir}/ca.crt`, keyPath: `${dir}/ca.key` };
  await runChecked("openssl", [
    "req",
    "-x509",
    ...EC_KEY,
    "-keyout",
    ca.keyPath,
    "-out",
    ca.certPath,
    "-subj",
    `/CN=${name}`,
    "-days",
    "1",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ], toolEnv());
  await Deno.writeTextFile(`${dir}/index.txt`, "");
  await Deno.writeTextFile(`${dir}/ca.cnf`, caConfig(ca, dir));
  return ca;
}

export interface IssueOptions {
  commonName: string;
  organization?: string;
  notBefore: Date;
  notAfter: Date;
  /** A server certificate for 127.0.0.1 instead of a client certificate. */
  server?: boolean;
}

/** Issues a certificate with exact validity dates (openssl x509 -days cannot do seconds; `openssl ca` can). */
export async function issueCertificate(
  ca: Ca,
  basePath: string,
  options: IssueOptions,
): Promise<IssuedCertificate> {
  const issued = { certPath: `${basePath}.crt`, keyPath: `${basePath}.key` };
  const subject = (options.organization ? `/O=${options.organization}` : "") +
    `/CN=${options.commonName}`;
  await runChecked(
    "openssl",
    [
      "req",
      "-new",
      ...EC_KEY,
      "-keyout",
      issued.keyPath,
      "-out",
      `${basePath}.csr`,
      "-subj",
      subject,
    ],
    toolEnv(),
  );
  await runChecked("openssl", [
    "ca",
    "-batch",
    "-notext",
    "-config",
    `${ca.dir}/ca.cnf`,
    "-extensions",
    options.server ? "server_cert" : "client_cert",
    "-in",
    `${basePath}.csr`,
    "-out",
    issued.certPath,
    "-startdate",
    opensslDate(options.notBefore),
    "-enddate",
    opensslDate(options.notAfter),
  ], toolEnv());
  await Deno.remove(`${basePath}.csr`);
  return issued;
}

/** An already expired client certificate: the state a renewal starts from. */
export function issueExpiredCertificate(ca: Ca, basePath: string, commonName = "alice") {
  const now = Date.now();
  return issueCertificate(ca, basePath, {
    commonName,
    organization: "developers",
    notBefore: new Date(now - 2 * 3_600_000),
    notAfter: new Date(now - 3_600_000),
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The renewal script (the user's before-exec command)

export interface RenewalScriptOptions {
  commonName?: string;
  organization?: string;
  /** Lifetime of each issued certificate. */
  lifetimeSeconds?: number;
  /** Make the script fail: it prints this on stderr and exits 7 without issuing anything. */
  failWith?: string;
  /** Seconds the script sleeps before issuing, like a slow CA round trip (a renewal a caller could wait for). */
  sleepSeconds?: number;
}

/** A renewal script and the files it writes: the client certificate and key, a run log, the exec info it saw. */
export interface RenewalScript {
  path: string;
  dir: string;
  certPath: string;
  keyPath: string;
  /** How often the script ran so far. */
  runs(): Promise<number>;
  /** KUBERNETES_EXEC_INFO as the script saw it on each run ("" when it was not set). */
  execInfos(): Promise<string[]>;
  /** $E2E_MARKER as the script saw it on each run (set through the kubeconfig's exec.env). */
  markers(): Promise<string[]>;
  /** The working folder of each run: the broker's, which is the one its client started it in. */
  cwds(): Promise<string[]>;
}

/**
 * Writes a POSIX sh script that issues a fresh short-lived client certificate from the CA with openssl (its own CA
 * database, so renewal scripts of different tests never share an index), replacing cert and key in `dir`, and
 * appends one line per run to `dir/runs` and KUBERNETES_EXEC_INFO to `dir/exec-info.log`.
 */
export async function writeRenewalScript(
  ca: Ca,
  dir: string,
  options: RenewalScriptOptions = {},
): Promise<RenewalScript> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/index.txt`, "");
  await Deno.writeTextFile(`${dir}/ca.cnf`, caConfig(ca, dir));
  const subject = (options.organization ?? "developers") !== ""
    ? `/O=${options.organization ?? "developers"}/CN=${options.commonName ?? "alice"}`
    : `/CN=${options.commonName ?? "alice"}`;
  const failure = options.failWith === undefined
    ? ""
    : `printf '%s\\n' ${shellQuote(options.failWith)} >&2\nexit 7\n`;
  const script = `#!/bin/sh
# Test renewal script: issues a client certificate valid for ${
    options.lifetimeSeconds ?? 3600
  } s from the e2e CA.
set -eu
dir=${shellQuote(dir)}
echo "$$" >> "$dir/runs"
# client-go ends KUBERNETES_EXEC_INFO with a newline; keep one line per run.
{ printf '%s' "\${KUBERNETES_EXEC_INFO:-}" | tr -d '\\n'; echo; } >> "$dir/exec-info.log"
printf '%s\\n' "\${E2E_MARKER:-}" >> "$dir/marker.log"
pwd >> "$dir/cwd.log"
${failure}${
    options.sleepSeconds ? `sleep ${options.sleepSeconds}\n` : ""
  }stamp() { date -u -d "@$1" +%Y%m%d%H%M%SZ 2>/dev/null || date -u -r "$1" +%Y%m%d%H%M%SZ; }
now=$(date +%s)
start=$(stamp $((now - 5)))
end=$(stamp $((now + ${options.lifetimeSeconds ?? 3600})))
if ! openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/next.key" \\
    -out "$dir/next.csr" -subj ${shellQuote(subject)} 2>"$dir/openssl.log" ||
  ! openssl ca -batch -notext -config "$dir/ca.cnf" -extensions client_cert -in "$dir/next.csr" \\
    -out "$dir/next.crt" -startdate "$start" -enddate "$end" 2>"$dir/openssl.log"; then
  cat "$dir/openssl.log" >&2
  exit 1
fi
mv "$dir/next.key" "$dir/client.key"
mv "$dir/next.crt" "$dir/client.crt"
`;
  const path = `${dir}/renew-certificate.sh`;
  await Deno.writeTextFile(path, script, { mode: 0o755 });
  await Deno.chmod(path, 0o755);
  return {
    path,
    dir,
    certPath: `${dir}/client.crt`,
    keyPath: `${dir}/client.key`,
    async runs() {
      const text = await Deno.readTextFile(`${dir}/runs`).catch(() => "");
      return text.split("\n").filter(Boolean).length;
    },
    execInfos: () => readLines(`${dir}/exec-info.log`),
    markers: () => readLines(`${dir}/marker.log`),
    cwds: () => readLines(`${dir}/cwd.log`),
  };
}

async function readLines(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").slice(0, -1);
}

/** Quotes one word for a POSIX shell. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

// ---------------------------------------------------------------------------------------------------------------
// nginx, terminating mTLS

export function findNginx(): string | undefined {
  return NGINX_CANDIDATES.find((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  }) ?? which("nginx");
}

export interface NginxOptions {
  nginxPath: string;
  dir: string;
  ca: Ca;
  serverCert: IssuedCertificate;
  upstreamPort: number;
  /** keepalive_timeout 0: every request needs a fresh TLS handshake (and so a valid client certificate). */
  closeEachConnection?: boolean;
}

export interface Nginx extends AsyncDisposable {
  port: number;
  url: string;
  errorLog(): Promise<string>;
}

/** nginx.conf for a foreground, single-process nginx run as the current user, everything under `dir`. */
export function nginxConfig(options: Omit<NginxOptions, "nginxPath">, port: number): string {
  const d = options.dir;
  return `daemon off;
master_process off;
pid ${d}/nginx.pid;
error_log ${d}/error.log info;
events { worker_connections 512; }
http {
  access_log ${d}/access.log;
  client_body_temp_path ${d}/client_body;
  proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi;
  uwsgi_temp_path ${d}/uwsgi;
  scgi_temp_path ${d}/scgi;
  server {
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
  }
}
`;
}

/** Starts nginx in the foreground on a free loopback port; dispose stops it. */
export async function startNginx(options: NginxOptions): Promise<Nginx> {
  await Deno.mkdir(options.dir, { recursive: true });
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = freePort();
    const config = `${options.dir}/nginx.conf`;
    await Deno.writeTextFile(config, nginxConfig(options, port));
    const child = new Deno.Command(options.nginxPath, {
      args: ["-p", `${options.dir}/`, "-c", config, "-e", `${options.dir}/error.log`],
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
      errorLog: () => Deno.readTextFile(`${options.dir}/error.log`).catch(() => ""),
      async [Symbol.asyncDispose]() {
        await stop();
      },
    };
  }
  throw lastError;
}

// ---------------------------------------------------------------------------------------------------------------
// The test API server behind nginx

export interface ApiServerOptions {
  /** When set, every request must carry `Authorization: Bearer <token>`, or it gets 401. */
  token?: string;
  /** The gitVersion /version reports. */
  gitVersion?: string;
}

/** One request as the API server saw it, with the identity nginx verified. */
export interface SeenRequest {
  at: Date;
  method: string;
  path: string;
  status: number;
  subject: string;
  serial: string;
  /** Whether a bearer token came along, and whether it was the expected one. */
  token: "none" | "valid" | "wrong";
}

export interface ApiServer extends AsyncDisposable {
  port: number;
  requests: SeenRequest[];
}

/** What the test API server reports as its version by default: a stand-in's, unrelated to any kubectl's. */
export const STAND_IN_GIT_VERSION = "v1.32.0";

const VERSION_INFO = (gitVersion: string) => {
  const [, major = "1", minor = "32"] = /^v(\d+)\.(\d+)/.exec(gitVersion) ?? [];
  return {
    major,
    minor,
    gitVersion,
    gitCommit: "0000000000000000000000000000000000000000",
    gitTreeState: "clean",
    buildDate: "2026-01-01T00:00:00Z",
    goVersion: "go1.23.0",
    compiler: "gc",
    platform: "linux/amd64",
  };
};

const AUTHENTICATION_VERSIONS = ["v1", "v1beta1", "v1alpha1"];

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function statusResponse(code: number, reason: string, message: string): Response {
  return json({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
  }, code);
}

/** Splits nginx's RFC 2253 subject ("CN=alice,O=developers") into attributes. */
export function parseSubject(dn: string): { commonName?: string; organizations: string[] } {
  const organizations: string[] = [];
  let commonName: string | undefined;
  for (const part of dn.split(/(?<!\\),/)) {
    const [key, ...rest] = part.split("=");
    const value = rest.join("=").replace(/\\(.)/g, "$1");
    if (key === "CN") commonName = value;
    if (key === "O") organizations.push(value);
  }
  return { commonName, organizations };
}

/**
 * Starts the test API server on a loopback port with plain HTTP (nginx in front terminates mTLS and passes the
 * verified subject). It answers what kubectl needs: /version, /api and /apis discovery, namespaces (as a Table
 * when asked), and SelfSubjectReview in authentication.k8s.io v1, v1beta1 and v1alpha1 for `kubectl auth whoami`.
 */
export function startApiServer(options: ApiServerOptions = {}): ApiServer {
  const requests: SeenRequest[] = [];
  const gitVersion = options.gitVersion ?? STAND_IN_GIT_VERSION;
  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const seen: SeenRequest = {
      at: new Date(),
      method: request.method,
      path: url.pathname,
      status: 0,
      subject: request.headers.get("x-client-subject") ?? "",
      serial: request.headers.get("x-client-serial") ?? "",
      token: "none",
    };
    requests.push(seen);
    const response = await answer(request, url, seen);
    seen.status = response.status;
    return response;
  };

  const answer = async (request: Request, url: URL, seen: SeenRequest): Promise<Response> => {
    const body = request.body ? await request.text() : "";
    if (request.headers.get("x-client-verify") !== "SUCCESS") {
      return statusResponse(401, "Unauthorized", "Unauthorized: no verified client certificate");
    }
    const authorization = request.headers.get("authorization");
    if (authorization) {
      seen.token = authorization === `Bearer ${options.token}` ? "valid" : "wrong";
    }
    if (options.token !== undefined && seen.token !== "valid") {
      return statusResponse(401, "Unauthorized", "Unauthorized");
    }
    const path = url.pathname.replace(/\/+$/, "");
    if (request.method === "GET") {
      switch (path) {
        case "/version":
          return json(VERSION_INFO(gitVersion));
        case "/api":
          return json({
            kind: "APIVersions",
            versions: ["v1"],
            serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: url.host }],
          });
        case "/apis":
          return json({
            kind: "APIGroupList",
            apiVersion: "v1",
            groups: [{
              name: "authentication.k8s.io",
              versions: AUTHENTICATION_VERSIONS.map((version) => ({
                groupVersion: `authentication.k8s.io/${version}`,
                version,
              })),
              preferredVersion: { groupVersion: "authentication.k8s.io/v1", version: "v1" },
            }],
          });
        case "/api/v1":
          return json({
            kind: "APIResourceList",
            groupVersion: "v1",
            resources: [{
              name: "namespaces",
              singularName: "namespace",
              namespaced: false,
              kind: "Namespace",
              verbs: ["get", "list"],
              shortNames: ["ns"],
            }],
          });
        case "/api/v1/namespaces":
          return namespaces(request.headers.get("accept") ?? "");
      }
      const group = /^\/apis\/authentication\.k8s\.io\/(v1|v1beta1|v1alpha1)$/.exec(path);
      if (group) {
        return json({
          kind: "APIResourceList",
          apiVersion: "v1",
          groupVersion: `authentication.k8s.io/${group[1]}`,
          resources: [{
            name: "selfsubjectreviews",
            singularName: "selfsubjectreview",
            namespaced: false,
            kind: "SelfSubjectReview",
            verbs: ["create"],
          }],
        });
      }
    }
    const review = /^\/apis\/authentication\.k8s\.io\/(v1|v1beta1|v1alpha1)\/selfsubjectreviews$/
      .exec(
        path,
      );
    if (review && request.method === "POST") {
      let parsed: { apiVersion?: string } = {};
      try {
        parsed = JSON.parse(body);
      } catch { /* answer anyway */ }
      const subject = parseSubject(seen.subject);
      const extra: Record<string, string[]> = { "authenticated-by": ["x509"] };
      if (seen.token === "valid") extra["authenticated-by"]!.push("bearer-token");
      return json({
        kind: "SelfSubjectReview",
        apiVersion: parsed.apiVersion ?? `authentication.k8s.io/${review[1]}`,
        metadata: { creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z") },
        status: {
          userInfo: {
            username: subject.commonName ?? "",
            groups: [...subject.organizations, "system:authenticated"],
            extra,
          },
        },
      }, 201);
    }
    return statusResponse(
      404,
      "NotFound",
      `the server could not find the requested resource (${path})`,
    );
  };

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
  }, handler);
  return {
    port: server.addr.port,
    requests,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

const NAMESPACES = ["default", "kube-system", "credentials-broker"];

function namespaces(accept: string): Response {
  const created = "2026-01-01T00:00:00Z";
  if (accept.includes("as=Table")) {
    return json({
      kind: "Table",
      apiVersion: "meta.k8s.io/v1",
      metadata: { resourceVersion: "1" },
      columnDefinitions: [
        { name: "Name", type: "string", format: "name", description: "", priority: 0 },
        { name: "Status", type: "string", format: "", description: "", priority: 0 },
      ],
      rows: NAMESPACES.map((name) => ({
        cells: [name, "Active"],
        object: {
          kind: "PartialObjectMetadata",
          apiVersion: "meta.k8s.io/v1",
          metadata: { name, creationTimestamp: created },
        },
      })),
    });
  }
  return json({
    kind: "NamespaceList",
    apiVersion: "v1",
    metadata: { resourceVersion: "1" },
    items: NAMESPACES.map((name) => ({
      metadata: { name, creationTimestamp: created },
      spec: { finalizers: ["kubernetes"] },
      status: { phase: "Active" },
    })),
  });
}

// ---------------------------------------------------------------------------------------------------------------
// kubectl

/** A kubectl binary found on this machine, with the version it reports. */
export interface Kubectl {
  path: string;
  /** gitVersion, e.g. v1.32.5 or v1.32.4-dispatcher. */
  version: string;
  /** The Cloud SDK dispatcher, which runs exec plugins twice per command (PROTOCOL.md). */
  dispatcher: boolean;
}

/** Every kubectl installed here: the versioned Cloud SDK binaries, then /usr/bin/kubectl and PATH's kubectl. */
export async function findKubectls(): Promise<Kubectl[]> {
  const candidates: string[] = [];
  try {
    const versioned: string[] = [];
    for (const entry of Deno.readDirSync(VERSIONED_KUBECTL_DIR)) {
      if (/^kubectl\.1\.\d+$/.test(entry.name)) {
        versioned.push(`${VERSIONED_KUBECTL_DIR}/${entry.name}`);
      }
    }
    versioned.sort((a, b) => Number(a.split(".").at(-1)) - Number(b.split(".").at(-1)));
    candidates.push(...versioned);
  } catch { /* no Cloud SDK */ }
  candidates.push("/usr/bin/kubectl", "/usr/local/bin/kubectl");
  const onPath = which("kubectl");
  if (onPath) candidates.push(onPath);
  const seen = new Set<string>();
  const found: Kubectl[] = [];
  for (const path of candidates) {
    let real: string;
    try {
      real = Deno.realPathSync(path);
    } catch {
      continue;
    }
    // The dispatcher is a symlink target shared by several names: keep the first name, but a versioned binary and
    // the dispatcher are different files.
    if (seen.has(real)) continue;
    seen.add(real);
    const result = await run(path, ["version", "--client", "-o", "json"], { env: toolEnv() });
    if (result.code !== 0) continue;
    const version = JSON.parse(result.stdout).clientVersion?.gitVersion ?? "unknown";
    found.push({ path, version, dispatcher: version.includes("dispatcher") });
  }
  return found;
}

/** The versioned kubectl 1.32 if present (runs plugins once), else the first one found. */
export function preferredKubectl(kubectls: readonly Kubectl[]): Kubectl | undefined {
  return kubectls.find((k) => !k.dispatcher && k.version.startsWith("v1.32.")) ??
    kubectls.find((k) => !k.dispatcher) ?? kubectls[0];
}

// ---------------------------------------------------------------------------------------------------------------
// kubeconfig

export interface ExecConfig {
  apiVersion: ExecApiVersion;
  command: string;
  args?: string[];
  env?: { name: string; value: string }[];
  interactiveMode?: InteractiveMode;
  provideClusterInfo?: boolean;
}

export interface KubeconfigUser {
  clientCertificate?: string;
  clientKey?: string;
  token?: string;
  exec?: ExecConfig;
}

export interface KubeconfigOptions {
  server: string;
  caPath: string;
  user?: KubeconfigUser;
  userName?: string;
  contextName?: string;
}

/** Writes a one-cluster, one-context kubeconfig for the world's server. */
export async function writeKubeconfig(path: string, options: KubeconfigOptions): Promise<void> {
  const user: Record<string, unknown> = {};
  const u = options.user ?? {};
  if (u.clientCertificate) user["client-certificate"] = u.clientCertificate;
  if (u.clientKey) user["client-key"] = u.clientKey;
  if (u.token) user.token = u.token;
  if (u.exec) user.exec = u.exec;
  const userName = options.userName ?? "alice";
  const contextName = options.contextName ?? "e2e";
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{
      name: "e2e",
      cluster: { server: options.server, "certificate-authority": options.caPath },
    }],
    users: [{ name: userName, user }],
    contexts: [{ name: contextName, context: { cluster: "e2e", user: userName } }],
    "current-context": contextName,
    preferences: {},
  };
  await Deno.writeTextFile(path, toYaml(config), { mode: 0o600 });
}

export interface BrokerFlags {
  certPath: string;
  keyPath: string;
  tokenPath?: string;
  command?: string;
  policy?: "always" | "when-invalid";
  refreshMargin?: string;
  renewAhead?: string;
  cacheDir?: string;
}

/** The broker's flags, one `--flag=value` word each, as they appear in exec.args. */
export function brokerFlags(flags: BrokerFlags): string[] {
  const args = [
    `--client-certificate-path=${flags.certPath}`,
    `--client-key-path=${flags.keyPath}`,
  ];
  if (flags.tokenPath) args.push(`--token-path=${flags.tokenPath}`);
  if (flags.command) args.push(`--before-exec-command=${flags.command}`);
  if (flags.policy) args.push(`--before-exec-policy=${flags.policy}`);
  if (flags.refreshMargin) args.push(`--refresh-margin=${flags.refreshMargin}`);
  if (flags.renewAhead) args.push(`--renew-ahead=${flags.renewAhead}`);
  if (flags.cacheDir) args.push(`--cache-dir=${flags.cacheDir}`);
  return args;
}

/**
 * The exec block most scenarios use: the installed broker renewing through `script` under when-invalid, never
 * interactive. The options set the apiVersion, or add a token or a refresh margin.
 */
export function renewingExec(
  script: { certPath: string; keyPath: string; path: string },
  options: { apiVersion?: ExecConfig["apiVersion"] } & Partial<BrokerFlags> = {},
): ExecConfig {
  const { apiVersion = "client.authentication.k8s.io/v1", ...extra } = options;
  return {
    apiVersion,
    command: "kubectl-credentials_broker",
    args: brokerFlags({
      certPath: script.certPath,
      keyPath: script.keyPath,
      command: script.path,
      policy: "when-invalid",
      ...extra,
    }),
    interactiveMode: "Never",
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The world

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

/** Where Deno keeps its module cache: the installed broker shim reuses it rather than recompiling per HOME. */
let denoDirCache: string | undefined;
export async function denoDir(): Promise<string> {
  if (denoDirCache) return denoDirCache;
  const fromEnv = Deno.env.get("DENO_DIR");
  if (fromEnv) return (denoDirCache = fromEnv);
  const result = await run(Deno.execPath(), ["info", "--json"], {
    env: { ...toolEnv(), HOME: Deno.env.get("HOME") ?? "/" },
  });
  denoDirCache = JSON.parse(result.stdout).denoDir as string;
  return denoDirCache;
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
    const tmp = stack.use(await makeTempDir());
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
          ca,
          serverCert,
          upstreamPort: api.port,
          closeEachConnection: options.closeEachConnection,
        })
        : await startOpensslWww({
          dir: tmp.join("openssl"),
          ca,
          serverCert,
          files: { version: JSON.stringify(VERSION_INFO(STAND_IN_GIT_VERSION)) },
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
      denoDir: await denoDir(),
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
          ["-qec", [kubectl.path, ...args].map(shellQuote).join(" "), "/dev/null"],
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

// ---------------------------------------------------------------------------------------------------------------
// Test registration that skips (outside CI) or fails (under CI) when a tool is missing

export interface Requirements {
  nginx?: boolean;
  kubectl?: boolean;
  /** Node.js, for the @kubernetes/client-node client. */
  node?: boolean;
  /** Debian's python3-kubernetes (the official Python client) under the system python. */
  python?: boolean;
}

/** Debian's python, not a pyenv or venv one that PATH may find first: python3-kubernetes lives there. */
export const SYSTEM_PYTHON = "/usr/bin/python3";

/** Whether the system python imports the official Kubernetes client. */
export function hasPythonClient(): boolean {
  try {
    const { code } = new Deno.Command(SYSTEM_PYTHON, {
      args: ["-c", "import kubernetes"],
      env: toolEnv(),
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return code === 0;
  } catch {
    return false;
  }
}

/** What is missing for an e2e test, in words, or [] when everything is there. */
export function missingTools(requirements: Requirements, kubectls: readonly Kubectl[]): string[] {
  const missing: string[] = [];
  if (requirements.nginx && !findNginx()) {
    missing.push("nginx (Debian: apt-get install nginx-light)");
  }
  if (requirements.kubectl && kubectls.length === 0) {
    missing.push("kubectl (https://kubernetes.io/docs/tasks/tools/)");
  }
  if (requirements.node && !which("node")) missing.push("node (Node.js 20+)");
  if (requirements.python && !hasPythonClient()) {
    missing.push("python3-kubernetes (Debian: apt-get install python3-kubernetes)");
  }
  if (!which("openssl")) missing.push("openssl");
  return missing;
}

/**
 * Registers an e2e test. When a tool is missing it is skipped with the reason in its name, except under CI=true,
 * where it fails saying what is missing.
 */
export function e2eTest(
  name: string,
  requirements: Requirements,
  kubectls: readonly Kubectl[],
  fn: (t: Deno.TestContext) => Promise<void>,
): void {
  const missing = missingTools(requirements, kubectls);
  if (missing.length === 0) {
    Deno.test(name, fn);
  } else if (CI) {
    Deno.test(name, () => {
      throw new Error(`CI=true and required tools are missing: ${missing.join(", ")}`);
    });
  } else {
    Deno.test({ name: `${name} (skipped: missing ${missing.join(", ")})`, ignore: true, fn });
  }
}

/** Parses the JSON a test expects on stdout, with the whole output in the error when it is not JSON. */
export function parseJson<T = unknown>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new Error(`not JSON: ${text}`, { cause: error });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Direct requests and the no-install fallback proxy

/** GETs `url` presenting `cert` (or no certificate), trusting the world's CA; returns status and body. */
export async function fetchWithCertificate(
  url: string,
  ca: Ca,
  cert?: IssuedCertificate,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const client = Deno.createHttpClient({
    caCerts: [await Deno.readTextFile(ca.certPath)],
    ...(cert
      ? { cert: await Deno.readTextFile(cert.certPath), key: await Deno.readTextFile(cert.keyPath) }
      : {}),
  });
  try {
    const response = await fetch(url, { client, headers });
    return { status: response.status, body: await response.text() };
  } finally {
    client.close();
  }
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

// ---------------------------------------------------------------------------------------------------------------
// Long-running clients

/** A background process whose output is collected; dispose stops it (SIGTERM, then SIGKILL after 3 s). */
export interface Background extends AsyncDisposable {
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout match of `pattern`, or rejects when the process exits or time runs out. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  status: Promise<Deno.CommandStatus>;
}

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
 * A folder where Node.js resolves `@kubernetes/client-node` (the version pinned in deno.json), materialised from
 * Deno's npm cache with `deno install`, so that the client can run under plain `node`.
 */
export async function nodeClientDir(dir: string): Promise<string> {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
  ) as { imports: Record<string, string> };
  const spec = config.imports["@kubernetes/client-node"]!;
  const version = spec.slice(spec.lastIndexOf("@") + 1);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/package.json`,
    JSON.stringify({
      private: true,
      type: "module",
      dependencies: { "@kubernetes/client-node": version },
    }),
  );
  const result = await run(Deno.execPath(), ["install", "--quiet"], {
    cwd: dir,
    env: { ...toolEnv(), HOME: Deno.env.get("HOME") ?? "/", DENO_DIR: await denoDir() },
  });
  if (result.code !== 0) {
    throw new Error(`deno install for the Node.js client failed: ${result.stderr}`);
  }
  return dir;
}
