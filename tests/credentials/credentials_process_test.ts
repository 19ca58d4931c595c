/**
 * The process tier of tests/credentials/credentials_test.ts: the installed plugin (or KUBECTL_CREDENTIALS_BROKER_BIN)
 * spawned as kubectl runs it, killed after 60 s, where a process shows what an in-process call cannot: a FIFO that
 * would hang the reader hangs the broker, not the test run.
 *
 * Where a test goes: one that starts the broker as a process belongs here, listed in PROCESS_TESTS
 * (scripts/test.ts); the credential rules themselves are tested in-process in credentials_test.ts.
 */
import assert from "node:assert/strict";
import {
  clientCredentials,
  installedBroker,
  pluginEnv,
  tempDir,
  writeCommandSync,
} from "../helpers.ts";

/** Why the FIFO tests do not run on Windows. */
const NO_FIFOS = Deno.build.os === "windows"
  ? " (ignored: Windows has no mkfifo, /dev devices or /proc)"
  : "";

/** Runs the installed broker as kubectl does, killed after 60 s so that a hang fails the test. */
async function broker(
  args: string[],
  home: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = pluginEnv(home, {
    KUBERNETES_EXEC_INFO: JSON.stringify({
      kind: "ExecCredential",
      apiVersion: "client.authentication.k8s.io/v1",
      spec: { interactive: false },
    }),
  });
  const result = await new Deno.Command(await installedBroker(), {
    args,
    env,
    clearEnv: true,
    cwd: home,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  assert.equal(result.signal, null, "the broker hung and was killed after 60 s");
  const text = new TextDecoder();
  return {
    code: result.code,
    stdout: text.decode(result.stdout),
    stderr: text.decode(result.stderr),
  };
}

/** A renewal command that counts its runs in `runs` and copies `from` over `to`. */
function renewal(dir: string, from: string, to: string): string {
  return writeCommandSync(dir, "renew", [
    { append: `${dir}/runs`, value: "run" },
    { copy: from, to },
  ]).line;
}

Deno.test({
  name:
    "the plugin refuses a FIFO key at once with one line naming it, even with a renewal command" +
    NO_FIFOS,
  ignore: NO_FIFOS !== "",
}, async () => {
  await using tmp = await tempDir();
  const { cert } = await clientCredentials(tmp.path, { token: null });
  const fifo = `${tmp.path}/client.fifo`;
  assert.equal((await new Deno.Command("mkfifo", { args: [fifo] }).output()).code, 0);
  const result = await broker([
    `--client-certificate-path=${cert}`,
    `--client-key-path=${fifo}`,
    `--before-exec-command=${renewal(tmp.path, cert, `${tmp.path}/unused`)}`,
  ], tmp.path);
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.stdout, "");
  assert.match(
    result.stderr,
    /^error: client key \/.*client\.fifo is a named pipe \(FIFO\), not a regular file, after the before-exec command/m,
  );
});
