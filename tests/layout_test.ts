/**
 * The architecture as rules a change cannot break silently: which folder of lib/ may import which, and which
 * modules may touch processes and files (the design's "modules scoped by what they touch").
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { ROOT } from "./helpers.ts";

/** Every .ts file under lib/, as paths relative to the project ("lib/plugin/plugin.ts"). */
function libFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) walk(path);
      // "/" on every OS: the rules below name modules the way imports do.
      else if (entry.name.endsWith(".ts")) files.push(relative(ROOT, path).replaceAll("\\", "/"));
    }
  };
  walk(join(ROOT, "lib"));
  return files.sort();
}

/** The code of a module without its comments, so that a comment naming an API is no use of it. */
function code(path: string): string[] {
  const text = Deno.readTextFileSync(join(ROOT, path)).replace(
    /\/\*[\s\S]*?\*\//g,
    (c) => c.replace(/[^\n]/g, " "),
  );
  return text.split("\n").map((line) => line.replace(/(^|[^:"'`\\])\/\/.*$/, "$1"));
}

/** The folder a lib module belongs to: "shared", "plugin" ..., or "top" for lib/commands.ts and lib/completion.ts. */
function folderOf(path: string): string {
  const parts = path.split("/");
  return parts.length === 2 ? "top" : parts[1]!;
}

/** What each folder may import: the ones below it. Only the top (the command table, completion) knows them all. */
const MAY_IMPORT: Record<string, string[]> = {
  shared: ["shared"],
  credentials: ["shared", "credentials"],
  issuer: ["shared", "credentials", "issuer"],
  plugin: ["shared", "credentials", "issuer", "plugin"],
  kubeconfig: ["shared", "credentials", "issuer", "plugin", "kubeconfig"],
  doctor: ["shared", "credentials", "issuer", "plugin", "kubeconfig", "doctor"],
  // status composes doctor's checks that need no run (never doctor/run.ts: it starts no process).
  status: ["shared", "credentials", "issuer", "plugin", "kubeconfig", "doctor", "status"],
  top: ["shared", "credentials", "issuer", "plugin", "kubeconfig", "doctor", "status", "top"],
};

/** Folders on kubectl's path (what main.js bundles): no npm package and no Node compatibility layer. */
const PLUGIN_PATH = ["shared", "credentials", "issuer", "plugin"];

Deno.test("lib/ folders import only the folders below them, and the plugin's path no npm: or node: module", () => {
  const problems: string[] = [];
  for (const file of libFiles()) {
    const from = folderOf(file);
    for (const [index, line] of code(file).entries()) {
      for (const match of line.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)) {
        const specifier = match[1]!;
        const where = `${file}:${index + 1}`;
        if (specifier.startsWith("npm:") || specifier.startsWith("node:")) {
          if (PLUGIN_PATH.includes(from)) problems.push(`${where} imports ${specifier}`);
          continue;
        }
        if (!specifier.startsWith(".")) continue;
        const target = relative(ROOT, join(ROOT, file, "..", specifier)).replaceAll("\\", "/");
        // Outside lib/, only the project's own version (lib/shared/version.ts reads deno.json).
        if (!target.startsWith("lib/")) {
          if (target !== "deno.json") problems.push(`${where} imports ${target}`);
          continue;
        }
        const to = folderOf(target);
        if (!MAY_IMPORT[from]!.includes(to)) {
          problems.push(`${where}: lib/${from === "top" ? "" : from + "/"} imports ${target}`);
        }
      }
    }
  }
  assert.deepEqual(problems, []);
});

/** Effects and the only modules that may have them; everything else gets them through these modules. */
const SCOPES: {
  what: string;
  api: RegExp;
  /** Finds uses that span lines (a call and its options), by line number; for what `api` cannot see. */
  calls?: (lines: string[]) => { line: number; text: string }[];
  allowed: Record<string, string>;
}[] = [
  {
    what: "starts or signals a process",
    api: /new Deno\.Command\b|\bDeno\.(kill|run)\b|["']node:child_process["']/,
    allowed: {
      "lib/plugin/before_exec.ts": "the before-exec command, and the detached background renewal",
      "lib/doctor/run.ts": "doctor runs the kubeconfig's exec command once",
      "lib/shared/platform.ts": "the OS's own ways to stop a process tree or tell a process apart",
    },
  },
  {
    what: "writes, moves or removes files",
    api:
      /\bDeno\.(writeFile|writeTextFile|create|rename|remove|mkdir|chmod|chown|symlink|link|truncate|copyFile|makeTempFile|makeTempDir|utime)(Sync)?\b|["']node:fs(\/promises)?["']/,
    calls: openedForWriting,
    allowed: {
      "lib/kubeconfig/files.ts": "the user's kubeconfig, locked and atomic",
      "lib/plugin/lock.ts": "the broker's own lock folder",
      "lib/plugin/renew_ahead.ts": "the broker's own state, claim and log next to the lock",
      "lib/shared/write_file.ts":
        "the one whole-or-nothing writer for files a reader may open at any time",
      "lib/issuer/issue.ts":
        "the issued key and certificate, each written whole and renamed into place",
    },
  },
  {
    what: "opens or reads files",
    api:
      /\bDeno\.(open|readFile|readTextFile|readDir|readLink)(Sync)?\b|\breadRegular(Text)?FileSync\b/,
    allowed: {
      "lib/shared/read_file.ts": "the one bounded, regular-files-only reader",
      "lib/credentials/credentials.ts": "credential files",
      "lib/kubeconfig/files.ts": "kubeconfig files",
      "lib/plugin/lock.ts": "the broker's own lock files",
      "lib/plugin/renew_ahead.ts": "the broker's own state and log",
      "lib/shared/write_file.ts": "the temporary file it writes, and the symlinks it follows",
      "lib/issuer/http.ts": "the issuer's CA bundle (--issuer-ca-file)",
      "lib/issuer/cfssl.ts": "the authsign HMAC key (--cfssl-auth-key-file)",
      "lib/issuer/issue.ts": "opens its own new temp files to write the issued key and certificate",
      "lib/issuer/vault.ts":
        "the vault CLI's own files: ~/.vault (token_helper), ~/.vault-token, VAULT_CLIENT_*",
    },
  },
  {
    what: "opens network connections",
    api:
      /(?<![.\w])fetch\s*\(|\bglobalThis\.fetch\b|\bDeno\.(connect|connectTls|startTls|connectQuic|createHttpClient|listen|listenTls|listenDatagram|listenQuic|QuicEndpoint|resolveDns|serve|upgradeWebSocket)\b|\bnew (WebSocket|WebSocketStream|EventSource|XMLHttpRequest)\b|["']node:(http|https|http2|net|tls|dgram|dns)(\/promises)?["']/,
    allowed: {
      "lib/issuer/http.ts":
        "the one client of the certificate authorities (--issuer): TLS, deadline, limits",
    },
  },
  {
    what: "revokes or requests permissions",
    api: /\bDeno\.permissions\.(revoke|request)(Sync)?\b/,
    allowed: {
      "lib/shared/permissions.ts": "the one table of what each command keeps, and its revocation",
    },
  },
];

/**
 * Deno.open and Deno.openSync calls that may write: options that ask for write, append, create, createNew or
 * truncate, or options the call does not spell out (a variable), which may ask for anything.
 */
function openedForWriting(lines: string[]): { line: number; text: string }[] {
  const text = lines.join("\n");
  const found: { line: number; text: string }[] = [];
  for (const match of text.matchAll(/\bDeno\.open(Sync)?\s*\(/g)) {
    let depth = 1;
    let end = match.index + match[0].length;
    while (end < text.length && depth > 0) {
      if ("([{".includes(text[end]!)) depth++;
      else if (")]}".includes(text[end]!)) depth--;
      end++;
    }
    const args = text.slice(match.index + match[0].length, end - 1);
    const options = args.match(/^[^,]*,\s*([\s\S]*?)[\s,]*$/)?.[1];
    if (options === undefined) continue; // no options: read only
    const spelled = /^\{[\s\S]*\}$/.test(options);
    if (!spelled || /\b(write|append|create|createNew|truncate)\s*:(?!\s*false\b)/.test(options)) {
      const line = text.slice(0, match.index).split("\n").length;
      found.push({ line, text: `${match[0]}${args.replace(/\s+/g, " ")})` });
    }
  }
  return found;
}

Deno.test("only the modules scoped to an effect have it: processes, file writes, file reads, the network, permissions", async (t) => {
  for (const scope of SCOPES) {
    await t.step(scope.what, () => {
      const problems: string[] = [];
      for (const file of libFiles()) {
        if (file in scope.allowed) continue;
        const lines = code(file);
        for (const [index, line] of lines.entries()) {
          const match = scope.api.exec(line);
          if (match) problems.push(`${file}:${index + 1} ${scope.what} (${match[0]})`);
        }
        for (const call of scope.calls?.(lines) ?? []) {
          problems.push(`${file}:${call.line} ${scope.what} (${call.text})`);
        }
      }
      assert.deepEqual(problems, []);
    });
  }
});

Deno.test("the layout test sees a write through Deno.open's options, over lines or in a variable, and lets a read pass", () => {
  const uses = (source: string) => openedForWriting(source.split("\n")).map((call) => call.line);
  assert.deepEqual(uses(`Deno.openSync(path, { read: true });`), []);
  assert.deepEqual(uses(`await Deno.open(path);`), []);
  assert.deepEqual(
    uses(`x;\nconst f = Deno.openSync(\n  path,\n  { read: true, append: true },\n);`),
    [2],
  );
  assert.deepEqual(uses(`Deno.open(join(a, b), { createNew: true, write: true })`), [1]);
  assert.deepEqual(uses(`Deno.openSync(path, options)`), [1]);
  assert.deepEqual(uses(`Deno.openSync(path, { read: true, write: false })`), []);
});

Deno.test("the layout rules name modules that exist", () => {
  const files = new Set(libFiles());
  for (const scope of SCOPES) {
    for (const file of Object.keys(scope.allowed)) assert.ok(files.has(file), file);
  }
});
