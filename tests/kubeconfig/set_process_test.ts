/**
 * `kubeconfig set` where a process is the subject, the process tier (PROCESS_TESTS in scripts/test.ts): the broker
 * spawned with piped stdin, the quoted before-exec command stored by one broker and run by another, a FIFO or a
 * device as kubeconfig with no hang, a real terminal through util-linux `script`, and a real kubectl running while
 * kubeconfig set works (meeting its lock mid-write, a set-context loop, a context added at the prompt). Moved
 * unchanged from set_test.ts, whose in-process tests are the unit tier's; plugin-facing like it: .ci/run runs it
 * again against the installed shim (KUBECTL_CREDENTIALS_BROKER_BIN).
 */
import assert from "node:assert/strict";
import { kubeconfigCommand, kubeconfigSet } from "../../lib/kubeconfig/set.ts";
import { parseSetArgs } from "../../lib/kubeconfig/set_flags.ts";
import { HOST_OS } from "../../lib/shared/platform.ts";
import { DENO_DIR, literal, run, runMain, tempDir, writeCommand } from "../helpers.ts";
import { sourceBrokerCommand } from "../../scripts/world/broker.ts";
import {
  contextNames,
  FOR_KUBECTL,
  from,
  ioFor,
  KUBECONFIG,
  KUBECTL,
  kubectl,
  NO_KUBECTL,
  readUser,
  setup,
  under,
  V1BETA1,
  which,
} from "./set_fixtures.ts";

/** util-linux `script`, which gives a command a terminal (not on Windows). */
const SCRIPT = HOST_OS === "windows" ? undefined : which("script");
const NO_SCRIPT = SCRIPT ? "" : " (ignored: util-linux script is not installed)";

/** The broker from source, as a shell word list for `script -c`. */
function brokerCommand(args: string[]): string {
  return [...sourceBrokerCommand(), ...args].map((word) => `'${word}'`).join(" ");
}

/**
 * The broker from source on a pseudo-terminal (util-linux script). `until` reads the screen until a text has
 * shown `count` times, so answers are typed when the prompt is up, not after a guessed sleep. The terminal's
 * input stays open until the broker has ended: at its end of input script would end the session. A broker that
 * never ends is killed after a minute, so a broken prompt fails the test instead of hanging it.
 */
function onTerminal(script: string, args: string[], home: string) {
  const child = new Deno.Command(script, {
    args: ["-qec", brokerCommand(args), "/dev/null"],
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: home,
      DENO_DIR,
      TERM: "dumb",
      NO_COLOR: "1",
    },
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const guard = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already ended
    }
  }, 60_000);
  const writer = child.stdin.getWriter();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stderr = new Response(child.stderr).text();
  let screen = "";
  return {
    get screen() {
      return screen;
    },
    async until(text: string, count = 1): Promise<void> {
      while (screen.split(text).length - 1 < count) {
        const { value, done } = await reader.read();
        if (done) {
          throw new Error(`the broker ended before ${text} showed ${count} times:\n${screen}`);
        }
        screen += value;
      }
    },
    async type(text: string): Promise<void> {
      await writer.write(new TextEncoder().encode(text));
    },
    /** Reads the screen to its end (the broker has ended), then closes the input; the exit code. */
    async end(): Promise<number> {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        screen += value;
      }
      await writer.close().catch(() => {});
      return (await child.status).code;
    },
    async [Symbol.asyncDispose]() {
      await writer.close().catch(() => {});
      await reader.cancel().catch(() => {});
      try {
        child.kill();
      } catch {
        // already ended
      }
      await child.status;
      await stderr.catch(() => "");
      clearTimeout(guard);
    },
  };
}

Deno.test("kubeconfig set spawned with piped stdin refuses with exit 1 and writes nothing", async () => {
  await using tmp = await tempDir();
  const path = await setup(tmp.path);
  const result = await runMain(["kubeconfig", "set", "--kubeconfig", path, "--token-path=/t"], {
    env: { HOME: tmp.path },
    stdin: "y\n",
  });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /error: not changing .*standard input is not a terminal/);
  assert.equal(await Deno.readTextFile(path), KUBECONFIG);
});

