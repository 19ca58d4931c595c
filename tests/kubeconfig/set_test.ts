/**
 * `kubeconfig set` in-process, the unit tier: kubeconfigCommand() and kubeconfigSet() with a fake Io, on real
 * files. Where a test goes: a test that starts the broker itself (piped stdin, the quoted before-exec command run
 * back by the plugin, a FIFO with no hang), needs a real terminal (`script`) or runs kubectl while kubeconfig set
 * works (its lock met mid-write, a set-context loop, a context added at the prompt) is in set_process_test.ts,
 * the process tier. Both files are plugin-facing: .ci/run runs them again against the installed shim.
 */
import assert from "node:assert/strict";
import { type CliError, KubeconfigError, UsageError } from "../../lib/shared/errors.ts";
import { parseBrokerArgs } from "../../lib/plugin/broker_options.ts";
import { confirm, kubeconfigCommand, kubeconfigSet } from "../../lib/kubeconfig/set.ts";
import { parseSetArgs } from "../../lib/kubeconfig/set_flags.ts";
import { hasPosixPermissions, HOST_OS } from "../../lib/shared/platform.ts";
import { fakeIo, literal, run, tempDir } from "../helpers.ts";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parse } from "yaml";
import {
  type Exec,
  from,
  ioFor,
  KUBECONFIG,
  list,
  readUser,
  SECRETS,
  setup,
  under,
  V1,
  V1BETA1,
} from "./set_fixtures.ts";

