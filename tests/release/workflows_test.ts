/**
 * The GitHub workflows cannot run here (no macOS, no Windows, no Deno download host), so this reads them as
 * GitHub would and checks what they promise: every OS builds its own binary and runs the tests against it, and
 * a release publishes only after that matrix and a run of each archive's binary on its own OS.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "yaml";
import { build } from "../../scripts/build.ts";
import { archiveName, selectTargets, TARGETS } from "../../scripts/targets.ts";
import { VERSION } from "../../lib/shared/version.ts";
import { ROOT, run, tempDir } from "../helpers.ts";
import { onPath, standInDeps } from "./release_helpers.ts";

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, string>;
  env?: Record<string, string>;
}

interface Job {
  "runs-on"?: string;
  needs?: string | string[];
  uses?: string;
  steps?: Step[];
  permissions?: Record<string, string>;
  strategy?: { matrix: { include: Record<string, string>[] } };
}

interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

async function workflow(name: string): Promise<Workflow> {
  return parse(await Deno.readTextFile(join(ROOT, ".github", "workflows", name))) as Workflow;
}

const needs = (job: Job): string[] =>
  job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs];

/** Every job `name` waits for, directly or through others. */
function upstream(jobs: Record<string, Job>, name: string): Set<string> {
  const seen = new Set<string>();
  const visit = (job: string) => {
    for (const need of needs(jobs[job]!)) {
      assert.ok(jobs[need], `${job} needs ${need}, which is not a job`);
      if (!seen.has(need)) {
        seen.add(need);
        visit(need);
      }
    }
  };
  visit(name);
  return seen;
}

/** The index of the one step whose `run` matches, failing the test when there is none or several. */
/**
 * Which tests a deno.json task runs through scripts/test.ts ("all", "unit", "process", "release", "portable" or
 * "e2e"), or undefined if it does not.
 */
function testParts(task: string | undefined): string | undefined {
  const match =
    /(?:^|&& )deno run --allow-all scripts\/test\.ts(?: (unit|process|release|portable|e2e))?$/
      .exec(task ?? "");
  return match ? match[1] ?? "all" : undefined;
}

function stepIndex(steps: Step[], pattern: RegExp, what: string): number {
  const found = steps.flatMap((step, i) => pattern.test(step.run ?? "") ? [i] : []);
  assert.equal(found.length, 1, `one step ${what} (${pattern}), found ${found.length}`);
  return found[0]!;
}

/** The runner's OS as krew and the targets name it. */
function runnerOs(runner: string): string {
  if (runner.startsWith("ubuntu")) return "linux";
  if (runner.startsWith("macos")) return "darwin";
  if (runner.startsWith("windows")) return "windows";
  throw new Error(`unknown runner ${runner}`);
}

/** GitHub's arm64 runners; the others are x86-64. */
function runnerArch(runner: string): string {
  return runner === "macos-latest" || runner.endsWith("-arm") || /^macos-1[4-9]$/.test(runner)
    ? "arm64"
    : "amd64";
}

/** The `${{ matrix.x }}` names an expression text uses. */
function matrixKeys(text: string): string[] {
  return [...text.matchAll(/\$\{\{\s*matrix\.(\w+)\s*\}\}/g)].map((m) => m[1]!);
}

function checkMatrixReferences(job: Job, jobName: string): void {
  const include = job.strategy!.matrix.include;
  for (const key of matrixKeys(JSON.stringify(job))) {
    for (const entry of include) {
      assert.ok(key in entry, `${jobName} uses matrix.${key}, which ${entry.os} does not set`);
    }
  }
}

function checkDeno(jobs: Record<string, Job>): void {
  for (const [name, job] of Object.entries(jobs)) {
    for (const step of job.steps ?? []) {
      if (step.uses?.startsWith("denoland/setup-deno@")) {
        assert.equal(step.with?.["deno-version"], `v${Deno.version.deno}`, `${name}'s Deno`);
      }
    }
  }
}

