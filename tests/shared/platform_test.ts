import assert from "node:assert/strict";
import {
  basename,
  dirname,
  executableCandidates,
  executableProbe,
  expandTilde,
  fileUrlToPath,
  forwardedSignals,
  hasExecutableExtension,
  hasPosixPermissions,
  homeDir,
  HOST_OS,
  isAbsolute,
  joinPath,
  lookPath,
  type Os,
  pathKey,
  processRuns,
  resolvePath,
  sameProcessStart,
  splitPathList,
  stopPlan,
  stopProcess,
} from "../../lib/shared/platform.ts";
import { underWine } from "../../scripts/world/process.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("isAbsolute() follows Go's filepath.IsAbs on each OS", async (t) => {
  const rows: [Os, string, boolean][] = [
    ["linux", "/home/u/.kube/config", true],
    ["linux", "home/u", false],
    ["linux", "C:\\Users\\u", false],
    ["darwin", "/Users/u", true],
    ["darwin", "~/x", false],
    ["windows", "C:\\Users\\u\\.kube\\config", true],
    ["windows", "c:/Users/u", true],
    ["windows", "C:relative", false],
    ["windows", "\\\\server\\share\\kubeconfig", true],
    ["windows", "\\rooted\\no-drive", false],
    ["windows", "/rooted", false],
    ["windows", "relative\\x", false],
  ];
  for (const [os, path, expected] of rows) {
    await t.step(`${os}: ${path}`, () => assert.equal(isAbsolute(path, os), expected));
  }
});

Deno.test("resolvePath() makes a path absolute against the working folder, per OS", async (t) => {
  const rows: [Os, string, string, string][] = [
    ["linux", "certs/me.crt", "/home/u", "/home/u/certs/me.crt"],
    ["linux", "./certs/me.crt", "/home/u/", "/home/u/certs/me.crt"],
    ["linux", "/abs/me.crt", "/home/u", "/abs/me.crt"],
    ["darwin", "me.crt", "/", "/me.crt"],
    ["windows", "certs\\me.crt", "C:\\Users\\u", "C:\\Users\\u\\certs\\me.crt"],
    ["windows", ".\\me.crt", "C:\\Users\\u", "C:\\Users\\u\\me.crt"],
    ["windows", "D:\\x\\me.crt", "C:\\Users\\u", "D:\\x\\me.crt"],
    ["windows", "\\certs\\me.crt", "C:\\Users\\u", "C:\\certs\\me.crt"],
    ["windows", "me.crt", "\\\\srv\\share\\u", "\\\\srv\\share\\u\\me.crt"],
  ];
  for (const [os, path, cwd, expected] of rows) {
    await t.step(
      `${os}: ${path} in ${cwd}`,
      () => assert.equal(resolvePath(path, cwd, os), expected),
    );
  }
});

Deno.test("dirname() and basename() split on the OS's separators", async (t) => {
  const rows: [Os, string, string, string][] = [
    ["linux", "/home/u/.kube/config", "/home/u/.kube", "config"],
    ["linux", "/config", "/", "config"],
    ["linux", "config", ".", "config"],
    ["linux", "/a/b/", "/a", "b"],
    ["linux", "C:\\x\\config", ".", "C:\\x\\config"],
    ["darwin", "/Users/u/bin/kubectl", "/Users/u/bin", "kubectl"],
    ["windows", "C:\\Users\\u\\.kube\\config", "C:\\Users\\u\\.kube", "config"],
    ["windows", "C:/Users/u/config", "C:/Users/u", "config"],
    ["windows", "C:\\config", "C:\\", "config"],
    ["windows", "\\\\srv\\share\\config", "\\\\srv\\share\\", "config"],
    ["windows", "bin\\kubectl.exe", "bin", "kubectl.exe"],
  ];
  for (const [os, path, dir, base] of rows) {
    await t.step(`${os}: ${path}`, () => {
      assert.equal(dirname(path, os), dir);
      assert.equal(basename(path, os), base);
    });
  }
});

Deno.test("splitPathList() splits KUBECONFIG and PATH as Go's filepath.SplitList", async (t) => {
  const rows: [Os, string | undefined, string[]][] = [
    ["linux", "/a/config:/b/config", ["/a/config", "/b/config"]],
    ["linux", "/a:::/b:", ["/a", "/b"]],
    ["linux", "", []],
    ["linux", undefined, []],
    ["darwin", "/a/config", ["/a/config"]],
    ["windows", "C:\\a\\config;D:\\b\\config", ["C:\\a\\config", "D:\\b\\config"]],
    ["windows", 'C:\\a;"C:\\semi;colon\\config";;', ["C:\\a", "C:\\semi;colon\\config"]],
    ["windows", "C:\\only", ["C:\\only"]],
  ];
  for (const [os, value, expected] of rows) {
    await t.step(`${os}: ${value}`, () => assert.deepEqual(splitPathList(value, os), expected));
  }
});

