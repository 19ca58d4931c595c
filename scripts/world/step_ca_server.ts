/**
 * A step-ca (smallstep/certificates) stand-in for tests, written from its `api/` package: `GET /health`,
 * `GET /roots.pem`, `POST /1.0/sign {"csr", "ott"}` checked as a JWK provisioner checks one-time tokens (signature
 * by a provisioner key made at test time, issuer, audience, expiry with step's minute of leeway, single use, the
 * CSR's common name and SANs against `sub`/`sans`), `POST /1.0/renew` and `POST /1.0/rekey {"csr"}` for the
 * client certificate, and step's error shape `{"status", "message"}` with its own messages (errs/error.go). The
 * PKI (root, intermediate, leaves) is made with WebCrypto and @peculiar/x509; the openssl CLI is not used.
 *
 * Deno cannot verify client certificates as a TLS server, so nginx sits in front (`ssl_verify_client
 * optional_no_ca`, the PEM passed on in a header) and the server itself checks that the certificate is one of its
 * own and within its dates. Where real step-ca fails the TLS handshake for a foreign or expired certificate,
 * nginx answers an expired one with its own HTML 400 page, and the stand-in answers a foreign one as if none was
 * presented (400 `missing client certificate`). Without nginx (Windows) it serves TLS itself and only sign works,
 * as step-ca does for a client without a certificate.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { certificatePassingConfig, startNginx } from "./nginx.ts";
import { fileUrlToPath, HOST_OS, joinPath } from "../../lib/shared/platform.ts";
import { encodeNode, TAG } from "../../lib/credentials/der.ts";
import { isRecord } from "../../lib/shared/values.ts";

const EC = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
/** step-ca's default authority backdate (authority/config: 1m): new certificates start a minute early. */
const BACKDATE_MS = 60_000;
/** jose's ValidateWithLeeway(time.Minute) in jwk.go. */
const LEEWAY_MS = 60_000;
const SEE_LOGS = "Please see the certificate authority logs for more info.";
/** errs.UnauthorizedDefaultMsg: every 401 of sign and renew says only this. */
export const UNAUTHORIZED_MESSAGE =
  `The request lacked necessary authorization to be completed. ${SEE_LOGS}`;
/** The tlsOptions step-ca adds to sign/renew answers with its default configuration. */
const TLS_OPTIONS = {
  cipherSuites: [
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
  ],
  minVersion: 1.2,
  maxVersion: 1.3,
  renegotiation: false,
};

export interface StepCaServerOptions {
  /** Where the PKI files and nginx's files go. */
  dir: string;
  /** nginx in front for mTLS (renew, rekey); without it the server serves TLS itself and renew/rekey cannot work. */
  nginxPath?: string;
  /** An existing root to chain to (the e2e world's CA, which its API server's nginx trusts); made here otherwise. */
  root?: { certPath: string; keyPath: string };
  /** The JWK provisioner's name (the tokens' `iss`). */
  provisioner?: string;
  /** Lifetime of a signed certificate when the request names none (step's default: 24h). */
  defaultDurationMs?: number;
  /** The provisioner's minimum and maximum certificate durations (step's defaults: 5m, 24h). */
  minDurationMs?: number;
  maxDurationMs?: number;
}

/** One request as the stand-in saw it; never the token itself. */
export interface StepCaRequest {
  method: string;
  path: string;
  status: number;
  /** The subject of the client certificate nginx passed on, when there was one. */
  clientSubject?: string;
  /** The one-time token's `sub` and `jti`, for /1.0/sign. */
  tokenSubject?: string;
  tokenId?: string;
  /** The subject of the certificate issued. */
  issuedSubject?: string;
  /** The requested notAfter, as sent. */
  notAfter?: string;
}

export interface TokenRequest {
  subject: string;
  /** Defaults to [subject], as `step ca token SUBJECT` does. */
  sans?: string[];
  /** Seconds the token lives (step: 5 minutes). */
  lifetimeSeconds?: number;
  /** A token that expired this many seconds ago (past step's minute of leeway when > 60). */
  expiredSecondsAgo?: number;
  /** Sign with a key the provisioner does not know. */
  foreignKey?: boolean;
  /** Pin the token to a CSR fingerprint (cnf), as `step ca token --cnf-file` does. */
  pinCsr?: boolean;
}

