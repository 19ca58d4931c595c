/**
 * Commands for tests to hand to `--before-exec-command` (and to anything else that runs a program): small Deno
 * scripts run by the Deno executable, so that the same fixture runs on Linux, macOS and Windows. A script is a list
 * of steps (write a file, sleep, print, fail, spawn a child...), written as a .ts file; `writeCommand` returns the
 * command line that runs it, built by joinCommandLine(), the broker's own quoting rule.
 *
 * Also the e2e world's renewal script: it issues a fresh short-lived client certificate from the world's CA
 * (scripts/world/ca.ts, imported by the script) and logs what it saw on each run for the tests to read.
 */
import { joinCommandLine } from "../../lib/shared/command_line.ts";
import { basename, dirname, HOST_OS, joinPath } from "../../lib/shared/platform.ts";
import type { Ca } from "./ca.ts";

/**
 * What a step writes: literal text, or what the script sees when it runs. `{n}` and `{next}` in texts and paths
 * stand for the counter a `readCounter` step read, and one more; `{env:NAME}` for an environment variable, `{args}`
 * for the arguments, joined by spaces.
 */
export type Value =
  | string
  /** The script's own pid. */
  | { pid: true }
  /** Its parent's pid: the broker that started it. */
  | { ppid: true }
  /** Every argument as `[arg]`, each followed by `separator`. */
  | { argv: string }
  /** The working folder. */
  | { cwd: true }
  /** An environment variable ("" when unset), newlines removed with `oneLine`. */
  | { env: string; oneLine?: boolean }
  /** One line read from stdin ("" at its end), after `prefix`. */
  | { stdinLine: true; prefix?: string };

/** One thing a command does, in order. Paths are absolute. */
export type Step =
  /** Appends the value and a newline. */
  | { append: string; value: Value }
  /** Replaces the file with the value. */
  | { write: string; value: Value }
  | { remove: string }
  /** Prints the value and `end` (a newline unless given). */
  | { print: Value; stream?: "stdout" | "stderr"; end?: string }
  /** Sleeps; with `once`, only when that marker file is missing (and creates it). */
  | { sleepMs: number; once?: string }
  /**
   * Waits until the file exists (a test's signal, not a guess at how long something takes); after `timeoutMs`
   * without it, exits 8, so that a test that never signals fails instead of hanging.
   */
  | { waitFor: string; timeoutMs: number }
  /**
   * Copies a file over another IN PLACE (truncate and write, as `cp` and `cat >` do: the target keeps its inode);
   * `slow` writes it a line at a time, 10 ms apart, so that a reader outside the lock sees half a file.
   */
  | { copy: string; to: string; slow?: boolean }
  | { chmod: string; mode: number }
  /** Ends the script with this exit code. */
  | { exit: number }
  /** Kills itself with SIGKILL. */
  | { killSelf: true }
  /** Ignores SIGTERM from here on (POSIX: Windows has no SIGTERM to ignore). */
  | { ignoreSigterm: true }
  /** Marks a run as going on (a folder made); one that finds it made appends "overlap" to `overlaps`. */
  | { enter: string; overlaps: string }
  /** Ends what `enter` marked. */
  | { leave: string }
  /** Reads the number in a file as `{ n }` (0 when missing). */
  | { readCounter: string }
  /**
   * Starts a child (Deno, sleeping `seconds`) and writes its pid to `pidFile`. It holds the script's stdout with
   * `holdOutput` (a daemon that inherits the pipe); the script waits for it with `wait`, else leaves it running.
   */
  | { spawn: string; seconds: number; holdOutput?: boolean; wait?: boolean }
  /** Runs a module (a file URL): what no step expresses, such as the broker's own code. */
  | { import: string }
  /** Waits for every child `spawn` started without `wait`. */
  | { waitSpawned: true }
  /**
   * Runs `program` (looked up on PATH) with the script's arguments, stdio passed through, and exits with its exit
   * code, as a dispatcher that `exec`s would; with `dropFirst` the first argument must be that word (exit 9
   * otherwise) and is not passed on (kubectl dispatching to a plugin).
   */
  | { exec: string; dropFirst?: string }
  /** Runs the steps only when the file exists (`exists`) or is missing (`missing`). */
  | { if: { exists: string } | { missing: string }; then: Step[] }
  /**
   * Issues a client certificate from the CA (scripts/world/ca.ts) for a fresh EC key, valid from 5 s ago for
   * `lifetimeSeconds`, and moves key and certificate into place.
   */
  | {
    issue: { ca: Ca; certPath: string; keyPath: string; subject: string; lifetimeSeconds: number };
  };

