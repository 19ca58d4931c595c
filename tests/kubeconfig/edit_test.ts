import assert from "node:assert/strict";
import fc from "fast-check";
import { parse, stringify } from "yaml";
import { KubeconfigError } from "../../lib/shared/errors.ts";
import { setUserExec, STATIC_CREDENTIAL_KEYS } from "../../lib/kubeconfig/edit.ts";
import { kubeconfigView } from "../../lib/kubeconfig/read.ts";
import { kubeconfigCommand } from "../../lib/kubeconfig/set.ts";
import { PLUGIN_EXECUTABLE } from "../../lib/shared/command_list.ts";
import { fakeIo, fuzzParams, run, tempDir } from "../helpers.ts";
import { bytesOf, concat, latin1 } from "./bytes.ts";

const EXEC = {
  apiVersion: "client.authentication.k8s.io/v1beta1",
  args: ["--token-path=/t/token", "--before-exec-command=/opt/renew.sh --role 'dev team'"],
  command: "kubectl-credentials_broker",
  interactiveMode: "IfAvailable",
};

const KUBECTL_STYLE = `# written by hand, then by kubectl
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0FEQVRB
    server: https://prod.example:6443   # the load balancer
  name: prod
contexts:
- context:
    cluster: prod
    user: alice
  name: prod
current-context: prod
kind: Config
preferences: {}
users:
# alice is the human
- name: alice
  user:
    client-certificate-data: Q0VSVA==
    x-vendor-field: keep   # unknown to kubectl
    client-key-data: S0VZ
    as: admin
- name: bob
  user:
    token: bob-token   # bob's
x-unknown-top-level:
  nested: [1, 2]
`;

function users(text: string): Record<string, Record<string, unknown>> {
  const config = parse(text) as { users: { name: string; user: Record<string, unknown> }[] };
  return Object.fromEntries(config.users.map((entry) => [entry.name, entry.user]));
}

/** The lines of `after` that are not in `before`, and the reverse. */
function lineDelta(before: string, after: string) {
  const a = before.split("\n");
  const b = after.split("\n");
  return {
    added: b.filter((line) => !a.includes(line)),
    gone: a.filter((line) => !b.includes(line)),
  };
}

Deno.test("setUserExec() keeps comments, order and unknown fields byte for byte outside the user", () => {
  const result = setUserExec(KUBECTL_STYLE, "/k/config", {
    user: "alice",
    exec: EXEC,
    create: false,
  });
  assert.equal(result.changed, true);
  assert.equal(result.layoutKept, true);
  assert.deepEqual(result.removed, ["client-certificate-data", "client-key-data"]);
  const aliceStart = KUBECTL_STYLE.indexOf("- name: alice");
  const bobStart = KUBECTL_STYLE.indexOf("- name: bob");
  assert.ok(result.text.startsWith(KUBECTL_STYLE.slice(0, aliceStart)), "everything before alice");
  assert.ok(result.text.endsWith(KUBECTL_STYLE.slice(bobStart)), "everything after alice");
  const { gone } = lineDelta(KUBECTL_STYLE, result.text);
  assert.deepEqual(gone, ["    client-certificate-data: Q0VSVA==", "    client-key-data: S0VZ"]);
  assert.deepEqual(users(result.text).alice, {
    "x-vendor-field": "keep",
    as: "admin",
    exec: EXEC,
  });
  // kubectl's unindented list style is followed inside the new block too.
  assert.match(result.text, /\n {4}exec:\n {6}apiVersion: [^\n]+\n {6}args:\n {6}- --token-path/);
});

Deno.test("setUserExec() replaces an existing exec block in place and keeps the pairs around it", () => {
  const text = `users:
  - name: a
    user:
      exec:
        command: old-plugin
        args: ["x"]
      as: admin # impersonate
`;
  const result = setUserExec(text, "/k", { user: "a", exec: EXEC, create: false });
  assert.deepEqual(parse(result.text).users[0].user, { exec: EXEC, as: "admin" });
  assert.ok(result.text.endsWith("      as: admin # impersonate\n"));
  // Indented list style is followed.
  assert.match(result.text, /\n {8}args:\n {10}- --token-path/);
  assert.deepEqual(result.previousExec, { command: "old-plugin", args: ["x"] });
});