export interface StepCaServer extends AsyncDisposable {
  /** The CA URL clients use (nginx's, or the server's own TLS URL). */
  url: string;
  /** The server's plain HTTP URL, behind nginx: where the token command fixture asks for tokens. */
  upstreamUrl: string;
  /** The root certificate (PEM file): --issuer-ca-file. */
  rootPath: string;
  rootPem: string;
  intermediatePem: string;
  /** Whether renew and rekey can be reached with a client certificate. */
  mtls: boolean;
  provisioner: string;
  /** Every request so far, oldest first. */
  requests: StepCaRequest[];
  /** Every one-time token made so far: what leak checks look for in files and output. */
  issuedTokens: string[];
  /** Answer /1.0/rekey as a step-ca older than rekey does (404 page not found): clients must use /1.0/renew. */
  refuseRekey: boolean;
  /** The provisioner's disableRenewal claim: renew and rekey answer 401. */
  disableRenewal: boolean;
  /** A one-time token as `step ca token` makes it for this CA. */
  token(request: TokenRequest): Promise<string>;
  /** Issues a certificate directly (a state to start from: e.g. one that already expired). */
  issue(options: { subject: string; sans?: string[]; notBefore: Date; notAfter: Date }): Promise<{
    certificatePem: string;
    keyPem: string;
  }>;
}

interface Pki {
  rootCert: x509.X509Certificate;
  intermediateCert: x509.X509Certificate;
  intermediateKey: CryptoKey;
}

