import assert from "node:assert/strict";
import { REDACTED, redactKubeconfig } from "../lib/redact.ts";

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
