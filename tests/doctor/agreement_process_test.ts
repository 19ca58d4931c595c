/**
 * Doctor's credential checks and the plugin agree on broken credential sets (the cases are
 * tests/doctor/agreement_cases.ts), the plugin's verdict taken as kubectl meets it: the exit code of the installed
 * broker, spawned once per case. The process tier (PROCESS_TESTS in scripts/test.ts): it starts the broker; the
 * same cases with the plugin in-process are tests/doctor/agreement_test.ts.
 */
import { runBroker } from "../helpers.ts";
import { checkAgreement } from "./agreement_cases.ts";

Deno.test("doctor's credential checks and the plugin's exit code agree on broken credential sets", async (t) => {
  await checkAgreement(t, runBroker);
});
