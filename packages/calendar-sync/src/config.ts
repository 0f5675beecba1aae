import { type Channels, latestEnvelopeKey, resolveChannels } from "@fogis/message-schema";
import {
  envInteger,
  envUrl,
  type LOG_LEVELS,
  loadConfig,
  redactUrl,
  sharedEnv,
  type TrustProxy,
} from "@fogis/runtime";
import { z } from "zod";

/** calendar-sync's environment (DESIGN §9): the shared variables plus its own. One loader, validated at start. */

const MB = 1024 * 1024;

export const calendarSyncEnv = z.object({
  ...sharedEnv,
  PORT: envInteger(5003, { min: 0, max: 65_535 }),
  PROCESSOR_URL: envUrl(
    ["http:", "https:"],
    "expected http(s)://host:port of the match-processor, e.g. http://match-processor:8000",
  ).default("http://127.0.0.1:8000"),
  USER_REFEREE_NUMBER: z
    .string()
    .regex(/^\s*\S+\s*$/, "expected your FOGIS referee number (domarnr), e.g. 61318")
    .optional(),
  MAX_BODY_BYTES: envInteger(25 * MB, { min: 1024, max: 1024 * MB }),
  PROCESSOR_POLL_SECONDS: envInteger(0, { max: 86_400 }),
  HEARTBEAT_INTERVAL_MS: envInteger(2500, { min: 100, max: 60_000 }),
  HEARTBEAT_TIMEOUT_MS: envInteger(1000, { min: 50, max: 30_000 }),
  CALENDAR_NAME: z.string().default("FOGIS domaruppdrag"),
  /** Played matches stay in the calendar and the phonebook this many days after they ended. */
  HISTORY_DAYS: envInteger(365, { min: 0, max: 3650 }),
  FEED_TOKEN: z
    .string()
    .min(16, "must be at least 16 characters (generate one: openssl rand -hex 24)")
    .optional(),
});

export interface CalendarSyncConfig {
  port: number;
  host: string;
  logLevel: (typeof LOG_LEVELS)[number];
  dataDir: string;
  apiToken: string;
  redis: {
    enabled: boolean;
    url: string;
    channels: Channels;
    heartbeatIntervalMs: number;
    heartbeatTimeoutMs: number;
    connectTimeoutMs: number;
    commandTimeoutMs: number;
  };
  /** Where the latest envelope comes from when Redis cannot give it. */
  processorUrl: string;
  /** Also resync from the processor every this many seconds; 0 = only on (re)subscribe and gaps. */
  processorPollSeconds: number;
  /** USER_REFEREE_NUMBER: left out of the phonebook. */
  ownRefereeNumber: string | undefined;
  /** Largest accepted message, over HTTP (413 beyond) and from Redis (rejected as too_large). */
  maxBodyBytes: number;
  calendarName: string;
  /** HISTORY_DAYS: how long played matches stay in the calendar and the phonebook. */
  historyDays: number;
  /** When set, /calendar.ics and /contacts.vcf need `?token=<FEED_TOKEN>`. */
  feedToken: string | undefined;
  /** TRUST_PROXY: how the client address is found behind a reverse proxy. */
  trustProxy: TrustProxy;
}

/** Reads and validates the environment; throws a `ConfigError` naming every bad variable. */
export function loadCalendarSyncConfig(env: Record<string, string | undefined>): CalendarSyncConfig {
  const raw = loadConfig("calendar-sync", calendarSyncEnv, env);
  return {
    port: raw.PORT,
    host: raw.HOST,
    logLevel: raw.LOG_LEVEL,
    dataDir: raw.DATA_DIR,
    apiToken: raw.API_TOKEN,
    redis: {
      enabled: raw.REDIS_PUBSUB_ENABLED,
      url: raw.REDIS_URL,
      channels: resolveChannels({
        REDIS_MATCH_UPDATES_CHANNEL: raw.REDIS_MATCH_UPDATES_CHANNEL,
        REDIS_PROCESSOR_STATUS_CHANNEL: raw.REDIS_PROCESSOR_STATUS_CHANNEL,
        REDIS_SYSTEM_ALERTS_CHANNEL: raw.REDIS_SYSTEM_ALERTS_CHANNEL,
      }),
      heartbeatIntervalMs: raw.HEARTBEAT_INTERVAL_MS,
      heartbeatTimeoutMs: raw.HEARTBEAT_TIMEOUT_MS,
      // Fail fast rather than hang (DESIGN §5.4): the HTTP paths carry updates meanwhile.
      connectTimeoutMs: 1000,
      commandTimeoutMs: 1000,
    },
    processorUrl: raw.PROCESSOR_URL,
    processorPollSeconds: raw.PROCESSOR_POLL_SECONDS,
    ownRefereeNumber: raw.USER_REFEREE_NUMBER?.trim(),
    maxBodyBytes: raw.MAX_BODY_BYTES,
    calendarName: raw.CALENDAR_NAME,
    historyDays: raw.HISTORY_DAYS,
    feedToken: raw.FEED_TOKEN,
    trustProxy: raw.TRUST_PROXY,
  };
}

/** What `GET /redis-config` and the start-up log show: no secrets, URLs redacted. */
export function publicConfig(config: CalendarSyncConfig): Record<string, unknown> {
  return {
    enabled: config.redis.enabled,
    url: redactUrl(config.redis.url),
    channels: config.redis.channels,
    latest_envelope_key: latestEnvelopeKey(config.redis.channels),
    heartbeat_interval_ms: config.redis.heartbeatIntervalMs,
    heartbeat_timeout_ms: config.redis.heartbeatTimeoutMs,
    connect_timeout_ms: config.redis.connectTimeoutMs,
    command_timeout_ms: config.redis.commandTimeoutMs,
    processor_url: redactUrl(config.processorUrl),
    processor_poll_seconds: config.processorPollSeconds,
    max_message_bytes: config.maxBodyBytes,
  };
}
