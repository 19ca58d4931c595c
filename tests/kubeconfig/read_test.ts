import assert from "node:assert/strict";
import { KubeconfigError } from "../../lib/shared/errors.ts";
import {
  mergeKubeconfigs,
  parseKubeconfig,
  readKubeconfig,
  readKubeconfigFiles,
  selectUser,
} from "../../lib/kubeconfig/read.ts";
import { tempDir } from "../helpers.ts";

const WINDOWS = Deno.build.os === "windows";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

const FIRST = `apiVersion: v1
kind: Config
contexts:
- name: dev
  context: {cluster: c, user: dev-user}
users:
- name: shared
  user: {token: from-first}
`;
const SECOND = `apiVersion: v1
kind: Config
current-context: prod
contexts:
- name: prod
  context: {cluster: c, user: prod-user}
- name: dev
  context: {cluster: c, user: ignored}
- name: nouser
  context: {cluster: c}
users:
- name: prod-user
  user: {token: t}
- name: shared
  user: {token: from-second}
`;

Deno.test("selectUser() finds the file that defines the user, the first one winning", async (t) => {
  await using tmp = await tempDir();
  const a = `${tmp.path}/a`;
  const b = `${tmp.path}/b`;
  const missing = `${tmp.path}/missing`;
  await Deno.writeTextFile(a, FIRST);
  await Deno.writeTextFile(b, SECOND);
  const merged = mergeKubeconfigs(await readKubeconfigFiles([missing, a, b]));
  assert.equal(merged.defaultFile, a, "new entries go to the first existing file");
  const cases: {
    name: string;
    choice: { user?: string; context?: string };
    expect: { name: string; file: string; exists: boolean };
  }[] = [
    {
      name: "current context from the second file",
      choice: {},
      expect: { name: "prod-user", file: b, exists: true },
    },
    {
      name: "context defined twice: the first file's",
      choice: { context: "dev" },
      expect: { name: "dev-user", file: a, exists: false },
    },
    {
      name: "user defined twice: the first file's",
      choice: { user: "shared" },
      expect: { name: "shared", file: a, exists: true },
    },
    {
      name: "new user goes to the first existing file",
      choice: { user: "brand-new" },
      expect: { name: "brand-new", file: a, exists: false },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const selection = selectUser(merged, c.choice);
      assert.deepEqual(
        { name: selection.name, file: selection.file, exists: selection.exists },
        c.expect,
      );
    });
  }
  await t.step("the user entry is the one kubectl uses", () => {
    assert.deepEqual(selectUser(merged, { user: "shared" }).user, { token: "from-first" });
  });
});

Deno.test("selectUser() explains a missing, dangling or userless context", async (t) => {
  await using tmp = await tempDir();
  const b = `${tmp.path}/b`;
  await Deno.writeTextFile(b, SECOND);
  const dangling = `${tmp.path}/dangling`;
  await Deno.writeTextFile(dangling, "current-context: gone\ncontexts: []\n");
  const none = `${tmp.path}/none`;
  await Deno.writeTextFile(none, "apiVersion: v1\n");
  const cases: { name: string; files: string[]; context?: string; message: string }[] = [
    { name: "no current context", files: [none], message: `no current context is set in ${none}` },
    {
      name: "dangling current context",
      files: [dangling],
      message: `current context "gone" (set in ${dangling}) not found in ${dangling}`,
    },
    {
      name: "unknown --context",
      files: [b],
      context: "nope",
      message: `context "nope" not found in ${b}`,
    },
    {
      name: "context without a user",
      files: [b],
      context: "nouser",
      message: `context "nouser" in ${b} has no user`,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const merged = mergeKubeconfigs(await readKubeconfigFiles(c.files));
      assert.throws(
        () => selectUser(merged, { context: c.context }),
        (error: unknown) => error instanceof KubeconfigError && error.message === c.message,
      );
    });
  }
});

