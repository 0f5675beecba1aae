import { defineConfig } from "vitest/config";

// `pnpm test:fuzz`: the fuzzers (*.fuzz.test.ts) at length. `pnpm test` runs the same files with a
// few hundred cases each; this runs FOGIS_FUZZ_RUNS cases per property (default 20,000, some
// minutes on 2 cores). A failure prints the seed and the shrunk counterexample.
process.env.FOGIS_FUZZ_RUNS ??= "20000";

export default defineConfig({
  resolve: { conditions: ["fogis-source"] },
  ssr: { resolve: { conditions: ["fogis-source"] } },
  test: {
    include: ["packages/*/test/**/*.fuzz.test.ts"],
    exclude: ["**/node_modules/**"],
    testTimeout: 0,
  },
});
