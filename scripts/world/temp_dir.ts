/** Temp folders for tests, the demo and the benchmarks: everything a run writes lives in one, removed on dispose. */
import { HOST_OS, joinPath } from "../../lib/shared/platform.ts";

/** A fresh temp folder, removed with everything in it on dispose: `await using tmp = await tempDir()`. */
export interface TempDir extends AsyncDisposable {
  path: string;
  /** A path under the folder. */
  join(...parts: string[]): string;
}

export async function tempDir(prefix = "ccb-test-"): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    join: (...parts) => parts.reduce((dir, part) => joinPath(dir, part, HOST_OS), path),
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Names the folder scripts/test.ts makes for a whole test run (`deno task test`) and removes at its end, where test
 * files share what is costly to make: the broker's install (`install/`) and RSA keys (`keys/`).
 */
export const RUN_FOLDER_VARIABLE = "KUBECTL_CREDENTIALS_BROKER_TEST_RUN";

/** The run's shared folder, or undefined outside scripts/test.ts (plain `deno test`: each file makes its own). */
export function runFolder(): string | undefined {
  return Deno.env.get(RUN_FOLDER_VARIABLE) || undefined;
}