/** A command written by writeCommand(). */
export interface Command {
  /** The script file. */
  path: string;
  /** Program and arguments that run it. */
  argv: string[];
  /** The command line for `--before-exec-command` (joinCommandLine of argv). */
  line: string;
}

const CA_MODULE = new URL("./ca.ts", import.meta.url).href;

/**
 * Writes the steps as `dir/name.ts` and returns how to run it: the Deno executable running the script with all
 * permissions, no config file (so the project's import map and lock file stay out of it) and `args` after it.
 */
export async function writeCommand(
  dir: string,
  name: string,
  steps: readonly Step[],
  args: readonly string[] = [],
): Promise<Command> {
  const path = joinPath(dir, `${name}.ts`, HOST_OS);
  await Deno.writeTextFile(path, scriptText(steps));
  const argv = [Deno.execPath(), "run", "-A", "--no-config", "--quiet", path, ...args];
  return { path, argv, line: joinCommandLine(argv) };
}

/** writeCommand() for code that cannot wait. */
export function writeCommandSync(
  dir: string,
  name: string,
  steps: readonly Step[],
  args: readonly string[] = [],
): Command {
  const path = joinPath(dir, `${name}.ts`, HOST_OS);
  Deno.writeTextFileSync(path, scriptText(steps));
  const argv = [Deno.execPath(), "run", "-A", "--no-config", "--quiet", path, ...args];
  return { path, argv, line: joinCommandLine(argv) };
}

/**
 * Writes the steps as a program named `name` in `dir`, found on PATH by that name (kubectl's exec command, a
 * renewal command given by bare name): on Windows `name.cmd` running `name.ts` with the Deno executable; elsewhere
 * an executable script whose `#!/usr/bin/env -S` line names the Deno executable. Returns the program's path.
 */
