import assert from "node:assert/strict";
import { UsageError } from "../../lib/shared/errors.ts";
import { reportError } from "../../lib/shared/report.ts";
import { fakeIo } from "../helpers.ts";

Deno.test("reportError() names a foreign error by its class only, never its message", async (t) => {
  const rows: [string, unknown, string][] = [
    ["a TypeError", new TypeError("token MARKER-1 in a message"), "TypeError"],
    ["a thrown string", "MARKER-2", "string"],
    ["a thrown object", { token: "MARKER-3" }, "object"],
  ];
  for (const [name, error, shown] of rows) {
    await t.step(name, async () => {
      const io = fakeIo();
      assert.equal(await reportError(error, io), 1);
      assert.equal(
        io.err,
        `error: internal error in kubectl-credentials_broker (${shown}); ` +
          "set KUBECTL_CREDENTIALS_BROKER_DEBUG=1 for details\n",
      );
    });
  }
  await t.step("a CliError is printed whole, with its hint and exit code", async () => {
    const io = fakeIo();
    assert.equal(await reportError(new UsageError("flag --x is empty", { hint: "h" }), io), 2);
    assert.equal(io.err, "error: flag --x is empty\nhint: h\n");
  });
});
