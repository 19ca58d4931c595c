/**
 * scripts/windows.ts (`deno task test:windows`): the Wine workaround on deno.exe's bytes, the environment deno.exe
 * gets, where it caches, and what counts as a passing run. The run itself is `.ci/run`'s.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";
import {
  cacheHome,
  patchImports,
  STALL_MIN,
  stalled,
  summaryPassed,
  sweepNodeCompatCopies,
  WindowsRunError,
  wineEnv,
  wineZPath,
} from "../../scripts/windows.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

Deno.test("patchImports() renames VirtualAlloc2 and MapViewOfFile3 in place, same length, and nothing else", () => {
  const exe = bytes("MZ..VirtualAlloc2\0..MapViewOfFile3\0..VirtualAlloc\0..MapViewOfFile\0");
  const patched = patchImports(exe);
  assert.equal(patched.length, exe.length);
  assert.equal(
    text(patched),
    "MZ..VirtualAllocX\0..MapViewOfFileX\0..VirtualAlloc\0..MapViewOfFile\0",
  );
  assert.equal(text(exe).includes("VirtualAlloc2\0"), true, "the input is left alone");
});

Deno.test("patchImports() refuses a deno.exe without each name exactly once", async (t) => {
  for (
    const [name, exe] of [
      ["missing", "MZ..MapViewOfFile3\0"],
      ["twice", "VirtualAlloc2\0VirtualAlloc2\0MapViewOfFile3\0"],
      ["without its NUL", "VirtualAlloc2x MapViewOfFile3\0"],
    ] as const
  ) {
    await t.step(name, () => {
      assert.throws(() => patchImports(bytes(exe)), WindowsRunError);
    });
  }
});

Deno.test("wineEnv(): the prefix, quiet Wine, the CA bundle as DENO_CERT on drive Z:, a DENO_DIR of its own", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.deepEqual(wineEnv(env({}), "/c/prefix"), { WINEPREFIX: "/c/prefix", WINEDEBUG: "-all" });
  assert.deepEqual(
    wineEnv(
      env({
        NODE_EXTRA_CA_CERTS: "/etc/ssl/proxy ca.pem",
        DENO_DIR: "/tmp/ci-deno",
        WINEDEBUG: "err+all",
      }),
      "/p",
    ),
    {
      WINEPREFIX: "/p",
      WINEDEBUG: "err+all",
      DENO_CERT: "Z:\\etc\\ssl\\proxy ca.pem",
      DENO_DIR: "Z:\\tmp\\ci-deno\\windows",
    },
  );
  // DENO_CERT wins over the others, as Deno reads it.
  assert.equal(
    wineEnv(env({ DENO_CERT: "/a.pem", SSL_CERT_FILE: "/b.pem" }), "/p").DENO_CERT,
    "Z:\\a.pem",
  );
  assert.equal(wineZPath("/root/x y/z"), "Z:\\root\\x y\\z");
});

Deno.test("cacheHome(): KCB_WINE_HOME, else XDG_CACHE_HOME, else ~/.cache", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  const sep = Deno.build.os === "windows" ? "\\" : "/";
  assert.equal(cacheHome(env({ KCB_WINE_HOME: "/w", HOME: "/h" })), "/w");
  assert.equal(
    cacheHome(env({ XDG_CACHE_HOME: "/x", HOME: "/h" })),
    `/x${sep}kubectl-credentials-broker/wine-deno`,
  );
  assert.equal(
    cacheHome(env({ HOME: "/h" })),
    `/h${sep}.cache${sep}kubectl-credentials-broker/wine-deno`,
  );
});

Deno.test("summaryPassed(): only deno test's passing summary counts, not an exit 0 without one", () => {
  assert.equal(
    summaryPassed("x ... ok\n\nok | 3 passed (2 steps) | 0 failed | 1 ignored (2s)\n"),
    true,
  );
  assert.equal(summaryPassed("FAILED | 2 passed | 1 failed (3s)\n"), false);
  assert.equal(summaryPassed("x ... ok\n"), false, "a run cut short");
  assert.equal(summaryPassed("ok | 1 passed | 0 failed\nFAILED | 1 passed | 1 failed\n"), false);
});

Deno.test("sweepNodeCompatCopies() removes deno.exe's left-over node.exe.tmp-* copies in node_compat_bin folders, old ones only", async () => {
  await using tmp = await tempDir();
  const bin = join(tmp.path, "users/root/Temp/ccb-test-1/deno-dir/node_compat_bin");
  const other = join(tmp.path, "users/root/Documents");
  await Deno.mkdir(bin, { recursive: true });
  await Deno.mkdir(other, { recursive: true });
  const old = new Date(Date.now() - 10 * 60_000);
  for (const name of ["node.exe", "node.exe.tmp-1008", "node.exe.tmp-592", "node.exe.tmp-7"]) {
    await Deno.writeTextFile(join(bin, name), name);
    if (name !== "node.exe.tmp-7") await Deno.utime(join(bin, name), old, old);
  }
  await Deno.writeTextFile(join(other, "node.exe.tmp-3"), "not in node_compat_bin");
  await Deno.utime(join(other, "node.exe.tmp-3"), old, old);

  assert.equal(
    sweepNodeCompatCopies([join(tmp.path, "users"), join(tmp.path, "missing")], 60_000),
    2,
  );
  const left = [...Deno.readDirSync(bin)].map((entry) => entry.name).sort();
  assert.deepEqual(
    left,
    ["node.exe", "node.exe.tmp-7"],
    "the young copy may still be being written",
  );
  assert.ok(Deno.statSync(join(other, "node.exe.tmp-3")).isFile);
  assert.equal(sweepNodeCompatCopies([join(tmp.path, "users")], 0), 1);
  assert.deepEqual([...Deno.readDirSync(bin)].map((entry) => entry.name), ["node.exe"]);
});

Deno.test("stalled() reads deno test's running-for-over lines: a test at STALL_MIN minutes or more is lost under Wine", () => {
  const line = (minutes: number) =>
    `'16 concurrent calls under always never run the command concurrently' has been running for over (${minutes}m0s)\n`;
  assert.equal(STALL_MIN, 5);
  assert.equal(stalled(""), false);
  assert.equal(stalled(line(1) + line(4)), false);
  assert.equal(stalled(line(4) + line(5)), true);
  assert.equal(stalled(`x ... ok (6m0s)\n${line(12)}`), true);
  // A test's own name or output that merely mentions minutes is not deno's line.
  assert.equal(stalled("the lock was held (9m0s) ... ok (1s)\n"), false);
});
