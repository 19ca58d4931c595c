/**
 * The krew plugin manifest, written once as the `.krew.yaml` template that krew-release-bot renders on each GitHub
 * release; `deno task build` renders the very same template with the local archives' checksums, so the manifest in
 * dist/ and the one the bot sends to krew-index cannot drift apart.
 *
 * `deno run -A scripts/krew.ts template` prints the template (the committed .krew.yaml must equal it);
 * `deno run -A scripts/krew.ts validate FILE...` checks manifests against krew's rules.
 */
import { parse } from "yaml";
import { PLUGIN_EXECUTABLE } from "./permissions.ts";
import { archiveName, type Target, TARGETS } from "./targets.ts";

/** The project's home; the GitHub org is a placeholder until the repository is published. */
export const HOMEPAGE = "https://github.com/credentials-broker/kubectl-credentials-broker";

/** The krew plugin name: `kubectl krew install credentials-broker`, run as `kubectl credentials-broker`. */
export const PLUGIN_NAME = "credentials-broker";

/** krew-index requires the manifest file to be named after the plugin. */
export const MANIFEST_FILE = `${PLUGIN_NAME}.yaml`;

/** The only manifest apiVersion krew accepts. */
export const KREW_API_VERSION = "krew.googlecontainertools.github.com/v1alpha2";

const SHORT_DESCRIPTION = "Renew short-lived client certificates and tokens for kubectl";

const DESCRIPTION = `\
An exec credential plugin for kubeconfig users whose client certificate or
token lives in files that expire quickly. On each call it can run a command of
yours to renew the files (every time, or only when they are about to expire),
then hands them to kubectl with an expiration time, so that long-running
clients ask again before the certificate expires instead of failing their TLS
handshake.`;

const CAVEATS = `\
To make a kubeconfig user get its credentials from the broker, run
  kubectl credentials-broker kubeconfig set --help
and then, for example,
  kubectl credentials-broker kubeconfig set \\
    --client-certificate-path ~/.kube/me.crt --client-key-path ~/.kube/me.key \\
    --before-exec-command 'my-renew-command'
Check the result with: kubectl credentials-broker doctor

Shell completion for \`kubectl credentials-broker <TAB>\` (kubectl 1.26+) needs an
executable named kubectl_complete-credentials_broker on PATH that runs
  kubectl credentials-broker __complete "$@"`;

/** The URL GitHub serves a release asset from; `tag` may be a template expression such as `{{ .TagName }}`. */
export function releaseAssetUrl(tag: string, asset: string): string {
  return `${HOMEPAGE}/releases/download/${tag}/${asset}`;
}

/** The files krew copies out of each archive: the executable and the documents that must travel with it. */
export function archiveFiles(target: Target): string[] {
  return [target.bin, "LICENSE", "README.md"];
}

/** The committed `.krew.yaml`: krew-release-bot's template language, one platform entry per target. */
export function krewTemplate(targets: readonly Target[] = TARGETS): string {
  const tag = "{{ .TagName }}";
  const lines = [
    // The template is not YAML until rendered: keep deno fmt (and so `deno task check`) off it.
    "# deno-fmt-ignore-file",
    "# krew-release-bot renders this on each GitHub release; made by `deno run -A scripts/krew.ts template`.",
    `apiVersion: ${KREW_API_VERSION}`,
    "kind: Plugin",
    "metadata:",
    `  name: ${PLUGIN_NAME}`,
    "spec:",
    `  version: ${tag}`,
    `  homepage: ${HOMEPAGE}`,
    `  shortDescription: ${SHORT_DESCRIPTION}`,
    "  description: |",
    ...indentBlock(DESCRIPTION, 4),
    "  caveats: |",
    ...indentBlock(CAVEATS, 4),
    "  platforms:",
  ];
  for (const target of targets) {
    lines.push(
      "  - selector:",
      "      matchLabels:",
      `        os: ${target.os}`,
      `        arch: ${target.arch}`,
      // krew-release-bot's addURIAndSha returns "uri: ...\n    sha256: ...": it must sit at 4 spaces.
      `    {{ addURIAndSha "${releaseAssetUrl(tag, archiveName(tag, target))}" .TagName }}`,
      "    files:",
      ...archiveFiles(target).flatMap((file) => [`    - from: ${file}`, "      to: ."]),
      `    bin: ${target.bin}`,
    );
  }
  return lines.join("\n") + "\n";
}

function indentBlock(text: string, spaces: number): string[] {
  return text.split("\n").map((line) => (line === "" ? "" : " ".repeat(spaces) + line));
}

/** What a template action may call: krew-release-bot's helper, or a fake of it in tests. */
export type TemplateFunction = (...args: string[]) => string;

/** Values a template can read: krew-release-bot passes the release's tag as `.TagName`. */
export type TemplateValues = Record<string, string>;

/**
 * Renders exactly the subset of Go text/template that krew-release-bot templates use: `{{ .Field }}` and
 * `{{ fn "string" .Field ... }}`. Anything else (pipes, trim markers, conditionals) is an error, so that the
 * committed template never relies on something this renderer would get wrong.
 */
