/**
 * `deno run -A scripts/smoke.ts [--keep DIR] ARCHIVE...`: what the release checks of each archive on the OS it is
 * for, before uploading it, and what CI runs before testing the binary. It unpacks the archive (tar reads .tar.gz
 * and, on Windows 10+ and macOS, .zip), runs the binary's `version`, and asks it for a credential as kubectl
 * would, from a key and certificate made with openssl. `--keep DIR` unpacks one archive into DIR and leaves it
 * there, for the tests to run (KUBECTL_CREDENTIALS_BROKER_BIN).
 */
import { join } from "node:path";
import { PLUGIN_EXECUTABLE } from "../lib/shared/command_list.ts";
import { scriptArgs } from "./args.ts";
import { describeError } from "../lib/shared/errors.ts";

/** What went wrong with one archive; the message names the archive and the step. */
export class SmokeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SmokeError";
  }
}

async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
  }).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

/** Windows' own tar (bsdtar, reads zip): Git's GNU tar on a runner's PATH takes `D:\\...` for a remote host. */
function tarProgram(): string {
  return Deno.build.os === "windows"
    ? join(Deno.env.get("SystemRoot") ?? "C:\\Windows", "System32", "tar.exe")
    : "tar";
}

/**
 * Unpacks `archive` into `unpacked` (default: `dir`/unpacked), checks its binary's version and one credential
 * call, with its files in `dir`; returns the binary's path.
 */
export async function smokeTest(
  archive: string,
  version: string,
  dir: string,
  unpacked = join(dir, "unpacked"),
): Promise<string> {
  await Deno.mkdir(unpacked, { recursive: true });
  const tar = await run(tarProgram(), ["-xf", archive, "-C", unpacked]);
  if (tar.code !== 0) throw new SmokeError(`tar cannot unpack ${archive}: ${tar.stderr.trim()}`);
  const windows = archive.endsWith(".zip");
  const bin = join(unpacked, windows ? `${PLUGIN_EXECUTABLE}.exe` : PLUGIN_EXECUTABLE);

  const printed = await run(bin, ["version"]);
  if (printed.code !== 0 || printed.stdout !== `kubectl-credentials_broker ${version}\n`) {
    throw new SmokeError(
      `${bin} version printed ${JSON.stringify(printed.stdout)} (exit ${printed.code}), ` +
        `not kubectl-credentials_broker ${version}: ${printed.stderr.trim()}`,
    );
  }

  const key = join(dir, "client.key");
  const cert = join(dir, "client.crt");
  const openssl = await run("openssl", [
    "req",
    "-x509",
    // RSA: the one key type every openssl (LibreSSL on macOS, Git's on Windows) makes with these words.
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "1",
    "-subj",
    "/CN=smoke",
  ]);
  if (openssl.code !== 0) throw new SmokeError(`openssl failed: ${openssl.stderr.trim()}`);
  const credential = await run(bin, [
    `--client-certificate-path=${cert}`,
    `--client-key-path=${key}`,
  ], {
    cwd: dir,
    env: {
      KUBERNETES_EXEC_INFO: JSON.stringify({
        kind: "ExecCredential",
        apiVersion: "client.authentication.k8s.io/v1",
        spec: { interactive: false },
      }),
    },
  });
  let status: { clientCertificateData?: string; clientKeyData?: string } | undefined;
  try {
    status = JSON.parse(credential.stdout).status;
  } catch {
    status = undefined;
  }
  if (
    credential.code !== 0 ||
    status?.clientCertificateData?.trim() !== (await Deno.readTextFile(cert)).trim() ||
    !status.clientKeyData?.includes("PRIVATE KEY-----")
  ) {
    throw new SmokeError(
      `${bin} did not print the certificate and key as an ExecCredential (exit ${credential.code}): ` +
        credential.stderr.trim(),
    );
  }
  return bin;
}

if (import.meta.main) {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  const usage = "deno run -A scripts/smoke.ts [--keep DIR] ARCHIVE...";
  const { values, positionals: archives } = scriptArgs({
    usage,
    about:
      "Unpacks each release archive and checks that its binary prints its version and a credential.",
    flags: [{
      name: "keep",
      kind: "string",
      value: "DIR",
      help: "leave the checked binary in DIR (one archive only)",
    }],
    positionals: { min: 1, max: Infinity },
  });
  const keep = values.keep;
  if (keep !== undefined && archives.length !== 1) {
    console.error(`error: --keep takes one archive, not ${archives.length}\nusage: ${usage}`);
    Deno.exit(2);
  }
  for (const archive of archives) {
    const dir = await Deno.makeTempDir({ prefix: "ccb-smoke-" });
    let failed = false;
    try {
      const bin = await smokeTest(archive, config.version, dir, keep);
      console.error(`ok: ${archive}: ${bin} prints its version and a credential`);
    } catch (error) {
      console.error(`error: ${describeError(error)}`);
      failed = true;
    } finally {
      // Before exiting: Deno.exit() skips pending finally blocks, and the unpacked archive would stay behind.
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
    if (failed) Deno.exit(1);
  }
}