Deno.test("homeDir() follows client-go's homedir on Windows and HOME elsewhere", async (t) => {
  const vars = {
    HOME: "C:\\home",
    HOMEDRIVE: "H:",
    HOMEPATH: "\\u",
    USERPROFILE: "C:\\Users\\u",
  };
  await t.step("POSIX uses HOME only", () => {
    assert.equal(homeDir("linux", envOf(vars), () => null), "C:\\home");
    assert.equal(homeDir("darwin", envOf({ USERPROFILE: "/x" }), () => "writable-dir"), undefined);
  });
  await t.step(
    "Windows: the first of HOME, HOMEDRIVE+HOMEPATH, USERPROFILE with .kube\\config",
    () => {
      const probe = (path: string) => path === "H:\\u\\.kube\\config" ? "exists" as const : null;
      assert.equal(homeDir("windows", envOf(vars), probe), "H:\\u");
    },
  );
  await t.step(
    "Windows: else the first writable folder of HOME, USERPROFILE, HOMEDRIVE+HOMEPATH",
    () => {
      const probe = (path: string) =>
        path === "C:\\Users\\u" || path === "H:\\u" ? "writable-dir" as const : null;
      assert.equal(homeDir("windows", envOf(vars), probe), "C:\\Users\\u");
    },
  );
  await t.step("Windows: else the first that exists, else the first that is set", () => {
    const exists = (path: string) => path === "H:\\u" ? "exists" as const : null;
    assert.equal(homeDir("windows", envOf(vars), exists), "H:\\u");
    assert.equal(homeDir("windows", envOf(vars), () => null), "C:\\home");
    assert.equal(homeDir("windows", envOf({ HOMEDRIVE: "H:" }), () => null), undefined);
  });
});

Deno.test("expandTilde() expands a leading ~ and nothing else", async (t) => {
  const rows: [Os, string, string | undefined, string][] = [
    ["linux", "~/.kube/x.crt", "/home/u", "/home/u/.kube/x.crt"],
    ["linux", "~", "/home/u", "/home/u"],
    ["linux", "~other/x", "/home/u", "~other/x"],
    ["linux", "a/~/x", "/home/u", "a/~/x"],
    ["linux", "~/x", undefined, "~/x"],
    ["darwin", "~/x", "/Users/u/", "/Users/u/x"],
    ["windows", "~\\.kube\\x.crt", "C:\\Users\\u", "C:\\Users\\u\\.kube\\x.crt"],
    ["windows", "~/x", "C:\\Users\\u", "C:\\Users\\u\\x"],
    ["linux", "~\\x", "/home/u", "~\\x"],
  ];
  for (const [os, path, home, expected] of rows) {
    await t.step(`${os}: ${path}`, () => assert.equal(expandTilde(path, home, os), expected));
  }
});

Deno.test("executableCandidates() honours PATHEXT on Windows only", () => {
  assert.deepEqual(executableCandidates("kubectl", "/usr/bin", "linux", envOf({})), [
    "/usr/bin/kubectl",
  ]);
  assert.deepEqual(
    executableCandidates("kubectl", "C:\\bin", "windows", envOf({ PATHEXT: ".EXE;.CMD" })),
    ["C:\\bin\\kubectl.EXE", "C:\\bin\\kubectl.CMD"],
  );
  assert.deepEqual(
    executableCandidates("kubectl.exe", "C:\\bin", "windows", envOf({})),
    [
      "C:\\bin\\kubectl.exe",
      "C:\\bin\\kubectl.exe.com",
      "C:\\bin\\kubectl.exe.exe",
      "C:\\bin\\kubectl.exe.bat",
      "C:\\bin\\kubectl.exe.cmd",
    ],
  );
});

