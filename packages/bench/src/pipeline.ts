import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import {
  FeedCalendarBackend,
  MatchSubscriber,
  type MessageResult,
  Phonebook,
  SnapshotHandler,
  SyncStats,
} from "@fogis/calendar-sync";
import { SnapshotDelivery } from "@fogis/match-processor";
import {
  type Channels,
  createProcessingStatusEnvelope,
  type MatchUpdatesEnvelope,
  type ProcessingStatusEnvelope,
} from "@fogis/message-schema";
import { createMetricsRegistry, type Logger, RedisLink } from "@fogis/runtime";
import { deadline, type MessagePath } from "./drivers.js";

/**
 * The project's path, built from the services' own public classes and wired the way their
 * service.ts files wire them: the processor's `SnapshotDelivery` on a `RedisLink` (status messages
 * through `publishEvent`, snapshots through `deliverSnapshot`: SET latest + PUBLISH in one
 * MULTI), and calendar-sync's `MatchSubscriber` handing each message to a `SnapshotHandler` that
 * decodes, validates and applies it to a `FeedCalendarBackend` and `Phonebook` on disk.
 *
 * Left out on purpose: calendar-sync's resync on (re)subscribe (the bench's Redis never drops) and
 * the processor's cycle around the delivery (fetch and change detection are measured apart).
 */

export interface ProjectPipelineOptions {
  redisUrl: string;
  channels: Channels;
  /** Each fresh calendar gets its own DATA_DIR under here. */
  dataRoot: string;
  processorLogger: Logger;
  calendarLogger: Logger;
  apiToken: string;
}

interface CalendarSide {
  handler: SnapshotHandler;
  calendar: FeedCalendarBackend;
}

export class ProjectPipeline implements MessagePath {
  readonly label = "project (SnapshotDelivery -> Redis -> MatchSubscriber -> SnapshotHandler)";
  handled: () => void = () => {};
  readonly delivery: SnapshotDelivery;
  private readonly link: RedisLink;
  private readonly subscriber: MatchSubscriber;
  private readonly stats: SyncStats;
  private readonly options: ProjectPipelineOptions;
  private side: CalendarSide;
  private onResult: ((result: MessageResult) => void) | undefined;
  private failure: Error | undefined;
  private sent = 0;

  private constructor(options: ProjectPipelineOptions) {
    this.options = options;
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
    this.stats = new SyncStats(createMetricsRegistry("calendar-sync"));
    this.side = this.newCalendarSide();
    this.subscriber = new MatchSubscriber({
      url: options.redisUrl,
      channels: options.channels,
      logger: options.calendarLogger,
      stats: this.stats,
      onMessage: (_channel, message) => {
        void this.side.handler.handleMessage(message, "redis").then((result) => this.received(result));
      },
      onSubscribed: () => {},
    });
  }

  static async start(options: ProjectPipelineOptions): Promise<ProjectPipeline> {
    const pipeline = new ProjectPipeline(options);
    pipeline.link.connect();
    pipeline.subscriber.start();
    await pipeline.link.waitUntilUp(5000);
    if (!(await pipeline.subscriber.waitUntilSubscribed(5000))) {
      throw new Error("calendar-sync's MatchSubscriber did not subscribe within 5 s");
    }
    return pipeline;
  }

  /**
   * What the processor publishes around every cycle: a processing_status envelope, "started"
   * (~250 B) and "completed" (~420 B) in turn.
   */
  async send(): Promise<void> {
    this.sent += 1;
    const sent = await this.delivery.publishEvent(cycleStatusEnvelope(this.sent));
    if (!sent) throw new Error("SnapshotDelivery.publishEvent did not publish: the Redis link is down");
  }

  /** Starts over with an empty calendar in a new DATA_DIR (for cold applies). */
  freshCalendar(): void {
    this.side = this.newCalendarSide();
  }

  /** The events in the calendar now. */
  get eventCount(): number {
    return this.side.calendar.list().length;
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

  /** Throws the first problem seen by the receiving side (a rejected or failed message). */
  assertHealthy(): void {
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    await this.subscriber.close();
    await this.side.handler.idle();
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

  private newCalendarSide(): CalendarSide {
    const dataDir = mkdtempSync(join(this.options.dataRoot, "calendar-"));
    const logger = this.options.calendarLogger;
    const calendar = new FeedCalendarBackend({ dataDir, logger, calendarName: "FOGIS domaruppdrag" });
    const phonebook = new Phonebook({ dataDir, logger });
    const handler = new SnapshotHandler({
      backend: calendar,
      phonebook,
      stats: this.stats,
      logger,
      maxMessageBytes: 25 * 1024 * 1024,
    });
    return { handler, calendar };
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
