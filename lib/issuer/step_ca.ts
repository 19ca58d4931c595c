/**
 * step-ca (smallstep/certificates) as the broker's issuer. While the current certificate is valid it renews over
 * mTLS with no token and no person: `POST /1.0/rekey {"csr"}` (a new key), or `POST /1.0/renew` (same key) where the
 * CA has no rekey. The first certificate, and one that can no longer renew (expired, or the provisioner refuses),
 * need a one-time token from --step-token-command (`step ca token alice@example.com`): its `sub` and `sans` become
 * the CSR's subject and SANs, since the JWK provisioner accepts exactly those, and `POST /1.0/sign {"csr", "ott"}`
 * answers 201 `{"crt", "ca", "certChain"}`. Errors are step-ca's `{"status", "message"}` (api/render, errs/).
 */
import { CliError, IssuerError } from "../shared/errors.ts";
import { splitCommandLine } from "../shared/command_line.ts";
import { isRecord } from "../shared/values.ts";
import { decodePem } from "../credentials/pem.ts";
import { parseCertificate } from "../credentials/x509.ts";
import { children, contents, decodeText, expect, oid, readRoot, TAG } from "../credentials/der.ts";
import type {
  CsrMaker,
  CurrentCredentials,
  Issued,
  IssuerAnswer,
  IssuerCheck,
  IssuerContext,
  IssuerDriver,
  IssuerOptions,
} from "./issuer.ts";

/** The one-time token's claims the broker reads (unverified: the CA verifies the signature). */
export interface OneTimeTokenClaims {
  subject: string;
  sans: string[];
  expiresAt?: Date;
  /** The origin of the token's audience (`https://ca.example.com` of `.../1.0/sign`): the CA it was made for. */
  audienceOrigin?: string;
  /** `cnf` pins the token to one CSR's fingerprint, which a CSR made here can never match. */
  pinnedCsr: boolean;
}

/**
 * Statuses with which a step-ca (or the proxy in front) says it has no rekey: 404 from a CA older than rekey
 * (added in 2020: chi answers `404 page not found`), 405 from a proxy, 501 from a CAS that cannot renew.
 */
const NO_REKEY = new Set([404, 405, 501]);

/**
 * Statuses that refuse renewal over mTLS for this certificate: 401 `renew is disabled for provisioner`, a revoked
 * or expired certificate (authority/provisioner/controller.go), 403 a policy, 400 `missing client certificate`
 * (a proxy that ends TLS) or a registration-authority CA that renews only with a token; 404/405/501 no endpoint.
 */
const RENEWAL_REFUSED = new Set([400, 401, 403, 404, 405, 501]);

/** step-ca's driver: see the module comment. */
export const stepCaDriver: IssuerDriver = {
  async issue(options, csr, context) {
    if (context.current) {
      const renewed = await renewOverMtls(options, csr, context, context.current);
      if (renewed) return renewed;
    }
    return await signWithToken(options, csr, context);
  },
  check,
};

/**
 * Rekey (or renew) with the certificate in hand; undefined when the CA refuses this certificate a renewal, so the
 * caller falls back to a one-time token.
 */
async function renewOverMtls(
  options: IssuerOptions,
  csr: CsrMaker,
  context: IssuerContext,
  current: CurrentCredentials,
): Promise<Issued | undefined> {
  // The CA copies subject and SANs from the current certificate (authority/tls.go renewContext) and takes only
  // the CSR's public key; the CSR names the same subject so that it reads right in a CA's log.
  const commonName = currentCommonName(current);
  const request = await csr({ ...(commonName ? { commonName } : {}), altNames: [] });
  const rekey = await context.fetch({
    method: "POST",
    path: "/1.0/rekey",
    body: { csr: request },
    clientCertificate: current,
  });
  if (rekey.status === 201) return { chain: chainOf(rekey, options, "/1.0/rekey"), key: "new" };
  let refusal: IssuerAnswer = rekey;
  let path = "/1.0/rekey";
  if (NO_REKEY.has(rekey.status)) {
    // Same certificate again for the same key: what `step ca renew` does without --rekey.
    const renew = await context.fetch({
      method: "POST",
      path: "/1.0/renew",
      clientCertificate: current,
    });
    if (renew.status === 201) {
      return { chain: chainOf(renew, options, "/1.0/renew"), key: "current" };
    }
    refusal = renew;
    path = "/1.0/renew";
  }
  if (!RENEWAL_REFUSED.has(refusal.status)) throw answerError(options, path, refusal);
  if (!options.step?.tokenCommand) {
    throw new IssuerError(
      `${
        describeAnswer(options, path, refusal)
      }, and no --step-token-command is given for a one-time token`,
      {
        hint:
          "the provisioner may disable renewal or the certificate may be revoked: add --step-token-command 'step ca token SUBJECT' so the broker can sign a new one",
      },
    );
  }
  await context.stderr(
    `note: ${describeAnswer(options, path, refusal)}; ` +
      "asking --step-token-command for a one-time token\n",
  );
  return undefined;
}

