/**
 * doctor's checks of an issuer user (--issuer), end to end without renewing: the driver's own check() (the issuer
 * answers, its TLS is trusted, a token is found and valid, the role exists...), through the same fetch the plugin
 * uses, bounded by doctor's timeout. Loaded only for an issuer user.
 */
import type { BrokerOptions } from "../plugin/broker_options.ts";
import { runForOutput } from "../plugin/before_exec.ts";
import { loadDriver } from "../issuer/issue.ts";
import { makeIssuerFetch } from "../issuer/http.ts";
import { CliError } from "../shared/errors.ts";
import { hostHomeDir } from "../shared/platform.ts";
import { type CheckResult, result } from "./result.ts";
import type { DoctorHost } from "./doctor.ts";

/** One line per finding of the issuer's driver, named "issuer: <title>"; a failure to check at all is one line. */
export async function checkIssuer(
  options: BrokerOptions,
  host: DoctorHost,
  timeoutMs: number,
): Promise<CheckResult[]> {
  const issuer = options.issuer!;
  const name = `issuer ${issuer.issuer}`;
  const deadline = Date.now() + timeoutMs;
  try {
    const driver = await loadDriver(issuer.issuer);
    using fetch = makeIssuerFetch(issuer.url, { caFile: issuer.caFile, deadline });
    const checks = await driver.check(issuer, {
      fetch,
      runForOutput: (argv, run) =>
        runForOutput(argv, { interactive: run.interactive, deadline, what: "helper command" }),
      env: host.env,
      home: () => hostHomeDir(host.env),
      now: host.now,
      deadline,
      interactive: false,
      stderr: () => Promise.resolve(),
    });
    return checks.map((check) =>
      result(`${name}: ${check.title}`, check.ok ? "pass" : "fail", check.detail, check.hint)
    );
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    return [result(name, "fail", error.message, error.hint)];
  }
}
