/**
 * Reproducible release archives: the same entries and time always give the same bytes (and so the same
 * checksums in the sums file and the krew manifest), whichever machine, user, umask or time zone builds them.
 * The formats come from kept libraries: `modern-tar` writes the ustar tar, `fflate` the gzip and the zip.
 */
import { gzipSync, type Zippable, zipSync } from "fflate";
import { packTar } from "modern-tar";

/** One regular file to put in an archive, at the archive's top level or under a relative path. */
export interface ArchiveEntry {
  /** Path inside the archive, with "/" separators; no leading "/" and no "..". */
  name: string;
  data: Uint8Array;
  /** Unix permission bits, e.g. 0o755 for the executable, 0o644 for documents. */
  mode: number;
}

/** Settings that would otherwise make two builds differ. */
export interface ArchiveOptions {
  /** Modification time recorded for every file (SOURCE_DATE_EPOCH in a release build). */
  mtime: Date;
}

/** zlib's default for both formats: on a 100 MB binary level 9 took twice as long for the same 42 MB. */
const LEVEL = 6;

/** Builds a .tar.gz of `entries` sorted by name, owned by root (0/0), with the given modes and time. */
export async function tarGz(
  entries: readonly ArchiveEntry[],
  options: ArchiveOptions,
): Promise<Uint8Array> {
  // tar cannot record a time before 1970.
  const mtime = new Date(Math.max(0, Math.floor(options.mtime.getTime() / 1000)) * 1000);
  const tar = await packTar(
    sorted(entries).map((entry) => ({
      header: {
        name: entry.name,
        size: entry.data.length,
        type: "file" as const,
        mode: entry.mode & 0o7777,
        mtime,
        uid: 0,
        gid: 0,
        uname: "root",
        gname: "root",
      },
      body: entry.data,
    })),
  );
  // gzip header: no file name, time 0 ("none"), and fflate always writes OS byte 3 (Unix).
  return gzipSync(tar, { level: LEVEL, mtime: 0 });
}

/** Builds a .zip of `entries` sorted by name (deflated), with Unix modes so that unzip keeps the executable bit. */
export function zip(
  entries: readonly ArchiveEntry[],
  options: ArchiveOptions,
): Promise<Uint8Array> {
  // Asynchronous like tarGz: a bad entry name rejects the promise rather than throwing.
  return Promise.resolve().then(() => {
    const mtime = dosTime(options.mtime);
    const files: Zippable = {};
    for (const entry of sorted(entries)) {
      // "Made by" Unix (os 3): the high 16 bits of the external attributes are st_mode, file type included.
      files[entry.name] = [entry.data, {
        level: LEVEL,
        os: 3,
        attrs: ((0o100000 | (entry.mode & 0o7777)) << 16) >>> 0,
        mtime,
      }];
    }
    return zipSync(files);
  });
}

/**
 * The time to hand fflate, which writes the zip's MS-DOS time from the *local* fields of a Date: a Date whose
 * local fields are `when`'s UTC fields keeps the archive independent of the builder's time zone. A zip cannot
 * say anything before 1980 or after 2099.
 */
function dosTime(when: Date): Date {
  const d = when.getUTCFullYear() < 1980 ? new Date(Date.UTC(1980, 0, 1)) : when;
  if (d.getUTCFullYear() > 2099) {
    throw new Error(`archive time ${when.toISOString()} is after 2099`);
  }
  return new Date(
    d.getUTCFullYear(),
    d.getUTCMonth(),
    d.getUTCDate(),
    d.getUTCHours(),
    d.getUTCMinutes(),
    d.getUTCSeconds(),
  );
}

/** Lowercase hex SHA-256 of `data`, the form krew manifests and `sha256sum` use. */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The entries in byte order of their names, after checking that each stays inside the archive, once. */
function sorted(entries: readonly ArchiveEntry[]): ArchiveEntry[] {
  const names = new Set<string>();
  for (const { name } of entries) {
    if (name === "" || name.startsWith("/") || name.split("/").includes("..")) {
      throw new Error(`archive entry name ${JSON.stringify(name)} must be a relative path`);
    }
    if (names.has(name)) {
      throw new Error(`archive entry name ${JSON.stringify(name)} is given twice`);
    }
    names.add(name);
  }
  return [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
