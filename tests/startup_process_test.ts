/**
 * The plugin's start-up rules (docs/performance.md) that only a real run shows: a call with valid credentials (the
 * hot path) sets no timer, runs no regular expression or toISOString and ends without Deno.exit, watched by a spy
 * loaded before main.ts in a process of its own: the process tier (PROCESS_TESTS in scripts/test.ts), since each
 * case starts the broker from source. The module graph rules are in tests/startup_test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { BROKER_PERMISSIONS } from "../scripts/permissions.ts";
import {
  DENO_DIR,
  generateKey,
  issueCert,
  makeCa,
  makeJwt,
  ROOT,
  run,
  tempDir,
} from "./helpers.ts";

/**
 * Loaded before main.ts: records every setTimeout, setInterval, Deno.exit, regular expression run (test, match,
 * replace, search and split all go through exec once it is replaced) and Date's toISOString (its first call costs
 * about 0.7 ms), and prints them as one stderr line when the process ends (stderr, since the plugin may have given
 * up the right to write files by then).
 */
const SPY = `
const calls = [];
for (const name of ["setTimeout", "setInterval"]) {
  const original = globalThis[name];
  globalThis[name] = (...args) => (calls.push(name), original(...args));
}
const exit = Deno.exit;
Deno.exit = (code) => (calls.push("Deno.exit"), exit(code));
const exec = RegExp.prototype.exec;
RegExp.prototype.exec = function (...args) {
  calls.push("RegExp " + String(this));
  return exec.apply(this, args);
};
const toISOString = Date.prototype.toISOString;
Date.prototype.toISOString = function () {
  calls.push("toISOString");
  return toISOString.call(this);
};
globalThis.addEventListener("unload", () => console.error("startup-spy: " + JSON.stringify(calls)));
`;

Deno.test("start-up rule: a call with valid credentials sets no timer, runs no regular expression and ends without Deno.exit", async (t) => {
  await using tmp = await tempDir();
  const spy = join(tmp.path, "spy.js");
  await Deno.writeTextFile(spy, SPY);
  const ca = await makeCa(tmp.path);
  const key = await generateKey(tmp.path, "client.key", "ec");
  const now = Date.now();
  const cert = await issueCert({
    dir: tmp.path,
    ca,
    keyPath: key,
    out: "client.crt",
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
  });
  const token = join(tmp.path, "token");
  await Deno.writeTextFile(token, makeJwt({ iat: now / 1000 - 60, exp: now / 1000 + 3600 }), {
    mode: 0o600,
  });
  // A renewal command that would fail: a call that ran it would say so.
  const renew = "--before-exec-command=renewal-that-must-not-run";
  const cases: [string, string[]][] = [
    ["certificate and key, when-invalid", [
      `--client-certificate-path=${cert}`,
      `--client-key-path=${key}`,
      "--before-exec-policy=when-invalid",
      renew,
    ]],
    ["token, when-invalid, --renew-ahead outside its window", [
      `--token-path=${token}`,
      "--before-exec-policy=when-invalid",
      "--renew-ahead=10m",
      renew,
    ]],
    ["certificate and key, no command", [
      `--client-certificate-path=${cert}`,
      `--client-key-path=${key}`,
    ]],
  ];
  const watched = (script: string, args: string[]) =>
    run(Deno.execPath(), [
      "run",
      ...BROKER_PERMISSIONS,
      "--preload",
      pathToFileURL(spy).href,
      script,
      ...args,
    ], {
      cwd: tmp.path,
      env: {
        HOME: tmp.path,
        PATH: Deno.env.get("PATH") ?? "",
        DENO_DIR,
        KUBERNETES_EXEC_INFO: JSON.stringify({
          kind: "ExecCredential",
          apiVersion: "client.authentication.k8s.io/v1",
          spec: { interactive: false },
        }),
      },
    });
  await t.step(
    "the spy sees them: a timer, toISOString, a regular expression, a subcommand that exits",
    async () => {
      const script = join(tmp.path, "timer.js");
      await Deno.writeTextFile(script, "setTimeout(() => {}, 1);\n");
      assert.equal((await watched(script, [])).stderr, 'startup-spy: ["setTimeout"]\n');
      const regexp = join(tmp.path, "regexp.js");
      await Deno.writeTextFile(regexp, "if (!/Z/.test(new Date(0).toISOString())) throw 1;\n");
      assert.equal(
        (await watched(regexp, [])).stderr,
        'startup-spy: ["toISOString","RegExp /Z/"]\n',
      );
      const completion = await watched(join(ROOT, "main.ts"), ["completion", "bash"]);
      assert.equal(completion.code, 0, completion.stderr);
      assert.match(completion.stderr, /^startup-spy: \[.*"Deno\.exit"\]\n$/);
    },
  );
  for (const [name, args] of cases) {
    await t.step(name, async () => {
      const result = await watched(join(ROOT, "main.ts"), [
        ...args,
        `--cache-dir=${join(tmp.path, "cache")}`,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(JSON.parse(result.stdout).kind, "ExecCredential");
      // Only the spy's line: no warning, nothing from a renewal.
      assert.equal(result.stderr.replaceAll("\r\n", "\n"), "startup-spy: []\n");
    });
  }
});
