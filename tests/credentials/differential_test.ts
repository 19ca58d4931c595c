/**
 * A second opinion on the hand-written readers (lib/credentials/der.ts, x509.ts, private_key.ts, pem.ts,
 * jwt.ts): every key, certificate and token, as made and as mutated (fast-check), goes through the broker's
 * reader and through node:crypto (Rust code in Deno, not OpenSSL) or node's base64url and JSON, and where openssl
 * is installed through the openssl CLI too. They must accept or refuse alike, and what both accept must give the
 * same public key (and subject and validity; a token's exp, nbf and iat).
 *
 * The broker follows Go's rules, since client-go (crypto/tls X509KeyPair, crypto/x509) reads the same bytes
 * after it: where Go and a reference differ, each difference is a named rule below, checked by what it claims
 * (the reference accepts the input once the one thing Go ignores is taken out, the mutation touched only the
 * field the rule is about, ...). A disagreement no rule explains fails the test with the input's description.
 * FUZZ_RUNS scales the number of mutations and FUZZ_SEED replays a run (see fuzzParams() in tests/helpers.ts).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import fc from "fast-check";
import {
  children,
  contents,
  type DerNode,
  encodeNode,
  encodeOid,
  leadingChildren,
  readNode,
  readRoot,
  TAG,
} from "../../lib/credentials/der.ts";
import { isJwt, jwtTimes } from "../../lib/credentials/jwt.ts";
import { decodePem, encodePem } from "../../lib/credentials/pem.ts";
import { parsePrivateKey } from "../../lib/credentials/private_key.ts";
import {
  type Certificate,
  OID,
  parseCertificate,
  type PublicKey,
} from "../../lib/credentials/x509.ts";
import { readCredentials } from "../../lib/credentials/credentials.ts";
import { which } from "../../scripts/world/process.ts";
import { fuzzParams, generateKey, issueCert, makeCa, openssl, run, tempDir } from "../helpers.ts";
import {
  type CertificateFixture,
  type KeyFixture,
  type KeyKind,
  makeCertificates,
  makeKey,
} from "./differential_fixtures.ts";

const OPENSSL = which("openssl");

// ---------------------------------------------------------------------------------------------------------------
// The two readers, reduced to a verdict

/** What a reader made of an input: refused (with why), or the public key as SPKI DER (and a certificate's facts). */
type Verdict =
  | { ok: false; error: string }
  | { ok: true; spki: string; subject?: string; notBefore?: number; notAfter?: number };

const hex = (bytes: Uint8Array) => bytes.toHex();

/** Whether two verdicts agree: both refuse, or both accept with the same public key. */
const same = (a: Verdict, b: Verdict) => a.ok ? b.ok && a.spki === b.spki : !b.ok;

/** A PublicKey of ours as SubjectPublicKeyInfo DER: what node:crypto and openssl export. */
function spkiOf(key: PublicKey): Uint8Array {
  const seq = (...parts: Uint8Array[]) => encodeNode(TAG.sequence, ...parts);
  const bits = (bytes: Uint8Array) => encodeNode(TAG.bitString, new Uint8Array([0]), bytes);
  const integer = (magnitude: Uint8Array) =>
    encodeNode(TAG.integer, magnitude[0]! & 0x80 ? new Uint8Array([0, ...magnitude]) : magnitude);
  switch (key.kind) {
    case "rsa":
      return seq(
        seq(encodeOid(OID.rsaEncryption), encodeNode(TAG.null)),
        bits(seq(integer(key.n), integer(key.e))),
      );
    case "ec":
      return seq(seq(encodeOid(OID.ecPublicKey), encodeOid(key.curve)), bits(key.point));
    case "ed25519":
      return seq(seq(encodeOid(OID.ed25519)), bits(key.key));
    case "other":
      throw new Error(`no SPKI for a ${key.algorithm} key`);
  }
}

