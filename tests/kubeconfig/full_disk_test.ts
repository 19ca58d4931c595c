/**
 * `kubeconfig set` on a full (ENOSPC) or read-only (EROFS) disk, for real (a small tmpfs, as root on Linux): a
 * clear error naming the kubeconfig, nothing of the user's changed, kubectl's lock file given back, and a read-only
 * disk refused before anyone is asked anything.
 */
import assert from "node:assert/strict";
import { kubeconfigSet } from "../../lib/kubeconfig/set.ts";
import { parseSetArgs } from "../../lib/kubeconfig/set_flags.ts";
import { KubeconfigError } from "../../lib/shared/errors.ts";
import { fakeIo } from "../helpers.ts";
import { NO_SMALL_DISK, smallDisk } from "../small_disk.ts";

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: []
contexts: []
current-context: ""
preferences: {}
users:
- name: alice
  user:
    token: ALICE-TOKEN
`;

/** The names in `dir` (the filler of the full disk left out). */
const namesIn = (dir: string) =>
  [...Deno.readDirSync(dir)].map((entry) => entry.name).filter((name) => name !== ".filler")
    .sort();

async function setAlice(path: string, io: ReturnType<typeof fakeIo>, force = true) {
  const args = ["--kubeconfig", path, "--user", "alice", "--token-path=/t"];
  return await kubeconfigSet(parseSetArgs(force ? ["-f", ...args] : args, io), io);
}

Deno.test({
  name:
    "kubeconfig set on a full disk fails naming the kubeconfig, changes nothing and leaves no lock file (needs root and mount on Linux: tmpfs)",
  ignore: NO_SMALL_DISK,
  async fn() {
    await using disk = await smallDisk();
    const path = `${disk.path}/config`;
    Deno.writeTextFileSync(path, KUBECONFIG, { mode: 0o600 });
    disk.fill();
    const io = fakeIo({ env: { HOME: disk.path }, cwd: disk.path });
    await assert.rejects(
      () => setAlice(path, io),
      (error: unknown) => {
        assert.ok(error instanceof KubeconfigError, String(error));
        assert.equal(
          error.message,
          `cannot write kubeconfig ${path}: no space left on the disk; the file was left as it was`,
        );
        assert.match(error.hint ?? "", /free some space/);
        return true;
      },
    );
    assert.equal(Deno.readTextFileSync(path), KUBECONFIG);
    assert.deepEqual(namesIn(disk.path), ["config"], "no lock file, no temporary file");
    // With room again the same command goes through: nothing was left locked.
    disk.free();
    assert.equal(await setAlice(path, fakeIo({ env: { HOME: disk.path }, cwd: disk.path })), 0);
    assert.match(Deno.readTextFileSync(path), /credentials_broker/);
  },
});

Deno.test({
  name:
    "kubeconfig set on a read-only disk is refused before the question, naming the kubeconfig (needs root and mount on Linux: tmpfs)",
  ignore: NO_SMALL_DISK,
  async fn(t) {
    await using disk = await smallDisk();
    const path = `${disk.path}/config`;
    Deno.writeTextFileSync(path, KUBECONFIG, { mode: 0o600 });
    await disk.readOnly();
    const cases: [string, string][] = [
      ["an existing kubeconfig", path],
      ["a new kubeconfig", `${disk.path}/new`],
    ];
    for (const [name, file] of cases) {
      await t.step(name, async () => {
        const io = fakeIo({
          env: { HOME: disk.path },
          cwd: disk.path,
          terminal: true,
          input: ["y"],
        });
        await assert.rejects(
          () => setAlice(file, io, false),
          (error: unknown) => {
            assert.ok(error instanceof KubeconfigError, String(error));
            assert.equal(
              error.message,
              `kubeconfig ${file} cannot be written: ${disk.path} is on a read-only file system`,
            );
            return true;
          },
        );
        assert.equal(io.prompts, 0, "nobody is asked about a change that cannot be made");
      });
    }
    assert.equal(Deno.readTextFileSync(path), KUBECONFIG);
    assert.deepEqual(namesIn(disk.path), ["config"]);
  },
});
