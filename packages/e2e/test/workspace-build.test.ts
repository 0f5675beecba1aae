import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "./reliability/service-process.js";

/**
 * `pnpm build` (tsc -b tsconfig.build.json) is the one build step that `pnpm start`, the tests,
 * `pnpm bench` and `pnpm deploy` run first. It covers a package only when the root solution file
 * lists it and the package's own config references what it imports; a package left out is what made
 * `pnpm deploy` say "not built" after `pnpm start` (issue #19).
 */

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  exports?: Record<string, { default?: string }>;
  scripts?: Record<string, string>;
}

const packagesDir = join(repoRoot, "packages");
const packages = readdirSync(packagesDir)
  .filter((dir) => existsSync(join(packagesDir, dir, "package.json")))
  .map((dir) => ({
    dir,
    manifest: JSON.parse(readFileSync(join(packagesDir, dir, "package.json"), "utf8")) as Manifest,
  }));
const dirByName = new Map(packages.map(({ dir, manifest }) => [manifest.name, dir]));

function references(configPath: string): string[] {
  const config = JSON.parse(readFileSync(configPath, "utf8")) as { references?: Array<{ path: string }> };
  return (config.references ?? []).map((ref) => join(dirname(configPath), ref.path));
}

describe("the one build step", () => {
  const rootReferences = references(join(repoRoot, "tsconfig.build.json"));

  it.each(packages.filter(({ manifest }) => manifest.exports?.["."]?.default?.startsWith("./dist/")))(
    "$manifest.name is built by pnpm build, after the workspace packages it imports",
    ({ dir, manifest }) => {
      const config = join(packagesDir, dir, "tsconfig.build.json");
      expect(rootReferences, "listed in the root tsconfig.build.json").toContain(config);
      expect(manifest.scripts?.build, "its own build script is the same tsc -b").toBe(
        "tsc -b tsconfig.build.json",
      );
      const imported = Object.entries(manifest.dependencies ?? {})
        .filter(([, spec]) => spec.startsWith("workspace:"))
        .map(([name]) => join(packagesDir, dirByName.get(name) ?? name, "tsconfig.build.json"));
      expect(references(config).sort()).toEqual(imported.sort());
    },
  );

  it("every command that runs built code builds first with pnpm build", () => {
    const root = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as Manifest;
    const scripts = root.scripts ?? {};
    expect(scripts.build).toBe("tsc -b tsconfig.build.json");
    for (const name of ["deploy", "bench", "bench:smoke", "test"]) {
      expect(scripts[name], name).toMatch(/(^|&& )pnpm build &&/);
    }
    expect(readFileSync(join(repoRoot, "scripts", "start-local.mjs"), "utf8")).toContain(
      'spawnSync("pnpm", ["build"]',
    );
  });
});