Deno.test("lookPath() finds commands as Go's exec.LookPath on each OS", async (t) => {
  const files: Record<string, "executable" | "not-executable" | "not-a-file"> = {
    "/usr/local/bin/kubectl-credentials_broker": "not-executable",
    "/usr/bin/kubectl-credentials_broker": "executable",
    "/home/u/.kube/renew.sh": "executable",
    "c:\\tools\\kubectl-credentials_broker.exe": "executable",
    "C:\\Users\\u\\.kube\\renew.cmd": "executable",
    "/opt/dir": "not-a-file",
  };
  // Windows file names are case-insensitive; the POSIX entries are all lower case already.
  const probe = (path: string) => files[path] ?? files[path.toLowerCase()] ?? null;
  await t.step("POSIX: first executable on PATH, skipping a non-executable one", () => {
    const env = envOf({ PATH: "/usr/local/bin:/usr/bin" });
    assert.deepEqual(lookPath("kubectl-credentials_broker", "/", "linux", env, probe), {
      resolved: "/usr/bin/kubectl-credentials_broker",
      searched: "PATH",
    });
  });
  await t.step("POSIX: a name found only non-executable reports that file", () => {
    const env = envOf({ PATH: "/usr/local/bin" });
    assert.deepEqual(lookPath("kubectl-credentials_broker", "/", "darwin", env, probe), {
      resolved: "/usr/local/bin/kubectl-credentials_broker",
      problem: "not-executable",
      searched: "PATH",
    });
  });
  await t.step("POSIX: a relative path with a slash resolves against the base folder", () => {
    assert.deepEqual(lookPath("./renew.sh", "/home/u/.kube", "linux", envOf({}), probe), {
      resolved: "/home/u/.kube/renew.sh",
      searched: "/home/u/.kube",
    });
    assert.equal(lookPath("/opt/dir", "/", "linux", envOf({}), probe).problem, "not-a-file");
  });
  await t.step("POSIX: missing everywhere", () => {
    assert.deepEqual(lookPath("nope", "/", "linux", envOf({ PATH: "/usr/bin" }), probe), {
      problem: "not-found",
      searched: "PATH",
    });
  });
  await t.step("Windows: PATHEXT finds the .exe, ; separates PATH", () => {
    const env = envOf({ PATH: "C:\\nothing;C:\\tools", PATHEXT: ".COM;.EXE" });
    assert.deepEqual(lookPath("kubectl-credentials_broker", "C:\\", "windows", env, probe), {
      resolved: "C:\\tools\\kubectl-credentials_broker.EXE",
      searched: "PATH",
    });
  });
  await t.step("Windows: a relative path with a backslash, extension from PATHEXT", () => {
    const env = envOf({ PATHEXT: ".EXE;.CMD" });
    const found = lookPath(
      ".\\renew",
      "C:\\Users\\u\\.kube",
      "windows",
      env,
      (p) => p.toLowerCase() === "c:\\users\\u\\.kube\\renew.cmd" ? "executable" : null,
    );
    assert.deepEqual(found, {
      resolved: "C:\\Users\\u\\.kube\\renew.CMD",
      searched: "C:\\Users\\u\\.kube",
    });
  });
});

Deno.test("signals, permissions and process-tree stops follow each OS", () => {
  assert.deepEqual(forwardedSignals("linux"), ["SIGINT", "SIGTERM", "SIGHUP"]);
  assert.deepEqual(forwardedSignals("darwin"), ["SIGINT", "SIGTERM", "SIGHUP"]);
  assert.deepEqual(forwardedSignals("windows"), ["SIGINT", "SIGBREAK"]);
  assert.equal(hasPosixPermissions("linux"), true);
  assert.equal(hasPosixPermissions("windows"), false);
  assert.deepEqual(stopPlan("linux", 42, { tree: true, force: false }), {
    kind: "signal-group",
    pid: 42,
    signal: "SIGTERM",
  });
  assert.deepEqual(stopPlan("darwin", 42, { tree: false, force: true }), {
    kind: "signal",
    pid: 42,
    signal: "SIGKILL",
  });
  assert.deepEqual(stopPlan("windows", 42, { tree: true, force: false }), {
    kind: "command",
    argv: ["taskkill", "/T", "/F", "/PID", "42"],
  });
});

Deno.test("stopProcess() ends a command and what it started, on this OS", async (t) => {
  // A Deno script in a session of its own that starts a grandchild and prints its pid.
  const script = `const c = new Deno.Command(Deno.execPath(), {
    args: ["eval", "setTimeout(() => {}, 60000)"], stdin: "null", stdout: "null", stderr: "null",
  }).spawn();
  console.log(c.pid);
  await c.status;`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
    detached: true,
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  const grandchild = Number(new TextDecoder().decode(value).trim());
  assert.ok(grandchild > 0);
  try {
    stopProcess(child.pid, { tree: true, force: false });
    const status = await child.status;
    await child.stdout.cancel();
    // POSIX: SIGTERM to the group. Windows: taskkill /T /F, or (Wine, whose taskkill refuses /T) the command alone.
    if (HOST_OS === "windows") assert.equal(status.success, false);
    else assert.equal(status.signal, "SIGTERM");
    await t.step({
      name: "the grandchild ends too (ignored under Wine: Wine's taskkill has no /T)",
      ignore: underWine(),
      fn: async () => {
        let alive = true;
        for (let i = 0; i < 100 && alive; i++) {
          alive = processRuns(grandchild, Date.now() - 5000);
          if (alive) await new Promise((resolve) => setTimeout(resolve, 50));
        }
        assert.equal(alive, false, "the grandchild outlived stopProcess");
      },
    });
  } finally {
    try {
      Deno.kill(grandchild, "SIGKILL");
    } catch {
      // gone, as it should be
    }
  }
});