Deno.test("readKubeconfig() and selectUser() give doctor the current context's user, its file and fields", async () => {
  await using tmp = await tempDir();
  await Deno.writeTextFile(`${tmp.path}/b`, SECOND);
  const merged = await readKubeconfig({
    env: env({ KUBECONFIG: `${tmp.path}/b` }),
    cwd: tmp.path,
  });
  const entry = selectUser(merged, {});
  assert.equal(entry.name, "prod-user");
  assert.equal(entry.file, `${tmp.path}/b`);
  assert.equal(entry.context, "prod");
  assert.deepEqual(entry.user, { token: "t" });
});

Deno.test("readKubeconfigFiles() keeps the exact bytes and refuses what is not a regular file", async (t) => {
  await using tmp = await tempDir();
  await t.step("bytes as on disk, invalid UTF-8 included", async () => {
    const path = `${tmp.path}/latin1`;
    const bytes = new Uint8Array([
      ...new TextEncoder().encode("# caf"),
      0xe9,
      0x0a,
      ...new TextEncoder().encode("apiVersion: v1\n"),
    ]);
    await Deno.writeFile(path, bytes);
    const [file] = await readKubeconfigFiles([path]);
    assert.deepEqual(file!.bytes, bytes);
    assert.equal(file!.text, "# caf\ufffd\napiVersion: v1\n");
  });
  await t.step("a missing file is null, as kubectl skips it", async () => {
    const [file] = await readKubeconfigFiles([`${tmp.path}/missing`]);
    assert.equal(file!.bytes, null);
    assert.equal(file!.text, null);
  });
  await t.step("a folder", async () => {
    await assert.rejects(
      readKubeconfigFiles([tmp.path]),
      (error: unknown) =>
        error instanceof KubeconfigError &&
        error.message === `kubeconfig ${tmp.path} is a folder, not a file`,
    );
  });
  const noFifo = WINDOWS ? " (ignored: Windows has no mkfifo or /dev devices)" : "";
  await t.step({
    name: "a FIFO, a device" + noFifo,
    ignore: WINDOWS,
    fn: async () => {
      const fifo = `${tmp.path}/fifo`;
      assert.equal((await new Deno.Command("mkfifo", { args: [fifo] }).output()).code, 0);
      for (
        const [path, message] of [
          [fifo, `kubeconfig ${fifo} is a named pipe (FIFO), not a regular file`],
          ["/dev/zero", "kubeconfig /dev/zero is a device, not a regular file"],
        ]
      ) {
        await assert.rejects(
          readKubeconfigFiles([path!]),
          (error: unknown) => error instanceof KubeconfigError && error.message === message,
        );
      }
    },
  });
});

Deno.test("parseKubeconfig() rejects malformed YAML with its line and column, without quoting it", async (t) => {
  const cases = [
    {
      name: "bad indentation",
      text: "apiVersion: v1\nusers:\n- name: a\n  user:\n    token: s3cret\n   bad: [\n",
      message: /^kubeconfig \/k is not valid YAML at line 6, column \d+: /,
    },
    {
      name: "duplicate key",
      text: "users: []\nusers: []\n",
      message: /^kubeconfig \/k is not valid YAML at line 2, column 1: /,
    },
    {
      name: "alias before its anchor",
      text: "users:\n- name: a\n  user:\n    token: *nope\n",
      message: /^kubeconfig \/k is not valid YAML: Unresolved alias .*: nope$/,
    },
    {
      name: "two documents",
      text: "a: 1\n---\nb: 2\n",
      message: /^kubeconfig \/k holds 2 YAML documents; a kubeconfig is one document$/,
    },
    {
      name: "top level list",
      text: "- a\n- b\n",
      message: /^kubeconfig \/k is not a kubeconfig: its top level is a list, not a mapping$/,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assert.throws(() => parseKubeconfig(c.text, "/k"), (error: unknown) => {
        assert.ok(error instanceof KubeconfigError);
        assert.match(error.message, c.message);
        assert.doesNotMatch(error.message, /s3cret/);
        return true;
      });
    });
  }
});
