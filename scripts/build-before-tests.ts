import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Vitest global setup of every suite: the one build step (`pnpm build`, which is `tsc -b`: it
 * rebuilds only what changed) before any test, so the tests that run a service as users do
 * (`node dist/main.js`) never meet a missing or stale build, and no test builds on its own while
 * others run.
 */
export default function buildBeforeTests(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const build = spawnSync("pnpm", ["build"], { cwd: root, encoding: "utf8" });
  if (build.status !== 0) {
    throw new Error(
      `pnpm build failed, so the tests would run an old build; fix the errors and run again:\n${build.stdout}${build.stderr}${build.error?.message ?? ""}`,
    );
  }
}
