/**
 * Throwaway certificate authorities made with openssl: keys, a CA, and certificates with exact validity dates (in
 * the past for expired ones). One set for the unit tests (tests/helpers.ts re-exports them), the e2e world, the
 * renewal scripts, the demo and the benchmarks.
 */
import { basename, dirname, HOST_OS, joinPath, resolvePath } from "../../lib/shared/platform.ts";
import { runChecked, toolEnv } from "./process.ts";
import { runFolder } from "./temp_dir.ts";

/** Runs openssl in `cwd`, throwing with its stderr when it fails. */
export async function openssl(args: readonly string[], cwd?: string): Promise<void> {
  await runChecked("openssl", args, { cwd, env: toolEnv() });
}

/** Formats a date the way `openssl ca -startdate/-enddate` takes it (GeneralizedTime, UTC, whole seconds). */
export function opensslTime(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, "").replace(/\.\d+Z$/, "Z");
}

export type KeyType = "rsa" | "ec" | "ed25519";

/** openssl's arguments for a new private key of each type. */
const GENPKEY: Record<KeyType, string[]> = {
  rsa: ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
  ec: ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
  ed25519: ["genpkey", "-algorithm", "ED25519"],
};

/**
 * How many RSA keys this test file has asked for. openssl takes 0.1-1 s of CPU for a 2048-bit RSA key (5 ms
 * for EC or Ed25519), and the unit tests ask for about twenty: the n-th RSA key a test file asks for is the n-th
 * of the run, so the keys of one test file always differ, and each run makes keys of its own. Within
 * scripts/test.ts the test files share them through the run folder; otherwise each test file makes its own.
 */
let rsaKeysAsked = 0;

/** The n-th RSA key of the run (PKCS#8 PEM), made by the first test file that asks for it. */
async function sharedRsaKey(n: number): Promise<Uint8Array> {
  const run = runFolder();
  const dir = run ? joinPath(run, "keys", HOST_OS) : await Deno.makeTempDir({ prefix: "ccb-rsa-" });
  const path = joinPath(dir, `rsa-${n}.key`, HOST_OS);
  try {
    if (run) {
      try {
        return await Deno.readFile(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
      await Deno.mkdir(dir, { recursive: true });
    }
    // Made aside and renamed into place: another test file may do the same meanwhile, and either key serves.
    const made = await Deno.makeTempFile({ dir, prefix: `rsa-${n}-` });
    await openssl([...GENPKEY.rsa, "-out", made]);
    await Deno.rename(made, path);
    return await Deno.readFile(path);
  } finally {
    if (!run) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Generates a private key file (PKCS#8, mode 0600) of the given type as `dir/name`; returns its path. */
export async function generateKey(dir: string, name: string, type: KeyType): Promise<string> {
  const path = `${dir}/${name}`;
  if (type === "rsa") {
    await Deno.writeFile(path, await sharedRsaKey(rsaKeysAsked++), { mode: 0o600 });
  } else {
    await openssl([...GENPKEY[type], "-out", name], dir);
  }
  await Deno.chmod(path, 0o600);
  return path;
}

/** A CA's certificate and key files. */
export interface CaFiles {
  cert: string;
  key: string;
}

/** A throwaway CA (EC P-256, valid two days) in `dir`: `name`.key and `name`.crt. */
export async function makeCa(
  dir: string,
  name = "ca",
  commonName = `test ${name}`,
): Promise<CaFiles> {
  await Deno.mkdir(dir, { recursive: true });
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
    `/CN=${commonName}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ], dir);
  return { cert: `${dir}/${name}.crt`, key: `${dir}/${name}.key` };
}

/**
 * The `openssl ca` configuration, with its own database under `dbDir`, so that several issuers (tests, renewal
 * scripts) can issue at the same time without sharing an index file. Extensions apply only when asked for with
 * `-extensions client_cert` or `server_cert`.
 */
export function caConfig(ca: CaFiles, dbDir: string): string {
  return `[ca]
default_ca = test_ca

[test_ca]
database = ${dbDir}/index.txt
new_certs_dir = ${dbDir}
rand_serial = yes
certificate = ${ca.cert}
private_key = ${ca.key}
default_md = sha256
policy = any_subject
preserve = yes
unique_subject = no
copy_extensions = none

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

/**
 * Issues a certificate for `keyPath` from the CA, valid from `notBefore` (an hour ago by default) to `notAfter`
 * (which may be in the past). Uses `openssl ca`, since openssl 3.0's x509 cannot set exact dates. Without
 * `extensions` the certificate has none (the unit tests' plain client certificate).
 */
export async function issueCert(options: {
  dir: string;
  ca: CaFiles;
  keyPath: string;
  /** Where the certificate goes, relative to `dir` or absolute. */
  out: string;
  subject?: string;
  notBefore?: Date;
  notAfter: Date;
  extensions?: "client_cert" | "server_cert";
}): Promise<string> {
  const work = await Deno.makeTempDir({ dir: options.dir, prefix: ".ca-" });
  try {
    await Deno.writeTextFile(`${work}/ca.cnf`, caConfig(options.ca, work));
    await Deno.writeTextFile(`${work}/index.txt`, "");
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
      // The subject's attributes in the order given, whatever the policy lists first.
      "-preserveDN",
      ...(options.extensions ? ["-extensions", options.extensions] : []),
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

/** The e2e world's CA: its folder, certificate and key. */
export interface Ca {
  dir: string;
  certPath: string;
  keyPath: string;
}

export interface IssuedCertificate {
  certPath: string;
  keyPath: string;
}

/** Makes the e2e world's CA in `dir` (ca.crt, ca.key). */
export async function createCa(dir: string, name = "credentials-broker e2e CA"): Promise<Ca> {
  const files = await makeCa(dir, "ca", name);
  return { dir, certPath: files.cert, keyPath: files.key };
}

export interface IssueOptions {
  commonName: string;
  organization?: string;
  notBefore: Date;
  notAfter: Date;
  /** A server certificate for 127.0.0.1 instead of a client certificate. */
  server?: boolean;
}

/** Issues a fresh EC key and a client (or server) certificate with exact dates as `basePath`.key and .crt. */
export async function issueCertificate(
  ca: Ca,
  basePath: string,
  options: IssueOptions,
): Promise<IssuedCertificate> {
  const dir = dirname(basePath, HOST_OS);
  const keyPath = `${basePath}.key`;
  await generateKey(dir, basename(keyPath, HOST_OS), "ec");
  const certPath = await issueCert({
    dir,
    ca: { cert: ca.certPath, key: ca.keyPath },
    keyPath,
    out: `${basePath}.crt`,
    subject: (options.organization ? `/O=${options.organization}` : "") +
      `/CN=${options.commonName}`,
    notBefore: options.notBefore,
    notAfter: options.notAfter,
    extensions: options.server ? "server_cert" : "client_cert",
  });
  return { certPath, keyPath };
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
