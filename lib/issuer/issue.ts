/**
 * One issuance, what the plugin runs under its renewal lock instead of a before-exec command: the driver picked by
 * name (loaded only now), a new local key, the driver's exchange with its CA, a check of what came back (the leaf
 * certifies our key and is valid now: anything else is refused and never written), then the key and the chain
 * stored so that a reader without the lock never takes a half file, and at worst sees a new certificate beside an
 * old key, which fails the pair check and sends it to the lock to read again.
 */
import { IssuerError, osErrorWords } from "../shared/errors.ts";
import { formatTimestamp } from "../shared/duration.ts";
import { readRoot } from "../credentials/der.ts";
import { encodePem, parsePem } from "../credentials/pem.ts";
import { parsePrivateKey } from "../credentials/private_key.ts";
import {
  type Certificate,
  parseCertificate,
  parseSubjectPublicKeyInfo,
  type PublicKey,
  samePublicKey,
} from "../credentials/x509.ts";
import { dirname, hasPosixPermissions, HOST_OS, joinPath } from "../shared/platform.ts";
import type {
  CurrentCredentials,
  IssuerContext,
  IssuerDriver,
  IssuerFetch,
  IssuerName,
  IssuerOptions,
} from "./issuer.ts";
import { csrMaker } from "./csr.ts";
import { generateLocalKey } from "./keys.ts";

/** The drivers, each imported only when its issuer is asked. Literal imports, so that the bundle carries them. */
const DRIVERS: Record<IssuerName, () => Promise<IssuerDriver>> = {
  cfssl: () => import("./cfssl.ts").then((module) => module.cfsslDriver),
  vault: () => import("./vault.ts").then((module) => module.vaultDriver),
  "step-ca": () => import("./step_ca.ts").then((module) => module.stepCaDriver),
};

/** The driver of `name`, loaded on first use. */
export async function loadDriver(name: IssuerName): Promise<IssuerDriver> {
  return await DRIVERS[name]();
}

/** Where the issued credentials go: absolute paths. */
export interface IssuedPaths {
  certificatePath: string;
  keyPath: string;
  /**
   * The broker's own storage folder (~/.kube/credentials-broker): the folders from it down to the files are made
   * private even when they exist already, since nothing but the broker's credentials lives there.
   */
  ownFolder?: string;
}

/** One issuance: the options, where to store, and the context's effects (see IssuerContext). */
export interface Issuance extends Omit<IssuerContext, "fetch"> {
  options: IssuerOptions;
  paths: IssuedPaths;
  /** A fetch to use instead of the real one (tests); the real one is made and closed here otherwise. */
  fetch?: IssuerFetch;
  /** A driver to use instead of loading it by name (tests). */
  driver?: IssuerDriver;
}

/** What was stored. */
export interface IssuanceResult {
  leaf: Certificate;
  chainLength: number;
}

/**
 * Gets a certificate from the issuer and stores it with its key. Throws IssuerError (exit 3) when the issuer fails,
 * returns something unusable, or the files cannot be written; the files in place are then left as they were.
 */
export async function runIssuance(issuance: Issuance): Promise<IssuanceResult> {
  const { options } = issuance;
  const driver = issuance.driver ?? await loadDriver(options.issuer);
  const key = await generateLocalKey(options.keyType);
  let ownFetch: (IssuerFetch & Disposable) | undefined;
  let fetch = issuance.fetch;
  if (!fetch) {
    const { makeIssuerFetch } = await import("./http.ts");
    fetch = ownFetch = makeIssuerFetch(options.url, {
      caFile: options.caFile,
      deadline: issuance.deadline,
    });
  }
  let issued;
  try {
    issued = await driver.issue(options, csrMaker(key), { ...issuance, fetch });
  } finally {
    ownFetch?.[Symbol.dispose]();
  }
  const keyPem = issued.key === "new" ? key.pkcs8Pem : issuance.current?.keyPem;
  if (keyPem === undefined) {
    throw new IssuerError(
      `issuer ${options.url} renewed a certificate for a key the broker does not hold`,
    );
  }
  const expected = issued.key === "new"
    ? parseSubjectPublicKeyInfo(readRoot(key.spki))
    : (await parsePrivateKey(parsePem(keyPem)[0]!)).publicKey;
  const chain = checkIssued(issued.chain, expected, issuance.now(), options.url);
  const opened = writeIssuedFiles(issuance.paths, {
    // The key first: a reader that finds a new key beside the old certificate fails the pair check and waits for
    // the lock, as it does for the reverse.
    key: issued.key === "new" ? keyPem : undefined,
    certificate: chain.map((certificate) => encodePem("CERTIFICATE", certificate.der)).join(""),
  });
  for (const folder of opened) {
    await issuance.stderr(
      `note: made ${folder.path} private (chmod 700; it was ${folder.mode}, writable by other users): check that its files are the broker's\n`,
    );
  }
  return { leaf: chain[0]!, chainLength: chain.length };
}

