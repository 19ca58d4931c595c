/**
 * A renewal command line given as a bare name, stored by kubeconfig set and found on the broker's PATH as
 * kubectl's exec finds it (on Windows through PATHEXT): the installed broker run as kubectl runs it, with PATH as
 * its environment says, so the process tier (PROCESS_TESTS in scripts/test.ts). The rule itself and the command
 * lines given by path are tested in process in tests/shared/command_line_test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "yaml";
import { pathWith, runBroker, tempDir } from "../helpers.ts";
import { writeExecutable } from "../../scripts/world/renewal_script.ts";

Deno.test("a renewal command line stored by kubeconfig set runs a bare name found on the broker's PATH (PATHEXT on Windows)", async () => {
  await using tmp = await tempDir();
  const token = join(tmp.path, "token");
  const seen = join(tmp.path, "seen.json");
  // A bare name, found on PATH as kubectl's exec finds it: on Windows through PATHEXT (renew-by-name.cmd).
  const bin = join(tmp.path, "bin dir");
  await Deno.mkdir(bin);
  writeExecutable(bin, "renew-by-name", [
    { write: seen, value: { argv: "\n" } },
    { write: token, value: "renewed-token" },
  ]);
  const line = "renew-by-name --role 'dev team'";
  const env = { PATH: pathWith(bin) };
  const kubeconfig = join(tmp.path, "config");
  const set = await runBroker([
    "kubeconfig",
    "set",
    "--kubeconfig",
    kubeconfig,
    "--user",
    "u",
    "--token-path",
    token,
    "--before-exec-command",
    line,
    "--force",
  ], { home: tmp.path, env });
  assert.equal(set.code, 0, set.stderr);
  const config = parse(await Deno.readTextFile(kubeconfig));
  const args: string[] = config.users[0].user.exec.args;
  assert.ok(args.includes(`--before-exec-command=${line}`), JSON.stringify(args));
  const result = await runBroker(args, { home: tmp.path, env });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(JSON.parse(result.stdout).status.token, "renewed-token");
  assert.equal(await Deno.readTextFile(seen), "[--role]\n[dev team]\n");
});