Deno.test("setUserExec() removes every static credential and auth-provider, with their nested values", () => {
  const text = `users:
- name: a
  user:
    token: t
    tokenFile: /f
    client-certificate: /c
    client-certificate-data: |
      Q0VSVA==
      Q0VSVA==
    client-key: /k
    client-key-data: S0VZ
    username: u
    password: p
    auth-provider:
      name: oidc
      config:
        id-token: x
        refresh-token: y
    extensions:
    - name: kept
      extension: {}
`;
  const result = setUserExec(text, "/k", { user: "a", exec: EXEC, create: false });
  assert.deepEqual(result.removed, STATIC_CREDENTIAL_KEYS);
  assert.deepEqual(parse(result.text).users[0].user, {
    extensions: [{ name: "kept", extension: {} }],
    exec: EXEC,
  });
});

Deno.test("setUserExec() reports no change when the user already has this exec block", () => {
  const first = setUserExec(KUBECTL_STYLE, "/k", { user: "alice", exec: EXEC, create: false });
  const second = setUserExec(first.text, "/k", { user: "alice", exec: EXEC, create: false });
  assert.equal(second.changed, false);
  assert.equal(second.text, first.text);
});

Deno.test("setUserExec() adds a missing user where the users list is", async (t) => {
  const cases: { name: string; text: string; expectTail: string }[] = [
    {
      name: "block list, kubectl style",
      text: "apiVersion: v1\nusers:\n- name: a\n  user: {}\nkind: Config # end\n",
      expectTail: "kind: Config # end\n",
    },
    {
      name: "block list, indented",
      text: "users:\n  - name: a\n    user:\n      token: x\n# trailing comment\n",
      expectTail: "# trailing comment\n",
    },
    { name: "no users key", text: "apiVersion: v1\nkind: Config\n", expectTail: "" },
    { name: "users: null", text: "apiVersion: v1\nusers: null\nkind: Config\n", expectTail: "" },
    { name: "users: []", text: "apiVersion: v1\nusers: []\nkind: Config\n", expectTail: "" },
    { name: "users:", text: "users:\nkind: Config\n", expectTail: "kind: Config\n" },
    { name: "no final newline", text: "users:\n- name: a\n  user: {}", expectTail: "" },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const result = setUserExec(c.text, "/k", { user: "new", exec: EXEC, create: true });
      assert.equal(result.created, true);
      assert.equal(result.layoutKept, true);
      assert.deepEqual(users(result.text).new, { exec: EXEC });
      assert.ok(result.text.endsWith(c.expectTail));
      const before = parse(c.text) as Record<string, unknown>;
      const after = parse(result.text) as Record<string, unknown>;
      for (const key of Object.keys(before)) {
        if (key !== "users") assert.deepEqual(after[key], before[key], key);
      }
    });
  }
});

Deno.test("setUserExec() replaces a flow-style, empty or missing user map whole", async (t) => {
  const cases = [
    {
      name: "flow map",
      text: "users:\n- name: a\n  user: {token: x, as: admin}\n",
      kept: { as: "admin" },
    },
    { name: "empty", text: "users:\n- name: a\n  user:\n- name: b\n", kept: {} },
    { name: "missing user key", text: "users:\n- name: a\n- name: b\n", kept: {} },
    { name: "user first in the item", text: "users:\n- user: {}\n  name: a\n", kept: {} },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const result = setUserExec(c.text, "/k", { user: "a", exec: EXEC, create: false });
      assert.equal(result.layoutKept, true);
      assert.deepEqual(users(result.text).a, { ...c.kept, exec: EXEC });
    });
  }
});

Deno.test("setUserExec() falls back to the Document API for a flow-style users list, still verified", () => {
  const text = "# top\nusers: [{name: a, user: {token: x}}, {name: b}]\nkind: Config\n";
  const result = setUserExec(text, "/k", { user: "a", exec: EXEC, create: false });
  assert.equal(result.layoutKept, false);
  assert.deepEqual(users(result.text).a, { exec: EXEC });
  assert.ok(result.text.startsWith("# top\n"));
});

Deno.test("setUserExec() turns an empty or comment-only file into a minimal kubeconfig", async (t) => {
  for (const text of ["", "\n\n", "# just a comment\n"]) {
    await t.step(JSON.stringify(text), () => {
      const result = setUserExec(text, "/k", { user: "me", exec: EXEC, create: true });
      assert.equal(result.newFile, true);
      const config = parse(result.text);
      assert.equal(config.apiVersion, "v1");
      assert.equal(config.kind, "Config");
      assert.deepEqual(config.users, [{ name: "me", user: { exec: EXEC } }]);
      if (text.startsWith("#")) assert.ok(result.text.startsWith(text));
    });
  }
});

