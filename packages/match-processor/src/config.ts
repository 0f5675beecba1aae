import { type Channels, resolveChannels } from "@fogis/message-schema";
import {
  checkSentinelEnv,
  envInteger,
  envUrl,
  loadConfig,
  redisTargetFrom,
  type SentinelConfig,
  sharedEnv,
  type TrustProxy,
} from "@fogis/runtime";
import { z } from "zod";
import { DEFAULT_MAX_REDIS_MESSAGE_BYTES } from "./delivery.js";
import {
  checkNotificationEnv,
  type NotificationConfig,
  notificationConfigFrom,
  notificationEnv,
} from "./notifications/config.js";

/**
 * The processor's one config loader (DESIGN §9): the shared variables plus the processor's own,
 * validated at start. A bad value stops the service with a message naming the variable.
 */

export const SERVICE_NAME = "match-processor";

/** 25 MiB: a season of matches is a few MB; calendar-sync's MAX_BODY_BYTES has the same default. */
export const DEFAULT_MAX_SOURCE_BYTES = 25 * 1024 * 1024;

const httpUrl = (what: string) =>
  envUrl(["http:", "https:"], `expected an http:// or https:// URL of ${what}`);

export const processorEnvSchema = z
  .object({
    ...sharedEnv,
    PORT: envInteger(8000, { min: 0, max: 65_535 }),
    MATCH_SOURCE_FILE: z.string().optional(),
    FOGIS_API_CLIENT_URL: httpUrl(
      "fogis-api-client-service, e.g. http://fogis-api-client-service:8080",
    ).optional(),
    /** Seconds between cycles; 0 runs a cycle only on POST /process. */
    SERVICE_INTERVAL: envInteger(300, { min: 0, max: 7 * 24 * 3600 }),
    CALENDAR_SYNC_URL: httpUrl("calendar-sync, e.g. http://calendar-sync:5003").default(
      "http://127.0.0.1:5003",
    ),
    /** Re-send an unchanged snapshot when the last confirmed delivery is older than this. */
    SNAPSHOT_HEARTBEAT_SECONDS: envInteger(3600, { min: 1, max: 7 * 24 * 3600 }),
    /** How long a GET of the match list from fogis-api-client-service may take. */
    FOGIS_API_TIMEOUT_SECONDS: envInteger(30, { min: 1, max: 600 }),
    /** The largest match list read (file or HTTP answer); a larger one fails the cycle. */
    MAX_SOURCE_BYTES: envInteger(DEFAULT_MAX_SOURCE_BYTES, { min: 1024, max: 1024 * 1024 * 1024 }),
    /** An empty list after a non-empty one is applied only after this many empty fetches in a row ... */
    EMPTY_LIST_CONFIRM_FETCHES: envInteger(3, { min: 1, max: 1000 }),
    /** ... spanning at least this many seconds. */
    EMPTY_LIST_CONFIRM_SECONDS: envInteger(1800, { min: 0, max: 30 * 24 * 3600 }),
    /** Largest snapshot published over Redis (also capped by Redis's own pub/sub buffer limit). */
    REDIS_MAX_MESSAGE_BYTES: envInteger(DEFAULT_MAX_REDIS_MESSAGE_BYTES, {
      min: 1024,
      max: 512 * 1024 * 1024,
    }),
    ...notificationEnv,
  })
  .superRefine((env, ctx) => {
    checkSentinelEnv(env, ctx);
    checkNotificationEnv(env, ctx);
    if (env.MATCH_SOURCE_FILE && env.FOGIS_API_CLIENT_URL) {
      ctx.addIssue({
        code: "custom",
        path: ["MATCH_SOURCE_FILE"],
        message: "set either MATCH_SOURCE_FILE or FOGIS_API_CLIENT_URL, not both",
      });
    }
  });

export type MatchSourceConfig =
  | { kind: "file"; path: string; maxBytes: number }
  | { kind: "http"; url: string; timeoutMs: number; maxBytes: number }
  | { kind: "demo" };

export interface ProcessorConfig {
  port: number;
  host: string;
  redisUrl: string;
  /** REDIS_SENTINELS + REDIS_SENTINEL_NAME: the master is the one the sentinels name. */
  redisSentinel: SentinelConfig | undefined;
  pubsubEnabled: boolean;
  channels: Channels;
  dataDir: string;
  apiToken: string;
  logLevel: string;
  source: MatchSourceConfig;
  intervalSeconds: number;
  calendarSyncUrl: string;
  heartbeatSeconds: number;
  /** TRUST_PROXY: how the client address is found behind a reverse proxy. */
  trustProxy: TrustProxy;
  emptyListConfirmFetches: number;
  emptyListConfirmSeconds: number;
  maxRedisMessageBytes: number;
  /** DESIGN §12: who is told about changes, in which language, from which priority. */
  notifications: NotificationConfig;
}

/** Reads and validates the environment; throws `ConfigError` (from @fogis/runtime) naming each bad variable. */
export function loadProcessorConfig(env: Record<string, string | undefined>): ProcessorConfig {
  const parsed = loadConfig(SERVICE_NAME, processorEnvSchema, env);
  let source: MatchSourceConfig = { kind: "demo" };
  if (parsed.MATCH_SOURCE_FILE) {
    source = { kind: "file", path: parsed.MATCH_SOURCE_FILE, maxBytes: parsed.MAX_SOURCE_BYTES };
  } else if (parsed.FOGIS_API_CLIENT_URL) {
    source = {
      kind: "http",
      url: parsed.FOGIS_API_CLIENT_URL,
      timeoutMs: parsed.FOGIS_API_TIMEOUT_SECONDS * 1000,
      maxBytes: parsed.MAX_SOURCE_BYTES,
    };
  }
  return {
    port: parsed.PORT,
    host: parsed.HOST,
    redisUrl: parsed.REDIS_URL,
    redisSentinel: redisTargetFrom(parsed).sentinel,
    pubsubEnabled: parsed.REDIS_PUBSUB_ENABLED,
    channels: resolveChannels(env),
    dataDir: parsed.DATA_DIR,
    apiToken: parsed.API_TOKEN,
    logLevel: parsed.LOG_LEVEL,
    source,
    intervalSeconds: parsed.SERVICE_INTERVAL,
    calendarSyncUrl: parsed.CALENDAR_SYNC_URL,
    heartbeatSeconds: parsed.SNAPSHOT_HEARTBEAT_SECONDS,
    trustProxy: parsed.TRUST_PROXY,
    emptyListConfirmFetches: parsed.EMPTY_LIST_CONFIRM_FETCHES,
    emptyListConfirmSeconds: parsed.EMPTY_LIST_CONFIRM_SECONDS,
    maxRedisMessageBytes: parsed.REDIS_MAX_MESSAGE_BYTES,
    notifications: notificationConfigFrom(parsed),
  };
}
