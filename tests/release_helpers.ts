/** Temp folders, a fake project and a stand-in `deno compile` for the build, archive and krew tests. */
import { join } from "node:path";
import type { BuildDeps, CompileRequest } from "../scripts/build.ts";
import type { Target } from "../scripts/targets.ts";

import { run as runProcess, tempDir } from "./helpers.ts";

export { tempDir };

/** Writes the files a build reads (deno.json with `version`, main.ts, LICENSE, README.md) into `dir`. */
export async function fakeProject(dir: string, version = "1.2.3"): Promise<void> {
  await Deno.writeTextFile(join(dir, "deno.json"), JSON.stringify({ version }) + "\n");
  await Deno.writeTextFile(join(dir, "main.ts"), 'console.log("broker");\n');
  await Deno.writeTextFile(join(dir, "LICENSE"), "Apache License\nVersion 2.0, January 2004\n");
  await Deno.writeTextFile(join(dir, "README.md"), "# kubectl-credentials-broker\n");
}

/** Build dependencies that never run deno: the bundle is two stub files, the compiler writes a shell script. */
export function standInDeps(
  options: { missing?: readonly string[] } = {},
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
  return (Deno.env.get("PATH") ?? "").split(":").some((dir) => {
    try {
      return Deno.statSync(join(dir, program)).isFile;
    } catch {
      return false;
    }
  });
}