Deno.test("a quoted before-exec command round-trips: the stored args run the same argv", async () => {
  await using tmp = await tempDir();
  const path = await setup(tmp.path);
  const record = `${tmp.path}/argv.txt`;
  const renew = await writeCommand(tmp.path, "renew", [
    { write: record, value: { argv: "\n" } },
    { write: `${tmp.path}/token`, value: "tok-123" },
  ]);
  // A backslash escapes a space on Linux and macOS; on Windows it is a path character, and quotes group words.
  const last = HOST_OS === "windows" ? `"a b"` : "a\\ b";
  const command = `${renew.line} --role 'dev team' "it's" ${last}`;
  const set = await runMain([
    "kubeconfig",
    "set",
    "-f",
    "--kubeconfig",
    path,
    "--token-path=token",
    "--before-exec-command",
    command,
  ], { env: { HOME: tmp.path }, cwd: tmp.path });
  assert.equal(set.code, 0, set.stderr);
  const exec = (await readUser(path, "alice"))!.exec!;
  assert.deepEqual(exec.args, [
    `--token-path=${under(tmp.path, "token")}`,
    `--before-exec-command=${command}`,
  ]);
  // Run the stored args as kubectl would: from another folder, with KUBERNETES_EXEC_INFO.
  await Deno.mkdir(`${tmp.path}/elsewhere`);
  const plugin = await runMain(exec.args, {
    env: {
      HOME: tmp.path,
      KUBERNETES_EXEC_INFO: JSON.stringify({
        kind: "ExecCredential",
        apiVersion: exec.apiVersion,
        spec: { interactive: false },
      }),
    },
    cwd: `${tmp.path}/elsewhere`,
  });
  assert.equal(plugin.code, 0, plugin.stderr);
  assert.equal(await Deno.readTextFile(record), "[--role]\n[dev team]\n[it's]\n[a b]\n");
  const credential = JSON.parse(plugin.stdout);
  assert.equal(credential.apiVersion, V1BETA1);
  assert.equal(credential.status.token, "tok-123");
});

Deno.test({
  name: "kubeconfig set prompts on a real terminal and applies only on y" + NO_SCRIPT,
  ignore: !SCRIPT,
}, async (t) => {
  const script = SCRIPT!;
  const cases = [
    { name: "y", typed: "y\n", applied: true },
    { name: "n", typed: "n\n", applied: false },
    { name: "Ctrl-C", typed: "\x03", applied: false },
  ];
  for (const { name, typed, applied } of cases) {
    await t.step(`answer ${name}`, async () => {
      await using tmp = await tempDir();
      const path = await setup(tmp.path);
      await using terminal = onTerminal(script, [
        "kubeconfig",
        "set",
        "--kubeconfig",
        path,
        "--token-path=/t",
      ], tmp.path);
      // The answer is typed once the prompt is up: the prompt is the signal.
      await terminal.until("[y/N]");
      await terminal.type(typed);
      const code = await terminal.end();
      assert.match(
        terminal.screen,
        new RegExp(`Apply these changes to ${literal(path)}\\? \\[y/N\\]`),
      );
      if (applied) assert.equal(code, 0, terminal.screen);
      else assert.notEqual(code, 0, terminal.screen);
      assert.equal((await readUser(path, "alice"))!.exec !== undefined, applied);
    });
  }
});

Deno.test({
  name: "kubeconfig set keeps a context kubectl adds while it waits at the prompt, and asks again" +
    (NO_SCRIPT || NO_KUBECTL),
  ignore: !SCRIPT || !KUBECTL,
}, async () => {
  const script = SCRIPT!;
  const bin = KUBECTL!;
  await using tmp = await tempDir();
  const path = await setup(tmp.path, FOR_KUBECTL);
  {
    await using terminal = onTerminal(script, [
      "kubeconfig",
      "set",
      "--kubeconfig",
      path,
      "--token-path=/t",
    ], tmp.path);
    await terminal.until("[y/N]");
    assert.match(terminal.screen, /^\+ {4}exec:/m);
    // kubectl changes the file while the broker waits for the answer; the broker holds no lock, so it succeeds.
    const added = await kubectl(bin, tmp.path, [
      "--kubeconfig",
      path,
      "config",
      "set-context",
      "added-meanwhile",
      "--cluster=prod",
      "--user=bob",
    ]);
    assert.equal(added.code, 0, added.stderr);
    await terminal.type("y\n");
    await terminal.until("[y/N]", 2);
    const second = terminal.screen.slice(terminal.screen.indexOf("[y/N]") + 5);
    assert.match(
      second,
      new RegExp(`note: ${literal(path)} changed since the diff above was made`),
    );
    assert.match(second, new RegExp(`^--- ${literal(path)}$`, "m"), "the new diff is shown");
    assert.match(second, /^\+ {4}exec:$/m);
    assert.equal(
      await readUser(path, "alice").then((user) => user!.exec),
      undefined,
      "not written yet",
    );
    await terminal.type("y\n");
    assert.equal(await terminal.end(), 0, terminal.screen);
  }
  assert.ok((await contextNames(path)).includes("added-meanwhile"), "kubectl's context survived");
  assert.ok((await readUser(path, "alice"))!.exec, "and the broker's edit is there");
  await assert.rejects(Deno.lstat(`${path}.lock`), Deno.errors.NotFound);
});