export function renderTemplate(
  template: string,
  values: TemplateValues,
  functions: Record<string, TemplateFunction> = {},
): string {
  let out = "";
  let at = 0;
  while (true) {
    const open = template.indexOf("{{", at);
    if (open === -1) return out + template.slice(at);
    out += template.slice(at, open);
    const { tokens, end } = lexAction(template, open + 2);
    out += evaluate(tokens, values, functions, lineOf(template, open));
    at = end;
  }
}

type Token = { kind: "field" | "ident" | "string"; text: string };

function lexAction(text: string, start: number): { tokens: Token[]; end: number } {
  const tokens: Token[] = [];
  let i = start;
  const line = lineOf(text, start);
  if (text[i] === "-") throw new Error(`template line ${line}: trim markers are not supported`);
  while (i < text.length) {
    const c = text[i]!;
    if (c === " " || c === "\t") {
      i++;
    } else if (text.startsWith("}}", i)) {
      if (text[i - 1] === "-" && text[i - 2] === " ") {
        throw new Error(`template line ${line}: trim markers are not supported`);
      }
      return { tokens, end: i + 2 };
    } else if (c === '"') {
      let value = "";
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === "\n") break;
        if (text[i] === "\\") {
          const next = text[i + 1];
          if (next !== '"' && next !== "\\") {
            throw new Error(`template line ${line}: unsupported escape \\${next}`);
          }
          value += next;
          i += 2;
        } else value += text[i++];
      }
      if (text[i] !== '"') throw new Error(`template line ${line}: unterminated string`);
      i++;
      tokens.push({ kind: "string", text: value });
    } else if (c === ".") {
      const match = /^\.[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
      if (!match) throw new Error(`template line ${line}: unsupported field syntax`);
      tokens.push({ kind: "field", text: match[0].slice(1) });
      i += match[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))!;
      tokens.push({ kind: "ident", text: match[0] });
      i += match[0].length;
    } else {
      throw new Error(
        `template line ${line}: unsupported character ${JSON.stringify(c)} in action`,
      );
    }
  }
  throw new Error(`template line ${line}: action is not closed with }}`);
}

function evaluate(
  tokens: Token[],
  values: TemplateValues,
  functions: Record<string, TemplateFunction>,
  line: number,
): string {
  const value = (token: Token): string => {
    if (token.kind === "string") return token.text;
    if (token.kind === "field") {
      const found = values[token.text];
      if (found === undefined) {
        throw new Error(`template line ${line}: no value for .${token.text}`);
      }
      return found;
    }
    throw new Error(`template line ${line}: ${token.text} can only be called first in an action`);
  };
  const [head, ...args] = tokens;
  if (!head) throw new Error(`template line ${line}: empty action`);
  if (head.kind !== "ident") {
    if (args.length > 0) throw new Error(`template line ${line}: unexpected words after a value`);
    return value(head);
  }
  const fn = functions[head.text];
  if (!fn) throw new Error(`template line ${line}: function ${head.text} is not defined`);
  return fn(...args.map(value));
}

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split("\n").length;
}

/**
 * krew-release-bot's `addURIAndSha`: renders the URL (which may hold `{{ .TagName }}`), looks up the asset's
 * SHA-256 with `sha256For`, and returns the two manifest lines the way the bot writes them.
 */
export function addURIAndSha(
  sha256For: (uri: string) => string,
): TemplateFunction {
  return (url: string, tag: string) => {
    const uri = renderTemplate(url, { TagName: tag, Version: tag.replace(/^v/, "") });
    return `uri: ${uri}\n    sha256: ${sha256For(uri)}`;
  };
}

/** The manifest for release `tag`, from the template, with the SHA-256 of each archive by asset name. */
export function krewManifest(
  tag: string,
  sha256ByAsset: ReadonlyMap<string, string>,
  template: string = krewTemplate(),
): string {
  return renderTemplate(template, { TagName: tag }, {
    addURIAndSha: addURIAndSha((uri) => {
      const asset = uri.slice(uri.lastIndexOf("/") + 1);
      const sha = sha256ByAsset.get(asset);
      if (!sha) throw new Error(`no archive ${asset} to take the sha256 of`);
      return sha;
    }),
  });
}

const SEMVER =
  /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[1-9]|lpt[1-9])$/i;
const OSES = ["linux", "darwin", "windows"];
const ARCHES = ["amd64", "arm64"];

/**
 * Checks a manifest against krew's own validation (krew internal/index/validation) and the krew-index rules in
 * PROTOCOL.md. Returns the problems found, empty when the manifest is good; `fileName` adds the name check.
 */
