/**
 * Giving the renewal lock back never decides a call (issue 19): under Wine `unlockSync()` throws "Lock violation"
 * even right after `lockSync()`, and that error, thrown while `using` disposes the lock, used to replace the
 * call's own error with `internal error (SuppressedError)`, or fail a renewal that had worked. Closing the file
 * releases the lock on every OS. Also: lock-folder errors said in words (issue 18 item 8).
 */
import assert from "node:assert/strict";
import { acquireLock } from "../../lib/plugin/lock.ts";
import { tempDir } from "../helpers.ts";
import { callPlugin } from "./call_plugin.ts";
import { tokenWorld } from "./token_world.ts";

/** Makes every FsFile's unlockSync throw as it does under Wine, until disposed. */
function unlockFailsLikeWine(): Disposable {
  const original = Deno.FsFile.prototype.unlockSync;
  Deno.FsFile.prototype.unlockSync = function () {
    throw new Error("Lock violation (os error 33)");
  };
  return {
    [Symbol.dispose]() {
      Deno.FsFile.prototype.unlockSync = original;
    },
  };
}

Deno.test("a failing renewal command is the error a user sees even when giving the lock back fails", async () => {
  await using tmp = await tempDir();
  const w = tokenWorld(tmp.path);
  using _wine = unlockFailsLikeWine();
  const result = await callPlugin(
    [`--token-path=${w.token}`, `--before-exec-command=${w.command({ exitCode: 3 })}`],
    { home: tmp.path },
  );
  assert.equal(result.code, 3, result.stderr);
  assert.match(result.stderr, /^error: before-exec command .* failed with exit status 3$/m);
  assert.doesNotMatch(result.stderr, /SuppressedError|internal error|Lock violation/);
});

Deno.test("a renewal that worked is answered even when giving the lock back fails", async () => {
  await using tmp = await tempDir();
  const w = tokenWorld(tmp.path);
  using _wine = unlockFailsLikeWine();
  const result = await callPlugin(
    [`--token-path=${w.token}`, `--before-exec-command=${w.command()}`],
    { home: tmp.path },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(w.done(), 1);
  assert.ok(JSON.parse(result.stdout).status.token);
});

Deno.test("a lock whose unlock fails is still given back: the next holder gets it at once", async () => {
  await using tmp = await tempDir();
  using _wine = unlockFailsLikeWine();
  const first = await acquireLock({ dir: tmp.path, name: "x.lock", timeoutMs: 0 });
  first[Symbol.dispose]();
  const started = Date.now();
  using _second = await acquireLock({ dir: tmp.path, name: "x.lock", timeoutMs: 2000 });
  assert.ok(Date.now() - started < 1000);
});

Deno.test("a lock folder that cannot be made is said in words, not as an OS error's class", async (t) => {
  await using tmp = await tempDir();
  const w = tokenWorld(tmp.path);
  const file = tmp.join("a-file");
  Deno.writeTextFileSync(file, "");
  // Windows has no symlinks without privileges.
  const windows = Deno.build.os === "windows";
  if (!windows) Deno.symlinkSync(tmp.join("nowhere", "cache"), tmp.join("dangling"));
  const cases: [string, string, RegExp][] = [
    [
      "under a file",
      tmp.join("a-file", "cache"),
      /^error: cannot create the lock folder .*a-file.cache: a part of the path is not a folder$/m,
    ],
    [
      "a dangling symlink (not on Windows: symlinks need privileges there)",
      tmp.join("dangling"),
      /^error: cannot create the lock folder .*dangling: no such file or folder$/m,
    ],
  ];
  for (const [name, cacheDir, expected] of cases) {
    await t.step({
      name,
      ignore: windows && name.includes("symlink"),
      fn: async () => {
        const result = await callPlugin(
          [
            `--token-path=${w.token}`,
            `--before-exec-command=${w.command()}`,
            `--cache-dir=${cacheDir}`,
          ],
          { home: tmp.path },
        );
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, expected);
        assert.equal(w.runs(), 0);
      },
    });
  }
});

Deno.test("with the OS's own lock (Wine's unlock fails for real): a failing renewal's error, then a renewal that works", async () => {
  await using tmp = await tempDir();
  const w = tokenWorld(tmp.path);
  const failing = await callPlugin(
    [`--token-path=${w.token}`, `--before-exec-command=${w.command({ exitCode: 3 })}`],
    { home: tmp.path },
  );
  assert.equal(failing.code, 3, failing.stderr);
  assert.doesNotMatch(failing.stderr, /SuppressedError|internal error|ock violation/);
  const working = await callPlugin(
    [`--token-path=${w.token}`, `--before-exec-command=${w.command()}`],
    { home: tmp.path },
  );
  assert.equal(working.code, 0, working.stderr);
  assert.equal(w.done(), 1);
});
