/**
 * `doctor`'s checks, each a pure function on plain data or on the plugin's own reading of real files: passing and
 * failing, with the fix each names. The whole command: tests/doctor/doctor_test.ts (in-process) and
 * tests/doctor/doctor_process_test.ts (spawned as a user runs it).
 */
import assert from "node:assert/strict";
import { readCredentials, type Reading } from "../../lib/credentials/credentials.ts";
import {
  checkCertificateAndKey,
  checkPermissions,
  checkToken,
  type RenewalContext,
} from "../../lib/doctor/credential_checks.ts";
import { brokerArgsOf, brokerInvocation } from "../../lib/shared/broker_command.ts";
import {
  checkBackgroundRenewal,
  checkBeforeExec,
  checkBrokerArgs,
  checkExecCommand,
  lookupExecutable,
} from "../../lib/doctor/exec_checks.ts";
import { formatReport } from "../../lib/doctor/report.ts";
import type { CheckResult } from "../../lib/doctor/result.ts";
import { manualCommandLine, type RunFacts } from "../../lib/doctor/run.ts";
import { checkRun } from "../../lib/doctor/run_check.ts";
import {
  checkCompetingCredentials,
  checkExecBlock,
  type ExecConfig,
} from "../../lib/doctor/user.ts";
import { generateKey, issueCert, literal, makeCa, makeJwt, tempDir } from "../helpers.ts";
import { hasPosixPermissions, HOST_OS, joinPath, resolvePath } from "../../lib/shared/platform.ts";

const WINDOWS = HOST_OS === "windows";
/** What the permission checks say of a private file: pass where modes exist, skip where they do not (Windows). */
const PRIVATE = hasPosixPermissions(HOST_OS) ? "pass" : "skip";
/** A program file of this OS: Windows finds `name.cmd` through PATHEXT; elsewhere it is `name`, mode 0755. */
const programName = (name: string) => WINDOWS ? `${name}.cmd` : name;
/** An absolute path on this OS. */
const ABSOLUTE_TOKEN = WINDOWS ? "C:\\t" : "/t";
/** Why the execute-bit steps cannot run on Windows. */
const NO_EXEC_BIT = WINDOWS ? " (ignored: Windows has no execute permission bit)" : "";
/** Why the mode-bit steps cannot run on Windows. */
const NO_MODES = WINDOWS ? " (ignored: Windows files have no mode bits)" : "";

const V1 = "client.authentication.k8s.io/v1";
const V1BETA1 = "client.authentication.k8s.io/v1beta1";
const HOUR = 3600_000;
const NO_RENEWER: RenewalContext = { renewer: false, ran: false, marginMs: 60_000 };

const byName = (results: CheckResult[], name: string) => {
  const found = results.find((r) => r.check === name);
  assert.ok(found, `no check ${name} in ${JSON.stringify(results)}`);
  return found;
};

/** The plugin's own reading of a certificate and key, which doctor explains. */
const pair = (clientCertificatePath: string, clientKeyPath: string): Promise<Reading> =>
  readCredentials({ clientCertificatePath, clientKeyPath });
/** The plugin's own reading of a token file. */
const tokenReading = (tokenPath: string): Promise<Reading> => readCredentials({ tokenPath });

/** An env with only PATH set, for lookups. */
const pathEnv = (path: string) => (name: string) => name === "PATH" ? path : undefined;

const exec = (over: Partial<ExecConfig> = {}): ExecConfig => ({
  command: "kubectl-credentials_broker",
  args: ["--token-path=/t/token"],
  env: [],
  apiVersion: V1,
  interactiveMode: "Never",
  ...over,
});

