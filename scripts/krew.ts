/**
 * The krew plugin manifest. `.krew.yaml` is its one source: krew-release-bot renders it on each GitHub release for
 * krew-index, and `deno task build` renders it here with the local archives' checksums for dist/. Only the two
 * template forms `.krew.yaml` uses are rendered; anything else is refused, so the two renderings cannot differ.
 *
 * `deno run -A scripts/krew.ts validate FILE...` checks manifests against krew's rules.
 */
import { parse } from "yaml";
import { basename, fileUrlToPath, HOST_OS } from "../lib/shared/platform.ts";
import { isRecord } from "../lib/shared/values.ts";
import { type Target, TARGETS } from "./targets.ts";
import { scriptArgs } from "./args.ts";

/** The krew plugin name: `kubectl krew install credentials-broker`, run as `kubectl credentials-broker`. */
export const PLUGIN_NAME = "credentials-broker";

/** krew-index requires the manifest file to be named after the plugin. */
export const MANIFEST_FILE = `${PLUGIN_NAME}.yaml`;

/** The only manifest apiVersion krew accepts. */
export const KREW_API_VERSION = "krew.googlecontainertools.github.com/v1alpha2";

/** The committed template krew-release-bot reads. */
export const KREW_TEMPLATE_FILE = new URL("../.krew.yaml", import.meta.url);

/** The folder of documents README.md links into: every archive carries it, so its links work unpacked. */
export const DOCS_DIR = "docs";

/**
 * The files each archive holds: the executable and the documents that must travel with it, `docs` being the names
 * of the files in docs/ (krew copies them with `from: docs/*`, `to: docs`, as .krew.yaml says).
 */
export function archiveFiles(target: Target, docs: readonly string[]): string[] {
  return [target.bin, "LICENSE", "README.md", ...docs.map((name) => `${DOCS_DIR}/${name}`)];
}

const PLATFORMS = "\n  platforms:\n";
const PLATFORM_START = "  - selector:\n";

/**
 * The committed `.krew.yaml`, keeping only the platform entries of `targets` (a `--target` build lists only what it
 * built), in its order. Each entry runs from its `  - selector:` line to the next; a target without one is an error.
 */
export function krewTemplate(targets: readonly Target[] = TARGETS): string {
  const text = Deno.readTextFileSync(KREW_TEMPLATE_FILE);
  const at = text.indexOf(PLATFORMS);
  const entries = at === -1
    ? []
    : text.slice(at + PLATFORMS.length).split(/^(?= {2}- selector:$)/m);
  if (entries.length === 0 || !entries.every((entry) => entry.startsWith(PLATFORM_START))) {
    throw new Error(
      `${
        fileUrlToPath(KREW_TEMPLATE_FILE.href, HOST_OS)
      }: spec.platforms is not a list of selector entries`,
    );
  }
  const labels = (entry: string) =>
    `${/^ {8}os: (\S+)$/m.exec(entry)?.[1]}/${/^ {8}arch: (\S+)$/m.exec(entry)?.[1]}`;
  const wanted = new Set(targets.map((target) => `${target.os}/${target.arch}`));
  const kept = entries.filter((entry) => wanted.delete(labels(entry)));
  if (wanted.size > 0) {
    throw new Error(
      `${fileUrlToPath(KREW_TEMPLATE_FILE.href, HOST_OS)} has no platform for ${
        [...wanted].join(", ")
      }`,
    );
  }
  return text.slice(0, at + PLATFORMS.length) + kept.join("");
}

const TAG = "{{ .TagName }}";
const URI_AND_SHA = /\{\{ addURIAndSha "((?:[^"{}]|\{\{ \.TagName \}\})*)" \.TagName \}\}/g;

/**
 * Renders `.krew.yaml` for release `tag` as krew-release-bot does, for the two forms it uses: `{{ .TagName }}`, and
 * `{{ addURIAndSha "URL" .TagName }}`, which becomes `uri: URL` and, 4 spaces in on the next line, `sha256: ...`.
 */
