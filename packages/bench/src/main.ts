import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { FULL, SMOKE } from "./profile.js";
import { resultsTable } from "./report.js";
import { BENCHMARKS, runBench } from "./run.js";

/**
 * `pnpm bench`: the full run, results into bench/ at the repository root.
 * `pnpm bench:smoke`: every benchmark on tiny inputs, results into a temp dir; exits non-zero only
 * if a benchmark crashes (a missed target is a figure, not a failure).
 * `--only snapshot,memory` runs some benchmarks (results into a temp dir, bench/ keeps the full run).
 * `--out <dir>` writes the results elsewhere.
 */

const USAGE = `usage: pnpm bench [--only <name,...>] [--out <dir>]   |   pnpm bench:smoke
  --only   run some benchmarks: ${Object.keys(BENCHMARKS).join(", ")}
  --out    write the results into <dir> instead of bench/ (or a temp dir with --only/--smoke)
  --smoke  every benchmark on tiny inputs (what pnpm bench:smoke runs)`;

let parsed: ReturnType<typeof parseBenchArgs>;
try {
  parsed = parseBenchArgs();
} catch (error) {
  // A mistyped option must not start a several-minute run that overwrites bench/.
  process.stderr.write(`pnpm bench: ${(error as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
if (parsed.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const { smoke, only, out } = parsed;
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

function parseBenchArgs() {
  // pnpm hands on the `--` of `pnpm bench -- --only x`.
  const args = process.argv.slice(2);
  const { values } = parseArgs({
    args: args[0] === "--" ? args.slice(1) : args,
    options: {
      smoke: { type: "boolean", default: false },
      only: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const only = values.only?.split(",");
  const unknown = only?.filter((name) => !(name in BENCHMARKS)) ?? [];
  if (unknown.length) throw new Error(`no benchmark named ${unknown.join(", ")}`);
  return { smoke: values.smoke, only, out: values.out, help: values.help };
}
