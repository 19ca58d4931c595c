/**
 * The samples of the README and docs/ and the sample user's home, shared by tests/readme_test.ts and
 * tests/readme_process_test.ts.
 */
import assert from "node:assert/strict";
import { splitCommandLine } from "../lib/shared/command_line.ts";
import { createCa, issueCertificate } from "../scripts/world/ca.ts";
import { ROOT } from "./helpers.ts";
import { HOST_OS, isWindows } from "../lib/shared/platform.ts";

/** The user-facing Markdown files whose samples are checked: the README and every page of docs/. */
export async function markdownFiles(): Promise<string[]> {
  const pages = [];
  for await (const entry of Deno.readDir(`${ROOT}docs`)) {
    if (entry.isFile && entry.name.endsWith(".md")) pages.push(`docs/${entry.name}`);
  }
  return ["README.md", ...pages.sort()];
}

/** Every sample of the README and docs/, by name, with the file it is in (a name used twice is an error). */
async function documentedSamples(): Promise<Map<string, { file: string; text: string }>> {
  const all = new Map<string, { file: string; text: string }>();
  for (const file of await markdownFiles()) {
    for (const [name, text] of readmeSamples(await Deno.readTextFile(`${ROOT}${file}`))) {
      assert.ok(!all.has(name), `sample ${name} is in both ${all.get(name)?.file} and ${file}`);
      all.set(name, { file, text });
    }
  }
  return all;
}

/** The samples, read once per test file. */
export const SAMPLES = await documentedSamples();

/** The sample called `name` and the file it is in. */
export function sample(name: string): { file: string; text: string } {
  const found = SAMPLES.get(name);
  assert.ok(found, `no <!-- sample: ${name} --> in README.md or docs/`);
  return found;
}

/** The fenced block after each `<!-- sample: NAME ... -->`, by name. */
export function readmeSamples(markdown: string): Map<string, string> {
  const samples = new Map<string, string>();
  const pattern = /<!-- sample: ([\w-]+)[^>]*-->\s*\n```[^\n]*\n([\s\S]*?)\n```/g;
  for (const match of markdown.matchAll(pattern)) samples.set(match[1]!, `${match[2]!}\n`);
  return samples;
}

/** The sample's command (its `$ ` line and `\` continuations) as argv, and the output that follows it. */
export function splitSample(sample: string): { argv: string[]; output: string } {
  const lines = sample.split("\n");
  assert.ok(lines[0]?.startsWith("$ "), `a sample starts with "$ command": ${lines[0]}`);
  let command = lines.shift()!.slice(2);
  while (command.endsWith("\\")) command = `${command.slice(0, -1)} ${lines.shift()!.trim()}`;
  return { argv: splitCommandLine(command), output: lines.join("\n") };
}

/** Times, durations and the temp prefix made comparable: what differs between two honest runs. */
export function normalise(text: string, root: string): string {
  return text.replaceAll(root, "")
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, "<time>")
    .replace(/\((\d+d)?(\d+h)?(\d+m)?(\d+s)? left\)/g, "(<left>)")
    .replace(/\b\d+(\.\d+)? ?ms\b/g, "<ms>")
    // A loaded machine takes a second or more: "exited 0 in 1.1s".
    .replace(/\bin \d+(\.\d+)?s\b/g, "in <ms>");
}

/**
 * The sample's spelling of alice's paths: on Windows the broker joins `\\` onto the home folder (`/home/alice\\.kube
 * \\config` once the temp prefix is cut), where the README shows `/home/alice/.kube/config`. Elsewhere the text as
 * it is.
 */
export function posixSpelling(text: string): string {
  if (!isWindows(HOST_OS)) return text;
  return text.replace(/\/home\/alice[^\s'"]*/g, (path) => path.replaceAll("\\", "/"));
}

/** A README user's home in `root`: /home/alice. */
export async function aliceHome(root: string): Promise<string> {
  const home = `${root}/home/alice`;
  await Deno.mkdir(`${home}/.kube`, { recursive: true });
  return home;
}

/** Alice's certificate and key from a "vault-pki intermediate" CA, valid for a day, at `base`.crt/.key. */
export async function aliceCertificate(dir: string, base: string) {
  await Deno.mkdir(dir, { recursive: true });
  const ca = await createCa(`${dir}/.ca`, "vault-pki intermediate");
  const now = Date.now();
  const issued = await issueCertificate(ca, `${dir}/${base}`, {
    commonName: "alice",
    organization: "developers",
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
  });
  await Deno.remove(`${dir}/.ca`, { recursive: true });
  return issued;
}
