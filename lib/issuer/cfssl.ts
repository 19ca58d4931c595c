/**
 * The cfssl driver (cfssl `doc/api`): `POST /api/v1/cfssl/sign` with the CSR, or `authsign` with cfssl's HMAC-SHA256
 * token when --cfssl-auth-key-file names the profile's key; `POST /api/v1/cfssl/info` for doctor. Errors are cfssl's
 * `errors[].message`. Debian's cfssl 1.2 cannot verify an Ed25519 CSR ("algorithm unimplemented").
 */
import { IssuerError } from "../shared/errors.ts";
import { CREDENTIAL_FILE_LIMIT, FileReadError, readRegularFileSync } from "../shared/read_file.ts";
import { decodeText } from "../credentials/der.ts";
import { parsePem } from "../credentials/pem.ts";
import { parseCertificate } from "../credentials/x509.ts";
import { formatTimestamp } from "../shared/duration.ts";
import type {
  CsrMaker,
  Issued,
  IssuerAnswer,
  IssuerCheck,
  IssuerContext,
  IssuerDriver,
  IssuerOptions,
} from "./issuer.ts";

/** cfssl as an IssuerDriver. */
export const cfsslDriver: IssuerDriver = {
  async issue(options: IssuerOptions, csr: CsrMaker, context: IssuerContext): Promise<Issued> {
    const pem = await csr({ commonName: options.commonName, altNames: options.altNames });
    const request: Record<string, unknown> = { certificate_request: pem };
    // `hosts` replaces the CSR's SANs in cfssl; sent only when there are some, so the CSR's stand otherwise.
    if (options.altNames.length > 0) request.hosts = [...options.altNames];
    if (options.cfssl?.profile) request.profile = options.cfssl.profile;
    if (options.cfssl?.label) request.label = options.cfssl.label;
    let path = "/api/v1/cfssl/sign";
    let body: unknown = request;
    if (options.cfssl?.authKeyFile) {
      path = "/api/v1/cfssl/authsign";
      body = await authenticated(request, readAuthKey(options.cfssl.authKeyFile));
    }
    const answer = await context.fetch({ method: "POST", path, body });
    const certificate = (answer.body as { result?: { certificate?: unknown } } | undefined)?.result
      ?.certificate;
    if (
      succeeded(answer) && typeof certificate === "string" && certificate.includes("-----BEGIN")
    ) {
      return { chain: [certificate], key: "new" };
    }
    throw failure(options, answer, path);
  },

  async check(options: IssuerOptions, context: IssuerContext): Promise<IssuerCheck[]> {
    const checks: IssuerCheck[] = [];
    const body: Record<string, string> = {};
    if (options.cfssl?.label) body.label = options.cfssl.label;
    if (options.cfssl?.profile) body.profile = options.cfssl.profile;
    try {
      const answer = await context.fetch({ method: "POST", path: "/api/v1/cfssl/info", body });
      const pem = (answer.body as { result?: { certificate?: unknown } } | undefined)?.result
        ?.certificate;
      if (succeeded(answer) && typeof pem === "string") {
        let detail = `cfssl at ${options.url} answers`;
        try {
          const ca = parseCertificate(parsePem(pem)[0]!.der);
          detail += `; it signs as ${
            ca.issuer === ca.subject ? "" : "intermediate "
          }${ca.subject}, valid until ${formatTimestamp(ca.notAfter)}`;
        } catch {
          // The CA certificate is a nicety here; the answer itself is what counts.
        }
        checks.push({ title: "issuer answers", ok: true, detail });
      } else {
        const error = failure(options, answer, "/api/v1/cfssl/info");
        checks.push({
          title: "issuer answers",
          ok: false,
          detail: error.message,
          hint: error.hint,
        });
      }
    } catch (error) {
      if (!(error instanceof IssuerError)) throw error;
      checks.push({ title: "issuer answers", ok: false, detail: error.message, hint: error.hint });
    }
    if (options.cfssl?.authKeyFile) {
      try {
        readAuthKey(options.cfssl.authKeyFile);
        checks.push({
          title: "authsign key",
          ok: true,
          detail: `--cfssl-auth-key-file ${options.cfssl.authKeyFile} holds a hex key`,
        });
      } catch (error) {
        if (!(error instanceof IssuerError)) throw error;
        checks.push({ title: "authsign key", ok: false, detail: error.message, hint: error.hint });
      }
    }
    if (options.keyType === "ed25519") {
      checks.push({
        title: "key type",
        ok: false,
        detail: "--key-type ed25519: cfssl 1.2 (Debian's) cannot verify Ed25519 CSRs",
        hint: "use --key-type ec-p256 unless your cfssl is 1.6.4 or later",
      });
    }
    return checks;
  },
};

