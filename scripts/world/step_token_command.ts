/**
 * The test world's `step ca token SUBJECT`: asks the step-ca stand-in (scripts/world/step_ca_server.ts) for a
 * one-time token and prints it alone on stdout, as step does. Run by the Deno executable, so it works on every OS:
 *
 *   deno run --allow-net=127.0.0.1 step_token_command.ts UPSTREAM_URL SUBJECT [--san NAME]... [--expired]
 *     [--foreign-key] [--pin-csr] [--log FILE] [--reuse FILE] [--fail MESSAGE]
 *
 * `--log FILE` appends one line per run (the subject), for tests that count runs; `--reuse FILE` prints the token
 * kept in FILE from an earlier run (a used token, which step-ca refuses); `--fail` prints MESSAGE on stderr and
 * exits 1, as step does when the provisioner password is wrong.
 */
const [url, subject, ...rest] = Deno.args;
if (!url || !subject) {
  console.error("usage: step_token_command.ts UPSTREAM_URL SUBJECT [--san NAME]...");
  Deno.exit(2);
}
const parsed = {
  url,
  subject,
  sans: [] as string[],
  expired: false,
  foreignKey: false,
  pinCsr: false,
  log: undefined as string | undefined,
  reuse: undefined as string | undefined,
  fail: undefined as string | undefined,
};
for (let i = 0; i < rest.length; i++) {
  const flag = rest[i];
  if (flag === "--san") parsed.sans.push(rest[++i] ?? "");
  else if (flag === "--expired") parsed.expired = true;
  else if (flag === "--foreign-key") parsed.foreignKey = true;
  else if (flag === "--pin-csr") parsed.pinCsr = true;
  else if (flag === "--log") parsed.log = rest[++i];
  else if (flag === "--reuse") parsed.reuse = rest[++i];
  else if (flag === "--fail") parsed.fail = rest[++i] ?? "";
  else {
    console.error(`unknown flag ${flag}`);
    Deno.exit(2);
  }
}
if (parsed.log) await Deno.writeTextFile(parsed.log, `${parsed.subject}\n`, { append: true });
if (parsed.fail !== undefined) {
  console.error(parsed.fail);
  Deno.exit(1);
}
if (parsed.reuse) {
  try {
    await Deno.stdout.write(await Deno.readFile(parsed.reuse));
    Deno.exit(0);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
const response = await fetch(`${parsed.url}/test/token`, {
  method: "POST",
  body: JSON.stringify({
    subject: parsed.subject,
    ...(parsed.sans.length > 0 ? { sans: parsed.sans } : {}),
    ...(parsed.expired ? { expiredSecondsAgo: 600 } : {}),
    ...(parsed.foreignKey ? { foreignKey: true } : {}),
    ...(parsed.pinCsr ? { pinCsr: true } : {}),
  }),
});
const text = await response.text();
if (!response.ok) {
  console.error(`token request failed: ${response.status} ${text}`);
  Deno.exit(1);
}
if (parsed.reuse) await Deno.writeTextFile(parsed.reuse, text);
await Deno.stdout.write(new TextEncoder().encode(text));
