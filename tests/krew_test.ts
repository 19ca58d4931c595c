import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "yaml";
import { sha256Hex } from "../scripts/archive.ts";
import { build } from "../scripts/build.ts";
import {
  addURIAndSha,
  globMatches,
  HOMEPAGE,
  KREW_API_VERSION,
  krewManifest,
  krewTemplate,
  MANIFEST_FILE,
  releaseAssetUrl,
  renderTemplate,
  validateKrewManifest,
} from "../scripts/krew.ts";
import { archiveName, TARGETS } from "../scripts/targets.ts";
import { VERSION } from "../lib/version.ts";
import { fakeProject, run, standInDeps, tempDir, unpack } from "./release_helpers.ts";

const projectDir = new URL("..", import.meta.url).pathname;
const TAG = `v${VERSION}`;

/** A stand-in for the bot's sha lookup: a made-up but well-formed checksum per URL. */
const fakeSha = (uri: string) =>
  `${uri.length.toString(16).padStart(2, "0")}`.repeat(32).slice(0, 64);

async function renderCommitted(): Promise<string> {
  const template = await Deno.readTextFile(join(projectDir, ".krew.yaml"));
  return renderTemplate(template, { TagName: TAG }, { addURIAndSha: addURIAndSha(fakeSha) });
}

Deno.test("the committed .krew.yaml is the template scripts/krew.ts generates", async () => {
  assert.equal(
    await Deno.readTextFile(join(projectDir, ".krew.yaml")),
    krewTemplate(),
    "regenerate it with: deno run -A scripts/krew.ts template > .krew.yaml",
  );
});

Deno.test("the committed .krew.yaml renders, as krew-release-bot would, to a valid manifest", async () => {
  const rendered = await renderCommitted();
  assert.deepEqual(validateKrewManifest(rendered, MANIFEST_FILE), []);
  const manifest = parse(rendered);
  assert.equal(manifest.apiVersion, KREW_API_VERSION);
  assert.equal(manifest.kind, "Plugin");
  assert.equal(manifest.metadata.name, "credentials-broker");
  assert.equal(manifest.spec.version, TAG);
  assert.equal(manifest.spec.homepage, HOMEPAGE);
  assert.doesNotMatch(manifest.spec.shortDescription, /\n/);
  assert.match(manifest.spec.caveats, /kubectl credentials-broker kubeconfig set/);
  assert.deepEqual(
    manifest.spec.platforms.map((p: { selector: { matchLabels: Record<string, string> } }) =>
      p.selector.matchLabels
    ),
    TARGETS.map((t) => ({ os: t.os, arch: t.arch })),
  );
  TARGETS.forEach((target, i) => {
    const platform = manifest.spec.platforms[i];
    const uri = releaseAssetUrl(TAG, archiveName(TAG, target));
    assert.equal(platform.uri, uri);
    assert.equal(platform.sha256, fakeSha(uri));
    assert.equal(platform.bin, target.bin);
    assert.ok(platform.files.some((f: { from: string }) => f.from === "LICENSE"));
  });
});

Deno.test("the template renders to exactly the manifest the build writes, for the same checksums", async () => {
  const shas = new Map(
    TARGETS.map((t) => [archiveName(TAG, t), fakeSha(releaseAssetUrl(TAG, archiveName(TAG, t)))]),
  );
  assert.equal(krewManifest(TAG, shas), await renderCommitted());
});

Deno.test("every platform of a built manifest points at an archive whose bin is there and executable", async () => {
  await using tmp = await tempDir();
  await fakeProject(tmp.path, "0.4.0");
  const outDir = join(tmp.path, "dist");
  const result = await build(
    { projectDir: tmp.path, outDir, targets: TARGETS, mtime: new Date(0) },
    standInDeps(),
  );
  const text = await Deno.readTextFile(result.manifest);
  assert.deepEqual(validateKrewManifest(text, result.manifest), []);
  const manifest = parse(text);
  assert.equal(manifest.spec.platforms.length, TARGETS.length);
  for (const platform of manifest.spec.platforms) {
    const asset = platform.uri.slice(platform.uri.lastIndexOf("/") + 1);
    assert.ok(platform.uri.startsWith(`${HOMEPAGE}/releases/download/v0.4.0/`), platform.uri);
    const archive = join(outDir, asset);
    assert.equal(platform.sha256, await sha256Hex(await Deno.readFile(archive)), asset);
    // Do what krew does: unpack, copy each files[].from to files[].to, then look for bin.
    await using unpacked = await tempDir();
    await unpack(archive, join(unpacked.path, "archive"));
    const installed = join(unpacked.path, "installed");
    await Deno.mkdir(installed);
    for (const { from, to } of platform.files) {
      for await (const entry of Deno.readDir(join(unpacked.path, "archive"))) {
        if (globMatches(from, entry.name)) {
          await Deno.rename(
            join(unpacked.path, "archive", entry.name),
            join(installed, to, entry.name),
          );
        }
      }
    }
    const bin = join(installed, platform.bin);
    const stat = await Deno.stat(bin);
    assert.ok(stat.isFile, `${asset} has no ${platform.bin}`);
    assert.equal(stat.mode! & 0o111, 0o111, `${platform.bin} in ${asset} is not executable`);
    assert.match((await run(bin, [])).stdout, /^stand-in broker for /);
    assert.ok((await Deno.stat(join(installed, "LICENSE"))).isFile, `${asset} has no LICENSE`);
  }
});

Deno.test("addURIAndSha() writes the two lines krew-release-bot writes, with the tag filled in", () => {
  const fn = addURIAndSha((uri) => (uri.endsWith("x_v1.0.0.tar.gz") ? "ab".repeat(32) : "bad"));
  assert.equal(
    fn("https://h/download/{{ .TagName }}/x_{{ .TagName }}.tar.gz", "v1.0.0"),
    `uri: https://h/download/v1.0.0/x_v1.0.0.tar.gz\n    sha256: ${"ab".repeat(32)}`,
  );
});

