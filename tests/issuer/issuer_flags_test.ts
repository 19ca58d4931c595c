/**
 * The issuer flags: every usage error the issue names, defaults from the environment and step's defaults file as
 * a pure function of (flags, env, files), default storage paths, and brokerArgs() giving back the same options.
 */
import assert from "node:assert/strict";
import {
  BROKER_FLAGS,
  brokerArgs,
  type BrokerOptions,
  brokerOptionsFromFlags,
  type IssuerSources,
} from "../../lib/plugin/broker_options.ts";
import { parseArgs } from "../../lib/shared/flags.ts";
import { UsageError } from "../../lib/shared/errors.ts";

function sources(
  env: Record<string, string> = {},
  files: Record<string, string> = {},
): IssuerSources {
  return {
    env: (name) => env[name],
    home: () => "/home/alice",
    readFile: (path) => files[path],
  };
}

function options(argv: string[], from: IssuerSources = sources()): BrokerOptions {
  return brokerOptionsFromFlags(parseArgs(argv, BROKER_FLAGS).values, {
    sources: from,
    os: "linux",
  });
}

const CFSSL = ["--issuer=cfssl", "--issuer-url=https://ca.example.com:8888", "--common-name=alice"];
const VAULT = [
  "--issuer=vault",
  "--issuer-url=https://vault.example.com",
  "--common-name=alice",
  "--vault-role=dev",
];
const STEP = [
  "--issuer=step-ca",
  "--issuer-url=https://step.example.com",
  "--step-token-command=step ca token alice",
];