/** The broker's verdict on a private key's DER under a PEM label. */
async function oursKey(label: string, der: Uint8Array): Promise<Verdict> {
  try {
    const key = await parsePrivateKey({ label, der, encrypted: false });
    return { ok: true, spki: hex(spkiOf(key.publicKey)) };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

/** node:crypto's verdict on a private key's DER of the given form. */
function nodeKey(der: Uint8Array, type: "pkcs8" | "pkcs1" | "sec1"): Verdict {
  try {
    const key = createPrivateKey({ key: Buffer.from(der), format: "der", type });
    return { ok: true, spki: hex(createPublicKey(key).export({ type: "spki", format: "der" })) };
  } catch (error) {
    return { ok: false, error: String(error) };
  }
}

/** The broker's verdict on a certificate's DER, with the parsed certificate. */
function oursCert(der: Uint8Array): Verdict & { cert?: Certificate } {
  try {
    const cert = parseCertificate(der);
    return {
      ok: true,
      cert,
      spki: cert.publicKey.kind === "other"
        ? `other ${cert.publicKey.algorithm}`
        : hex(spkiOf(cert.publicKey)),
      subject: cert.subject,
      notBefore: cert.notBefore.getTime(),
      notAfter: cert.notAfter.getTime(),
    };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

/** node:crypto's verdict on a certificate: everything the broker reads must be readable. */
function nodeCert(der: Uint8Array): Verdict & { x509?: X509Certificate } {
  try {
    const x509 = new X509Certificate(der);
    return {
      ok: true,
      x509,
      spki: hex(x509.publicKey.export({ type: "spki", format: "der" })),
      // node:crypto puts one attribute per line; the broker writes them as openssl does, comma separated.
      subject: x509.subject.split("\n").join(", "),
      notBefore: x509.validFromDate.getTime(),
      notAfter: x509.validToDate.getTime(),
    };
  } catch (error) {
    return { ok: false, error: String(error) };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Fixtures, made once for this file (RSA keys take 0.1-1 s each)

const KINDS: KeyKind[] = ["rsa", "p256", "p384", "p521", "ed25519"];
const NAMED_CURVE: Record<string, string> = { p256: OID.p256, p384: OID.p384, p521: OID.p521 };

/** A private key fixture: its DER, the PEM label it is written under, and node:crypto's name for its form. */
interface KeyInput {
  name: string;
  key: KeyFixture;
  label: string;
  type: "pkcs8" | "pkcs1" | "sec1";
  der: Uint8Array;
}

const seq = (...parts: Uint8Array[]) => encodeNode(TAG.sequence, ...parts);
const int = (value: number) => encodeNode(TAG.integer, new Uint8Array([value]));

/** A PKCS#8 wrapping of `inner` under `algorithm` (an encoded AlgorithmIdentifier). */
const pkcs8 = (algorithm: Uint8Array, inner: Uint8Array, ...rest: Uint8Array[]) =>
  seq(int(0), algorithm, encodeNode(TAG.octetString, inner), ...rest);

/** Every form of every key: PKCS#8 and the traditional form, EC with and without its optional fields. */
function keyInputs(keys: KeyFixture[]): KeyInput[] {
  const out: KeyInput[] = [];
  for (const key of keys) {
    out.push({
      name: `${key.kind} PKCS#8`,
      key,
      label: "PRIVATE KEY",
      type: "pkcs8",
      der: key.pkcs8,
    });
    if (key.kind === "rsa") {
      out.push({
        name: "rsa PKCS#1",
        key,
        label: "RSA PRIVATE KEY",
        type: "pkcs1",
        der: key.traditional!,
      });
    } else if (key.kind !== "ed25519") {
      const sec1 = key.traditional!;
      const [version, scalar, parameters, publicKey] = children(readRoot(sec1));
      const piece = (node: DerNode | undefined) => node!.bytes.subarray(node!.offset, node!.end);
      const algorithm = seq(encodeOid(OID.ecPublicKey), encodeOid(NAMED_CURVE[key.kind]!));
      out.push(
        { name: `${key.kind} SEC1`, key, label: "EC PRIVATE KEY", type: "sec1", der: sec1 },
        {
          name: `${key.kind} SEC1 without its public key`,
          key,
          label: "EC PRIVATE KEY",
          type: "sec1",
          der: seq(piece(version), piece(scalar), piece(parameters)),
        },
        {
          name: `${key.kind} PKCS#8 whose SEC1 key carries the curve too`,
          key,
          label: "PRIVATE KEY",
          type: "pkcs8",
          der: pkcs8(algorithm, sec1),
        },
        {
          name: `${key.kind} PKCS#8 whose SEC1 key has neither curve nor public key`,
          key,
          label: "PRIVATE KEY",
          type: "pkcs8",
          der: pkcs8(algorithm, seq(piece(version), piece(scalar))),
        },
      );
      assert.equal(publicKey?.tag, 0xa1);
    } else {
      // RFC 8410's OneAsymmetricKey: version 1 and the public key beside the seed.
      const spkiKey = key.spki.subarray(key.spki.length - 32);
      const [, algorithm, seed] = children(readRoot(key.pkcs8));
      out.push({
        name: "ed25519 PKCS#8 v2 with its public key",
        key,
        label: "PRIVATE KEY",
        type: "pkcs8",
        der: seq(
          int(1),
          algorithm!.bytes.subarray(algorithm!.offset, algorithm!.end),
          seed!.bytes.subarray(seed!.offset, seed!.end),
          encodeNode(0x81, new Uint8Array([0, ...spkiKey])),
        ),
      });
    }
  }
  return out;
}

let made:
  | Promise<{ keys: KeyFixture[]; inputs: KeyInput[]; certs: CertificateFixture[] }>
  | undefined;
function fixtures() {
  made ??= Promise.resolve().then(() => {
    const keys = KINDS.map(makeKey);
    return { keys, inputs: keyInputs(keys), certs: makeCertificates(keys) };
  });
  return made;
}

// ---------------------------------------------------------------------------------------------------------------
// The fixtures as made

Deno.test("every key form: the broker and node:crypto load it and derive the same public key", async (t) => {
  const { inputs } = await fixtures();
  for (const input of inputs) {
    await t.step(input.name, async () => {
      const ours = await oursKey(input.label, input.der);
      const node = nodeKey(input.der, input.type);
      assert.deepEqual(ours, node);
      assert.deepEqual(ours, { ok: true, spki: hex(input.key.spki) });
    });
  }
});

Deno.test("a key under another PEM label: the broker reads it as client-go does, whatever the label says", async (t) => {
  // Go's tls.X509KeyPair tries PKCS#1, PKCS#8 and SEC1 in turn on any block whose label ends in " PRIVATE KEY";
  // node:crypto goes by the label and refuses. The rule: the public key is the one node:crypto finds when told
  // the right form.
  const { inputs } = await fixtures();
  for (const input of inputs) {
    for (const label of ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "FOO PRIVATE KEY"]) {
      if (label === input.label) continue;
      await t.step(`${input.name} as "${label}"`, async () => {
        assert.deepEqual(await oursKey(label, input.der), nodeKey(input.der, input.type));
      });
    }
  }
});

Deno.test("an RSA-PSS key: node:crypto loads it; Go cannot, so the broker refuses it before kubectl fails", async () => {
  // Rule: Go's x509.ParsePKCS8PrivateKey knows rsaEncryption, EC and Ed25519 keys only; an RSA-PSS key
  // (1.2.840.113549.1.1.10) makes client-go fail with "tls: failed to parse private key".
  const { keys } = await fixtures();
  const rsa = keys.find((key) => key.kind === "rsa")!;
  const der = pkcs8(seq(encodeOid("1.2.840.113549.1.1.10")), rsa.traditional!);
  const node = createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" });
  assert.equal(node.asymmetricKeyType, "rsa-pss");
  const ours = await oursKey("PRIVATE KEY", der);
  assert.deepEqual(ours, {
    ok: false,
    error: "the private key's algorithm 1.2.840.113549.1.1.10 is not supported by kubectl",
  });
});

Deno.test("every certificate: the broker and node:crypto read the same public key, subject and validity", async (t) => {
  const { certs } = await fixtures();
  for (const fixture of certs) {
    await t.step(fixture.name, () => {
      const { cert: _cert, ...ours } = oursCert(fixture.der);
      const { x509: _x509, ...node } = nodeCert(fixture.der);
      assert.deepEqual(ours, node);
      assert.deepEqual(ours, {
        ok: true,
        spki: hex(fixture.key.spki),
        subject: fixture.subject,
        notBefore: fixture.notBefore.getTime(),
        notAfter: fixture.notAfter.getTime(),
      });
    });
  }
});

Deno.test("readCredentials() pairs a key with a certificate exactly when node:crypto's checkPrivateKey() does", async () => {
  const { certs, inputs } = await fixtures();
  await using tmp = await tempDir();
  // Every certificate with one form of every key: the matching pairs load, the others are a mismatch.
  const clientCerts = certs.filter((cert) => cert.name.includes("client"));
  for (const [i, fixture] of clientCerts.entries()) {
    const certPath = `${tmp.path}/client ${i}.crt`;
    await Deno.writeTextFile(certPath, encodePem("CERTIFICATE", fixture.der));
    const x509 = new X509Certificate(fixture.der);
    for (const [j, input] of inputs.entries()) {
      const keyPath = `${tmp.path}/key ${j}.key`;
      await Deno.writeTextFile(keyPath, encodePem(input.label, input.der), { mode: 0o600 });
      const reading = await readCredentials({
        clientCertificatePath: certPath,
        clientKeyPath: keyPath,
      });
      const nodeMatch = fixture.key.kind === "p521"
        // node:crypto cannot compare P-521 keys here (Deno 2.9.6); the SPKI comparison stands in.
        ? hex(createPublicKey(nodeKeyObject(input)).export({ type: "spki", format: "der" })) ===
          hex(fixture.key.spki)
        : x509.checkPrivateKey(nodeKeyObject(input));
      assert.equal(
        reading.credentials.key !== undefined,
        nodeMatch,
        `${fixture.name} / ${input.name}`,
      );
      assert.deepEqual(
        reading.problems.map((p) => p.kind),
        nodeMatch ? [] : ["mismatch"],
        `${fixture.name} / ${input.name}`,
      );
    }
  }
});

function nodeKeyObject(input: KeyInput) {
  return createPrivateKey({ key: Buffer.from(input.der), format: "der", type: input.type });
}

// ---------------------------------------------------------------------------------------------------------------
// Mutations

/** One change of the kind corruption and hostile input make: a byte, a cut, garbage after, a length, an insert. */
type Step =
  | { kind: "set"; at: number; value: number }
  | { kind: "cut"; at: number }
  | { kind: "trail"; bytes: Uint8Array }
  | { kind: "insert"; at: number; bytes: Uint8Array };

const step = (length: number): fc.Arbitrary<Step> =>
  fc.oneof(
    fc.record({
      kind: fc.constant("set" as const),
      at: fc.nat(length - 1),
      value: fc.oneof(
        fc.integer({ min: 0, max: 255 }),
        // Length bytes: short and long forms, the edges of each.
        fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0x81, 0x82, 0x84, 0x85, 0xff),
      ),
    }),
    fc.record({ kind: fc.constant("cut" as const), at: fc.nat(length - 1) }),
    fc.record({
      kind: fc.constant("trail" as const),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }),
    }),
    fc.record({
      kind: fc.constant("insert" as const),
      at: fc.nat(length - 1),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 3 }),
    }),
  );