export function renderKrewTemplate(
  template: string,
  tag: string,
  sha256For: (uri: string) => string,
): string {
  const rendered = template
    .replace(URI_AND_SHA, (_, url: string) => {
      const uri = url.replaceAll(TAG, tag);
      return `uri: ${uri}\n    sha256: ${sha256For(uri)}`;
    })
    .replaceAll(TAG, tag);
  const left = rendered.split("\n").findIndex((line) => /\{\{|\}\}/.test(line));
  if (left !== -1) {
    const line = rendered.split("\n")[left]!.trim();
    throw new Error(
      `.krew.yaml: ${line} uses a template form other than {{ .TagName }} and {{ addURIAndSha "URL" .TagName }}`,
    );
  }
  return rendered;
}

/**
 * The manifest for release `tag`, with the SHA-256 of each archive by asset name; refused when it does not
 * describe that release (a version or a download that is not `tag`'s) or breaks one of krew's rules.
 */
export function krewManifest(
  tag: string,
  sha256ByAsset: ReadonlyMap<string, string>,
  template: string = krewTemplate(),
): string {
  const manifest = renderKrewTemplate(template, tag, (uri) => {
    const asset = uri.slice(uri.lastIndexOf("/") + 1);
    const sha = sha256ByAsset.get(asset);
    if (!sha) throw new Error(`.krew.yaml names ${asset}, which is not an archive of ${tag}`);
    return sha;
  });
  const version = asRecord(asRecord(parse(manifest))?.spec)?.version;
  if (version !== tag) {
    throw new Error(`.krew.yaml gives version ${JSON.stringify(version)} for release ${tag}`);
  }
  const problems = validateKrewManifest(manifest);
  if (problems.length > 0) throw new Error(`.krew.yaml renders to ${problems.join("; ")}`);
  return manifest;
}

const SEMVER =
  /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;
const OSES = ["linux", "darwin", "windows"];
const ARCHES = ["amd64", "arm64"];

/**
 * Checks a manifest against what krew checks (krew internal/index/validation) and what installing it needs:
 * name, semver version with a v, os/arch selectors, lowercase sha256, a uri of this version's release, files with
 * from and to, and a bin that krew's copy of `files` puts in place. With `archive` (asset name -> the archive's
 * file names) each platform's archive must exist and hold what `files` and `bin` name, and krew must install every
 * file it holds (a document left behind would leave the README's links to it dangling). Empty when good.
 */