/** Starts the stand-in (and nginx in front when given); dispose stops both. */
export async function startStepCa(options: StepCaServerOptions): Promise<StepCaServer> {
  await Deno.mkdir(options.dir, { recursive: true });
  const path = (name: string) => joinPath(options.dir, name, HOST_OS);
  const provisioner = options.provisioner ?? "admin@example.com";
  const defaultMs = options.defaultDurationMs ?? 24 * 3_600_000;
  const minMs = options.minDurationMs ?? 5 * 60_000;
  const maxMs = options.maxDurationMs ?? 24 * 3_600_000;

  const pki = await makePki(options.root);
  const rootPem = pki.rootCert.toString("pem") + "\n";
  const intermediatePem = pki.intermediateCert.toString("pem") + "\n";
  await Deno.writeTextFile(path("root_ca.crt"), rootPem);
  await Deno.writeTextFile(path("intermediate_ca.crt"), intermediatePem);

  // The provisioner's JWK key pair; its public half is what step-ca's ca.json holds.
  const provisionerKeys = await crypto.subtle.generateKey(EC, true, ["sign", "verify"]);
  const foreignKeys = await crypto.subtle.generateKey(EC, true, ["sign", "verify"]);
  const kid = await jwkThumbprint(provisionerKeys.publicKey);
  const usedTokens = new Set<string>();
  const rootFingerprint = toHex(
    new Uint8Array(await crypto.subtle.digest("SHA-256", pki.rootCert.rawData)),
  );

  const serverKeys = await crypto.subtle.generateKey(EC, true, ["sign", "verify"]);
  const now = Date.now();
  const serverCert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: "CN=Step Online CA",
    issuer: pki.intermediateCert.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + 24 * 3_600_000),
    publicKey: serverKeys.publicKey,
    signingKey: pki.intermediateKey,
    signingAlgorithm: EC,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: "ip", value: "127.0.0.1" },
        { type: "dns", value: "localhost" },
      ]),
    ],
  });
  const serverChain = serverCert.toString("pem") + "\n" + intermediatePem;
  const serverKeyPem = pkcs8Pem(
    new Uint8Array(await crypto.subtle.exportKey("pkcs8", serverKeys.privateKey)),
  );
  await Deno.writeTextFile(path("server.crt"), serverChain);
  await Deno.writeTextFile(path("server.key"), serverKeyPem, { mode: 0o600 });

  const state = {
    url: "",
    requests: [] as StepCaRequest[],
    issuedTokens: [] as string[],
    refuseRekey: false,
    disableRenewal: false,
  };

  /** Signs a leaf for `publicKey`, as the softcas does: from the intermediate, with step's default extensions. */
  const signLeaf = async (leaf: {
    subject: string | x509.Name;
    publicKey: x509.PublicKey | CryptoKey;
    notBefore: Date;
    notAfter: Date;
    extensions: x509.Extension[];
  }) =>
    await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: leaf.subject,
      issuer: pki.intermediateCert.subjectName,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      publicKey: leaf.publicKey,
      signingKey: pki.intermediateKey,
      signingAlgorithm: EC,
      extensions: [
        ...leaf.extensions,
        await x509.SubjectKeyIdentifierExtension.create(leaf.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(pki.intermediateCert),
      ],
    });

  const leafExtensions = (sans: readonly string[]) => [
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.ExtendedKeyUsageExtension([
      x509.ExtendedKeyUsage.serverAuth,
      x509.ExtendedKeyUsage.clientAuth,
    ]),
    ...(sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans.map(generalName))] : []),
  ];

  /** A 201 answer as api.SignResponse renders it: crt, ca (the intermediate), certChain leaf first. */
  const signResponse = (leaf: x509.X509Certificate) => {
    const crt = leaf.toString("pem") + "\n";
    return json(201, {
      crt,
      ca: intermediatePem,
      certChain: [crt, intermediatePem],
      tlsOptions: TLS_OPTIONS,
    });
  };

  const makeToken = async (request: TokenRequest): Promise<string> => {
    const issuedAt = Math.floor(Date.now() / 1000);
    const lifetime = request.lifetimeSeconds ?? 300;
    const expires = request.expiredSecondsAgo !== undefined
      ? issuedAt - request.expiredSecondsAgo
      : issuedAt + lifetime;
    const header = { alg: "ES256", kid, typ: "JWT" };
    const claims: Record<string, unknown> = {
      aud: `${state.url}/1.0/sign`,
      exp: expires,
      iat: Math.min(issuedAt, expires - 1),
      iss: provisioner,
      jti: toHex(crypto.getRandomValues(new Uint8Array(32))),
      nbf: Math.min(issuedAt, expires - 1),
      sans: request.sans ?? [request.subject],
      sha: rootFingerprint,
      sub: request.subject,
    };
    if (request.pinCsr) {
      claims.cnf = { "x5rt#S256": toHex(crypto.getRandomValues(new Uint8Array(32))) };
    }
    const signingInput = `${base64url(JSON.stringify(header))}.${
      base64url(JSON.stringify(claims))
    }`;
    const key = request.foreignKey ? foreignKeys.privateKey : provisionerKeys.privateKey;
    const signature = new Uint8Array(
      await crypto.subtle.sign(EC, key, new TextEncoder().encode(signingInput)),
    );
    const token = `${signingInput}.${
      signature.toBase64({ alphabet: "base64url", omitPadding: true })
    }`;
    state.issuedTokens.push(token);
    return token;
  };

  /** jwk.go authorizeToken + authority.authorizeToken: every failure is a bare 401. */
  const authorize = async (
    token: string,
    entry: StepCaRequest,
  ): Promise<{ subject: string; sans: string[]; cnf: boolean } | undefined> => {
    const parts = token.split(".");
    if (parts.length !== 3) return undefined;
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(new TextDecoder().decode(fromBase64url(parts[0]!)));
      claims = JSON.parse(new TextDecoder().decode(fromBase64url(parts[1]!)));
    } catch {
      return undefined;
    }
    if (header.alg !== "ES256" || header.kid !== kid) return undefined;
    const valid = await crypto.subtle.verify(
      EC,
      provisionerKeys.publicKey,
      fromBase64url(parts[2]!),
      new TextEncoder().encode(`${parts[0]}.${parts[1]}`),
    );
    if (!valid) return undefined;
    entry.tokenSubject = typeof claims.sub === "string" ? claims.sub : undefined;
    entry.tokenId = typeof claims.jti === "string" ? claims.jti : undefined;
    const now = Date.now();
    if (claims.iss !== provisioner) return undefined;
    if (typeof claims.exp !== "number" || claims.exp * 1000 + LEEWAY_MS < now) return undefined;
    if (typeof claims.nbf === "number" && claims.nbf * 1000 - LEEWAY_MS > now) return undefined;
    if (!sameAudience(claims.aud, `${state.url}/1.0/sign`)) return undefined;
    if (typeof claims.sub !== "string" || claims.sub === "") return undefined;
    // authority.UseToken: one-time tokens are single use ("token already used").
    const id = typeof claims.jti === "string" ? claims.jti : token;
    if (usedTokens.has(id)) return undefined;
    usedTokens.add(id);
    const sans = Array.isArray(claims.sans) && claims.sans.length > 0
      ? claims.sans.filter((s): s is string => typeof s === "string")
      : [claims.sub];
    return { subject: claims.sub, sans, cnf: claims.cnf !== undefined };
  };

  const sign = async (request: Request, entry: StepCaRequest): Promise<Response> => {
    const body = await readJson(request);
    if (!body) return badRequest("error decoding json");
    const csr = parseCsr(body.csr);
    if (csr === "invalid") return badRequest("error decoding json");
    if (!csr) return badRequest("missing csr");
    if (!(await csr.verify())) return badRequest("invalid csr");
    if (typeof body.ott !== "string" || body.ott === "") return badRequest("missing ott");
    const claims = await authorize(body.ott, entry);
    if (!claims) return json(401, { status: 401, message: UNAUTHORIZED_MESSAGE });
    // The JWK provisioner's validators, in jwk.go's order.
    const names = csrNames(csr);
    if (names.commonName && ![claims.subject, ...claims.sans].includes(names.commonName)) {
      return forbidden(
        `certificate request does not contain the valid common name - got ${names.commonName}, want ${
          goList([claims.subject, ...claims.sans])
        }`,
      );
    }
    if (claims.cnf) return forbidden(`certificate request fingerprint does not match`);
    const wanted = splitSans(claims.sans);
    for (const [kind, label] of SAN_KINDS) {
      if (names[kind].length > 0 && !sameSet(names[kind], wanted[kind])) {
        return forbidden(
          `certificate request does not contain the valid ${label} - got ${
            goList(names[kind])
          }, want ${goList(wanted[kind])}`,
        );
      }
    }
    let notAfterMs = Date.now() + defaultMs;
    if (typeof body.notAfter === "string" && body.notAfter !== "") {
      entry.notAfter = body.notAfter;
      const parsed = parseTimeDuration(body.notAfter);
      if (parsed === undefined) return badRequest("error decoding json");
      notAfterMs = parsed;
    }
    const notBefore = new Date(Date.now() - BACKDATE_MS);
    const duration = notAfterMs - Date.now();
    if (notAfterMs < Date.now()) {
      return badRequest(`notAfter cannot be in the past; na=${new Date(notAfterMs)}`);
    }
    if (duration < minMs) {
      return forbidden(
        `requested duration of ${
          goDuration(duration)
        } is less than the authorized minimum certificate duration of ${goDuration(minMs)}`,
      );
    }
    if (duration > maxMs + BACKDATE_MS) {
      return forbidden(
        `requested duration of ${
          goDuration(duration + BACKDATE_MS)
        } is more than the authorized maximum certificate duration of ${
          goDuration(maxMs + BACKDATE_MS)
        }`,
      );
    }
    // The default leaf template: subject and SANs come from the token, only the key from the CSR.
    const leaf = await signLeaf({
      subject: `CN=${escapeDn(claims.subject)}`,
      publicKey: csr.publicKey,
      notBefore,
      notAfter: new Date(notAfterMs),
      extensions: [...leafExtensions(claims.sans), provisionerExtension(provisioner, kid)],
    });
    entry.issuedSubject = leaf.subject;
    return signResponse(leaf);
  };

  /** The client certificate nginx passed on, if it is one of ours and within its dates (the TLS layer's check). */
  const peerCertificate = async (
    request: Request,
    entry: StepCaRequest,
  ): Promise<x509.X509Certificate | undefined> => {
    const escaped = request.headers.get("x-client-certificate");
    if (!escaped) return undefined;
    let cert: x509.X509Certificate;
    try {
      cert = new x509.X509Certificate(decodeURIComponent(escaped));
    } catch {
      return undefined;
    }
    entry.clientSubject = cert.subject;
    const now = new Date();
    if (cert.notBefore > now || cert.notAfter < now) return undefined;
    if (cert.issuer !== pki.intermediateCert.subject) return undefined;
    const ours = await cert.verify({
      publicKey: pki.intermediateCert.publicKey,
      signatureOnly: true,
    })
      .catch(() => false);
    return ours ? cert : undefined;
  };

  /** authority.renewContext: the old certificate's subject, SANs and extensions, a new window of the same length. */
  const renew = async (
    old: x509.X509Certificate,
    publicKey: x509.PublicKey | undefined,
  ): Promise<x509.X509Certificate> => {
    const duration = old.notAfter.getTime() - old.notBefore.getTime();
    const lifetime = duration - BACKDATE_MS;
    const dropped = new Set([
      "2.5.29.35", // authorityKeyIdentifier
      "2.5.29.14", // subjectKeyIdentifier
    ]);
    return await signLeaf({
      subject: old.subjectName,
      publicKey: publicKey ?? old.publicKey,
      notBefore: new Date(Date.now() - BACKDATE_MS),
      notAfter: new Date(Date.now() + lifetime),
      extensions: old.extensions.filter((ext) => !dropped.has(ext.type)),
    });
  };

  const handle = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const entry: StepCaRequest = { method: request.method, path: url.pathname, status: 0 };
    let response: Response;
    try {
      response = await route(request, url, entry);
    } catch (error) {
      console.error(error);
      response = json(500, {
        status: 500,
        message: `The certificate authority encountered an Internal Server Error. ${SEE_LOGS}`,
      });
    }
    entry.status = response.status;
    if (url.pathname !== "/test/token") state.requests.push(entry);
    return response;
  };

  const route = async (request: Request, url: URL, entry: StepCaRequest): Promise<Response> => {
    // step-ca serves its API both at / and at /1.0 (ca/ca.go).
    const path = url.pathname.replace(/^\/1\.0(?=\/)/, "");
    const method = request.method;
    if (method === "POST" && url.pathname === "/test/token") {
      const body = await readJson(request) as TokenRequest | undefined;
      if (!body || typeof body.subject !== "string") {
        return new Response("bad token request", { status: 400 });
      }
      return new Response(await makeToken(body) + "\n");
    }
    if (method === "GET" && path === "/health") return json(200, { status: "ok" });
    if (method === "GET" && path === "/roots.pem") {
      return new Response(rootPem, { headers: { "content-type": "application/x-pem-file" } });
    }
    if (method === "GET" && path === "/provisioners") {
      // api.Provisioners: the public list, claims included (disableRenewal when set).
      const jwk = await crypto.subtle.exportKey("jwk", provisionerKeys.publicKey);
      return json(200, {
        provisioners: [{
          type: "JWK",
          name: provisioner,
          key: { use: "sig", kty: jwk.kty, kid, crv: jwk.crv, alg: "ES256", x: jwk.x, y: jwk.y },
          ...(state.disableRenewal ? { claims: { disableRenewal: true } } : {}),
        }],
        nextCursor: "",
      });
    }
    if (method === "POST" && path === "/sign") return await sign(request, entry);
    if (method === "POST" && (path === "/renew" || path === "/rekey")) {
      if (path === "/rekey" && state.refuseRekey) return notFound();
      const peer = await peerCertificate(request, entry);
      if (!peer) return badRequest("missing client certificate");
      let publicKey: x509.PublicKey | undefined;
      if (path === "/rekey") {
        const body = await readJson(request);
        if (!body) return badRequest("error decoding json");
        const csr = parseCsr(body.csr);
        if (csr === "invalid") return badRequest("error decoding json");
        if (!csr) return badRequest("missing csr");
        if (!(await csr.verify())) return badRequest("invalid csr");
        publicKey = csr.publicKey;
      }
      // DefaultAuthorizeRenew: "renew is disabled for provisioner" is rendered as the bare 401 message.
      if (state.disableRenewal) return json(401, { status: 401, message: UNAUTHORIZED_MESSAGE });
      const next = await renew(peer, publicKey);
      entry.issuedSubject = next.subject;
      return signResponse(next);
    }
    return notFound();
  };

  const issueDirect = async (
    request: { subject: string; sans?: string[]; notBefore: Date; notAfter: Date },
  ) => {
    const keys = await crypto.subtle.generateKey(EC, true, ["sign", "verify"]);
    const leaf = await signLeaf({
      subject: `CN=${escapeDn(request.subject)}`,
      publicKey: keys.publicKey,
      notBefore: request.notBefore,
      notAfter: request.notAfter,
      extensions: leafExtensions(request.sans ?? [request.subject]),
    });
    return {
      certificatePem: leaf.toString("pem") + "\n" + intermediatePem,
      keyPem: pkcs8Pem(new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey))),
    };
  };

  await using stack = new AsyncDisposableStack();
  let url: string;
  let upstreamUrl: string;
  let mtls = false;
  if (options.nginxPath) {
    const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handle);
    stack.defer(() => upstream.shutdown());
    upstreamUrl = `http://127.0.0.1:${upstream.addr.port}`;
    const upstreamPort = upstream.addr.port;
    const nginx = stack.use(
      await startNginx({
        nginxPath: options.nginxPath,
        dir: options.dir,
        config: (port) =>
          certificatePassingConfig(options.dir, port, upstreamPort, `${options.dir}/root_ca.crt`),
      }),
    );
    url = nginx.url;
    mtls = true;
  } else {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: serverChain,
      key: serverKeyPem,
      onListen: () => {},
    }, handle);
    stack.defer(() => server.shutdown());
    url = `https://127.0.0.1:${server.addr.port}`;
    // The fixture asks for tokens over plain HTTP: a second listener on the same handler.
    const plain = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handle);
    stack.defer(() => plain.shutdown());
    upstreamUrl = `http://127.0.0.1:${plain.addr.port}`;
  }
  state.url = url;
  const disposables = stack.move();
  return {
    url,
    upstreamUrl,
    rootPath: path("root_ca.crt"),
    rootPem,
    intermediatePem,
    mtls,
    provisioner,
    requests: state.requests,
    issuedTokens: state.issuedTokens,
    get refuseRekey() {
      return state.refuseRekey;
    },
    set refuseRekey(value: boolean) {
      state.refuseRekey = value;
    },
    get disableRenewal() {
      return state.disableRenewal;
    },
    set disableRenewal(value: boolean) {
      state.disableRenewal = value;
    },
    token: makeToken,
    issue: issueDirect,
    async [Symbol.asyncDispose]() {
      await disposables.disposeAsync();
    },
  };
}

