/**
 * The one module that talks to the network: the real IssuerFetch (see IssuerRequest in issuer.ts). TLS trusts the
 * --issuer-ca-file bundle, or the operating system's store as the vault and step CLIs do; every request ends by the
 * issuance's deadline; answers are read up to a size limit; 412/429/503 are retried once; redirects are followed
 * only to https on the same host; failures no driver can read become an IssuerError that says what to do.
 */
import { describeError, IssuerError } from "../shared/errors.ts";
import { CREDENTIAL_FILE_LIMIT, FileReadError, readRegularFileSync } from "../shared/read_file.ts";
import { decodeText } from "../credentials/der.ts";
import type { CurrentCredentials, IssuerAnswer, IssuerFetch, IssuerRequest } from "./issuer.ts";

/** How a fetch for one issuer is made. */
export interface IssuerFetchOptions {
  /** PEM bundle trusted for the issuer's TLS (--issuer-ca-file); the OS trust store when absent. */
  caFile?: string;
  /** Epoch milliseconds by which every request must have ended. */
  deadline: number;
  /** Largest answer read, in bytes (default 1 MiB: a certificate chain is a few kilobytes). */
  maxAnswerBytes?: number;
  /** Sets an environment variable before the first TLS request (Deno.env.set; a fake in tests). */
  setEnv?: (name: string, value: string) => void;
  getEnv?: (name: string) => string | undefined;
  /** Milliseconds to wait before the one retry, when the answer has no Retry-After (default 1000). */
  retryDelayMs?: number;
}

/** An IssuerFetch that owns TLS clients: close it when the issuance ends (or dispose it). */
export interface ClosableIssuerFetch extends IssuerFetch, Disposable {
  close(): void;
}

const DEFAULT_MAX_ANSWER = 1024 * 1024;
const MAX_REDIRECTS = 3;
const RETRIED = new Set([412, 429, 503]);

/**
 * The real IssuerFetch for the issuer at `url` (no trailing slash). Without a CA file it makes Deno trust the
 * operating system's store (DENO_TLS_CA_STORE=system,mozilla, which Deno reads at its first TLS request), since
 * an internal CA is installed there, not in Deno's bundled Mozilla roots.
 */
