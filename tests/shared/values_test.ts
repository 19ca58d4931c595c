import assert from "node:assert/strict";
import { parse } from "yaml";
import { YAML_OPTIONS } from "../../lib/kubeconfig/text.ts";
import { isRecord, kindOf } from "../../lib/shared/values.ts";

Deno.test("isRecord() and kindOf() tell mappings from lists, scalars and YAML 1.1 timestamps", async (t) => {
  // How a kubeconfig parses (YAML 1.1, as kubectl reads it): `when` is a Date, not a mapping.
  const parsed = parse(
    "map: {a: 1}\nlist: [1]\nwhen: 2026-12-01\ntext: x\nnum: 5\nnone:\n",
    YAML_OPTIONS,
  );
  const rows: [string, unknown, boolean, string][] = [
    ["a mapping", parsed.map, true, "a mapping"],
    ["a list", parsed.list, false, "a list"],
    ["a timestamp", parsed.when, false, "a timestamp"],
    ["a string", parsed.text, false, "a string"],
    ["a number", parsed.num, false, "a number"],
    ["null", parsed.none, false, "null"],
    ["JSON's empty object", JSON.parse("{}"), true, "a mapping"],
  ];
  for (const [name, value, record, kind] of rows) {
    await t.step(name, () => {
      assert.equal(isRecord(value), record);
      assert.equal(kindOf(value), kind);
    });
  }
});
