/**
 * runForOutput(), how drivers run a token helper or --step-token-command: its stdout captured (a secret, never in
 * an error), a failure named by program only. Fixtures are Deno scripts (any OS).
 *
 * Where a test goes: one that checks the output or a message runs here, in the unit tier; the deadline, a real
 * timeout waited out, is in run_for_output_process_test.ts (the process tier).
 */
import assert from "node:assert/strict";
import { runForOutput } from "../../lib/plugin/before_exec.ts";
import { CliError, IssuerError } from "../../lib/shared/errors.ts";
import { tempDir } from "../../scripts/world/temp_dir.ts";

async function script(dir: string, name: string, code: string): Promise<string[]> {
  const path = `${dir}/${name}.ts`;
  await Deno.writeTextFile(path, code);
  return [Deno.execPath(), "run", "--quiet", "--no-config", path];
}

Deno.test("runForOutput() returns the helper's stdout", async () => {
  await using tmp = await tempDir();
  const argv = await script(
    tmp.path,
    "ok",
    `console.log("s.token-value"); console.error("a note");`,
  );
  const out = await runForOutput(argv, {
    interactive: false,
    deadline: Date.now() + 20_000,
    what: "token helper",
  });
  assert.equal(out, "s.token-value\n");
});

Deno.test("runForOutput() names the failing helper by program, never its output or arguments", async () => {
  await using tmp = await tempDir();
  const argv = await script(tmp.path, "fail", `console.log("s.secret-value"); Deno.exit(5);`);
  await assert.rejects(
    runForOutput([...argv, "--password=hunter2"], {
      interactive: false,
      deadline: Date.now() + 20_000,
      what: "token helper",
    }),
    (error) => {
      assert.ok(error instanceof IssuerError);
      assert.equal(error.exitCode, 3);
      assert.match(error.message, /token helper .* failed with exit status 5/);
      assert.doesNotMatch(error.message, /secret-value|hunter2/);
      return true;
    },
  );
});

Deno.test("runForOutput() names a helper that is not there", async () => {
  await assert.rejects(
    runForOutput(["no-such-token-helper-xyz"], {
      interactive: false,
      deadline: Date.now() + 5000,
      what: "token helper",
    }),
    /token helper no-such-token-helper-xyz not found on PATH/,
  );
});

Deno.test({
  name:
    "runForOutput() stops a helper whose start cannot be recorded, and that failure is the error, as an IssuerError" +
    (Deno.build.os === "windows"
      ? " (ignored: stopping a process tree is taskkill /T, which Wine's taskkill lacks)"
      : ""),
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await using tmp = await tempDir();
    const argv = await script(tmp.path, "slow", `await new Promise((r) => setTimeout(r, 60_000));`);
    const started = Date.now();
    let pid = 0;
    await assert.rejects(
      runForOutput(argv, {
        interactive: false,
        deadline: Date.now() + 60_000,
        what: "token helper",
        started: (child) => {
          pid = child;
          throw new CliError(
            "cannot write the lock file /c/renew.lock: no space left on the disk",
            {
              hint: "free space on that disk",
            },
          );
        },
      }),
      (error) => {
        assert.ok(error instanceof IssuerError);
        assert.equal(
          error.message,
          "cannot write the lock file /c/renew.lock: no space left on the disk",
        );
        assert.equal(error.hint, "free space on that disk");
        return true;
      },
    );
    assert.ok(pid > 0);
    assert.ok(Date.now() - started < 10_000, "stopped, not waited for");
    assert.throws(() => Deno.kill(pid, "SIGCONT"), Deno.errors.NotFound, "the helper is gone");
  },
});
