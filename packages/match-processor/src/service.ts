import { rm } from "node:fs/promises";
import { join } from "node:path";
import {
  createMetricsRegistry,
  describeRedisTarget,
  type Logger,
  RedisLink,
  redactUrl,
  StateFileWriter,
} from "@fogis/runtime";
import type { Express } from "express";
import type { Registry } from "prom-client";
import { createApp } from "./app.js";
import type { ProcessorConfig } from "./config.js";
import { SERVICE_NAME } from "./config.js";
import { SnapshotDelivery } from "./delivery.js";
import { type ChangeNotifier, createChangeNotifier, NOTIFICATION_STATE_FILE } from "./notifications/index.js";
import { MatchProcessor } from "./processor.js";
import { createMatchSource, type MatchSource } from "./sources.js";
import { StateStore } from "./state-store.js";

/**
 * Wires match-processor together from its config: Redis link, source, state, delivery, notifier,
 * schedule and the HTTP app. `src/main.ts` adds only the environment, the logger, listen() and
 * signals; tests build the same service in-process.
 */

export interface MatchProcessorServiceOptions {
  config: ProcessorConfig;
  logger: Logger;
  /** Used for the HTTP fallback to calendar-sync and the notification targets. */
  fetch?: typeof fetch;
  /** Defaults to a fresh registry with process metrics. */
  metrics?: Registry;
}

export interface MatchProcessorService {
  readonly app: Express;
  readonly processor: MatchProcessor;
  readonly delivery: SnapshotDelivery;
  /** Null when REDIS_PUBSUB_ENABLED=false. */
  readonly link: RedisLink | null;
  /** Null when no NOTIFY_* target is configured. */
  readonly notifier: ChangeNotifier | null;
  /** What the service runs with, for the start-up log line (no secrets). */
  readonly summary: Record<string, unknown>;
  /**
   * Connects to Redis (the first cycle waits up to a second for it, then uses HTTP), says loudly
   * when the match file cannot be read, loads the saved state and starts the schedule.
   */
  start(): Promise<void>;
  /** Lets the running cycle finish, then closes Redis. */
  stop(): Promise<void>;
}

/** A frozen Redis keeps the connection open; PINGs notice it in seconds, so /redis-status tells the truth and cycles go straight to HTTP. */
const REDIS_HEARTBEAT_MS = 2500;

/** How long start-up waits for Redis before the first cycle (which then uses HTTP). */
const REDIS_GRACE_MS = 1000;

export async function createMatchProcessorService(
  options: MatchProcessorServiceOptions,
): Promise<MatchProcessorService> {
  const { config, logger } = options;
  const link = config.pubsubEnabled
    ? new RedisLink({
        url: config.redisUrl,
        sentinel: config.redisSentinel,
        name: SERVICE_NAME,
        logger,
        heartbeatMs: REDIS_HEARTBEAT_MS,
      })
    : null;
  const delivery = new SnapshotDelivery({
    link,
    channels: config.channels,
    fallbackUrl: config.calendarSyncUrl,
    apiToken: config.apiToken,
    logger,
    maxRedisMessageBytes: config.maxRedisMessageBytes,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const source = createMatchSource(config.source);
  const registry = options.metrics ?? createMetricsRegistry(SERVICE_NAME);
  const notifier = createChangeNotifier(config.notifications, {
    dataDir: config.dataDir,
    logger,
    registry,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  if (!notifier) {
    // Without targets there is no record to keep: one left from before would make notifications,
    // when switched on again, tell weeks of changes the calendar showed long ago.
    await rm(join(config.dataDir, NOTIFICATION_STATE_FILE), { force: true }).catch((error: Error) => {
      logger.warn(
        { event: "notification_state_not_removed", err: error.message },
        "old notification record kept",
      );
    });
  }
  const processor = new MatchProcessor({
    source,
    store: new StateStore(config.dataDir, new StateFileWriter(logger)),
    delivery,
    logger,
    heartbeatMs: config.heartbeatSeconds * 1000,
    emptyListConfirmFetches: config.emptyListConfirmFetches,
    emptyListConfirmMs: config.emptyListConfirmSeconds * 1000,
    registry,
    notifier,
  });
  const app = createApp({
    processor,
    delivery,
    apiToken: config.apiToken,
    logger,
    redisUrl: redactUrl(config.redisUrl),
    trustProxy: config.trustProxy,
    notifier,
  });

  return {
    app,
    processor,
    delivery,
    link,
    notifier,
    summary: {
      source: source.description,
      redis: config.pubsubEnabled
        ? describeRedisTarget({ url: config.redisUrl, sentinel: config.redisSentinel })
        : "disabled",
      fallback: redactUrl(config.calendarSyncUrl),
      intervalSeconds: config.intervalSeconds,
      dataDir: config.dataDir,
      notifications: notifier?.status.map((target) => `${target.kind} ${target.destination}`) ?? [],
    },
    async start() {
      link?.connect();
      if (config.source.kind === "file") await warnIfUnreadable(source, config.intervalSeconds, logger);
      if (link) {
        await link.waitUntilUp(REDIS_GRACE_MS).catch(() => {
          logger.warn(
            { event: "redis_unavailable_at_start", redis: link.target },
            "Redis not reachable yet; snapshots go over HTTP until it is",
          );
        });
      }
      await processor.load();
      await notifier?.load();
      processor.startSchedule(config.intervalSeconds * 1000);
    },
    async stop() {
      await processor.stop();
      await notifier?.stop();
      await link?.close();
    },
  };
}

/**
 * A MATCH_SOURCE_FILE that cannot be read is nearly always a typo or a missing mount. Say so at
 * start, loudly and with the fix, instead of only as a failed cycle in a stream of log lines. The
 * service keeps running: the file is read again every cycle, so fixing it needs no restart.
 */
async function warnIfUnreadable(source: MatchSource, intervalSeconds: number, logger: Logger): Promise<void> {
  try {
    await source.fetchMatches();
  } catch (error) {
    const again =
      intervalSeconds > 0
        ? `it is read again every cycle (SERVICE_INTERVAL=${intervalSeconds} s)`
        : "it is read again on POST /process";
    logger.error(
      { event: "source_unusable", source: source.description, err: (error as Error).message },
      `NO MATCH LIST: ${(error as Error).message}. Fix: point MATCH_SOURCE_FILE at a readable JSON match list (an array, {"matchlista": [...]} or FOGIS' {"d": {"matchlista": [...]}}; a relative path is taken from ${process.cwd()}); ${again}, and the calendar keeps what it has until then`,
    );
  }
}
