/**
 * `status` as main.ts runs it, in-process through the Io seam (runCommand with fakeIo): its exit codes with the
 * error on stderr, and how long reading 50 users takes in this process. More of status in-process is
 * tests/status/status_test.ts.
 *
 * Where a test goes: this file and status_test.ts are the unit tier and start no process. What only a process
 * shows (status with no permission to run, write or connect; the state a real detached background renewal left;
 * the whole process's time for 50 users) spawns the broker: tests/status/status_run_process_test.ts, the process
 * tier.
 */
import assert from "node:assert/strict";
import { runCommand } from "../../lib/commands.ts";
import { gatherStatus } from "../../lib/status/status.ts";
import { formatStatusJson } from "../../lib/status/status_report.ts";
import { HOST_OS, isWindows } from "../../lib/shared/platform.ts";
import { fakeIo, tempDir } from "../helpers.ts";
import { inDir, manyUsers } from "./status_fixtures.ts";

/** A subcommand in-process, as main.ts runs it, with exactly `env` (and PATH): exit code, stdout and stderr. */
async function inProcess(args: string[], options: { env: Record<string, string>; cwd: string }) {
  const io = fakeIo({
    env: { PATH: Deno.env.get("PATH") ?? "", ...options.env },
    cwd: options.cwd,
  });
  const code = await runCommand(args, io);
  return { code, stdout: io.out, stderr: io.err };
}

Deno.test("status exits 1 for a kubeconfig it cannot read and 2 for a usage error, with the error on stderr", async (t) => {
  await using tmp = await tempDir();
  const cases: [string, string[], number, RegExp][] = [
    [
      "missing --kubeconfig",
      ["--kubeconfig", inDir(tmp.path, "nope")],
      1,
      /kubeconfig .* does not exist/,
    ],
    ["a folder as kubeconfig", ["--kubeconfig", tmp.path], 1, /is a folder, not a file/],
    ["-o yaml", ["-o", "yaml"], 2, /invalid --output "yaml"/],
  ];
  for (const [name, args, code, message] of cases) {
    await t.step(name, async () => {
      const result = await inProcess(["status", ...args], {
        env: { HOME: tmp.path, USERPROFILE: tmp.path },
        cwd: tmp.path,
      });
      assert.equal(result.code, code, result.stderr);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, "");
    });
  }
});

Deno.test("status reads 50 users well under a second in-process (measured, not asserted: see the test's output)", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const config = await manyUsers(dir, 50);
  const host = {
    env: (name: string) => ({ HOME: dir, PATH: "" })[name],
    cwd: () => dir,
    now: () => new Date(),
  };
  const rounds: number[] = [];
  let report;
  for (let round = 0; round < 5; round++) {
    const start = performance.now();
    report = await gatherStatus({ kubeconfig: config }, host);
    formatStatusJson(report);
    rounds.push(performance.now() - start);
  }
  assert.equal(report!.users.length, 50);
  assert.ok(report!.users.every((u) => u.certificate?.subject === "CN=alice, O=dev"));
  // On a machine others share, the load says how far these figures are from an idle one.
  const load = isWindows(HOST_OS) ? "" : `; load average ${Deno.loadavg()[0]!.toFixed(1)}`;
  console.log(
    `status, 50 users (EC certificate and key, JWT, renew-ahead each): in-process ${
      rounds.map((ms) => ms.toFixed(0)).join(", ")
    } ms (5 rounds, the first cold)${load}; the whole process: tests/status/status_run_process_test.ts`,
  );
});