/**
 * The issued chain, parsed and judged: the leaf (first) certifies `expected` and is valid now. Returned leaf first,
 * as client-go wants it; a refused chain is never written.
 */
export function checkIssued(
  pems: readonly string[],
  expected: PublicKey,
  now: Date,
  url: string,
): Certificate[] {
  const chain: Certificate[] = [];
  try {
    for (const pem of pems) {
      for (const block of parsePem(pem)) {
        if (block.label === "CERTIFICATE") chain.push(parseCertificate(block.der));
      }
    }
  } catch (error) {
    throw new IssuerError(`issuer ${url} answered a certificate that cannot be read`, {
      cause: error,
    });
  }
  const leaf = chain[0];
  if (!leaf) throw new IssuerError(`issuer ${url} answered no certificate`);
  if (!samePublicKey(leaf.publicKey, expected)) {
    throw new IssuerError(
      `issuer ${url} answered a certificate (${leaf.subject}) for another key than the one the broker asked for; refused`,
      {
        hint:
          "the issuer or a proxy in front of it is misconfigured: the certificate was not stored",
      },
    );
  }
  if (leaf.notAfter.getTime() <= now.getTime()) {
    throw new IssuerError(
      `issuer ${url} answered a certificate that expired at ${
        formatTimestamp(leaf.notAfter)
      }; refused`,
      { hint: "check the clock here and at the issuer, and the lifetime the issuer gives" },
    );
  }
  if (leaf.notBefore.getTime() > now.getTime()) {
    throw new IssuerError(
      `issuer ${url} answered a certificate not valid before ${
        formatTimestamp(leaf.notBefore)
      }; refused`,
      { hint: "check the clock here and at the issuer" },
    );
  }
  return chain;
}

/** A folder of the broker's own storage that others could write to before the broker made it private. */
export interface OpenedFolder {
  path: string;
  /** Its mode before, in octal ("0775"). */
  mode: string;
}

/**
 * Stores the key (0600 whatever the umask) and the certificate, each written whole beside its final name, flushed,
 * then renamed over it: a reader sees the old file or the new one, never part of one. Both are written before
 * either is renamed, so a full or read-only disk leaves the old pair intact (lib/shared/write_file.ts replaces one
 * file at a time, and would leave a new key beside the old certificate when the second write fails). Returns the
 * folders of the broker's own storage that others could write to until now, for the caller to say so.
 */
export function writeIssuedFiles(
  paths: IssuedPaths,
  content: { key?: string; certificate: string },
): OpenedFolder[] {
  const staged: { temp: string; path: string; what: string }[] = [];
  const opened: OpenedFolder[] = [];
  try {
    const written = content.key === undefined
      ? [paths.certificatePath]
      : [paths.keyPath, paths.certificatePath];
    for (const path of written) {
      const what = path === paths.keyPath ? "client key" : "client certificate";
      ensureFolder(dirname(path, HOST_OS), what, path);
      if (paths.ownFolder !== undefined) {
        opened.push(...makeOwnFoldersPrivate(paths.ownFolder, dirname(path, HOST_OS), what, path));
      }
    }
    if (content.key !== undefined) {
      staged.push({
        temp: stage(paths.keyPath, content.key, 0o600, "client key"),
        path: paths.keyPath,
        what: "client key",
      });
    }
    staged.push({
      temp: stage(paths.certificatePath, content.certificate, 0o644, "client certificate"),
      path: paths.certificatePath,
      what: "client certificate",
    });
    for (const file of staged) {
      try {
        Deno.renameSync(file.temp, file.path);
      } catch (error) {
        throw writeError(file.what, file.path, error);
      }
    }
  } finally {
    for (const file of staged) {
      try {
        Deno.removeSync(file.temp);
      } catch {
        // Renamed into place, or never made.
      }
    }
  }
  return opened;
}

