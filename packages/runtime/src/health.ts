/**
 * The one health-report builder. `/redis-status` keeps the Python services' fields and adds an
 * overall `status`: `pass` when Redis pub/sub works (or is switched off on purpose), `warn` when
 * Redis is down but the HTTP fallback carries updates, `fail` when neither path works.
 */

export type HealthStatus = "pass" | "warn" | "fail";

/**
 * Something besides the delivery path that makes a service's answer less than `pass`: a state file
 * that cannot be written, a second publisher on the channel, a match list held back. `code` is
 * stable (for scripts and the status page); `message` says what is wrong and what to do.
 */
export interface StatusIssue {
  status: "warn" | "fail";
  code: string;
  message: string;
  /** ISO-8601: since when it has been so. */
  since?: string;
}

const SEVERITY: Record<HealthStatus, number> = { pass: 0, warn: 1, fail: 2 };

/** The worse of the statuses given. */
export function worstStatus(...statuses: HealthStatus[]): HealthStatus {
  return statuses.reduce<HealthStatus>((worst, s) => (SEVERITY[s] > SEVERITY[worst] ? s : worst), "pass");
}

export interface RedisStatusInput {
  enabled: boolean;
  connected: boolean;
  /** Subscriber only: whether the subscription is active. Omit for a publisher. */
  subscribed?: boolean;
  /** Whether the HTTP path can carry updates when Redis does not. */
  fallbackAvailable: boolean;
  /**
   * False when Redis is connected but does not carry updates (it refuses writes, a message is too
   * large for it): the path is then HTTP and the status at best `warn`. Default true.
   */
  redisCarriesUpdates?: boolean;
  /** Problems besides the path; the overall status is the worst of the path's and theirs. */
  issues?: StatusIssue[];
  /** Extra fields shown alongside (never secrets). */
  details?: Record<string, unknown>;
}

export interface RedisStatusReport {
  success: boolean;
  timestamp: string;
  status: HealthStatus;
  redis_status: { enabled: boolean; connected: boolean; subscribed: boolean; redis_available: boolean };
  delivery_path: "redis" | "http" | "none";
  /** Why the status is not `pass`, besides the path (empty when nothing else is wrong). */
  issues: StatusIssue[];
  [key: string]: unknown;
}

export function buildRedisStatus(input: RedisStatusInput, now = new Date()): RedisStatusReport {
  const redisWorks =
    input.enabled && input.connected && input.subscribed !== false && input.redisCarriesUpdates !== false;
  let status: HealthStatus;
  let path: RedisStatusReport["delivery_path"];
  if (redisWorks) {
    status = "pass";
    path = "redis";
  } else if (!input.enabled) {
    status = input.fallbackAvailable ? "pass" : "fail";
    path = input.fallbackAvailable ? "http" : "none";
  } else {
    status = input.fallbackAvailable ? "warn" : "fail";
    path = input.fallbackAvailable ? "http" : "none";
  }
  const issues = input.issues ?? [];
  status = worstStatus(status, ...issues.map((issue) => issue.status));
  return {
    ...input.details,
    success: status !== "fail",
    timestamp: now.toISOString(),
    status,
    redis_status: {
      enabled: input.enabled,
      connected: input.enabled && input.connected,
      subscribed: input.subscribed ?? false,
      redis_available: input.enabled && input.connected,
    },
    delivery_path: path,
    issues,
  };
}

/** HTTP status for a report: 503 when it fails (no path carries updates, or an issue that fails it). */
export function httpStatusFor(status: HealthStatus): number {
  return status === "fail" ? 503 : 200;
}