Deno.test("issuer flags: each misuse is a usage error that names what is wrong", async (t) => {
  const cases: [string, string[], RegExp][] = [
    ["unknown issuer", ["--issuer=acme"], /invalid --issuer "acme": use vault, step-ca, cfssl/],
    [
      "issuer with a command",
      [...CFSSL, "--before-exec-command=renew"],
      /--issuer and --before-exec-command/,
    ],
    [
      "issuer with policy always",
      [...CFSSL, "--before-exec-policy=always"],
      /--issuer and --before-exec-policy always/,
    ],
    [
      "common name with step-ca",
      [...STEP, "--common-name=alice"],
      /--common-name cannot be used with --issuer step-ca/,
    ],
    ["ttl with cfssl", [...CFSSL, "--ttl=1h"], /--ttl cannot be used with --issuer cfssl/],
    ["vault over http to another host", [
      "--issuer=vault",
      "--issuer-url=http://vault.example.com:8200",
      "--common-name=a",
      "--vault-role=r",
    ], /Vault over http:\/\/ only to a loopback address/],
    [
      "cfssl without url",
      ["--issuer=cfssl", "--common-name=alice"],
      /--issuer cfssl needs --issuer-url/,
    ],
    [
      "cfssl without common name",
      ["--issuer=cfssl", "--issuer-url=https://c"],
      /needs --common-name/,
    ],
    ["vault without role", [
      "--issuer=vault",
      "--issuer-url=https://v",
      "--common-name=a",
    ], /--issuer vault needs --vault-role/],
    [
      "vault without any address",
      ["--issuer=vault", "--common-name=a", "--vault-role=r"],
      /needs --issuer-url/,
    ],
    ["step-ca without a CA", ["--issuer=step-ca"], /--issuer step-ca needs --issuer-url/],
    [
      "issuer flag without --issuer",
      ["--token-path=t", "--issuer-url=https://x"],
      /--issuer-url needs --issuer/,
    ],
    [
      "another issuer's flag",
      [...CFSSL, "--vault-role=dev"],
      /--vault-role is for --issuer vault, not --issuer cfssl/,
    ],
    ["bad key type", [...CFSSL, "--key-type=dsa"], /invalid --key-type "dsa"/],
    ["bad vault auth", [...VAULT, "--vault-auth=ldap"], /invalid --vault-auth "ldap"/],
    ["bad ttl", [...VAULT, "--ttl=soon"], /--ttl/],
    [
      "not a url",
      ["--issuer=cfssl", "--issuer-url=ca.example.com", "--common-name=a"],
      /is not a URL/,
    ],
    [
      "credentials in the url",
      ["--issuer=cfssl", "--issuer-url=https://u:p@c", "--common-name=a"],
      /user name or password/,
    ],
    [
      "only a certificate path",
      [...CFSSL, "--client-certificate-path=c.crt"],
      /--client-key-path is missing/,
    ],
  ];
  for (const [name, argv, message] of cases) {
    await t.step(name, () => {
      assert.throws(() => options(argv), (error) => {
        assert.ok(error instanceof UsageError, String(error));
        assert.match(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("issuer flags: accepted forms", async (t) => {
  await t.step(
    "vault over http to loopback, renew-ahead with no command, explicit when-invalid",
    () => {
      const parsed = options([
        "--issuer=vault",
        "--issuer-url=http://127.0.0.1:8200/",
        "--common-name=alice",
        "--vault-role=dev",
        "--renew-ahead=33%",
        "--before-exec-policy=when-invalid",
      ]);
      assert.equal(parsed.issuer!.url, "http://127.0.0.1:8200");
      assert.equal(parsed.beforeExecPolicy, "when-invalid");
      assert.deepEqual(parsed.issuer!.vault, {
        mount: "pki",
        role: "dev",
        auth: "token",
        authMount: "cert",
      });
    },
  );
  await t.step("alt names split and trimmed, defaults for key type", () => {
    const parsed = options([...CFSSL, "--alt-names= a.example.com ,10.0.0.1,, "]);
    assert.deepEqual(parsed.issuer!.altNames, ["a.example.com", "10.0.0.1"]);
    assert.equal(parsed.issuer!.keyType, "ec-p256");
  });
});

Deno.test("issuer defaults come from the environment and step's defaults file only for absent flags", async (t) => {
  await t.step("vault: VAULT_ADDR, then BAO_ADDR; VAULT_CACERT; VAULT_NAMESPACE", () => {
    const env = {
      VAULT_ADDR: "https://vault.example.com:8200",
      BAO_ADDR: "https://bao.example.com",
      VAULT_CACERT: "/etc/vault/ca.pem",
      VAULT_NAMESPACE: "team-a",
    };
    const parsed = options(
      ["--issuer=vault", "--common-name=alice", "--vault-role=dev"],
      sources(env),
    );
    assert.equal(parsed.issuer!.url, "https://vault.example.com:8200");
    assert.equal(parsed.issuer!.caFile, "/etc/vault/ca.pem");
    assert.equal(parsed.issuer!.vault!.namespace, "team-a");
    const bao = options(
      ["--issuer=vault", "--common-name=a", "--vault-role=r"],
      sources({ BAO_ADDR: "https://bao" }),
    );
    assert.equal(bao.issuer!.url, "https://bao");
    const explicit = options(
      [...VAULT, "--vault-namespace=team-b", "--issuer-ca-file=/x.pem"],
      sources(env),
    );
    assert.equal(explicit.issuer!.url, "https://vault.example.com");
    assert.equal(explicit.issuer!.vault!.namespace, "team-b");
    assert.equal(explicit.issuer!.caFile, "/x.pem");
  });
  await t.step("step-ca: ca-url and root of $STEPPATH/config/defaults.json, else ~/.step", () => {
    const defaults = JSON.stringify({
      "ca-url": "https://step.internal:9000",
      root: "/home/alice/.step/certs/root_ca.crt",
    });
    const home = options(
      ["--issuer=step-ca", "--step-token-command=step ca token alice"],
      sources({}, { "/home/alice/.step/config/defaults.json": defaults }),
    );
    assert.equal(home.issuer!.url, "https://step.internal:9000");
    assert.equal(home.issuer!.caFile, "/home/alice/.step/certs/root_ca.crt");
    const stepPath = options(
      ["--issuer=step-ca"],
      sources({ STEPPATH: "/opt/step" }, { "/opt/step/config/defaults.json": defaults }),
    );
    assert.equal(stepPath.issuer!.url, "https://step.internal:9000");
  });
  await t.step("VAULT_ADDR means nothing to cfssl", () => {
    assert.throws(
      () => options(["--issuer=cfssl", "--common-name=a"], sources({ VAULT_ADDR: "https://v" })),
      /needs --issuer-url/,
    );
  });
});

Deno.test("issued credentials are kept under ~/.kube/credentials-broker/ unless paths are given", () => {
  const parsed = options([...VAULT]);
  assert.equal(
    parsed.clientCertificatePath,
    "/home/alice/.kube/credentials-broker/vault-vault.example.com-dev-alice/client.crt",
  );
  assert.equal(
    parsed.clientKeyPath,
    "/home/alice/.kube/credentials-broker/vault-vault.example.com-dev-alice/client.key",
  );
  const named = brokerOptionsFromFlags(parseArgs(CFSSL, BROKER_FLAGS).values, {
    sources: { ...sources(), userName: "prod/alice" },
    os: "linux",
  });
  assert.equal(named.clientKeyPath, "/home/alice/.kube/credentials-broker/prod_alice/client.key");
  const given = options([...CFSSL, "--client-certificate-path=/c.crt", "--client-key-path=/c.key"]);
  assert.equal(given.clientCertificatePath, "/c.crt");
});

Deno.test("brokerArgs() stores every resolved issuer default as a flag that parses back to the same options", async (t) => {
  const env = sources({
    VAULT_ADDR: "https://vault.example.com",
    VAULT_NAMESPACE: "ns",
    VAULT_CACERT: "/ca.pem",
  });
  const cases: [string, string[]][] = [
    ["vault from the environment", [
      "--issuer=vault",
      "--common-name=alice",
      "--vault-role=dev",
      "--ttl=2h",
    ]],
    ["vault cert auth", [
      ...VAULT,
      "--vault-auth=cert",
      "--vault-auth-mount=certs",
      "--vault-mount=pki_int",
    ]],
    ["cfssl authsign", [
      ...CFSSL,
      "--cfssl-profile=client",
      "--cfssl-label=l",
      "--cfssl-auth-key-file=/k",
      "--key-type=rsa-2048",
    ]],
    ["step-ca", [...STEP, "--alt-names=a,b", "--renew-ahead=33%"]],
  ];
  for (const [name, argv] of cases) {
    await t.step(name, () => {
      const first = options(argv, env);
      const args = brokerArgs(first);
      // Parsed again with no environment at all: the stored flags say everything.
      assert.deepEqual(options(args, sources()), first);
      assert.ok(args.every((arg) => arg.startsWith("--")));
    });
  }
});
