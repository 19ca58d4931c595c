import type { Io } from "../shared/io.ts";

/**
 * Asks a yes/no question on stderr and reads the answer; only `y` or `yes` (any case) says yes, so end of input,
 * an empty line or anything unexpected leaves things as they were.
 */
export async function confirm(
  io: Pick<Io, "stderr" | "readLine">,
  question: string,
): Promise<boolean> {
  await io.stderr(`${question} [y/N] `);
  const answer = await io.readLine();
  if (answer === null) {
    await io.stderr("\n");
    return false;
  }
  return /^y(es)?$/i.test(answer.trim());
}