/** The root (made here, or the given one) and an intermediate under it, as `step ca init` lays them out. */
async function makePki(root?: { certPath: string; keyPath: string }): Promise<Pki> {
  const now = Date.now();
  let rootCert: x509.X509Certificate;
  let rootKey: CryptoKey;
  if (root) {
    rootCert = new x509.X509Certificate(await Deno.readTextFile(root.certPath));
    const keyDer = pemBody(await Deno.readTextFile(root.keyPath));
    rootKey = await crypto.subtle.importKey("pkcs8", keyDer, EC, false, ["sign"]);
  } else {
    const keys = await crypto.subtle.generateKey(EC, true, ["sign", "verify"]);
    rootKey = keys.privateKey;
    rootCert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: "CN=Step Test Root CA",
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + 2 * 86_400_000),
      keys,
      signingAlgorithm: EC,
      extensions: [
        new x509.BasicConstraintsExtension(true, 1, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
  }
  const intermediateKeys = await crypto.subtle.generateKey(EC, true, ["sign", "verify"]);
  const intermediateCert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: "CN=Step Test Intermediate CA",
    issuer: rootCert.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + 2 * 86_400_000),
    publicKey: intermediateKeys.publicKey,
    signingKey: rootKey,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(intermediateKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootCert),
    ],
  });
  return { rootCert, intermediateCert, intermediateKey: intermediateKeys.privateKey };
}

