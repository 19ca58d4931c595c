/**
 * doctor for an issuer user: the driver's checks against the real cfssl (it answers, over trusted TLS, naming the
 * CA), and a failing line with the reason when the issuer is down; without renewing anything. `kubeconfig set` and
 * `doctor` run in-process through the Io seam (the unit tier); cfssl is the real process they talk to.
 */
import assert from "node:assert/strict";
import { runCommand } from "../../lib/commands.ts";
import { findCfssl, startCfssl } from "../../scripts/world/cfssl.ts";
import { fakeIo, tempDir } from "../helpers.ts";

const CFSSL = findCfssl();

/** A subcommand in-process, as main.ts runs it, with exactly `env`: exit code, stdout and stderr. */
async function inProcess(args: string[], options: { env: Record<string, string>; cwd: string }) {
  const io = fakeIo({
    env: { PATH: Deno.env.get("PATH") ?? "", ...options.env },
    cwd: options.cwd,
  });
  const code = await runCommand(args, io);
  return { code, stdout: io.out, stderr: io.err };
}

Deno.test({
  name:
    "doctor checks an --issuer cfssl user: the issuer answers over trusted TLS, or the line says why not" +
    (!CFSSL ? " (ignored: no cfssl here)" : ""),
  ignore: !CFSSL,
  fn: async () => {
    await using tmp = await tempDir();
    const kubeconfig = tmp.join("config");
    const env = { HOME: tmp.path, KUBECONFIG: kubeconfig };
    let cfsslUrl: string;
    {
      await using cfssl = await startCfssl({ dir: tmp.join("cfssl"), tls: true });
      cfsslUrl = cfssl.url;
      const set = await inProcess([
        "kubeconfig",
        "set",
        "--user=alice",
        "--issuer=cfssl",
        `--issuer-url=${cfssl.url}`,
        `--issuer-ca-file=${cfssl.caFile}`,
        "--common-name=alice",
        "--force",
      ], { env, cwd: tmp.path });
      assert.equal(set.code, 0, set.stderr);
      const doctor = await inProcess(["doctor", "--user=alice", "--skip-run", "-o", "json"], {
        env,
        cwd: tmp.path,
      });
      const report = JSON.parse(doctor.stdout) as {
        checks: { check: string; status: string; detail: string }[];
      };
      const line = report.checks.find((check) => check.check === "issuer cfssl: issuer answers");
      assert.ok(line, doctor.stdout);
      assert.equal(line.status, "pass");
      assert.match(
        line.detail,
        /cfssl at https:\/\/127\.0\.0\.1:\d+ answers; it signs as CN=cfssl test CA/,
      );
      const args = report.checks.find((check) => check.check.includes("args"));
      assert.match(
        JSON.stringify(report.checks),
        /from issuer cfssl at https:\/\/127\.0\.0\.1/,
        JSON.stringify(args),
      );
      assert.equal(cfssl.signed(), 0, "doctor --skip-run issues nothing");
    }
    // cfssl gone: the same check fails and says why.
    const down = await inProcess(["doctor", "--user=alice", "--skip-run", "-o", "json"], {
      env,
      cwd: tmp.path,
    });
    assert.equal(down.code, 1);
    const report = JSON.parse(down.stdout) as {
      checks: { check: string; status: string; detail: string }[];
    };
    const line = report.checks.find((check) => check.check.startsWith("issuer cfssl"));
    assert.equal(line?.status, "fail");
    assert.ok(
      line!.detail.includes(`cannot connect to issuer ${cfsslUrl}: connection refused`),
      line!.detail,
    );
  },
});
