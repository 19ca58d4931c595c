import assert from "node:assert/strict";
import { KubeconfigError } from "../../lib/shared/errors.ts";
import {
  checkWritable,
  kubeconfigPaths,
  lockLikeKubectl,
  unchangedSince,
  writeFileAtomic,
} from "../../lib/kubeconfig/files.ts";
import { readKubeconfigFiles } from "../../lib/kubeconfig/read.ts";
import { tempDir } from "../helpers.ts";

const WINDOWS = Deno.build.os === "windows";
/** Why a test of file modes does not run on Windows. */
const NO_MODES = WINDOWS ? " (ignored: Windows files have no mode bits)" : "";
/** Why a test of symlinks does not run on Windows. */
const NO_SYMLINKS = WINDOWS ? " (ignored: a symlink needs a privilege on Windows)" : "";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

/** What Deno throws when a write meets a full disk (ENOSPC). */
const diskFull = () =>
  Object.assign(new Error("No space left on device (os error 28)"), { code: "ENOSPC" });

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
      // POSIX rules, on any host; the Windows ones are the next test's.
      const result = kubeconfigPaths({
        explicit: c.explicit,
        env: env(c.vars),
        cwd: "/work",
        os: "linux",
      });
      assert.deepEqual(result, { paths: c.paths, explicit: c.explicitResult });
    });
  }
});