/**
 * The provisioner extension step-ca puts in every certificate (OID 1.3.6.1.4.1.37476.9000.64.1, extension.go):
 * SEQUENCE { INTEGER type (1: JWK), OCTET STRING name, OCTET STRING credential id }.
 */
function provisionerExtension(name: string, credentialId: string): x509.Extension {
  const encoder = new TextEncoder();
  const value = encodeNode(
    TAG.sequence,
    encodeNode(TAG.integer, new Uint8Array([1])),
    encodeNode(TAG.octetString, encoder.encode(name)),
    encodeNode(TAG.octetString, encoder.encode(credentialId)),
  );
  return new x509.Extension("1.3.6.1.4.1.37476.9000.64.1", false, value as Uint8Array<ArrayBuffer>);
}

type SanKind = "dns" | "ip" | "email" | "uri";
const SAN_KINDS: [SanKind, string][] = [
  ["dns", "DNS names"],
  ["email", "email addresses"],
  ["ip", "IP addresses"],
  ["uri", "URIs"],
];

/** x509util.SplitSANs: an IP, a URL with a scheme, an address with @, else a DNS name. */
function sanKind(san: string): SanKind {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(san) || (san.includes(":") && /^[0-9a-fA-F:.]+$/.test(san))) {
    return "ip";
  }
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(san)) return "uri";
  if (san.includes("@")) return "email";
  return "dns";
}

