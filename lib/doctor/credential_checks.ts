/**
 * Doctor's credential checks. The verdict is the plugin's own: `readCredentials` (the same reads, PEM decoding,
 * key parsing, token rules, "empty" rule and leaf matching) and `expiryProblems` (NotBefore, expiry, the refresh
 * margin). Doctor only sorts the plugin's problems into report lines and adds what to do; it never reads or
 * parses a credential file itself.
 */
import type { BeforeExecPolicy } from "../plugin/broker_options.ts";
import {
  type CredentialFile,
  type Credentials,
  expiryProblems,
  type FileReading,
  permissionWarning,
  type Problem,
  type Reading,
} from "../credentials/credentials.ts";
import type { Certificate } from "../credentials/x509.ts";
import { formatTimestamp } from "../shared/duration.ts";
import { HOST_OS } from "../shared/platform.ts";
import { type CheckResult, formatLeft, result } from "./result.ts";

/** How the broker will get new files: decides whether a missing or expired file is fatal right now. */
export interface RenewalContext {
  /** A before-exec command is configured. */
  renewer: boolean;
  /** It has already run during this doctor call (the files were read after the run). */
  ran: boolean;
  marginMs: number;
  /** The broker's --before-exec-policy; "always" when not given, as the plugin's default. */
  policy?: BeforeExecPolicy;
}

/** Every credential check for one reading: certificate and key first, then the token, each when configured. */
export function checkCredentials(
  reading: Reading,
  now: Date,
  renewal: RenewalContext,
): CheckResult[] {
  const files = reading.files;
  return [
    ...(files["client certificate"] || files["client key"]
      ? checkCertificateAndKey(reading, now, renewal)
      : []),
    ...(files.token ? checkToken(reading, now, renewal) : []),
  ];
}

/** The plugin's sentence without its leading "<file> ", since the report line already names the file. */
function detail(problem: Problem): string {
  const prefix = `${problem.about} `;
  return problem.message.startsWith(prefix)
    ? problem.message.slice(prefix.length)
    : problem.message;
}

/**
 * The line for a file the plugin could not use as read (missing, unreadable, empty, malformed), with what to
 * do; a file a before-exec command has yet to write is a warning until it has run.
 */
function fileProblem(
  what: CredentialFile,
  problem: Problem,
  renewal: RenewalContext,
  malformedFix?: string,
): CheckResult {
  const renewLater = renewal.renewer && !renewal.ran;
  const path = problem.path;
  switch (problem.kind) {
    case "missing":
      return renewLater
        ? result(what, "warn", `${path} does not exist yet; the before-exec command must create it`)
        : result(
          what,
          "fail",
          detail(problem),
          renewal.renewer
            ? "the before-exec command ran but did not write it: check where it writes"
            : "create it, or fix the path in exec.args",
        );
    case "empty":
      return renewLater
        ? result(what, "warn", `${detail(problem)}; the before-exec command must fill it`)
        : result(what, "fail", detail(problem));
    case "unreadable":
      return result(
        what,
        "fail",
        detail(problem),
        /permission denied/.test(problem.message)
          ? `make it readable by you: chmod u+r ${path}`
          : /not a regular file|a folder/.test(problem.message)
          ? "point the flag at a regular file"
          : undefined,
      );
    default:
      return result(what, "fail", detail(problem), malformedFix);
  }
}

/** Key and token files should be readable by their owner only; the broker warns on every call otherwise. */
export function checkPermissions(what: CredentialFile, file: FileReading | undefined): CheckResult {
  const name = `${what} permissions`;
  if (file?.mode === undefined || !file.read) {
    return result(name, "skip", "no permissions to check");
  }
  const mode = (file.mode & 0o777).toString(8).padStart(4, "0");
  // The plugin's rule, so doctor warns exactly when every kubectl call does.
  if (permissionWarning(what, file.path, file.mode, HOST_OS)) {
    return result(
      name,
      "warn",
      `${file.path} is mode ${mode}: other users can read it`,
      `chmod 600 ${file.path}`,
    );
  }
  return result(name, "pass", `mode ${mode}`);
}

