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

/** A small disk holding KUBECONFIG as `config` (mode 0600), whose path is `kubeconfig`. */
async function diskWithKubeconfig() {
  const disk = await smallDisk();
  const kubeconfig = `${disk.path}/config`;
  try {
    Deno.writeTextFileSync(kubeconfig, KUBECONFIG, { mode: 0o600 });
  } catch (error) {
    await disk[Symbol.asyncDispose]();
    throw error;
  }
  return Object.assign(disk, { kubeconfig });
}

/** An Io whose HOME and working folder are the disk. */
const ioOn = (disk: { path: string }, options: Parameters<typeof fakeIo>[0] = {}) =>
  fakeIo({ env: { HOME: disk.path }, cwd: disk.path, ...options });

/** The KubeconfigError `promise` rejects with; fails the test if it resolves or throws anything else. */
async function kubeconfigError(promise: Promise<unknown>): Promise<KubeconfigError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof KubeconfigError, String(error));
    return error;
  }
  assert.fail("no error");
}

Deno.test({
  name:
    "kubeconfig set on a full disk fails naming the kubeconfig, changes nothing and leaves no lock file (needs root and mount on Linux: tmpfs)",
  ignore: NO_SMALL_DISK,
  async fn() {
    await using disk = await diskWithKubeconfig();
    const path = disk.kubeconfig;
    disk.fill();
    const error = await kubeconfigError(setAlice(path, ioOn(disk)));
    assert.equal(
      error.message,
      `cannot write kubeconfig ${path}: no space left on the disk; the file was left as it was`,
    );
    assert.match(error.hint ?? "", /free some space/);
    assert.equal(Deno.readTextFileSync(path), KUBECONFIG);
    assert.deepEqual(namesIn(disk.path), ["config"], "no lock file, no temporary file");
    // With room again the same command goes through: nothing was left locked.
    disk.free();
    assert.equal(await setAlice(path, ioOn(disk)), 0);
    assert.match(Deno.readTextFileSync(path), /credentials_broker/);
  },
});

Deno.test({
  name:
    "kubeconfig set on a read-only disk is refused before the question, naming the kubeconfig (needs root and mount on Linux: tmpfs)",
  ignore: NO_SMALL_DISK,
  async fn(t) {
    await using disk = await diskWithKubeconfig();
    const path = disk.kubeconfig;
    await disk.readOnly();
    const cases: [string, string][] = [
      ["an existing kubeconfig", path],
      ["a new kubeconfig", `${disk.path}/new`],
    ];
    for (const [name, file] of cases) {
      await t.step(name, async () => {
        const io = ioOn(disk, { terminal: true, input: ["y"] });
        const error = await kubeconfigError(setAlice(file, io, false));
        assert.equal(
          error.message,
          `kubeconfig ${file} cannot be written: ${disk.path} is on a read-only file system`,
        );
        assert.equal(io.prompts, 0, "nobody is asked about a change that cannot be made");
      });
    }
    assert.equal(Deno.readTextFileSync(path), KUBECONFIG);
    assert.deepEqual(namesIn(disk.path), ["config"]);
  },
});
