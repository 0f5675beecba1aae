import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig } from "vitest/config";
import { ROWS_ENV } from "./packages/e2e/test/reliability/report.js";
import { ReliabilityTableReporter } from "./packages/e2e/test/reliability/table-reporter.js";
import { suiteConfig } from "./vitest.shared.config.js";

// `pnpm test:reliability` (issue #7): the services as real processes (built dist/) against
// redis-servers the tests own, under faults, bad input and hostile callers. The files run one at
// a time: they kill, freeze and time processes, and two at once on 2 cores would skew the timings.
// It prints the table and changes no tracked file; `pnpm reliability:report` (`--mode report`)
// also writes it to docs/reliability.md.
const rowsFile = join(tmpdir(), `fogis-reliability-rows-${process.pid}.jsonl`);
process.env[ROWS_ENV] = rowsFile;

export default defineConfig(({ mode }) =>
  suiteConfig({
    include: ["packages/*/test/**/*.reliability.test.ts"],
    globalSetup: ["scripts/build-before-tests.ts"],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    reporters: [
      "default",
      new ReliabilityTableReporter({
        rowsFile,
        ...(mode === "report" ? { documentPath: join(import.meta.dirname, "docs", "reliability.md") } : {}),
      }),
    ],
  }),
);