export function validateKrewManifest(text: string, fileName?: string): string[] {
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
  if (typeof name !== "string" || !/^[\w-]+$/.test(name) || WINDOWS_RESERVED.test(name)) {
    problems.push(`metadata.name ${JSON.stringify(name)} is not a valid plugin name`);
  } else if (fileName !== undefined && fileName.replace(/^.*\//, "") !== `${name}.yaml`) {
    problems.push(`file ${fileName} should be named ${name}.yaml`);
  }
  const spec = asRecord(root.spec);
  if (!spec) return [...problems, "spec is missing"];
  if (typeof spec.version !== "string" || !SEMVER.test(spec.version)) {
    problems.push(`spec.version ${JSON.stringify(spec.version)} is not semver with a leading v`);
  }
  if (typeof spec.homepage !== "string" || !/^https:\/\/\S+$/.test(spec.homepage)) {
    problems.push("spec.homepage should be an https URL");
  }
  const short = spec.shortDescription;
  if (typeof short !== "string" || short.trim() === "") {
    problems.push("spec.shortDescription is missing");
  } else if (/[\r\n]/.test(short)) problems.push("spec.shortDescription has line breaks");
  if (typeof spec.description !== "string" || spec.description.trim() === "") {
    problems.push("spec.description is missing");
  }
  if (spec.caveats !== undefined && typeof spec.caveats !== "string") {
    problems.push("spec.caveats should be text");
  }
  const platforms = spec.platforms;
  if (!Array.isArray(platforms) || platforms.length === 0) {
    return [...problems, "spec.platforms is empty"];
  }
  const seen = new Set<string>();
  platforms.forEach((item, index) => {
    const where = `spec.platforms[${index}]`;
    const platform = asRecord(item);
    if (!platform) return problems.push(`${where} is not a mapping`);
    const labels = asRecord(asRecord(platform.selector)?.matchLabels);
    if (!labels || Object.keys(labels).length === 0) {
      problems.push(`${where}.selector.matchLabels is missing or empty`);
    } else {
      for (const key of Object.keys(labels)) {
        if (key !== "os" && key !== "arch") {
          problems.push(`${where}: selector key ${key} not supported`);
        }
      }
      if (!OSES.includes(String(labels.os))) {
        problems.push(`${where}: os ${JSON.stringify(labels.os)} is not one of ${OSES.join(", ")}`);
      }
      if (!ARCHES.includes(String(labels.arch))) {
        problems.push(
          `${where}: arch ${JSON.stringify(labels.arch)} is not one of ${ARCHES.join(", ")}`,
        );
      }
      const key = `${labels.os}/${labels.arch}`;
      if (seen.has(key)) problems.push(`${where}: a second platform for ${key}`);
      seen.add(key);
    }
    const uri = platform.uri;
    if (typeof uri !== "string" || !/^https:\/\/\S+\.(tar\.gz|zip)$/.test(uri)) {
      problems.push(
        `${where}.uri ${JSON.stringify(uri)} should be an https URL of a .tar.gz or .zip`,
      );
    }
    if (typeof platform.sha256 !== "string" || !/^[a-f0-9]{64}$/.test(platform.sha256)) {
      problems.push(`${where}.sha256 should be 64 lowercase hex digits`);
    }
    const bin = platform.bin;
    if (typeof bin !== "string" || bin === "" || bin.startsWith("/") || bin.includes("..")) {
      problems.push(`${where}.bin should be a relative path inside the archive`);
    } else if (labels?.os === "windows" && !bin.endsWith(".exe")) {
      problems.push(`${where}.bin should end with .exe on windows`);
    }
    if (platform.files !== undefined) {
      const files = platform.files;
      if (!Array.isArray(files) || files.length === 0) {
        problems.push(`${where}.files should be left out or not empty`);
      } else {
        files.forEach((file, i) => {
          const op = asRecord(file);
          if (
            typeof op?.from !== "string" || op.from === "" || typeof op.to !== "string" ||
            op.to === ""
          ) {
            problems.push(`${where}.files[${i}] needs both from and to`);
          }
        });
        const copied = files.map((file) => String(asRecord(file)?.from ?? ""));
        if (typeof bin === "string" && !copied.some((from) => globMatches(from, bin))) {
          problems.push(`${where}.bin ${bin} is not among the files krew copies`);
        }
      }
    }
  });
  return problems;
}

/** Whether a krew `files[].from` pattern (path.Match style: `*`, `?`) selects `path`. */
export function globMatches(pattern: string, path: string): boolean {
  const regex = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", "[^/]*")
    .replaceAll("?", "[^/]");
  return new RegExp(`^${regex}$`).test(path);
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}

if (import.meta.main) {
  const [command, ...files] = Deno.args;
  if (command === "template") {
    await Deno.stdout.write(new TextEncoder().encode(krewTemplate()));
  } else if (command === "validate" && files.length > 0) {
    let failed = false;
    for (const file of files) {
      const problems = validateKrewManifest(await Deno.readTextFile(file), file);
      for (const problem of problems) console.error(`${file}: ${problem}`);
      if (problems.length === 0) console.error(`${file}: ok`);
      failed ||= problems.length > 0;
    }
    Deno.exit(failed ? 1 : 0);
  } else {
    console.error(
      `usage: deno run -A scripts/krew.ts template | validate FILE... (${PLUGIN_EXECUTABLE})`,
    );
    Deno.exit(2);
  }
}
