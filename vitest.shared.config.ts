import type { TestUserConfig, ViteUserConfig } from "vitest/config";

/**
 * What every suite's config shares: tests run against the TypeScript sources (the "fogis-source"
 * export condition points each workspace package at src/ instead of its built dist/), and nothing
 * under node_modules is a test of ours.
 */
export function suiteConfig(test: TestUserConfig): ViteUserConfig {
  return {
    resolve: { conditions: ["fogis-source"] },
    ssr: { resolve: { conditions: ["fogis-source"] } },
    test: { exclude: ["**/node_modules/**"], ...test },
  };
}
