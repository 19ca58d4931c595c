/**
 * The user's before-exec command in the e2e world: a POSIX sh script that issues a fresh short-lived client
 * certificate from the world's CA with openssl, and logs what it saw on each run for the tests to read.
 */
import { quoteWord } from "../../lib/shared/command_line.ts";
import { type Ca, caConfig } from "./ca.ts";

export interface RenewalScriptOptions {
  commonName?: string;
  organization?: string;
  /** Lifetime of each issued certificate. */
  lifetimeSeconds?: number;
  /** Make the script fail: it prints this on stderr and exits 7 without issuing anything. */
  failWith?: string;
  /** Seconds the script sleeps before issuing, like a slow CA round trip (a renewal a caller could wait for). */
  sleepSeconds?: number;
}

/** A renewal script and the files it writes: the client certificate and key, a run log, the exec info it saw. */
export interface RenewalScript {
  path: string;
  dir: string;
  certPath: string;
  keyPath: string;
  /** How often the script ran so far. */
  runs(): Promise<number>;
  /** KUBERNETES_EXEC_INFO as the script saw it on each run ("" when it was not set). */
  execInfos(): Promise<string[]>;
  /** $E2E_MARKER as the script saw it on each run (set through the kubeconfig's exec.env). */
  markers(): Promise<string[]>;
  /** The working folder of each run: the broker's, which is the one its client started it in. */
  cwds(): Promise<string[]>;
}

/**
 * Writes a POSIX sh script that issues a fresh short-lived client certificate from the CA with openssl (its own CA
 * database, so renewal scripts of different tests never share an index), replacing cert and key in `dir`, and
 * appends one line per run to `dir/runs` and KUBERNETES_EXEC_INFO to `dir/exec-info.log`.
 */
export async function writeRenewalScript(
  ca: Ca,
  dir: string,
  options: RenewalScriptOptions = {},
): Promise<RenewalScript> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/index.txt`, "");
  await Deno.writeTextFile(`${dir}/ca.cnf`, caConfig({ cert: ca.certPath, key: ca.keyPath }, dir));
  const subject = (options.organization ?? "developers") !== ""
    ? `/O=${options.organization ?? "developers"}/CN=${options.commonName ?? "alice"}`
    : `/CN=${options.commonName ?? "alice"}`;
  const failure = options.failWith === undefined
    ? ""
    : `printf '%s\\n' ${quoteWord(options.failWith)} >&2\nexit 7\n`;
  const script = `#!/bin/sh
# Test renewal script: issues a client certificate valid for ${
    options.lifetimeSeconds ?? 3600
  } s from the e2e CA.
set -eu
dir=${quoteWord(dir)}
echo "$$" >> "$dir/runs"
# client-go ends KUBERNETES_EXEC_INFO with a newline; keep one line per run.
{ printf '%s' "\${KUBERNETES_EXEC_INFO:-}" | tr -d '\\n'; echo; } >> "$dir/exec-info.log"
printf '%s\\n' "\${E2E_MARKER:-}" >> "$dir/marker.log"
pwd >> "$dir/cwd.log"
${failure}${
    options.sleepSeconds ? `sleep ${options.sleepSeconds}\n` : ""
  }stamp() { date -u -d "@$1" +%Y%m%d%H%M%SZ 2>/dev/null || date -u -r "$1" +%Y%m%d%H%M%SZ; }
now=$(date +%s)
start=$(stamp $((now - 5)))
end=$(stamp $((now + ${options.lifetimeSeconds ?? 3600})))
if ! openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/next.key" \\
    -out "$dir/next.csr" -subj ${quoteWord(subject)} 2>"$dir/openssl.log" ||
  ! openssl ca -batch -notext -config "$dir/ca.cnf" -extensions client_cert -in "$dir/next.csr" \\
    -out "$dir/next.crt" -startdate "$start" -enddate "$end" 2>"$dir/openssl.log"; then
  cat "$dir/openssl.log" >&2
  exit 1
fi
mv "$dir/next.key" "$dir/client.key"
mv "$dir/next.crt" "$dir/client.crt"
`;
  const path = `${dir}/renew-certificate.sh`;
  await Deno.writeTextFile(path, script, { mode: 0o755 });
  await Deno.chmod(path, 0o755);
  return {
    path,
    dir,
    certPath: `${dir}/client.crt`,
    keyPath: `${dir}/client.key`,
    async runs() {
      const text = await Deno.readTextFile(`${dir}/runs`).catch(() => "");
      return text.split("\n").filter(Boolean).length;
    },
    execInfos: () => readLines(`${dir}/exec-info.log`),
    markers: () => readLines(`${dir}/marker.log`),
    cwds: () => readLines(`${dir}/cwd.log`),
  };
}

async function readLines(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").slice(0, -1);
}
