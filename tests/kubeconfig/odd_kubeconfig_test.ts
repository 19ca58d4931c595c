/**
 * `kubeconfig set` on kubeconfigs a person really makes, checked against what kubectl 1.32 does with the same
 * file (`kubectl config set-credentials`): one that is just `{}` (`echo '{}' > config`), and one that is a
 * symlink to a file that does not exist yet (dotfile managers make those).
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { kubeconfigSet } from "../../lib/kubeconfig/set.ts";
import { parseSetArgs } from "../../lib/kubeconfig/set_flags.ts";
import { KubeconfigError } from "../../lib/shared/errors.ts";
import { executableProbe } from "../../lib/shared/platform.ts";
import { fakeIo, run, tempDir } from "../helpers.ts";

const KUBECTL_132 = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32";
const NO_KUBECTL = executableProbe(KUBECTL_132) !== "executable";
const POSIX = Deno.build.os !== "windows";

const ioIn = (dir: string, terminal = false) =>
  fakeIo({ env: { HOME: dir }, cwd: dir, terminal, input: ["y"] });

async function setUser(path: string, dir: string): Promise<string> {
  const io = ioIn(dir);
  const code = await kubeconfigSet(
    parseSetArgs([
      "-f",
      "--kubeconfig",
      path,
      "--user",
      "u",
      "--token-path=/t/token",
    ], io),
    io,
  );
  assert.equal(code, 0, io.err);
  return io.err;
}

function kubectl(dir: string, args: string[]) {
  return run(KUBECTL_132, args, {
    cwd: dir,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: dir },
  });
}

/**
 * The user entries kubectl itself reads from `paths`, as JSON (`kubectl config view --raw`): one run for all, the
 * files merged as KUBECONFIG lists them (the first naming a user wins), so their user names differ.
 */
async function usersAsKubectlReadsThem(dir: string, paths: string[], names: string[]) {
  const view = await run(KUBECTL_132, ["config", "view", "--raw", "-o", "json"], {
    cwd: dir,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: dir, KUBECONFIG: paths.join(":") },
  });
  assert.equal(view.code, 0, view.stderr);
  const config = JSON.parse(view.stdout);
  return names.map((name) =>
    config.users?.find((entry: { name: string }) => entry.name === name)?.user
  );
}

Deno.test("kubeconfig set fills in a kubeconfig that is just {} as a YAML kubeconfig, as kubectl does", async (t) => {
  await using tmp = await tempDir();
  const cases: [string, string][] = [
    ["echo '{}' > config", "{}\n"],
    ["no line break", "{}"],
    ["spaces and CRLF", "{ }\r\n"],
    ["a comment above", "# my clusters\n{}\n"],
  ];
  for (const [name, text] of cases) {
    await t.step(name, async () => {
      const path = tmp.join(`config-${name.replace(/\W+/g, "-")}`);
      Deno.writeTextFileSync(path, text);
      await setUser(path, tmp.path);
      const written = Deno.readTextFileSync(path);
      assert.ok(!written.trimStart().startsWith("{"), `YAML, not JSON:\n${written}`);
      if (text.startsWith("#")) {
        assert.ok(written.startsWith("# my clusters\n"), "the comment is kept");
      }
      const config = parse(written);
      assert.equal(config.apiVersion, "v1");
      assert.equal(config.kind, "Config");
      assert.deepEqual(config.users.map((entry: { name: string }) => entry.name), ["u"]);
      assert.equal(config.users[0].user.exec.command, "kubectl-credentials_broker");
      // The path as the broker stores it: absolute for this OS (C:/t/token on Windows).
      assert.match(config.users[0].user.exec.args.join(" "), /^--token-path=\S*\/t\/token$/);
    });
  }
});

Deno.test({
  name:
    "a {} kubeconfig filled in by kubeconfig set has kubectl 1.32's fields and reads back in kubectl (needs kubectl 1.32)",
  ignore: NO_KUBECTL,
  async fn() {
    await using tmp = await tempDir();
    const ours = tmp.join("ours");
    const theirs = tmp.join("theirs");
    Deno.writeTextFileSync(ours, "{}\n");
    Deno.writeTextFileSync(theirs, "{}\n");
    await setUser(ours, tmp.path);
    // kubectl's user is "k", so that one kubectl run reads both files back.
    const set = await kubectl(tmp.path, [
      "config",
      "set-credentials",
      "k",
      "--kubeconfig",
      theirs,
      "--exec-command=kubectl-credentials_broker",
      "--exec-arg=--token-path=/t/token",
      "--exec-api-version=client.authentication.k8s.io/v1beta1",
    ]);
    assert.equal(set.code, 0, set.stderr);
    const kubectlWrote = Deno.readTextFileSync(theirs);
    const weWrote = Deno.readTextFileSync(ours);
    // kubectl rewrites `{}` as YAML with these top-level fields; so do we.
    assert.ok(!kubectlWrote.trimStart().startsWith("{"));
    assert.deepEqual(Object.keys(parse(weWrote)).sort(), Object.keys(parse(kubectlWrote)).sort());
    const [mine, kubectls] = await usersAsKubectlReadsThem(tmp.path, [ours, theirs], ["u", "k"]);
    assert.equal(mine.exec.command, kubectls.exec.command);
    assert.deepEqual(mine.exec.args, kubectls.exec.args);
    assert.equal(mine.exec.apiVersion, kubectls.exec.apiVersion);
  },
});

