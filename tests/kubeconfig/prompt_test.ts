import assert from "node:assert/strict";
import { confirm } from "../../lib/kubeconfig/prompt.ts";
import { fakeIo } from "../helpers.ts";

Deno.test("confirm() says yes only to y or yes, in any case", async (t) => {
  const cases: [string[], boolean][] = [
    [["y"], true],
    [["yes"], true],
    [["YES"], true],
    [[" Y "], true],
    [["n"], false],
    [[""], false],
    [["yes please"], false],
    [["ok"], false],
    [[], false], // end of input, e.g. Ctrl-D
  ];
  for (const [input, expected] of cases) {
    await t.step(JSON.stringify(input), async () => {
      const io = fakeIo({ input, terminal: true });
      assert.equal(await confirm(io, "Apply these changes to /k?"), expected);
      assert.ok(io.err.startsWith("Apply these changes to /k? [y/N] "));
      assert.equal(io.out, "");
    });
  }
});