function succeeded(answer: IssuerAnswer): boolean {
  return answer.status >= 200 && answer.status < 300 &&
    (answer.body as { success?: unknown } | undefined)?.success === true;
}

/** cfssl's words (errors[].message), with a hint for the usual causes; a proxy's page by its status only. */
function failure(options: IssuerOptions, answer: IssuerAnswer, path: string): IssuerError {
  const body = answer.body as { errors?: { message?: unknown; code?: unknown }[] } | undefined;
  const messages = Array.isArray(body?.errors)
    ? body!.errors.map((error) => String(error?.message ?? "")).filter((text) => text !== "")
    : [];
  if (body === undefined || typeof body !== "object") {
    return new IssuerError(
      `cfssl at ${options.url} answered HTTP ${answer.status} to ${path}, not cfssl's JSON`,
      { hint: "check --issuer-url: it should be cfssl's API (cfssl serve), not a proxy's page" },
    );
  }
  const said = messages.length > 0 ? messages.join("; ") : "no error message";
  let hint: string | undefined;
  if (options.keyType === "ed25519" && /algorithm unimplemented|unsupported|ed25519/i.test(said)) {
    hint =
      "this cfssl cannot sign Ed25519 keys (cfssl 1.2): use --key-type ec-p256 (or ec-p384, rsa-2048)";
  } else if (/authentication required/i.test(said)) {
    hint = "the profile needs authsign: give its key with --cfssl-auth-key-file";
  } else if (/authenticat|token/i.test(said) && options.cfssl?.authKeyFile) {
    hint =
      `check that --cfssl-auth-key-file ${options.cfssl.authKeyFile} holds the key of profile ${
        options.cfssl.profile ?? "(default)"
      }`;
  } else if (/signature algorithm|algorithm/i.test(said)) {
    hint = "the CA refuses this key type: try --key-type ec-p256 or rsa-2048";
  }
  return new IssuerError(
    `cfssl at ${options.url} refused to sign (HTTP ${answer.status}): ${redact(said)}`,
    { hint },
  );
}

/** Never echo a long base64 run (a token or a request) from an issuer's message. */
function redact(text: string): string {
  return text.replace(/[A-Za-z0-9+/=_-]{40,}/g, "[redacted]").slice(0, 500);
}

/** The HMAC key of --cfssl-auth-key-file, hex as cfssl's config holds it ("key": "..."). */
function readAuthKey(path: string): Uint8Array {
  let text: string;
  try {
    text = decodeText(readRegularFileSync(path, CREDENTIAL_FILE_LIMIT)).trim();
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    throw new IssuerError(`--cfssl-auth-key-file ${path} ${error.message}`, { cause: error });
  }
  if (!/^([0-9a-fA-F]{2})+$/.test(text)) {
    // Never the content: it is a secret, even when malformed.
    throw new IssuerError(`--cfssl-auth-key-file ${path} does not hold a hex key`, {
      hint: "put the profile's auth key in the file as cfssl's config spells it: hex digits only",
    });
  }
  return Uint8Array.fromHex(text);
}

/**
 * cfssl's auth package (`auth.AuthenticatedRequest`): `request` is the sign request's JSON bytes and `token` their
 * HMAC-SHA256 under the key; both are Go []byte, so base64 in JSON.
 */
async function authenticated(
  request: Record<string, unknown>,
  key: Uint8Array,
): Promise<{ token: string; request: string }> {
  const bytes = new TextEncoder().encode(JSON.stringify(request));
  const hmac = await crypto.subtle.importKey(
    "raw",
    key as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const token = new Uint8Array(await crypto.subtle.sign("HMAC", hmac, bytes));
  return { token: token.toBase64(), request: bytes.toBase64() };
}