export function validateKrewManifest(
  text: string,
  fileName?: string,
  archive?: (asset: string) => readonly string[] | undefined,
): string[] {
  let doc: unknown;
  try {
    // krew reads every field into a Go string: take scalars as text, so that a digits-only sha256 stays one.
    doc = parse(text, { schema: "failsafe" });
  } catch (error) {
    return [`not YAML: ${error instanceof Error ? error.message.split("\n")[0] : error}`];
  }
  const problems: string[] = [];
  const root = asRecord(doc);
  if (!root) return ["manifest is not a mapping"];
  if (root.apiVersion !== KREW_API_VERSION) {
    problems.push(`apiVersion is ${JSON.stringify(root.apiVersion)}, not ${KREW_API_VERSION}`);
  }
  if (root.kind !== "Plugin") problems.push(`kind is ${JSON.stringify(root.kind)}, not Plugin`);
  const name = asRecord(root.metadata)?.name;
  if (typeof name !== "string" || !/^[\w-]+$/.test(name)) {
    problems.push(`metadata.name ${JSON.stringify(name)} is not a valid plugin name`);
  } else if (fileName !== undefined && basename(fileName, HOST_OS) !== `${name}.yaml`) {
    problems.push(`file ${fileName} should be named ${name}.yaml`);
  }
  const spec = asRecord(root.spec);
  if (!spec) return [...problems, "spec is missing"];
  const version = spec.version;
  if (typeof version !== "string" || !SEMVER.test(version)) {
    problems.push(`spec.version ${JSON.stringify(version)} is not semver with a leading v`);
  }
  const short = spec.shortDescription;
  if (typeof short !== "string" || short.trim() === "" || /[\r\n]/.test(short)) {
    problems.push("spec.shortDescription should be one line of text");
  }
  const platforms = spec.platforms;
  if (!Array.isArray(platforms) || platforms.length === 0) {
    return [...problems, "spec.platforms is empty"];
  }
  platforms.forEach((item, index) => {
    const where = `spec.platforms[${index}]`;
    const platform = asRecord(item) ?? {};
    const labels = asRecord(asRecord(platform.selector)?.matchLabels) ?? {};
    if (!OSES.includes(String(labels.os)) || !ARCHES.includes(String(labels.arch))) {
      problems.push(
        `${where}.selector.matchLabels should have os (${OSES.join(", ")}) and arch (${
          ARCHES.join(", ")
        })`,
      );
    }
    const uri = platform.uri;
    if (typeof uri !== "string" || !/^https:\/\/\S+\.(tar\.gz|zip)$/.test(uri)) {
      problems.push(
        `${where}.uri ${JSON.stringify(uri)} should be an https URL of a .tar.gz or .zip`,
      );
    } else if (!uri.includes(`/releases/download/${version}/`)) {
      problems.push(`${where}.uri ${uri} is not a download of release ${version}`);
    }
    if (typeof platform.sha256 !== "string" || !/^[a-f0-9]{64}$/.test(platform.sha256)) {
      problems.push(`${where}.sha256 should be 64 lowercase hex digits`);
    }
    const files = platform.files === undefined ? [{ from: "*", to: "." }] : platform.files;
    const ops = Array.isArray(files) ? files.map(asRecord) : [];
    if (ops.length === 0 || ops.some((op) => !op?.from || !op.to)) {
      problems.push(`${where}.files should be a list of from and to`);
    }
    const bin = platform.bin;
    if (typeof bin !== "string" || bin === "" || bin.startsWith("/") || bin.includes("..")) {
      return problems.push(`${where}.bin should be a relative path inside the archive`);
    }
    if (labels.os === "windows" && !bin.endsWith(".exe")) {
      problems.push(`${where}.bin should end with .exe on windows`);
    }
    const asset = typeof uri === "string" ? uri.slice(uri.lastIndexOf("/") + 1) : "";
    // Without the archive's list, take it to hold bin at its top level.
    const names = archive ? archive(asset) : [bin];
    if (!names) return problems.push(`${where}: there is no archive ${asset}`);
    // What krew installs: each file matching a from pattern, copied into the folder `to`.
    const copied = new Set<string>();
    const installed = ops.flatMap((op) => {
      const matched = names.filter((n) => globMatches(String(op?.from), n));
      if (archive && matched.length === 0) {
        problems.push(`${where}.files: ${op?.from} matches nothing in ${asset}`);
      }
      matched.forEach((n) => copied.add(n));
      return matched.map((n) => `${op?.to}/${n.replace(/^.*\//, "")}`.replace(/^\.\//, ""));
    });
    const left = archive ? names.filter((n) => !copied.has(n)) : [];
    if (left.length > 0) {
      problems.push(
        `${where}.files: krew would leave ${left.join(", ")} of ${asset} out of the install`,
      );
    }
    if (!installed.includes(bin.replace(/^\.\//, ""))) {
      problems.push(`${where}.bin ${bin} is not among the files krew copies out of ${asset}`);
    }
  });
  return problems;
}

/** Whether a krew `files[].from` pattern (Go path.Match: `*`, `?`) selects `path`. */
function globMatches(pattern: string, path: string): boolean {
  const regex = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", "[^/]*")
    .replaceAll("?", "[^/]");
  return new RegExp(`^${regex}$`).test(path);
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return isRecord(value) ? value : undefined;
}

if (import.meta.main) {
  const usage = "deno run -A scripts/krew.ts validate FILE...";
  const { positionals } = scriptArgs({
    usage,
    about: "Checks krew plugin manifests as krew's own validation does, and names each problem.",
    flags: [],
    positionals: { min: 2, max: Infinity },
  });
  const [command, ...files] = positionals;
  if (command !== "validate") {
    console.error(`error: unknown command ${JSON.stringify(command)}\nusage: ${usage}`);
    Deno.exit(2);
  }
  let failed = false;
  for (const file of files) {
    const problems = validateKrewManifest(await Deno.readTextFile(file), file);
    for (const problem of problems) console.error(`${file}: ${problem}`);
    if (problems.length === 0) console.error(`${file}: ok`);
    failed ||= problems.length > 0;
  }
  Deno.exit(failed ? 1 : 0);
}