function apply(bytes: Uint8Array, change: Step): Uint8Array {
  switch (change.kind) {
    case "set": {
      const out = Uint8Array.from(bytes);
      out[change.at] = change.value;
      return out;
    }
    case "cut":
      return bytes.slice(0, change.at);
    case "trail":
      return Uint8Array.from([...bytes, ...change.bytes]);
    case "insert":
      return Uint8Array.from([
        ...bytes.subarray(0, change.at),
        ...change.bytes,
        ...bytes.subarray(change.at),
      ]);
  }
}

/** The first offset at which `mutated` differs from `original` (their common length if one is a prefix). */
function firstChange(original: Uint8Array, mutated: Uint8Array): number {
  const n = Math.min(original.length, mutated.length);
  for (let i = 0; i < n; i++) if (original[i] !== mutated[i]) return i;
  return n;
}

/** Whether the mutation left everything outside [start, end) of the original as it was (same length too). */
function changedOnlyWithin(original: Uint8Array, mutated: Uint8Array, start: number, end: number) {
  if (original.length !== mutated.length) return false;
  for (let i = 0; i < original.length; i++) {
    if (original[i] !== mutated[i] && (i < start || i >= end)) return false;
  }
  return true;
}

const describe = (name: string, change: Step) =>
  `${name}, ${JSON.stringify(change, (_, v) => v instanceof Uint8Array ? `0x${v.toHex()}` : v)}`;

/** A rule: why the broker (following Go) and a reference may disagree on an input; `holds` checks the claim. */
interface Rule<C> {
  name: string;
  holds: (context: C) => boolean | Promise<boolean>;
}

interface KeyContext {
  input: KeyInput;
  mutated: Uint8Array;
  ours: Verdict;
  node: Verdict;
}

/** The PKCS#1 or SEC1 structure inside a key input (for PKCS#8, inside its OCTET STRING). */
function innerKey(input: Pick<KeyInput, "type" | "der">, der = input.der): DerNode {
  if (input.type !== "pkcs8") return readNode(der, 0);
  const [, , privateKey] = leadingChildren(readNode(der, 0), 3);
  return readNode(der, privateKey!.start, privateKey!.end);
}

/** Whether node:crypto agrees that the private scalar in an EC key's DER has the public key `spki` (hex). */
function scalarHasPoint(
  type: KeyInput["type"],
  kind: KeyKind,
  der: Uint8Array,
  spki: string,
): boolean {
  const [, scalar] = leadingChildren(innerKey({ type, der }), 2);
  const jwk = createPublicKey({ key: Buffer.from(spki, "hex"), format: "der", type: "spki" })
    .export({ format: "jwk" });
  const size = { p256: 32, p384: 48, p521: 66 }[kind as "p256"];
  let d = contents(scalar!);
  while (d.length > size && d[0] === 0) d = d.subarray(1);
  const padded = new Uint8Array(size);
  padded.set(d, size - d.length);
  try {
    // node:crypto refuses a JWK whose d does not belong to its x and y.
    createPrivateKey({
      key: { ...jwk, d: padded.toBase64({ alphabet: "base64url", omitPadding: true }) },
      format: "jwk",
    });
    return true;
  } catch {
    return false;
  }
}

