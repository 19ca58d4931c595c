/**
 * osErrorWords(): the OS errors Deno really throws, said in words. Each case makes the error happen for real; the
 * full and read-only disks are in tests/plugin/full_disk_test.ts and tests/kubeconfig/full_disk_test.ts.
 */
import assert from "node:assert/strict";
import { osErrorWords } from "../../lib/shared/errors.ts";
import { tempDir } from "../helpers.ts";

function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error("expected the action to throw");
}

Deno.test("osErrorWords() says what a real file-system error means, never a class name", async (t) => {
  await using tmp = await tempDir();
  const file = tmp.join("file");
  Deno.writeTextFileSync(file, "x");
  const cases: [string, () => unknown, string][] = [
    ["a missing file", () => Deno.readFileSync(tmp.join("missing")), "no such file or folder"],
    [
      "a missing folder on the way",
      () => Deno.mkdirSync(tmp.join("a", "b", "c")),
      "no such file or folder",
    ],
    ["creating what exists", () => Deno.mkdirSync(file), "it already exists"],
    [
      "a file used as a folder",
      () => Deno.writeTextFileSync(`${file}/inner`, "x"),
      // Windows itself calls it "path not found" (ERROR_PATH_NOT_FOUND).
      Deno.build.os === "windows" ? "no such file or folder" : "a part of the path is not a folder",
    ],
    ["reading a folder as a file", () => Deno.readFileSync(tmp.path), "it is a folder"],
  ];
  for (const [name, action, words] of cases) {
    await t.step(name, () => {
      const error = thrown(action);
      assert.equal(osErrorWords(error), words, String(error));
    });
  }
});

Deno.test("osErrorWords() keeps the OS's own words for an error it has no name for, and only them", () => {
  // What Deno on Windows throws for LockFileEx under Wine: a plain Error with the OS's text and its number.
  const wine = new Error("Lock violation (os error 33)");
  assert.equal(osErrorWords(wine), "lock violation");
  const windowsFull = new Error(
    "There is not enough space on the disk. (os error 112): write 'C:\\Users\\me\\x'",
  );
  assert.equal(osErrorWords(windowsFull), "there is not enough space on the disk");
  // Not an OS error: nothing of its message (which might hold a value) is repeated.
  assert.equal(osErrorWords(new TypeError("token s3cr3t is bad")), "unexpected error (TypeError)");
  assert.equal(osErrorWords("text"), "unknown error");
});
