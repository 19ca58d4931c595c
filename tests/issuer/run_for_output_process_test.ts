/**
 * The process tier of tests/issuer/run_for_output_test.ts: runForOutput() stops a helper at the deadline, a real
 * timeout waited out.
 *
 * Where a test goes: a real timeout waited out belongs here, listed in PROCESS_TESTS (scripts/test.ts); the
 * helper's output and messages are tested in run_for_output_test.ts.
 */
import assert from "node:assert/strict";
import { runForOutput } from "../../lib/plugin/before_exec.ts";
import { tempDir } from "../../scripts/world/temp_dir.ts";

/** Writes `code` as `dir/name.ts`; returns the argv that runs it with the Deno executable. */
async function script(dir: string, name: string, code: string): Promise<string[]> {
  const path = `${dir}/${name}.ts`;
  await Deno.writeTextFile(path, code);
  return [Deno.execPath(), "run", "--quiet", "--no-config", path];
}

Deno.test({
  name: "runForOutput() stops a helper at the deadline" +
    (Deno.build.os === "windows"
      ? " (ignored: stopping a process tree is taskkill /T, which Wine's taskkill lacks)"
      : ""),
  // Stopping a process tree on Windows is taskkill /T, which Wine's taskkill lacks: the Wine pass cannot stop it.
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await using tmp = await tempDir();
    const argv = await script(tmp.path, "slow", `await new Promise((r) => setTimeout(r, 60_000));`);
    const started = Date.now();
    await assert.rejects(
      runForOutput(argv, {
        interactive: false,
        deadline: Date.now() + 1500,
        what: "step token command",
      }),
      /step token command .* did not finish in time/,
    );
    assert.ok(Date.now() - started < 10_000);
  },
});
