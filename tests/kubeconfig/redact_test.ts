import assert from "node:assert/strict";
import fc from "fast-check";
import { REDACTED, redactedDiff, redactKubeconfig } from "../../lib/kubeconfig/redact.ts";
import { fuzzParams } from "../helpers.ts";

const SECRETS = [
  "TOKEN1",
  "PASS1",
  "CERTDATA",
  "KEYDATA",
  "IDTOKEN",
  "REFRESH",
  "ENVVALUE",
  "ALIASED",
];

Deno.test("redactKubeconfig() hides every secret value of every user and keeps the layout", () => {
  const text = `# comment kept
anchors:
  x: &anchored ALIASED
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://x:6443
  name: c
users:
- name: a
  user:
    token: TOKEN1 # trailing comment
    username: admin
    password: "PASS1"
    client-certificate-data: |
      CERTDATA
      CERTDATA
    client-key-data: KEYDATA
    tokenFile: /path/is/fine
- name: b
  user:
    auth-provider:
      name: oidc
      config: {id-token: IDTOKEN, refresh-token: REFRESH}
    exec:
      command: x
      env:
      - name: SECRET_NAME
        value: ENVVALUE
- name: c
  user:
    token: *anchored
`;
  const redacted = redactKubeconfig(text);
  for (const secret of SECRETS) assert.ok(!redacted.includes(secret), secret);
  for (
    const kept of [
      "# comment kept",
      "certificate-authority-data: Q0E=",
      "username: admin",
      "tokenFile: /path/is/fine",
      "- name: SECRET_NAME",
      "name: oidc",
      "command: x",
      `token: ${REDACTED} # trailing comment`,
      `client-certificate-data: ${REDACTED}\n    client-key-data: ${REDACTED}\n`,
      `config: {id-token: ${REDACTED}, refresh-token: ${REDACTED}}`,
    ]
  ) assert.ok(redacted.includes(kept), kept);
});

Deno.test("redactKubeconfig() replaces text that does not parse whole", () => {
  assert.equal(
    redactKubeconfig("users:\n- name: a\n  user:\n    token: X\n   bad: [\n"),
    `${REDACTED}\n`,
  );
});

Deno.test("redactKubeconfig() leaves a kubeconfig without secrets unchanged", () => {
  const text = "apiVersion: v1\nusers:\n- name: a\n  user:\n    exec: {command: x}\n";
  assert.equal(redactKubeconfig(text), text);
});

Deno.test("redactKubeconfig() follows YAML aliases to the secrets they share", async (t) => {
  const cases = [
    {
      name: "a user entry that is an alias (- *bob)",
      text:
        "templates:\n- &bob\n  name: bob\n  user:\n    token: BOB-SECRET\nusers:\n- name: a\n  user: {}\n- *bob\n",
      kept: ["name: bob", "- *bob"],
    },
    {
      name: "user: *creds",
      text:
        "creds: &creds\n  password: PASS-SECRET\n  username: admin\nusers:\n- name: a\n  user: *creds\n",
      kept: ["username: admin"],
    },
    {
      name: "a token that is an alias of a scalar",
      text: "x: &tok TOKEN-SECRET\nusers:\n- name: a\n  user:\n    token: *tok\n",
      kept: ["token: *tok"],
    },
    {
      name: "fields merged in with <<",
      text:
        "base: &base\n  client-key-data: KEY-SECRET\n  as: admin\nusers:\n- name: a\n  user:\n    <<: *base\n",
      kept: ["as: admin"],
    },
    {
      name: "a merge of a list of aliases, one nested alias deep",
      text: "k: &k KEY2-SECRET\nb1: &b1 {client-key-data: *k}\nb2: &b2 {x: 1}\n" +
        "users:\n- name: a\n  user:\n    <<: [*b2, *b1]\n",
      kept: ["b2: &b2 {x: 1}"],
    },
    {
      name: "auth-provider config and exec env through aliases",
      text:
        "cfg: &cfg {refresh-token: REFRESH-SECRET}\nenv: &env\n- name: V\n  value: ENV-SECRET\n" +
        "users:\n- name: a\n  user:\n    auth-provider:\n      name: oidc\n      config: *cfg\n" +
        "- name: b\n  user:\n    exec:\n      command: x\n      env: *env\n",
      kept: ["name: oidc", "- name: V", "command: x"],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const redacted = redactKubeconfig(c.text);
      assert.doesNotMatch(redacted, /SECRET/);
      assert.ok(redacted.includes(REDACTED));
      for (const kept of c.kept) assert.ok(redacted.includes(kept), kept);
    });
  }
});

