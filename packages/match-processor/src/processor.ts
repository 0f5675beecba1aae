import {
  createProcessingStatusEnvelope,
  createSystemAlertEnvelope,
  type Envelope,
  type Match,
  type MatchUpdatesEnvelope,
  type SystemAlertInput,
  snapshotHash,
} from "@fogis/message-schema";
import { createMetricsRegistry, type Logger, type StatusIssue } from "@fogis/runtime";
import type { Registry } from "prom-client";
import { type ChangeSet, detectChanges } from "./change-detector.js";
import { SERVICE_NAME } from "./config.js";
import {
  announceCycle,
  type CycleContext,
  type CycleOutcomeDetails,
  type CycleResult,
  NO_DELIVERY,
  NO_INPUT_PROBLEMS,
  nothingPublished,
  type PublishReason,
} from "./cycle-result.js";
import { CycleScheduler } from "./cycle-scheduler.js";
import type { SnapshotDelivery } from "./delivery.js";
import { demoListRefusal } from "./demo-matches.js";
import { EmptyListHold } from "./empty-list-hold.js";
import { InputProblemReport } from "./input-problems.js";
import { describeInvalidMatch, MatchListValidator } from "./match-list.js";
import { type DeliveryCounters, ProcessorMetrics } from "./metrics.js";
import type { ChangeNotifier } from "./notifications/index.js";
import { SnapshotLedger } from "./snapshot-ledger.js";
import { type MatchSource, MatchSourceError } from "./sources.js";
import type { ConfirmedDelivery, LoadedState, StateStore } from "./state-store.js";

/**
 * One processing cycle: fetch the list, detect changes against the last *delivered* list, and
 * deliver a full snapshot. The baseline and the confirmed sequence advance only after a confirmed
 * delivery, so an undelivered change is detected again and resent by the next cycle.
 *
 * A cycle publishes when there are changes, when the previous snapshot was never confirmed, when
 * nothing was ever delivered, or when the last confirmed delivery is older than the heartbeat
 * interval (so a calendar that lost an update converges without waiting for the next change).
 *
 * Cycles never overlap: a cycle asked for while one runs waits for it and then runs once more
 * (several such requests share that one follow-up cycle).
 */

export interface MatchProcessorOptions {
  source: MatchSource;
  store: StateStore;
  delivery: SnapshotDelivery;
  logger: Logger;
  /** Re-send an unchanged snapshot when the last confirmed delivery is older than this. Default 1 h. */
  heartbeatMs?: number;
  /** `source` field of the envelopes. Default "match-processor". */
  envelopeSource?: string;
  /**
   * An empty list after a non-empty one is held back (the calendar keeps its events) until this
   * many consecutive fetches answered it empty ... Default 3.
   */
  emptyListConfirmFetches?: number;
  /** ... over at least this long. Default 30 minutes. */
  emptyListConfirmMs?: number;
  /** Metrics are registered here; a fresh registry (with process metrics) by default. */
  registry?: Registry;
  /** Tells the referee about changes (DESIGN §12); its owner starts and stops it. */
  notifier?: ChangeNotifier | null;
  now?: () => Date;
}

export class MatchProcessor {
  readonly metrics: ProcessorMetrics;
  private readonly source: MatchSource;
  private readonly store: StateStore;
  private readonly delivery: SnapshotDelivery;
  private readonly logger: Logger;
  private readonly envelopeSource: string;
  private readonly emptyListHold: EmptyListHold;
  private readonly now: () => Date;
  private readonly notifier: ChangeNotifier | null;

  private loading: Promise<void> | null = null;
  /** Why the configured source is not used (the demo list after a real one), or null. */
  private sourceRefusal: string | null = null;
  /** What was handed out and confirmed: baseline, sequence, epoch, the state files. */
  private readonly ledger: SnapshotLedger;
  private cycleCount = 0;
  /** Validates the list entry by entry, keeping the last good version of a bad match. */
  private readonly validator = new MatchListValidator();
  /** Counts, logs and alerts the entries of the list that did not validate. */
  private readonly inputProblems: InputProblemReport;
  private lastResult: CycleResult | null = null;
  private lastFetchOk: Date | null = null;

  private readonly scheduler: CycleScheduler<CycleResult>;
  private readonly inFlightEvents = new Set<Promise<unknown>>();