function splitSans(sans: readonly string[]): Record<SanKind, string[]> {
  const out: Record<SanKind, string[]> = { dns: [], ip: [], email: [], uri: [] };
  for (const san of sans) out[sanKind(san)].push(san);
  return out;
}

function generalName(san: string): x509.JsonGeneralName {
  const kind = sanKind(san);
  return { type: kind === "uri" ? "url" : kind, value: san };
}

function csrNames(
  csr: x509.Pkcs10CertificateRequest,
): Record<SanKind, string[]> & { commonName?: string } {
  const names: Record<SanKind, string[]> & { commonName?: string } = {
    dns: [],
    ip: [],
    email: [],
    uri: [],
  };
  const cn = csr.subjectName.getField("CN")[0];
  if (cn) names.commonName = cn;
  const raw = csr.getExtension("2.5.29.17");
  const san = raw ? new x509.SubjectAlternativeNameExtension(raw.rawData) : undefined;
  for (const name of san?.names.items ?? []) {
    if (name.type === "dns") names.dns.push(name.value);
    else if (name.type === "ip") names.ip.push(name.value);
    else if (name.type === "email") names.email.push(name.value);
    else if (name.type === "url") names.uri.push(name.value);
  }
  return names;
}

function parseCsr(value: unknown): x509.Pkcs10CertificateRequest | "invalid" | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") return "invalid";
  try {
    return new x509.Pkcs10CertificateRequest(value);
  } catch {
    return "invalid";
  }
}