Deno.test("setUserExec() quotes strings that kubectl's YAML 1.1 would read as something else", () => {
  const exec = { ...EXEC, env: [{ name: "A", value: "yes" }, { name: "B", value: "0755" }] };
  const result = setUserExec("users: []\n", "/k", { user: "u", exec, create: true });
  assert.match(result.text, /value: "yes"/);
  assert.match(result.text, /value: "0755"/);
});

Deno.test("setUserExec() refuses what it cannot change safely, naming the file", async (t) => {
  const cases: { name: string; text: string; user?: string; create?: boolean; message: RegExp }[] =
    [
      {
        name: "exec plus a token from a merge key",
        text:
          "base: &creds\n  token: t\nusers:\n- name: a\n  user:\n    <<: *creds\n    exec: {command: x}\n",
        message: /user "a" in kubeconfig \/k gets token from a YAML merge key/,
      },
      {
        name: "user shared through an alias",
        text: "users:\n- name: a\n  user: &u\n    token: t\n- name: b\n  user: *u\n",
        message: /defines the YAML anchor &u that other entries use/,
      },
      {
        name: "user that is an alias",
        text: "x: &u {token: t}\nusers:\n- name: a\n  user: *u\n",
        message: /is the YAML alias \*u/,
      },
      {
        name: "removed value anchored and used elsewhere",
        text:
          "users:\n- name: a\n  user:\n    token: &t secret\n- name: b\n  user:\n    token: *t\n",
        message: /token defines the YAML anchor &t/,
      },
      {
        name: "user that is not a mapping",
        text: "users:\n- name: a\n  user: [1]\n",
        message: /user "a" in kubeconfig \/k: user is a list, not a mapping/,
      },
      {
        name: "users that is a mapping",
        text: "users: {a: 1}\n",
        message: /users in kubeconfig \/k is a mapping, not a list/,
      },
      {
        name: "duplicate user",
        text: "users:\n- name: a\n- name: a\n",
        message: /user "a" is defined 2 times in kubeconfig \/k/,
      },
      {
        name: "missing user without create",
        text: "users: []\n",
        create: false,
        message: /user "a" not found in kubeconfig \/k/,
      },
    ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assert.throws(
        () =>
          setUserExec(c.text, "/k", { user: c.user ?? "a", exec: EXEC, create: c.create ?? true }),
        (error: unknown) => error instanceof KubeconfigError && c.message.test(error.message),
      );
    });
  }
});

Deno.test("kubeconfigView() lists contexts and users in file order with the current context", () => {
  const view = kubeconfigView(KUBECTL_STYLE, "/k");
  assert.equal(view.currentContext, "prod");
  assert.deepEqual(view.contexts, [{ name: "prod", context: { cluster: "prod", user: "alice" } }]);
  assert.deepEqual(view.users.map((u) => u.name), ["alice", "bob"]);
  assert.deepEqual(view.users[1]!.user, { token: "bob-token" });
});

Deno.test("setUserExec() keeps YAML 1.1 values it does not touch (binary, timestamps)", () => {
  const text = "blob: !!binary aGVsbG8=\nwhen: 2001-12-14\nusers:\n- name: a\n  user: {}\n";
  const result = setUserExec(text, "/k", { user: "a", exec: EXEC, create: false });
  assert.ok(result.text.startsWith("blob: !!binary aGVsbG8=\nwhen: 2001-12-14\nusers:\n"));
});

// --- Bytes, line breaks and JSON, through the real `kubeconfig set -f` and read back by kubectl (issue 11 item 2)

const KUBECTL = "/usr/bin/kubectl";
/** These tests read the file back with the real kubectl, which is installed only on Linux here. */
const HAS_KUBECTL = Deno.build.os !== "windows" && (() => {
  try {
    return Deno.statSync(KUBECTL).isFile;
  } catch {
    return false;
  }
})();
const NO_KUBECTL = HAS_KUBECTL ? "" : ` (ignored: ${KUBECTL} is not installed)`;

