/**
 * --before-exec-policy and renewal: the policy in-process (callPlugin), with real renewal scripts; many brokers at
 * once, and a renewal that writes its files slowly in place, with real processes. The lock itself (a stuck,
 * killed or foreign holder, a renewal left running) is tests/plugin/lock_test.ts.
 */
import assert from "node:assert/strict";
import { readCredentials } from "../../lib/credentials/credentials.ts";
import {
  generateKey,
  issueCert,
  literal,
  makeJwt,
  runBroker,
  tempDir,
  writeCommandSync,
} from "../helpers.ts";
import { callPlugin } from "./call_plugin.ts";
import { brokerArgs, renewalWorld } from "./renewal_world.ts";

Deno.test("when-invalid skips the command while the credentials are valid and runs it for each invalid reason", async (t) => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path);
  const valid = () => {
    Deno.copyFileSync(`${tmp.path}/next.crt`, w.cert);
    Deno.copyFileSync(`${tmp.path}/next.key`, w.key);
  };
  const soon = await issueCert({
    dir: tmp.path,
    ca: w.ca,
    keyPath: `${tmp.path}/next.key`,
    out: "soon.crt",
    notAfter: new Date(Date.now() + 30_000),
  });
  const otherKey = await generateKey(tmp.path, "other.key", "ec");
  const cases: [string, () => void, string[]][] = [
    ["valid: no run", valid, []],
    ["expired certificate", () => Deno.copyFileSync(`${tmp.path}/client.crt.expired`, w.cert), []],
    ["certificate inside the refresh margin", () => Deno.copyFileSync(soon, w.cert), []],
    ["missing certificate", () => Deno.removeSync(w.cert), []],
    ["empty key", () => Deno.writeTextFileSync(w.key, ""), []],
    ["unparsable certificate", () => Deno.writeTextFileSync(w.cert, "not a certificate"), []],
    ["key that does not match", () => Deno.copyFileSync(otherKey, w.key), []],
    // The 2 h-left certificate (issued an hour ago) lives 3 h: a 3h margin is capped at a third of that, 1 h.
    ["valid: a margin longer than a third of the lifetime is capped", valid, [
      "--refresh-margin=3h",
    ]],
  ];
  Deno.copyFileSync(w.cert, `${tmp.path}/client.crt.expired`);
  for (const [name, arrange, extra] of cases) {
    await t.step(name, async () => {
      valid();
      arrange();
      const before = w.runs();
      const result = await callPlugin(
        brokerArgs(w, "--before-exec-policy=when-invalid", ...extra),
        {
          home: tmp.path,
        },
      );
      const ran = w.runs() - before;
      if (name.startsWith("valid: ")) {
        assert.equal(result.code, 0, result.stderr);
        assert.equal(ran, 0);
      } else {
        assert.equal(result.code, 0, result.stderr);
        assert.equal(ran, 1);
      }
    });
  }
  await t.step("an opaque token only counts as invalid when missing or empty", async () => {
    const token = `${tmp.path}/opaque`;
    const renew = writeCommandSync(tmp.path, "renew-token", [
      { write: token, value: "renewed\n" },
      { append: `${tmp.path}/token-runs`, value: "run" },
    ]);
    const args = [
      `--token-path=${token}`,
      `--before-exec-command=${renew.line}`,
      "--before-exec-policy=when-invalid",
    ];
    Deno.writeTextFileSync(token, "s.opaque\n", { mode: 0o600 });
    assert.equal((await callPlugin(args, { home: tmp.path })).code, 0);
    assert.throws(() => Deno.statSync(`${tmp.path}/token-runs`));
    Deno.writeTextFileSync(token, "\n");
    const result = await callPlugin(args, { home: tmp.path });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).status.token, "renewed");
  });
  await t.step("an expired JWT is renewed", async () => {
    const token = `${tmp.path}/jwt`;
    const fresh = makeJwt({ exp: Math.floor(Date.now() / 1000) + 3600 });
    Deno.writeTextFileSync(token, makeJwt({ exp: Math.floor(Date.now() / 1000) - 10 }), {
      mode: 0o600,
    });
    const result = await callPlugin(
      [
        `--token-path=${token}`,
        `--before-exec-command=${
          writeCommandSync(tmp.path, "renew-jwt", [{ write: token, value: fresh }]).line
        }`,
        "--before-exec-policy=when-invalid",
      ],
      { home: tmp.path },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).status.token, fresh);
  });
});

Deno.test("a renewal that leaves the credentials invalid is an error naming the credential and why", async () => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path);
  const noop = writeCommandSync(tmp.path, "noop", []);
  for (const policy of ["always", "when-invalid"]) {
    const result = await callPlugin(
      [
        `--client-certificate-path=${w.cert}`,
        `--client-key-path=${w.key}`,
        `--before-exec-command=${noop.line}`,
        `--before-exec-policy=${policy}`,
      ],
      { home: tmp.path },
    );
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(
        `^error: client certificate ${literal(w.cert)} expired at .*, after the before-exec ` +
          `command ${literal(Deno.execPath())} ran$`,
        "m",
      ),
    );
  }
});

Deno.test("32 concurrent calls with expired credentials run the command once under when-invalid", async () => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path, { sleep: 0.5 });
  const results = await Promise.all(
    Array.from(
      { length: 32 },
      () => runBroker(brokerArgs(w, "--before-exec-policy=when-invalid"), { home: tmp.path }),
    ),
  );
  for (const result of results) assert.equal(result.code, 0, result.stderr);
  assert.equal(w.runs(), 1);
  assert.equal(
    new Set(results.map((r) => JSON.parse(r.stdout).status.clientCertificateData)).size,
    1,
  );
});

Deno.test("16 concurrent calls under always never run the command concurrently", async () => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path, { sleep: 0.02 });
  const results = await Promise.all(
    Array.from({ length: 16 }, () => runBroker(brokerArgs(w), { home: tmp.path })),
  );
  for (const result of results) assert.equal(result.code, 0, result.stderr);
  assert.equal(w.runs(), 16);
  assert.equal(w.overlaps(), 0);
});

Deno.test("readers never see a half-written renewal: every output is a matching certificate and key", async () => {
  await using tmp = await tempDir();
  const w = await renewalWorld(tmp.path, { slowWrite: true });
  const calls = Array.from({ length: 8 }, async (_, i) => {
    await new Promise((resolve) => setTimeout(resolve, i * 40));
    return runBroker(brokerArgs(w, "--before-exec-policy=when-invalid"), { home: tmp.path });
  });
  const results = await Promise.all(calls);
  assert.equal(w.runs(), 1);
  for (const [i, result] of results.entries()) {
    assert.equal(result.code, 0, result.stderr);
    const status = JSON.parse(result.stdout).status;
    Deno.writeTextFileSync(`${tmp.path}/out${i}.crt`, status.clientCertificateData);
    Deno.writeTextFileSync(`${tmp.path}/out${i}.key`, status.clientKeyData, { mode: 0o600 });
    const reread = await readCredentials({
      clientCertificatePath: `${tmp.path}/out${i}.crt`,
      clientKeyPath: `${tmp.path}/out${i}.key`,
    });
    assert.deepEqual(reread.problems, []);
  }
});
