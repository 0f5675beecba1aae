import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// dist/ is fresh: every vitest run starts with the one build step.
const mainJs = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "main.js");
const bench = (...args: string[]) =>
  spawnSync(process.execPath, [mainJs, ...args], { encoding: "utf8", timeout: 30_000 });

describe("pnpm bench's command line", () => {
  it("refuses a mistyped option or benchmark name before it starts anything, naming what it takes", () => {
    for (const args of [
      ["--onyl", "snapshot"],
      ["--only", "snapshto"],
      ["--", "--only", "nosuch"],
      ["extra"],
    ]) {
      const run = bench(...args);
      expect(run.status, args.join(" ")).toBe(2);
      expect(run.stderr).toContain("usage: pnpm bench");
      expect(run.stderr).toContain("caldav");
      // Nothing started: no Redis, no rounds.
      expect(run.stdout).toBe("");
    }
  });

  it("answers --help with the usage and exit 0", () => {
    const run = bench("--help");
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("--only");
  });
});
