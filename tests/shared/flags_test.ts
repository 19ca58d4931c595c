import assert from "node:assert/strict";
import { UsageError } from "../../lib/shared/errors.ts";
import {
  type FlagSpec,
  type FlagValues,
  outputFormat,
  parseArgs,
  refuseArguments,
} from "../../lib/shared/flags.ts";
import { BROKER_FLAGS, type BrokerFlagValues } from "../../lib/plugin/broker_options.ts";
import {
  KUBECONFIG_SET_FLAGS_WITH_HELP,
  type KubeconfigSetFlagValues,
} from "../../lib/kubeconfig/set_flags.ts";
import { DOCTOR_FLAGS, type DoctorFlagValues } from "../../lib/doctor/doctor_flags.ts";

const SPECS = [
  { name: "token-path", kind: "string", help: "" },
  { name: "env", kind: "list", help: "" },
  { name: "force", short: "f", kind: "boolean", help: "" },
] as const satisfies readonly FlagSpec[];

/** True only when A and B are the same type (not merely assignable either way). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
/** Compiles only when T is true: `deno check` (which `deno test` runs) fails on a wrong type. */
function typeCheck<T extends true>(): T | void {}

Deno.test("parseArgs() types each value from its const spec, as @std/cli's parseArgs does", () => {
  const { values } = parseArgs([], SPECS);
  typeCheck<Equal<typeof values["token-path"], string | undefined>>();
  typeCheck<Equal<typeof values["force"], boolean | undefined>>();
  typeCheck<Equal<typeof values["env"], string[]>>();
  // @ts-expect-error: a flag the specs do not declare is not a key of the result
  values["tokenpath"];
  // Each command's own specs give its own result type, with no cast at the caller.
  typeCheck<Equal<BrokerFlagValues["before-exec-policy"], string | undefined>>();
  typeCheck<Equal<KubeconfigSetFlagValues["dry-run"], boolean | undefined>>();
  typeCheck<Equal<KubeconfigSetFlagValues["env"], string[]>>();
  typeCheck<Equal<KubeconfigSetFlagValues["help"], boolean | undefined>>();
  typeCheck<Equal<DoctorFlagValues["skip-run"], boolean | undefined>>();
  typeCheck<Equal<DoctorFlagValues["output"], string | undefined>>();
  typeCheck<Equal<FlagValues<typeof BROKER_FLAGS>, BrokerFlagValues>>();
  typeCheck<Equal<keyof FlagValues<typeof DOCTOR_FLAGS>, (typeof DOCTOR_FLAGS)[number]["name"]>>();
  typeCheck<
    Equal<
      keyof KubeconfigSetFlagValues,
      (typeof KUBECONFIG_SET_FLAGS_WITH_HELP)[number]["name"]
    >
  >();
  // An empty list is there when the flag is not given; nothing else is.
  assert.deepEqual(values, { env: [] });
});

Deno.test("parseArgs() takes --name=value, --name value, repeated lists, -f and --", () => {
  const { values, positionals } = parseArgs(
    ["set", "--token-path=/t", "--env", "A=1", "--env=B=2", "-f", "--", "--not-a-flag"],
    SPECS,
  );
  assert.deepEqual(values, { "token-path": "/t", env: ["A=1", "B=2"], force: true });
  assert.deepEqual(positionals, ["set", "--not-a-flag"]);
});

Deno.test("parseArgs() keeps a value that starts with dashes when written with =", () => {
  assert.equal(parseArgs(["--token-path=--weird"], SPECS).values["token-path"], "--weird");
});

Deno.test("parseArgs() reads --flag=false and -f=true as booleans", () => {
  assert.equal(parseArgs(["--force=false"], SPECS).values.force, false);
  assert.equal(parseArgs(["-f=true"], SPECS).values.force, true);
});

Deno.test("parseArgs() errors name the flag and suggest the closest one", async (t) => {
  const cases: [string[], RegExp, RegExp?][] = [
    [["--token-pth=/x"], /unknown flag --token-pth/, /did you mean --token-path/],
    [["--token-path"], /flag --token-path needs a value/],
    [["--token-path=a", "--token-path=b"], /given more than once/],
    [["--force=maybe"], /takes true or false/],
    [["-x"], /unknown flag -x/],
  ];
  for (const [argv, message, hint] of cases) {
    await t.step(argv.join(" "), () => {
      assert.throws(() => parseArgs(argv, SPECS), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, message);
        if (hint) assert.match(error.hint ?? "", hint);
        return true;
      });
    });
  }
});

Deno.test("parseArgs() refuses an empty value for every flag that takes one, the same way", async (t) => {
  const cases: [string[], string][] = [
    [["--token-path="], "flag --token-path is empty"],
    [["--token-path", ""], "flag --token-path is empty"],
    [["--env=A=1", "--env="], "flag --env is empty"],
    [["--env", ""], "flag --env is empty"],
  ];
  for (const [argv, message] of cases) {
    await t.step(JSON.stringify(argv), () => {
      assert.throws(() => parseArgs(argv, SPECS), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.equal(error.message, message);
        return true;
      });
    });
  }
  // Each command's own parse meets the same rule, so none of them re-checks it.
  for (
    const [name, specs, flag] of [
      ["the plugin", BROKER_FLAGS, "--cache-dir"],
      ["kubeconfig set", KUBECONFIG_SET_FLAGS_WITH_HELP, "--exec-command"],
      ["doctor", DOCTOR_FLAGS, "--timeout"],
    ] as const
  ) {
    await t.step(name, () => {
      assert.throws(() => parseArgs([`${flag}=`], specs), {
        name: "UsageError",
        message: `flag ${flag} is empty`,
      });
    });
  }
});

Deno.test("outputFormat() and refuseArguments(): what doctor and status take besides their flags", async (t) => {
  await t.step("text when -o is not given, json or text when it is", () => {
    assert.equal(outputFormat(undefined), "text");
    assert.equal(outputFormat("json"), "json");
    assert.equal(outputFormat("text"), "text");
  });
  await t.step("any other format is a usage error naming both", () => {
    assert.throws(
      () => outputFormat("yaml"),
      (error: unknown) =>
        error instanceof UsageError &&
        error.message === 'invalid --output "yaml": use text or json',
    );
  });
  await t.step("a word is a usage error pointing at the command's --help", () => {
    refuseArguments([], "doctor");
    assert.throws(
      () => refuseArguments(["extra", "more"], "status"),
      (error: unknown) =>
        error instanceof UsageError && error.message === 'unexpected argument "extra"' &&
        error.hint === "see kubectl credentials-broker status --help",
    );
  });
});
