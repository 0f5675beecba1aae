// What both services share. Metric types (Counter, Registry, ...) come from prom-client itself: a
// package that defines metrics depends on it directly.

// Configuration: the one loader, the shared variables (DESIGN §9), the one yes/no reading.
export {
  ConfigError,
  checkSentinelEnv,
  describeRedisTarget,
  envBoolean,
  envInteger,
  envTrustProxy,
  envUrl,
  LOG_LEVELS,
  loadConfig,
  parseEnvBoolean,
  type RedisTarget,
  redactUrl,
  redisTargetFrom,
  type SentinelAddress,
  type SentinelConfig,
  sharedEnv,
  type TrustProxy,
} from "./config.js";
// State files: atomic writes; reads that tell missing from corrupt.
export {
  type JsonFileRead,
  readJsonFile,
  readStateFile,
  type StateFileRead,
  StateFileWriter,
  writeFileAtomic,
  writeJsonAtomic,
} from "./files.js";
// The one health report (`/redis-status`).
export {
  buildRedisStatus,
  type HealthStatus,
  httpStatusFor,
  type RedisStatusInput,
  type RedisStatusReport,
  type StatusIssue,
} from "./health.js";
// HTTP: the base of each app factory (bearer auth, JSON errors), listen/close, signals, and the
// one comparison of a secret (bearer and feed tokens).
export {
  type BaseAppOptions,
  closeServer,
  createBaseApp,
  exitOnSignals,
  jsonErrorHandler,
  listen,
  type ShutdownOptions,
  sameSecret,
} from "./http.js";
// Bodies and files read with a size limit, stopped as soon as they pass it.
export { BodyTooLargeError, readFileLimited, readResponseBody } from "./limited-body.js";
// The one logger (pino).
export { createLogger, type Logger } from "./logger.js";
// A metrics registry per service instance, and GET /metrics.
export { createMetricsRegistry, metricsHandler } from "./metrics.js";
// The Node/V8 flags every way of starting a service uses.
export { serviceNodeFlags } from "./node-flags.js";
// One owner per Redis connection.
export { type RedisConnectionInfo, type RedisConnectionOptions, RedisLink } from "./redis.js";
// A built service as its own process, and the wait until it serves (pnpm start, bench, tests).
export {
  type ServingVerdict,
  type SpawnServiceOptions,
  spawnService,
  type WaitUntilServingOptions,
  waitUntilServing,
} from "./service-process.js";
