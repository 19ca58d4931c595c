import assert from "node:assert/strict";
import { CliError, UsageError } from "../../lib/shared/errors.ts";
import {
  buildExecCredential,
  parseExecInfo,
  V1,
  V1BETA1,
} from "../../lib/credentials/exec_credential.ts";

Deno.test("parseExecInfo() echoes the apiVersion and interactive flag kubectl sends, and says when it sent none", async (t) => {
  const cases: [string, string | undefined, string, boolean | undefined][] = [
    ["unset (client-node)", undefined, V1BETA1, undefined],
    ["empty", "", V1BETA1, undefined],
    [
      "interactive false",
      JSON.stringify({ kind: "ExecCredential", apiVersion: V1, spec: { interactive: false } }),
      V1,
      false,
    ],
    [
      "interactive true",
      JSON.stringify({ kind: "ExecCredential", apiVersion: V1BETA1, spec: { interactive: true } }),
      V1BETA1,
      true,
    ],
    [
      "kubectl 1.21: no spec.interactive",
      JSON.stringify({ apiVersion: V1BETA1, spec: {} }),
      V1BETA1,
      undefined,
    ],
    ["no spec", JSON.stringify({ apiVersion: V1 }), V1, undefined],
    [
      "not a boolean",
      JSON.stringify({ apiVersion: V1, spec: { interactive: "yes" } }),
      V1,
      undefined,
    ],
  ];
  for (const [name, raw, apiVersion, interactive] of cases) {
    await t.step(name, () => {
      const info = parseExecInfo(raw);
      assert.equal(info.apiVersion, apiVersion);
      assert.equal(info.interactive, interactive);
    });
  }
});

Deno.test("parseExecInfo() reads spec.cluster.server from provideClusterInfo", () => {
  const info = parseExecInfo(JSON.stringify({
    kind: "ExecCredential",
    apiVersion: V1,
    spec: {
      interactive: false,
      cluster: { server: "https://k.example:6443", "certificate-authority-data": "QUJD" },
    },
  }));
  assert.equal(info.server, "https://k.example:6443");
});

Deno.test("parseExecInfo() rejects v1alpha1, unknown versions and malformed JSON without echoing it", async (t) => {
  const secret = "SECRET-MARKER-123";
  const cases: [string, RegExp, typeof CliError][] = [
    [
      JSON.stringify({ apiVersion: "client.authentication.k8s.io/v1alpha1" }),
      /v1alpha1.*supported: client\.authentication\.k8s\.io\/v1, client\.authentication\.k8s\.io\/v1beta1/,
      UsageError,
    ],
    [
      JSON.stringify({ apiVersion: "example.com/v9", spec: { cluster: { config: secret } } }),
      /"example\.com\/v9"/,
      UsageError,
    ],
    [JSON.stringify({ kind: "Pod", apiVersion: V1 }), /kind "Pod"/, CliError],
    [`{"apiVersion": "${secret}`, /not valid JSON/, CliError],
    ["[1,2]", /not a JSON object/, CliError],
    ["{}", /apiVersion null/, UsageError],
  ];
  for (const [raw, message, type] of cases) {
    await t.step(raw.slice(0, 40), () => {
      assert.throws(() => parseExecInfo(raw), (error: unknown) => {
        assert.ok(error instanceof type);
        assert.match(error.message, message);
        assert.ok(!error.message.includes(secret));
        return true;
      });
    });
  }
});

Deno.test("buildExecCredential() writes one JSON object with the fields client-go reads", () => {
  const der = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]);
  const json = buildExecCredential(V1, {
    certificate: {
      path: "c",
      chain: [{ der } as never, { der: new Uint8Array([0x30, 0x00]) } as never],
    },
    key: {
      path: "k",
      key: {
        label: "EC PRIVATE KEY",
        der,
        type: "EC P-256",
        publicKey: { kind: "other", algorithm: "x" },
      },
    },
    token: { path: "t", value: "tok" },
  }, new Date("2030-01-01T00:00:00.999Z"));
  assert.ok(json.endsWith("}\n"));
  assert.equal(json.trim().split("\n").length, 1);
  const parsed = JSON.parse(json);
  assert.equal(parsed.apiVersion, V1);
  assert.equal(parsed.kind, "ExecCredential");
  assert.equal(parsed.status.token, "tok");
  assert.equal(parsed.status.expirationTimestamp, "2030-01-01T00:00:00Z");
  assert.equal(
    parsed.status.clientCertificateData,
    "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
  );
  assert.equal(
    parsed.status.clientKeyData,
    "-----BEGIN EC PRIVATE KEY-----\nMAMCAQE=\n-----END EC PRIVATE KEY-----\n",
  );
});

Deno.test("buildExecCredential() leaves out expirationTimestamp when nothing expires", () => {
  const parsed = JSON.parse(
    buildExecCredential(V1BETA1, { token: { path: "t", value: "tok" } }, undefined),
  );
  assert.deepEqual(parsed.status, { token: "tok" });
});
