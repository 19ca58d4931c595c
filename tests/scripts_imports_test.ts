/**
 * Scripts never depend on tests: the e2e world, the demo and the benchmarks share scripts/world/, which tests may
 * import, never the other way round (a script run by `deno task` must not load test code).
 */
import assert from "node:assert/strict";
import { ROOT } from "./helpers.ts";
import { HOST_OS, joinPath } from "../lib/shared/platform.ts";

/** Every .ts file under `folder` (relative to the project), as project-relative paths with `/`. */
function tsFiles(folder: string): string[] {
  const files: string[] = [];
  const walk = (relative: string) => {
    for (const entry of Deno.readDirSync(joinPath(ROOT, relative, HOST_OS))) {
      const path = `${relative}/${entry.name}`;
      if (entry.isDirectory) walk(path);
      else if (entry.name.endsWith(".ts")) files.push(path);
    }
  };
  walk(folder);
  return files.sort();
}

/** The specifiers a module imports or re-exports, statically or with `import()`, comments left out. */
export function importedSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^"'`;]*?\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["'`]([^"'`]+)["'`]\s*\)/g,
  ];
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) found.push(match[1]!);
  }
  return found;
}

/** The imports of `file` (project-relative) that land under tests/. */
export function testImports(file: string, source: string): string[] {
  // Specifiers are URLs: resolve them as Deno does, against the module's own URL.
  const base = new URL(`file:///project/${file}`);
  return importedSpecifiers(source).filter((specifier) =>
    new URL(specifier, base).href.startsWith("file:///project/tests/")
  );
}

Deno.test("importedSpecifiers() finds static, side-effect, re-export and dynamic imports, not comments", () => {
  const source = `import { a } from "./a.ts";
import type { B } from "../b.ts";
export { c } from "./c.ts";
import "./d.ts";
const e = await import("./e.ts");
// import { f } from "./f.ts";
/* import { g } from "./g.ts"; */
import {
  h,
} from "./h.ts";`;
  assert.deepEqual(importedSpecifiers(source).sort(), [
    "../b.ts",
    "./a.ts",
    "./c.ts",
    "./d.ts",
    "./e.ts",
    "./h.ts",
  ]);
});

Deno.test("testImports() flags a script's import that resolves under tests/, whatever the path's shape", () => {
  assert.deepEqual(testImports("scripts/demo.ts", `import { x } from "../tests/e2e/world.ts";`), [
    "../tests/e2e/world.ts",
  ]);
  assert.deepEqual(
    testImports("scripts/world/ca.ts", `export { y } from "../../tests/helpers.ts";`),
    ["../../tests/helpers.ts"],
  );
  assert.deepEqual(
    testImports("scripts/world/ca.ts", `import { z } from "../world/../../tests/x.ts";`),
    ["../world/../../tests/x.ts"],
  );
  assert.deepEqual(
    testImports(
      "scripts/demo.ts",
      `import { w } from "./world/world.ts";\nimport "yaml";\nimport "file:///elsewhere/tests/x.ts";`,
    ),
    [],
  );
});

Deno.test("no file under scripts/ imports from tests/", () => {
  const files = tsFiles("scripts");
  assert.ok(files.includes("scripts/world/world.ts"), "the walk reaches scripts/world/");
  const offenders = files.flatMap((file) =>
    testImports(file, Deno.readTextFileSync(joinPath(ROOT, file, HOST_OS))).map((specifier) =>
      `${file} imports ${specifier}`
    )
  );
  assert.deepEqual(offenders, []);
});
