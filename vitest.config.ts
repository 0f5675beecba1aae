import { defineConfig } from "vitest/config";
import { suiteConfig } from "./vitest.shared.config.js";

// `pnpm test:unit` (and the last step of `pnpm test`): everything but the Docker and reliability suites.
export default defineConfig(
  suiteConfig({
    globalSetup: ["scripts/build-before-tests.ts"],
    include: ["packages/*/test/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/*.docker.test.ts", "**/*.reliability.test.ts"],
    // A bound for a test that hangs, not a budget: on a machine shared with other work, tests that
    // start servers (redis-server, radicale, xandikos, the services) take several times longer.
    testTimeout: 90_000,
    hookTimeout: 60_000,
    // expect.poll waits for a condition; its 1 s default is too short when the machine is shared.
    expect: { poll: { timeout: 15_000 } },
  }),
);