Deno.test({
  name: "writeFileAtomic() keeps the mode, and writes 0600 for a new file" + NO_MODES,
  ignore: WINDOWS,
}, async () => {
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

Deno.test({
  name: "writeFileAtomic() updates a symlink's target and leaves the link a link" + NO_SYMLINKS,
  ignore: WINDOWS,
}, async () => {
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
        throw diskFull();
      },
    }),
    (error: unknown) =>
      error instanceof KubeconfigError &&
      error.message ===
        `cannot write kubeconfig ${path}: no space left on the disk; the file was left as it was`,
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
  await t.step({
    name: "read-only folder" + NO_MODES,
    ignore: WINDOWS,
    fn: async () => {
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
    },
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

Deno.test("kubeconfigPaths() expands ~/ in --kubeconfig and follows Windows list and home rules", async (t) => {
  await t.step("~/ in --kubeconfig is the home folder", () => {
    const result = kubeconfigPaths({
      explicit: "~/k/config",
      env: env({ HOME: "/h" }),
      cwd: "/work",
      os: "linux",
    });
    assert.deepEqual(result.paths, ["/h/k/config"]);
  });
  await t.step("windows: ; list, drive paths, relative ones from cwd", () => {
    const result = kubeconfigPaths({
      env: env({ KUBECONFIG: "C:\\a\\config;rel\\b;;C:\\a\\config" }),
      cwd: "C:\\work",
      os: "windows",
    });
    assert.deepEqual(result.paths, ["C:\\a\\config", "C:\\work\\rel\\b"]);
  });
  await t.step("windows: USERPROFILE when HOME is unset", () => {
    const result = kubeconfigPaths({
      env: env({ USERPROFILE: "C:\\Users\\me" }),
      cwd: "C:\\work",
      os: "windows",
    });
    assert.deepEqual(result.paths, ["C:\\Users\\me\\.kube\\config"]);
  });
});

Deno.test("lockLikeKubectl() creates <file>.lock exclusively and removes it; waits, then names a stale one", async (t) => {
  await using tmp = await tempDir();
  const path = `${tmp.path}/config`;
  await Deno.writeTextFile(path, "x\n");
  await t.step("taken and released", async () => {
    {
      using lock = await lockLikeKubectl(path);
      assert.deepEqual(lock.files, [`${path}.lock`]);
      assert.ok((await Deno.lstat(`${path}.lock`)).isFile);
      await assert.rejects(lockLikeKubectl(path, { timeoutMs: 30 }), KubeconfigError, "exclusive");
    }
    await assert.rejects(Deno.lstat(`${path}.lock`), Deno.errors.NotFound);
  });
  await t.step({
    name: "a symlink locks its own name and its target's" + NO_SYMLINKS,
    ignore: WINDOWS,
    fn: async () => {
      const link = `${tmp.path}/link`;
      await Deno.symlink(path, link);
      using lock = await lockLikeKubectl(link);
      assert.deepEqual(lock.files, [`${path}.lock`, `${link}.lock`].sort());
    },
  });
  await t.step("an existing lock: waited for, then named", async () => {
    await Deno.writeTextFile(`${path}.lock`, "");
    const waited: string[] = [];
    await assert.rejects(
      lockLikeKubectl(path, { timeoutMs: 50, onWait: (file) => void waited.push(file) }),
      (error: unknown) =>
        error instanceof KubeconfigError &&
        error.message === `kubeconfig ${path} is locked by ${path}.lock: still there after 0.05s` &&
        /stale/.test(error.hint ?? ""),
    );
    assert.deepEqual(waited, [`${path}.lock`]);
    assert.ok((await Deno.lstat(`${path}.lock`)).isFile, "not ours to remove");
    await Deno.remove(`${path}.lock`);
  });
});

Deno.test("unchangedSince() compares bytes, and a file appearing or going counts as a change", async () => {
  await using tmp = await tempDir();
  const a = `${tmp.path}/a`;
  await Deno.writeTextFile(a, "apiVersion: v1\n");
  const files = await readKubeconfigFiles([a, `${tmp.path}/b`]);
  assert.ok(unchangedSince(files));
  await Deno.writeTextFile(a, "apiVersion: v2\n");
  assert.ok(!unchangedSince(files), "same length, other bytes");
  await Deno.writeTextFile(a, "apiVersion: v1\n");
  await Deno.writeTextFile(`${tmp.path}/b`, "");
  assert.ok(!unchangedSince(files), "a file that appeared");
});

Deno.test("writeFileAtomic() writes bytes exactly, and rewrites a hard-linked file in place", async (t) => {
  await using tmp = await tempDir();
  await t.step("bytes", async () => {
    const path = `${tmp.path}/bytes`;
    const bytes = new Uint8Array([0x23, 0xe9, 0x0a, 0xff]);
    assert.equal(await writeFileAtomic(path, bytes), "renamed");
    assert.deepEqual(await Deno.readFile(path), bytes);
  });
  await t.step("hard links stay one file", async () => {
    const path = `${tmp.path}/linked`;
    await Deno.writeTextFile(path, "a much longer old text than the new one\n");
    await Deno.link(path, `${tmp.path}/linked-too`);
    assert.equal(await writeFileAtomic(path, "new\n"), "in-place");
    assert.equal(
      await Deno.readTextFile(`${tmp.path}/linked-too`),
      "new\n",
      "truncated to the new length",
    );
    assert.equal((await Deno.stat(path)).nlink, 2);
  });
  await t.step(
    "a failure before the in-place write leaves the file and no temporary file",
    async () => {
      const path = `${tmp.path}/linked`;
      await assert.rejects(
        writeFileAtomic(path, "other\n", {
          beforeReplace: (_tmp, method) => {
            assert.equal(method, "in-place");
            throw diskFull();
          },
        }),
        {
          message:
            `cannot write kubeconfig ${path}: no space left on the disk; the file was left as it was`,
        },
      );
      assert.equal(await Deno.readTextFile(path), "new\n");
      assert.deepEqual(await names(tmp.path), ["bytes", "linked", "linked-too"]);
    },
  );
  await t.step("root keeps another user's owner and group", async () => {
    if (Deno.uid() !== 0) return;
    const path = `${tmp.path}/owned`;
    await Deno.writeTextFile(path, "old\n", { mode: 0o600 });
    await Deno.chown(path, 1234, 4321);
    assert.equal(await writeFileAtomic(path, "new\n"), "renamed");
    const info = await Deno.stat(path);
    assert.deepEqual([info.uid, info.gid, info.mode! & 0o777], [1234, 4321, 0o600]);
  });
});

/** Whether this process may bind-mount a file (root on Linux, with the mount capability), to test that case. */
function canBindMount(): boolean {
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) return false;
  const dir = Deno.makeTempDirSync({ prefix: "ccb-mount-" });
  try {
    Deno.writeTextFileSync(`${dir}/a`, "");
    Deno.writeTextFileSync(`${dir}/b`, "");
    const mount = new Deno.Command("mount", {
      args: ["--bind", `${dir}/a`, `${dir}/b`],
      stderr: "null",
    });
    if (!mount.outputSync().success) return false;
    new Deno.Command("umount", { args: [`${dir}/b`] }).outputSync();
    return true;
  } catch {
    return false;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "writeFileAtomic() rewrites a bind-mounted kubeconfig in place, as kubectl does (needs root and mount)",
  ignore: !canBindMount(),
  async fn() {
    await using tmp = await tempDir();
    // The host's file, mounted onto a container's ~/.kube/config: a rename over a mount point fails with EBUSY.
    const host = `${tmp.path}/host-config`;
    const mounted = `${tmp.path}/config`;
    await Deno.writeTextFile(host, "a much longer old text than the new one\n", { mode: 0o600 });
    await Deno.writeTextFile(mounted, "");
    const mount = await new Deno.Command("mount", { args: ["--bind", host, mounted] }).output();
    assert.ok(mount.success, new TextDecoder().decode(mount.stderr));
    try {
      assert.equal(await writeFileAtomic(mounted, "new\n"), "in-place");
      assert.equal(await Deno.readTextFile(mounted), "new\n");
      assert.equal(await Deno.readTextFile(host), "new\n", "the host's file is the one written");
      assert.deepEqual(
        await names(tmp.path),
        ["config", "host-config"],
        "no temporary file is left",
      );
    } finally {
      await new Deno.Command("umount", { args: [mounted] }).output();
    }
  },
});