/** Every file, folder and link under `dir` with content and mode, to prove that nothing changed. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (path: string) => {
    for await (const entry of Deno.readDir(path)) {
      const full = `${path}/${entry.name}`;
      const info = await Deno.lstat(full);
      const mode = (info.mode! & 0o7777).toString(8);
      if (entry.isSymlink) out[full] = `link -> ${await Deno.readLink(full)}`;
      else if (entry.isDirectory) {
        out[full] = `dir ${mode}`;
        await walk(full);
      } else out[full] = `${mode} ${await Deno.readTextFile(full)}`;
    }
  };
  await walk(dir);
  return out;
}

Deno.test("kubeconfig set -f configures the current context's user, changing only that entry", async () => {
  await using tmp = await tempDir();
  const path = await setup(tmp.path);
  const io = ioFor(tmp.path);
  const code = await kubeconfigCommand([
    "set",
    "-f",
    "--kubeconfig",
    path,
    "--client-certificate-path=certs/me.crt",
    "--client-key-path",
    "certs/me.key",
    "--cache-dir=cache",
  ], io);
  assert.equal(code, 0, io.err);
  const text = await Deno.readTextFile(path);
  const aliceStart = KUBECONFIG.indexOf("- name: alice");
  const bobStart = KUBECONFIG.indexOf("- name: bob");
  assert.ok(text.startsWith(KUBECONFIG.slice(0, aliceStart)), "before alice: byte for byte");
  assert.ok(text.endsWith(KUBECONFIG.slice(bobStart)), "after alice: byte for byte");
  const alice = await readUser(path, "alice");
  assert.deepEqual(Object.keys(alice!), ["x-vendor", "exec"]);
  assert.equal(alice!["x-vendor"], "keep-me");
  assert.deepEqual(alice!.exec!.args, [
    `--client-certificate-path=${under(tmp.path, "certs/me.crt")}`,
    `--client-key-path=${under(tmp.path, "certs/me.key")}`,
    `--cache-dir=${under(tmp.path, "cache")}`,
  ]);
  assert.equal(alice!.exec!.command, "kubectl-credentials_broker");
  assert.equal(alice!.exec!.apiVersion, V1BETA1);
  assert.equal(alice!.exec!.interactiveMode, "IfAvailable");
  assert.match(alice!.exec!.installHint!, /kubectl krew install credentials-broker/);
  assert.match(alice!.exec!.installHint!, /releases/);
  // Windows files have no mode bits (Deno reports 0o666), so the mode is checked where it exists.
  if (hasPosixPermissions(HOST_OS)) {
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600, "mode kept");
  }
  // The diff went to stderr, with the removed fields, and without a secret anywhere.
  assert.equal(io.out, "");
  assert.match(io.err, new RegExp(`^--- ${literal(path)}\n\\+\\+\\+ ${literal(path)}\n@@ `, "m"));
  assert.match(io.err, /^- {4}client-certificate-data: <redacted>$/m);
  assert.match(io.err, /^- {4}client-key-data: <redacted>$/m);
  assert.match(io.err, /^\+ {4}exec:$/m);
  assert.match(io.err, /^ {5}token: <redacted>$/m, "another user's context line is redacted");
  for (const secret of SECRETS) assert.ok(!io.err.includes(secret), secret);
  assert.match(io.err, /note: removing client-certificate-data, client-key-data from user "alice"/);
  assert.match(io.err, new RegExp(`updated user "alice" in ${literal(path)}`));
  assert.ok(!io.err.includes("\x1b["), "no colour without io.color");
});

Deno.test("kubeconfig set removes a token and auth-provider from the --context's user", async () => {
  await using tmp = await tempDir();
  const path = await setup(tmp.path);
  const io = ioFor(tmp.path, { color: true });
  await kubeconfigCommand(
    ["set", "-f", "--kubeconfig", path, "--context", "bob-ctx", "--token-path=/t/token"],
    io,
  );
  assert.deepEqual(Object.keys((await readUser(path, "bob"))!), ["exec"]);
  assert.ok(io.err.includes("\x1b[31m-    token: <redacted>\x1b[0m"), "coloured, redacted");
  assert.ok(io.err.includes("\x1b[31m-        refresh-token: <redacted>\x1b[0m"));
  for (const secret of SECRETS) assert.ok(!io.err.includes(secret), secret);
});

Deno.test("kubeconfig set writes the exec block the flags ask for", async (t) => {
  const cases: {
    name: string;
    args: string[];
    expect: Partial<Exec>;
    absent?: (keyof Exec)[];
  }[] = [
    {
      name: "v1 gets interactiveMode IfAvailable",
      args: ["--exec-api-version", V1],
      expect: { apiVersion: V1, interactiveMode: "IfAvailable" },
      absent: ["provideClusterInfo", "env"],
    },
    {
      name: "v1 with --interactive-mode Never and cluster info",
      args: ["--exec-api-version=v1", "--interactive-mode=Never", "--provide-cluster-info"],
      expect: { apiVersion: V1, interactiveMode: "Never", provideClusterInfo: true },
    },
    {
      name: "--exec-command kubectl runs the plugin through kubectl",
      args: ["--exec-command", "kubectl"],
      expect: { command: "kubectl", args: ["credentials-broker", "--token-path=@T"] },
    },
    {
      name: "--exec-command with a relative path is stored absolute",
      args: ["--exec-command", "bin/kubectl-credentials_broker"],
      expect: { command: "@TMP/bin/kubectl-credentials_broker", args: ["--token-path=@T"] },
    },
    {
      name: "broker options other than the defaults go into args",
      args: [
        "--before-exec-policy=when-invalid",
        "--before-exec-timeout=2m",
        "--refresh-margin=5m",
      ],
      expect: {
        args: ["--token-path=@T", "--before-exec-policy=when-invalid", "--refresh-margin=5m"],
      },
    },
    {
      name: "--env, repeated and comma-separated",
      args: ["--env", "A=1,B=x,y", "--env=C=yes"],
      expect: {
        env: [{ name: "A", value: "1" }, { name: "B", value: "x,y" }, { name: "C", value: "yes" }],
      },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      await using tmp = await tempDir();
      const path = await setup(tmp.path);
      const io = ioFor(tmp.path);
      const code = await kubeconfigCommand(
        ["set", "-f", "--kubeconfig", path, "--token-path=/t/token", ...c.args],
        io,
      );
      assert.equal(code, 0, io.err);
      const exec = (await readUser(path, "alice"))!.exec!;
      // As JSON string contents (a Windows path's backslashes escaped): @TMP/ is the folder and its separator,
      // @T the token path /t/token as stored on this OS (C:/t/token on Windows, the drive of the folder).
      const json = (text: string) => JSON.stringify(text).slice(1, -1);
      const expected = JSON.parse(
        JSON.stringify(c.expect)
          .replaceAll("@TMP/", json(under(tmp.path, "")))
          .replaceAll("@T", json(from(tmp.path, "/t/token"))),
      );
      for (const [key, value] of Object.entries(expected)) {
        assert.deepEqual(exec[key as keyof Exec], value, key);
      }
      for (const key of c.absent ?? []) assert.equal(exec[key], undefined, key);
    });
  }
});

Deno.test("kubeconfig set --env warns that values are stored in plain text and never shows them", async () => {
  await using tmp = await tempDir();
  const path = await setup(tmp.path);
  const io = ioFor(tmp.path);
  await kubeconfigCommand(
    ["set", "-f", "--kubeconfig", path, "--token-path=/t", "--env", "API_KEY=hunter2-secret"],
    io,
  );
  assert.match(io.err, /--env values \(API_KEY\) are stored in plain text in /);
  assert.match(io.err, /^\+ {8}value: <redacted>$/m);
  assert.ok(!io.err.includes("hunter2-secret"));
  // Changing only the value still says something changed, without showing it.
  const again = ioFor(tmp.path);
  await kubeconfigCommand(
    ["set", "-f", "--kubeconfig", path, "--token-path=/t", "--env", "API_KEY=other-secret"],
    again,
  );
  assert.match(again.err, /only redacted values change/);
  assert.ok(!again.err.includes("other-secret"));
  assert.equal((await readUser(path, "alice"))!.exec!.env![0]!.value, "other-secret");
});

Deno.test("kubeconfig set follows KUBECONFIG: edits the file defining the user, adds new users to the first", async () => {
  await using tmp = await tempDir();
  const contexts = `${tmp.path}/contexts.yaml`;
  const users = `${tmp.path}/users.yaml`;
  const contextsText =
    "# contexts only\napiVersion: v1\nkind: Config\ncurrent-context: prod\ncontexts:\n- name: prod\n  context: {cluster: c, user: alice}\n";
  await Deno.writeTextFile(contexts, contextsText);
  await Deno.writeTextFile(
    users,
    KUBECONFIG.replace("current-context: prod", "current-context: x"),
  );
  const env = { KUBECONFIG: list(`${tmp.path}/missing.yaml`, contexts, users) };

  const io = ioFor(tmp.path, { env });
  assert.equal(await kubeconfigCommand(["set", "-f", "--token-path=/t"], io), 0, io.err);
  assert.equal(await Deno.readTextFile(contexts), contextsText, "the contexts file is untouched");
  assert.ok((await readUser(users, "alice"))!.exec);

  const before = await Deno.readTextFile(users);
  const created = ioFor(tmp.path, { env });
  await kubeconfigCommand(["set", "-f", "--user", "carol", "--token-path=/t"], created);
  assert.equal(await Deno.readTextFile(users), before, "the users file is untouched");
  assert.ok((await readUser(contexts, "carol"))!.exec, "new user in the first existing file");
  assert.ok((await Deno.readTextFile(contexts)).startsWith(contextsText));
  assert.match(created.err, new RegExp(`added user "carol" in ${literal(contexts)}`));
  await assert.rejects(Deno.stat(`${tmp.path}/missing.yaml`), Deno.errors.NotFound);
});

Deno.test({
  name: "kubeconfig set creates ~/.kube/config 0600 when there is none" +
    (HOST_OS === "windows" ? " (ignored: Windows files have no mode bits)" : ""),
  ignore: HOST_OS === "windows",
}, async () => {
  await using tmp = await tempDir();
  const io = ioFor(tmp.path);
  assert.equal(await kubeconfigCommand(["set", "-f", "--user", "me", "--token-path=/t"], io), 0);
  const path = `${tmp.path}/.kube/config`;
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  const config = parse(await Deno.readTextFile(path));
  assert.equal(config.apiVersion, "v1");
  assert.equal(config.kind, "Config");
  assert.equal(config.users[0].name, "me");
  assert.match(io.err, /^--- \/dev\/null$/m);
});

Deno.test({
  name: "kubeconfig set keeps a symlinked kubeconfig a symlink" +
    (HOST_OS === "windows" ? " (ignored: a symlink needs a privilege on Windows)" : ""),
  ignore: HOST_OS === "windows",
}, async () => {
  await using tmp = await tempDir();
  const target = await setup(tmp.path);
  const link = `${tmp.path}/link`;
  await Deno.symlink(target, link);
  await kubeconfigCommand(["set", "-f", "--kubeconfig", link, "--token-path=/t"], ioFor(tmp.path));
  assert.ok((await Deno.lstat(link)).isSymlink);
  assert.ok((await readUser(target, "alice"))!.exec);
});

Deno.test("kubeconfig set says up to date and does not touch the file when nothing changes", async () => {
  await using tmp = await tempDir();
  const path = await setup(tmp.path);
  const args = ["set", "-f", "--kubeconfig", path, "--token-path=/t"];
  await kubeconfigCommand(args, ioFor(tmp.path));
  const before = await Deno.stat(path);
  const text = await Deno.readTextFile(path);
  await new Promise((resolve) => setTimeout(resolve, 20));
  const io = ioFor(tmp.path);
  assert.equal(await kubeconfigCommand(args, io), 0);
  assert.match(io.err, new RegExp(`kubeconfig ${literal(path)} is up to date`));
  assert.doesNotMatch(io.err, /^---/m);
  assert.equal(await Deno.readTextFile(path), text);
  assert.equal((await Deno.stat(path)).mtime!.getTime(), before.mtime!.getTime());
});

Deno.test("kubeconfig set --dry-run prints the diff on stdout and writes nothing", async () => {
  await using tmp = await tempDir();
  const path = await setup(tmp.path);
  const before = await snapshot(tmp.path);
  const io = ioFor(tmp.path);
  assert.equal(
    await kubeconfigCommand(["set", "--dry-run", "--kubeconfig", path, "--token-path=/t"], io),
    0,
  );
  assert.match(io.out, /^\+ {4}exec:$/m);
  assert.deepEqual(await snapshot(tmp.path), before);
});

Deno.test("kubeconfig set asks on a terminal and applies only on yes", async (t) => {
  const cases: { input: string[]; applied: boolean }[] = [
    { input: ["y"], applied: true },
    { input: ["Yes"], applied: true },
    { input: ["n"], applied: false },
    { input: [""], applied: false },
    { input: [], applied: false }, // end of input
  ];
  for (const c of cases) {
    await t.step(JSON.stringify(c.input), async () => {
      await using tmp = await tempDir();
      const path = await setup(tmp.path);
      const io = ioFor(tmp.path, { terminal: true, input: c.input });
      const code = await kubeconfigCommand(["set", "--kubeconfig", path, "--token-path=/t"], io);
      assert.match(io.err, new RegExp(`Apply these changes to ${literal(path)}\\? \\[y/N\\] `));
      assert.ok(io.err.indexOf("+    exec:") < io.err.indexOf("Apply these"), "diff first");
      assert.equal(code, c.applied ? 0 : 1);
      assert.equal(await Deno.readTextFile(path) === KUBECONFIG, !c.applied);
    });
  }
});

Deno.test("kubeconfig set refuses without a terminal and without -f, and never reads stdin", async () => {
  await using tmp = await tempDir();
  const path = await setup(tmp.path);
  const io = ioFor(tmp.path, { terminal: false, input: ["y"] });
  await assert.rejects(
    kubeconfigCommand(["set", "--kubeconfig", path, "--token-path=/t"], io),
    (error: unknown) =>
      error instanceof KubeconfigError &&
      error.message ===
        `not changing ${path}: confirmation needed, and standard input is not a terminal` &&
      /-f/.test(error.hint ?? ""),
  );
  assert.equal(io.prompts, 0);
  assert.equal(await Deno.readTextFile(path), KUBECONFIG);
});

Deno.test("kubeconfig set leaves every file byte for byte on errors", async (t) => {
  const cases: {
    name: string;
    text?: string;
    args: string[];
    prepare?: (dir: string, path: string) => Promise<void>;
    error: typeof CliError;
    message: RegExp;
    /** Why the case cannot be set up on Windows. */
    notOnWindows?: string;
  }[] = [
    {
      name: "malformed YAML",
      text: KUBECONFIG.replace("kind: Config", "kind: [Config"),
      args: [],
      error: KubeconfigError,
      message: /^kubeconfig \S+ is not valid YAML at line \d+, column \d+: /,
    },
    {
      name: "no current context",
      text: KUBECONFIG.replace("current-context: prod", 'current-context: ""'),
      args: [],
      error: KubeconfigError,
      message: /^no current context is set in /,
    },
    {
      name: "dangling current context",
      text: KUBECONFIG.replace("current-context: prod", "current-context: gone"),
      args: [],
      error: KubeconfigError,
      message: /^current context "gone" \(set in \S+\) not found in /,
    },
    {
      name: "context without a user",
      text: KUBECONFIG.replace("    user: alice\n", ""),
      args: [],
      error: KubeconfigError,
      message: /^context "prod" in \S+ has no user$/,
    },
    {
      name: "exec next to a token the broker cannot remove",
      text: KUBECONFIG.replace("preferences: {}", "preferences: {}\nbase: &creds {token: SHARED}")
        .replace(
          "    client-certificate-data: ALICE-CERT-SECRET\n",
          "    <<: *creds\n    exec: {command: other}\n",
        ),
      args: [],
      error: KubeconfigError,
      message: /^user "alice" in kubeconfig \S+ gets token from a YAML merge key \(<<\)/,
    },
    {
      name: "two documents",
      text: KUBECONFIG + "---\nkind: Other\n",
      args: [],
      error: KubeconfigError,
      message: /holds 2 YAML documents/,
    },
    {
      name: "read-only file",
      args: [],
      prepare: (_dir, path) => Deno.chmod(path, 0o400),
      error: KubeconfigError,
      message: /^kubeconfig \S+ is read-only$/,
    },
    {
      name: "read-only folder",
      notOnWindows: "Windows has no mode bits to make a folder read-only",
      args: [],
      prepare: async (dir) => await Deno.chmod(`${dir}/kube`, 0o555),
      error: KubeconfigError,
      message: /^folder \S+ of kubeconfig \S+ is read-only$/,
    },
    {
      name: "unterminated quote in the before-exec command",
      args: ["--before-exec-command", "/opt/renew.sh 'dev team"],
      error: UsageError,
      message: /^before-exec command has an unterminated single quote opened at column 15$/,
    },
    {
      name: "certificate without key",
      args: ["--client-certificate-path=/c"],
      error: UsageError,
      message: /^--client-certificate-path is set but --client-key-path is missing$/,
    },
    {
      name: "bad --env",
      args: ["--env", "NOEQUALS"],
      error: UsageError,
      message: /^invalid --env entry 1: use NAME=VALUE$/,
    },
    {
      name: "bad --interactive-mode",
      args: ["--interactive-mode", "Sometimes"],
      error: UsageError,
      message: /^invalid --interactive-mode "Sometimes"/,
    },
    {
      name: "unknown exec apiVersion",
      args: ["--exec-api-version", "client.authentication.k8s.io/v1alpha1"],
      error: UsageError,
      message: /^invalid --exec-api-version/,
    },
  ];
  for (const c of cases) {
    const posixOnly = HOST_OS === "windows" && c.notOnWindows !== undefined;
    await t.step({
      name: c.name + (posixOnly ? ` (ignored: ${c.notOnWindows})` : ""),
      ignore: posixOnly,
      fn: async () => {
        await using tmp = await tempDir();
        await Deno.mkdir(`${tmp.path}/kube`);
        const path = await setup(`${tmp.path}/kube`, c.text ?? KUBECONFIG);
        await c.prepare?.(tmp.path, path);
        const before = await snapshot(tmp.path);
        const io = ioFor(tmp.path, { terminal: true, input: ["y"] });
        const args = c.args.some((arg) => arg.includes("-path")) ? c.args : [
          "--token-path=/t",
          ...c.args,
        ];
        try {
          await assert.rejects(
            kubeconfigCommand(["set", "-f", "--kubeconfig", path, ...args], io),
            (error: unknown) => {
              assert.ok(error instanceof c.error, `${error}`);
              assert.match((error as Error).message, c.message);
              return true;
            },
          );
          assert.deepEqual(await snapshot(tmp.path), before);
          for (const secret of [...SECRETS, "SHARED"]) {
            assert.ok(!io.err.includes(secret), secret);
          }
        } finally {
          await Deno.chmod(`${tmp.path}/kube`, 0o755);
        }
      },
    });
  }
});

