import { decodeSyncRequest } from "@fogis/message-schema";
import {
  buildRedisStatus,
  createBaseApp,
  httpStatusFor,
  jsonErrorHandler,
  metricsHandler,
  type StatusIssue,
  sameSecret,
  type TrustProxy,
} from "@fogis/runtime";
import type { ErrorRequestHandler, Express, RequestHandler } from "express";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { BackendStatus } from "./backends/push-backend.js";
import type { CalendarBackend, StateFileReport } from "./calendar-backend.js";
import type { Phonebook } from "./phonebook.js";
import type { ResyncResult } from "./resync.js";
import { appliedCounts, type SnapshotHandler } from "./snapshot-handler.js";
import type { SyncStats } from "./stats.js";
import { type StatusPageDeps, statusPageRouter } from "./status-page/routes.js";

/** The Redis side as the HTTP surface sees it (implemented by `MatchSubscriber`). */
export interface RedisControl {
  readonly connected: boolean;
  readonly subscribed: boolean;
  roundTrip(timeoutMs?: number): Promise<number>;
  restart(reason?: string): void;
  waitUntilSubscribed(timeoutMs: number): Promise<boolean>;
  details(): Record<string, unknown>;
}

export interface AppDeps {
  logger: Logger;
  /** Every POST needs `Authorization: Bearer <apiToken>`. */
  apiToken: string;
  /** Larger bodies are answered 413. */
  maxBodyBytes: number;
  /** When set, the feeds need `?token=`. */
  feedToken?: string;
  /** TRUST_PROXY (default: the TCP peer is the client). */
  trustProxy?: TrustProxy;
  handler: SnapshotHandler;
  stats: SyncStats;
  calendar: CalendarBackend;
  /** Serves GET /calendar.ics when the backend is a feed. */
  icsFeed?: { renderIcs(): string };
  phonebook: Phonebook;
  /** The feed and every push backend with its status (`BackendFanOut`). */
  backends?: { statuses(): BackendStatus[] };
  /** Absent when REDIS_PUBSUB_ENABLED=false. */
  redis?: RedisControl;
  /** Shown by GET /redis-config (no secrets). */
  redisConfig: Record<string, unknown>;
  resync: (reason: string) => Promise<ResyncResult>;
  metrics: Registry;
  /** Each state file as it is now, and how it loaded at start when that was not ok. */
  stateFiles?: () => Record<string, StateFileReport>;
  /** What else makes /redis-status less than `pass`: another processor, a state file, ... */
  issues?: () => StatusIssue[];
  /** A state file cannot be written (a full disk): /health says `fail` while it lasts. */
  stateWriteIssue?: () => StatusIssue | undefined;
  /** Where the status page (`GET /`, `GET /status.json`) reads what it shows; no page without it. */
  statusPage?: Omit<StatusPageDeps, "feedToken" | "events" | "feedLastFetched">;
  now?: () => Date;
}

const SERVICE = "calendar-sync";
const RESTART_WAIT_MS = 5000;

