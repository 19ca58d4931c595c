import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "yaml";
import { build } from "../../scripts/build.ts";
import {
  krewManifest,
  krewTemplate,
  MANIFEST_FILE,
  validateKrewManifest,
} from "../../scripts/krew.ts";
import { archiveName, type Target, TARGETS } from "../../scripts/targets.ts";
import { fakeProject, run, standInDeps, tempDir, unpack } from "./release_helpers.ts";

interface Platform {
  selector: { matchLabels: { os: string; arch: string } };
  uri: string;
  sha256: string;
  files: { from: string; to: string }[];
  bin: string;
}

/** Runs a system tool and returns its stdout, failing the test on a non-zero exit. */
async function tool(command: string, args: string[]): Promise<string> {
  const result = await run(command, args);
  assert.equal(result.code, 0, `${command} ${args.join(" ")}: ${result.stdout}${result.stderr}`);
  return result.stdout;
}

/** The file names in an archive, as the real tar or unzip lists them. */
async function listing(archive: string): Promise<string[]> {
  const out = archive.endsWith(".zip")
    ? await tool("unzip", ["-Z1", archive])
    : await tool("tar", ["-tzf", archive]);
  return out.trim().split("\n");
}

/**
 * One krew file operation (krew internal/installation/move.go): a `from` that names a file moves to `to` (to "."
 * keeps its name); otherwise `from` is a glob (one `*` in its last part, all this manifest uses) and each match
 * moves into the folder `to`.
 */
