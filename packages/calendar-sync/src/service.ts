import { join } from "node:path";
import { latestEnvelopeKey } from "@fogis/message-schema";
import { createMetricsRegistry, readJsonFile, StateFileWriter } from "@fogis/runtime";
import type { Express } from "express";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { createApp } from "./app.js";
import { createPushBackends } from "./backends/configured.js";
import { BackendFanOut, FEED_BACKEND_NAME } from "./backends/fan-out.js";
import type { GoogleRetryPolicy } from "./backends/google/google-requests.js";
import type { PushBackend, PushSnapshot } from "./backends/push-backend.js";
import type { RetryPolicy } from "./backends/push-runner.js";
import { HistoryPolicy } from "./calendar-backend.js";
import { type CalendarSyncConfig, publicConfig } from "./config.js";
import { FeedCalendarBackend } from "./feed-calendar.js";
import { Phonebook } from "./phonebook.js";
import { RecentChanges } from "./recent-changes.js";
import { fetchLatestEnvelopes, Resynchronizer, type ResyncResult } from "./resync.js";
import { type ApplyOutcome, SnapshotHandler } from "./snapshot-handler.js";
import { type PersistedOrder, SnapshotOrder } from "./snapshot-order.js";
import { SyncStats } from "./stats.js";
import { ProcessorStatusReader } from "./status-page/processor-status.js";
import { MatchSubscriber } from "./subscriber.js";

/**
 * Wires calendar-sync together from its config: state, handler, Redis subscriber, resync and the
 * HTTP app. `src/main.ts` adds only the environment, the logger, listen() and signals; tests build
 * the same service in-process.
 */

export interface CalendarSyncServiceOptions {
  config: CalendarSyncConfig;
  logger: Logger;
  /** Decides which matches count as played. */
  clock?: () => Date;
  /** Used for the processor's GET /matches/latest. */
  fetch?: typeof fetch;
  /** Defaults to a fresh registry with process metrics. */
  metrics?: Registry;
  /** The push backends to run next to the feed; defaults to those the config asks for. */
  pushBackends?: readonly PushBackend[];
  /** Backoff of the push backends' retries (tests shorten it). */
  pushRetry?: Partial<RetryPolicy>;
  /** Backoff of the Google backends' retries within a sync (tests shorten it). */
  googleRetry?: Partial<GoogleRetryPolicy>;
}

export interface CalendarSyncService {
  readonly app: Express;
  readonly handler: SnapshotHandler;
  readonly calendar: FeedCalendarBackend;
  readonly phonebook: Phonebook;
  /** The feed and the push backends, with their statuses. */
  readonly backends: BackendFanOut;
  readonly stats: SyncStats;
  readonly recentChanges: RecentChanges;
  /** Absent when REDIS_PUBSUB_ENABLED=false. */
  readonly subscriber: MatchSubscriber | undefined;
  resync(reason: string): Promise<ResyncResult>;
  /** Connects to Redis in the background, resyncs once, starts polling if configured. Never blocks. */
  start(): void;
  /** Closes the Redis connections and waits for an apply in progress to finish. */
  stop(): Promise<void>;
}

/** How long a resync waits for the command connection before asking the processor over HTTP. */
const REDIS_WAIT_FOR_RESYNC_MS = 1000;
/**
 * The same while the subscriber connection is up: Redis answers, and the command connection, on
 * its own reconnect schedule (backoff up to 2 s), follows within one more attempt, e.g. after a
 * failover. Worth the wait: the HTTP alternative needs our processor (the Python one serves none).
 */
const REDIS_WAIT_FOR_RESYNC_SUBSCRIBED_MS = 3000;
/** How long after start a processor that does not answer yet is expected (both services starting). */
const STARTUP_GRACE_MS = 30_000;
/** After a failed apply (or a failed resync while subscribed), try again from the latest envelope this much later. */
const RETRY_AFTER_FAILED_APPLY_MS = 5000;