Deno.test("checkExecBlock() applies kubectl's exec validation per apiVersion", async (t) => {
  const base = { command: "kubectl", args: ["credentials-broker"], apiVersion: V1 };
  const rows: [string, Record<string, unknown>, "pass" | "warn" | "fail", RegExp][] = [
    [
      "v1 with interactiveMode",
      { exec: { ...base, interactiveMode: "Never" } },
      "pass",
      /v1, interactiveMode Never/,
    ],
    [
      "v1 without interactiveMode",
      { exec: base },
      "fail",
      /interactiveMode is missing, which kubectl refuses for apiVersion v1/,
    ],
    [
      "v1beta1 without interactiveMode",
      { exec: { ...base, apiVersion: V1BETA1 } },
      "pass",
      /IfAvailable \(default\)/,
    ],
    [
      "v1alpha1",
      {
        exec: {
          ...base,
          apiVersion: "client.authentication.k8s.io/v1alpha1",
          interactiveMode: "Never",
        },
      },
      "fail",
      /v1alpha1 was removed in Kubernetes 1\.24/,
    ],
    [
      "no apiVersion",
      { exec: { command: "kubectl", interactiveMode: "Never" } },
      "fail",
      /apiVersion is missing/,
    ],
    [
      "no command",
      { exec: { apiVersion: V1, interactiveMode: "Never" } },
      "fail",
      /exec\.command is missing/,
    ],
    [
      "bad interactiveMode",
      { exec: { ...base, interactiveMode: "Sometimes" } },
      "fail",
      /"Sometimes" is invalid/,
    ],
    [
      "numeric arg",
      { exec: { ...base, interactiveMode: "Never", args: ["credentials-broker", 5] } },
      "fail",
      /exec\.args\[1\] is a number, not a string; quote it/,
    ],
    [
      "env without name",
      { exec: { ...base, interactiveMode: "Never", env: [{ value: "x" }] } },
      "fail",
      /exec\.env\[0\] has no name/,
    ],
    [
      "Always",
      { exec: { ...base, interactiveMode: "Always" } },
      "warn",
      /fail whenever its stdin is not a terminal/,
    ],
    [
      "unknown field",
      { exec: { ...base, interactiveMode: "Never", argz: [] } },
      "warn",
      /fields kubectl ignores: argz/,
    ],
    ["no exec", { token: "x" }, "fail", /has no exec block/],
    // YAML 1.1 reads an unquoted 2026-12-01 as a timestamp: no mapping and no string.
    ["exec is a timestamp", { exec: new Date("2026-12-01") }, "fail", /is not a mapping/],
    [
      "a timestamp arg",
      { exec: { ...base, interactiveMode: "Never", args: [new Date("2026-12-01")] } },
      "fail",
      /exec\.args\[0\] is a timestamp, not a string; quote it/,
    ],
  ];
  for (const [name, user, status, detail] of rows) {
    await t.step(name, () => {
      const { result, exec } = checkExecBlock(user, "alice");
      assert.equal(result.status, status, result.detail);
      assert.match(result.detail, detail);
      assert.equal(exec === undefined, status === "fail");
      if (status === "fail") assert.ok(result.fix);
    });
  }
  await t.step("env values are never shown, only names", () => {
    const user = {
      exec: {
        ...base,
        interactiveMode: "Never",
        env: [{ name: "VAULT_TOKEN", value: "MARKER-ENV-1" }, { name: "N", value: 7 }],
      },
    };
    const { result } = checkExecBlock(user, "alice");
    assert.doesNotMatch(JSON.stringify(result), /MARKER|7/);
    assert.match(result.detail, /exec\.env N has a value that is not a string/);
  });
});

Deno.test("checkCompetingCredentials() fails on every field that makes kubectl skip or refuse exec", async (t) => {
  for (
    const field of [
      "token",
      "tokenFile",
      "client-certificate",
      "client-certificate-data",
      "client-key-data",
      "username",
      "password",
      "auth-provider",
    ]
  ) {
    await t.step(field, () => {
      const result = checkCompetingCredentials(
        { exec: {}, [field]: "MARKER-SECRET" },
        "alice",
      );
      assert.equal(result.status, "fail");
      assert.match(result.detail, new RegExp(`also has ${field}`));
      assert.match(result.fix!, new RegExp(`remove ${field}`));
      assert.doesNotMatch(JSON.stringify(result), /MARKER/);
    });
  }
  assert.match(
    checkCompetingCredentials({ exec: {}, "auth-provider": {} }, "alice").detail,
    /refuses auth-provider together with exec/,
  );
  assert.equal(checkCompetingCredentials({ exec: {} }, "alice").status, "pass");
});

