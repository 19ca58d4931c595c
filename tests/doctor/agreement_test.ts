/**
 * Doctor's credential checks and the plugin agree on broken credential sets (the cases are
 * tests/doctor/agreement_cases.ts): here the plugin runs in-process (callPlugin, reported as main.ts reports), so
 * the unit tier starts no broker. The same cases against the broker spawned as kubectl meets it are
 * tests/doctor/agreement_process_test.ts (the process tier, where a test that starts the broker goes).
 */
import { callPlugin } from "../plugin/call_plugin.ts";
import { checkAgreement } from "./agreement_cases.ts";

Deno.test("doctor's credential checks and the plugin's exit code (in-process) agree on broken credential sets", async (t) => {
  await checkAgreement(t, callPlugin);
});
