import { defineConfig } from "vitest/config";
import { suiteConfig } from "./vitest.shared.config.js";

// `pnpm test:fuzz`: the fuzzers (*.fuzz.test.ts) at length. `pnpm test` runs the same files with a
// few hundred cases each; this runs FOGIS_FUZZ_RUNS cases per property (default 20,000, some
// minutes on 2 cores). A failure prints the seed and the shrunk counterexample.
process.env.FOGIS_FUZZ_RUNS ??= "20000";

export default defineConfig(
  suiteConfig({
    include: ["packages/*/test/**/*.fuzz.test.ts"],
    testTimeout: 0,
  }),
);
