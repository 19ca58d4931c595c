/**
 * Permissions that narrow at run time, in process: the table of what each use keeps, the installed shim's flags,
 * and the router and the plugin asking the Io seam to narrow. The revocation as a process meets it (a real
 * operation of each kind after narrowing, a terminal's prompt, each command of the installed broker reporting
 * what Deno says it still holds) is in tests/shared/permissions_process_test.ts (the process tier): the
 * permissions of a process are only seen in a process of its own.
 */
import assert from "node:assert/strict";
import {
  KEPT_PERMISSIONS,
  type PermissionKind,
  type PermissionUse,
  pluginUse,
  revokedKinds,
} from "../../lib/shared/permissions.ts";
import { runCommand } from "../../lib/commands.ts";
import { runPlugin } from "../../lib/plugin/plugin.ts";
import {
  brokerBin,
  clientCredentials,
  fakeIo,
  installedBroker,
  tempDir,
  V1_EXEC_INFO,
} from "../helpers.ts";

Deno.test("each use gives up the kinds it never needs: status and completion read only, kubeconfig set runs and contacts nothing, doctor writes nothing, the plugin contacts only an issuer", async (t) => {
  const cases: [PermissionUse, PermissionKind[]][] = [
    ["status", ["write", "run", "net"]],
    ["completion", ["write", "run", "net"]],
    ["kubeconfig", ["run", "net"]],
    ["doctor", ["write"]],
    ["doctor after issuer checks", ["write", "net"]],
    ["plugin", ["write", "run", "sys", "net"]],
    ["plugin with before-exec command", ["net"]],
    ["plugin with issuer", []],
    ["help", ["read", "write", "run", "sys", "net"]],
    ["version", ["read", "write", "run", "sys", "net"]],
  ];
  assert.deepEqual(cases.map(([use]) => use).sort(), Object.keys(KEPT_PERMISSIONS).sort());
  for (const [use, revoked] of cases) {
    await t.step(`${use} gives up ${revoked.join(", ") || "nothing"}`, () => {
      assert.deepEqual(revokedKinds(use), revoked);
    });
  }
});

Deno.test("the plugin keeps the network only with --issuer, and writing and running only to renew", async (t) => {
  const cases: [string, Parameters<typeof pluginUse>[0], PermissionUse][] = [
    ["files only", {}, "plugin"],
    ["a before-exec command", { beforeExecCommand: "renew" }, "plugin with before-exec command"],
    ["an issuer", { issuer: { issuer: "cfssl" } }, "plugin with issuer"],
  ];
  for (const [name, options, use] of cases) {
    await t.step(name, () => assert.equal(pluginUse(options), use));
  }
});

Deno.test("every line of the installed shim that starts Deno carries --no-prompt", {
  // A compiled binary has its flags baked in (scripts/build.ts, checked by tests/release/build_test.ts).
  ignore: brokerBin() !== undefined,
}, async () => {
  const shim = await Deno.readTextFile(await installedBroker());
  const runs = shim.split(/\r?\n/).filter((line) => /\brun\b.*--allow-read/.test(line));
  assert.ok(runs.length > 0, shim);
  for (const line of runs) assert.match(line, /--no-prompt/);
});

Deno.test("in process, the router and the plugin ask the Io seam to narrow, and the test process keeps its rights", async () => {
  await using tmp = await tempDir("ccb perms ");
  const { cert, key } = await clientCredentials(tmp.path);
  const completion = fakeIo();
  assert.equal(await runCommand(["completion", "bash"], completion), 0, completion.err);
  assert.deepEqual(completion.narrowed, ["completion"]);
  const plugin = fakeIo({ env: { HOME: tmp.path, KUBERNETES_EXEC_INFO: V1_EXEC_INFO } });
  const files = [`--client-certificate-path=${cert}`, `--client-key-path=${key}`];
  assert.equal(await runPlugin(files, plugin), 0, plugin.err);
  assert.deepEqual(plugin.narrowed, ["plugin"]);
  // The fake records; the real revocation is for processes of their own (the tests above).
  assert.equal(Deno.permissions.querySync({ name: "net" }).state, "granted");
});