export async function createCalendarSyncService(
  options: CalendarSyncServiceOptions,
): Promise<CalendarSyncService> {
  const { config, logger } = options;
  const metrics = options.metrics ?? createMetricsRegistry("calendar-sync");
  const stats = new SyncStats(metrics);
  const history = new HistoryPolicy(config.historyDays);
  const writer = new StateFileWriter(logger);
  const calendar = new FeedCalendarBackend({
    dataDir: config.dataDir,
    logger,
    calendarName: config.calendarName,
    history,
    writer,
  });
  const phonebook = new Phonebook({
    dataDir: config.dataDir,
    logger,
    history,
    ownRefereeNumber: config.ownRefereeNumber,
    writer,
  });
  const backends = new BackendFanOut({
    backends:
      options.pushBackends ??
      createPushBackends({ config, logger, fetch: options.fetch, googleRetry: options.googleRetry }),
    logger,
    metrics,
    retry: options.pushRetry,
    clock: options.clock,
  });
  const stateFiles = {
    calendar: await calendar.load(),
    contacts: await phonebook.load(),
    ...(await backends.load()),
  };
  const currentStateFiles = () => ({
    calendar: calendar.stateFile(),
    contacts: phonebook.stateFile(),
    ...backends.stateFiles(),
  });
  if (stateFiles.calendar.state === "corrupt") backends.feedStateCorrupt(stateFiles.calendar.reason);
  if (stateFiles.calendar.state === "restored") {
    backends.feedStateCorrupt(`${stateFiles.calendar.reason}; the previous generation is served meanwhile`);
  }
  const clock = options.clock ?? (() => new Date());
  const pushSnapshot = (): PushSnapshot => ({
    events: calendar.list(),
    contacts: phonebook.contacts(),
    appliedAt: clock(),
  });
  const recentChanges = new RecentChanges({ dataDir: config.dataDir, logger });
  await recentChanges.load();
  // Which processor epoch and sequence the stored calendar came from, so that after a restart an
  // older envelope (the Redis key, while the HTTP fallback carried newer ones; a replaced epoch) is
  // still refused. The sequence is trusted only when the calendar itself was read back (or its
  // previous generation); otherwise the next snapshot of the epoch must rebuild it.
  const orderPath = join(config.dataDir, "applied_snapshot.json");
  const order = new SnapshotOrder(await readPersistedOrder(orderPath), {
    trustSequence: stateFiles.calendar.state === "ok" || stateFiles.calendar.state === "restored",
  });
  // One save at a time, each of the newest order, so an older one never lands last.
  let savingOrder = Promise.resolve();
  const saveOrder = () => {
    savingOrder = savingOrder
      .then(() => writer.writeJson(orderPath, order.toJSON()))
      .catch((error: Error) =>
        logger.warn({ event: "state_write_failed", file: orderPath, err: error.message }, "could not save"),
      );
  };

  const resyncLater = (reason: string) => {
    void resynchronizer.resync(reason).then((result) => {
      // Subscribed, yet neither the Redis key nor the processor answered (e.g. the command
      // connection still reconnecting after a failover, and no processor at PROCESSOR_URL): what
      // was missed would otherwise wait for the next snapshot. Unsubscribed, the resubscribe resyncs.
      if (result.source === "failed" && subscriber?.subscribed)
        retryAfterFailure("retry after a failed resync");
    });
  };
  let retry: NodeJS.Timeout | undefined;
  const retryAfterFailure = (reason = "retry after a failed apply") => {
    retry ??= setTimeout(() => {
      retry = undefined;
      resyncLater(reason);
    }, RETRY_AFTER_FAILED_APPLY_MS);
    retry.unref();
  };
  const handler = new SnapshotHandler({
    backend: calendar,
    phonebook,
    stats,
    logger,
    maxMessageBytes: config.maxBodyBytes,
    clock: options.clock,
    onSequenceGap: () => resyncLater("sequence gap"),
    onApplyFailed: (error) => {
      backends.feedFailed(error);
      retryAfterFailure();
    },
    onApplied: (changes, contacts) =>
      backends.feedApplied(
        {
          created: changes.created.length,
          updated: changes.updated.length,
          removed: changes.removed.length,
          contactsChanged: contacts.changed,
        },
        pushSnapshot,
      ),
    order,
    onOrderChanged: saveOrder,
    // A live snapshot of an epoch the calendar does not follow: ask the processor whose it is.
    resolveEpoch: async (envelope): Promise<ApplyOutcome> => {
      const result = await resynchronizer.resync("processor epoch changed", envelope);
      return (
        result.live ?? {
          status: "stale",
          reason: `not applied: the resync found ${result.error ?? result.source}`,
        }
      );
    },
    calendarLoaded: stateFiles.calendar.state === "ok" || stateFiles.calendar.state === "restored",
    recentChanges,
  });
  const subscriber = config.redis.enabled
    ? new MatchSubscriber({
        url: config.redis.url,
        sentinel: config.redis.sentinel,
        channels: config.redis.channels,
        logger,
        stats,
        onMessage: (_channel, message) => {
          // The handler never throws by design; if a future bug makes it, one bad message must
          // be counted and logged, never end the process through an unhandled rejection.
          handler.handleMessage(message, "redis").catch((error: unknown) => {
            stats.failed();
            logger.error(
              {
                event: "message_handler_crashed",
                err: error instanceof Error ? error.message : String(error),
              },
              "a message could not be handled",
            );
          });
        },
        onSubscribed: () => resyncLater("subscribed"),
        heartbeatIntervalMs: config.redis.heartbeatIntervalMs,
        heartbeatTimeoutMs: config.redis.heartbeatTimeoutMs,
        connectTimeoutMs: config.redis.connectTimeoutMs,
        commandTimeoutMs: config.redis.commandTimeoutMs,
      })
    : undefined;
  const latestKey = latestEnvelopeKey(config.redis.channels);
  let startingUntil = 0;
  const resynchronizer = new Resynchronizer({
    handler,
    stats,
    logger,
    starting: () => clock().getTime() < startingUntil,
    fetchLatest: async () => {
      // The subscriber connection can come up before the command connection; give it a moment.
      const wait = subscriber?.subscriberLink.isUp
        ? REDIS_WAIT_FOR_RESYNC_SUBSCRIBED_MS
        : REDIS_WAIT_FOR_RESYNC_MS;
      await subscriber?.commandLink.waitUntilUp(wait).catch(() => {});
      return fetchLatestEnvelopes({
        redis: subscriber && { link: subscriber.commandLink, key: latestKey },
        processorUrl: config.processorUrl,
        maxBytes: config.maxBodyBytes,
        fetch: options.fetch,
      });
    },
  });
  const resync = (reason: string) => resynchronizer.resync(reason);

  /** What makes calendar-sync's status less than pass besides the Redis path (/redis-status and the page). */
  const serviceIssues = () => [
    ...handler.issues,
    ...(writer.issue ? [writer.issue] : []),
    ...(calendar.stateIssue ? [calendar.stateIssue] : []),
  ];
  const app = createApp({
    logger,
    apiToken: config.apiToken,
    maxBodyBytes: config.maxBodyBytes,
    feedToken: config.feedToken,
    trustProxy: config.trustProxy,
    handler,
    stats,
    calendar,
    icsFeed: calendar,
    phonebook,
    backends,
    redis: subscriber,
    redisConfig: publicConfig(config),
    resync,
    metrics,
    stateFiles: currentStateFiles,
    issues: serviceIssues,
    stateWriteIssue: () => writer.issue,
    statusPage: {
      // The service's clock, which also decides what is played: "upcoming" agrees with the calendar.
      now: options.clock ?? (() => new Date()),
      refreshSeconds: config.pageRefreshSeconds,
      processor: new ProcessorStatusReader({ processorUrl: config.processorUrl, fetch: options.fetch }),
      subscriber: () => ({
        enabled: subscriber !== undefined,
        subscribed: subscriber?.subscribed ?? false,
        lastSubscribed: subscriber?.lastSubscribedAt,
        lastError: subscriber?.lastError,
      }),
      calendarSync: () => {
        const { lastSuccess, lastFailure, snapshotHash } = handler.health;
        // The calendar's own files; a push backend's state file is in that backend's own status.
        const stateProblems = (["calendar", "contacts"] as const).flatMap((name) => {
          const report = currentStateFiles()[name];
          if (report.state === "corrupt") return [`${name}: ${report.reason}`];
          return report.state === "restored"
            ? [`${name}: ${report.reason} (the previous generation is served)`]
            : [];
        });
        // The same issues /redis-status lists: another processor, a state file that cannot be written, ...
        return { lastSuccess, lastFailure, snapshotHash, stateProblems, issues: serviceIssues() };
      },
      // The feed is the calendar-sync step itself (its apply); the push backends follow it.
      backends: () => backends.statuses().filter((status) => status.name !== FEED_BACKEND_NAME),
      matches: () => handler.currentMatches,
      recentChanges: () => recentChanges.list(),
      lastSynced: () => handler.health.lastSuccess,
    },
  });

  let poll: NodeJS.Timeout | undefined;
  return {
    app,
    handler,
    calendar,
    phonebook,
    backends,
    stats,
    recentChanges,
    subscriber,
    resync,
    start() {
      // The push backends catch up with the calendar as it was saved. Only a calendar read back
      // intact counts: an empty one after a lost state file would delete every pushed event.
      if (stateFiles.calendar.state === "ok") backends.offer(pushSnapshot());
      subscriber?.start();
      startingUntil = clock().getTime() + STARTUP_GRACE_MS;
      // Converge at once even when Redis is down at start (the resync then asks the processor).
      resyncLater("start");
      if (config.processorPollSeconds > 0) {
        poll = setInterval(() => resyncLater("poll"), config.processorPollSeconds * 1000);
        poll.unref();
      }
    },
    async stop() {
      clearInterval(poll);
      clearTimeout(retry);
      await subscriber?.close();
      await handler.idle();
      await backends.stop();
      await recentChanges.flushed();
      await savingOrder;
    },
  };
}

/** `applied_snapshot.json`; one written before epochs (`{sequence, timestamp}`) reads as its timestamp only. */
async function readPersistedOrder(path: string): Promise<PersistedOrder | undefined> {
  const read = await readJsonFile(path);
  if (read.state !== "ok" || typeof read.value !== "object" || read.value === null) return undefined;
  const value = read.value as Record<string, unknown>;
  const epoch = typeof value.processor_epoch === "string" ? value.processor_epoch : undefined;
  const retired = Array.isArray(value.retired)
    ? value.retired.filter(
        (entry): entry is { epoch: string; sequence: number } =>
          typeof entry?.epoch === "string" && typeof entry?.sequence === "number",
      )
    : [];
  return {
    ...(epoch ? { processor_epoch: epoch } : {}),
    ...(epoch && typeof value.sequence === "number" ? { sequence: value.sequence } : {}),
    ...(typeof value.timestamp === "number" && Number.isFinite(value.timestamp)
      ? { timestamp: value.timestamp }
      : {}),
    retired,
  };
}
