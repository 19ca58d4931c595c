/**
 * `kubeconfig set` with issuer flags: every default resolved and stored as an explicit flag, renew-ahead 33% unless
 * told otherwise, storage named after the kubeconfig user, and --env refusing Vault tokens; then the whole command
 * run in-process as main.ts runs it (runCommand), and the plugin run in-process from the exec block it wrote. The
 * spawned broker's own tests are tests/kubeconfig/set_process_test.ts and tests/plugin/plugin_issuer_test.ts.
 */
import assert from "node:assert/strict";
import { parseSetArgs } from "../../lib/kubeconfig/set_flags.ts";
import { UsageError } from "../../lib/shared/errors.ts";
import { runCommand } from "../../lib/commands.ts";
import { fakeIo, tempDir } from "../helpers.ts";
import { callPlugin } from "../plugin/call_plugin.ts";
import { parse as parseYaml } from "yaml";
import { join } from "node:path";
import { freePort } from "../../scripts/world/process.ts";

const io = (env: Record<string, string> = {}) =>
  fakeIo({ env: { HOME: "/home/alice", ...env }, cwd: "/work" });

Deno.test({
  name:
    "kubeconfig set --issuer stores every resolved default, renew-ahead 33% and paths named after the user" +
    (Deno.build.os === "windows" ? " (ignored: the expected paths are POSIX ones)" : ""),
  // The expected paths are POSIX ones (/home/alice, /work); the rule is the same on Windows with its separators.
  ignore: Deno.build.os === "windows",
  fn: () => {
    const request = parseSetArgs(
      ["--issuer=vault", "--common-name=alice", "--vault-role=dev", "--user=prod-alice"],
      io({
        VAULT_ADDR: "https://vault.example.com:8200",
        VAULT_CACERT: "ca.pem",
        VAULT_NAMESPACE: "team",
      }),
    );
    assert.deepEqual(request.exec.args, [
      "--client-certificate-path=/home/alice/.kube/credentials-broker/prod-alice/client.crt",
      "--client-key-path=/home/alice/.kube/credentials-broker/prod-alice/client.key",
      "--renew-ahead=33%",
      "--issuer=vault",
      "--issuer-url=https://vault.example.com:8200",
      // Relative, as VAULT_CACERT may be: taken from where kubeconfig set runs, since kubectl's folder changes.
      "--issuer-ca-file=/work/ca.pem",
      "--common-name=alice",
      "--vault-role=dev",
      "--vault-namespace=team",
    ]);
    // The broker creates the files: no warning that nobody will.
    assert.equal(request.beforeExecCommand, true);
  },
});

Deno.test("kubeconfig set --issuer: an explicit --renew-ahead wins, and off turns it off", () => {
  const base = ["--issuer=cfssl", "--issuer-url=https://ca:8888", "--common-name=alice"];
  const ten = parseSetArgs([...base, "--renew-ahead=10m"], io());
  assert.ok((ten.exec.args as string[]).includes("--renew-ahead=10m"));
  const off = parseSetArgs([...base, "--renew-ahead=off"], io());
  assert.ok(!(off.exec.args as string[]).some((arg) => arg.startsWith("--renew-ahead")));
  assert.throws(() => parseSetArgs(["--token-path=t", "--renew-ahead=off"], io()), UsageError);
});

Deno.test("kubeconfig set --env refuses VAULT_TOKEN and BAO_TOKEN, pointing at the token file and helper", async (t) => {
  for (const name of ["VAULT_TOKEN", "BAO_TOKEN"]) {
    await t.step(name, () => {
      assert.throws(
        () => parseSetArgs(["--token-path=t", `--env=${name}=s.abcdef123`], io()),
        (error) => {
          assert.ok(error instanceof UsageError);
          assert.match(error.message, new RegExp(`--env ${name} would store a token`));
          assert.doesNotMatch(error.message + error.hint, /s\.abcdef123/);
          assert.match(error.hint!, /~\/\.vault-token/);
          assert.match(error.hint!, /token_helper/);
          return true;
        },
      );
    });
  }
  await t.step(
    "other TOKEN or SECRET names: a warning naming the variable, never its value",
    () => {
      const request = parseSetArgs(
        [
          "--token-path=t",
          "--env=GITHUB_TOKEN=ghp_x",
          "--env=CLIENT_SECRET=y",
          "--env=HTTPS_PROXY=z",
        ],
        io(),
      );
      assert.equal(request.warnings!.length, 2);
      assert.match(request.warnings![0]!, /--env GITHUB_TOKEN looks like a secret/);
      assert.match(request.warnings![1]!, /--env CLIENT_SECRET looks like a secret/);
      assert.doesNotMatch(request.warnings!.join(""), /ghp_x/);
    },
  );
});

Deno.test({
  name: "kubeconfig set --issuer cfssl writes an exec block the plugin accepts as it is",
  fn: async () => {
    await using tmp = await tempDir();
    const kubeconfig = tmp.join("config");
    const port = freePort();
    const setIo = fakeIo({ env: { HOME: tmp.path }, cwd: tmp.path });
    const code = await runCommand([
      "kubeconfig",
      "set",
      `--kubeconfig=${kubeconfig}`,
      "--user=alice",
      "--issuer=cfssl",
      `--issuer-url=https://127.0.0.1:${port}`,
      "--common-name=alice",
      "--alt-names=alice.example.com",
      "--force",
    ], setIo);
    assert.equal(code, 0, setIo.err);
    const text = await Deno.readTextFile(kubeconfig);
    assert.match(text, /--issuer=cfssl/);
    assert.match(text, /--renew-ahead=33%/);

    assert.doesNotMatch(setIo.err, /does not exist, and no --before-exec-command/);
    // The plugin run with exactly those args: no usage error; it goes to the issuer (nobody there: exit 3).
    const config = parseYaml(text) as { users: { user: { exec: { args: string[] } } }[] };
    assert.ok(
      config.users[0]!.user.exec.args.includes(
        `--client-key-path=${join(tmp.path, ".kube", "credentials-broker", "alice", "client.key")}`,
      ),
      text,
    );
    const plugin = await callPlugin(config.users[0]!.user.exec.args, { home: tmp.path });
    assert.equal(plugin.code, 3, plugin.stderr);
    assert.match(
      plugin.stderr,
      /cannot connect to issuer https:\/\/127\.0\.0\.1:\d+: connection refused/,
    );
  },
});
