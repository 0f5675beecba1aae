/**
 * The one health-report builder. `/redis-status` keeps the Python services' fields and adds an
 * overall `status`: `pass` when Redis pub/sub works (or is switched off on purpose), `warn` when
 * Redis is down but the HTTP fallback carries updates, `fail` when neither path works.
 */

export type HealthStatus = "pass" | "warn" | "fail";

export interface RedisStatusInput {
  enabled: boolean;
  connected: boolean;
  /** Subscriber only: whether the subscription is active. Omit for a publisher. */
  subscribed?: boolean;
  /** Whether the HTTP path can carry updates when Redis does not. */
  fallbackAvailable: boolean;
  /** Extra fields shown alongside (never secrets). */
  details?: Record<string, unknown>;
}

export interface RedisStatusReport {
  success: boolean;
  timestamp: string;
  status: HealthStatus;
  redis_status: { enabled: boolean; connected: boolean; subscribed: boolean; redis_available: boolean };
  delivery_path: "redis" | "http" | "none";
  [key: string]: unknown;
}

export function buildRedisStatus(input: RedisStatusInput, now = new Date()): RedisStatusReport {
  const redisWorks = input.enabled && input.connected && input.subscribed !== false;
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
  };
}

/** HTTP status for a report: 503 only when no path carries updates. */
export function httpStatusFor(status: HealthStatus): number {
  return status === "fail" ? 503 : 200;
}
