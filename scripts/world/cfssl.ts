/**
 * A real cfssl (Debian's golang-cfssl 1.2) for the issuer tests, the e2e world and the bench: `cfssl serve` on a free
 * loopback port, signing with a given CA (the world's, so that nginx trusts what it issues) or a fresh one, over
 * https when asked, with a plain profile and an authenticated one (authsign, HMAC key in a file). Its log counts the
 * certificates it signed.
 */
import { HOST_OS, joinPath } from "../../lib/shared/platform.ts";
import { type Ca, createCa, issueCertificate } from "./ca.ts";
import { freePort, startBackground, toolEnv, waitForPort, which } from "./process.ts";

/** Where cfssl is, or undefined (then the tests that need it are ignored, and .ci/run installs it). */
export function findCfssl(): string | undefined {
  // Debian's cfssl is a Linux program: under Wine /usr/bin/cfssl is visible (drive Z:) but cannot run.
  if (Deno.build.os === "windows") return which("cfssl.exe");
  return which("cfssl") ?? (exists("/usr/bin/cfssl") ? "/usr/bin/cfssl" : undefined);
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** The profile whose sign requests need the HMAC token (authsign). */
export const CFSSL_AUTH_PROFILE = "authed";

export interface CfsslOptions {
  dir: string;
  /** The CA cfssl signs with; a fresh one under `dir` when absent. */
  ca?: Ca;
  /** Lifetime of what it signs, as cfssl's config spells it ("1h", "90s"). */
  expiry?: string;
  /** Serve https with a certificate of `ca` for 127.0.0.1 (then trust `caFile`). */
  tls?: boolean;
}

export interface Cfssl extends AsyncDisposable {
  url: string;
  port: number;
  /** The CA certificate: what signs the client certificates, and the https server's. */
  caFile: string;
  ca: Ca;
  /** A file holding the hex HMAC key of CFSSL_AUTH_PROFILE, as --cfssl-auth-key-file takes it. */
  authKeyFile: string;
  /** How many certificates cfssl has signed so far (its log's "signed certificate" lines). */
  signed(): number;
  log(): string;
}

/** Starts `cfssl serve`; dispose stops it. */
export async function startCfssl(options: CfsslOptions): Promise<Cfssl> {
  const cfssl = findCfssl();
  if (!cfssl) throw new Error("cfssl not found (Debian: apt-get install golang-cfssl)");
  const dir = options.dir;
  await Deno.mkdir(dir, { recursive: true });
  const ca = options.ca ?? await createCa(joinPath(dir, "ca", HOST_OS), "cfssl test CA");
  const authKey = crypto.getRandomValues(new Uint8Array(16)).toHex();
  const authKeyFile = joinPath(dir, "auth.key", HOST_OS);
  await Deno.writeTextFile(authKeyFile, authKey + "\n", { mode: 0o600 });
  const expiry = options.expiry ?? "1h";
  const usages = ["signing", "digital signature", "key encipherment", "client auth"];
  const config = {
    signing: {
      default: { expiry, usages },
      profiles: {
        client: { expiry, usages },
        [CFSSL_AUTH_PROFILE]: { expiry, usages, auth_key: "broker" },
      },
    },
    auth_keys: { broker: { type: "standard", key: authKey } },
  };
  const configFile = joinPath(dir, "config.json", HOST_OS);
  await Deno.writeTextFile(configFile, JSON.stringify(config, null, 2));
  const port = freePort();
  const args = [
    "serve",
    "-address",
    "127.0.0.1",
    "-port",
    String(port),
    "-ca",
    ca.certPath,
    "-ca-key",
    ca.keyPath,
    "-config",
    configFile,
    "-loglevel",
    "1",
  ];
  if (options.tls) {
    const server = await issueCertificate(ca, joinPath(dir, "server", HOST_OS), {
      commonName: "127.0.0.1",
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      server: true,
    });
    args.push("-tls-cert", server.certPath, "-tls-key", server.keyPath);
  }
  const process = startBackground(cfssl, args, { env: toolEnv(), cwd: dir });
  try {
    await waitForPort(port, process.status, 10_000);
  } catch (error) {
    await process[Symbol.asyncDispose]();
    throw new Error(`cfssl serve did not start: ${process.stderr()}`, { cause: error });
  }
  return {
    url: `${options.tls ? "https" : "http"}://127.0.0.1:${port}`,
    port,
    caFile: ca.certPath,
    ca,
    authKeyFile,
    signed: () => process.stderr().match(/signed certificate with serial number/g)?.length ?? 0,
    log: () => process.stderr(),
    [Symbol.asyncDispose]: () => process[Symbol.asyncDispose](),
  };
}