export function writeExecutable(
  dir: string,
  name: string,
  steps: readonly Step[],
  options: { config?: string } = {},
): string {
  // A config file gives an `import` step the project's import map; none keeps the script apart from any project.
  const flags = [
    "run",
    "-A",
    ...(options.config ? ["--config", options.config, "--no-lock"] : ["--no-config"]),
    "--quiet",
  ];
  if (HOST_OS === "windows") {
    const script = joinPath(dir, `${name}.ts`, HOST_OS);
    Deno.writeTextFileSync(script, scriptText(steps));
    const path = joinPath(dir, `${name}.cmd`, HOST_OS);
    // cmd.exe reads %* again: the tests' arguments are plain words.
    Deno.writeTextFileSync(
      path,
      `@"${Deno.execPath()}" ${
        flags.map((flag) => /\s/.test(flag) ? `"${flag}"` : flag).join(" ")
      } "${script}" %*\r\n@exit /b %ERRORLEVEL%\r\n`,
    );
    return path;
  }
  // `env -S` splits the line at white space but honours single quotes (GNU and BSD env alike): a project folder
  // such as "My Projects" is quoted.
  const words = [Deno.execPath(), ...flags].map((word) => {
    if (!/[\s'"\\$]/.test(word)) return word;
    if (/['\\]/.test(word)) throw new Error(`cannot name ${word} in a #! line`);
    return `'${word}'`;
  });
  const path = joinPath(dir, name, HOST_OS);
  Deno.writeTextFileSync(
    path,
    `#!/usr/bin/env -S ${words.join(" ")}\n${scriptText(steps)}`,
    { mode: 0o755 },
  );
  Deno.chmodSync(path, 0o755);
  return path;
}

/** The script of the steps: a prelude of helpers, then one statement per step. */
export function scriptText(steps: readonly Step[]): string {
  const issues = hasIssue(steps);
  return [
    "// Written by scripts/world/renewal_script.ts for a test: a command that runs on every OS.",
    ...(issues ? [`import { generateKey, issueCert } from ${JSON.stringify(CA_MODULE)};`] : []),
    PRELUDE,
    ...steps.map(statement),
    "",
  ].join("\n");
}

function hasIssue(steps: readonly Step[]): boolean {
  return steps.some((step) => "issue" in step || ("if" in step && hasIssue(step.then)));
}

const PRELUDE = `
let n = 0;
const spawned = [];
const sub = (text) =>
  text.replaceAll("{n}", String(n)).replaceAll("{next}", String(n + 1))
    .replaceAll("{args}", Deno.args.join(" "))
    .replace(/\{env:(\w+)\}/g, (_, name) => Deno.env.get(name) ?? "");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const exists = (path) => { try { Deno.statSync(sub(path)); return true; } catch { return false; } };
async function stdinLine() {
  const reader = Deno.stdin.readable.getReader();
  const bytes = [];
  for (;;) {
    const { value, done } = await reader.read().catch(() => ({ done: true }));
    if (done) break;
    const end = value.indexOf(10);
    bytes.push(...(end < 0 ? value : value.subarray(0, end)));
    if (end >= 0) break;
  }
  reader.releaseLock();
  return new TextDecoder().decode(new Uint8Array(bytes)).replace(/\\r$/, "");
}
async function value(v) {
  if (typeof v === "string") return sub(v);
  if (v.pid) return String(Deno.pid);
  if (v.ppid) return String(Deno.ppid);
  if (v.argv !== undefined) return Deno.args.map((a) => "[" + a + "]" + v.argv).join("");
  if (v.cwd) return Deno.cwd();
  if (v.env !== undefined) {
    const text = Deno.env.get(v.env) ?? "";
    return v.oneLine ? text.replaceAll("\\n", "") : text;
  }
  if (v.stdinLine) return (v.prefix ?? "") + await stdinLine();
  throw new Error("unknown value " + JSON.stringify(v));
}
async function copyInPlace(from, to, slow) {
  const text = Deno.readTextFileSync(sub(from));
  const file = Deno.openSync(sub(to), { write: true, create: true, truncate: true });
  try {
    const parts = slow ? text.split(/(?<=\\n)/) : [text];
    for (const part of parts) {
      const bytes = new TextEncoder().encode(part);
      for (let done = 0; done < bytes.length;) done += file.writeSync(bytes.subarray(done));
      if (slow) await sleep(10);
    }
  } finally {
    file.close();
  }
}
`;

function statement(step: Step): string {
  const j = JSON.stringify;
  if ("append" in step) {
    return `Deno.writeTextFileSync(sub(${j(step.append)}), await value(${
      j(step.value)
    }) + "\\n", { append: true });`;
  }
  if ("write" in step) {
    return `Deno.writeTextFileSync(sub(${j(step.write)}), await value(${j(step.value)}));`;
  }
  if ("remove" in step) return `Deno.removeSync(sub(${j(step.remove)}), { recursive: true });`;
  if ("print" in step) {
    const stream = step.stream === "stderr" ? "Deno.stderr" : "Deno.stdout";
    return `${stream}.writeSync(new TextEncoder().encode(await value(${j(step.print)}) + ${
      j(step.end ?? "\n")
    }));`;
  }
  if ("sleepMs" in step) {
    if (!step.once) return `await sleep(${step.sleepMs});`;
    return `if (!exists(${j(step.once)})) { Deno.writeTextFileSync(sub(${
      j(step.once)
    }), ""); await sleep(${step.sleepMs}); }`;
  }
  if ("waitFor" in step) {
    return `{ const until = Date.now() + ${step.timeoutMs}; while (!exists(${
      j(step.waitFor)
    })) { if (Date.now() > until) Deno.exit(8); await sleep(20); } }`;
  }
  if ("copy" in step) return `await copyInPlace(${j(step.copy)}, ${j(step.to)}, ${!!step.slow});`;
  if ("chmod" in step) return `Deno.chmodSync(sub(${j(step.chmod)}), ${step.mode});`;
  if ("exit" in step) return `Deno.exit(${step.exit});`;
  if ("killSelf" in step) return `Deno.kill(Deno.pid, "SIGKILL"); await sleep(60_000);`;
  if ("ignoreSigterm" in step) return `Deno.addSignalListener("SIGTERM", () => {});`;
  if ("enter" in step) {
    return `try { Deno.mkdirSync(sub(${j(step.enter)})); } catch { Deno.writeTextFileSync(sub(${
      j(step.overlaps)
    }), "overlap\\n", { append: true }); }`;
  }
  if ("leave" in step) return `Deno.removeSync(sub(${j(step.leave)}));`;
  if ("readCounter" in step) {
    return `try { n = Number(Deno.readTextFileSync(sub(${
      j(step.readCounter)
    })).trim()); } catch { n = 0; }`;
  }
  if ("spawn" in step) {
    const child = `new Deno.Command(Deno.execPath(), { args: ["eval", "--no-config", ${
      j(`setTimeout(() => {}, ${step.seconds * 1000});`)
    }], stdin: "null", stdout: ${
      step.holdOutput ? '"inherit"' : '"null"'
    }, stderr: "null" }).spawn()`;
    return `{ const child = ${child}; Deno.writeTextFileSync(sub(${
      j(step.spawn)
    }), String(child.pid)); ${
      step.wait ? "await child.status;" : "child.unref(); spawned.push(child);"
    } }`;
  }
  if ("exec" in step) {
    const args = step.dropFirst === undefined
      ? "Deno.args"
      : `(Deno.args[0] === ${j(step.dropFirst)} ? Deno.args.slice(1) : Deno.exit(9))`;
    return `Deno.exit((await new Deno.Command(${
      j(step.exec)
    }, { args: ${args} }).spawn().status).code);`;
  }
  if ("import" in step) return `await import(${j(step.import)});`;
  if ("waitSpawned" in step) {
    return "for (const child of spawned) { child.ref(); await child.status; }";
  }
  if ("if" in step) {
    const test = "exists" in step.if
      ? `exists(${j(step.if.exists)})`
      : `!exists(${j(step.if.missing)})`;
    return `if (${test}) {\n${step.then.map(statement).join("\n")}\n}`;
  }
  if ("issue" in step) {
    const { ca, certPath, keyPath, subject, lifetimeSeconds } = step.issue;
    return `{
  const now = Date.now();
  const key = await generateKey(${j(dirname(keyPath, HOST_OS))}, ${
      j(`${basename(keyPath, HOST_OS)}.next`)
    }, "ec");
  const cert = await issueCert({
    dir: ${j(dirname(certPath, HOST_OS))},
    ca: { cert: ${j(ca.certPath)}, key: ${j(ca.keyPath)} },
    keyPath: key,
    out: ${j(`${certPath}.next`)},
    subject: ${j(subject)},
    notBefore: new Date(now - 5000),
    notAfter: new Date(now + ${lifetimeSeconds * 1000}),
    extensions: "client_cert",
  });
  // A record of every certificate issued, as openssl ca's database kept one (<serial>.pem): tests read expiries.
  Deno.copyFileSync(cert, ${
      j(joinPath(dirname(certPath, HOST_OS), "issued-", HOST_OS))
    } + now + ".pem");
  Deno.renameSync(key, ${j(keyPath)});
  Deno.renameSync(cert, ${j(certPath)});
}`;
  }
  throw new Error(`unknown step ${JSON.stringify(step)}`);
}

// ---------------------------------------------------------------------------------------------------------------
// The e2e world's renewal script.

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
  /** The script file. */
  path: string;
  /** Program and arguments that run it. */
  argv: string[];
  /** The command line for --before-exec-command. */
  command: string;
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
 * Writes a renewal command that issues a fresh short-lived client certificate from the CA, replacing cert and key
 * in `dir`, and appends one line per run to `dir/runs` and KUBERNETES_EXEC_INFO to `dir/exec-info.log`.
 */
export async function writeRenewalScript(
  ca: Ca,
  dir: string,
  options: RenewalScriptOptions = {},
): Promise<RenewalScript> {
  await Deno.mkdir(dir, { recursive: true });
  const at = (name: string) => joinPath(dir, name, HOST_OS);
  const organization = options.organization ?? "developers";
  const subject = (organization !== "" ? `/O=${organization}` : "") +
    `/CN=${options.commonName ?? "alice"}`;
  const steps: Step[] = [
    { append: at("runs"), value: { pid: true } },
    // client-go ends KUBERNETES_EXEC_INFO with a newline; keep one line per run.
    { append: at("exec-info.log"), value: { env: "KUBERNETES_EXEC_INFO", oneLine: true } },
    { append: at("marker.log"), value: { env: "E2E_MARKER" } },
    { append: at("cwd.log"), value: { cwd: true } },
    ...(options.failWith === undefined
      ? []
      : [{ print: options.failWith, stream: "stderr" } as const, { exit: 7 }]),
    ...(options.sleepSeconds ? [{ sleepMs: options.sleepSeconds * 1000 }] : []),
    {
      issue: {
        ca,
        certPath: at("client.crt"),
        keyPath: at("client.key"),
        subject,
        lifetimeSeconds: options.lifetimeSeconds ?? 3600,
      },
    },
  ];
  const command = await writeCommand(dir, "renew-certificate", steps);
  return {
    path: command.path,
    argv: command.argv,
    command: command.line,
    dir,
    certPath: at("client.crt"),
    keyPath: at("client.key"),
    async runs() {
      const text = await Deno.readTextFile(at("runs")).catch(() => "");
      return text.split("\n").filter(Boolean).length;
    },
    execInfos: () => readLines(at("exec-info.log")),
    markers: () => readLines(at("marker.log")),
    cwds: () => readLines(at("cwd.log")),
  };
}

async function readLines(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").slice(0, -1);
}
