import {
  buildRedisStatus,
  createBaseApp,
  httpStatusFor,
  jsonErrorHandler,
  type Logger,
  metricsHandler,
  type TrustProxy,
} from "@fogis/runtime";
import type { Express } from "express";
import { SERVICE_NAME } from "./config.js";
import { ProcessorStoppedError } from "./cycle-scheduler.js";
import type { SnapshotDelivery } from "./delivery.js";
import type { ChangeNotifier } from "./notifications/index.js";
import type { MatchProcessor } from "./processor.js";

/** The HTTP surface (DESIGN §8), built from its parts so tests drive it in-process. */

export interface AppDeps {
  processor: MatchProcessor;
  delivery: SnapshotDelivery;
  apiToken: string;
  logger: Logger;
  /** Shown on /redis-status; pass it redacted. */
  redisUrl?: string;
  /** TRUST_PROXY (default: the TCP peer is the client). */
  trustProxy?: TrustProxy;
  /** Its targets are shown on /redis-status (never the reason for its overall status). */
  notifier?: ChangeNotifier | null;
}

export function createApp(deps: AppDeps): Express {
  const { processor, delivery, logger } = deps;
  const app = createBaseApp({ logger, apiToken: deps.apiToken, trustProxy: deps.trustProxy });
  const startedAt = Date.now();

  // Liveness, whatever Redis or FOGIS do; `fail` (503) only while the state cannot be saved (a
  // full disk), which no path around it fixes.
  app.get("/health", (_req, res) => {
    const stateWrites = processor.stateWriteIssue;
    res.status(stateWrites ? 503 : 200).json({
      status: stateWrites ? "fail" : "healthy",
      service: SERVICE_NAME,
      timestamp: new Date().toISOString(),
      uptime_seconds: Math.round((Date.now() - startedAt) / 1000),
      ...(stateWrites ? { reason: stateWrites.message } : {}),
    });
  });

  app.get("/redis-status", (_req, res) => {
    const confirmed = processor.lastConfirmedDelivery;
    const last = processor.lastCycle;
    const latest = processor.latestEnvelope;
    const report = buildRedisStatus({
      enabled: delivery.redisEnabled,
      connected: delivery.redisConnected,
      fallbackAvailable: delivery.fallbackAvailable,
      redisCarriesUpdates: delivery.redisCarriesUpdates,
      issues: [...processor.issues, ...delivery.issues],
      details: {
        service: SERVICE_NAME,
        role: "publisher",
        processor_epoch: processor.processorEpoch,
        ...(deps.redisUrl ? { redis_url: deps.redisUrl } : {}),
        // Which Redis the processor publishes to and, with Sentinel, the failovers it followed.
        redis_connection: delivery.redisConnection,
        fallback: delivery.fallbackState,
        delivery: processor.counters,
        last_confirmed_delivery: confirmed
          ? {
              sequence: confirmed.sequence,
              route: confirmed.route,
              delivered_at: confirmed.deliveredAt.toISOString(),
              snapshot_hash: confirmed.snapshotHash,
            }
          : null,
        last_cycle: last
          ? {
              cycle: last.cycle,
              status: last.status,
              outcome: last.outcome,
              started_at: last.started_at,
              duration_ms: last.duration_ms,
              total_matches: last.total_matches,
              input_problems: last.input_problems,
              route: last.delivery.route,
              sequence: last.delivery.sequence,
              ...(last.error ? { error: last.error } : {}),
            }
          : null,
        source: processor.sourceDescription,
        last_successful_fetch: processor.lastSuccessfulFetch?.toISOString() ?? null,
        // The newest snapshot, delivered or not: calendar-sync's status page compares it with the
        // one its calendar holds (a failed delivery that a resync made good is no longer a problem).
        latest_snapshot: latest
          ? {
              sequence: latest.payload.metadata?.sequence ?? null,
              snapshot_hash: latest.payload.metadata?.snapshot_hash ?? null,
              created_at: latest.timestamp,
            }
          : null,
        // One entry per configured target: {name, kind, status, lastSuccess, lastError, …}.
        notifications: deps.notifier?.status ?? [],
      },
    });
    res.status(httpStatusFor(report.status)).json(report);
  });

  app.post("/process", async (req, res) => {
    try {
      if (/^(1|true|yes)$/i.test(String(req.query.resend ?? ""))) processor.requestResend();
      const result = await processor.runCycle("http");
      // 502: the upstream (match source) or the downstream (delivery) failed; the body says which.
      res.status(result.success ? 200 : 502).json(result);
    } catch (error) {
      if (error instanceof ProcessorStoppedError) {
        res.status(503).json({ success: false, error: error.message });
        return;
      }
      throw error;
    }
  });

  app.get("/matches/latest", async (_req, res) => {
    await processor.load();
    const envelope = processor.latestEnvelope;
    if (!envelope) {
      res.status(404).json({
        success: false,
        error: "no snapshot yet: the first cycle has not produced one (POST /process runs a cycle now)",
      });
      return;
    }
    res.json(envelope);
  });

  app.get("/metrics", metricsHandler(processor.metrics.registry));

  app.use((req, res) => {
    res.status(404).json({ success: false, error: `no route for ${req.method} ${req.path}` });
  });
  app.use(jsonErrorHandler(logger));
  return app;
}