Deno.test({
  name:
    "kubeconfig set -f in a loop next to a kubectl set-context loop loses none of kubectl's contexts" +
    NO_KUBECTL,
  ignore: !KUBECTL,
}, async () => {
  const bin = KUBECTL!;
  await using tmp = await tempDir();
  const path = await setup(tmp.path, FOR_KUBECTL);
  const N = 5;
  // kubectl fails at once ("file exists") when it meets the broker's lock: retry as a person would.
  const kubectlLoop = (async () => {
    for (let i = 1; i <= N; i++) {
      for (let n = 1;; n++) {
        const result = await run(bin, [
          "--kubeconfig",
          path,
          "config",
          "set-context",
          `k${i}`,
          "--cluster=prod",
          "--user=bob",
        ], {
          env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: tmp.path },
          cwd: tmp.path,
        });
        if (result.code === 0) break;
        if (!result.stderr.includes("lock") || n >= 500) return result;
      }
    }
    return { code: 0, stderr: "" };
  })();
  // The broker edits for as long as kubectl's loop runs, so every kubectl write races one of the broker's.
  let kubectlDone = false;
  const kubectlEnded = kubectlLoop.finally(() => kubectlDone = true);
  let edits = 0;
  const brokerLoop = (async () => {
    while (!kubectlDone && edits < 500) {
      const i = ++edits;
      const io = ioFor(tmp.path);
      const code = await kubeconfigCommand(
        ["set", "-f", "--kubeconfig", path, "--user", `b${i}`, `--token-path=/t/b${i}`],
        io,
      );
      assert.equal(code, 0, io.err);
    }
  })();
  const [kubectlResult] = await Promise.all([kubectlEnded, brokerLoop]);
  assert.equal(kubectlResult.code, 0, kubectlResult.stderr);
  const contexts = await contextNames(path);
  for (let i = 1; i <= N; i++) assert.ok(contexts.includes(`k${i}`), `kubectl's context k${i}`);
  // The other direction is kubectl's to keep: it reads the file before taking its lock and then deletes what it
  // did not see, so an entry anyone (another kubectl too) writes in that window can go. What is there is whole.
  for (let i = 1; i <= edits; i++) {
    const user = await readUser(path, `b${i}`);
    if (user) {
      assert.deepEqual(user.exec?.args, [`--token-path=${from(tmp.path, `/t/b${i}`)}`], `b${i}`);
    }
  }
});

Deno.test({
  name: "a FIFO or a device as kubeconfig is a one-line error naming it, with no hang" +
    (HOST_OS === "windows" ? " (ignored: Windows has no mkfifo or /dev devices)" : ""),
  ignore: HOST_OS === "windows",
}, async (t) => {
  await using tmp = await tempDir();
  const fifo = `${tmp.path}/fifo`;
  const made = await run("mkfifo", [fifo]);
  assert.equal(made.code, 0, made.stderr);
  const cases = [
    {
      name: "FIFO",
      path: fifo,
      message: `error: kubeconfig ${fifo} is a named pipe (FIFO), not a regular file`,
    },
    {
      name: "/dev/zero",
      path: "/dev/zero",
      message: "error: kubeconfig /dev/zero is a device, not a regular file",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      // `timeout` turns a hang into a failure instead of a stuck test run.
      const result = await run("timeout", [
        "60",
        ...sourceBrokerCommand(),
        "kubeconfig",
        "set",
        "-f",
        "--kubeconfig",
        c.path,
        "--user=me",
        "--token-path=/t",
      ], {
        env: {
          PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
          HOME: tmp.path,
          DENO_DIR,
        },
      });
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stderr.split("\n")[0], c.message);
    });
  }
});

Deno.test({
  name: "a kubectl that runs while kubeconfig set writes meets the lock and fails without effect" +
    NO_KUBECTL,
  ignore: !KUBECTL,
}, async () => {
  const bin = KUBECTL!;
  await using tmp = await tempDir();
  const path = await setup(tmp.path, FOR_KUBECTL);
  const io = ioFor(tmp.path);
  let during: { code: number; stderr: string } | undefined;
  const code = await kubeconfigSet(
    parseSetArgs(["-f", "--kubeconfig", path, "--token-path=/t"], io),
    io,
    {
      beforeWrite: async () => {
        during = await kubectl(bin, tmp.path, [
          "--kubeconfig",
          path,
          "config",
          "set-context",
          "during",
          "--cluster=prod",
        ]);
      },
    },
  );
  assert.equal(code, 0, io.err);
  assert.ok(during);
  assert.notEqual(during.code, 0);
  assert.match(during.stderr, new RegExp(`${literal(path)}\\.lock: file exists`));
  assert.ok(!(await contextNames(path)).includes("during"));
  assert.ok((await readUser(path, "alice"))!.exec);
  await assert.rejects(Deno.lstat(`${path}.lock`), Deno.errors.NotFound, "the lock is removed");
  // And kubectl works again right after.
  const after = await kubectl(bin, tmp.path, [
    "--kubeconfig",
    path,
    "config",
    "set-context",
    "after",
  ]);
  assert.equal(after.code, 0, after.stderr);
});