  constructor(options: MatchProcessorOptions) {
    this.source = options.source;
    this.store = options.store;
    this.delivery = options.delivery;
    this.logger = options.logger.child({ component: "processor" });
    this.envelopeSource = options.envelopeSource ?? SERVICE_NAME;
    this.now = options.now ?? (() => new Date());
    this.notifier = options.notifier ?? null;
    this.emptyListHold = new EmptyListHold({
      confirmFetches: Math.max(1, options.emptyListConfirmFetches ?? 3),
      confirmMs: options.emptyListConfirmMs ?? 30 * 60_000,
      sourceDescription: this.source.description,
      logger: this.logger,
      alert: (input) => this.alert(input),
    });
    this.metrics = new ProcessorMetrics(options.registry ?? createMetricsRegistry(SERVICE_NAME));
    this.inputProblems = new InputProblemReport({
      metrics: this.metrics,
      sourceDescription: this.source.description,
      logger: this.logger,
      alert: (input) => this.alert(input),
    });
    this.scheduler = new CycleScheduler({ cycle: (trigger) => this.cycle(trigger), logger: this.logger });
    this.ledger = new SnapshotLedger({
      store: this.store,
      source: this.source,
      metrics: this.metrics,
      logger: this.logger,
      alert: (input) => this.alert(input),
      heartbeatMs: options.heartbeatMs ?? 3_600_000,
      envelopeSource: this.envelopeSource,
    });
    this.delivery.onRedisUp(() => this.onRedisUp());
  }

  /** The newest envelope created (delivered or not), or null before the first one. */
  get latestEnvelope(): MatchUpdatesEnvelope | null {
    return this.ledger.latest;
  }

  get lastCycle(): CycleResult | null {
    return this.lastResult;
  }

  /** When the match list was last fetched and read without error (the status page's "last worked"). */
  get lastSuccessfulFetch(): Date | null {
    return this.lastFetchOk;
  }

  get lastConfirmedDelivery(): ConfirmedDelivery | null {
    return this.ledger.confirmed;
  }

  get counters(): DeliveryCounters {
    return this.metrics.counters;
  }

  get sourceDescription(): string {
    return this.source.description;
  }

  /** This processor's epoch (empty before the state is loaded). */
  get processorEpoch(): string {
    return this.ledger.epoch;
  }

  /** A `fail` issue while a state file cannot be written (a full disk), else undefined. */
  get stateWriteIssue(): StatusIssue | undefined {
    return this.store.writer.issue;
  }

  /** What keeps the processor from doing its job, for /redis-status (besides the delivery path). */
  get issues(): StatusIssue[] {
    const issues: StatusIssue[] = [];
    if (this.sourceRefusal) {
      issues.push({ status: "fail", code: "demo_source_refused", message: this.sourceRefusal });
    }
    const heldList = this.emptyListHold.issue;
    if (heldList) issues.push(heldList);
    const writes = this.store.writer.issue;
    if (writes) issues.push(writes);
    return issues;
  }

  /** Reads the state files once; later calls answer the same promise. */
  load(): Promise<void> {
    this.loading ??= this.loadState();
    return this.loading;
  }

  /**
   * The next cycle sends the current snapshot even if nothing changed (an operator's drill, or a
   * calendar to rebuild): `POST /process?resend=true`.
   */
  requestResend(): void {
    this.ledger.requestResend();
  }

  /** Runs a cycle now, or right after the running one (cycles never overlap). */
  runCycle(trigger = "manual"): Promise<CycleResult> {
    return this.scheduler.run(trigger);
  }

  /** Runs a cycle now and then every `intervalMs` after the previous one ends; 0 disables. */
  startSchedule(intervalMs: number): void {
    this.scheduler.start(intervalMs);
  }

  /**
   * Stops the schedule and lets the running cycle finish. A cycle still running after `graceMs`
   * (a FOGIS fetch can take long) has its fetch or delivery abandoned, so the service exits within
   * its shutdown deadline; an abandoned snapshot is not confirmed and is sent again after restart.
   */
  async stop({ graceMs = 5000 }: { graceMs?: number } = {}): Promise<void> {
    await this.scheduler.stop(graceMs);
    await Promise.allSettled([...this.inFlightEvents]);
  }