Deno.test("renderTemplate() handles the bot's template features and refuses the rest", async (t) => {
  const functions = { join: (a: string, b: string) => `${a}+${b}` };
  const good: [string, string, string][] = [
    ["field", "version: {{ .TagName }}", "version: v1.2.3"],
    ["field without spaces", "{{.TagName}}", "v1.2.3"],
    ["function with string and field", '{{ join "a}}b" .TagName }}', "a}}b+v1.2.3"],
    ["nested action in a string", '{{ join "{{ .TagName }}" "x" }}', "{{ .TagName }}+x"],
    ["escaped quote", '{{ join "a\\"b" "c" }}', 'a"b+c'],
    ["no actions", "plain: text\n", "plain: text\n"],
  ];
  for (const [name, template, expected] of good) {
    await t.step(name, () => {
      assert.equal(renderTemplate(template, { TagName: "v1.2.3" }, functions), expected);
    });
  }
  const bad: [string, string, RegExp][] = [
    ["unknown field", "{{ .Tag }}", /no value for \.Tag/],
    ["unknown function", "{{ indent 4 .TagName }}", /unsupported character "4"/],
    ["undefined function", '{{ upper "x" }}', /function upper is not defined/],
    ["pipe", "{{ .TagName | upper }}", /unsupported character "\|"/],
    ["trim marker", "{{- .TagName }}", /trim markers/],
    ["unclosed action", "{{ .TagName ", /not closed/],
    ["unterminated string", '{{ join "abc }}', /unterminated string/],
    ["two values", "{{ .TagName .TagName }}", /unexpected words/],
  ];
  for (const [name, template, error] of bad) {
    await t.step(name, () => {
      assert.throws(() => renderTemplate(template, { TagName: "v1" }, functions), error);
    });
  }
});

Deno.test("validateKrewManifest() reports each rule krew and krew-index enforce", async (t) => {
  // A digits-only checksum is still a string to krew (Go), and must be to the validator.
  const good = parse(
    krewManifest(
      "v1.0.0",
      new Map(TARGETS.map((target) => [archiveName("v1.0.0", target), "0".repeat(64)])),
    ),
    { schema: "failsafe" },
  );
  assert.deepEqual(validateKrewManifest(JSON.stringify(good), MANIFEST_FILE), []);
  const cases: [string, (m: typeof good) => void, RegExp][] = [
    [
      "apiVersion",
      (m) => m.apiVersion = "krew.googlecontainertools.github.com/v1alpha1",
      /apiVersion/,
    ],
    ["kind", (m) => m.kind = "plugin", /kind is "plugin"/],
    ["name", (m) => m.metadata.name = "credentials broker", /not a valid plugin name/],
    ["reserved name", (m) => m.metadata.name = "con", /not a valid plugin name/],
    ["version without v", (m) => m.spec.version = "1.0.0", /semver with a leading v/],
    ["version not semver", (m) => m.spec.version = "v1.0", /semver with a leading v/],
    ["homepage", (m) => delete m.spec.homepage, /homepage/],
    ["short description", (m) => m.spec.shortDescription = "two\nlines", /line breaks/],
    ["no description", (m) => m.spec.description = "", /description is missing/],
    ["no platforms", (m) => m.spec.platforms = [], /platforms is empty/],
    ["uppercase sha", (m) => m.spec.platforms[0].sha256 = "A".repeat(64), /64 lowercase hex/],
    ["short sha", (m) => m.spec.platforms[0].sha256 = "a".repeat(63), /64 lowercase hex/],
    ["os", (m) => m.spec.platforms[2].selector.matchLabels.os = "macos", /os "macos"/],
    ["arch", (m) => m.spec.platforms[0].selector.matchLabels.arch = "x86_64", /arch "x86_64"/],
    [
      "selector key",
      (m) => m.spec.platforms[0].selector.matchLabels.distro = "debian",
      /key distro/,
    ],
    ["empty selector", (m) => m.spec.platforms[0].selector.matchLabels = {}, /matchLabels/],
    [
      "duplicate",
      (m) => m.spec.platforms[1].selector.matchLabels.arch = "amd64",
      /second platform/,
    ],
    ["uri", (m) => m.spec.platforms[0].uri = "https://x/y.tar.xz", /\.tar\.gz or \.zip/],
    ["no bin", (m) => delete m.spec.platforms[0].bin, /bin should be a relative path/],
    ["bin outside", (m) => m.spec.platforms[0].bin = "../x", /bin should be a relative path/],
    ["windows bin", (m) => m.spec.platforms[4].bin = "kubectl-credentials_broker", /\.exe/],
    ["bin not copied", (m) => m.spec.platforms[0].bin = "other", /not among the files/],
    ["empty files", (m) => m.spec.platforms[0].files = [], /files should be left out or not empty/],
    ["file op", (m) => m.spec.platforms[0].files[0] = { from: "x" }, /needs both from and to/],
  ];
  for (const [name, mutate, problem] of cases) {
    await t.step(name, () => {
      const manifest = structuredClone(good);
      mutate(manifest);
      const problems = validateKrewManifest(JSON.stringify(manifest), MANIFEST_FILE);
      assert.ok(
        problems.some((p) => problem.test(p)),
        `${problem} not in ${JSON.stringify(problems)}`,
      );
    });
  }
  await t.step("file name", () => {
    assert.match(
      validateKrewManifest(JSON.stringify(good), "plugins/other.yaml")[0]!,
      /credentials-broker\.yaml/,
    );
  });
});