const encoder = new TextEncoder();

/** Writes `text` to a new file beside `path` (whose folder exists) and returns its name. */
function stage(path: string, text: string, mode: number, what: string): string {
  const dir = dirname(path, HOST_OS);
  const temp = joinPath(
    dir,
    `.${path.slice(dir.length).replace(/^[\\/]+/, "")}.${
      crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36)
    }.tmp`,
    HOST_OS,
  );
  let file: Deno.FsFile | undefined;
  try {
    // createNew: never through a link planted under the temp name.
    file = Deno.openSync(temp, { write: true, createNew: true, mode });
    // The umask may have taken bits the mode asked for, or left some the key must not have.
    if (HOST_OS !== "windows") Deno.chmodSync(temp, mode);
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
    file.syncSync();
  } catch (error) {
    file?.close();
    file = undefined;
    try {
      Deno.removeSync(temp);
    } catch {
      // Never made.
    }
    throw writeError(what, path, error);
  }
  file.close();
  return temp;
}

/** Creates the folder of a credential file when missing, private (0700): it will hold a key. */
function ensureFolder(dir: string, what: string, path: string): void {
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return;
    throw writeError(what, path, error);
  }
}

/**
 * Makes `own` and every folder between it and `dir` private (0700) when `dir` lies inside it, and refuses one
 * another user owns (never chmod what is not ours). Tightened, not refused: ~/.kube/credentials-broker holds only
 * the broker's credentials, so 0700 changes nothing a user relies on, while a loose mode there comes from a plain
 * `mkdir -p` under umask 022 or 002, or an older broker, and a refusal would stop every kubectl call over a fix the
 * broker can make with the rights it has (as it does for its lock folder, lib/plugin/lock.ts). Folders chosen with
 * --client-certificate-path elsewhere are the user's, and left as they are.
 */
function makeOwnFoldersPrivate(
  own: string,
  dir: string,
  what: string,
  path: string,
): OpenedFolder[] {
  if (!hasPosixPermissions(HOST_OS)) return [];
  const base = own.replace(/\/+$/, "");
  if (dir !== base && !dir.startsWith(base + "/")) return [];
  const folders = [base];
  for (const part of dir.slice(base.length).split("/").filter((part) => part !== "")) {
    folders.push(joinPath(folders[folders.length - 1]!, part, HOST_OS));
  }
  const uid = Deno.uid();
  const opened: OpenedFolder[] = [];
  for (const folder of folders) {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(folder);
    } catch (error) {
      throw writeError(what, path, error);
    }
    if (uid !== null && info.uid !== null && info.uid !== uid) {
      throw new IssuerError(
        `the broker's credential folder ${folder} belongs to another user (uid ${info.uid}); refusing to write the issued ${what} there`,
        {
          hint:
            `remove or chown that folder, or pass --client-certificate-path and --client-key-path in a folder you own`,
        },
      );
    }
    const mode = info.mode === null ? 0 : info.mode & 0o777;
    if ((mode & 0o077) === 0) continue;
    try {
      Deno.chmodSync(folder, 0o700);
    } catch (error) {
      throw new IssuerError(
        `cannot make the broker's credential folder ${folder} private (chmod 700): ${
          osErrorWords(error)
        }`,
        { cause: error, hint: `run: chmod 700 ${folder}` },
      );
    }
    // Readable only: the key file is 0600 whatever the folder, so only names were visible. Writable: another user
    // could have put files there, which is worth a line.
    if ((mode & 0o022) !== 0) opened.push({ path: folder, mode: "0" + mode.toString(8) });
  }
  return opened;
}

function writeError(what: string, path: string, error: unknown): IssuerError {
  const reason = error instanceof Deno.errors.NotCapable
    ? "permission denied"
    : osErrorWords(error);
  return new IssuerError(`cannot write the issued ${what} ${path}: ${reason}`, {
    cause: error,
    hint:
      "the previous files were left as they were; free space or fix the folder's permissions, then retry",
  });
}

/** The credentials in hand as PEM text for mTLS renewals, from what the plugin read. */
export function currentCredentials(
  certificates: readonly Certificate[],
  key: { label: string; der: Uint8Array },
): CurrentCredentials {
  return {
    certificatePem: certificates.map((certificate) => encodePem("CERTIFICATE", certificate.der))
      .join(""),
    keyPem: encodePem(key.label, key.der),
  };
}
