/**
 * Real full and read-only disks for tests: a small tmpfs mounted on a fresh temp folder, filled to the last byte
 * (ENOSPC) or remounted read-only (EROFS). Mounting needs root on Linux; tests that use it carry
 * `ignore: NO_SMALL_DISK` and say so in their name.
 */
import { tempDir } from "./helpers.ts";

/** True where small-disk tests cannot run: not Linux, or not root (mounting a tmpfs needs both). */
export const NO_SMALL_DISK: boolean = Deno.build.os !== "linux" || Deno.uid() !== 0;

/** A mounted small disk; disposing unmounts it and removes the folder. */
export interface SmallDisk extends AsyncDisposable {
  /** The mount point. */
  path: string;
  /** Writes a filler file until the disk has no byte left. */
  fill(): void;
  /** Removes the filler: the disk has room again. */
  free(): void;
  readOnly(): Promise<void>;
  writable(): Promise<void>;
}

async function mount(args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command("mount", {
    args,
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (code !== 0) throw new Error(`mount ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
}

/** Mounts a tmpfs of `sizeKiB` (root, Linux): `await using disk = await smallDisk()`. */
export async function smallDisk(sizeKiB = 256): Promise<SmallDisk> {
  const folder = await tempDir("ccb-disk-");
  const path = folder.join("disk");
  Deno.mkdirSync(path);
  await mount(["-t", "tmpfs", "-o", `size=${sizeKiB}k,mode=0755`, "tmpfs", path]);
  const filler = `${path}/.filler`;
  return {
    path,
    fill() {
      const file = Deno.openSync(filler, { write: true, create: true, append: true });
      const chunk = new Uint8Array(4096);
      try {
        for (;;) file.writeSync(chunk);
      } catch (error) {
        if ((error as { code?: string }).code !== "ENOSPC") throw error;
      } finally {
        file.close();
      }
    },
    free() {
      Deno.removeSync(filler);
    },
    readOnly: () => mount(["-o", "remount,ro", path]),
    writable: () => mount(["-o", "remount,rw", path]),
    async [Symbol.asyncDispose]() {
      // Lazily: a process a failed test left behind may still have a file open there.
      const umount = await new Deno.Command("umount", {
        args: ["-l", path],
        stdout: "null",
        stderr: "null",
      }).output();
      if (umount.code === 0) await folder[Symbol.asyncDispose]();
    },
  };
}