const KEY_RULES: Rule<KeyContext>[] = [
  {
    name: "Go (crypto/x509 ParsePKCS8PrivateKey, ParseECPrivateKey) ignores bytes after the key; " +
      "node:crypto refuses them",
    holds: ({ input, mutated, ours, node }) => {
      if (!ours.ok || node.ok || input.type === "pkcs1") return false;
      // node:crypto loads the key without them, and finds the broker's public key.
      const end = readNode(mutated, 0, mutated.length, false).end;
      const key = nodeKey(mutated.subarray(0, end), input.type);
      return end < mutated.length && key.ok && key.spki === ours.spki;
    },
  },
  {
    name:
      "Go ignores anything after the fields it knows inside a PKCS#8 or SEC1 key (attributes, a later " +
      "version's additions); node:crypto refuses what it cannot read there",
    holds: ({ input, mutated, ours, node }) => {
      if (!ours.ok || node.ok || input.type !== "pkcs8") return false;
      // node:crypto loads the key made of the fields Go reads alone, and finds the broker's public key.
      // (with version 0: Go does not look at it, node:crypto wants a v2 key's public key).
      const [, ...fields] = leadingChildren(readNode(mutated, 0), 3);
      const key = nodeKey(
        seq(int(0), ...fields.map((f) => f.bytes.subarray(f.offset, f.end))),
        "pkcs8",
      );
      return key.ok && key.spki === ours.spki;
    },
  },
  {
    name:
      "Go derives an EC key's public point from its private scalar and never compares it with the point " +
      "in the file (crypto/x509 sec1.go); node:crypto refuses a key whose point is not its own",
    holds: ({ input, mutated, ours, node }) =>
      ours.ok && !node.ok && NAMED_CURVE[input.key.kind] !== undefined &&
      scalarHasPoint(input.type, input.key.kind, mutated, ours.spki),
  },
  {
    name:
      "Go takes an EC key's curve from the PKCS#8 algorithm parameters before the SEC1 key's own " +
      "(crypto/x509 pkcs8.go), and refuses a curve it does not know there; node:crypto takes the SEC1 key's",
    holds: ({ input, mutated, ours, node }) => {
      if (ours.ok || !node.ok || input.type !== "pkcs8" || !/curve/.test(ours.error)) return false;
      const [, algorithm] = leadingChildren(readNode(input.der, 0), 2);
      const [, parameters] = leadingChildren(algorithm!, 2);
      return changedOnlyWithin(input.der, mutated, parameters!.offset, parameters!.end) &&
        leadingChildren(innerKey(input), 3)[2]?.tag === 0xa0;
    },
  },
  {
    name:
      "Go reads a PKCS#8 key's version but never checks it, and refuses a PKCS#1 version only above 1 " +
      "(a negative one passes); node:crypto takes 0 and 1 only",
    holds: ({ input, mutated, ours, node }) => {
      if (!ours.ok || node.ok || ours.spki !== hex(input.key.spki)) return false;
      const versions = [leadingChildren(readNode(input.der, 0), 1)[0]!];
      if (input.key.kind === "rsa") versions.push(leadingChildren(innerKey(input), 1)[0]!);
      return versions.some((version) =>
        changedOnlyWithin(input.der, mutated, version.offset, version.end)
      );
    },
  },
  {
    name:
      "Go reads n, e, d, p and q of an RSA key; dp, dq and qinv are OPTIONAL to it (encoding/asn1), and " +
      "from Go 1.24 (kubectl 1.33) checked when present (GODEBUG x509rsacrt); node:crypto requires them and " +
      "recomputes them",
    holds: ({ input, mutated, ours, node }) => {
      if (input.key.kind !== "rsa" || ours.ok === node.ok) return false;
      const [, , , , , , dp] = leadingChildren(innerKey(input), 7);
      // Every change at or after dp, so n, e, d, p and q are as made.
      if (firstChange(input.der, mutated) < dp!.offset) return false;
      return ours.ok ? ours.spki === hex(input.key.spki) : /inconsistent/.test(ours.error);
    },
  },
  {
    name:
      "Go reads the SEC1 key's own curve field even when PKCS#8 names the curve, and refuses a " +
      "malformed one; node:crypto ignores it",
    holds: ({ input, mutated, ours, node }) => {
      if (ours.ok || !node.ok || input.type !== "pkcs8") return false;
      const parameters = leadingChildren(innerKey(input), 3)[2];
      if (parameters?.tag !== 0xa0) return false;
      const [, , privateKey] = leadingChildren(readNode(input.der, 0), 3);
      // innerKey() offsets count from the OCTET STRING's contents.
      const base = privateKey!.start;
      return changedOnlyWithin(
        input.der,
        mutated,
        base + parameters.offset - innerKey(input).offset,
        base + parameters.end - innerKey(input).offset,
      );
    },
  },
];

Deno.test("mutated keys: the broker and node:crypto accept or refuse alike, but for the named rules of Go", async () => {
  const { inputs } = await fixtures();
  for (const input of inputs) {
    await fc.assert(
      fc.asyncProperty(step(input.der.length), async (change) => {
        const mutated = apply(input.der, change);
        const ours = await oursKey(input.label, mutated);
        const node = nodeKey(mutated, input.type);
        if (same(ours, node)) return;
        for (const rule of KEY_RULES) {
          if (await rule.holds({ input, mutated, ours, node })) return;
        }
        assert.fail(
          `${describe(input.name, change)}: the broker ${
            ours.ok ? "accepts" : `refuses (${ours.error})`
          }, ` +
            `node:crypto ${node.ok ? "accepts" : `refuses (${node.error})`}` +
            (ours.ok && node.ok ? " with another public key" : ""),
        );
      }),
      fuzzParams(20),
    );
  }
});

interface CertContext {
  fixture: CertificateFixture;
  mutated: Uint8Array;
  ours: Verdict;
  node: Verdict & { x509?: X509Certificate };
}

/** Where the fields of a made certificate lie (it is well formed, so any reader finds the same). */
function certFields(der: Uint8Array) {
  const [tbs, outerAlgorithm, signature] = leadingChildren(readNode(der, 0), 3);
  const [version, serial, algorithm, issuer, validity, subject, spki, extensions] = children(tbs!);
  return {
    version,
    serial,
    algorithm,
    issuer,
    validity,
    subject,
    spki,
    extensions,
    outerAlgorithm,
    signature,
  };
}

/** Whether only bytes inside one of `nodes` changed. */
const onlyIn = (context: CertContext, ...nodes: (DerNode | undefined)[]) =>
  nodes.some((node) =>
    node !== undefined &&
    changedOnlyWithin(context.fixture.der, context.mutated, node.offset, node.end)
  );