/** The certificate file, the key file and that they belong together; for the leaf: names and validity. */
export function checkCertificateAndKey(
  reading: Reading,
  now: Date,
  renewal: RenewalContext,
): CheckResult[] {
  const certFile = reading.files["client certificate"];
  const keyFile = reading.files["client key"];
  const about = (what: CredentialFile, kinds: Problem["kind"][]) =>
    reading.problems.find((p) => p.about === what && kinds.includes(p.kind));
  const fileKinds: Problem["kind"][] = ["missing", "unreadable", "empty", "malformed"];
  const certProblem = about("client certificate", fileKinds);
  const keyProblem = about("client key", fileKinds);
  const mismatch = about("client key", ["mismatch"]);
  const out: CheckResult[] = [];
  const certificates = certFile?.certificates;
  const leaf = shownLeaf(reading);
  if (certProblem) {
    out.push(fileProblem(
      "client certificate",
      certProblem,
      renewal,
      "check what writes the file: it must hold PEM certificates, the client certificate first",
    ));
  } else if (certFile && certificates && leaf) {
    // Names and dates are public parts of a certificate (the server sees them on every handshake).
    out.push(result(
      "client certificate",
      "pass",
      `${certFile.path}: subject ${leaf.subject || "(empty)"}, issuer ${leaf.issuer || "(empty)"}${
        certificates.length > 1 ? `, ${certificates.length - 1} more in the chain` : ""
      }`,
    ));
    const credentials: Credentials = { certificate: { path: certFile.path, chain: [leaf] } };
    out.push(checkExpiry("certificate expiry", credentials, leaf.notAfter, now, renewal));
  }
  if (keyProblem) out.push(fileProblem("client key", keyProblem, renewal));
  else if (keyFile?.keyType) {
    out.push(result("client key", "pass", `${keyFile.path}: ${keyFile.keyType}`));
  }
  if (keyFile?.read) out.push(checkPermissions("client key", keyFile));
  if (mismatch) {
    out.push(result(
      "key matches certificate",
      "fail",
      detail(mismatch),
      "the certificate and key come from different renewals: renew both together",
    ));
  } else if (reading.credentials.key && certificates && leaf) {
    const index = certificates.indexOf(leaf);
    out.push(result(
      "key matches certificate",
      "pass",
      `${reading.credentials.key.key.type}${
        certificates.length > 1 ? `, certificate ${index + 1} of ${certificates.length}` : ""
      }`,
    ));
  }
  return out;
}

/**
 * The certificate doctor and status describe: the leaf as the plugin chose it (the one matching the key); without
 * a matching key, the file's first certificate.
 */
export function shownLeaf(reading: Reading): Certificate | undefined {
  return reading.credentials.certificate?.chain[0] ??
    reading.files["client certificate"]?.certificates?.[0];
}

/**
 * How long a credential stays valid, by the plugin's own rule (`expiryProblems`: NotBefore and a JWT's nbf,
 * expiry, the refresh margin capped by the lifetime); doctor adds how long ago or how soon, and whether a renewal
 * is there to fix it. `credentials` holds the one credential judged.
 */
export function checkExpiry(
  name: string,
  credentials: Credentials,
  expiry: Date | undefined,
  now: Date,
  renewal: RenewalContext,
): CheckResult {
  const problem = expiryProblems(credentials, now, renewal.marginMs)[0];
  const renewLater = renewal.renewer && !renewal.ran;
  if (problem?.kind === "not-yet-valid") {
    // The plugin renews it when it can, and refuses it otherwise.
    return renewLater
      ? result(name, "warn", `${problem.message}; the before-exec command must renew it`)
      : result(
        name,
        "fail",
        problem.message,
        "compare this machine's clock (date -u) with the issuer's, or renew it",
      );
  }
  if (!expiry) return result(name, "pass", "no expiry");
  const at = formatTimestamp(expiry);
  const left = expiry.getTime() - now.getTime();
  if (problem?.kind === "expired") {
    if (renewLater) {
      return result(
        name,
        "warn",
        `expired at ${at} (${formatLeft(-left)} ago); the before-exec command must renew it`,
      );
    }
    return result(
      name,
      "fail",
      `expired at ${at} (${formatLeft(-left)} ago)`,
      renewal.renewer
        ? "the before-exec command ran but did not renew it: check what it writes and where"
        : "renew it, or set --before-exec-command to renew it automatically",
    );
  }
  if (problem?.kind === "expiring") {
    // As lib/plugin/plugin.ts obtainCredentials decides: under when-invalid a credential inside the margin is
    // refused (once the command has had its chance); under always it is still handed out.
    const refused = renewal.policy === "when-invalid" && !renewLater;
    return result(
      name,
      refused ? "fail" : "warn",
      `${problem.message}, in ${formatLeft(left)}`,
      refused
        ? "with --before-exec-policy=when-invalid the broker refuses it: renew it, or lower --refresh-margin"
        : renewal.renewer
        ? undefined
        : "renew it soon",
    );
  }
  return result(name, "pass", `valid until ${at} (${formatLeft(left)} left)`);
}

/** The token file as the plugin read it, and the expiry of a JWT (never the token itself). */
export function checkToken(reading: Reading, now: Date, renewal: RenewalContext): CheckResult[] {
  const file = reading.files.token;
  if (!file) return [];
  const permissions = file.read ? [checkPermissions("token", file)] : [];
  const problem = reading.problems.find((p) => p.about === "token");
  const token = reading.credentials.token;
  if (problem || !token) {
    if (!problem) return permissions;
    return [
      fileProblem("token", problem, renewal, "the file must hold the token alone on one line"),
      ...permissions,
    ];
  }
  const results = [
    result(
      "token",
      "pass",
      `${file.path}: ${
        token.expiry ? "JWT" : "opaque token, expiry unknown"
      } (${token.value.length} characters)`,
    ),
    ...permissions,
  ];
  if (token.expiry || token.notBefore) {
    results.push(checkExpiry("token expiry", { token }, token.expiry, now, renewal));
  }
  return results;
}