Deno.test("redactedDiff() shows no aliased secret in its context lines", () => {
  // The edited user sits two lines below the anchored entry that `- *bob` names.
  const old = "templates: [&bob {name: bob, user: {token: BOB-SECRET}}]\nusers:\n" +
    "- name: alice\n  user: {token: ALICE-SECRET}\n- *bob\n";
  const next = old.replace("{token: ALICE-SECRET}", "{exec: {command: x}}");
  const diff = redactedDiff(old, next, { oldName: "/k", newName: "/k" });
  assert.ok(diff.includes("\n-  user: {token: <redacted>}\n"), diff);
  assert.ok(diff.includes("\n+  user: {exec: {command: x}}\n"), diff);
  assert.match(diff, /^ templates: \[&bob \{name: bob, user: \{token: <redacted>\}\}\]$/m);
  assert.doesNotMatch(diff, /SECRET/);
});

Deno.test("redactedDiff() of a big file shows the window with the file's line numbers", () => {
  const entries = Array.from(
    { length: 3000 },
    (_, i) => `- name: u${i}\n  user:\n    token: SECRET-${i}\n`,
  );
  const old = `apiVersion: v1\nusers:\n${entries.join("")}kind: Config\n`;
  const next = old.replace("    token: SECRET-1500\n", "    exec: {command: x}\n");
  const diff = redactedDiff(old, next, { oldName: "/k", newName: "/k" });
  // u1500's token is line 2 + 1500 * 3 + 3 = 4505.
  assert.equal(
    diff,
    "--- /k\n+++ /k\n@@ -4502,7 +4502,7 @@\n" +
      "     token: <redacted>\n - name: u1500\n   user:\n-    token: <redacted>\n" +
      "+    exec: {command: x}\n - name: u1501\n   user:\n     token: <redacted>\n",
  );
});

Deno.test("redactKubeconfig() hides generated secrets wherever anchors put them (property)", () => {
  // Each user's token is written one of four ways; anchors live in a templates list before the users.
  const style = fc.constantFrom("inline", "entry-alias", "user-alias", "token-alias", "merge");
  fc.assert(
    fc.property(
      fc.array(fc.tuple(style, fc.boolean()), { minLength: 1, maxLength: 6 }),
      (users) => {
        const templates: string[] = [];
        const entries: string[] = [];
        users.forEach(([how, flow], i) => {
          const secret = `SECRET${i}X`;
          const user = flow
            ? `{token: ${secret}, as: a${i}}`
            : `\n    token: ${secret}\n    as: a${i}`;
          if (how === "inline") entries.push(`- name: u${i}\n  user: ${user}\n`);
          else if (how === "entry-alias") {
            templates.push(`- &e${i}\n  name: u${i}\n  user: ${user}\n`);
            entries.push(`- *e${i}\n`);
          } else if (how === "user-alias") {
            templates.push(`- &u${i} ${flow ? user : `\n  token: ${secret}\n  as: a${i}`}\n`);
            entries.push(`- name: u${i}\n  user: *u${i}\n`);
          } else if (how === "token-alias") {
            templates.push(`- &t${i} ${secret}\n`);
            entries.push(`- name: u${i}\n  user:\n    token: *t${i}\n`);
          } else {
            templates.push(`- &m${i} {token: ${secret}}\n`);
            entries.push(`- name: u${i}\n  user:\n    <<: *m${i}\n    as: a${i}\n`);
          }
        });
        const text = `templates:\n${templates.join("") || "- x\n"}users:\n${entries.join("")}`;
        const redacted = redactKubeconfig(text);
        assert.doesNotMatch(redacted, /SECRET/, text);
        assert.notEqual(redacted, `${REDACTED}\n`, "it parsed");
      },
    ),
    fuzzParams(200),
  );
});