/** The first certificate (or one after renewal became impossible): a one-time token, then `/1.0/sign`. */
async function signWithToken(
  options: IssuerOptions,
  csr: CsrMaker,
  context: IssuerContext,
): Promise<Issued> {
  const token = await oneTimeToken(options, context);
  const claims = readOneTimeToken(token);
  if (claims.pinnedCsr) {
    throw new IssuerError(
      "the one-time token from --step-token-command is bound to another CSR (its cnf claim), which the broker's own key cannot match",
      { hint: "make the token without --cnf options: the broker makes the key and the CSR itself" },
    );
  }
  const request = await csr({ commonName: claims.subject, altNames: claims.sans });
  const body: Record<string, string> = { csr: request, ott: token };
  // A duration, not a date: the CA adds it to its own clock (provisioner.TimeDuration), so skew does not matter.
  if (options.ttlMs !== undefined) {
    body.notAfter = `${Math.max(1, Math.round(options.ttlMs / 1000))}s`;
  }
  const answer = await context.fetch({ method: "POST", path: "/1.0/sign", body });
  if (answer.status === 201) return { chain: chainOf(answer, options, "/1.0/sign"), key: "new" };
  throw answerError(options, "/1.0/sign", answer, {
    url: options.url,
    token,
    claims,
    now: context.now(),
  });
}

/** Runs --step-token-command (with the terminal when kubectl handed it over) and finds the token it printed. */
async function oneTimeToken(options: IssuerOptions, context: IssuerContext): Promise<string> {
  const line = options.step?.tokenCommand;
  if (!line) {
    throw new IssuerError(
      `step-ca at ${options.url} needs a one-time token for a new certificate, and no --step-token-command is given`,
      {
        hint:
          "add --step-token-command 'step ca token SUBJECT' (the first certificate, and one that expired, need a person or a provisioner key)",
      },
    );
  }
  let argv: string[];
  try {
    argv = splitCommandLine(line, context.home());
  } catch (error) {
    const reason = error instanceof CliError
      ? error.message.replace(/^before-exec command /, "")
      : "";
    throw new IssuerError(`--step-token-command cannot be read: ${reason || "malformed"}`, {
      cause: error,
      hint:
        "quote it as a POSIX shell would, e.g. --step-token-command 'step ca token alice@example.com'",
    });
  }
  if (argv.length === 0) throw new IssuerError("--step-token-command is empty");
  const output = await context.runForOutput(argv, { interactive: context.interactive });
  const tokens = output.split(/\r?\n/).map((text) => text.trim()).filter(isJwtShaped);
  if (tokens.length !== 1) {
    // Never the output itself: it may hold a token in a shape we did not expect.
    throw new IssuerError(
      tokens.length === 0
        ? `--step-token-command (${argv[0]}) printed no one-time token (a JWT) on stdout`
        : `--step-token-command (${argv[0]}) printed ${tokens.length} tokens on stdout, not one`,
      { hint: "it must print the one token alone on stdout, as `step ca token SUBJECT` does" },
    );
  }
  return tokens[0]!;
}

function isJwtShaped(text: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(text);
}

/**
 * The subject and SANs the token allows, read without verifying it (the CA does). A JWK provisioner wants the CSR's
 * SANs to be exactly the token's `sans` (defaultSANsValidator) and its common name to be `sub` or one of them; a
 * token without `sans` stands for `[sub]` (jwk.go, for older step CLIs); an OIDC token has `email` instead.
 */
