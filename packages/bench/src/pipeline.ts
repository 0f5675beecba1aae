import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import {
  type CalendarSyncService,
  createCalendarSyncService,
  loadCalendarSyncConfig,
  type MessageResult,
} from "@fogis/calendar-sync";
import { SnapshotDelivery } from "@fogis/match-processor";
import {
  type Channels,
  createProcessingStatusEnvelope,
  type MatchUpdatesEnvelope,
  type ProcessingStatusEnvelope,
} from "@fogis/message-schema";
import { type Logger, RedisLink } from "@fogis/runtime";
import { freePort } from "@fogis/testing";
import { type BenchContext, benchChannels } from "./context.js";
import { deadline, type MessagePath } from "./drivers.js";
import { waitFor } from "./processes.js";

/**
 * A calendar-sync that only pushes (no Redis; nothing listens at its processor URL), with the push
 * target in `pushEnv` (CALDAV_* or GOOGLE_*): the service the push benchmarks hand snapshots to.
 */
export async function pushOnlyCalendarSync(
  ctx: Pick<BenchContext, "apiToken" | "calendarLogger">,
  dataDir: string,
  pushEnv: Record<string, string>,
  fetch?: typeof globalThis.fetch,
): Promise<CalendarSyncService> {
  return createCalendarSyncService({
    config: loadCalendarSyncConfig({
      API_TOKEN: ctx.apiToken,
      DATA_DIR: dataDir,
      REDIS_PUBSUB_ENABLED: "false",
      PROCESSOR_URL: `http://127.0.0.1:${await freePort()}`,
      ...pushEnv,
    }),
    logger: ctx.calendarLogger,
    ...(fetch ? { fetch } : {}),
  });
}

/**
 * The project's path, from the services' own code: on one side the processor's `SnapshotDelivery`
 * on a `RedisLink` (status messages through `publishEvent`, snapshots through `deliverSnapshot`:
 * SET latest + PUBLISH in one MULTI), on the other calendar-sync as `createCalendarSyncService`
 * builds it (its `MatchSubscriber` hands each message to the `SnapshotHandler`, which decodes,
 * validates and applies it to the calendar and phonebook files in DATA_DIR), minus only the HTTP
 * listener. The processor's cycle around the delivery (fetch, change detection) is measured apart.
 */

export interface ProjectPipelineOptions {
  redisUrl: string;
  channels: Channels;
  /** calendar-sync's DATA_DIR goes under here. */
  dataRoot: string;
  processorLogger: Logger;
  calendarLogger: Logger;
  apiToken: string;
}

export class ProjectPipeline implements MessagePath {
  readonly label = "project (SnapshotDelivery -> Redis -> calendar-sync)";
  handled: () => void = () => {};
  readonly delivery: SnapshotDelivery;
  private readonly link: RedisLink;
  private readonly service: CalendarSyncService;
  private onResult: ((result: MessageResult) => void) | undefined;
  private failure: Error | undefined;
  private sent = 0;

  private constructor(options: ProjectPipelineOptions, service: CalendarSyncService) {
    this.link = new RedisLink({
      url: options.redisUrl,
      name: "match-processor",
      logger: options.processorLogger,
    });
    this.delivery = new SnapshotDelivery({
      link: this.link,
      channels: options.channels,
      fallbackUrl: null,
      apiToken: options.apiToken,
      logger: options.processorLogger,
    });
    this.service = service;
    // The subscriber calls handler.handleMessage for every message; see each result as it settles.
    const handler = service.handler;
    const handleMessage = handler.handleMessage.bind(handler);
    handler.handleMessage = (raw, origin) =>
      handleMessage(raw, origin).then((result) => {
        this.received(result);
        return result;
      });
  }

  /** The pipeline on the bench's Redis, with channels of its own and the bench's loggers and token. */
  static async forBench(ctx: BenchContext, dataRoot: string): Promise<ProjectPipeline> {
    return ProjectPipeline.start({
      redisUrl: ctx.redis.url,
      channels: benchChannels(),
      dataRoot,
      processorLogger: ctx.processorLogger,
      calendarLogger: ctx.calendarLogger,
      apiToken: ctx.apiToken,
    });
  }

