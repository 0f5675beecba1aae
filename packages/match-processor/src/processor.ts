import { randomUUID } from "node:crypto";
import {
  createMatchUpdatesEnvelope,
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
  type CycleContext,
  type CycleOutcomeDetails,
  type CycleResult,
  NO_CHANGES,
  NO_DELIVERY,
  NO_INPUT_PROBLEMS,
  type PublishReason,
} from "./cycle-result.js";
import type { SnapshotDelivery } from "./delivery.js";
import { DEMO_MATCH_IDS } from "./demo-matches.js";
import { EmptyListHold } from "./empty-list-hold.js";
import { InputProblemReport } from "./input-problems.js";
import { describeInvalidMatch, MatchListValidator } from "./match-list.js";
import { type DeliveryCounters, ProcessorMetrics } from "./metrics.js";
import type { ChangeNotifier } from "./notifications/index.js";
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

export class ProcessorStoppedError extends Error {
  constructor() {
    super("the processor is shutting down");
    this.name = "ProcessorStoppedError";
  }
}

export class MatchProcessor {
  readonly metrics: ProcessorMetrics;
  private readonly source: MatchSource;
  private readonly store: StateStore;
  private readonly delivery: SnapshotDelivery;
  private readonly logger: Logger;
  private readonly heartbeatMs: number;
  private readonly envelopeSource: string;
  private readonly emptyListHold: EmptyListHold;
  private readonly now: () => Date;
  private readonly notifier: ChangeNotifier | null;

  private loading: Promise<void> | null = null;
  private baseline: Match[] = [];
  private confirmed: ConfirmedDelivery | null = null;
  private resendRequested = false;
  private latest: MatchUpdatesEnvelope | null = null;
  /** Created by this process and not confirmed yet. */
  private pending: MatchUpdatesEnvelope | null = null;
  /** The newest envelope on disk from an earlier run was never confirmed. */
  private unconfirmedFromEarlierRun = false;
  /** Redis came back after snapshots went over HTTP: publish the next one through Redis. */
  private redisRecovered = false;
  private lastSequence = 0;
  /** DESIGN §5.3: set at load, from the state files or new; sequences count within it. */
  private epoch = "";
  /** Why the configured source is not used (the demo list after a real one), or null. */
  private sourceRefusal: string | null = null;
  /** The last confirmed delivery could not be saved (a full disk): saved again before each cycle. */
  private stateUnsaved = false;
  /** The newest envelope could not be saved: saved again before each cycle. */
  private latestUnsaved = false;
  private cycleCount = 0;
  /** Validates the list entry by entry, keeping the last good version of a bad match. */
  private readonly validator = new MatchListValidator();
  /** Counts, logs and alerts the entries of the list that did not validate. */
  private readonly inputProblems: InputProblemReport;
  private lastResult: CycleResult | null = null;
  private lastFetchOk: Date | null = null;

  private running: Promise<CycleResult> | null = null;
  private followUp: Promise<CycleResult> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Aborts a cycle's slow fetch or delivery when a shutdown's grace period is over. */
  private readonly shutdown = new AbortController();
  private readonly inFlightEvents = new Set<Promise<unknown>>();

  constructor(options: MatchProcessorOptions) {
    this.source = options.source;
    this.store = options.store;
    this.delivery = options.delivery;
    this.logger = options.logger.child({ component: "processor" });
    this.heartbeatMs = options.heartbeatMs ?? 3_600_000;
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
    this.delivery.onRedisUp(() => this.onRedisUp());
  }

  /** The newest envelope created (delivered or not), or null before the first one. */
  get latestEnvelope(): MatchUpdatesEnvelope | null {
    return this.latest;
  }

  get lastCycle(): CycleResult | null {
    return this.lastResult;
  }

  /** When the match list was last fetched and read without error (the status page's "last worked"). */
  get lastSuccessfulFetch(): Date | null {
    return this.lastFetchOk;
  }

  get lastConfirmedDelivery(): ConfirmedDelivery | null {
    return this.confirmed;
  }

  get counters(): DeliveryCounters {
    return this.metrics.counters;
  }

  get sourceDescription(): string {
    return this.source.description;
  }

  /** This processor's epoch (empty before the state is loaded). */
  get processorEpoch(): string {
    return this.epoch;
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
    this.resendRequested = true;
  }

