/** How much each benchmark does: `full` for `pnpm bench` (under 3 minutes on 2 cores), `smoke` for CI. */
export interface Profile {
  name: "full" | "smoke";
  /** Unmeasured rounds first, so the JIT has compiled the hot paths. */
  warmupRounds: number;
  throughputMessages: number;
  throughputRounds: number;
  /** Publishes in flight at once while measuring throughput. */
  throughputWindow: number;
  latencyRatePerSecond: number;
  latencyDurationMs: number;
  latencyRounds: number;
  snapshotMatches: number;
  snapshotRounds: number;
  coldSnapshotRounds: number;
  detectionMatches: number;
  detectionRounds: number;
  fallbackRounds: number;
  memoryRounds: number;
  /** How long the services sit idle before their idle RSS is read. */
  memorySettleMs: number;
  redisBenchmarkRequests: number;
  redisBenchmarkRounds: number;
  /** Events in the referee's CalDAV calendar (Radicale) before one of them changes. */
  caldavMatches: number;
  caldavRounds: number;
  /** Matches in the referee's Google account (the stand-in) before one of them changes. */
  googleMatches: number;
  googleRounds: number;
}

export const FULL: Profile = {
  name: "full",
  warmupRounds: 1,
  throughputMessages: 20_000,
  throughputRounds: 5,
  throughputWindow: 100,
  latencyRatePerSecond: 1000,
  latencyDurationMs: 3000,
  latencyRounds: 5,
  snapshotMatches: 1000,
  snapshotRounds: 9,
  coldSnapshotRounds: 5,
  detectionMatches: 10_000,
  detectionRounds: 10,
  fallbackRounds: 7,
  memoryRounds: 3,
  memorySettleMs: 1000,
  redisBenchmarkRequests: 100_000,
  redisBenchmarkRounds: 3,
  caldavMatches: 200,
  caldavRounds: 9,
  googleMatches: 200,
  googleRounds: 5,
};

/** Every benchmark once or twice on small inputs: proves the code runs, measures nothing worth keeping. */
export const SMOKE: Profile = {
  name: "smoke",
  warmupRounds: 0,
  throughputMessages: 300,
  throughputRounds: 1,
  throughputWindow: 100,
  latencyRatePerSecond: 1000,
  latencyDurationMs: 200,
  latencyRounds: 1,
  snapshotMatches: 50,
  snapshotRounds: 1,
  coldSnapshotRounds: 1,
  detectionMatches: 500,
  detectionRounds: 1,
  fallbackRounds: 1,
  memoryRounds: 1,
  memorySettleMs: 100,
  redisBenchmarkRequests: 1000,
  redisBenchmarkRounds: 1,
  caldavMatches: 20,
  caldavRounds: 1,
  googleMatches: 20,
  googleRounds: 1,
};