/** `kubeconfig set -f --user NAME --token-path T` on `path`, in-process as main.ts runs it. */
async function setExec(path: string, user: string, home: string) {
  const io = fakeIo({ cwd: home, env: { HOME: home, PATH: Deno.env.get("PATH") ?? "" } });
  const code = await kubeconfigCommand(
    ["set", "-f", "--kubeconfig", path, "--user", user, "--token-path", `${home}/token`],
    io,
  );
  return { code, err: io.err };
}

/**
 * kubectl's own reading of a kubeconfig: `config view --raw -o json`, parsed. Several files are read in one run
 * as KUBECONFIG lists them, merged (the first file naming an entry wins); kubectl fails if any does not load.
 */
async function kubectlView(path: string | string[], home: string) {
  const env: Record<string, string> = { HOME: home, PATH: Deno.env.get("PATH") ?? "" };
  const args = ["config", "view", "--raw", "-o", "json"];
  if (typeof path === "string") args.unshift("--kubeconfig", path);
  else env.KUBECONFIG = path.join(":");
  const result = await run(KUBECTL, args, { env });
  return {
    ...result,
    users: result.code === 0
      ? Object.fromEntries(
        (JSON.parse(result.stdout).users as { name: string; user: Record<string, unknown> }[])
          .map((entry) => [entry.name, entry.user]),
      )
      : {},
  };
}

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

Deno.test({
  name: "kubeconfig set keeps bytes that are not UTF-8 outside the edited user exactly" +
    NO_KUBECTL,
  ignore: !HAS_KUBECTL,
}, async () => {
  await using tmp = await tempDir();
  const path = `${tmp.path}/config`;
  // A Latin-1 comment before and after the user: 0xE9 is "é" in Latin-1 and not UTF-8.
  const head = concat(
    bytesOf("apiVersion: v1\nkind: Config\n"),
    latin1("# caf\xe9 du matin\n"),
    bytesOf('current-context: ""\nusers:\n- name: alice\n  user:\n'),
  );
  const entry = bytesOf("    token: ALICE-SECRET\n");
  const tail = concat(bytesOf("- name: bob\n  user:\n    token: x # "), latin1("r\xe9sum\xe9\n"));
  await Deno.writeFile(path, concat(head, entry, tail), { mode: 0o600 });
  const kubectlBefore = await kubectlView(path, tmp.path);

  const { code, err } = await setExec(path, "alice", tmp.path);
  assert.equal(code, 0, err);
  const after = await Deno.readFile(path);
  assert.deepEqual(after.subarray(0, head.length), head, "every byte before the edit");
  assert.deepEqual(after.subarray(after.length - tail.length), tail, "every byte after the edit");
  assert.equal(indexOfBytes(after, bytesOf("\uFFFD")), -1, "no U+FFFD written anywhere");
  assert.ok(!err.includes("ALICE-SECRET"));
  // kubectl refuses a file that is not UTF-8, before and after alike; once the comments are fixed it reads the edit.
  const kubectlAfter = await kubectlView(path, tmp.path);
  assert.notEqual(kubectlBefore.code, 0);
  assert.equal(kubectlAfter.stderr, kubectlBefore.stderr);
  const fixed = after.map((byte) => byte === 0xe9 ? 0x65 : byte);
  await Deno.writeFile(path, fixed);
  const view = await kubectlView(path, tmp.path);
  assert.equal(view.code, 0, view.stderr);
  assert.equal(
    (view.users.alice!.exec as { command: string }).command,
    "kubectl-credentials_broker",
  );
  assert.equal(view.users.alice!.token, undefined);
  assert.equal(view.users.bob!.token, "x");
});