  /** Connects both sides and waits until calendar-sync is subscribed and done with its start-up resyncs. */
  static async start(options: ProjectPipelineOptions): Promise<ProjectPipeline> {
    const config = loadCalendarSyncConfig({
      REDIS_URL: options.redisUrl,
      REDIS_MATCH_UPDATES_CHANNEL: options.channels.matchUpdates,
      REDIS_PROCESSOR_STATUS_CHANNEL: options.channels.processorStatus,
      REDIS_SYSTEM_ALERTS_CHANNEL: options.channels.systemAlerts,
      DATA_DIR: mkdtempSync(join(options.dataRoot, "calendar-sync-")),
      API_TOKEN: options.apiToken,
      // Nothing listens there: a resync that finds no envelope in Redis gives up at once.
      PROCESSOR_URL: `http://127.0.0.1:${await freePort()}`,
    });
    const service = await createCalendarSyncService({ config, logger: options.calendarLogger });
    const pipeline = new ProjectPipeline(options, service);
    pipeline.link.connect();
    service.start();
    await pipeline.link.waitUntilUp(5000);
    await waitFor("calendar-sync to subscribe and resync", 10_000, async () => {
      const resyncs = Object.values(service.stats.resyncs).reduce((sum, n) => sum + n, 0);
      return service.subscriber?.subscribed === true && resyncs >= 2;
    });
    await service.handler.idle();
    return pipeline;
  }

  /**
   * What the processor publishes around every cycle: a processing_status envelope, "started"
   * (~270 B) and "completed" (~420 B) in turn.
   */
  async send(): Promise<void> {
    this.sent += 1;
    const sent = await this.delivery.publishEvent(cycleStatusEnvelope(this.sent));
    if (!sent) throw new Error("SnapshotDelivery.publishEvent did not publish: the Redis link is down");
  }

  /**
   * Delivers `envelope` through the processor's delivery code and answers the ms until calendar-sync
   * has applied it, and the handler's result.
   */
  async timeSnapshot(
    envelope: MatchUpdatesEnvelope,
    timeoutMs: number,
  ): Promise<{ ms: number; result: MessageResult }> {
    const handled = new Promise<{ at: number; result: MessageResult }>((resolve) => {
      this.onResult = (result) => resolve({ at: performance.now(), result });
    });
    const started = performance.now();
    const delivered = await this.delivery.deliverSnapshot(envelope);
    if (!delivered.confirmed || delivered.route !== "redis") {
      throw new Error(
        `snapshot not delivered through Redis: ${delivered.errors.join("; ") || delivered.route}`,
      );
    }
    const { at, result } = await deadline(handled, timeoutMs, () => "snapshot not applied by calendar-sync");
    this.onResult = undefined;
    return { ms: at - started, result };
  }

  /** Renders calendar-sync's feed as GET /calendar.ics does (it is cached until the next change); answers ms. */
  timeFeedRender(): number {
    const started = performance.now();
    this.service.calendar.renderIcs();
    return performance.now() - started;
  }

  /** Throws the first problem seen by the receiving side (a rejected or failed message). */
  assertHealthy(): void {
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    await this.service.stop();
    await this.link.close();
  }

  private received(result: MessageResult): void {
    if (!result.accepted) {
      this.failure ??= new Error(`calendar-sync rejected a message: ${result.rejection.reason}`);
    } else if (result.outcome?.status === "failed") {
      this.failure ??= new Error(`calendar-sync failed to apply a snapshot: ${result.outcome.error}`);
    }
    this.onResult?.(result);
    this.handled();
  }
}

/**
 * The `n`th status message of a processor's run: odd ones announce a cycle, even ones report it
 * finished, with the details MatchProcessor puts in them.
 */
export function cycleStatusEnvelope(n: number): ProcessingStatusEnvelope {
  const cycle = Math.ceil(n / 2);
  if (n % 2 === 1) {
    return createProcessingStatusEnvelope({
      source: "match-processor",
      status: "started",
      details: { cycle, trigger: "interval" },
    });
  }
  return createProcessingStatusEnvelope({
    source: "match-processor",
    status: "completed",
    details: {
      cycle,
      trigger: "interval",
      outcome: "delivered",
      changes: { new: 1, updated: 2, removed: 0, played: 0, total: 3 },
      route: "redis",
      sequence: cycle,
      matches_processed: 38,
    },
  });
}