Deno.test("fileUrlToPath() turns the entry module's URL into a path Deno can be given, per OS", async (t) => {
  const rows: [Os, string, string][] = [
    ["linux", "file:///home/u/.deno/bin/main.js", "/home/u/.deno/bin/main.js"],
    ["darwin", "file:///Users/u/my%20bin/main.js", "/Users/u/my bin/main.js"],
    ["windows", "file:///C:/Users/u/.deno/bin/main.js", "C:\\Users\\u\\.deno\\bin\\main.js"],
    ["windows", "file:///C:/Program%20Files/b/main.js", "C:\\Program Files\\b\\main.js"],
    ["windows", "file://server/share/b/main.js", "\\\\server\\share\\b\\main.js"],
  ];
  for (const [os, url, expected] of rows) {
    await t.step(`${os}: ${url}`, () => assert.equal(fileUrlToPath(url, os), expected));
  }
});

Deno.test("sameProcessStart() tells the recorded command from a later process with its pid", async (t) => {
  const startedAt = Date.parse("2026-12-01T11:25:31.950Z");
  const rows: [string, string, boolean][] = [
    ["same second", "S    Tue Dec  1 11:25:31 2026", true],
    // lstart drops the fraction and may read a second early (the boot time is whole seconds too).
    ["a second early", "S    Tue Dec  1 11:25:30 2026", true],
    ["a spawn that took seconds", "R    Tue Dec  1 11:25:35 2026", true],
    ["a zombie", "Z    Tue Dec  1 11:25:31 2026", false],
    ["a later process given the same pid", "S    Tue Dec  1 11:40:00 2026", false],
    ["an older process", "S    Tue Dec  1 10:00:00 2026", false],
    ["nothing", "", false],
  ];
  for (const [name, line, expected] of rows) {
    await t.step(name, () => assert.equal(sameProcessStart(line, startedAt), expected));
  }
});

Deno.test("executableProbe(): execute bits decide on POSIX; on Windows (every file 0o666 there) the PATHEXT extension", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ccb-probe-" });
  try {
    const cmd = joinPath(dir, "renew.cmd", HOST_OS);
    const bare = joinPath(dir, "renew", HOST_OS);
    await Deno.writeTextFile(cmd, "@echo off\r\n", { mode: 0o644 });
    await Deno.writeTextFile(bare, "#!/bin/sh\n", { mode: 0o755 });
    if (HOST_OS === "windows") {
      assert.equal(executableProbe(cmd), "executable");
      // A Linux program (Wine's Z:\usr\bin\kubectl) is no Windows executable.
      assert.equal(executableProbe(bare), "not-executable");
    } else {
      assert.equal(executableProbe(cmd), "not-executable");
      assert.equal(executableProbe(bare), "executable");
    }
    assert.equal(executableProbe(dir), "not-a-file");
    assert.equal(executableProbe(joinPath(dir, "missing", HOST_OS)), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hasExecutableExtension(): Windows starts a file by a PATHEXT extension, case-insensitive", async (t) => {
  const rows: [Os, string, string | undefined, boolean][] = [
    ["windows", "C:\\bin\\renew.cmd", undefined, true],
    ["windows", "C:\\bin\\Renew.EXE", undefined, true],
    ["windows", "C:\\bin\\renew.ps1", undefined, false],
    ["windows", "Z:\\usr\\bin\\kubectl", undefined, false],
    ["windows", "C:\\bin\\kubectl.1.32", undefined, false],
    ["windows", "C:\\bin\\renew.ps1", ".COM;.EXE;.PS1", true],
    ["windows", "C:\\bin\\.cmd", undefined, false],
    ["linux", "/usr/bin/kubectl", undefined, true],
  ];
  for (const [os, path, pathext, expected] of rows) {
    await t.step(`${os}: ${path} ${pathext ?? ""}`, () => {
      assert.equal(
        hasExecutableExtension(path, os, envOf(pathext ? { PATHEXT: pathext } : {})),
        expected,
      );
    });
  }
});

Deno.test("pathKey(): one key for the spellings of a path that name the same file, per OS", () => {
  assert.equal(
    pathKey("C:/Users/Me/.kube/config", "windows"),
    pathKey("c:\\users\\me\\.kube\\config", "windows"),
  );
  assert.notEqual(pathKey("C:\\a\\config", "windows"), pathKey("C:\\a\\config2", "windows"));
  assert.notEqual(pathKey("/home/Me/config", "linux"), pathKey("/home/me/config", "linux"));
  assert.equal(pathKey("/Users/me/config", "darwin"), "/Users/me/config");
});