Deno.test("kubeconfig set runs at the same time do not lose each other's change", async () => {
  await using tmp = await tempDir();
  const path = await setup(tmp.path);
  const names = ["u1", "u2", "u3", "u4", "u5", "u6"];
  const codes = await Promise.all(
    names.map((name) =>
      kubeconfigCommand(
        ["set", "-f", "--kubeconfig", path, "--user", name, `--token-path=/t/${name}`],
        ioFor(tmp.path),
      )
    ),
  );
  assert.deepEqual(codes, names.map(() => 0));
  for (const name of names) {
    assert.deepEqual(
      (await readUser(path, name))!.exec!.args,
      [`--token-path=${from(tmp.path, `/t/${name}`)}`],
      name,
    );
  }
});

Deno.test("kubeconfig --help and kubeconfig set --help print usage on stdout", async (t) => {
  for (const args of [["--help"], ["set", "--help"], ["set", "-h"], ["help"]]) {
    await t.step(args.join(" "), async () => {
      const io = ioFor("/nonexistent");
      assert.equal(await kubeconfigCommand(args, io), 0);
      assert.match(io.out, /kubectl credentials-broker kubeconfig set \[flags\]/);
      assert.match(io.out, /--before-exec-command COMMAND/);
      assert.match(io.out, /-f, --force/);
    });
  }
});