async function krewMove(fromDir: string, toDir: string, op: { from: string; to: string }) {
  const source = join(fromDir, op.from);
  const exists = await Deno.stat(source).then(() => true, () => false);
  if (exists) {
    const target = join(toDir, op.to === "." ? op.from.replace(/^.*\//, "") : op.to);
    await Deno.mkdir(join(target, ".."), { recursive: true });
    return await Deno.rename(source, target);
  }
  const slash = op.from.lastIndexOf("/");
  const [dir, pattern] = [op.from.slice(0, slash + 1), op.from.slice(slash + 1)];
  assert.match(pattern, /^[^*?[]*\*[^*?[]*$/, `this test knows one * only: ${op.from}`);
  const [prefix, suffix] = pattern.split("*") as [string, string];
  let matched = 0;
  for await (const entry of Deno.readDir(join(fromDir, dir))) {
    if (!entry.name.startsWith(prefix) || !entry.name.endsWith(suffix)) continue;
    await Deno.mkdir(join(toDir, op.to), { recursive: true });
    await Deno.rename(join(fromDir, dir, entry.name), join(toDir, op.to, entry.name));
    matched++;
  }
  assert.ok(matched > 0, `no files in the plugin archive matched the glob pattern=${op.from}`);
}

/** Builds release `version` for `targets` with the stand-in compiler (a shell script naming its triple). */
async function built(dir: string, version: string, targets: readonly Target[]) {
  await fakeProject(dir, version);
  const outDir = join(dir, "dist");
  const result = await build(
    { projectDir: dir, outDir, targets, mtime: new Date(0) },
    standInDeps(),
  );
  const text = await Deno.readTextFile(result.manifest);
  return { outDir, text, platforms: parse(text).spec.platforms as Platform[] };
}

Deno.test({
  name:
    "every platform of the built manifest installs, as krew does, its own executable from an archive with that sha256 (ignored on Windows: sha256sum, tar, unzip and Unix modes)",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await using tmp = await tempDir();
    const { outDir, text, platforms } = await built(tmp.path, "0.4.0", TARGETS);
    assert.equal(parse(text).spec.version, "v0.4.0");
    assert.deepEqual(
      platforms.map((p) => `${p.selector.matchLabels.os}/${p.selector.matchLabels.arch}`),
      TARGETS.map((t) => `${t.os}/${t.arch}`),
    );
    const lists = new Map<string, string[]>();
    for (const platform of platforms) {
      const { os, arch } = platform.selector.matchLabels;
      const target = TARGETS.find((t) => t.os === os && t.arch === arch)!;
      const asset = platform.uri.slice(platform.uri.lastIndexOf("/") + 1);
      assert.match(
        platform.uri,
        new RegExp(`^https://\\S+/releases/download/v0\\.4\\.0/${asset}$`),
      );
      const archive = join(outDir, asset);
      const sum = await tool("sha256sum", [archive]);
      assert.equal(platform.sha256, sum.split(" ")[0], `sha256 of ${asset}`);
      lists.set(asset, await listing(archive));

      // What krew does: unpack, move each files[].from into files[].to, then run bin.
      await using unpacked = await tempDir();
      const from = join(unpacked.path, "archive");
      await unpack(archive, from);
      const installed = join(unpacked.path, "installed");
      for (const op of platform.files) await krewMove(from, installed, op);
      const bin = join(installed, platform.bin);
      assert.equal((await Deno.stat(bin)).mode! & 0o111, 0o111, `${platform.bin} in ${asset}`);
      assert.equal(await tool(bin, []), `stand-in broker for ${target.triple}\n`, asset);
      // The README krew installs links into docs/ (fakeProject's, as the real one does): those files are there.
      const links = [...(await Deno.readTextFile(join(installed, "README.md")))
        .matchAll(/\]\(([^)#:]+)(#[^)]*)?\)/g)].map((m) => m[1]!);
      assert.deepEqual(links, ["docs/renewal.md", "docs/issuers.md", "LICENSE"]);
      for (const link of links) {
        assert.ok(
          (await Deno.stat(join(installed, link))).isFile,
          `${link} installed from ${asset}`,
        );
      }
    }
    assert.deepEqual(validateKrewManifest(text, MANIFEST_FILE, (asset) => lists.get(asset)), []);
  },
});

Deno.test("a build for some platforms lists only those in its manifest", async () => {
  await using tmp = await tempDir();
  const targets = [TARGETS[1]!, TARGETS[4]!];
  const { platforms } = await built(tmp.path, "1.0.0-rc.1", targets);
  assert.deepEqual(
    platforms.map((p) => [p.selector.matchLabels, p.bin, p.uri.slice(p.uri.lastIndexOf("/") + 1)]),
    targets.map((t) => [{ os: t.os, arch: t.arch }, t.bin, archiveName("v1.0.0-rc.1", t)]),
  );
});

const TAG = "v1.2.3";
const shas = new Map(TARGETS.map((t) => [archiveName(TAG, t), "0".repeat(64)]));

Deno.test("a .krew.yaml that does not describe the release being built is refused", async (t) => {
  const template = krewTemplate();
  const cases: [string, string, string, RegExp][] = [
    [
      "version written out",
      "version: {{ .TagName }}",
      "version: v1.2.2",
      /version "v1\.2\.2" for release v1\.2\.3/,
    ],
    [
      "download of another tag",
      "download/{{ .TagName }}/",
      "download/v1.2.2/",
      /not a download of release v1\.2\.3/,
    ],
    [
      "asset not built",
      "_linux_arm64.tar.gz",
      "_linux_s390x.tar.gz",
      /names \S+_linux_s390x\.tar\.gz, which is not an archive of v1\.2\.3/,
    ],
  ];
  for (const [name, from, to, error] of cases) {
    await t.step(name, () => {
      assert.ok(template.includes(from), `.krew.yaml has no ${from}`);
      assert.throws(() => krewManifest(TAG, shas, template.replace(from, to)), error);
    });
  }
});

Deno.test("template forms other than the two .krew.yaml uses are refused, not rendered differently from krew-release-bot", async (t) => {
  const template = krewTemplate();
  for (const form of ['{{ .TagName | trimPrefix "v" }}', "{{ .Version }}", "{{- .TagName }}"]) {
    await t.step(form, () => {
      assert.throws(
        () =>
          krewManifest(TAG, shas, template.replace("version: {{ .TagName }}", `version: ${form}`)),
        (error: Error) =>
          error.message.includes(`version: ${form} uses a template form other than`),
      );
    });
  }
});

Deno.test("validateKrewManifest() reports each rule krew checks and what installing needs", async (t) => {
  // A digits-only checksum is still a string to krew (Go), and must be to the validator.
  const good = parse(krewManifest(TAG, shas), { schema: "failsafe" });
  // What each archive holds: its own executable and the documents.
  const names = (asset: string) => [
    asset.endsWith(".zip") ? "kubectl-credentials_broker.exe" : "kubectl-credentials_broker",
    "LICENSE",
    "README.md",
    "docs/renewal.md",
  ];
  assert.deepEqual(validateKrewManifest(JSON.stringify(good), MANIFEST_FILE, names), []);
  const cases: [string, (m: typeof good) => void, RegExp][] = [
    [
      "apiVersion",
      (m) => m.apiVersion = "krew.googlecontainertools.github.com/v1alpha1",
      /apiVersion/,
    ],
    ["kind", (m) => m.kind = "plugin", /kind is "plugin"/],
    ["name", (m) => m.metadata.name = "credentials broker", /not a valid plugin name/],
    ["version without v", (m) => m.spec.version = "1.2.3", /semver with a leading v/],
    ["version not semver", (m) => m.spec.version = "v1.2", /semver with a leading v/],
    ["short description", (m) => m.spec.shortDescription = "two\nlines", /one line/],
    ["no platforms", (m) => m.spec.platforms = [], /platforms is empty/],
    ["uppercase sha", (m) => m.spec.platforms[0].sha256 = "A".repeat(64), /64 lowercase hex/],
    ["short sha", (m) => m.spec.platforms[0].sha256 = "a".repeat(63), /64 lowercase hex/],
    ["os", (m) => m.spec.platforms[2].selector.matchLabels.os = "macos", /should have os/],
    ["no arch", (m) => delete m.spec.platforms[0].selector.matchLabels.arch, /and arch/],
    ["uri", (m) => m.spec.platforms[0].uri = "https://x/y.tar.xz", /\.tar\.gz or \.zip/],
    ["no bin", (m) => delete m.spec.platforms[0].bin, /bin should be a relative path/],
    ["bin outside", (m) => m.spec.platforms[0].bin = "../x", /bin should be a relative path/],
    ["windows bin", (m) => m.spec.platforms[4].bin = "kubectl-credentials_broker", /\.exe/],
    ["bin not copied", (m) => m.spec.platforms[0].files.shift(), /not among the files krew copies/],
    ["file op", (m) => m.spec.platforms[0].files[1] = { from: "LICENSE" }, /list of from and to/],
    [
      "file not in the archive",
      (m) => m.spec.platforms[0].files[1].from = "NOTICE",
      /NOTICE matches nothing/,
    ],
    [
      "a document krew leaves out",
      (m) => m.spec.platforms[0].files.pop(),
      /krew would leave docs\/renewal\.md of kubectl-credentials_broker_v\S+_linux_amd64\.tar\.gz out of the install/,
    ],
    [
      "no archive",
      (m) => m.spec.platforms[0].uri = m.spec.platforms[0].uri.replace("amd64", "386"),
      /no archive/,
    ],
  ];
  for (const [name, mutate, problem] of cases) {
    await t.step(name, () => {
      const manifest = structuredClone(good);
      mutate(manifest);
      const problems = validateKrewManifest(
        JSON.stringify(manifest),
        MANIFEST_FILE,
        (asset) => shas.has(asset) ? names(asset) : undefined,
      );
      assert.ok(
        problems.some((p) => problem.test(p)),
        `${problem} not in ${JSON.stringify(problems)}`,
      );
    });
  }
  await t.step("bin missing from the archive", () => {
    const problems = validateKrewManifest(
      JSON.stringify(good),
      MANIFEST_FILE,
      () => ["LICENSE", "README.md"],
    );
    assert.match(problems.join("\n"), /kubectl-credentials_broker matches nothing/);
    assert.match(problems.join("\n"), /bin kubectl-credentials_broker is not among the files/);
  });
  await t.step("file name", () => {
    assert.match(
      validateKrewManifest(JSON.stringify(good), "plugins/other.yaml")[0]!,
      /credentials-broker\.yaml/,
    );
  });
});
