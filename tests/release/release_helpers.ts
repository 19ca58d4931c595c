/** Temp folders, a fake project and a stand-in `deno compile` for the build, archive and krew tests. */
import { join } from "node:path";
import type { BuildDeps, CompileRequest } from "../../scripts/build.ts";
import { bundleBroker } from "../../scripts/bundle.ts";
import { executableProbe, HOST_OS, lookPath } from "../../lib/shared/platform.ts";
import type { Target } from "../../scripts/targets.ts";

import { run as runProcess, tempDir } from "../helpers.ts";

export { tempDir };

/**
 * Writes the files a build reads (deno.json with `version`, main.ts, LICENSE, README.md, docs/) into `dir`; the
 * README links into docs/ and to the LICENSE, as the real one does.
 */
export async function fakeProject(dir: string, version = "1.2.3"): Promise<void> {
  await Deno.writeTextFile(join(dir, "deno.json"), JSON.stringify({ version }) + "\n");
  await Deno.writeTextFile(join(dir, "main.ts"), 'console.log("broker");\n');
  await Deno.writeTextFile(join(dir, "LICENSE"), "Apache License\nVersion 2.0, January 2004\n");
  await Deno.writeTextFile(
    join(dir, "README.md"),
    "# kubectl-credentials-broker\n\n[renewal](docs/renewal.md), [issuers](docs/issuers.md#vault), " +
      "[license](LICENSE)\n",
  );
  await Deno.mkdir(join(dir, "docs"), { recursive: true });
  await Deno.writeTextFile(join(dir, "docs", "renewal.md"), "# Renewal\n\n[back](../README.md)\n");
  await Deno.writeTextFile(join(dir, "docs", "issuers.md"), "# Issuers\n\n## Vault\n");
}

/**
 * What a binary compiled with `args` does when started, as `deno run` words: compile's flags minus those only
 * compile takes (the runtime flags, permissions and entry point are baked in and apply at every start).
 */
export function runArgsOf(args: readonly string[]): string[] {
  if (args[0] !== "compile") throw new Error(`not a deno compile argv: ${args.join(" ")}`);
  const words = ["run"];
  for (let i = 1; i < args.length; i++) {
    if (["--target", "--output", "--include"].includes(args[i]!)) i++;
    else words.push(args[i]!);
  }
  return words;
}

/**
 * Build dependencies that never run deno compile: the bundle is two stub files and the compiler writes a shell
 * script that echoes its target; with `real`, the bundle is the real one and the "binary" runs it with exactly
 * the flags `deno compile` was given (runArgsOf), so it behaves as the compiled broker would.
 */
export function standInDeps(
  options: { missing?: readonly string[]; real?: boolean } = {},
): BuildDeps & { calls: string[]; requests: CompileRequest[]; lines: string[] } {
  const calls: string[] = [];
  const requests: CompileRequest[] = [];
  const lines: string[] = [];
  return {
    calls,
    requests,
    lines,
    typeCheck(projectDir) {
      calls.push(`typeCheck ${projectDir}`);
      return Promise.resolve();
    },
    async bundle(projectDir, outDir) {
      calls.push(`bundle ${projectDir}`);
      if (options.real) return await bundleBroker(projectDir, outDir);
      await Deno.mkdir(outDir, { recursive: true });
      await Deno.writeTextFile(join(outDir, "main.js"), 'console.log("broker");\n');
      await Deno.writeTextFile(join(outDir, "commands.js"), "export {};\n");
    },
    findRuntime(target: Target) {
      calls.push(`findRuntime ${target.triple}`);
      if (options.missing?.includes(target.triple)) return Promise.resolve(undefined);
      return Promise.resolve({
        source: "cache" as const,
        location: `/cache/denort-${target.triple}.zip`,
        env: { DENORT_BIN: undefined },
      });
    },
    runtimeSources: () => "and nothing else offers it",
    async compile(request) {
      calls.push(`compile ${request.target.triple}`);
      requests.push(request);
      if (options.real) {
        // deno compile embeds the bundle, and the build then removes it: keep a copy beside dist/.
        const bundle = join(request.args.at(-1)!, "..");
        const kept = join(bundle, "..", "..", `stand-in-${request.target.triple}`);
        await Deno.mkdir(kept, { recursive: true });
        for (const name of ["main.js", "commands.js"]) {
          await Deno.copyFile(join(bundle, name), join(kept, name));
        }
        const args = [...runArgsOf(request.args).slice(0, -1), join(kept, "main.js")];
        const words = [Deno.execPath(), ...args].map((w) => `'${w}'`);
        await Deno.writeTextFile(request.output, `#!/bin/sh\nexec ${words.join(" ")} "$@"\n`);
        return;
      }
      await Deno.writeTextFile(
        request.output,
        `#!/bin/sh\necho "stand-in broker for ${request.target.triple}"\n`,
      );
    },
    log: (line) => void lines.push(line),
  };
}

/** Runs a command with `env` added to this process's environment (the build reads DENORT_BIN, TZ, PATH). */
export function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; stdin?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return runProcess(command, args, { ...options, inheritEnv: true });
}

/** Unpacks a .tar.gz or .zip with the system's tar or unzip (what users and krew-like tools meet). */
export async function unpack(archive: string, into: string): Promise<void> {
  await Deno.mkdir(into, { recursive: true });
  const result = archive.endsWith(".zip")
    ? await run("unzip", ["-q", archive, "-d", into])
    : await run("tar", ["-xzf", archive, "-C", into]);
  if (result.code !== 0) throw new Error(`unpacking ${archive} failed: ${result.stderr}`);
}

/** Whether a program is on PATH, to skip tests that need a shell this machine lacks. */
export function onPath(program: string): boolean {
  const env = (name: string) => Deno.env.get(name);
  return !lookPath(program, Deno.cwd(), HOST_OS, env, executableProbe).problem;
}
