/** The Deno permissions the broker runs with: one list, kept next to the code that spawns the broker itself. */
export { BROKER_PERMISSIONS } from "../lib/plugin/before_exec.ts";