export function createApp(deps: AppDeps): Express {
  const { logger, stats, handler, redis } = deps;
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const app = createBaseApp({
    logger,
    bodyLimit: `${deps.maxBodyBytes}b`,
    apiToken: deps.apiToken,
    trustProxy: deps.trustProxy,
  });
  const feedAuth = deps.feedToken ? requireFeedToken(deps.feedToken) : passThrough;
  /** When a calendar app last fetched the feed: the page shows it (a phone that stopped polling is a wrong calendar too). */
  let feedLastFetched: Date | undefined;

  app.get("/health", (_req, res) => {
    // Liveness: never depends on Redis (a Redis outage must not get this container restarted), but
    // `fail` (503) while the calendar cannot be saved (a full disk): it would silently stop changing.
    const stateWrites = deps.stateWriteIssue?.();
    res.status(stateWrites ? 503 : 200).json({
      status: stateWrites ? "fail" : "healthy",
      ...(stateWrites ? { reason: stateWrites.message } : {}),
      service: SERVICE,
      timestamp: now().toISOString(),
      uptime_seconds: Math.round((now().getTime() - startedAt.getTime()) / 1000),
      calendar: { backend: deps.calendar.kind, events: deps.calendar.list().length },
      contacts: deps.phonebook.contacts().length,
      last_applied: stats.lastApplied,
      state_files: deps.stateFiles?.(),
      backends: deps.backends?.statuses() ?? [],
    });
  });

  app.get("/redis-status", (_req, res) => {
    const report = buildRedisStatus(
      {
        enabled: redis !== undefined,
        connected: redis?.connected ?? false,
        subscribed: redis?.subscribed ?? false,
        // POST /manual-sync answers whenever this does, so the processor's HTTP fallback always has a target.
        fallbackAvailable: true,
        issues: deps.issues?.() ?? [],
        // The backends are listed, not folded into `status`: that one says whether snapshots reach
        // calendar-sync (the processor's fallback and the rollout gates read it); each backend has its own.
        details: { service: SERVICE, ...redis?.details(), backends: deps.backends?.statuses() ?? [] },
      },
      now(),
    );
    res.status(httpStatusFor(report.status)).json(report);
  });

  app.get("/redis-stats", (_req, res) => {
    res.json({ success: true, timestamp: now().toISOString(), stats: stats.toJSON() });
  });

  app.get("/redis-config", (_req, res) => {
    res.json({ success: true, redis_config: deps.redisConfig });
  });

  app.post("/redis-test", async (_req, res) => {
    if (!redis) {
      res
        .status(503)
        .json({ success: false, error: "Redis pub/sub is disabled (REDIS_PUBSUB_ENABLED=false)" });
      return;
    }
    try {
      const latency = await redis.roundTrip();
      res.json({ success: true, latency_ms: Math.round(latency * 100) / 100 });
    } catch (error) {
      res.status(503).json({ success: false, error: (error as Error).message });
    }
  });

  app.post("/redis-restart", async (_req, res) => {
    if (!redis) {
      res
        .status(409)
        .json({ success: false, error: "Redis pub/sub is disabled (REDIS_PUBSUB_ENABLED=false)" });
      return;
    }
    redis.restart("POST /redis-restart");
    // Let the links drop before waiting for the resubscribe (which resyncs by itself).
    await new Promise((resolve) => setTimeout(resolve, 50));
    if (await redis.waitUntilSubscribed(RESTART_WAIT_MS)) {
      res.json({ success: true, subscribed: true });
      return;
    }
    const resync = await deps.resync("redis-restart without Redis");
    res.status(503).json({
      success: false,
      subscribed: false,
      error: `not resubscribed within ${RESTART_WAIT_MS} ms; reconnecting in the background`,
      resync: resync.source,
    });
  });

  app.post("/manual-sync", async (req, res) => {
    if (req.body === undefined) {
      const reason = "send the snapshot as JSON with Content-Type: application/json";
      await handler.handleDecoded({ ok: false, code: "not_json", reason }, "http");
      res.status(400).json({ success: false, error: reason, code: "not_json" });
      return;
    }
    const decoded = decodeSyncRequest(req.body, "manual-sync", { knownMatches: handler.knownMatches });
    const result = await handler.handleDecoded(decoded, "http");
    if (!result.accepted) {
      res.status(400).json({ success: false, error: result.rejection.reason, code: result.rejection.code });
      return;
    }
    const outcome = result.outcome;
    if (!outcome) {
      res.json({ success: true, status: "recorded" });
      return;
    }
    if (outcome.status === "failed") {
      // Not 2xx: the processor keeps the snapshot and sends it again.
      res.status(500).json({ success: false, status: "failed", error: outcome.error });
      return;
    }
    if (outcome.status === "refused") {
      // Another processor's snapshot: not taken, and its sender must not count it as delivered.
      res.status(409).json({ success: false, status: "refused", error: outcome.reason });
      return;
    }
    if (outcome.status === "stale") {
      // Older than the calendar: not applied, nothing for the sender to send again.
      res.json({
        success: true,
        status: "stale",
        reason: outcome.reason,
        created: 0,
        updated: 0,
        removed: 0,
      });
      return;
    }
    if (outcome.status === "applied" || outcome.status === "unchanged") {
      const { changes, contacts } = outcome;
      res.json({
        success: true,
        status: outcome.status,
        ...appliedCounts(changes, contacts),
        changes: {
          created: changes.created,
          updated: changes.updated,
          removed: changes.removed,
          expired: changes.expired,
        },
      });
      return;
    }
    // skipped (the same snapshot again) or superseded (a newer one won): delivered all the same.
    res.json({ success: true, status: outcome.status, created: 0, updated: 0, removed: 0 });
  });

  app.get("/calendar.ics", feedAuth, (_req, res) => {
    if (!deps.icsFeed) {
      res.status(404).json({ success: false, error: `the ${deps.calendar.kind} backend serves no feed` });
      return;
    }
    res.setHeader("Content-Type", "text/calendar; charset=utf-8");
    res.setHeader("Content-Disposition", 'inline; filename="fogis.ics"');
    res.setHeader("Cache-Control", "no-cache");
    feedLastFetched = now();
    res.send(deps.icsFeed.renderIcs());
  });

  app.get("/contacts.vcf", feedAuth, (_req, res) => {
    res.setHeader("Content-Type", "text/vcard; charset=utf-8");
    res.setHeader("Content-Disposition", 'inline; filename="fogis-domare.vcf"');
    res.setHeader("Cache-Control", "no-cache");
    res.send(deps.phonebook.renderVcf());
  });

  app.get("/metrics", metricsHandler(deps.metrics));

  if (deps.statusPage) {
    app.use(
      statusPageRouter({
        ...deps.statusPage,
        feedToken: deps.feedToken,
        events: () => deps.calendar.list(),
        feedLastFetched: () => feedLastFetched,
      }),
    );
  }

  app.use(countRejectedSyncBodies(handler));
  app.use(jsonErrorHandler(logger));
  return app;
}

/** A /manual-sync body the JSON parser refused (too large, not JSON) is a rejected message too. */
function countRejectedSyncBodies(handler: SnapshotHandler): ErrorRequestHandler {
  return (error, req, _res, next) => {
    if (req.path === "/manual-sync") {
      const type = (error as { type?: string }).type;
      if (type === "entity.too.large") {
        void handler.handleDecoded({ ok: false, code: "too_large", reason: "body over the size limit" });
      } else if (type === "entity.parse.failed") {
        void handler.handleDecoded({ ok: false, code: "not_json", reason: "body is not valid JSON" });
      }
    }
    next(error);
  };
}

const passThrough: RequestHandler = (_req, _res, next) => next();

/** Feeds are fetched by calendar apps, which cannot send headers: the token goes in the URL. */
function requireFeedToken(token: string): RequestHandler {
  return (req, res, next) => {
    if (sameSecret(typeof req.query.token === "string" ? req.query.token : "", token)) {
      next();
      return;
    }
    res.status(401).json({ success: false, error: "add ?token=<FEED_TOKEN> to the feed URL" });
  };
}
