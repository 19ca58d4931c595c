import assert from "node:assert/strict";
import { unifiedDiff } from "../../lib/kubeconfig/diff.ts";

const OLD = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"].join("\n") + "\n";

Deno.test("unifiedDiff() prints headers and a hunk with three lines of context", () => {
  const diff = unifiedDiff(OLD, OLD.replace("e\n", "E\nE2\n"), {
    oldName: "/k/c",
    newName: "/k/c",
  });
  assert.equal(
    diff,
    "--- /k/c\n+++ /k/c\n@@ -2,7 +2,8 @@\n b\n c\n d\n-e\n+E\n+E2\n f\n g\n h\n",
  );
});

Deno.test("unifiedDiff() is empty for equal texts", () => {
  assert.equal(unifiedDiff(OLD, OLD, { oldName: "a", newName: "a" }), "");
});

Deno.test("unifiedDiff() shows a new file against /dev/null", () => {
  const diff = unifiedDiff("", "x\ny\n", { oldName: "/dev/null", newName: "/k/new" });
  assert.equal(diff, "--- /dev/null\n+++ /k/new\n@@ -0,0 +1,2 @@\n+x\n+y\n");
});

Deno.test("unifiedDiff() colours only when asked", async (t) => {
  const newText = OLD.replace("e\n", "E\n");
  await t.step("plain", () => {
    assert.ok(!unifiedDiff(OLD, newText, { oldName: "a", newName: "a" }).includes("\x1b"));
  });
  await t.step("coloured", () => {
    const diff = unifiedDiff(OLD, newText, { oldName: "a", newName: "a", color: true });
    assert.ok(diff.includes("\x1b[31m-e\x1b[0m"));
    assert.ok(diff.includes("\x1b[32m+E\x1b[0m"));
    assert.ok(diff.includes("\x1b[36m@@ -2,7 +2,7 @@\x1b[0m"));
  });
});