/** deno info's module graph, as far as the test below reads it. */
interface Graph {
  redirects?: Record<string, string>;
  modules: {
    specifier: string;
    dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
  }[];
}

/**
 * The modules each of `roots` (paths in the repository) loads, as `deno info ROOT` lists them: static, dynamic
 * and type-only imports. One deno info run for all (a module importing them), its graph walked from each root.
 */
async function moduleGraphs(roots: string[]): Promise<Map<string, string[]>> {
  const repo = new URL("../..", import.meta.url);
  await using tmp = await tempDir();
  const all = `${tmp.path}/roots.ts`;
  const url = (root: string) => new URL(root, repo).href;
  const toUrl = (path: string) => pathToFileURL(path).href;
  await Deno.writeTextFile(
    all,
    roots.map((root) => `import ${JSON.stringify(url(root))};\n`).join(""),
  );
  // As a file URL: a Windows path (c:\...) is taken for a URL with the scheme c: and not read.
  const info = await run(Deno.execPath(), ["info", "--json", "--config", "deno.json", toUrl(all)], {
    cwd: fileURLToPath(repo),
  });
  assert.equal(info.code, 0, info.stderr);
  const graph = JSON.parse(info.stdout) as Graph;
  const byName = new Map(graph.modules.map((module) => [module.specifier, module]));
  const walk = (url: string) => {
    const root = byName.get(url);
    assert.ok(root, `deno info lists no module ${url}`);
    const seen = new Set<string>();
    const visit = (given: string) => {
      const specifier = graph.redirects?.[given] ?? given;
      if (seen.has(specifier)) return;
      seen.add(specifier);
      for (const dependency of byName.get(specifier)?.dependencies ?? []) {
        if (dependency.code) visit(dependency.code.specifier);
        if (dependency.type) visit(dependency.type.specifier);
      }
    };
    visit(root.specifier);
    return [...seen];
  };
  return new Map(roots.map((root) => [root, walk(url(root))]));
}

