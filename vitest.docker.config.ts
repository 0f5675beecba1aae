import { defineConfig } from "vitest/config";
import { suiteConfig } from "./vitest.shared.config.js";

// `pnpm test:docker`: tests against a real Docker engine and local images (docs/docker-images.md).
// One file at a time: each runs a compose stack of its own, and two at once on 2 cores skew timings.
export default defineConfig(
  suiteConfig({
    globalSetup: ["scripts/build-before-tests.ts"],
    include: ["packages/*/test/**/*.docker.test.ts"],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 600_000,
  }),
);