export function readOneTimeToken(token: string): OneTimeTokenClaims {
  const claims = decodeClaims(token);
  if (!claims || typeof claims.sub !== "string" || claims.sub === "") {
    throw new IssuerError(
      "the one-time token from --step-token-command has no subject (sub claim): it is not a step-ca token",
      { hint: "check the command prints `step ca token SUBJECT`'s output" },
    );
  }
  const listed = Array.isArray(claims.sans)
    ? claims.sans.filter((san) => typeof san === "string")
    : [];
  const sans = listed.length > 0
    ? listed
    : typeof claims.email === "string" && claims.email !== ""
    ? [claims.email]
    : [claims.sub];
  const cnf = claims.cnf;
  return {
    subject: claims.sub,
    sans,
    ...(typeof claims.exp === "number" ? { expiresAt: new Date(claims.exp * 1000) } : {}),
    ...audienceOf(claims.aud),
    pinnedCsr: typeof cnf === "object" && cnf !== null && "x5rt#S256" in cnf,
  };
}

function audienceOf(aud: unknown): { audienceOrigin?: string } {
  const first = Array.isArray(aud) ? aud[0] : aud;
  if (typeof first !== "string") return {};
  try {
    return { audienceOrigin: new URL(first).origin };
  } catch {
    return {};
  }
}