  /** Runs a cycle now, or right after the running one (cycles never overlap). */
  runCycle(trigger = "manual"): Promise<CycleResult> {
    if (this.stopped) return Promise.reject(new ProcessorStoppedError());
    if (!this.running) return this.begin(trigger);
    this.followUp ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.followUp = null;
        if (this.stopped) throw new ProcessorStoppedError();
        return this.begin(trigger);
      });
    return this.followUp;
  }

  /** Runs a cycle now and then every `intervalMs` after the previous one ends; 0 disables. */
  startSchedule(intervalMs: number): void {
    if (intervalMs <= 0 || this.stopped) return;
    const tick = () => {
      this.timer = null;
      this.runCycle("interval")
        .catch((error: unknown) => {
          if (!(error instanceof ProcessorStoppedError)) {
            this.logger.error({ event: "cycle_crashed", err: error }, "cycle crashed");
          }
        })
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, intervalMs);
        });
    };
    tick();
  }

  /**
   * Stops the schedule and lets the running cycle finish. A cycle still running after `graceMs`
   * (a FOGIS fetch can take long) has its fetch or delivery abandoned, so the service exits within
   * its shutdown deadline; an abandoned snapshot is not confirmed and is sent again after restart.
   */
  async stop({ graceMs = 5000 }: { graceMs?: number } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const cycles = Promise.allSettled([this.running, this.followUp].filter(Boolean));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    if ((await Promise.race([cycles, graceOver])) === "timeout") {
      this.logger.warn(
        { event: "cycle_abandoned", graceMs },
        "cycle still running at shutdown; abandoning it",
      );
      this.shutdown.abort();
      await cycles;
    }
    clearTimeout(timer);
    await Promise.allSettled([...this.inFlightEvents]);
  }

  private begin(trigger: string): Promise<CycleResult> {
    const cycle = this.cycle(trigger).finally(() => {
      if (this.running === cycle) this.running = null;
    });
    this.running = cycle;
    return cycle;
  }

  private async loadState(): Promise<void> {
    const state = await this.store.load();
    this.baseline = state.previousMatches;
    this.confirmed = state.confirmed;
    this.latest = state.latestEnvelope;
    const latestSequence = state.latestEnvelope?.payload.metadata?.sequence ?? 0;
    this.lastSequence = Math.max(state.confirmed?.sequence ?? 0, latestSequence);
    this.unconfirmedFromEarlierRun = latestSequence > (state.confirmed?.sequence ?? 0);
    this.epoch = this.loadEpoch(state);
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
      {
        event: "state_loaded",
        dataDir: this.store.dataDir,
        previousMatches: this.baseline.length,
        confirmedSequence: this.confirmed?.sequence ?? null,
        lastSequence: this.lastSequence,
        unconfirmed: this.unconfirmedFromEarlierRun,
      },
      "state loaded",
    );
  }

  /**
   * The epoch the state files name, or a new one when they name none (a new or wiped DATA_DIR, or
   * files written before epochs) or two different ones (files put together from two processors).
   */
  private loadEpoch(state: LoadedState): string {
    const fromEnvelope = state.latestEnvelope?.payload.metadata?.processor_epoch ?? null;
    const named = [fromEnvelope, state.processorEpoch].filter((e): e is string => e !== null);
    if (named.length > 0 && named.every((e) => e === named[0])) return named[0] as string;
    const epoch = randomUUID();
    const reason =
      named.length > 1
        ? "the state files name two different epochs"
        : this.lastSequence > 0 || this.baseline.length > 0
          ? "the state files name no epoch (written before epochs)"
          : "no state: a new or wiped DATA_DIR";
    this.logger.info(
      { event: "epoch_started", processor_epoch: epoch, reason, lastSequence: this.lastSequence },
      "new processor epoch: calendar-sync takes its snapshots as a reset",
    );
    return epoch;
  }

  /**
   * The demo list is for a fresh install. A processor whose delivered list came from FOGIS or a
   * file (an `.env` line lost, a mount gone) must not replace the referee's matches with it.
   */
  private refuseDemoAfterRealSource(state: LoadedState): string | null {
    if (this.source.kind !== "demo") return null;
    const realMatches = state.previousMatches.filter((match) => !DEMO_MATCH_IDS.has(match.matchid)).length;
    const cameFrom =
      state.sourceKind === "file" || state.sourceKind === "http"
        ? state.sourceKind === "file"
          ? "a MATCH_SOURCE_FILE"
          : "FOGIS (FOGIS_API_CLIENT_URL)"
        : state.sourceKind === null && realMatches > 0
          ? "a real source"
          : null;
    if (!cameFrom) return null;
    const message = `refusing the built-in demo match list: the state in ${this.store.dataDir} came from ${cameFrom} (${state.previousMatches.length} matches delivered), so neither MATCH_SOURCE_FILE nor FOGIS_API_CLIENT_URL being set is a lost setting, not a fresh install. Set the source again; the calendar keeps its matches meanwhile (to start over with the demo, empty DATA_DIR)`;
    this.logger.error({ event: "demo_source_refused", dataDir: this.store.dataDir, cameFrom }, message);
    return message;
  }

  private async cycle(trigger: string): Promise<CycleResult> {
    await this.load();
    await this.saveUnsavedState();
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
      entries = await this.source.fetchMatches(this.shutdown.signal);
    } catch (error) {
      return this.sourceFailed(context, error);
    }
    // A bad match falls back on the delivered baseline too: an empty answer held back by
    // holdSuspectEmptyList must not make the validator forget the matches it will bring back.
    const checked = this.validator.validate(entries, this.baseline);
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

    const changeSet = detectChanges(this.baseline, matches, { now: context.started });
    const held = this.emptyListHold.check(matches, changeSet, context);
    if (held) {
      return {
        outcome: "empty_list_held",
        total_matches: 0,
        input_problems: inputProblems,
        changes: NO_CHANGES,
        publish_reason: null,
        delivery: NO_DELIVERY,
        error: held,
      };
    }
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
    const reason = this.publishReason(changeSet, hash, context.started);
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
    const envelope = await this.createEnvelope(matches, hash, changeSet, reason, context.started);
    const sequence = envelope.payload.metadata?.sequence ?? null;
    const delivered = await this.delivery.deliverSnapshot(envelope, this.shutdown.signal);
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

    await this.confirm(envelope, matches, delivered.route);
    // Redis is up but refused it (e.g. full): try it again next cycle, so it is used once it takes writes.
    if (delivered.redisRefused) this.redisRecovered = true;
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
    return {
      outcome: "source_failed",
      total_matches: null,
      input_problems: NO_INPUT_PROBLEMS,
      changes: NO_CHANGES,
      publish_reason: null,
      delivery: NO_DELIVERY,
      error: message,
    };
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
    const summary = {
      cycle: result.cycle,
      trigger: result.trigger,
      outcome: result.outcome,
      changes: result.changes,
      route: result.delivery.route,
      sequence: result.delivery.sequence,
    };
    this.emit(
      createProcessingStatusEnvelope({
        source: this.envelopeSource,
        status: result.status,
        details: {
          ...summary,
          matches_processed: result.total_matches ?? 0,
          ...(result.error ? { error: result.error } : {}),
        },
      }),
    );
    this.logger[failed ? "error" : "info"](
      {
        event: "cycle_finished",
        ...summary,
        durationMs: result.duration_ms,
        matches: result.total_matches,
        receivers: result.delivery.receivers,
        ...(result.error ? { err: result.error } : {}),
      },
      // The reason belongs in the line a person reads, not only in /redis-status.
      `cycle ${result.cycle} ${result.outcome}${result.error ? `: ${result.error}` : ""}`,
    );
    return result;
  }

  /**
   * While Redis was away, snapshots went over HTTP and the latest-envelope key kept an older one
   * (or, after a restart without persistence or a failover, none or an unreplicated one).
   * Subscribers resync from that key as they resubscribe, so put the newest envelope back at once
   * (and publish it for those that resubscribed first); the next cycle publishes through Redis.
   */
  private onRedisUp(): void {
    if (this.latest) {
      const stored = this.delivery
        .announceLatest(this.latest)
        .finally(() => this.inFlightEvents.delete(stored));
      this.inFlightEvents.add(stored);
    }
    if (this.confirmed && this.confirmed.route !== "redis") this.redisRecovered = true;
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
        deliveredBaseline: this.confirmed ? this.baseline : null,
      });
    } catch (error) {
      this.logger.error(
        { event: "notification_state_write_failed", err: (error as Error).message },
        "could not save the notification record; queued notifications are sent all the same",
      );
    }
  }

  private publishReason(changeSet: ChangeSet, hash: string, now: Date): PublishReason | null {
    if (changeSet.changes.length > 0) return "changes";
    if (this.pending || this.unconfirmedFromEarlierRun) return "unconfirmed";
    if (!this.confirmed) return "first_delivery";
    // Fields outside DESIGN §6's change list (a referee's new phone number, a team contact) are
    // not reported as changes, but the calendar shows them: send the snapshot all the same.
    if (hash !== this.confirmed.snapshotHash) return "content_changed";
    if (this.redisRecovered && this.delivery.redisConnected) return "redis_recovered";
    if (now.getTime() - this.confirmed.deliveredAt.getTime() >= this.heartbeatMs) return "heartbeat";
    if (this.resendRequested) return "resend";
    return null;
  }

  /**
   * `has_changes`, which the Python subscriber needs to be true to sync at all: true whenever the
   * list differs from the last one delivered (also in fields outside the change list, such as a
   * referee's phone number or a team contact, which the calendar shows), for the first delivery,
   * and when Redis comes back (its subscribers missed what went over HTTP meanwhile). False only
   * for a heartbeat or a resend of the list already delivered.
   */
  private hasChanges(changeSet: ChangeSet, hash: string, reason: PublishReason): boolean {
    if (changeSet.changes.length > 0 || reason === "redis_recovered") return true;
    return this.confirmed === null || hash !== this.confirmed.snapshotHash;
  }

  private async createEnvelope(
    matches: Match[],
    hash: string,
    changeSet: ChangeSet,
    reason: PublishReason,
    now: Date,
  ): Promise<MatchUpdatesEnvelope> {
    const sequence = ++this.lastSequence;
    this.resendRequested = false;
    const envelope = createMatchUpdatesEnvelope({
      source: this.envelopeSource,
      matches,
      changes: changeSet.changes,
      sequence,
      processorEpoch: this.epoch,
      snapshotHash: hash,
      changeSummary: changeSet.summary,
      hasChanges: this.hasChanges(changeSet, hash, reason),
      now,
    });
    this.metrics.envelopeCreated(sequence, this.pending !== null);
    this.pending = envelope;
    this.latest = envelope;
    // Before sending: a restart must never hand out this sequence number again.
    await this.saveLatest();
    return envelope;
  }

  private async confirm(
    envelope: MatchUpdatesEnvelope,
    matches: Match[],
    route: "redis" | "http",
  ): Promise<void> {
    this.metrics.delivered(route);
    this.pending = null;
    this.unconfirmedFromEarlierRun = false;
    if (route === "redis") this.redisRecovered = false;
    this.baseline = matches;
    this.confirmed = {
      sequence: envelope.payload.metadata?.sequence ?? this.lastSequence,
      snapshotHash: envelope.payload.metadata?.snapshot_hash ?? "",
      messageId: envelope.message_id,
      deliveredAt: this.now(),
      route,
    };
    await this.saveConfirmed();
  }

  private async saveLatest(): Promise<void> {
    if (!this.latest) return;
    try {
      await this.store.saveLatestEnvelope(this.latest);
      this.latestUnsaved = false;
    } catch (error) {
      if (!this.latestUnsaved) {
        this.logger.error(
          {
            event: "state_write_failed",
            file: this.store.paths.latestEnvelope,
            err: (error as Error).message,
          },
          "could not save the latest envelope; trying again before each cycle",
        );
      }
      this.latestUnsaved = true;
    }
  }

  private async saveConfirmed(): Promise<void> {
    if (!this.confirmed) return;
    try {
      await this.store.saveConfirmed(this.baseline, this.confirmed, {
        processorEpoch: this.epoch,
        sourceKind: this.source.kind,
      });
      this.stateUnsaved = false;
    } catch (error) {
      // Delivered, but not recorded: after a restart the same changes are sent again (harmless).
      const message = (error as Error).message;
      if (!this.stateUnsaved) {
        this.logger.error(
          { event: "state_write_failed", dir: this.store.dataDir, err: message },
          "could not save state; trying again before each cycle",
        );
        this.alert({
          alertType: "state_write_failed",
          severity: "error",
          message: `could not save state in ${this.store.dataDir}: ${message}`,
        });
      }
      this.stateUnsaved = true;
    }
  }

  /** A full disk that has space again: what could not be saved is saved now. */
  private async saveUnsavedState(): Promise<void> {
    if (this.latestUnsaved) await this.saveLatest();
    if (this.stateUnsaved) await this.saveConfirmed();
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