Deno.test("lookupExecutable() and checkExecCommand() resolve on PATH or next to the kubeconfig", async (t) => {
  await using tmp = await tempDir();
  const bin = `${tmp.path}/bin`;
  Deno.mkdirSync(bin);
  // The file's content does not matter: nothing runs it.
  Deno.writeTextFileSync(`${bin}/${programName("tool")}`, "exit 0\n", { mode: 0o755 });
  Deno.writeTextFileSync(`${bin}/plain`, "exit 0\n", { mode: 0o644 });
  Deno.mkdirSync(`${bin}/folder`);
  const tool = joinPath(bin, programName("tool"), HOST_OS);
  await t.step("found on PATH, with its absolute path", () => {
    const path = WINDOWS ? `C:\\nonexistent;${bin}` : `/nonexistent:${bin}`;
    const lookup = lookupExecutable("tool", tmp.path, pathEnv(path));
    assert.equal(lookup.resolved, tool);
    const result = checkExecCommand(lookup);
    assert.equal(result.status, "pass");
    // A fact, not advice.
    assert.equal(result.detail, `tool is ${tool}, found on this PATH`);
  });
  await t.step("not on PATH: the installHint is the fix", () => {
    const result = checkExecCommand(
      lookupExecutable("missing-tool", tmp.path, pathEnv(bin)),
      "install it with: brew install thing\nmore",
    );
    assert.equal(result.status, "fail");
    assert.equal(result.detail, "missing-tool not found on PATH");
    assert.equal(result.fix, "install it with: brew install thing");
  });
  await t.step({
    name: "not executable" + NO_EXEC_BIT,
    ignore: WINDOWS,
    fn: () => {
      const result = checkExecCommand(lookupExecutable("plain", tmp.path, pathEnv(bin)));
      assert.equal(result.status, "fail");
      assert.match(result.detail, /plain is not executable/);
      assert.equal(result.fix, `make it executable: chmod +x ${bin}/plain`);
    },
  });
  await t.step("a relative path with a slash resolves against the kubeconfig's folder", () => {
    const relative = `bin/${programName("tool")}`;
    const lookup = lookupExecutable(relative, tmp.path, pathEnv(""));
    // Windows writes the found path with its own separator, as Go's filepath.Join cleans it.
    const resolved = resolvePath(
      WINDOWS ? relative.replaceAll("/", "\\") : relative,
      tmp.path,
      HOST_OS,
    );
    assert.equal(lookup.resolved, resolved);
    assert.equal(
      checkExecCommand(lookup).detail,
      `${relative} is ${resolved}, relative to the kubeconfig's folder`,
    );
    const missing = checkExecCommand(lookupExecutable("./tool", tmp.path, pathEnv("")));
    assert.equal(missing.detail, `./tool not found relative to ${tmp.path}`);
  });
  await t.step("a folder is not a command", () => {
    const result = checkExecCommand(lookupExecutable(`${bin}/folder`, "/", pathEnv("")));
    // Windows looks for folder.com, folder.exe... (PATHEXT) and finds none, as Go's LookPath does there.
    assert.match(result.detail, WINDOWS ? /folder not found/ : /is not a file/);
  });
});

Deno.test("checkBrokerArgs() parses the stored args exactly as the plugin will", async (t) => {
  await t.step("kubectl needs credentials-broker first", () => {
    const { result } = checkBrokerArgs(exec({ command: "kubectl", args: ["--token-path=/t"] }));
    assert.equal(result.status, "fail");
    assert.match(result.detail, /first argument is "--token-path=\/t", not credentials-broker/);
  });
  await t.step("kubectl credentials-broker with valid flags", () => {
    const { result, options } = checkBrokerArgs(
      exec({
        command: "/usr/bin/kubectl",
        args: ["credentials-broker", `--token-path=${ABSOLUTE_TOKEN}`],
      }),
    );
    assert.equal(result.status, "pass", result.detail);
    assert.equal(options?.tokenPath, ABSOLUTE_TOKEN);
  });
  await t.step("an unknown flag, with the suggestion", () => {
    const { result } = checkBrokerArgs(exec({ args: ["--token-pth=/t"] }));
    assert.equal(result.status, "fail");
    assert.equal(result.detail, "unknown flag --token-pth");
    assert.equal(result.fix, "did you mean --token-path?");
  });
  await t.step("a certificate without its key", () => {
    const { result } = checkBrokerArgs(exec({ args: ["--client-certificate-path=/c"] }));
    assert.match(result.detail, /--client-key-path is missing/);
  });
  await t.step("a bad duration", () => {
    const { result } = checkBrokerArgs(
      exec({ args: ["--token-path=/t", "--refresh-margin=soon"] }),
    );
    assert.match(result.detail, /invalid duration "soon" for --refresh-margin/);
  });
  await t.step("relative paths are a warning", () => {
    const { result } = checkBrokerArgs(exec({ args: ["--token-path=token"] }));
    assert.equal(result.status, "warn");
    assert.match(result.detail, /--token-path relative/);
  });
  await t.step("a ~/ path is the home folder, not a relative path", () => {
    const { result } = checkBrokerArgs(exec({ args: ["--token-path=~/.kube/token"] }));
    assert.equal(result.status, "pass", result.detail);
  });
  await t.step("an issuer's absent flags from the plugin's sources, only when given", () => {
    const args = ["--issuer=vault", "--vault-role=dev", "--common-name=alice"];
    const without = checkBrokerArgs(exec({ args }));
    assert.equal(without.result.status, "fail");
    assert.match(without.result.detail, /--issuer vault needs --issuer-url/);
    const sources = {
      env: (name: string) => name === "VAULT_ADDR" ? "https://vault.example:8200" : undefined,
      home: () => "/home/alice",
      readFile: () => undefined,
    };
    const { result, options } = checkBrokerArgs(exec({ args }), sources);
    assert.notEqual(result.status, "fail", result.detail);
    assert.equal(options?.issuer?.url, "https://vault.example:8200");
  });
  await t.step(
    "brokerArgsOf() gives the broker's own arguments, or undefined for another command",
    () => {
      assert.deepEqual(brokerArgsOf("kubectl-credentials_broker", ["--token-path=/t"]), [
        "--token-path=/t",
      ]);
      assert.deepEqual(brokerArgsOf("kubectl", ["credentials-broker", "--token-path=/t"]), [
        "--token-path=/t",
      ]);
      assert.equal(brokerArgsOf("kubectl", ["oidc-login", "credentials-broker"]), undefined);
      assert.equal(brokerArgsOf("aws", ["eks"]), undefined);
    },
  );
  await t.step("another command is not judged", () => {
    assert.equal(brokerInvocation("/opt/bin/kubectl.1.31"), "kubectl");
    assert.equal(brokerInvocation("kubectl-credentials_broker"), "direct");
    // The compiled binary and the Windows install's shim are the broker too.
    assert.equal(brokerInvocation("/opt/bin/kubectl-credentials_broker.exe"), "direct");
    assert.equal(brokerInvocation("/opt/bin/kubectl-credentials_broker.cmd"), "direct");
    assert.equal(brokerInvocation("/opt/bin/kubectl.exe"), "kubectl");
    assert.equal(brokerInvocation("/opt/bin/kubectl-credentials_broker.sh"), "other");
    const { result, options } = checkBrokerArgs(exec({ command: "aws", args: ["eks"] }));
    assert.equal(result.status, "skip");
    assert.equal(options, undefined);
  });
});