export function makeIssuerFetch(url: string, options: IssuerFetchOptions): ClosableIssuerFetch {
  const base = parseBase(url);
  const prefix = base.href.replace(/\/+$/, "");
  const maxBytes = options.maxAnswerBytes ?? DEFAULT_MAX_ANSWER;
  const caCerts = options.caFile === undefined ? undefined : [readCaFile(options.caFile)];
  if (caCerts === undefined && base.protocol === "https:") {
    const getEnv = options.getEnv ?? ((name: string) => Deno.env.get(name));
    const setEnv = options.setEnv ?? ((name: string, value: string) => Deno.env.set(name, value));
    if (!getEnv("DENO_TLS_CA_STORE")) setEnv("DENO_TLS_CA_STORE", "system,mozilla");
  }
  const clients = new Map<string, Deno.HttpClient>();
  const clientFor = (current: CurrentCredentials | undefined): Deno.HttpClient | undefined => {
    if (!caCerts && !current) return undefined;
    const id = current ? current.certificatePem : "";
    let client = clients.get(id);
    if (!client) {
      try {
        client = Deno.createHttpClient({
          caCerts,
          ...(current ? { cert: current.certificatePem, key: current.keyPem } : {}),
        });
      } catch (error) {
        // Deno refuses X.509 v1 certificates (and unreadable PEM) when the client is made: name which file.
        throw new IssuerError(
          current
            ? `cannot present the current client certificate to issuer ${base.origin}: ${
              safeCause(error)
            }`
            : `cannot use --issuer-ca-file ${options.caFile}: ${safeCause(error)}`,
          {
            cause: error,
            hint: current ? undefined : "give a PEM bundle of X.509 v3 CA certificates",
          },
        );
      }
      clients.set(id, client);
    }
    return client;
  };
  const close = () => {
    for (const client of clients.values()) client.close();
    clients.clear();
  };
  const fetchOne = async (request: IssuerRequest): Promise<RawAnswer> => {
    const client = clientFor(request.clientCertificate);
    let target = new URL(prefix + request.path);
    let method: string = request.method;
    let body = request.body === undefined ? undefined : JSON.stringify(request.body);
    for (let redirects = 0;; redirects++) {
      const answer = await send(target, method, body, request, client, options, maxBytes, base);
      if (answer.status >= 300 && answer.status < 400 && answer.location !== undefined) {
        if (redirects >= MAX_REDIRECTS) {
          throw new IssuerError(
            `issuer ${base.origin} redirected more than ${MAX_REDIRECTS} times`,
          );
        }
        const next = new URL(answer.location, target);
        if (next.protocol !== "https:" || next.host !== base.host) {
          // A token or one-time token would follow the request: only to the same host, and never in clear.
          throw new IssuerError(
            `issuer ${base.origin} redirected to ${next.protocol}//${next.host}, which the broker does not follow`,
            {
              hint:
                "redirects are followed only to https on the same host: point --issuer-url at where it redirects",
            },
          );
        }
        if (
          answer.status === 303 ||
          ((answer.status === 301 || answer.status === 302) && method === "POST")
        ) {
          method = "GET";
          body = undefined;
        }
        target = next;
        continue;
      }
      return answer;
    }
  };
  const issuerFetch = async (request: IssuerRequest): Promise<RawAnswer> => {
    const first = await fetchOne(request);
    if (!RETRIED.has(first.status)) return first;
    const waitMs = first.retryAfterMs ?? options.retryDelayMs ?? 1000;
    // Once, and only when the retry can still end in time.
    if (Date.now() + waitMs >= options.deadline) return first;
    await sleep(waitMs);
    return await fetchOne(request);
  };
  return Object.assign(
    (request: IssuerRequest) =>
      issuerFetch(request).then((answer) => ({ status: answer.status, body: answer.body })),
    { close, [Symbol.dispose]: close },
  );
}

interface RawAnswer extends IssuerAnswer {
  location?: string;
  retryAfterMs?: number;
}

async function send(
  target: URL,
  method: string,
  body: string | undefined,
  request: IssuerRequest,
  client: Deno.HttpClient | undefined,
  options: IssuerFetchOptions,
  maxBytes: number,
  base: URL,
): Promise<RawAnswer> {
  const remaining = options.deadline - Date.now();
  if (remaining <= 0) throw timeoutError(base, options);
  const signal = AbortSignal.timeout(remaining);
  const headers: Record<string, string> = {
    accept: "application/json",
    "user-agent": "kubectl-credentials-broker",
    ...request.headers,
  };
  if (body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(target, {
      method,
      headers,
      body,
      redirect: "manual",
      signal,
      ...(client ? { client } : {}),
    });
  } catch (error) {
    if (signal.aborted) throw timeoutError(base, options);
    throw connectError(base, options, error);
  }
  let text: string;
  try {
    text = await readLimited(response, maxBytes, base);
  } catch (error) {
    if (error instanceof IssuerError) throw error;
    if (signal.aborted) throw timeoutError(base, options);
    throw new IssuerError(`issuer ${base.origin} broke off its answer (HTTP ${response.status})`, {
      cause: error,
    });
  }
  let parsed: unknown = undefined;
  try {
    parsed = text.trim() === "" ? undefined : JSON.parse(text);
  } catch {
    // An HTML page of a proxy, or a broken answer: the driver reports the status, never this body.
  }
  return {
    status: response.status,
    body: parsed,
    location: response.headers.get("location") ?? undefined,
    retryAfterMs: retryAfter(response.headers.get("retry-after")),
  };
}