  private async loadState(): Promise<void> {
    const state = await this.ledger.load();
    this.sourceRefusal = this.refuseDemoAfterRealSource(state);
    for (const problem of state.problems) {
      this.logger.error({ event: "state_file_corrupt", problem }, "state file unusable; read as empty");
      this.alert({
        alertType: "state_file_corrupt",
        severity: "warning",
        message: `state file unusable, read as empty (matches will be resent in full): ${problem}`,
      });
    }
    // The link may have come up before the state was loaded.
    if (this.delivery.redisConnected) this.onRedisUp();
    this.logger.info(
      { event: "state_loaded", dataDir: this.store.dataDir, ...this.ledger.loadedSummary() },
      "state loaded",
    );
  }

  /** The demo list after a real source: refused (see `demoListRefusal`), and logged. */
  private refuseDemoAfterRealSource(state: LoadedState): string | null {
    const refusal = this.source.kind === "demo" ? demoListRefusal(state, this.store.dataDir) : null;
    if (!refusal) return null;
    const { message, cameFrom } = refusal;
    this.logger.error({ event: "demo_source_refused", dataDir: this.store.dataDir, cameFrom }, message);
    return message;
  }

  private async cycle(trigger: string): Promise<CycleResult> {
    await this.load();
    await this.ledger.saveUnsaved();
    const context: CycleContext = {
      cycle: ++this.cycleCount,
      trigger,
      started: this.now(),
      clock: performance.now(),
    };
    this.emit(
      createProcessingStatusEnvelope({
        source: this.envelopeSource,
        status: "started",
        details: { cycle: context.cycle, trigger },
      }),
    );
    return this.finish(context, await this.process(context));
  }

  /** Fetch, validate, detect, decide, deliver, confirm. */
  private async process(context: CycleContext): Promise<CycleOutcomeDetails> {
    let entries: readonly unknown[];
    try {
      if (this.sourceRefusal) throw new MatchSourceError("demo_refused", this.sourceRefusal);
      entries = await this.source.fetchMatches(this.scheduler.signal);
    } catch (error) {
      return this.sourceFailed(context, error);
    }
    // A bad match falls back on the delivered baseline too: an empty answer held back by
    // holdSuspectEmptyList must not make the validator forget the matches it will bring back.
    const checked = this.validator.validate(entries, this.ledger.baseline);
    if (entries.length > 0 && checked.invalidMatches.length === entries.length) {
      // Not one readable entry: a broken answer or a format change, not a list to apply.
      const shown = checked.invalidMatches.slice(0, 3).map(describeInvalidMatch).join("; ");
      return this.sourceFailed(
        context,
        new MatchSourceError(
          "invalid_match",
          `${this.source.description}: none of the ${entries.length} entries is a valid match, so the list is not used: ${shown}`,
        ),
      );
    }
    this.lastFetchOk = this.now();
    const matches = checked.matches;
    const inputProblems = this.inputProblems.report(context, checked);

    const changeSet = detectChanges(this.ledger.baseline, matches, { now: context.started });
    const held = this.emptyListHold.check(matches, changeSet, context);
    if (held)
      return nothingPublished("empty_list_held", held, { total_matches: 0, input_problems: inputProblems });
    const counted = {
      input_problems: inputProblems,
      total_matches: matches.length,
      changes: {
        new: changeSet.newMatchIds.length,
        updated: changeSet.updatedMatchIds.length,
        removed: changeSet.removedMatchIds.length,
        played: changeSet.playedMatchIds.length,
        total: changeSet.changes.length,
      },
    };
    const hash = snapshotHash(matches);
    await this.notify(matches, hash, context.started);
    const reason = this.ledger.publishReason(changeSet, hash, context.started, this.delivery.redisConnected);
    if (!reason) return { outcome: "unchanged", ...counted, publish_reason: null, delivery: NO_DELIVERY };

    return this.send(context, { matches, hash, changeSet, reason, counted });
  }