Deno.test("the plugin and the completion flag list never load the YAML or diff libraries", async (t) => {
  const graphs = await moduleGraphs([
    "lib/plugin/plugin.ts",
    "lib/kubeconfig/set_flags.ts",
    "lib/kubeconfig/set.ts",
  ]);
  for (const root of ["lib/plugin/plugin.ts", "lib/kubeconfig/set_flags.ts"]) {
    await t.step(root, () => {
      const npm = graphs.get(root)!.filter((s) => s.startsWith("npm:"));
      assert.deepEqual(npm, []);
    });
  }
  await t.step("but kubeconfig set does", () => {
    assert.ok(graphs.get("lib/kubeconfig/set.ts")!.some((s) => s.startsWith("npm:/yaml@")));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Living next to kubectl: its lock, its writes, owner and links

Deno.test("kubeconfig set waits for an existing <file>.lock, then fails naming it", async (t) => {
  await t.step("a lock that stays: fails with its path, the file untouched", async () => {
    await using tmp = await tempDir();
    const path = await setup(tmp.path);
    await Deno.writeTextFile(`${path}.lock`, "");
    const io = ioFor(tmp.path);
    // A tenth of a second instead of kubectl's 5 s bound: the same wait, then the same error.
    await assert.rejects(
      kubeconfigSet(
        parseSetArgs(["-f", "--kubeconfig", path, "--token-path=/t"], io),
        io,
        { lockWaitMs: 100 },
      ),
      (error: unknown) => {
        assert.ok(error instanceof KubeconfigError);
        assert.match(
          error.message,
          new RegExp(
            `^kubeconfig ${literal(path)} is locked by ${
              literal(path)
            }\\.lock: still there after 0\\.1s$`,
          ),
        );
        assert.match(error.hint ?? "", /stale/);
        assert.match(error.hint ?? "", new RegExp(`rm ${literal(path)}\\.lock`));
        return true;
      },
    );
    assert.match(
      io.err,
      new RegExp(`waiting for ${literal(path)}\\.lock: kubectl is writing ${literal(path)}`),
    );
    assert.equal(await Deno.readTextFile(path), KUBECONFIG);
    assert.ok((await Deno.lstat(`${path}.lock`)).isFile, "someone else's lock is left alone");
  });
  await t.step("a lock that goes away: the write goes ahead", async () => {
    await using tmp = await tempDir();
    const path = await setup(tmp.path);
    await Deno.writeTextFile(`${path}.lock`, "");
    const io = ioFor(tmp.path);
    const running = kubeconfigCommand(["set", "-f", "--kubeconfig", path, "--token-path=/t"], io);
    while (!io.err.includes("waiting for")) await new Promise((resolve) => setTimeout(resolve, 10));
    await Deno.remove(`${path}.lock`);
    assert.equal(await running, 0, io.err);
    assert.ok((await readUser(path, "alice"))!.exec);
  });
});

Deno.test({
  name: "kubeconfig set run by root keeps the owner, group and mode of another user's kubeconfig" +
    (Deno.uid() === 0 ? "" : " (ignored: needs root, which CI has)"),
  ignore: Deno.uid() !== 0,
}, async () => {
  await using tmp = await tempDir();
  const path = await setup(tmp.path);
  await Deno.chown(path, 1234, 1234);
  await Deno.chmod(path, 0o600);
  const io = ioFor(tmp.path);
  assert.equal(
    await kubeconfigCommand(["set", "-f", "--kubeconfig", path, "--token-path=/t"], io),
    0,
    io.err,
  );
  const info = await Deno.stat(path);
  assert.deepEqual([info.uid, info.gid, info.mode! & 0o7777], [1234, 1234, 0o600]);
  assert.ok((await readUser(path, "alice"))!.exec);
});

Deno.test({
  name: "kubeconfig set keeps hard links in step: the file is rewritten in place, as kubectl does" +
    (HOST_OS === "windows"
      ? " (ignored: it checks the mode, and Windows files have no mode bits)"
      : ""),
  ignore: HOST_OS === "windows",
}, async () => {
  await using tmp = await tempDir();
  const path = await setup(tmp.path);
  const other = `${tmp.path}/other-name`;
  await Deno.link(path, other);
  const before = await Deno.stat(path);
  const io = ioFor(tmp.path);
  assert.equal(
    await kubeconfigCommand(["set", "-f", "--kubeconfig", path, "--token-path=/t"], io),
    0,
    io.err,
  );
  const after = await Deno.stat(path);
  assert.equal(after.ino, before.ino, "same file");
  assert.equal(after.nlink, 2);
  assert.equal(await Deno.readTextFile(other), await Deno.readTextFile(path));
  assert.ok((await readUser(other, "alice"))!.exec, "the other name sees the edit");
  assert.equal(after.mode! & 0o777, 0o600);
  const leftovers = [];
  for await (const entry of Deno.readDir(tmp.path)) leftovers.push(entry.name);
  assert.deepEqual(leftovers.sort(), ["config", "other-name"], "no temporary or lock file left");
});

// ---------------------------------------------------------------------------------------------------------------
// Messages for the person at the keyboard

Deno.test("kubeconfig set says first that a mistyped --kubeconfig does not exist", async (t) => {
  await using tmp = await tempDir();
  const nope = `${tmp.path}/nope/config`;
  await t.step("without --user: the missing file, not a missing context", async () => {
    const io = ioFor(tmp.path);
    await assert.rejects(
      kubeconfigCommand(["set", "-f", "--kubeconfig", nope, "--token-path=/t"], io),
      (error: unknown) =>
        error instanceof KubeconfigError && error.message === `kubeconfig ${nope} does not exist` &&
        /--user NAME/.test(error.hint ?? ""),
    );
    await assert.rejects(Deno.lstat(`${tmp.path}/nope`), Deno.errors.NotFound, "no folder made");
  });
  await t.step("KUBECONFIG naming only missing files", async () => {
    const io = ioFor(tmp.path, { env: { KUBECONFIG: list(`${tmp.path}/a`, `${tmp.path}/b`) } });
    await assert.rejects(
      kubeconfigCommand(["set", "-f", "--context", "prod", "--token-path=/t"], io),
      { message: `none of the kubeconfig files exist: ${tmp.path}/a, ${tmp.path}/b` },
    );
  });
  await t.step(
    "a context looked for in a list with a missing file says which is missing",
    async () => {
      const present = await setup(tmp.path);
      const io = ioFor(tmp.path, { env: { KUBECONFIG: list(present, `${tmp.path}/typo`) } });
      await assert.rejects(
        kubeconfigCommand(["set", "-f", "--context", "other", "--token-path=/t"], io),
        { message: `context "other" not found in ${present}, ${tmp.path}/typo (missing)` },
      );
    },
  );
  await t.step("with --user -f: says it will create it, and that it did", async () => {
    const io = ioFor(tmp.path);
    const code = await kubeconfigCommand(
      ["set", "-f", "--kubeconfig", nope, "--user", "me", "--token-path=/t"],
      io,
    );
    assert.equal(code, 0, io.err);
    assert.match(
      io.err,
      new RegExp(`^note: kubeconfig ${literal(nope)} does not exist yet; it will be created$`, "m"),
    );
    assert.match(io.err, new RegExp(`^created ${literal(nope)}$`, "m"));
    assert.ok((await readUser(nope, "me"))!.exec);
  });
});

Deno.test("kubeconfig set warns about a credential file nothing will create", async (t) => {
  await using tmp = await tempDir();
  const path = await setup(tmp.path);
  await Deno.writeTextFile(`${tmp.path}/present`, "tok");
  const cases = [
    { name: "missing token, no command", args: ["--token-path=missing"], warned: ["token-path"] },
    {
      name: "missing certificate and key, no command",
      args: ["--client-certificate-path=c.crt", "--client-key-path=present"],
      warned: ["client-certificate-path"],
    },
    { name: "present token", args: ["--token-path=present"], warned: [] },
    {
      name: "missing token, a command to create it",
      args: ["--token-path=missing", "--before-exec-command=/opt/renew"],
      warned: [],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const io = ioFor(tmp.path);
      await kubeconfigCommand(["set", "--dry-run", "--kubeconfig", path, ...c.args], io);
      const warnings = [
        ...io.err.matchAll(
          /^warning: --(\S+) (\S+) does not exist, and no --before-exec-command/gm,
        ),
      ];
      assert.deepEqual(warnings.map((m) => m[1]), c.warned, io.err);
      for (const m of warnings) assert.ok(m[2]!.startsWith(under(tmp.path, "")), m[2]);
    });
  }
});

Deno.test("kubeconfig set notes what a re-run drops from the previous exec block, also with -f", async () => {
  await using tmp = await tempDir();
  const path = await setup(tmp.path);
  const first = ioFor(tmp.path);
  await kubeconfigCommand([
    "set",
    "-f",
    "--kubeconfig",
    path,
    "--token-path=/t",
    "--before-exec-command=/opt/renew --secret-arg",
    "--before-exec-policy=when-invalid",
    "--env=VAULT_ADDR=https://vault",
    "--env=KEEP=1",
  ], first);
  assert.doesNotMatch(first.err, /had .* in its exec block/, "nothing to drop the first time");
  const again = ioFor(tmp.path);
  const code = await kubeconfigCommand(
    ["set", "-f", "--kubeconfig", path, "--token-path=/t", "--env=KEEP=2"],
    again,
  );
  assert.equal(code, 0, again.err);
  assert.match(
    again.err,
    /^note: user "alice" had --before-exec-command, --before-exec-policy and env VAULT_ADDR in its exec block; this run leaves them out \(pass them again to keep them\)$/m,
  );
  assert.ok(
    !again.err.includes("https://vault") && !again.err.includes("--secret-arg="),
    "names only",
  );
});

Deno.test("kubeconfig set expands a leading ~/ in every path flag", async () => {
  await using tmp = await tempDir();
  // The caller's folder, absolute on this OS (a drive-less /somewhere is not absolute on Windows).
  const elsewhere = HOST_OS === "windows" ? "C:\\somewhere\\else" : "/somewhere/else";
  const io = ioFor(elsewhere, { env: { HOME: tmp.path } });
  const request = parseSetArgs([
    "--kubeconfig=~/.kube/other",
    "--client-certificate-path=~/certs/me.crt",
    "--client-key-path=~/certs/me.key",
    "--token-path=~/token",
    "--cache-dir=~/cache",
    "--exec-command=~/bin/kubectl-credentials_broker",
  ], io);
  assert.equal(request.kubeconfig, under(tmp.path, ".kube/other"));
  assert.deepEqual(request.exec.args, [
    `--client-certificate-path=${under(tmp.path, "certs/me.crt")}`,
    `--client-key-path=${under(tmp.path, "certs/me.key")}`,
    `--token-path=${under(tmp.path, "token")}`,
    `--cache-dir=${under(tmp.path, "cache")}`,
  ]);
  assert.equal(request.exec.command, under(tmp.path, "bin/kubectl-credentials_broker"));
  // `~user` is not ours to expand; a relative path is the caller's folder's.
  const other = parseSetArgs(["--token-path=~bob/t", "--cache-dir=c"], io);
  assert.deepEqual(other.exec.args, [
    `--token-path=${under(elsewhere, "~bob/t")}`,
    `--cache-dir=${under(elsewhere, "c")}`,
  ]);
});

Deno.test("kubeconfig set stores --renew-ahead as the plugin will read it, and refuses it where it cannot work", () => {
  const io = ioFor("/home/u");
  const base = [
    "--client-certificate-path=/c/me.crt",
    "--client-key-path=/c/me.key",
    "--before-exec-command=/c/renew.sh",
    "--before-exec-policy=when-invalid",
  ];
  for (const [given, stored] of [["30%", "30%"], ["90m", "1h30m"]]) {
    const request = parseSetArgs([...base, `--renew-ahead=${given}`], io);
    assert.deepEqual(request.exec.args, [...base, `--renew-ahead=${stored}`]);
    // What is stored is what the plugin accepts.
    assert.deepEqual(
      parseBrokerArgs(request.exec.args as string[]).renewAhead,
      parseBrokerArgs([...base, `--renew-ahead=${given}`]).renewAhead,
    );
  }
  assert.throws(
    () => parseSetArgs([...base.slice(0, 3), "--renew-ahead=10m"], io),
    /--renew-ahead needs --before-exec-policy=when-invalid/,
  );
});

Deno.test("confirm() says yes only to y or yes, in any case", async (t) => {
  const cases: [string[], boolean][] = [
    [["y"], true],
    [["yes"], true],
    [["YES"], true],
    [[" Y "], true],
    [["n"], false],
    [[""], false],
    [["yes please"], false],
    [["ok"], false],
    [[], false], // end of input, e.g. Ctrl-D
  ];
  for (const [input, expected] of cases) {
    await t.step(JSON.stringify(input), async () => {
      const io = fakeIo({ input, terminal: true });
      assert.equal(await confirm(io, "Apply these changes to /k?"), expected);
      assert.ok(io.err.startsWith("Apply these changes to /k? [y/N] "));
      assert.equal(io.out, "");
    });
  }
});

Deno.test("droppedSettings() knows the broker however the old exec block ran it: .exe, .cmd, kubectl or kubectl.1.NN", async (t) => {
  const { droppedSettings } = await import("../../lib/kubeconfig/set_plan.ts");
  const now = { command: "kubectl-credentials_broker", args: ["--token-path=/t"] };
  const rows: { command: string; args: string[]; dropped: string[] }[] = [
    { command: "kubectl-credentials_broker", args: [], dropped: ["--before-exec-command"] },
    {
      command: "/opt/bin/kubectl-credentials_broker.exe",
      args: [],
      dropped: ["--before-exec-command"],
    },
    {
      command: "/opt/bin/kubectl-credentials_broker.cmd",
      args: [],
      dropped: ["--before-exec-command"],
    },
    { command: "kubectl", args: ["credentials-broker"], dropped: ["--before-exec-command"] },
    {
      command: "/opt/bin/kubectl.1.32",
      args: ["credentials-broker"],
      dropped: ["--before-exec-command"],
    },
    // Another plugin's flags are not the broker's: nothing of them is said to be dropped.
    { command: "kubectl", args: ["oidc-login"], dropped: [] },
    { command: "/opt/renew-and-print.sh", args: [], dropped: [] },
  ];
  for (const { command, args, dropped } of rows) {
    await t.step(`${command} ${args.join(" ")}`, () => {
      const previous = {
        command,
        args: [...args, "--before-exec-command=/opt/renew", "--token-path=/t"],
      };
      assert.deepEqual(droppedSettings(previous, now), dropped);
    });
  }
});