const CERT_RULES: Rule<CertContext>[] = [
  {
    name: "Go's x509.ParseCertificate refuses bytes after the certificate (x509: trailing data); " +
      "node:crypto ignores them",
    holds: ({ mutated, ours, node }) => {
      if (ours.ok || !node.ok) return false;
      const end = readNode(mutated, 0, mutated.length, false).end;
      return end < mutated.length && same(nodeCert(mutated.subarray(0, end)), node);
    },
  },
  {
    name: "Go takes any 32 bytes as an Ed25519 public key; node:crypto wants a point of the curve",
    holds: (context) => {
      const { fixture, ours, node } = context;
      if (!ours.ok || node.ok || fixture.key.kind !== "ed25519") return false;
      const { spki } = certFields(fixture.der);
      return changedOnlyWithin(fixture.der, context.mutated, spki!.end - 32, spki!.end);
    },
  },
  {
    name:
      "Go loads a certificate whose key algorithm or curve it does not know (the key pair then fails to " +
      "match, as the broker's match fails); node:crypto refuses it",
    holds: (context) =>
      context.ours.ok && context.ours.spki.startsWith("other ") && !context.node.ok &&
      onlyIn(context, certFields(context.fixture.der).spki),
  },
  {
    name: "Go 1.23 and later (kubectl 1.31 and later) refuse a negative serial number " +
      "(GODEBUG x509negativeserial); node:crypto takes it",
    holds: ({ ours, node }) =>
      !ours.ok && /negative serial/.test(ours.error) && node.ok &&
      /^[89a-f]/i.test(node.x509!.serialNumber),
  },
  {
    name:
      "Go checks the names' structure and string types (UTF8String, PrintableString, IA5String, ...) " +
      "and refuses the certificate; node:crypto reads names as they come",
    holds: (context) => {
      const { issuer, subject } = certFields(context.fixture.der);
      return !context.ours.ok && context.node.ok && onlyIn(context, issuer, subject);
    },
  },
  {
    name:
      "Go reads every element of a certificate by DER's rules (tags, shortest lengths, each field's " +
      "type) and refuses damage node:crypto reads past: node:crypto gives the key, subject and validity of " +
      "the certificate as made",
    holds: ({ fixture, ours, node }) => {
      if (ours.ok || !node.ok) return false;
      const { x509: _x509, ...facts } = node;
      const { x509: _made, ...made } = nodeCert(fixture.der);
      return JSON.stringify(facts) === JSON.stringify(made);
    },
  },
  {
    name:
      "Go refuses an RSA modulus or public exponent that is negative (first bit set) or not in its " +
      "shortest form (cryptobyte ReadASN1Integer); node:crypto reads the bytes as an unsigned number",
    holds: (context) => {
      const { fixture, mutated, ours, node } = context;
      if (ours.ok || !/negative|exponent|shortest form/.test(ours.error) || !node.ok) return false;
      if (fixture.key.kind !== "rsa") return false;
      // The modulus and exponent INTEGERs of the certificate as made; the change lies in one of them, and
      // leaves it negative or padded.
      const { spki } = certFields(fixture.der);
      const [, key] = leadingChildren(spki!, 2);
      const rsa = readNode(fixture.der, key!.start + 1, key!.end);
      return leadingChildren(rsa, 2).some((integer) => {
        if (!changedOnlyWithin(fixture.der, mutated, integer.start, integer.end)) return false;
        const [first, second] = [mutated[integer.start]!, mutated[integer.start + 1]!];
        return first >= 0x80 || (first === 0 && second < 0x80) ||
          (first === 0xff && second >= 0x80);
      });
    },
  },
  {
    name:
      "Go takes any positive RSA modulus and exponent in a certificate (x509 parsePublicKey); " +
      "node:crypto refuses some (an even exponent, a modulus it finds unusable)",
    holds: (context) =>
      context.ours.ok && context.fixture.key.kind === "rsa" && !context.node.ok &&
      /modulus|exponent/.test(context.node.error) &&
      onlyIn(context, certFields(context.fixture.der).spki),
  },
  {
    name:
      "Go reads validity times by cryptobyte's rules (UTCTime or GeneralizedTime by their tags, " +
      "seconds optional in UTCTime only, Z or a +hhmm offset, every field in range); node:crypto reads " +
      "them otherwise",
    holds: (context) =>
      onlyIn(context, certFields(context.fixture.der).validity) &&
      (context.ours.ok ? context.node.ok : /time|date|zone/i.test(context.ours.error)),
  },
  {
    name:
      "Go refuses a certificate whose inner and outer signature algorithms differ; node:crypto reads " +
      "one of them",
    holds: (context) => {
      const { algorithm, outerAlgorithm } = certFields(context.fixture.der);
      return !context.ours.ok && /signature algorithm/.test(context.ours.error) &&
        onlyIn(context, algorithm, outerAlgorithm);
    },
  },
  {
    name:
      "Go checks the contents of the extensions it knows (key usage, basic constraints, extended key " +
      "usage, ...) and refuses duplicates; node:crypto does not look inside them",
    holds: (context) =>
      !context.ours.ok && context.node.ok &&
      onlyIn(context, certFields(context.fixture.der).extensions),
  },
  {
    name:
      "Go ignores what follows the fields it reads (inside the SubjectPublicKeyInfo, after the " +
      "extensions, an element that is not the extensions block); node:crypto refuses it: the broker reads " +
      "the certificate as made",
    holds: ({ fixture, ours, node }) => {
      if (!ours.ok || node.ok) return false;
      const { cert: _cert, ...facts } = ours as Verdict & { cert?: Certificate };
      const { cert: _made, ...made } = oursCert(fixture.der);
      return JSON.stringify(facts) === JSON.stringify(made);
    },
  },
];

Deno.test("mutated certificates: the broker and node:crypto accept or refuse alike, but for the named rules of Go", async () => {
  const { certs } = await fixtures();
  for (const fixture of certs) {
    fc.assert(
      fc.property(step(fixture.der.length), (change) => {
        const mutated = apply(fixture.der, change);
        const ours = oursCert(mutated);
        const node = nodeCert(mutated);
        if (
          same(ours, node) &&
          (!ours.ok || !node.ok ||
            (ours.notBefore === node.notBefore && ours.notAfter === node.notAfter))
        ) {
          return;
        }
        const context = { fixture, mutated, ours, node };
        if (CERT_RULES.some((rule) => rule.holds(context))) return;
        assert.fail(
          `${describe(fixture.name, change)}: the broker ${
            ours.ok
              ? `accepts (${JSON.stringify({ ...ours, cert: undefined })})`
              : `refuses (${ours.error})`
          }, node:crypto ${
            node.ok
              ? `accepts (${JSON.stringify({ ...node, x509: undefined })})`
              : `refuses (${node.error})`
          }`,
        );
      }),
      fuzzParams(60),
    );
  }
});

// ---------------------------------------------------------------------------------------------------------------
// PEM

/** A PEM text changed as people and tools change files: a label, a character, a cut, line ends, a header. */
const pemChange = (text: string) =>
  fc.oneof(
    fc.record({
      kind: fc.constant("label" as const),
      which: fc.constantFrom("BEGIN", "END", "both"),
      label: fc.constantFrom(
        "PRIVATE KEY",
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "CERTIFICATE",
        "X",
        "",
      ),
    }),
    fc.record({
      kind: fc.constant("insert" as const),
      at: fc.nat(text.length),
      text: fc.string({
        unit: fc.constantFrom(..." \t\r\n-=:/+Aa0".split("")),
        minLength: 1,
        maxLength: 3,
      }),
    }),
    fc.record({ kind: fc.constant("cut" as const), from: fc.nat(text.length), length: fc.nat(8) }),
    fc.record({ kind: fc.constant("crlf" as const) }),
    fc.record({
      kind: fc.constant("header" as const),
      header: fc.constantFrom("Comment: x", "Proc-Type: 4,ENCRYPTED"),
    }),
  );

type PemChange = typeof pemChange extends (t: string) => fc.Arbitrary<infer T> ? T : never;

function applyPem(text: string, label: string, change: PemChange): string {
  switch (change.kind) {
    case "label": {
      let out = text;
      if (change.which !== "END") out = out.replace(`BEGIN ${label}-`, `BEGIN ${change.label}-`);
      if (change.which !== "BEGIN") out = out.replace(`END ${label}-`, `END ${change.label}-`);
      return out;
    }
    case "insert":
      return text.slice(0, change.at) + change.text + text.slice(change.at);
    case "cut":
      return text.slice(0, change.from) + text.slice(change.from + change.length);
    case "crlf":
      return text.replaceAll("\n", "\r\n");
    case "header":
      return text.replace("-----\n", `-----\n${change.header}\n\n`);
  }
}

