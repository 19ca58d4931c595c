/**
 * The command table: the router, the plugin's help text, the "commands are" hints and shell completion all read
 * one list, so they name the same commands (help and version included) and a new command shows up everywhere.
 */
import assert from "node:assert/strict";
import { COMMAND_TABLE, runCommand } from "../lib/commands.ts";
import { complete } from "../lib/completion.ts";
import { parseBrokerArgs } from "../lib/plugin/broker_options.ts";
import { runPlugin } from "../lib/plugin/plugin.ts";
import {
  COMMANDS,
  COMMANDS_HINT,
  VISIBLE_COMMANDS,
  wantsSubcommand,
} from "../lib/shared/command_list.ts";
import { UsageError } from "../lib/shared/errors.ts";
import { fakeIo } from "./helpers.ts";

const NAMES = VISIBLE_COMMANDS.map((command) => command.name);

/** The commands a hint names, by first word ("kubeconfig set" is kubeconfig). */
function hintedCommands(hint: string): string[] {
  const match = hint.match(/^commands are: (.*)$/);
  assert.ok(match, hint);
  return [...new Set(match[1]!.split(", ").map((words) => words.split(" ")[0]!))];
}

function usageError(run: () => unknown): UsageError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof UsageError, String(error));
    return error;
  }
  assert.fail("no usage error");
}

Deno.test("the visible commands are kubeconfig, doctor, status, completion, version and help; __complete is hidden", () => {
  assert.deepEqual(NAMES, ["kubeconfig", "doctor", "status", "completion", "version", "help"]);
  assert.deepEqual(COMMANDS.filter((c) => !NAMES.includes(c.name)).map((c) => c.name), [
    "__complete",
  ]);
  assert.deepEqual(COMMAND_TABLE.map((command) => command.name), COMMANDS.map((c) => c.name));
});

Deno.test("the plugin's help text lists every visible command, in the table's order", async () => {
  const io = fakeIo();
  assert.equal(await runPlugin(["--help"], io), 0);
  const usage = io.out.slice(io.out.indexOf("Usage:\n"), io.out.indexOf("\nFlags:"));
  const listed = [...usage.matchAll(/^ {2}kubectl credentials-broker (\S+)/gm)].map((m) => m[1]!);
  assert.deepEqual(listed, ["[flags]", ...NAMES]);
  assert.match(usage, /kubectl credentials-broker kubeconfig set \.\.\. +point a kubeconfig user/);
});

Deno.test("every hint after an unknown command names every visible command, help included", async () => {
  const plugin = await runPlugin(["nope"], fakeIo()).then(
    () => assert.fail("no error"),
    (error: unknown) => error as UsageError,
  );
  const router = fakeIo();
  assert.equal(await runCommand(["nope"], router), 2);
  const hints = [
    COMMANDS_HINT,
    plugin.hint!,
    usageError(() => parseBrokerArgs(["nope"])).hint!,
    router.err.match(/^hint: (.*)$/m)![1]!,
  ];
  for (const hint of hints) assert.deepEqual(hintedCommands(hint), NAMES);
  assert.equal(
    COMMANDS_HINT,
    "commands are: kubeconfig set, doctor, status, completion, version, help",
  );
});

Deno.test("completion offers every visible command with its summary, and help offers the others", () => {
  assert.deepEqual(
    complete([], "").candidates,
    VISIBLE_COMMANDS.map((command) => `${command.name}\t${command.summary}`),
  );
  assert.deepEqual(complete(["help"], "").candidates, NAMES.filter((name) => name !== "help"));
});

Deno.test("the router runs every visible command: subcommands from the table, version and help in the plugin", async (t) => {
  for (const command of VISIBLE_COMMANDS) {
    await t.step(command.name, async () => {
      const io = fakeIo();
      if (command.runs === "subcommand") {
        assert.ok(wantsSubcommand([command.name]));
        assert.equal(await runCommand([command.name, "--help"], io), 0, io.err);
      } else {
        assert.ok(!wantsSubcommand([command.name]));
        assert.equal(await runPlugin([command.name], io), 0, io.err);
      }
      assert.notEqual(io.out, "");
    });
  }
});

Deno.test("help COMMAND is the command's own --help; help alone and help version are the plugin's", async () => {
  for (const words of [["kubeconfig"], ["kubeconfig", "set"], ["doctor"], ["completion"]]) {
    const viaHelp = fakeIo();
    const direct = fakeIo();
    assert.ok(wantsSubcommand(["help", ...words]));
    assert.equal(await runCommand(["help", ...words], viaHelp), 0, viaHelp.err);
    assert.equal(await runCommand([...words, "--help"], direct), 0, direct.err);
    assert.equal(viaHelp.out, direct.out);
  }
  for (const argv of [["help"], ["help", "version"], ["help", "__complete"], ["--token-path=/t"]]) {
    assert.ok(!wantsSubcommand(argv), argv.join(" "));
  }
  assert.ok(wantsSubcommand(["__complete", ""]));
});
