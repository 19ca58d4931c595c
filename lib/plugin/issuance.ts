/**
 * The plugin's side of an issuance (--issuer), run under the renewal lock by a foreground call or the background
 * renewal: the deadline from --before-exec-timeout over all of it, the certificate in hand for mTLS renewals, and
 * helper commands run by before_exec.ts, the one module of the plugin that spawns processes. Loaded only when a
 * certificate must be issued.
 */
import type { BrokerOptions } from "./broker_options.ts";
import type { Reading } from "../credentials/credentials.ts";
import { expiryProblems } from "../credentials/credentials.ts";
import type { Io } from "../shared/io.ts";
import { hostHomeDir } from "../shared/platform.ts";
import { currentCredentials, type IssuanceResult, runIssuance } from "../issuer/issue.ts";
import type { CurrentCredentials } from "../issuer/issuer.ts";
import { runForOutput } from "./before_exec.ts";

/** Issues and stores one certificate for `resolved` (paths absolute); throws IssuerError (exit 3) on failure. */
export async function issueUnderLock(
  resolved: BrokerOptions,
  before: Reading | undefined,
  interactive: boolean,
  io: Pick<Io, "env" | "now" | "stderr">,
): Promise<IssuanceResult> {
  const issuer = resolved.issuer!;
  if (issuer.issuer === "vault" && io.env("VAULT_SKIP_VERIFY")) {
    await io.stderr(
      "warning: VAULT_SKIP_VERIFY is not honoured: the broker always verifies Vault's TLS; give the CA with --issuer-ca-file\n",
    );
  }
  const deadline = Date.now() + resolved.beforeExecTimeoutMs;
  return await runIssuance({
    options: issuer,
    paths: { certificatePath: resolved.clientCertificatePath!, keyPath: resolved.clientKeyPath! },
    deadline,
    interactive,
    runForOutput: (argv, options) =>
      runForOutput(argv, { interactive: options.interactive, deadline, what: "helper command" }),
    env: io.env,
    home: () => hostHomeDir(io.env),
    now: io.now,
    stderr: io.stderr,
    current: before && current(before, io.now()),
  });
}

/** The certificate and key in hand when they are a good pair still valid now (inside the margin is fine). */
function current(reading: Reading, now: Date): CurrentCredentials | undefined {
  const { certificate, key } = reading.credentials;
  if (!certificate || !key || reading.problems.some((problem) => problem.about !== "token")) {
    return undefined;
  }
  const timeProblems = expiryProblems(reading.credentials, now, 0)
    .filter((problem) => problem.about === "client certificate");
  if (timeProblems.length > 0) return undefined;
  return currentCredentials(certificate.chain, key.key);
}