Deno.test("kubeconfig set refuses, naming the line, to rewrite bytes that are not UTF-8 inside the edit", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.path}/config`;
  // A flow-style users list is re-serialized whole: the Latin-1 byte in it would become U+FFFD.
  const original = concat(
    bytesOf(
      "apiVersion: v1\nusers: [{name: alice, user: {token: x}},\n  {name: b, user: {username: ",
    ),
    latin1("j\xe9r\xf4me"),
    bytesOf("}}]\n"),
  );
  await Deno.writeFile(path, original, { mode: 0o600 });
  await assert.rejects(
    () => setExec(path, "alice", tmp.path),
    (error: unknown) =>
      error instanceof KubeconfigError &&
      error.message.startsWith(`kubeconfig ${path} line 3 is not valid UTF-8`),
  );
  assert.deepEqual(await Deno.readFile(path), original, "nothing written");
});

Deno.test({
  name: "kubeconfig set writes CRLF lines into a CRLF kubeconfig" + NO_KUBECTL,
  ignore: !HAS_KUBECTL,
}, async (t) => {
  const cases = [
    { name: "existing user", user: "alice" },
    { name: "new user", user: "carol" },
  ];
  // kubectl reads both files back in one run, each case's user names carrying its number (as in the JSON test).
  await using tmp = await tempDir();
  const written: { path: string; user: string; bob: string }[] = [];
  for (const [i, c] of cases.entries()) {
    await t.step(c.name, async () => {
      const path = `${tmp.path}/config-${i}`;
      const text = KUBECTL_STYLE.replace(/(?<=(?:name|user): )(alice|bob)$/gm, `$1-${i}`)
        .replaceAll("\n", "\r\n");
      await Deno.writeTextFile(path, text, { mode: 0o600 });
      const { code, err } = await setExec(path, `${c.user}-${i}`, tmp.path);
      assert.equal(code, 0, err);
      const after = await Deno.readTextFile(path);
      assert.equal(after.replaceAll("\r\n", "").includes("\n"), false, "no bare LF");
      assert.ok(after.startsWith(text.slice(0, text.indexOf("- name: alice"))));
      written.push({ path, user: `${c.user}-${i}`, bob: `bob-${i}` });
    });
  }
  await t.step("kubectl reads both files back", async () => {
    assert.equal(written.length, cases.length, "every case wrote its file");
    const view = await kubectlView(written.map((file) => file.path), tmp.path);
    assert.equal(view.code, 0, view.stderr);
    for (const { user, bob } of written) {
      assert.ok(view.users[user]!.exec, user);
      assert.equal(view.users[bob]!.token, "bob-token", bob);
    }
  });
});

Deno.test({
  name: "kubeconfig set keeps a JSON kubeconfig JSON" + NO_KUBECTL,
  ignore: !HAS_KUBECTL,
}, async (t) => {
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "prod", cluster: { server: "https://prod.example:6443" } }],
    contexts: [{ name: "prod", context: { cluster: "prod", user: "alice" } }],
    "current-context": "prod",
    users: [
      { name: "alice", user: { token: "ALICE-SECRET" } },
      { name: "bob", user: { token: "bob-token" } },
    ],
  };
  const cases = [
    { name: "existing user, indented", text: JSON.stringify(config, null, 4), user: "alice" },
    { name: "new user, indented", text: JSON.stringify(config, null, 2), user: "carol" },
    { name: "existing user, one line", text: JSON.stringify(config), user: "bob" },
    {
      name: "no users key",
      text: JSON.stringify({ ...config, users: undefined }, null, 2),
      user: "carol",
    },
    { name: "empty users", text: JSON.stringify({ ...config, users: [] }, null, 2), user: "d" },
  ];
  // kubectl reads the five files back in one run (a run costs about 0.1 s of CPU): the user names of each case
  // carry its number, so that no file's user hides another's in kubectl's merge.
  await using tmp = await tempDir();
  const written: { path: string; user: string }[] = [];
  for (const [i, c] of cases.entries()) {
    await t.step(c.name, async () => {
      const path = `${tmp.path}/config-${i}`;
      const text = c.text.replaceAll('"alice"', `"alice-${i}"`).replaceAll('"bob"', `"bob-${i}"`);
      const name = `${c.user}-${i}`;
      await Deno.writeTextFile(path, text + "\n", { mode: 0o600 });
      const { code, err } = await setExec(path, name, tmp.path);
      assert.equal(code, 0, err);
      assert.ok(!err.includes("ALICE-SECRET"));
      const after = JSON.parse(await Deno.readTextFile(path)) as typeof config;
      const user = after.users.find((entry) => entry.name === name)!.user as Record<
        string,
        unknown
      >;
      assert.deepEqual(Object.keys(user), ["exec"]);
      assert.deepEqual(after.clusters, config.clusters);
      written.push({ path, user: name });
    });
  }
  await t.step("kubectl reads every file back", async () => {
    assert.equal(written.length, cases.length, "every case wrote its file");
    const view = await kubectlView(written.map((file) => file.path), tmp.path);
    assert.equal(view.code, 0, view.stderr);
    for (const { user } of written) {
      assert.equal(
        (view.users[user]!.exec as { command: string }).command,
        PLUGIN_EXECUTABLE,
        user,
      );
    }
  });
});

// --- Big files (issue 11 item 4): the item-by-item path, checked against a whole-document parse

/** A kubectl-style kubeconfig with `count` users, some with odd but valid entries. */
function manyUsers(count: number): string {
  const lines = ["apiVersion: v1\nkind: Config\ncurrent-context: ctx\n# the users\nusers:\n"];
  for (let i = 0; i < count; i++) {
    if (i % 97 === 1) {
      lines.push(`- name: u${i}\n  user:\n    token: |\n      block-${i}\n\n    # inside\n`);
    } else if (i % 101 === 2) lines.push(`- {name: u${i}, user: {token: flow-${i}}}\n`);
    else if (i % 103 === 3) lines.push(`- name: "u${i}"\n  user: {}\n# between\n`);
    else lines.push(`- name: u${i}\n  user:\n    token: tok-${i} # c\n`);
  }
  lines.push("contexts:\n- context:\n    user: u1\n  name: ctx\npreferences: {}\n");
  return lines.join("");
}

