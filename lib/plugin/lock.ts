import { CliError, LockTimeoutError, osErrorWords } from "../shared/errors.ts";
import { formatDuration } from "../shared/duration.ts";
import { writeAllSync } from "../shared/io.ts";
import {
  hasPosixPermissions,
  HOST_OS,
  hostHomeDir,
  joinPath,
  processRuns,
  stopProcess,
} from "../shared/platform.ts";

/** The per-user folder for renewal locks, next to kubectl's own ~/.kube/cache/{discovery,http}. */
export function defaultCacheDir(env: (name: string) => string | undefined): string {
  const home = hostHomeDir(env);
  if (!home) {
    throw new CliError("cannot find the home folder for the lock folder: HOME is not set", {
      hint: "set HOME or pass --cache-dir",
    });
  }
  return joinPath(
    joinPath(joinPath(home, ".kube", HOST_OS), "cache", HOST_OS),
    "credentials-broker",
    HOST_OS,
  );
}

/** The renewal lock of a credential set (resolved paths and command): its folder and file name. */
export function renewalLock(
  set: {
    cacheDir?: string;
    clientCertificatePath?: string;
    clientKeyPath?: string;
    tokenPath?: string;
    beforeExecCommand?: string;
  },
  env: (name: string) => string | undefined,
): { dir: string; name: string } {
  return {
    dir: set.cacheDir ?? defaultCacheDir(env),
    name: lockName("renew", [
      set.clientCertificatePath,
      set.clientKeyPath,
      set.tokenPath,
      set.beforeExecCommand,
    ]),
  };
}

/** A held lock; release it by disposing (or it goes when the process exits, since the OS drops flock locks). */
export interface HeldLock extends Disposable {
  path: string;
  /** What the lock file holds: a note the holder left for the next one ("" when none). */
  readNote(): string;
  /** Replaces the lock file's note ("" clears it). The lock itself does not depend on the content. */
  writeNote(text: string): void;
}

/**
 * Takes the exclusive lock `name` in `dir`, waiting at most `timeoutMs`. The lock is flock(2) on an open file,
 * so a holder that dies, even by SIGKILL, releases it: the file's existence means nothing.
 */
export async function acquireLock(options: {
  dir: string;
  name: string;
  timeoutMs: number;
  /** Called once when the lock has been busy for `noticeAfterMs`, to tell the user why nothing happens. */
  onWait?: () => void | Promise<void>;
  noticeAfterMs?: number;
  /** What the holder is doing, for the timeout message. */
  holder?: string;
}): Promise<HeldLock> {
  ensurePrivateDir(options.dir);
  const path = joinPath(options.dir, options.name, HOST_OS);
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true, write: true, create: true, mode: 0o600 });
  } catch (error) {
    throw new CliError(`cannot open lock file ${path}: ${osErrorWords(error)}`, {
      cause: error,
      hint: "check the permissions and free space of the lock folder, or pass --cache-dir",
    });
  }
  try {
    checkOwner(file.statSync(), path, "lock file");
    if (!file.tryLockSync(true)) {
      const start = Date.now();
      const deadline = start + options.timeoutMs;
      let noticed = false;
      let pause = 5;
      while (!file.tryLockSync(true)) {
        if (!noticed && Date.now() - start >= (options.noticeAfterMs ?? 0)) {
          noticed = true;
          await options.onWait?.();
        }
        if (Date.now() >= deadline) {
          throw new LockTimeoutError(
            `gave up after waiting ${formatDuration(options.timeoutMs)} for ${
              options.holder ?? "another process"
            } (lock ${path})`,
            { hint: "that process may be stuck; find it with: fuser -v " + path },
          );
        }
        await new Promise((resolve) =>
          setTimeout(resolve, Math.min(pause, Math.max(1, deadline - Date.now())))
        );
        pause = Math.min(pause * 2, 50);
      }
    }
  } catch (error) {
    file.close();
    throw error;
  }
  return {
    path,
    // On the open file: reading an empty one costs no thrown error (a first NotFound costs 0.4 ms).
    readNote: () => {
      file.seekSync(0, Deno.SeekMode.Start);
      const chunks: Uint8Array[] = [];
      const buffer = new Uint8Array(4096);
      for (let n; (n = file.readSync(buffer)) !== null && n > 0;) {
        chunks.push(buffer.slice(0, n));
      }
      return chunks.length === 0 ? "" : new TextDecoder().decode(concat(chunks));
    },
    writeNote: (text) => {
      try {
        file.truncateSync(0);
        file.seekSync(0, Deno.SeekMode.Start);
        writeAllSync(file, text);
      } catch (error) {
        // A full or read-only disk: the caller must not go on as if the note were there.
        throw new CliError(`cannot write the lock file ${path}: ${osErrorWords(error)}`, {
          cause: error,
          hint:
            "free space on that disk or make it writable, or pass --cache-dir with another folder",
        });
      }
    },
    // Never throws: it runs while `using` disposes the lock, often with the call's own error in flight, which a
    // failure here would replace (SuppressedError). Closing the file releases the lock on every OS (flock,
    // LockFileEx), so a failed unlock costs nothing: under Wine unlockSync fails even right after lockSync.
    // Synchronous: an async unlock costs a thread hop.
    [Symbol.dispose]: () => {
      try {
        file.unlockSync();
      } catch {
        // released by the close below
      }
      try {
        file.close();
      } catch {
        // already closed; the process's end drops the lock in any case
      }
    },
  };
}