function decodeClaims(token: string): Record<string, unknown> | undefined {
  const payload = token.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const bytes = Uint8Array.fromBase64(payload, { alphabet: "base64url" });
    const value: unknown = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The common name of the current certificate, to name in the rekey CSR. */
function currentCommonName(current: CurrentCredentials): string | undefined {
  const block = decodePem(current.certificatePem).blocks.find((b) => b.label === "CERTIFICATE");
  if (!block) return undefined;
  try {
    return /(?:^|, )CN=([^,]*)/.exec(parseCertificate(block.der).subject)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * The PEM chain of a 201 answer, leaf first: `certChain` is already [leaf, intermediates...] (authority/tls.go
 * appends the CAS's chain to the new certificate); a CA older than `certChain` sends only `crt` and `ca`.
 */
function chainOf(answer: IssuerAnswer, options: IssuerOptions, path: string): string[] {
  const body = answer.body as { crt?: unknown; ca?: unknown; certChain?: unknown } | undefined;
  const pem = (value: unknown): value is string =>
    typeof value === "string" && value.includes("-----BEGIN CERTIFICATE-----");
  const listed = Array.isArray(body?.certChain) ? body.certChain.filter(pem) : [];
  const crt = pem(body?.crt) ? body.crt : undefined;
  let chain: string[];
  if (listed.length > 0) {
    chain = crt !== undefined && normalize(listed[0]!) !== normalize(crt)
      ? [crt, ...listed.filter((item) => normalize(item) !== normalize(crt))]
      : listed;
  } else if (crt !== undefined) {
    chain = pem(body?.ca) ? [crt, body.ca] : [crt];
  } else {
    throw new IssuerError(
      `step-ca at ${options.url} answered ${path} with HTTP 201 but no certificate (crt, certChain)`,
      { hint: "check --issuer-url points at step-ca itself, not at a proxy that rewrites answers" },
    );
  }
  return chain.map((item) => normalize(item) + "\n");
}

function normalize(pem: string): string {
  return pem.replace(/\r\n/g, "\n").trim();
}

/** What the broker knows about a refused sign request, to name the likely cause without the token. */
interface SignContext {
  url: string;
  token: string;
  claims: OneTimeTokenClaims;
  now: Date;
}

/** `step-ca at URL refused /1.0/sign (401): message`: the CA's own words on one line, never a token. */
function describeAnswer(
  options: IssuerOptions,
  path: string,
  answer: IssuerAnswer,
  token?: string,
): string {
  const body = answer.body as { status?: unknown; message?: unknown } | undefined;
  if (typeof body?.message !== "string") {
    // An HTML page or plain text of a proxy (or chi's "404 page not found"): its status, not its body.
    return `step-ca at ${options.url} answered ${path} with HTTP ${answer.status} and no step-ca error`;
  }
  return `step-ca at ${options.url} refused ${path} (${answer.status}): ${
    oneLine(body.message, token)
  }`;
}

/** A message on one line, bounded, with anything shaped like a token (or the token itself) taken out. */
function oneLine(message: string, token?: string): string {
  let text = message;
  if (token) text = text.split(token).join("[one-time token]");
  text = text.replace(/[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, "[token]");
  text = text.replace(/\s+/g, " ").trim();
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}

/** An IssuerError for a refusal, with a hint for what step-ca's status means there. */
function answerError(
  options: IssuerOptions,
  path: string,
  answer: IssuerAnswer,
  sign?: SignContext,
): IssuerError {
  const message = describeAnswer(options, path, answer, sign?.token);
  return new IssuerError(message, { hint: hintFor(path, answer.status, sign) });
}

function hintFor(path: string, status: number, sign?: SignContext): string | undefined {
  if (path === "/1.0/sign") {
    if (status === 401) {
      const expired = sign?.claims.expiresAt && sign.claims.expiresAt.getTime() < sign.now.getTime()
        ? ` (this one expired at ${sign.claims.expiresAt.toISOString()})`
        : "";
      const origin = sign?.claims.audienceOrigin;
      const elsewhere = origin !== undefined && origin !== new URL(sign!.url).origin
        ? ` (it was made for ${origin}, not ${new URL(sign!.url).origin}: check step's ca-url)`
        : "";
      return `one-time tokens are single use and live about 5 minutes${expired}: run the token command again, and check it names a provisioner this CA has (step ca provisioner list)${elsewhere}`;
    }
    if (status === 403) {
      return "the provisioner refused what was asked: check the token's subject and SANs, and --ttl against the provisioner's min/max certificate duration";
    }
    if (status === 400) {
      return "step-ca could not read the request: check --issuer-url points at step-ca";
    }
  }
  if (status === 404) {
    return "check --issuer-url: it must be the CA's URL (step's ca-url), without /1.0";
  }
  if (status >= 500) {
    return "step-ca failed: its logs say why (step-ca hides the cause from clients)";
  }
  return undefined;
}

/**
 * doctor's view: the CA answers `GET /health` over TLS it trusts, and whether the next issuance can renew over
 * mTLS (a valid current certificate) or needs a one-time token from --step-token-command.
 */
async function check(options: IssuerOptions, context: IssuerContext): Promise<IssuerCheck[]> {
  const checks: IssuerCheck[] = [];
  const trust = options.caFile
    ? `--issuer-ca-file ${options.caFile}`
    : "the operating system's trust store";
  try {
    const health = await context.fetch({ method: "GET", path: "/health" });
    const status = (health.body as { status?: unknown } | undefined)?.status;
    const ok = health.status === 200 && status === "ok";
    checks.push({
      title: "step-ca answers",
      ok,
      detail: ok
        ? `GET ${options.url}/health: ok`
        : `GET ${options.url}/health answered HTTP ${health.status}${
          typeof status === "string" ? ` (${oneLine(status)})` : ""
        }`,
      ...(ok
        ? {}
        : { hint: "check --issuer-url is step-ca's ca-url (step ca health shows the same)" }),
    });
    if (options.url.startsWith("https:")) {
      checks.push({
        title: "step-ca's TLS is trusted",
        ok: true,
        detail: `trusted through ${trust}`,
      });
    }
  } catch (error) {
    const text = error instanceof CliError ? error.message : "the request failed";
    const tls = /certificate|trust|tls|issuer-ca-file/i.test(text);
    checks.push({
      title: tls ? "step-ca's TLS is trusted" : "step-ca answers",
      ok: false,
      detail: oneLine(text),
      hint: error instanceof CliError && error.hint
        ? error.hint
        : tls
        ? `give the CA's root with --issuer-ca-file (step ca root root.crt), now ${trust}`
        : "check --issuer-url and that step-ca runs",
    });
  }
  const command = options.step?.tokenCommand;
  if (context.current) checks.push(await renewalCheck(options, context, context.current));
  else {
    checks.push({
      title: "step-ca renewal",
      ok: command !== undefined,
      detail: command !== undefined
        ? "no valid current certificate: the next issuance runs --step-token-command for a one-time token"
        : "no valid current certificate and no --step-token-command: the broker cannot get a certificate",
      ...(command !== undefined ? {} : {
        hint:
          "add --step-token-command 'step ca token SUBJECT' (a certificate that expired needs a one-time token again)",
      }),
    });
  }
  return checks;
}

/**
 * Whether the current certificate can renew itself, without renewing it: the provisioner that signed it (step's
 * extension 1.3.6.1.4.1.37476.9000.64.1 names it) must not have `disableRenewal` in its claims, which
 * `GET /1.0/provisioners` lists. A CA-wide claim is not listed there: then the next renewal tells.
 */
async function renewalCheck(
  options: IssuerOptions,
  context: IssuerContext,
  current: CurrentCredentials,
): Promise<IssuerCheck> {
  const notAfter = currentNotAfter(current);
  const until = notAfter ? ` until ${notAfter.toISOString()}` : "";
  const command = options.step?.tokenCommand;
  const name = provisionerOf(current);
  let disabled = false;
  if (name !== undefined) {
    try {
      disabled = await renewalDisabled(context, name);
    } catch {
      // The list is informative only: a CA behind a proxy may not serve it.
    }
  }
  if (disabled) {
    return {
      title: "step-ca renewal",
      ok: command !== undefined,
      detail: `provisioner "${
        oneLine(name ?? "")
      }" disables renewal: every certificate needs a one-time token${
        command !== undefined
          ? " from --step-token-command"
          : ", and no --step-token-command is given"
      }`,
      hint:
        "ask the CA's operator for a provisioner that allows renewal, or keep --step-token-command",
    };
  }
  return {
    title: "step-ca renewal",
    ok: true,
    detail: `the current certificate is valid${until}${
      name !== undefined ? ` (provisioner "${oneLine(name)}")` : ""
    }: the next issuance renews it over mTLS (POST /1.0/rekey), with no token`,
  };
}

/** The provisioner named in step's certificate extension, when the certificate has one. */
function provisionerOf(current: CurrentCredentials): string | undefined {
  const block = decodePem(current.certificatePem).blocks.find((b) => b.label === "CERTIFICATE");
  if (!block) return undefined;
  try {
    const [tbs] = children(expect(readRoot(block.der), TAG.sequence, "certificate"));
    const fields = children(expect(tbs, TAG.sequence, "tbsCertificate"));
    const wrapper = fields.find((field) => field.tag === 0xa3);
    if (!wrapper) return undefined;
    const [extensions] = children(wrapper);
    for (const extension of children(expect(extensions, TAG.sequence, "extensions"))) {
      const parts = children(extension);
      if (oid(parts[0]!) !== STEP_PROVISIONER_OID) continue;
      const value = contents(expect(parts.at(-1), TAG.octetString, "extension value"));
      const [, name] = children(expect(readRoot(value), TAG.sequence, "provisioner"));
      return decodeText(contents(expect(name, TAG.octetString, "provisioner name")));
    }
  } catch {
    // Not a certificate step-ca made: nothing to say about its provisioner.
  }
  return undefined;
}

const STEP_PROVISIONER_OID = "1.3.6.1.4.1.37476.9000.64.1";

/** Whether `GET /1.0/provisioners` lists `name` with the disableRenewal claim (a few pages at most). */
async function renewalDisabled(context: IssuerContext, name: string): Promise<boolean> {
  let cursor = "";
  for (let page = 0; page < 5; page++) {
    const answer = await context.fetch({
      method: "GET",
      path: `/1.0/provisioners?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    });
    if (answer.status !== 200) return false;
    const body = answer.body as { provisioners?: unknown; nextCursor?: unknown } | undefined;
    const list = Array.isArray(body?.provisioners) ? body.provisioners : [];
    for (const item of list) {
      const entry = item as { name?: unknown; claims?: { disableRenewal?: unknown } } | null;
      if (entry?.name === name) return entry.claims?.disableRenewal === true;
    }
    if (typeof body?.nextCursor !== "string" || body.nextCursor === "") return false;
    cursor = body.nextCursor;
  }
  return false;
}

function currentNotAfter(current: CurrentCredentials): Date | undefined {
  const block = decodePem(current.certificatePem).blocks.find((b) => b.label === "CERTIFICATE");
  if (!block) return undefined;
  try {
    return parseCertificate(block.der).notAfter;
  } catch {
    return undefined;
  }
}