Deno.test("ci.yml builds each OS's own binary and runs the tests against it on Linux, macOS and Windows", async () => {
  const ci = await workflow("ci.yml");
  const test = ci.jobs.test!;
  const include = test.strategy!.matrix.include;
  assert.deepEqual(
    include.map((entry) => entry.os).sort(),
    ["macos-latest", "ubuntu-latest", "windows-latest"],
  );
  assert.equal(test["runs-on"], "${{ matrix.os }}");
  checkMatrixReferences(test, "test");
  checkDeno(ci.jobs);
  const tasks = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).tasks;
  for (const entry of include) {
    // The binary built is this runner's: its OS and CPU, the archive and executable names the release uses.
    const [target] = selectTargets([entry.target!]);
    assert.equal(target!.os, runnerOs(entry.os!), entry.os);
    assert.equal(target!.arch, runnerArch(entry.os!), entry.os);
    // dist/*_<archive> matches this target's archive and no other.
    assert.deepEqual(
      TARGETS.filter((t) => archiveName(`v${VERSION}`, t).endsWith(`_${entry.archive}`)),
      [target],
    );
    assert.equal(entry.bin, target!.bin);
    // The tests are the project's test tasks, which run scripts/test.ts (deno test, all or one part).
    const task = /^deno task ([\w:]+)$/.exec(entry.tests!)?.[1];
    assert.ok(task && testParts(tasks[task]), `${entry.os} runs ${entry.tests}`);
  }
  // End-to-end tests (nginx, kubectl) on Linux, where nginx is installed.
  const linux = include.find((entry) => entry.os === "ubuntu-latest")!;
  assert.equal(testParts(tasks[linux.tests!.slice("deno task ".length)]), "all");
  const nginx = test.steps!.find((step) => /apt-get install .*nginx/.test(step.run ?? ""));
  assert.equal(nginx?.if, "runner.os == 'Linux'");

  const steps = test.steps!;
  const built = stepIndex(steps, /^deno task build --target \$\{\{ matrix\.target \}\}$/, "builds");
  const smoke = stepIndex(steps, /scripts\/smoke\.ts --keep /, "unpacks and runs the binary");
  const keep = /--keep "([^"]+)" dist\/\*_\$\{\{ matrix\.archive \}\}$/.exec(steps[smoke]!.run!);
  assert.ok(keep, steps[smoke]!.run);
  const tested = steps.findIndex((step) => step.run === "${{ matrix.tests }}");
  assert.ok(built < smoke && smoke < tested, "build, then check the binary, then test it");
  // The tests run the binary just unpacked, not the source.
  assert.equal(
    steps[tested]!.env?.KUBECTL_CREDENTIALS_BROKER_BIN,
    `${keep[1]}/\${{ matrix.bin }}`,
  );
  assert.equal(steps[tested]!.if, undefined, "the tests run on every OS");
  // kubectl's plugin lookup, where the runner has kubectl.
  const lookup = stepIndex(
    steps,
    /kubectl credentials-broker version/,
    "asks kubectl for the plugin",
  );
  assert.ok(steps[lookup]!.run!.includes(`PATH="${keep[1]}:$PATH"`));
  // release.yml calls this workflow.
  assert.ok("workflow_call" in ci.on);
});

