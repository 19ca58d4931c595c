/**
 * A renewal world that runs on every OS: a bearer token file and a renewal command that is a small Deno script run
 * by the Deno executable (no shell, no openssl). The command records its pid and its runs next to the token, can
 * wait or fail on request, and then writes a fresh JWT.
 */
import { makeJwt } from "../helpers.ts";

const RENEW_SCRIPT = `// Renewal command of tests/plugin/token_world.ts.
const [token, marker, sleepMs, exitCode, hours] = Deno.args;
Deno.writeTextFileSync(marker + ".pid", String(Deno.pid));
Deno.writeTextFileSync(marker + ".runs", "run\\n", { append: true });
if (Number(sleepMs) > 0) await new Promise((resolve) => setTimeout(resolve, Number(sleepMs)));
if (Number(exitCode) !== 0) Deno.exit(Number(exitCode));
const segment = (value) =>
  btoa(JSON.stringify(value)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
const now = Math.floor(Date.now() / 1000);
const claims = { iat: now, exp: now + Math.round(Number(hours) * 3600) };
Deno.writeTextFileSync(token + ".new", segment({ alg: "RS256", typ: "JWT" }) + "." + segment(claims) + ".c2ln");
Deno.renameSync(token + ".new", token);
Deno.writeTextFileSync(marker + ".done", "done\\n", { append: true });
`;

/** Quotes one word for the broker's command line: double quotes, so paths with spaces stay one word. */
const quote = (word: string) => `"${word}"`;

/** The world in `dir`: an expired token in place and the renewal command's line for `--before-exec-command`. */
export function tokenWorld(dir: string) {
  const token = `${dir}/token`;
  const marker = `${dir}/renewal`;
  const script = `${dir}/renew.ts`;
  Deno.writeTextFileSync(script, RENEW_SCRIPT);
  const now = Math.floor(Date.now() / 1000);
  Deno.writeTextFileSync(token, makeJwt({ iat: now - 7200, exp: now - 60 }), { mode: 0o600 });
  const read = (suffix: string) => {
    try {
      return Deno.readTextFileSync(marker + suffix);
    } catch {
      return "";
    }
  };
  return {
    token,
    /** The command line that waits `sleepMs`, exits with `exitCode` if not 0, else writes a JWT for `hours`. */
    command: (options: { sleepMs?: number; exitCode?: number; hours?: number } = {}) =>
      [
        Deno.execPath(),
        "run",
        "--no-config",
        "--allow-all",
        script,
        token,
        marker,
        String(options.sleepMs ?? 0),
        String(options.exitCode ?? 0),
        String(options.hours ?? 2),
      ].map(quote).join(" "),
    /** How often the command started, and how often it got as far as writing the token. */
    runs: () => read(".runs").split("\n").filter(Boolean).length,
    done: () => read(".done").split("\n").filter(Boolean).length,
    /** The pid of the command's last run (0 when it never ran). */
    pid: () => Number(read(".pid")) || 0,
    /** Sets the token to one that expires `minutes` from now (negative: expired) after `lifetimeHours`. */
    setToken(minutes: number, lifetimeHours = 2) {
      const exp = Math.floor(Date.now() / 1000) + Math.round(minutes * 60);
      Deno.writeTextFileSync(token, makeJwt({ iat: exp - lifetimeHours * 3600, exp }));
    },
  };
}

/** Whether process `pid` still runs (POSIX: signal 0; gone or a zombie reaped counts as not running). */
export function processRunning(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}
