/** readRegularFileSync(): an unreadable file is said in words, not by the class of the OS error (issue 18 item 8). */
import assert from "node:assert/strict";
import { FileReadError, readRegularFileSync } from "../../lib/shared/read_file.ts";
import { tempDir } from "../helpers.ts";

Deno.test({
  name: "a symlink loop cannot be read, in words (not on Windows: symlinks need privileges there)",
  ignore: Deno.build.os === "windows",
  async fn() {
    await using tmp = await tempDir();
    Deno.symlinkSync("b", tmp.join("a"));
    Deno.symlinkSync("a", tmp.join("b"));
    assert.throws(
      () => readRegularFileSync(tmp.join("a"), 1024),
      (error: unknown) =>
        error instanceof FileReadError && error.kind === "unreadable" &&
        error.message === "cannot be read: too many levels of symbolic links",
    );
  },
});
