export { BackendMetrics } from "./backend-metrics.js";
export { createPushBackends, type PushBackendDeps } from "./configured.js";
export { BackendFanOut, type BackendFanOutOptions, FEED_BACKEND_NAME, type FeedApplied } from "./fan-out.js";
export { GoogleAuthorization, type GoogleAuthorizationOptions, RECONNECT_FIX } from "./google/google-auth.js";
export {
  GoogleCalendarBackend,
  type GoogleCalendarBackendOptions,
  googleEventId,
  PYTHON_SYNC_TAG,
} from "./google/google-calendar.js";
export {
  fogisExternalId,
  GooglePeopleBackend,
  type GooglePeopleBackendOptions,
} from "./google/google-people.js";
export { DEFAULT_GOOGLE_RETRY, GoogleApiError, type GoogleRetryPolicy } from "./google/google-requests.js";
export {
  CALENDAR_SCOPE,
  CONTACTS_SCOPE,
  formatPythonExpiry,
  type GoogleCredentials,
  parsePythonExpiry,
  readGoogleCredentials,
} from "./google/google-token-file.js";
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