Deno.test("release.yml publishes only after the CI matrix and each archive's binary ran on its own OS", async () => {
  const release = await workflow("release.yml");
  const jobs = release.jobs;
  assert.deepEqual(release.on, { push: { tags: ["v*"] } });
  checkDeno(jobs);
  const ci = Object.entries(jobs).find(([, job]) => job.uses === "./.github/workflows/ci.yml");
  assert.ok(ci, "release.yml runs ci.yml");

  const publishing = Object.entries(jobs).filter(([, job]) =>
    job.steps?.some((step) => /gh release create/.test(step.run ?? ""))
  );
  assert.equal(publishing.length, 1);
  const [publish, publishJob] = publishing[0]!;
  const before = upstream(jobs, publish);
  assert.ok(before.has(ci[0]), `${publish} does not wait for the CI matrix`);

  // The archives come from a build that checks the tag against the version, after CI passed.
  const [buildName, buildJob] = Object.entries(jobs).find(([, job]) =>
    job.steps?.some((step) => /deno task build\b/.test(step.run ?? ""))
  )!;
  assert.ok(upstream(jobs, buildName).has(ci[0]));
  const buildStep = buildJob.steps!.find((step) => /deno task build\b/.test(step.run ?? ""))!;
  assert.match(buildStep.run!, /deno task build --tag "\$GITHUB_REF_NAME"/);

  // Every archive the build makes is run on a runner of its own OS and CPU, before publishing.
  const [verifyName, verifyJob] = Object.entries(jobs).find(([, job]) =>
    job.steps?.some((step) => /scripts\/smoke\.ts/.test(step.run ?? ""))
  )!;
  assert.ok(before.has(verifyName), `${publish} does not wait for ${verifyName}`);
  assert.ok(upstream(jobs, verifyName).has(buildName));
  checkMatrixReferences(verifyJob, verifyName);
  const include = verifyJob.strategy!.matrix.include;
  // dist/*_<archive> names exactly one archive per entry, and every archive has an entry.
  assert.deepEqual(
    include.flatMap((entry) =>
      TARGETS.filter((t) => archiveName(`v${VERSION}`, t).endsWith(`_${entry.archive}`))
    ),
    include.map((entry) => TARGETS.find((t) => entry.archive!.startsWith(`${t.os}_${t.arch}.`))),
  );
  assert.equal(new Set(include.map((entry) => entry.archive)).size, TARGETS.length);
  for (const entry of include) {
    assert.ok(
      entry.archive!.startsWith(`${runnerOs(entry.os!)}_${runnerArch(entry.os!)}.`),
      `${entry.archive} runs on ${entry.os}`,
    );
  }
  assert.equal(verifyJob["runs-on"], "${{ matrix.os }}");
  assert.ok(
    verifyJob.steps!.some((step) =>
      step.run === "deno run --allow-all scripts/smoke.ts dist/*_${{ matrix.archive }}"
    ),
  );

  // Only the publishing job may write to the repository.
  assert.deepEqual(release.permissions, { contents: "read" });
  for (const [name, job] of Object.entries(jobs)) {
    if (name !== publish) assert.equal(job.permissions, undefined, name);
  }
  assert.deepEqual(publishJob.permissions, { contents: "write" });
});

Deno.test({
  name:
    "scripts/smoke.ts --keep leaves the checked binary where the tests' variable points (needs tar: Windows 10's System32\\tar.exe, missing under Wine)",
  ignore: !onPath("tar"),
  fn: async () => {
    await using tmp = await tempDir();
    const target = TARGETS.find((t) => t.os === "linux" && t.arch === "amd64")!;
    const result = await build(
      { projectDir: ROOT, outDir: join(tmp.path, "dist"), targets: [target], mtime: new Date(0) },
      standInDeps({ real: true }),
    );
    const keep = join(tmp.path, "broker");
    const smoke = await run(Deno.execPath(), [
      "run",
      "--allow-all",
      join(ROOT, "scripts", "smoke.ts"),
      "--keep",
      keep,
      result.archives[0]!.path,
    ], { env: { NO_COLOR: "1" }, inheritEnv: true });
    assert.equal(smoke.code, 0, smoke.stderr);
    assert.match(smoke.stderr, /^ok: .* prints its version and a credential\n$/);
    const version = await run(join(keep, target.bin), ["version"], {
      env: { NO_COLOR: "1" },
      inheritEnv: true,
    });
    assert.equal(version.stdout, `kubectl-credentials_broker ${VERSION}\n`);
    // A binary that cannot give a credential stops the release with one sentence.
    const broken = join(tmp.path, "broken.tar.gz");
    await Deno.writeTextFile(
      join(tmp.path, target.bin),
      "#!/bin/sh\necho kubectl-credentials_broker 0\n",
      {
        mode: 0o755,
      },
    );
    await run("tar", ["-czf", broken, "-C", tmp.path, target.bin]);
    const scratch = join(tmp.path, "scratch");
    await Deno.mkdir(scratch);
    const refused = await run(Deno.execPath(), [
      "run",
      "--allow-all",
      join(ROOT, "scripts", "smoke.ts"),
      broken,
    ], { env: { NO_COLOR: "1", TMPDIR: scratch }, inheritEnv: true });
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^error: .*kubectl-credentials_broker version printed "kubectl-credentials_broker 0\\n"/,
    );
    // It unpacked into a temporary folder, and removed it on the way out.
    assert.deepEqual([...Deno.readDirSync(scratch)], []);
  },
});
