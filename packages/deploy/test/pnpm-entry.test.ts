import { execFile } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { EXIT } from "../src/errors.js";

/**
 * The tool as a user starts it from the repository: through pnpm 12, whose own `deploy` command
 * reads options written right after `pnpm deploy`, and through node, which reads `--env-file`
 * anywhere on its command line unless told where its own options end. None of these touch Docker.
 */

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "../../..");

function pnpm(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("pnpm", args, { cwd: repoRoot, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

describe("pnpm deploy, as typed", { timeout: 150_000 }, () => {
  it("pnpm deploy help, pnpm deploy -- --help and pnpm run deploy --help print the tool's help", async () => {
    // At once: each is a pnpm, a no-op build and a node start.
    const runs = await Promise.all([
      pnpm("deploy", "help"),
      pnpm("deploy", "--", "--help"),
      pnpm("run", "deploy", "--help"),
    ]);
    for (const run of runs) {
      expect(run.code).toBe(EXIT.ok);
      expect(run.stdout).toContain("fogis-deploy: the phased rollout of Redis pub/sub");
    }
  });

  it("pnpm run deploy --env-file <missing> is the tool's own message and exit code, not node's", async () => {
    const missing = join(repoRoot, "no-such-dir", "prod.env");
    const run = await pnpm("run", "deploy", "--env-file", missing, "status");
    expect(run.stderr).not.toContain("node: ");
    expect(run.stderr).toContain(`env file not found: ${missing}`);
    expect(run.code).toBe(EXIT.precondition);
  });
});
