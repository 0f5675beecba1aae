import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FULL, SMOKE } from "./profile.js";
import { resultsTable } from "./report.js";
import { runBench } from "./run.js";

/**
 * `pnpm bench`: the full run, results into bench/ at the repository root.
 * `pnpm bench:smoke`: every benchmark on tiny inputs, results into a temp dir; exits non-zero only
 * if a benchmark crashes (a missed target is a figure, not a failure).
 * `--only snapshot,memory` runs some benchmarks (results into a temp dir, bench/ keeps the full run).
 * `--out <dir>` writes the results elsewhere.
 */

const args = process.argv.slice(2);
const option = (name: string) => {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
};
const smoke = args.includes("--smoke");
const only = option("--only")?.split(",");
const out = option("--out");
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const outDir = out
  ? resolve(out)
  : smoke || only
    ? mkdtempSync(join(tmpdir(), "fogis-bench-"))
    : join(repoRoot, "bench");

try {
  const { results, files } = await runBench({
    profile: smoke ? SMOKE : FULL,
    outDir,
    command: `${smoke ? "pnpm bench:smoke" : "pnpm bench"}${only ? ` -- --only ${only.join(",")}` : ""}`,
    only,
  });
  process.stdout.write(`\n${resultsTable(results.figures)}\n\n`);
  const missed = results.figures.filter((f) => f.met === false).map((f) => f.name);
  process.stdout.write(`targets missed: ${missed.length ? missed.join(", ") : "none"}\n`);
  process.stdout.write(`wrote ${files.join(", ")} in ${results.duration_s} s\n`);
  process.exit(0);
} catch (error) {
  process.stderr.write(`bench crashed: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
}
