export { BackendMetrics } from "./backend-metrics.js";
export { createPushBackends, type PushBackendDeps } from "./configured.js";
export { BackendFanOut, type BackendFanOutOptions, FEED_BACKEND_NAME, type FeedApplied } from "./fan-out.js";
export {
  type BackendStatus,
  emptyPushCounts,
  type PushBackend,
  type PushContext,
  type PushCounts,
  PushError,
  type PushErrorKind,
  type PushSnapshot,
} from "./push-backend.js";
export {
  DEFAULT_RETRY,
  PushRunner,
  type PushRunnerOptions,
  type RetryPolicy,
  scrubCredentials,
} from "./push-runner.js";