/** The body as text, refusing more than `maxBytes`: a proxy's endless answer must not fill memory. */
async function readLimited(response: Response, maxBytes: number, base: URL): Promise<string> {
  if (!response.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new IssuerError(
          `issuer ${base.origin} answered more than ${maxBytes} bytes (HTTP ${response.status}); refused`,
          { hint: "check --issuer-url: a certificate answer is a few kilobytes" },
        );
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return decodeText(all);
}

function parseBase(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new IssuerError(`--issuer-url ${url} is not a URL`);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    throw new IssuerError(`--issuer-url ${url} is not an http or https URL`);
  }
  return parsed;
}

/** The PEM bundle, or every PEM file of a folder ($VAULT_CAPATH names a folder of CA certificates). */
function readCaFile(path: string): string {
  try {
    return decodeText(readRegularFileSync(path, CREDENTIAL_FILE_LIMIT));
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    if (error.kind === "not-regular" && isFolder(path)) return readCaFolder(path);
    throw new IssuerError(`--issuer-ca-file ${path} ${error.message}`, { cause: error });
  }
}

function isFolder(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function readCaFolder(dir: string): string {
  const texts: string[] = [];
  for (const entry of [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : 1)) {
    if (!entry.isFile || !/\.(pem|crt|cer)$/i.test(entry.name)) continue;
    try {
      texts.push(decodeText(readRegularFileSync(`${dir}/${entry.name}`, CREDENTIAL_FILE_LIMIT)));
    } catch (error) {
      if (!(error instanceof FileReadError)) throw error;
    }
  }
  if (texts.length === 0) {
    throw new IssuerError(`--issuer-ca-file ${dir} is a folder without .pem, .crt or .cer files`);
  }
  return texts.join("\n");
}

function timeoutError(base: URL, options: IssuerFetchOptions): IssuerError {
  return new IssuerError(`issuer ${base.origin} did not answer in time`, {
    hint: `the whole issuance must end within --before-exec-timeout; raise it, or check the issuer${
      options.caFile ? "" : " and the network"
    }`,
  });
}

/** The chain of causes of a fetch failure as one lowercase line (Deno puts the TLS reason in `cause`). */
function causes(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e instanceof Error && parts.length < 5; e = e.cause) {
    parts.push(e.message);
  }
  return parts.join(": ");
}

function safeCause(error: unknown): string {
  return describeError(error).split("\n")[0]!.slice(0, 200);
}

function connectError(base: URL, options: IssuerFetchOptions, error: unknown): IssuerError {
  const text = causes(error);
  const tls = /invalid peer certificate|certificate|UnknownIssuer|tls|handshake/i;
  if (tls.test(text)) {
    const reason = /invalid peer certificate: ([A-Za-z]+)/.exec(text)?.[1];
    const what = reason === "UnknownIssuer"
      ? "is signed by an authority the broker does not trust"
      : reason === "Expired"
      ? "has expired"
      : reason === "NotValidForName"
      ? `is not valid for ${base.hostname}`
      : `was refused${reason ? ` (${reason})` : ""}`;
    return new IssuerError(`the TLS certificate of issuer ${base.origin} ${what}`, {
      cause: error,
      hint: options.caFile
        ? `--issuer-ca-file ${options.caFile} does not hold the CA that signed it: give the right bundle`
        : "give the CA bundle that signed it with --issuer-ca-file (the operating system's trust store does not hold it)",
    });
  }
  if (/connection refused|actively refused|ECONNREFUSED|os error 10061/i.test(text)) {
    return new IssuerError(`cannot connect to issuer ${base.origin}: connection refused`, {
      cause: error,
      hint: "check --issuer-url and that the issuer runs",
    });
  }
  if (/dns|lookup|resolve|name or service not known/i.test(text)) {
    return new IssuerError(`cannot find the host of issuer ${base.origin}`, {
      cause: error,
      hint: "check --issuer-url",
    });
  }
  return new IssuerError(`cannot reach issuer ${base.origin}: ${safeCause(error)}`, {
    cause: error,
  });
}

function retryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, 30_000);
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
