import { defineConfig } from "vitest/config";

// Tests run against the TypeScript sources: the "fogis-source" export condition points each
// workspace package at src/ instead of its built dist/.
export default defineConfig({
  resolve: { conditions: ["fogis-source"] },
  ssr: { resolve: { conditions: ["fogis-source"] } },
  test: {
    globalSetup: ["scripts/build-before-tests.ts"],
    include: ["packages/*/test/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/*.docker.test.ts", "**/*.reliability.test.ts"],
    // A bound for a test that hangs, not a budget: on a machine shared with other work, tests that
    // start servers (redis-server, radicale, xandikos, the services) take several times longer.
    testTimeout: 90_000,
    hookTimeout: 60_000,
    // expect.poll waits for a condition; its 1 s default is too short when the machine is shared.
    expect: { poll: { timeout: 15_000 } },
  },
});