Deno.test("checkBeforeExec() names the program, never its arguments, and says what is wrong", async (t) => {
  await using tmp = await tempDir();
  const script = joinPath(tmp.path, programName("renew"), HOST_OS);
  Deno.writeTextFileSync(script, "exit 0\n", { mode: 0o644 });
  await t.step("unterminated quote", () => {
    const result = checkBeforeExec({ policy: "always", splitError: "unterminated single quote" });
    assert.equal(result.status, "fail");
    assert.match(result.fix!, /sh -c/);
  });
  await t.step("not found", () => {
    const result = checkBeforeExec({
      policy: "always",
      program: "renew-cert",
      lookup: lookupExecutable("renew-cert", tmp.path, pathEnv(tmp.path)),
    });
    assert.equal(result.detail, "renew-cert not found on PATH");
  });
  await t.step({
    name: "not executable" + NO_EXEC_BIT,
    ignore: WINDOWS,
    fn: () => {
      const result = checkBeforeExec({
        policy: "always",
        program: script,
        lookup: lookupExecutable(script, tmp.path, pathEnv("")),
      });
      assert.equal(result.status, "fail");
      assert.equal(result.fix, `make it executable: chmod +x ${script}`);
    },
  });
  await t.step("executable", () => {
    Deno.chmodSync(script, 0o755);
    const result = checkBeforeExec({
      policy: "when-invalid",
      program: script,
      lookup: lookupExecutable(script, tmp.path, pathEnv("")),
    });
    assert.equal(result.status, "pass");
    assert.equal(result.detail, `${script}, runs when a credential needs renewing`);
  });
});