Deno.test("a JSON kubeconfig with content stays JSON", async () => {
  await using tmp = await tempDir();
  const path = tmp.join("config");
  Deno.writeTextFileSync(path, '{"apiVersion":"v1","kind":"Config"}\n');
  await setUser(path, tmp.path);
  const written = Deno.readTextFileSync(path);
  assert.equal(JSON.parse(written).users[0].name, "u");
});

Deno.test({
  name:
    "kubeconfig set writes through a dangling symlink, creates its target and keeps the link, as kubectl does (not on Windows: symlinks need privileges there)",
  ignore: !POSIX,
  async fn(t) {
    await using tmp = await tempDir();
    Deno.mkdirSync(tmp.join("dotfiles"));
    Deno.mkdirSync(tmp.join("a"));
    const cases: [string, string, string][] = [
      ["a target in the same folder", "link-same", "target-same"],
      ["a relative target in another folder", "a/link-other", "../dotfiles/kube-config"],
      ["an absolute target", "link-absolute", tmp.join("dotfiles", "absolute")],
      ["a chain of links", "link-chain", "link-chain-2"],
    ];
    Deno.symlinkSync("dotfiles/chained", tmp.join("link-chain-2"));
    for (const [name, link, target] of cases) {
      await t.step(name, async () => {
        const path = tmp.join(link);
        Deno.symlinkSync(target, path);
        const err = await setUser(path, tmp.path);
        assert.match(err, /will be created/);
        assert.ok(Deno.lstatSync(path).isSymlink, "the link stays a link");
        assert.equal(Deno.readLinkSync(path), target);
        const config = parse(Deno.readTextFileSync(path));
        assert.equal(config.users[0].name, "u");
        // Nothing but the target was created: no lock file or temporary file left behind.
        for (const dir of [tmp.path, tmp.join("a"), tmp.join("dotfiles")]) {
          const leftovers = [...Deno.readDirSync(dir)].map((entry) => entry.name).filter((n) =>
            n.endsWith(".lock") || n.endsWith(".tmp") || n.endsWith(".probe")
          );
          assert.deepEqual(leftovers, [], dir);
        }
      });
    }
  },
});

Deno.test({
  name: "kubectl 1.32 also writes through a dangling symlink and keeps it (needs kubectl 1.32)",
  ignore: NO_KUBECTL || !POSIX,
  async fn() {
    await using tmp = await tempDir();
    Deno.symlinkSync("target", tmp.join("link"));
    const set = await kubectl(tmp.path, [
      "config",
      "set-credentials",
      "u",
      "--kubeconfig",
      tmp.join("link"),
      "--token=x",
    ]);
    assert.equal(set.code, 0, set.stderr);
    assert.ok(Deno.lstatSync(tmp.join("link")).isSymlink);
    assert.ok(Deno.statSync(tmp.join("target")).isFile);
  },
});

Deno.test({
  name:
    "a dangling symlink into a folder that does not exist is refused before any question, as kubectl fails on it (not on Windows: symlinks)",
  ignore: !POSIX,
  async fn() {
    await using tmp = await tempDir();
    const path = tmp.join("config");
    Deno.symlinkSync("missing/config", path);
    const io = ioIn(tmp.path, true);
    await assert.rejects(
      async () =>
        await kubeconfigSet(
          parseSetArgs(["--kubeconfig", path, "--user", "u", "--token-path=/t"], io),
          io,
        ),
      (error: unknown) => {
        assert.ok(error instanceof KubeconfigError, String(error));
        assert.equal(
          error.message,
          `kubeconfig ${path} is a symlink to ${tmp.join("missing", "config")}, ` +
            `whose folder ${tmp.join("missing")} does not exist`,
        );
        return true;
      },
    );
    assert.equal(io.prompts, 0);
    assert.deepEqual([...Deno.readDirSync(tmp.path)].map((entry) => entry.name), ["config"]);
    if (!NO_KUBECTL) {
      // kubectl fails on it too: "open config: no such file or directory".
      const set = await kubectl(tmp.path, [
        "config",
        "set-credentials",
        "u",
        "--kubeconfig",
        path,
        "--token=x",
      ]);
      assert.notEqual(set.code, 0);
    }
  },
});

Deno.test({
  name:
    "with no file of KUBECONFIG there (a dangling link among them), the new user goes where kubectl 1.32 puts it: the last file (needs kubectl 1.32)",
  ignore: NO_KUBECTL || !POSIX,
  async fn() {
    await using tmp = await tempDir();
    for (const side of ["ours", "theirs"]) {
      Deno.mkdirSync(tmp.join(side));
      Deno.symlinkSync("target", tmp.join(side, "link"));
    }
    const list = (side: string) => [tmp.join(side, "link"), tmp.join(side, "last")].join(":");
    const set = await run(KUBECTL_132, ["config", "set-credentials", "u", "--token=x"], {
      cwd: tmp.path,
      env: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: tmp.path,
        KUBECONFIG: list("theirs"),
      },
    });
    assert.equal(set.code, 0, set.stderr);
    const io = fakeIo({ env: { HOME: tmp.path, KUBECONFIG: list("ours") }, cwd: tmp.path });
    const code = await kubeconfigSet(
      parseSetArgs(["-f", "--user", "u", "--token-path=/t"], io),
      io,
    );
    assert.equal(code, 0, io.err);
    const names = (side: string) => [...Deno.readDirSync(tmp.join(side))].map((e) => e.name).sort();
    assert.deepEqual(names("theirs"), ["last", "link"], "kubectl wrote the last file");
    assert.deepEqual(names("ours"), names("theirs"));
  },
});