/** The key block of a PEM text as credentials.ts picks it (the one block whose label ends in PRIVATE KEY). */
async function oursPemKey(text: string): Promise<Verdict & { der?: Uint8Array }> {
  const blocks = decodePem(text).blocks.filter((block) => block.label.endsWith("PRIVATE KEY"));
  if (blocks.length !== 1) return { ok: false, error: `${blocks.length} key blocks` };
  try {
    const key = await parsePrivateKey(blocks[0]!);
    return { ok: true, spki: hex(spkiOf(key.publicKey)), der: blocks[0]!.der };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

interface PemContext {
  text: string;
  der: Uint8Array;
  ours: Verdict & { der?: Uint8Array };
  node: Verdict;
}

const PEM_RULES: Rule<PemContext>[] = [
  {
    name:
      "Go's pem.Decode drops a CR only at a line end or in the body; node:crypto's PEM reader drops " +
      "every CR (without them the broker finds the very key)",
    holds: async ({ text, der, ours, node }) => {
      if (ours.ok || !node.ok || !text.includes("\r")) return false;
      const without = await oursPemKey(text.replaceAll("\r", ""));
      return without.ok && without.der !== undefined && hex(without.der) === hex(der);
    },
  },
  {
    name:
      "Go's pem.Decode takes a BEGIN line only at the start of a line, and an END line with nothing " +
      "after it but spaces and tabs (encoding/pem); node:crypto's PEM reader is laxer",
    holds: ({ text, ours, node }) =>
      !ours.ok && node.ok &&
      (/[^\n]-----BEGIN/.test(text) || /-----END [^\n]*-----[ \t]*[^ \t\r\n]/.test(text)),
  },
  {
    name:
      "Go's pem.Decode takes what node:crypto's PEM reader refuses (text around the block, spaces, tabs " +
      "and CRs in the body, lines of any length, an RFC 1421 header), and Go's tls.X509KeyPair goes by no " +
      "key label: the broker recovers the very DER of the key",
    holds: ({ der, ours, node }) =>
      ours.ok && !node.ok && ours.der !== undefined && hex(ours.der) === hex(der),
  },
  {
    name:
      "an RFC 1421 header marks the block encrypted (Proc-Type: 4,ENCRYPTED): the broker refuses it as " +
      "an encrypted key, as Go's tls.X509KeyPair fails on it; node:crypto asks for a passphrase",
    holds: ({ ours, node }) => !ours.ok && /encrypted/.test(ours.error) && !node.ok,
  },
];

Deno.test("mutated PEM key files: the broker and node:crypto read the same key, or refuse, but for Go's PEM rules", async () => {
  const { inputs } = await fixtures();
  for (const input of inputs) {
    const text = encodePem(input.label, input.der);
    await fc.assert(
      fc.asyncProperty(pemChange(text), async (change) => {
        const mutated = applyPem(text, input.label, change);
        const ours = await oursPemKey(mutated);
        let node: Verdict;
        try {
          node = {
            ok: true,
            spki: hex(
              createPublicKey(createPrivateKey(mutated)).export({ type: "spki", format: "der" }),
            ),
          };
        } catch (error) {
          node = { ok: false, error: String(error) };
        }
        if (same(ours, node)) return;
        const context = { text: mutated, der: input.der, ours, node };
        for (const rule of PEM_RULES) if (await rule.holds(context)) return;
        assert.fail(
          `${input.name}, ${JSON.stringify(change)}: the broker ${
            ours.ok ? "accepts" : `refuses (${ours.error})`
          }, node:crypto ${node.ok ? "accepts" : `refuses (${node.error})`}`,
        );
      }),
      fuzzParams(20),
    );
  }
});

// ---------------------------------------------------------------------------------------------------------------
// The openssl CLI (OpenSSL's own readers), where installed

/** openssl's public key (SPKI DER) of a key or certificate file, or its refusal. */
async function opensslPublicKey(dir: string, file: string, what: "key" | "cert"): Promise<Verdict> {
  const out = `${file}.spki`;
  const args = what === "key"
    ? ["pkey", "-inform", "DER", "-in", file, "-pubout", "-outform", "DER", "-out", out]
    : ["x509", "-inform", "DER", "-in", file, "-noout", "-pubkey", "-out", out];
  const result = await run("openssl", args, { cwd: dir });
  if (result.code !== 0) return { ok: false, error: result.stderr.split("\n")[0] ?? "" };
  const bytes = await Deno.readFile(`${dir}/${out}`);
  return {
    ok: true,
    spki: hex(what === "key" ? bytes : decodePem(new TextDecoder().decode(bytes)).blocks[0]!.der),
  };
}

/** The only block of a PEM file openssl wrote. */
async function pemDer(path: string): Promise<{ label: string; der: Uint8Array }> {
  const [block] = decodePem(await Deno.readTextFile(path)).blocks;
  return block!;
}

/** What openssl makes that Go (so the broker) refuses, and node:crypto's view of it: a named rule each. */
const OPENSSL_ONLY: Record<string, { rule: string; node: boolean }> = {
  "explicit": {
    rule:
      "Go knows EC curves by name only (crypto/x509 namedCurveFromOID): a key with explicit curve " +
      "parameters makes client-go fail, so the broker refuses it; node:crypto refuses it too",
    node: false,
  },
  "rsa-pss": {
    rule:
      "Go's crypto/x509 cannot load RSA-PSS keys (PKCS#8 algorithm 1.2.840.113549.1.1.10): the " +
      "broker refuses them before kubectl fails; node:crypto loads them",
    node: true,
  },
};

Deno.test({
  name:
    "openssl-made keys and certificates of every type: the broker, node:crypto and openssl read the " +
    "same public key, but for Go's named rules (needs the openssl CLI)",
  ignore: OPENSSL === undefined,
  async fn(t) {
    await using tmp = await tempDir();
    const dir = tmp.path;
    const files: { name: string; path: string; expect?: keyof typeof OPENSSL_ONLY }[] = [];
    await generateKey(dir, "rsa.key", "rsa");
    await generateKey(dir, "ed25519.key", "ed25519");
    await openssl(["pkey", "-in", "rsa.key", "-traditional", "-out", "rsa.pkcs1"], dir);
    files.push({ name: "rsa PKCS#8", path: "rsa.key" }, { name: "rsa PKCS#1", path: "rsa.pkcs1" });
    for (const curve of ["P-256", "P-384", "P-521"]) {
      const key = `${curve}.key`;
      await openssl([
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        `ec_paramgen_curve:${curve}`,
        "-out",
        key,
      ], dir);
      await openssl(["pkey", "-in", key, "-traditional", "-out", `${curve}.sec1`], dir);
      await openssl(["ec", "-in", key, "-no_public", "-out", `${curve}.nopub`], dir);
      await openssl(["ec", "-in", key, "-param_enc", "explicit", "-out", `${curve}.explicit`], dir);
      files.push(
        { name: `${curve} PKCS#8`, path: key },
        { name: `${curve} SEC1`, path: `${curve}.sec1` },
        { name: `${curve} SEC1 without its public key`, path: `${curve}.nopub` },
        {
          name: `${curve} SEC1 with explicit curve parameters`,
          path: `${curve}.explicit`,
          expect: "explicit",
        },
      );
    }
    await openssl([
      "genpkey",
      "-algorithm",
      "RSA-PSS",
      "-pkeyopt",
      "rsa_keygen_bits:2048",
      "-out",
      "pss.key",
    ], dir);
    files.push({ name: "ed25519 PKCS#8", path: "ed25519.key" }, {
      name: "RSA-PSS PKCS#8",
      path: "pss.key",
      expect: "rsa-pss",
    });

    for (const file of files) {
      await t.step(`key: ${file.name}`, async () => {
        const text = await Deno.readTextFile(`${dir}/${file.path}`);
        const block = decodePem(text).blocks.find((b) => b.label.endsWith("PRIVATE KEY"))!;
        await Deno.writeFile(`${dir}/${file.path}.der`, block.der);
        const ours = await oursKey(block.label, block.der);
        const ossl = await opensslPublicKey(dir, `${file.path}.der`, "key");
        let node: Verdict;
        try {
          node = {
            ok: true,
            spki: hex(
              createPublicKey(createPrivateKey(text)).export({ type: "spki", format: "der" }),
            ),
          };
        } catch (error) {
          node = { ok: false, error: String(error) };
        }
        assert.ok(ossl.ok, `openssl reads its own ${file.name}`);
        if (file.expect) {
          // The rule: Go refuses, so the broker does; openssl takes it; node:crypto as stated.
          assert.equal(ours.ok, false, OPENSSL_ONLY[file.expect]!.rule);
          assert.equal(node.ok, OPENSSL_ONLY[file.expect]!.node, OPENSSL_ONLY[file.expect]!.rule);
          return;
        }
        assert.deepEqual(ours, ossl);
        assert.deepEqual(node, ossl);
      });
    }

    // Certificates: self-signed (openssl req -x509) and issued by an openssl CA, for every key above.
    const ca = await makeCa(dir);
    for (const file of files.filter((f) => f.path.endsWith(".key"))) {
      for (const kind of ["self-signed", "CA-signed"]) {
        await t.step(`${kind} certificate for ${file.name}`, async () => {
          const crt = `${file.path}.${kind}.crt`;
          if (kind === "self-signed") {
            await openssl([
              "req",
              "-x509",
              "-new",
              "-key",
              file.path,
              "-out",
              crt,
              "-subj",
              "/CN=self/O=dev",
              "-days",
              "1",
            ], dir);
          } else {
            await issueCert({
              dir,
              ca,
              keyPath: `${dir}/${file.path}`,
              out: crt,
              notAfter: new Date(Date.now() + 3600_000),
            });
          }
          const { der } = await pemDer(`${dir}/${crt}`);
          await Deno.writeFile(`${dir}/${crt}.der`, der);
          const ours = oursCert(der);
          const node = nodeCert(der);
          const ossl = await opensslPublicKey(dir, `${crt}.der`, "cert");
          assert.ok(ossl.ok, `openssl reads its own certificate for ${file.name}`);
          if (file.expect === "rsa-pss") {
            // Rule: Go loads a certificate whose key algorithm it does not know (x509.UnknownPublicKeyAlgorithm;
            // the key pair then fails to match), so the broker reads it and finds no key to match; node:crypto
            // refuses it (Deno 2.9.6: "unsupported x509 public key type").
            assert.equal(ours.ok && ours.spki, "other 1.2.840.113549.1.1.10");
            assert.equal(node.ok, false);
            return;
          }
          assert.equal(ours.ok && ours.spki, ossl.ok && ossl.spki);
          const { cert: _cert, ...oursFacts } = ours;
          const { x509: _x509, ...nodeFacts } = node;
          assert.deepEqual(oursFacts, nodeFacts);
        });
      }
    }
  },
});

/** Why the broker (Go's rules) and openssl may disagree on a mutated input; each claim is checked. */
interface OpensslContext {
  dir: string;
  what: "key" | "cert";
  label: string;
  /** The curve of an EC key. */
  kind?: KeyKind;
  original: Uint8Array;
  mutated: Uint8Array;
  ours: Verdict;
  openssl: Verdict;
}

/** openssl's verdict on DER bytes, through a file in `dir`. */
async function opensslOn(dir: string, what: "key" | "cert", der: Uint8Array): Promise<Verdict> {
  const name = `m-${crypto.randomUUID()}.der`;
  await Deno.writeFile(`${dir}/${name}`, der);
  return await opensslPublicKey(dir, name, what);
}

const OPENSSL_RULES: Rule<OpensslContext>[] = [
  {
    name:
      "Go ignores bytes after a PKCS#8 or SEC1 key, and refuses bytes after a certificate; openssl " +
      "does the opposite: without them openssl reads the broker's key",
    holds: async ({ dir, what, mutated, ours, openssl }) => {
      const end = readNode(mutated, 0, mutated.length, false).end;
      if (end >= mutated.length || ours.ok === openssl.ok) return false;
      if (what === "key" ? !ours.ok : ours.ok) return false;
      const cut = await opensslOn(dir, what, mutated.subarray(0, end));
      return what === "key" ? same(cut, ours) : cut.ok && openssl.ok && cut.spki === openssl.spki;
    },
  },
  {
    name:
      "Go derives an EC key's public point from its private scalar and never compares it with the point " +
      "in the file; openssl refuses a key whose point is not its own, or reports the point written in the " +
      "file (node:crypto confirms the broker's point)",
    holds: async ({ dir, label, kind, original, mutated, ours, openssl }) => {
      if (!ours.ok || kind === undefined) return false;
      if (openssl.ok && !same(openssl, await opensslOn(dir, "key", original))) return false;
      return scalarHasPoint(
        label === "EC PRIVATE KEY" ? "sec1" : "pkcs8",
        kind,
        mutated,
        ours.spki,
      );
    },
  },
  {
    name:
      "Go loads a certificate whose key algorithm it does not know (the key pair then fails to match, " +
      "as the broker's match fails); openssl refuses it",
    holds: ({ what, ours, openssl }) =>
      what === "cert" && ours.ok && ours.spki.startsWith("other ") && !openssl.ok,
  },
  {
    name:
      "Go takes version 1 only for a SEC1 key (crypto/x509 sec1.go); openssl reads past another",
    holds: async ({ dir, original, ours, openssl }) =>
      !ours.ok && /EC key version/.test(ours.error) && openssl.ok &&
      same(await opensslOn(dir, "key", original), openssl),
  },
  {
    name:
      "Go reads every element of a certificate by DER's rules (times, version, extension contents, " +
      "tags) and refuses damage openssl reads past: openssl gives the key of the certificate as made",
    holds: async ({ dir, what, original, ours, openssl }) =>
      what === "cert" && !ours.ok && openssl.ok &&
      same(await opensslOn(dir, what, original), openssl),
  },
  {
    name:
      "Go ignores what follows the fields it reads, where openssl refuses: the broker reads the " +
      "certificate as made",
    holds: ({ what, original, ours, openssl }) =>
      what === "cert" && ours.ok && !openssl.ok && same(oursCert(original), ours),
  },
];

Deno.test({
  name:
    "mutated openssl-made keys and certificates: the broker and openssl accept or refuse alike, but " +
    "for the named rules of Go (needs the openssl CLI)",
  ignore: OPENSSL === undefined,
  async fn() {
    await using tmp = await tempDir();
    const dir = tmp.path;
    const inputs: { what: "key" | "cert"; label: string; der: Uint8Array; kind?: KeyKind }[] = [];
    for (const curve of ["P-256", "P-521"]) {
      await openssl([
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        `ec_paramgen_curve:${curve}`,
        "-out",
        `${curve}.key`,
      ], dir);
      await openssl(["pkey", "-in", `${curve}.key`, "-traditional", "-out", `${curve}.sec1`], dir);
      await openssl([
        "req",
        "-x509",
        "-new",
        "-key",
        `${curve}.key`,
        "-out",
        `${curve}.crt`,
        "-subj",
        "/CN=self/O=dev",
        "-days",
        "1",
      ], dir);
      for (const file of [`${curve}.key`, `${curve}.sec1`, `${curve}.crt`]) {
        const block = await pemDer(`${dir}/${file}`);
        const what = file.endsWith(".crt") ? "cert" : "key";
        const kind: KeyKind | undefined = what === "cert"
          ? undefined
          : curve === "P-256"
          ? "p256"
          : "p521";
        inputs.push({ what, label: block.label, der: block.der, kind });
      }
    }
    await generateKey(dir, "ed25519.key", "ed25519");
    const ed = await pemDer(`${dir}/ed25519.key`);
    inputs.push({ what: "key", label: ed.label, der: ed.der });
    for (const input of inputs) {
      await fc.assert(
        fc.asyncProperty(step(input.der.length), async (change) => {
          const mutated = apply(input.der, change);
          const ours = input.what === "key"
            ? await oursKey(input.label, mutated)
            : (({ cert: _cert, ...verdict }) => verdict)(oursCert(mutated));
          const reference = await opensslOn(dir, input.what, mutated);
          if (same(ours, reference)) return;
          const context = {
            dir,
            what: input.what,
            label: input.label,
            kind: input.kind,
            original: input.der,
            mutated,
            ours,
            openssl: reference,
          };
          for (const rule of OPENSSL_RULES) if (await rule.holds(context)) return;
          assert.fail(
            `${describe(`${input.label} (openssl)`, change)}: the broker ${
              ours.ok ? "accepts" : `refuses (${ours.error})`
            }, openssl ${reference.ok ? "accepts" : `refuses (${reference.error})`}`,
          );
        }),
        fuzzParams(4),
      );
    }
  },
});

// ---------------------------------------------------------------------------------------------------------------
// JWT

/** node's reading of a JWT's times: Buffer's base64url decoder and UTF-8, JSON.parse, the same NumericDate rule. */
function nodeJwtTimes(token: string): { exp?: number; nbf?: number; iat?: number } | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  const decode = (segment: string): unknown => {
    try {
      return JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
    } catch {
      return undefined;
    }
  };
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  const header = decode(parts[0]!);
  const claims = decode(parts[1]!);
  if (!isObject(header) || typeof header.alg !== "string" || !isObject(claims)) return undefined;
  const date = (v: unknown) =>
    typeof v === "number" && Number.isFinite(v) && v > 0 && v <= 253402300799
      ? new Date(v * 1000).getTime() // a Date holds whole milliseconds
      : undefined;
  return { exp: date(claims.exp), nbf: date(claims.nbf), iat: date(claims.iat) };
}

const JWT_RULES: Rule<{ token: string }>[] = [
  {
    name:
      "a JWT's segments are unpadded base64url (RFC 7515; the API server's go-jose decodes them with " +
      "RawURLEncoding): the broker takes the token as opaque otherwise; node's Buffer skips what is not " +
      "base64url",
    holds: ({ token }) =>
      token.split(".").slice(0, 2).some((segment) =>
        !/^[A-Za-z0-9_-]+$/.test(segment) || segment.length % 4 === 1
      ),
  },
  {
    name:
      "the broker reads claims only when they are UTF-8, and takes the token as opaque (no expiry) " +
      "otherwise; node's Buffer replaces bad bytes",
    holds: ({ token }) =>
      token.split(".").slice(0, 2).some((segment) => {
        try {
          new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(segment, "base64url"));
          return false;
        } catch {
          return true;
        }
      }),
  },
];