Deno.test("checkCertificateAndKey() reports names, expiry, key type, match and permissions", async (t) => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const ca = await makeCa(dir);
  const key = await generateKey(dir, "client.key", "ec");
  const other = await generateKey(dir, "other.key", "rsa");
  const now = new Date();
  const good = await issueCert({
    dir,
    ca,
    keyPath: key,
    out: "good.crt",
    notAfter: new Date(now.getTime() + 2 * HOUR),
  });
  const expired = await issueCert({
    dir,
    ca,
    keyPath: key,
    out: "expired.crt",
    notBefore: new Date(now.getTime() - 3 * HOUR),
    notAfter: new Date(now.getTime() - HOUR),
  });
  const future = await issueCert({
    dir,
    ca,
    keyPath: key,
    out: "future.crt",
    notBefore: new Date(now.getTime() + HOUR),
    notAfter: new Date(now.getTime() + 3 * HOUR),
  });
  await t.step("a good pair", async () => {
    const results = checkCertificateAndKey(await pair(good, key), now, NO_RENEWER);
    assert.deepEqual(results.map((r) => [r.check, r.status]), [
      ["client certificate", "pass"],
      ["certificate expiry", "pass"],
      ["client key", "pass"],
      ["client key permissions", PRIVATE],
      ["key matches certificate", "pass"],
    ]);
    assert.match(
      byName(results, "client certificate").detail,
      /subject CN=alice, O=dev, issuer CN=test ca/,
    );
    assert.match(
      byName(results, "certificate expiry").detail,
      /valid until .*Z \((1h59m|2h)\d*s? left\)/,
    );
    assert.equal(byName(results, "client key").detail, `${key}: EC P-256`);
  });
  await t.step("a key from another pair", async () => {
    const results = checkCertificateAndKey(await pair(good, other), now, NO_RENEWER);
    const match = byName(results, "key matches certificate");
    assert.equal(match.status, "fail");
    assert.match(match.detail, /\(RSA\) does not match the certificate in/);
  });
  await t.step("expired: fatal without a renewer, a warning before the renewer runs", async () => {
    let results = checkCertificateAndKey(await pair(expired, key), now, NO_RENEWER);
    let expiry = byName(results, "certificate expiry");
    assert.equal(expiry.status, "fail");
    assert.match(expiry.detail, /^expired at .*Z \(1h\d*s? ago\)$/);
    assert.match(expiry.fix!, /--before-exec-command/);
    results = checkCertificateAndKey(await pair(expired, key), now, {
      ...NO_RENEWER,
      renewer: true,
    });
    expiry = byName(results, "certificate expiry");
    assert.equal(expiry.status, "warn");
    results = checkCertificateAndKey(await pair(expired, key), now, {
      ...NO_RENEWER,
      renewer: true,
      ran: true,
    });
    assert.match(byName(results, "certificate expiry").fix!, /ran but did not renew it/);
  });
  await t.step(
    "within the refresh margin, capped at a third of the lifetime as the plugin caps it",
    async () => {
      // good lives 3h (an hour ago to 2h from now): a 3h margin counts as 1h, so 2h left is fine.
      let results = checkCertificateAndKey(await pair(good, key), now, {
        ...NO_RENEWER,
        marginMs: 3 * HOUR,
      });
      assert.equal(byName(results, "certificate expiry").status, "pass");
      const later = new Date(now.getTime() + 75 * 60_000);
      results = checkCertificateAndKey(await pair(good, key), later, {
        ...NO_RENEWER,
        marginMs: 3 * HOUR,
      });
      const expiry = byName(results, "certificate expiry");
      assert.equal(expiry.status, "warn");
      assert.match(expiry.detail, /within the refresh margin of 1h\b.*, in 4[45]m\d*s?$/);
    },
  );
  await t.step(
    "not yet valid: the plugin's rule, a warning while a renewal may fix it",
    async () => {
      const results = checkCertificateAndKey(await pair(future, key), now, NO_RENEWER);
      const expiry = byName(results, "certificate expiry");
      assert.equal(expiry.status, "fail");
      assert.match(
        expiry.detail,
        new RegExp(`^client certificate ${literal(future)} is not valid before .*Z`),
      );
      assert.match(expiry.fix!, /clock/);
      const renewing = checkCertificateAndKey(await pair(future, key), now, {
        ...NO_RENEWER,
        renewer: true,
      });
      assert.equal(byName(renewing, "certificate expiry").status, "warn");
    },
  );
  await t.step("missing, malformed and empty files", async () => {
    Deno.writeTextFileSync(
      `${dir}/junk.crt`,
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    Deno.writeTextFileSync(`${dir}/empty.key`, "\n\n", { mode: 0o600 });
    const results = checkCertificateAndKey(
      await pair(`${dir}/junk.crt`, `${dir}/empty.key`),
      now,
      NO_RENEWER,
    );
    assert.match(
      byName(results, "client certificate").detail,
      /junk\.crt: certificate 1 is malformed \(/,
    );
    assert.equal(byName(results, "client key").detail, `${dir}/empty.key is empty`);
    const missing = checkCertificateAndKey(await pair(`${dir}/nope.crt`, `${dir}/nope.key`), now, {
      ...NO_RENEWER,
      renewer: true,
    });
    assert.deepEqual(missing.map((r) => r.status), ["warn", "warn"]);
    assert.match(missing[0]!.detail, /does not exist yet; the before-exec command must create it/);
  });
  await t.step({
    name: "a key others can read is a warning with the chmod" + NO_MODES,
    ignore: WINDOWS,
    fn: async () => {
      Deno.chmodSync(key, 0o644);
      const results = checkCertificateAndKey(await pair(good, key), now, NO_RENEWER);
      const permissions = byName(results, "client key permissions");
      assert.equal(permissions.status, "warn");
      assert.equal(permissions.fix, `chmod 600 ${key}`);
      assert.match(permissions.detail, /mode 0644/);
      Deno.chmodSync(key, 0o600);
    },
  });
  await t.step("nothing printed holds key material", async () => {
    const body = Deno.readTextFileSync(key).split("\n")[1]!;
    const results = checkCertificateAndKey(await pair(good, key), now, NO_RENEWER);
    assert.ok(!JSON.stringify(results).includes(body.slice(0, 20)));
  });
});

Deno.test("checkToken() reads a JWT's expiry and refuses what the broker refuses", async (t) => {
  await using tmp = await tempDir();
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  const write = (name: string, text: string, mode = 0o600) => {
    Deno.writeTextFileSync(`${tmp.path}/${name}`, text, { mode });
    Deno.chmodSync(`${tmp.path}/${name}`, mode);
    return tokenReading(`${tmp.path}/${name}`);
  };
  await t.step("a JWT with exp", async () => {
    const jwt = makeJwt({ exp: Math.floor(now.getTime() / 1000) + 7200 });
    const results = checkToken(await write("jwt", jwt + "\n"), now, NO_RENEWER);
    assert.deepEqual(results.map((r) => r.status), ["pass", PRIVATE, "pass"]);
    assert.match(results[0]!.detail, /: JWT \(\d+ characters\)$/);
    assert.match(results[2]!.detail, /valid until .*\(2h left\)/);
    assert.ok(!JSON.stringify(results).includes(jwt));
  });
  await t.step("an expired JWT", async () => {
    const jwt = makeJwt({ exp: Math.floor(now.getTime() / 1000) - 60 });
    const expiry = byName(checkToken(await write("old", jwt), now, NO_RENEWER), "token expiry");
    assert.equal(expiry.status, "fail");
    assert.match(expiry.detail, /^expired at .* \(1m ago\)$/);
  });
  await t.step("a JWT not valid yet (nbf) fails as the plugin refuses it", async () => {
    const jwt = makeJwt({
      nbf: Math.floor(now.getTime() / 1000) + 3600,
      exp: Math.floor(now.getTime() / 1000) + 7200,
    });
    const expiry = byName(checkToken(await write("early", jwt), now, NO_RENEWER), "token expiry");
    assert.equal(expiry.status, "fail");
    assert.match(expiry.detail, /^token .*early is not valid before /);
  });
  await t.step("surrounding white space is trimmed as client-go trims it", async () => {
    const [first] = checkToken(await write("spaced", "  tok \n\n"), now, NO_RENEWER);
    assert.equal(first!.status, "pass", first!.detail);
  });
  await t.step("an opaque token", async () => {
    const results = checkToken(await write("opaque", "s.MARKER-TOKEN"), now, NO_RENEWER);
    assert.match(results[0]!.detail, /opaque token, expiry unknown/);
    assert.ok(!JSON.stringify(results).includes("MARKER"));
  });
  for (
    const [name, text, detail] of [
      ["two lines", "a\nb\n", /holds more than one line/],
      ["a space", "a b", /white space or a control character at position 2/],
      ["blank", "  \n", /is empty/],
    ] as const
  ) {
    await t.step(name, async () => {
      const [first] = checkToken(await write("bad", text), now, NO_RENEWER);
      assert.equal(first!.status, "fail");
      assert.match(first!.detail, detail);
    });
  }
  await t.step({
    name: "a token others can read is a warning" + NO_MODES,
    ignore: WINDOWS,
    fn: async () => {
      const results = checkToken(await write("loose", "tok", 0o640), now, NO_RENEWER);
      assert.equal(byName(results, "token permissions").status, "warn");
    },
  });
  await t.step("a missing token's permissions are not judged", async () => {
    const missing = await tokenReading(`${tmp.path}/nope`);
    assert.equal(checkPermissions("token", missing.files.token).status, "skip");
  });
});

Deno.test("checkRun() accepts exactly one ExecCredential of the configured apiVersion, never quoting it", async (t) => {
  const credential = (
    over: Record<string, unknown> = {},
    status: unknown = { token: "MARKER-T" },
  ) => JSON.stringify({ apiVersion: V1, kind: "ExecCredential", status, ...over }) + "\n";
  const base: RunFacts = {
    command: "kubectl-credentials_broker",
    durationMs: 42,
    code: 0,
    stdout: "",
    stderr: "",
  };
  const rows: [string, Partial<RunFacts>, "pass" | "warn" | "fail", RegExp][] = [
    [
      "a token",
      { stdout: credential() },
      "pass",
      /exited 0 in 42ms: one v1 ExecCredential with token, no expirationTimestamp/,
    ],
    [
      "certificate and key",
      {
        stdout: credential({}, {
          clientCertificateData: "MARKER-C",
          clientKeyData: "MARKER-K",
          expirationTimestamp: "2030-01-01T00:00:00Z",
        }),
      },
      "pass",
      /with client certificate and key, expirationTimestamp 2030-01-01T00:00:00Z/,
    ],
    [
      "the wrong apiVersion",
      { stdout: credential({ apiVersion: V1BETA1 }) },
      "fail",
      /apiVersion "client\.authentication\.k8s\.io\/v1beta1", not client\.authentication\.k8s\.io\/v1/,
    ],
    [
      "extra output after the object",
      { stdout: credential() + "done MARKER-X\n" },
      "fail",
      /stdout \(\d+ bytes\) is not one JSON object/,
    ],
    ["nothing", { stdout: "" }, "fail", /printed nothing on stdout/],
    [
      "a certificate without key",
      { stdout: credential({}, { clientCertificateData: "MARKER-C" }) },
      "fail",
      /client certificate without the other/,
    ],
    ["no credentials", { stdout: credential({}, {}) }, "fail", /holds no credentials/],
    ["another kind", { stdout: credential({ kind: "Secret" }) }, "fail", /not an ExecCredential/],
    [
      "a bad timestamp",
      { stdout: credential({}, { token: "t", expirationTimestamp: "soon" }) },
      "fail",
      /not an RFC 3339 time/,
    ],
    [
      "a failure quotes only the broker's closing error and hint lines",
      {
        code: 1,
        broker: true,
        stderr: "vault: MARKER-OUT\nerror: token /t does not exist\nhint: renew it\n",
      },
      "fail",
      /failed with exit code 1 after 42ms: error: token \/t does not exist \/ hint: renew it$/,
    ],
    [
      "the renewal command's own error: lines are never quoted",
      {
        code: 1,
        broker: true,
        stderr: "error: vault said no to token hvs.MARKER-1\nhint: MARKER-2\n" +
          "error: before-exec command renew failed with exit status 1\n",
      },
      "fail",
      /exit code 1 after 42ms: error: before-exec command renew failed with exit status 1$/,
    ],
    [
      "nothing is quoted when the report is not last",
      { code: 1, broker: true, stderr: "error: broker\nMARKER-late\n" },
      "fail",
      /failed with exit code 1 after 42ms$/,
    ],
    [
      "nothing is quoted from a command that is not the broker",
      { code: 1, stderr: "error: MARKER-OTHER\n" },
      "fail",
      /failed with exit code 1 after 42ms$/,
    ],
    [
      "a process left holding stdout is a warning",
      { stdout: credential(), stdoutHeld: true },
      "warn",
      /kept its stdout open after it exited, and kubectl waits until that closes/,
    ],
    ["killed", { code: undefined, signal: "SIGKILL" }, "fail", /was killed by SIGKILL/],
    [
      "not started",
      { code: undefined, startError: "NotFound" },
      "fail",
      /could not start: NotFound/,
    ],
    [
      "timed out",
      { code: undefined, timedOut: true, timeoutMs: 1000 },
      "fail",
      /did not finish within 1s and was stopped/,
    ],
  ];
  for (const [name, over, status, detail] of rows) {
    await t.step(name, () => {
      const result = checkRun({ ...base, ...over }, V1);
      assert.equal(result.status, status, result.detail);
      assert.match(result.detail, detail);
      assert.doesNotMatch(JSON.stringify(result), /MARKER/);
    });
  }
});

Deno.test("checkRun(): the run-it-by-hand line says it is for cmd.exe on Windows", () => {
  const run: RunFacts = {
    command: "kubectl-credentials_broker",
    broker: true,
    code: 1,
    stdout: "",
    stderr: "",
    durationMs: 42,
    commandLine: 'set "KUBERNETES_EXEC_INFO={}" && kubectl-credentials_broker < NUL',
  };
  assert.equal(
    checkRun(run, V1, "windows").fix,
    "run it by hand in cmd.exe to see its full output (fill in the <hidden> values from the kubeconfig): " +
      run.commandLine,
  );
  assert.match(
    checkRun({ ...run, commandLine: "env X=1 b </dev/null" }, V1, "linux").fix ?? "",
    /^run it by hand to see/,
  );
  const timedOut = { ...run, code: undefined, timedOut: true, timeoutMs: 1000 };
  assert.match(
    checkRun(timedOut, V1, "windows").fix ?? "",
    /, or run it by hand in cmd\.exe: set "KUBERNETES/,
  );
  assert.match(
    checkRun({ ...timedOut, commandLine: "env X=1 b </dev/null" }, V1, "darwin").fix ?? "",
    /, or run it by hand: env X/,
  );
});

Deno.test("formatReport() prints one marked line per check, a fix under failures and a summary", () => {
  const report = {
    ok: false,
    checks: [
      { check: "a", status: "pass" as const, detail: "fine" },
      { check: "longer", status: "warn" as const, detail: "hmm", fix: "do x" },
      { check: "b", status: "fail" as const, detail: "broken", fix: "do y" },
      { check: "c", status: "skip" as const, detail: "not run" },
    ],
  };
  assert.equal(
    formatReport(report, false),
    `[ok]   a       fine
[warn] longer  hmm
               fix: do x
[FAIL] b       broken
               fix: do y
[skip] c       not run

1 check failed, 1 warning
`,
  );
  const terminal = formatReport(report, true);
  assert.ok(terminal.includes("\x1b[32m✓\x1b[0m a       fine\n"), terminal);
  assert.ok(terminal.includes("✗\x1b[0m b"), terminal);
});

// ---------------------------------------------------------------------------------------------------------------
// The command, spawned as installed

Deno.test("manualCommandLine() repeats the run by hand with env values and renewal arguments left out", () => {
  const line = manualCommandLine(
    "/opt/bin/kubectl",
    exec({
      command: "kubectl",
      args: [
        "credentials-broker",
        "--token-path=/t/token",
        "--before-exec-command=renew --pw MARKER",
      ],
      env: [{ name: "VAULT_TOKEN", value: "MARKER-ENV" }],
    }),
    "linux",
  );
  assert.equal(
    line,
    `env KUBERNETES_EXEC_INFO='{"kind":"ExecCredential","apiVersion":"${V1}","spec":{"interactive":false}}' ` +
      "VAULT_TOKEN='<hidden>' /opt/bin/kubectl credentials-broker --token-path=/t/token " +
      "'--before-exec-command=renew <arguments hidden>' </dev/null",
  );
  const split = manualCommandLine(
    "/b/kubectl-credentials_broker",
    exec({ args: ["--before-exec-command", "renew"] }),
    "linux",
  );
  assert.match(split, / \/b\/kubectl-credentials_broker --before-exec-command renew <\/dev\/null$/);
  const other = manualCommandLine(
    "/usr/bin/aws",
    exec({ command: "aws", args: ["eks", "MARKER"] }),
    "linux",
  );
  assert.match(other, / \/usr\/bin\/aws '<2 exec\.args hidden>' <\/dev\/null$/);
  assert.doesNotMatch(line + split + other, /MARKER/);
});

Deno.test('manualCommandLine() on Windows is a cmd.exe line: set "NAME=<hidden>" && command < NUL', () => {
  const line = manualCommandLine(
    "C:\\Program Files\\kubectl\\kubectl.exe",
    exec({
      command: "kubectl",
      args: [
        "credentials-broker",
        "--token-path=C:\\t\\token",
        "--before-exec-command=renew.cmd --pw MARKER",
      ],
      env: [{ name: "VAULT_TOKEN", value: "MARKER-ENV" }, { name: "ODD NAME", value: "MARKER-2" }],
    }),
    "windows",
  );
  assert.equal(
    line,
    `set "KUBERNETES_EXEC_INFO={"kind":"ExecCredential","apiVersion":"${V1}","spec":{"interactive":false}}" && ` +
      'set "VAULT_TOKEN=<hidden>" && set "ODD NAME=<hidden>" && ' +
      '"C:\\Program Files\\kubectl\\kubectl.exe" credentials-broker --token-path=C:\\t\\token ' +
      '"--before-exec-command=renew.cmd <arguments hidden>" < NUL',
  );
  assert.doesNotMatch(line, /env |\/dev\/null|'/);
  const split = manualCommandLine(
    "C:\\b\\kubectl-credentials_broker.exe",
    exec({ args: ["--before-exec-command", '"C:\\My Tools\\renew.cmd" MARKER', '--x=a"b\\'] }),
    "windows",
  );
  assert.match(
    split,
    / && C:\\b\\kubectl-credentials_broker\.exe --before-exec-command "\\"C:\\My Tools\\renew\.cmd\\" <arguments hidden>" "--x=a\\"b\\\\" < NUL$/,
  );
  const other = manualCommandLine(
    "C:\\aws\\aws.exe",
    exec({ command: "aws", args: ["eks", "MARKER"] }),
    "windows",
  );
  assert.match(other, / && C:\\aws\\aws\.exe "<2 exec\.args hidden>" < NUL$/);
  assert.doesNotMatch(line + split + other, /MARKER/);
});

Deno.test("checkBackgroundRenewal() tells how the last background renewal went, never its output", () => {
  assert.deepEqual(checkBackgroundRenewal("10m", undefined, "/c/x.ahead.log"), {
    check: "background renewal",
    status: "pass",
    detail: "renew-ahead 10m; no background renewal has run yet",
  });
  assert.deepEqual(
    checkBackgroundRenewal("30%", {
      failures: 0,
      lastEndedAt: "2026-12-01T12:00:00Z",
      lastOutcome: "ok",
    }, "/c/x.ahead.log"),
    {
      check: "background renewal",
      status: "pass",
      detail: "renew-ahead 30%; the last one ended at 2026-12-01T12:00:00Z: ok",
    },
  );
  const failed = checkBackgroundRenewal("10m", {
    failures: 2,
    lastEndedAt: "2026-12-01T12:00:00Z",
    lastOutcome: "before-exec command /r.sh failed with exit status 1",
    nextTryAt: "2026-12-01T12:01:00Z",
  }, "/c/x.ahead.log");
  assert.equal(failed.status, "warn");
  assert.equal(
    failed.detail,
    "renew-ahead 10m; the last one failed at 2026-12-01T12:00:00Z (before-exec command /r.sh failed " +
      "with exit status 1), 2 in a row; next try at 2026-12-01T12:01:00Z",
  );
  assert.match(failed.fix ?? "", /^read its log: \/c\/x\.ahead\.log; a renewal that needs you/);
});
