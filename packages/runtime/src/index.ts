// What both services share, by concern. Metrics types (Counter, Registry, ...) come from prom-client
// itself: a package that defines metrics depends on it directly.

// Configuration: the one loader and the shared variables (DESIGN §9).
export {
  ConfigError,
  checkSentinelEnv,
  describeRedisTarget,
  envBoolean,
  envInteger,
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
} from "./config.js";
// State files: atomic writes, reads that tell missing from corrupt.
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
// HTTP: the app factory's base, bearer auth, listen/close and signals.
export {
  type BaseAppOptions,
  closeServer,
  createBaseApp,
  exitOnSignals,
  jsonErrorHandler,
  listen,
  type ShutdownOptions,
} from "./http.js";
export { createLogger, type Logger } from "./logger.js";
export { createMetricsRegistry, metricsHandler } from "./metrics.js";
// One owner per Redis connection.
export { type RedisConnectionInfo, type RedisConnectionOptions, RedisLink } from "./redis.js";