async function readJson(request: Request): Promise<Record<string, unknown> | undefined> {
  try {
    const value: unknown = JSON.parse(await request.text());
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** render.JSONStatus: json.Encoder output, with its trailing newline. */
function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** errs.BadRequest: the message behind "The request could not be completed: ", with a period. */
function badRequest(message: string): Response {
  return json(400, { status: 400, message: `The request could not be completed: ${message}.` });
}

/** errs.Forbidden: the message behind "The request was forbidden by the certificate authority: ". */
function forbidden(message: string): Response {
  return json(403, {
    status: 403,
    message: `The request was forbidden by the certificate authority: ${message}.`,
  });
}

/** chi's default for a route it does not have (a step-ca older than /rekey): plain text, not step's JSON. */
function notFound(): Response {
  return new Response("404 page not found\n", {
    status: 404,
    headers: { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" },
  });
}

/** provisioner.TimeDuration: an RFC 3339 time, or a Go duration from now. */
function parseTimeDuration(text: string): number | undefined {
  if (/^\d{4}-\d\d-\d\dT/.test(text)) {
    const time = Date.parse(text);
    return Number.isNaN(time) ? undefined : time;
  }
  const match = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/.exec(text);
  if (!match) return undefined;
  const unit = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2]!]!;
  return Date.now() + Number(match[1]) * unit;
}

/** Go's time.Duration String() for whole seconds ("1h0m0s", "5m0s", "30s"). */
function goDuration(ms: number): string {
  let seconds = Math.round(ms / 1000);
  const h = Math.floor(seconds / 3600);
  seconds -= h * 3600;
  const m = Math.floor(seconds / 60);
  seconds -= m * 60;
  if (h > 0) return `${h}h${m}m${seconds}s`;
  if (m > 0) return `${m}m${seconds}s`;
  return `${seconds}s`;
}

/** Go's %v of a []string: "[a b]". */
function goList(items: readonly string[]): string {
  return `[${items.join(" ")}]`;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((item) => right.has(item));
}

/** matchesAudience: equal, or equal once the port is taken out. */
function sameAudience(aud: unknown, want: string): boolean {
  const list = Array.isArray(aud) ? aud : [aud];
  const strip = (text: string) => {
    try {
      const url = new URL(text);
      url.port = "";
      return url.href;
    } catch {
      return text;
    }
  };
  return list.some((item) =>
    typeof item === "string" && (item === want || strip(item) === strip(want))
  );
}

function escapeDn(value: string): string {
  return value.replace(/([,+"\\<>;=])/g, "\\$1");
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0]! &= 0x7f;
  bytes[0]! |= 0x01;
  return toHex(bytes);
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function base64url(text: string): string {
  return new TextEncoder().encode(text).toBase64({ alphabet: "base64url", omitPadding: true });
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.fromBase64(text, { alphabet: "base64url" }) as Uint8Array<ArrayBuffer>;
}

/** RFC 7638 thumbprint of an EC public key: the `kid` step puts in its provisioner tokens. */
async function jwkThumbprint(key: CryptoKey): Promise<string> {
  const jwk = await crypto.subtle.exportKey("jwk", key);
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical)),
  );
  return digest.toBase64({ alphabet: "base64url", omitPadding: true });
}

function pkcs8Pem(der: Uint8Array): string {
  const lines = der.toBase64().match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join("\n")}\n-----END PRIVATE KEY-----\n`;
}

function pemBody(pem: string): Uint8Array<ArrayBuffer> {
  const body = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.fromBase64(body) as Uint8Array<ArrayBuffer>;
}

/** Options of the token command fixture (scripts/world/step_token_command.ts). */
export interface TokenCommandOptions {
  sans?: string[];
  /** Print a token that expired ten minutes ago (past step-ca's minute of leeway). */
  expired?: boolean;
  /** Sign with a key the provisioner does not know. */
  foreignKey?: boolean;
  pinCsr?: boolean;
  /** Append the subject to this file on every run. */
  log?: string;
  /** Keep the first token in this file and print it again on later runs (a used one-time token). */
  reuse?: string;
  /** Fail with this message on stderr, exit 1. */
  fail?: string;
}

/** The token command fixture's argv: the Deno executable running step_token_command.ts against `server`. */
export function stepTokenCommand(
  server: Pick<StepCaServer, "upstreamUrl">,
  subject: string,
  options: TokenCommandOptions = {},
): string[] {
  const script = fileUrlToPath(new URL("./step_token_command.ts", import.meta.url).href, HOST_OS);
  return [
    Deno.execPath(),
    "run",
    "--quiet",
    "--no-config",
    "--no-lock",
    "--allow-net=127.0.0.1",
    ...(options.log || options.reuse
      ? [`--allow-write=${[options.log, options.reuse].filter(Boolean).join(",")}`]
      : []),
    ...(options.reuse ? [`--allow-read=${options.reuse}`] : []),
    script,
    server.upstreamUrl,
    subject,
    ...(options.sans ?? []).flatMap((san) => ["--san", san]),
    ...(options.expired ? ["--expired"] : []),
    ...(options.foreignKey ? ["--foreign-key"] : []),
    ...(options.pinCsr ? ["--pin-csr"] : []),
    ...(options.log ? ["--log", options.log] : []),
    ...(options.reuse ? ["--reuse", options.reuse] : []),
    ...(options.fail !== undefined ? ["--fail", options.fail] : []),
  ];
}