Deno.test("JWT: the broker reads exp, nbf and iat as node's base64url and JSON do, but for the named rules", () => {
  const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const time = fc.oneof(
    fc.integer({ min: -10, max: 253402300900 }),
    fc.double(),
    fc.string({ maxLength: 4 }),
  );
  const token = fc.record({
    claims: fc.record({ exp: time, nbf: time, iat: time, sub: fc.string({ maxLength: 6 }) }, {
      requiredKeys: [],
    }),
    change: fc.option(
      fc.record({
        at: fc.nat(200),
        text: fc.string({
          unit: fc.constantFrom(..."=+/.-_ aZ\u00e9\u0000".split("")),
          maxLength: 2,
        }),
        cut: fc.nat(2),
      }),
    ),
  }).map(({ claims, change }) => {
    const text = `${segment({ alg: "RS256" })}.${segment(claims)}.c2ln`;
    if (!change) return text;
    const at = Math.min(change.at, text.length);
    return text.slice(0, at) + change.text + text.slice(at + change.cut);
  });
  fc.assert(
    fc.property(token, (token) => {
      const ours = jwtTimes(token);
      const node = nodeJwtTimes(token);
      const times = {
        exp: ours.expiry?.getTime(),
        nbf: ours.notBefore?.getTime(),
        iat: ours.issuedAt?.getTime(),
      };
      if (JSON.stringify(times) === JSON.stringify(node ?? {})) return;
      if (isJwt(token) === false && JWT_RULES.some((rule) => rule.holds({ token }))) return;
      assert.fail(
        `${JSON.stringify(token)}: the broker reads ${JSON.stringify(times)}, node ${
          JSON.stringify(node)
        }`,
      );
    }),
    fuzzParams(300),
  );
});
