/**
 * The platforms a release ships for, named three ways: Deno's `--target` triple, krew's Go `os`/`arch` selector
 * labels, and the archive kind each platform's users can unpack (zip on Windows, tar.gz elsewhere).
 */
import { PLUGIN_EXECUTABLE } from "../lib/shared/command_list.ts";

/** One release platform. */
export interface Target {
  /** `deno compile --target` value, also the suffix of Deno's `denort-<triple>.zip` runtime. */
  triple: string;
  /** krew selector label `os` (Go's GOOS). */
  os: "linux" | "darwin" | "windows";
  /** krew selector label `arch` (Go's GOARCH). */
  arch: "amd64" | "arm64";
  /** Archive format krew downloads for this platform. */
  archive: "tar.gz" | "zip";
  /** The executable's file name inside the archive: what kubectl looks up on PATH. */
  bin: string;
}

/** Every platform `deno compile` can build the broker for, in release order. */
export const TARGETS: readonly Target[] = [
  unix("x86_64-unknown-linux-gnu", "linux", "amd64"),
  unix("aarch64-unknown-linux-gnu", "linux", "arm64"),
  unix("x86_64-apple-darwin", "darwin", "amd64"),
  unix("aarch64-apple-darwin", "darwin", "arm64"),
  {
    triple: "x86_64-pc-windows-msvc",
    os: "windows",
    arch: "amd64",
    archive: "zip",
    bin: `${PLUGIN_EXECUTABLE}.exe`,
  },
];

function unix(triple: string, os: Target["os"], arch: Target["arch"]): Target {
  return { triple, os, arch, archive: "tar.gz", bin: PLUGIN_EXECUTABLE };
}

/** The release platform of this machine (`Deno.build`), or undefined where no release is built for it. */
export function hostTarget(
  os: string = Deno.build.os,
  arch: string = Deno.build.arch,
): Target | undefined {
  const goArch = arch === "x86_64" ? "amd64" : arch === "aarch64" ? "arm64" : undefined;
  return TARGETS.find((t) => t.os === os && t.arch === goArch);
}

/** The release asset name of a platform's archive; the tag ("v0.1.0") is in it so that assets never collide. */
export function archiveName(tag: string, target: Target): string {
  return `${PLUGIN_EXECUTABLE}_${tag}_${target.os}_${target.arch}.${target.archive}`;
}

/** The release asset that lists the SHA-256 of every archive, in `sha256sum -c` format. */
export function sumsName(tag: string): string {
  return `${PLUGIN_EXECUTABLE}_${tag}_SHA256SUMS`;
}

/** Finds targets by triple or `os/arch` (e.g. "linux/arm64"), for `deno task build --target`. */
export function selectTargets(names: readonly string[]): Target[] {
  if (names.length === 0) return [...TARGETS];
  return names.map((name) => {
    const target = TARGETS.find((t) => t.triple === name || `${t.os}/${t.arch}` === name);
    if (!target) {
      throw new Error(
        `unknown target ${JSON.stringify(name)}: use one of ${
          TARGETS.map((t) => `${t.os}/${t.arch}`).join(", ")
        }`,
      );
    }
    return target;
  });
}