/**
 * Creates `dir` as 0700 when missing, and refuses a folder another user owns: a lock there could be held
 * forever by them, or swapped for a symlink.
 */
export function ensurePrivateDir(dir: string): void {
  // Synchronous on purpose: this runs on every kubectl call, and each async file operation costs a thread hop.
  try {
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(dir);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
      info = Deno.lstatSync(dir);
    }
    if (info.isSymlink) {
      const target = Deno.statSync(dir);
      if (!target.isDirectory) throw new CliError(`lock folder ${dir} is not a folder`);
      checkOwner(target, dir, "lock folder");
      return;
    }
    if (!info.isDirectory) throw new CliError(`lock folder ${dir} is not a folder`);
    checkOwner(info, dir, "lock folder");
    if (hasPosixPermissions(HOST_OS) && info.mode !== null && (info.mode & 0o077) !== 0) {
      Deno.chmodSync(dir, 0o700);
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    // Windows' mkdir reports a file on the way as "already exists" (create_dir_all), POSIX as ENOTDIR.
    const words = error instanceof Deno.errors.AlreadyExists
      ? "a part of the path is not a folder"
      : osErrorWords(error);
    throw new CliError(`cannot create the lock folder ${dir}: ${words}`, {
      cause: error,
      hint: "pass --cache-dir with a folder you own",
    });
  }
}

/** Refuses what another user owns. Not on Windows: no owner there (ACLs protect the profile folder instead). */
function checkOwner(info: Deno.FileInfo, path: string, what: string): void {
  if (!hasPosixPermissions(HOST_OS)) return;
  const uid = Deno.uid();
  if (uid === null || info.uid === null) return;
  if (info.uid !== uid) {
    throw new CliError(
      `${what} ${path} belongs to another user (uid ${info.uid}); refusing to use it`,
      {
        hint: "pass --cache-dir with a folder you own",
      },
    );
  }
}

/**
 * A short stable file name for a set of strings (the credential paths and command). Two FNV-1a hashes make 64
 * bits: a collision would only make two credential sets share a lock, and this avoids WebCrypto's start-up cost.
 */
export function lockName(prefix: string, parts: readonly (string | undefined)[]): string {
  const text = JSON.stringify(parts);
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  const hex = (n: number) => (n >>> 0).toString(16).padStart(8, "0");
  return `${prefix}-${hex(a)}${hex(b)}.lock`;
}

/**
 * A before-exec command as recorded in the lock file while it runs: the next lock holder finds it there when the
 * broker that started it died (SIGKILL, OOM), since the command, in a session of its own, lives on.
 */
export interface RunningCommand {
  pid: number;
  /** Whether it leads a process group of its own (a non-interactive command): stop the group, not just it. */
  group: boolean;
  /** When it was spawned (epoch ms), so that a later process given the same pid is not mistaken for it. */
  startedAt: number;
  /** When its broker would have stopped it (epoch ms). */
  deadline: number;
}

/**
 * Records `command` as running under `lock`. Written right after the spawn, one small synchronous write: the
 * window in which a killed broker leaves no record is as short as it can be.
 */
export function recordRunning(lock: HeldLock, command: RunningCommand): void {
  lock.writeNote(JSON.stringify(command) + "\n");
}

/**
 * Forgets the command recorded under `lock`: it has ended. Never throws (it runs in `finally`, where it would
 * replace the call's own error): a note that cannot be cleared is harmless, since the next holder finds its
 * process gone (processRuns compares the start time too) and clears it then.
 */
export function forgetRunning(lock: HeldLock): void {
  try {
    lock.writeNote("");
  } catch {
    // left for the next holder
  }
}

/**
 * Makes sure no command recorded under `lock` still runs before another starts: one left by a broker that died
 * is waited for until its own deadline (at most `timeoutMs`), then stopped with its process group, as its broker
 * would have. Its leader's end is the end of that renewal: what it left behind in the background is left alone,
 * as after any renewal.
 */
export async function settleLeftover(lock: HeldLock, options: {
  timeoutMs: number;
  graceMs: number;
  onWait: (pid: number) => void | Promise<void>;
}): Promise<void> {
  const note = lock.readNote();
  if (note === "") return;
  let record: RunningCommand;
  try {
    record = JSON.parse(note);
  } catch {
    forgetRunning(lock); // torn: nothing to go by
    return;
  }
  const { pid, group, startedAt, deadline } = record ?? {};
  const valid = Number.isSafeInteger(pid) && pid > 1 && typeof startedAt === "number" &&
    typeof deadline === "number";
  const alive = () => processRuns(pid, startedAt);
  if (valid && alive()) {
    await options.onWait(pid);
    const until = Math.min(deadline, Date.now() + options.timeoutMs);
    await waitWhile(alive, until);
    if (alive()) {
      stopProcess(pid, { tree: group === true, force: false });
      await waitWhile(alive, Date.now() + options.graceMs);
      if (alive()) stopProcess(pid, { tree: group === true, force: true });
      await waitWhile(alive, Date.now() + options.graceMs);
    }
  }
  forgetRunning(lock);
}

async function waitWhile(condition: () => boolean, until: number): Promise<void> {
  let pause = 10;
  while (condition() && Date.now() < until) {
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(1, Math.min(pause, until - Date.now())))
    );
    pause = Math.min(pause * 2, 100);
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((total, chunk) => total + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
