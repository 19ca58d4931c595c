/**
 * The plugin's side of an issuance, in-process: a helper command it runs (Vault's token_helper, step-ca's
 * --step-token-command) is recorded in the renewal lock's note while it runs, as a before-exec command is, so
 * that the next lock holder waits for one that a killed broker left running; the note holds its pid and times
 * only, never its command line or what it prints, and is cleared when it ends.
 */
import assert from "node:assert/strict";
import { issueUnderLock } from "../../lib/plugin/issuance.ts";
import { acquireLock } from "../../lib/plugin/lock.ts";
import type { BrokerOptions } from "../../lib/plugin/broker_options.ts";
import type { IssuerOptions } from "../../lib/issuer/issuer.ts";
import { tempDir } from "../../scripts/world/temp_dir.ts";
import {
  type Step,
  writeCommandSync,
  writeExecutable,
} from "../../scripts/world/renewal_script.ts";

const WINDOWS = Deno.build.os === "windows";

function options(dir: string, issuer: IssuerOptions): BrokerOptions {
  return {
    beforeExecPolicy: "when-invalid",
    beforeExecTimeoutMs: 60_000,
    refreshMarginMs: 60_000,
    clientCertificatePath: `${dir}/store/client.crt`,
    clientKeyPath: `${dir}/store/client.key`,
    issuer,
  };
}

/** Waits for `path` to exist: the helper's signal that it runs. */
async function fileAppears(path: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      Deno.statSync(path);
      return;
    } catch {
      if (Date.now() > until) throw new Error(`${path} did not appear within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

Deno.test("an issuer's helper command is in the renewal lock's note while it runs: pid, group and times, never its command line", async (t) => {
  const rows: {
    name: string;
    ignore?: string;
    /** The helper's steps given, returns the broker options and env that make the issuance run it. */
    setup: (dir: string, steps: Step[]) => { resolved: BrokerOptions; env: Record<string, string> };
    failure: RegExp;
  }[] = [
    {
      name: "--step-token-command",
      setup: (dir, steps) => {
        const command = writeCommandSync(dir, "token", steps, ["--password=hunter2"]);
        return {
          resolved: options(dir, {
            issuer: "step-ca",
            url: "https://127.0.0.1:9",
            altNames: [],
            keyType: "ec-p256",
            step: { tokenCommand: command.line },
          }),
          env: {},
        };
      },
      failure: /printed no one-time token/,
    },
    {
      name: "vault's token_helper",
      // The helper is a .cmd there: the pid recorded is cmd.exe's, not the script's.
      ignore: WINDOWS ? "the token helper is a .cmd, whose pid is cmd.exe's" : undefined,
      setup: (dir, steps) => {
        const helper = writeExecutable(dir, "token-helper", steps);
        Deno.writeTextFileSync(`${dir}/vault.hcl`, `token_helper = "${helper}"\n`);
        return {
          resolved: options(dir, {
            issuer: "vault",
            url: "http://127.0.0.1:9",
            altNames: [],
            commonName: "alice",
            keyType: "ec-p256",
            vault: { mount: "pki", role: "kubectl", auth: "token", authMount: "cert" },
          }),
          env: { VAULT_CONFIG_PATH: `${dir}/vault.hcl` },
        };
      },
      failure: /no vault token found/,
    },
  ];
  for (const row of rows) {
    await t.step({
      name: row.name + (row.ignore ? ` (ignored: ${row.ignore})` : ""),
      ignore: row.ignore !== undefined,
      fn: async () => {
        await using tmp = await tempDir();
        using lock = await acquireLock({
          dir: tmp.join("cache"),
          name: "renew-x.lock",
          timeoutMs: 0,
        });
        const pidFile = tmp.join("pid");
        const go = tmp.join("go");
        const { resolved, env } = row.setup(tmp.path, [
          { write: pidFile, value: { pid: true } },
          { waitFor: go, timeoutMs: 60_000 },
          // Not a token either CA would take: the issuance then fails without any network.
          { print: "" },
        ]);
        const stderr: string[] = [];
        const issuing = issueUnderLock(resolved, undefined, false, {
          env: (name) => env[name],
          now: () => new Date(),
          stderr: (text) => Promise.resolve(void stderr.push(text)),
        }, lock);
        let note: string;
        try {
          await fileAppears(pidFile);
          note = lock.readNote();
        } finally {
          Deno.writeTextFileSync(go, "");
        }
        const outcome = await issuing;
        assert.equal(outcome.ok, false);
        assert.match(outcome.ok ? "" : outcome.message, row.failure);
        const record = JSON.parse(note);
        assert.deepEqual(Object.keys(record).sort(), ["deadline", "group", "pid", "startedAt"]);
        assert.equal(record.pid, Number(Deno.readTextFileSync(pidFile)));
        assert.equal(
          record.group,
          true,
          "not interactive: a session of its own, stopped as a group",
        );
        assert.ok(record.deadline - record.startedAt <= 60_000 && record.deadline > Date.now());
        assert.doesNotMatch(note, /hunter2|token/);
        assert.equal(lock.readNote(), "", "cleared once the helper has ended");
      },
    });
  }
});
