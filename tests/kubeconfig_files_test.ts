import assert from "node:assert/strict";
import { KubeconfigError } from "../lib/errors.ts";
import {
  checkWritable,
  kubeconfigPaths,
  loadUserEntry,
  mergeKubeconfigs,
  readKubeconfigFiles,
  selectUser,
  writeFileAtomic,
} from "../lib/kubeconfig_files.ts";
import { tempDir } from "./helpers.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("kubeconfigPaths() follows kubectl's loading rules", async (t) => {
  const cases: {
    name: string;
    explicit?: string;
    vars: Record<string, string>;
    paths: string[];
    explicitResult: boolean;
  }[] = [
    {
      name: "--kubeconfig wins over KUBECONFIG",
      explicit: "k.yaml",
      vars: { KUBECONFIG: "/a", HOME: "/h" },
      paths: ["/work/k.yaml"],
      explicitResult: true,
    },
    {
      name: "KUBECONFIG list, empty entries and duplicates dropped, relative made absolute",
      vars: { KUBECONFIG: "/a::rel/b:/a", HOME: "/h" },
      paths: ["/a", "/work/rel/b"],
      explicitResult: false,
    },
    {
      name: "empty KUBECONFIG means the default",
      vars: { KUBECONFIG: "", HOME: "/h" },
      paths: ["/h/.kube/config"],
      explicitResult: false,
    },
    { name: "default", vars: { HOME: "/h/" }, paths: ["/h/.kube/config"], explicitResult: false },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const result = kubeconfigPaths({ explicit: c.explicit, env: env(c.vars), cwd: "/work" });
      assert.deepEqual(result, { paths: c.paths, explicit: c.explicitResult });
    });
  }
});

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

Deno.test("loadUserEntry() gives doctor the current context's user, its file and fields", async () => {
  await using tmp = await tempDir();
  await Deno.writeTextFile(`${tmp.path}/b`, SECOND);
  const entry = await loadUserEntry({
    env: env({ KUBECONFIG: `${tmp.path}/b` }),
    cwd: tmp.path,
  });
  assert.equal(entry.name, "prod-user");
  assert.equal(entry.file, `${tmp.path}/b`);
  assert.equal(entry.context, "prod");
  assert.deepEqual(entry.user, { token: "t" });
});

Deno.test("writeFileAtomic() keeps the mode, and writes 0600 for a new file", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.path}/config`;
  await Deno.writeTextFile(path, "old\n", { mode: 0o640 });
  await Deno.chmod(path, 0o640);
  await writeFileAtomic(path, "new\n");
  assert.equal(await Deno.readTextFile(path), "new\n");
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o640);
  const fresh = `${tmp.path}/sub/dir/fresh`;
  await writeFileAtomic(fresh, "x\n");
  assert.equal((await Deno.stat(fresh)).mode! & 0o777, 0o600);
  assert.deepEqual(await names(tmp.path), ["config", "sub"], "no temporary file left");
});

Deno.test("writeFileAtomic() updates a symlink's target and leaves the link a link", async () => {
  await using tmp = await tempDir();
  await Deno.mkdir(`${tmp.path}/real`);
  await Deno.mkdir(`${tmp.path}/kube`);
  const target = `${tmp.path}/real/config`;
  const link = `${tmp.path}/kube/config`;
  await Deno.writeTextFile(target, "old\n");
  await Deno.symlink("../real/config", link);
  await writeFileAtomic(link, "new\n");
  assert.ok((await Deno.lstat(link)).isSymlink);
  assert.equal(await Deno.readLink(link), "../real/config");
  assert.equal(await Deno.readTextFile(target), "new\n");
  assert.deepEqual(await names(`${tmp.path}/real`), ["config"]);
});

Deno.test("writeFileAtomic() leaves the old file whole when the write fails before the rename", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.path}/config`;
  await Deno.writeTextFile(path, "old\n");
  let seen = "";
  await assert.rejects(
    writeFileAtomic(path, "new\n", {
      beforeReplace: async (tmpFile) => {
        seen = await Deno.readTextFile(tmpFile);
        throw new Error("disk full");
      },
    }),
    (error: unknown) =>
      error instanceof KubeconfigError &&
      error.message === `cannot write kubeconfig ${path}: disk full; the file was left as it was`,
  );
  assert.equal(seen, "new\n", "the new content was complete in the temporary file");
  assert.equal(await Deno.readTextFile(path), "old\n");
  assert.deepEqual(await names(tmp.path), ["config"], "the temporary file was removed");
});

Deno.test("checkWritable() refuses a read-only file or folder", async (t) => {
  await using tmp = await tempDir();
  await t.step("read-only file", async () => {
    const path = `${tmp.path}/ro-file`;
    await Deno.writeTextFile(path, "x\n");
    await Deno.chmod(path, 0o400);
    await assert.rejects(checkWritable(path), { message: `kubeconfig ${path} is read-only` });
  });
  await t.step("read-only folder", async () => {
    const dir = `${tmp.path}/ro-dir`;
    await Deno.mkdir(dir);
    await Deno.writeTextFile(`${dir}/config`, "x\n");
    await Deno.chmod(dir, 0o555);
    try {
      await assert.rejects(checkWritable(`${dir}/config`), {
        message: `folder ${dir} of kubeconfig ${dir}/config is read-only`,
      });
    } finally {
      await Deno.chmod(dir, 0o755);
    }
  });
  await t.step("writable file, and a new file in a writable folder", async () => {
    await Deno.writeTextFile(`${tmp.path}/ok`, "x\n");
    await checkWritable(`${tmp.path}/ok`);
    await checkWritable(`${tmp.path}/not/yet/there`);
  });
});

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) out.push(entry.name);
  return out.sort();
}
