/**
 * The plugin's side of an issuance (--issuer), run under the renewal lock by a foreground call or the background
 * renewal: the deadline from --before-exec-timeout over all of it, the certificate in hand for mTLS renewals, and
 * helper commands run by before_exec.ts, the one module of the plugin that spawns processes. Loaded only when a
 * certificate must be issued: the installed bundle keeps it and lib/issuer/ in issuer.js, apart from main.js
 * (scripts/bundle.ts), so its errors cross back as plain data (an error class of issuer.js is not main.js's).
 */
import { type BrokerOptions, ISSUED_CREDENTIALS_DIR } from "./broker_options.ts";
import type { Reading } from "../credentials/credentials.ts";
import { expiryProblems } from "../credentials/credentials.ts";
import type { Io } from "../shared/io.ts";
import { HOST_OS, hostHomeDir, joinPath } from "../shared/platform.ts";
import { currentCredentials, runIssuance } from "../issuer/issue.ts";
import { CliError } from "../shared/errors.ts";
import type { CurrentCredentials } from "../issuer/issuer.ts";
import { runForOutput } from "./before_exec.ts";
import { forgetRunning, type HeldLock, recordRunning } from "./lock.ts";

/** What an issuance came to, as plain data: the leaf's subject and end, or the error's words and exit code. */
export type IssuanceOutcome =
  | { ok: true; subject: string; notAfter: string }
  | { ok: false; message: string; hint?: string; exitCode: number };

/**
 * Issues and stores one certificate for `resolved` (paths absolute), under `lock`: a helper command it runs is
 * recorded in the lock's note while it runs, as a before-exec command is, so that the next holder waits for one
 * left running by a broker that died. A failure the broker explains comes back as an outcome (IssuerError: exit
 * 3); anything else is thrown.
 */
export async function issueUnderLock(
  resolved: BrokerOptions,
  before: Reading | undefined,
  interactive: boolean,
  io: Pick<Io, "env" | "now" | "stderr">,
  lock: HeldLock,
): Promise<IssuanceOutcome> {
  try {
    const { leaf } = await issue(resolved, before, interactive, io, lock);
    return { ok: true, subject: leaf.subject, notAfter: leaf.notAfter.toISOString() };
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    return { ok: false, message: error.message, hint: error.hint, exitCode: error.exitCode };
  }
}

async function issue(
  resolved: BrokerOptions,
  before: Reading | undefined,
  interactive: boolean,
  io: Pick<Io, "env" | "now" | "stderr">,
  lock: HeldLock,
) {
  const issuer = resolved.issuer!;
  if (issuer.issuer === "vault" && io.env("VAULT_SKIP_VERIFY")) {
    await io.stderr(
      "warning: VAULT_SKIP_VERIFY is not honoured: the broker always verifies Vault's TLS; give the CA with --issuer-ca-file\n",
    );
  }
  const deadline = Date.now() + resolved.beforeExecTimeoutMs;
  const home = hostHomeDir(io.env);
  return await runIssuance({
    options: issuer,
    paths: {
      certificatePath: resolved.clientCertificatePath!,
      keyPath: resolved.clientKeyPath!,
      ownFolder: home === undefined
        ? undefined
        : ISSUED_CREDENTIALS_DIR.reduce((dir, name) => joinPath(dir, name, HOST_OS), home),
    },
    deadline,
    interactive,
    runForOutput: async (argv, options) => {
      try {
        return await runForOutput(argv, {
          interactive: options.interactive,
          deadline,
          what: "helper command",
          // The pid, group and times only: never the command line, whose arguments may hold a secret.
          started: (pid, group, startedAt) =>
            recordRunning(lock, { pid, group, startedAt, deadline }),
        });
      } finally {
        forgetRunning(lock);
      }
    },
    env: io.env,
    home: () => home,
    now: io.now,
    stderr: io.stderr,
    current: before && current(before, io.now()),
  });
}

/** The certificate and key in hand when they are a good pair still valid now (inside the margin is fine). */
export function current(reading: Reading, now: Date): CurrentCredentials | undefined {
  const { certificate, key } = reading.credentials;
  if (!certificate || !key || reading.problems.some((problem) => problem.about !== "token")) {
    return undefined;
  }
  const timeProblems = expiryProblems(reading.credentials, now, 0)
    .filter((problem) => problem.about === "client certificate");
  if (timeProblems.length > 0) return undefined;
  return currentCredentials(certificate.chain, key.key);
}