  /** Creates the snapshot, delivers it (Redis, else HTTP) and, once confirmed, makes it the baseline. */
  private async send(
    context: CycleContext,
    snapshot: {
      matches: Match[];
      hash: string;
      changeSet: ChangeSet;
      reason: PublishReason;
      counted: Pick<CycleOutcomeDetails, "input_problems" | "total_matches" | "changes">;
    },
  ): Promise<CycleOutcomeDetails> {
    const { matches, hash, changeSet, reason, counted } = snapshot;
    this.metrics.changesDetected(changeSet.summary.by_category ?? {});
    const envelope = await this.ledger.createEnvelope(matches, hash, changeSet, reason, context.started);
    const sequence = envelope.payload.metadata?.sequence ?? null;
    const delivered = await this.delivery.deliverSnapshot(envelope, this.scheduler.signal);
    this.metrics.zeroReceiverPublishes(delivered.zeroReceiverPublishes);
    this.metrics.redisBypassed({ refused: delivered.redisRefused, tooLarge: delivered.tooLargeForRedis });
    const delivery: CycleResult["delivery"] = {
      route: delivered.route,
      confirmed: delivered.confirmed,
      receivers: delivered.receivers,
      attempts: delivered.attempts,
      sequence,
      message_id: envelope.message_id,
      errors: delivered.errors,
    };

    if (delivered.route === "none") {
      this.metrics.deliveryFailed();
      const message = `snapshot ${sequence} not delivered over Redis or HTTP after ${delivered.attempts} attempts; state kept, the next cycle sends again`;
      this.alert({
        alertType: "delivery_failed",
        severity: "error",
        message,
        details: { cycle: context.cycle, sequence, errors: delivered.errors.slice(-6) },
      });
      return { outcome: "delivery_failed", ...counted, publish_reason: reason, delivery, error: message };
    }

    await this.ledger.confirm(envelope, matches, delivered.route, this.now());
    if (delivered.redisRefused) this.ledger.redisRefused();
    return { outcome: "delivered", ...counted, publish_reason: reason, delivery };
  }

  private sourceFailed(context: CycleContext, error: unknown): CycleOutcomeDetails {
    const message = (error as Error).message;
    this.alert({
      alertType: "source_failed",
      severity: "error",
      message: `match list not fetched; nothing published, state kept: ${message}`,
      details: {
        cycle: context.cycle,
        source: this.source.description,
        code: error instanceof MatchSourceError ? error.code : "unexpected",
      },
    });
    return nothingPublished("source_failed", message, {
      total_matches: null,
      input_problems: NO_INPUT_PROBLEMS,
    });
  }

  /** Completes the result, counts it, announces it on the status channel, and logs it. */
  private finish(context: CycleContext, details: CycleOutcomeDetails): CycleResult {
    const failed = details.outcome === "source_failed" || details.outcome === "delivery_failed";
    const result: CycleResult = {
      success: !failed,
      cycle: context.cycle,
      trigger: context.trigger,
      status: failed ? "failed" : "completed",
      started_at: context.started.toISOString(),
      duration_ms: Math.round(performance.now() - context.clock),
      ...details,
    };
    this.lastResult = result;
    this.metrics.cycle(result.outcome, result.duration_ms / 1000);
    announceCycle(result, {
      envelopeSource: this.envelopeSource,
      emit: (envelope) => this.emit(envelope),
      logger: this.logger,
    });
    return result;
  }

  /**
   * While Redis was away, snapshots went over HTTP and the latest-envelope key kept an older one
   * (or, after a restart without persistence or a failover, none or an unreplicated one).
   * Subscribers resync from that key as they resubscribe, so put the newest envelope back at once
   * (and publish it for those that resubscribed first); the next cycle publishes through Redis.
   */
  private onRedisUp(): void {
    const latest = this.ledger.latest;
    if (latest) {
      const stored = this.delivery.announceLatest(latest).finally(() => this.inFlightEvents.delete(stored));
      this.inFlightEvents.add(stored);
    }
    this.ledger.redisCameBack();
  }

  /**
   * Hands the fetched list to the notifier, before and independently of the delivery: a change is
   * told once, whether or not this cycle's snapshot is confirmed (the notifier keeps its own
   * baseline). Only its record's write can fail here; that is logged, never the cycle's failure.
   */
  private async notify(matches: Match[], hash: string, now: Date): Promise<void> {
    if (!this.notifier) return;
    try {
      await this.notifier.observe({
        matches,
        snapshotHash: hash,
        now,
        deliveredBaseline: this.ledger.confirmed ? this.ledger.baseline : null,
      });
    } catch (error) {
      this.logger.error(
        { event: "notification_state_write_failed", err: (error as Error).message },
        "could not save the notification record; queued notifications are sent all the same",
      );
    }
  }

  private alert(input: Omit<SystemAlertInput, "source">): void {
    this.emit(createSystemAlertEnvelope({ source: this.envelopeSource, ...input }));
  }

  /** Best effort: never awaited by a cycle, never in the way of a delivery. */
  private emit(envelope: Envelope): void {
    const sent = this.delivery.publishEvent(envelope).finally(() => this.inFlightEvents.delete(sent));
    this.inFlightEvents.add(sent);
  }
}
