import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadCalendarSyncConfig } from "@fogis/calendar-sync";
import { loadProcessorConfig } from "@fogis/match-processor";
import { afterEach, describe, expect, it } from "vitest";
import { repoRoot } from "./reliability/service-process.js";

/**
 * State files are runtime data: wherever a quick start puts them by default, git ignores them and
 * lint does not read them (issue #19: the match-processor README's quick start wrote
 * packages/match-processor/data/, and then `pnpm test` failed at lint).
 */

const token = { API_TOKEN: "runtime-data-test-token-0123" };

/** Where each way of running a service keeps its state by default. */
const defaultStateDirs = [
  // `pnpm --filter @fogis/<service> start` runs in the package folder with DATA_DIR unset.
  resolve(repoRoot, "packages/match-processor", loadProcessorConfig(token).dataDir),
  resolve(repoRoot, "packages/calendar-sync", loadCalendarSyncConfig(token).dataDir),
  // `node packages/<service>/dist/main.js` from the root.
  resolve(repoRoot, loadProcessorConfig(token).dataDir),
  // `pnpm start` (scripts/start-local.mjs).
  join(repoRoot, ".data", "match-processor"),
  join(repoRoot, ".data", "calendar-sync"),
];

const planted: string[] = [];
afterEach(() => {
  for (const dir of planted.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("runtime data in the working tree", () => {
  it.each(defaultStateDirs)("git ignores the state files in %s", (dir) => {
    const file = join(dir, "previous_matches.json");
    const ignored = spawnSync("git", ["check-ignore", "--quiet", "--no-index", file], { cwd: repoRoot });
    expect(ignored.status, `${file} is not ignored by .gitignore`).toBe(0);
  });

  it("lint does not read them, even when they are not valid JSON", () => {
    // A folder of its own inside a default state folder, removed afterwards.
    const dir = join(repoRoot, "packages", "match-processor", "data", `lint-probe-${process.pid}`);
    planted.push(dir);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "previous_matches.json"), '{"half written": [');
    const biome = join(repoRoot, "node_modules", ".bin", "biome");
    const lint = spawnSync(biome, ["check", "packages/match-processor"], { cwd: repoRoot, encoding: "utf8" });
    expect(lint.stdout + lint.stderr).toMatch(/Checked \d+ files/);
    expect(lint.stdout + lint.stderr).not.toContain("lint-probe");
    expect(lint.status).toBe(0);
  });
});