Deno.test("setUserExec() on 220 users changes one entry and reads back as a whole document", async (t) => {
  // Big enough for every odd entry to come twice or more (block scalars, flow items, comments between items) and
  // for the items to span several of the parser's batches; the benchmark (deno task bench:kubeconfig) takes
  // 115,000 users.
  const text = manyUsers(220);
  const whole = parse(text, { version: "1.1" }) as Record<string, unknown>;
  assert.deepEqual(kubeconfigView(text, "/k").users.length, 220);
  assert.deepEqual(
    kubeconfigView(text, "/k").users.map((entry) => entry.user),
    (whole.users as { user: unknown }[]).map((entry) => entry.user),
  );
  for (const name of ["u110", "u1", "u98", "u103", "u219", "new"]) {
    await t.step(name, () => {
      const result = setUserExec(text, "/k", { user: name, exec: EXEC, create: true });
      assert.equal(result.changed, true);
      const after = parse(result.text, { version: "1.1" }) as Record<string, unknown>;
      const expected = structuredClone(whole) as { users: { name: string; user: unknown }[] };
      const entry = expected.users.find((user) => user.name === name);
      if (entry) entry.user = { exec: EXEC };
      else expected.users.push({ name, user: { exec: EXEC } });
      assert.deepEqual(after, expected);
      // Bytes before and after the entry are the file's.
      const start = name === "new"
        ? text.indexOf("contexts:")
        : text.search(new RegExp(`^- (?:\\{name: |name: "?)${name}[,"\n]`, "m"));
      const next = name === "new" ? start : text.indexOf("\n- ", start + 1) + 1;
      assert.ok(result.text.startsWith(text.slice(0, start)));
      assert.ok(result.text.endsWith(text.slice(next)));
    });
  }
});

Deno.test("the item-by-item path reads and edits like a whole-document parse (property)", () => {
  // Users with arbitrary names and values, written by the yaml library in kubectl's layout or indented.
  const value = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null));
  const user = fc.dictionary(fc.constantFrom("token", "as", "x-a", "username"), value);
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 8 }),
      fc.array(user, { minLength: 8, maxLength: 8 }),
      fc.boolean(),
      fc.nat(8),
      (names, users, indentSeq, pick) => {
        const config = {
          apiVersion: "v1",
          users: names.map((name, i) => ({ name, user: users[i] })),
          kind: "Config",
        };
        const text = stringify(config, { version: "1.1", indentSeq });
        const whole = parse(text, { version: "1.1" }) as typeof config;
        assert.deepEqual(
          kubeconfigView(text, "/k").users,
          whole.users.map((entry) => ({ name: String(entry.name), user: entry.user ?? {} })),
        );
        const name = names[pick] ?? "new user";
        const result = setUserExec(text, "/k", { user: name, exec: EXEC, create: true });
        const after = parse(result.text, { version: "1.1" }) as typeof config;
        const entry = after.users.find((candidate) => candidate.name === name)!;
        assert.deepEqual(entry.user?.exec, EXEC);
        assert.equal(after.users.length, names.length + (pick < names.length ? 0 : 1));
        for (const other of after.users) {
          if (other.name !== name) {
            assert.deepEqual(other, whole.users.find((candidate) => candidate.name === other.name));
          }
        }
      },
    ),
    fuzzParams(150),
  );
});
