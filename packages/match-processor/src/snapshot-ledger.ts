import { randomUUID } from "node:crypto";
import {
  createMatchUpdatesEnvelope,
  type Match,
  type MatchUpdatesEnvelope,
  type SystemAlertInput,
} from "@fogis/message-schema";
import type { Logger } from "@fogis/runtime";
import type { ChangeSet } from "./change-detector.js";
import type { PublishReason } from "./cycle-result.js";
import type { ProcessorMetrics } from "./metrics.js";
import type { MatchSource } from "./sources.js";
import type { ConfirmedDelivery, LoadedState, StateStore } from "./state-store.js";

/**
 * What the processor has handed out and what was confirmed, kept in the state files: the last
 * delivered list (the baseline changes are detected against), the confirmed delivery, the newest
 * envelope and its sequence, the epoch, and why the next cycle must publish even without changes.
 * The baseline and the confirmed sequence advance only on a confirmed delivery. A state file that
 * cannot be written (a full disk) is written again before each cycle.
 */

export interface SnapshotLedgerOptions {
  store: StateStore;
  source: Pick<MatchSource, "kind">;
  metrics: ProcessorMetrics;
  logger: Logger;
  alert: (input: Omit<SystemAlertInput, "source">) => void;
  /** Re-send an unchanged snapshot when the last confirmed delivery is older than this. */
  heartbeatMs: number;
  /** `source` field of the envelopes. */
  envelopeSource: string;
}

export class SnapshotLedger {
  private baselineMatches: Match[] = [];
  private confirmedDelivery: ConfirmedDelivery | null = null;
  private latestEnvelope: MatchUpdatesEnvelope | null = null;
  /** Created by this process and not confirmed yet. */
  private pending: MatchUpdatesEnvelope | null = null;
  /** The newest envelope on disk from an earlier run was never confirmed. */
  private unconfirmedFromEarlierRun = false;
  /** Redis came back after snapshots went over HTTP: publish the next one through Redis. */
  private redisRecovered = false;
  private resendRequested = false;
  private lastSequence = 0;
  /** DESIGN §5.3: set at load, from the state files or new; sequences count within it. */
  private processorEpoch = "";
  /** The last confirmed delivery could not be saved (a full disk): saved again before each cycle. */
  private stateUnsaved = false;
  /** The newest envelope could not be saved: saved again before each cycle. */
  private latestUnsaved = false;

  constructor(private readonly options: SnapshotLedgerOptions) {}

  /** The list last delivered and confirmed. */
  get baseline(): Match[] {
    return this.baselineMatches;
  }

  get confirmed(): ConfirmedDelivery | null {
    return this.confirmedDelivery;
  }

  /** The newest envelope created (delivered or not), or null before the first one. */
  get latest(): MatchUpdatesEnvelope | null {
    return this.latestEnvelope;
  }

  get epoch(): string {
    return this.processorEpoch;
  }

  /** Reads the state files; answers them for the checks that depend on where the state came from. */
  async load(): Promise<LoadedState> {
    const state = await this.options.store.load();
    this.baselineMatches = state.previousMatches;
    this.confirmedDelivery = state.confirmed;
    this.latestEnvelope = state.latestEnvelope;
    const latestSequence = state.latestEnvelope?.payload.metadata?.sequence ?? 0;
    this.lastSequence = Math.max(state.confirmed?.sequence ?? 0, latestSequence);
    this.unconfirmedFromEarlierRun = latestSequence > (state.confirmed?.sequence ?? 0);
    this.processorEpoch = this.loadEpoch(state);
    return state;
  }

  /** The `state_loaded` log line's fields. */
  loadedSummary(): Record<string, unknown> {
    return {
      previousMatches: this.baselineMatches.length,
      confirmedSequence: this.confirmedDelivery?.sequence ?? null,
      lastSequence: this.lastSequence,
      unconfirmed: this.unconfirmedFromEarlierRun,
    };
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
        : this.lastSequence > 0 || this.baselineMatches.length > 0
          ? "the state files name no epoch (written before epochs)"
          : "no state: a new or wiped DATA_DIR";
    this.options.logger.info(
      { event: "epoch_started", processor_epoch: epoch, reason, lastSequence: this.lastSequence },
      "new processor epoch: calendar-sync takes its snapshots as a reset",
    );
    return epoch;
  }

  /** The next snapshot is sent even if nothing changed (`POST /process?resend=true`). */
  requestResend(): void {
    this.resendRequested = true;
  }

  /** Redis is up again: the next cycle publishes through it when the last confirmed delivery did not. */
  redisCameBack(): void {
    if (this.confirmedDelivery && this.confirmedDelivery.route !== "redis") this.redisRecovered = true;
  }

  /** Redis is up but refused a snapshot (e.g. full): try it again next cycle, so it is used once it takes writes. */
  redisRefused(): void {
    this.redisRecovered = true;
  }

  /** Why this cycle publishes, or null when it need not. */
  publishReason(
    changeSet: ChangeSet,
    hash: string,
    now: Date,
    redisConnected: boolean,
  ): PublishReason | null {
    if (changeSet.changes.length > 0) return "changes";
    if (this.pending || this.unconfirmedFromEarlierRun) return "unconfirmed";
    if (!this.confirmedDelivery) return "first_delivery";
    // Fields outside DESIGN §6's change list (a referee's new phone number, a team contact) are
    // not reported as changes, but the calendar shows them: send the snapshot all the same.
    if (hash !== this.confirmedDelivery.snapshotHash) return "content_changed";
    if (this.redisRecovered && redisConnected) return "redis_recovered";
    if (now.getTime() - this.confirmedDelivery.deliveredAt.getTime() >= this.options.heartbeatMs) {
      return "heartbeat";
    }
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
    return this.confirmedDelivery === null || hash !== this.confirmedDelivery.snapshotHash;
  }

  /** The next snapshot with the next sequence number, saved as the latest envelope before it is sent. */
  async createEnvelope(
    matches: Match[],
    hash: string,
    changeSet: ChangeSet,
    reason: PublishReason,
    now: Date,
  ): Promise<MatchUpdatesEnvelope> {
    const sequence = ++this.lastSequence;
    this.resendRequested = false;
    const envelope = createMatchUpdatesEnvelope({
      source: this.options.envelopeSource,
      matches,
      changes: changeSet.changes,
      sequence,
      processorEpoch: this.processorEpoch,
      snapshotHash: hash,
      changeSummary: changeSet.summary,
      hasChanges: this.hasChanges(changeSet, hash, reason),
      now,
    });
    this.options.metrics.envelopeCreated(sequence, this.pending !== null);
    this.pending = envelope;
    this.latestEnvelope = envelope;
    // Before sending: a restart must never hand out this sequence number again.
    await this.saveLatest();
    return envelope;
  }

  /** A confirmed delivery: `matches` become the baseline, and that is saved. */
  async confirm(
    envelope: MatchUpdatesEnvelope,
    matches: Match[],
    route: "redis" | "http",
    deliveredAt: Date,
  ): Promise<void> {
    this.options.metrics.delivered(route);
    this.pending = null;
    this.unconfirmedFromEarlierRun = false;
    if (route === "redis") this.redisRecovered = false;
    this.baselineMatches = matches;
    this.confirmedDelivery = {
      sequence: envelope.payload.metadata?.sequence ?? this.lastSequence,
      snapshotHash: envelope.payload.metadata?.snapshot_hash ?? "",
      messageId: envelope.message_id,
      deliveredAt,
      route,
    };
    await this.saveConfirmed();
  }

  /** A full disk that has space again: what could not be saved is saved now. */
  async saveUnsaved(): Promise<void> {
    if (this.latestUnsaved) await this.saveLatest();
    if (this.stateUnsaved) await this.saveConfirmed();
  }

  private async saveLatest(): Promise<void> {
    if (!this.latestEnvelope) return;
    const { store, logger } = this.options;
    try {
      await store.saveLatestEnvelope(this.latestEnvelope);
      this.latestUnsaved = false;
    } catch (error) {
      if (!this.latestUnsaved) {
        logger.error(
          {
            event: "state_write_failed",
            file: store.paths.latestEnvelope,
            err: (error as Error).message,
          },
          "could not save the latest envelope; trying again before each cycle",
        );
      }
      this.latestUnsaved = true;
    }
  }

  private async saveConfirmed(): Promise<void> {
    if (!this.confirmedDelivery) return;
    const { store, logger } = this.options;
    try {
      await store.saveConfirmed(this.baselineMatches, this.confirmedDelivery, {
        processorEpoch: this.processorEpoch,
        sourceKind: this.options.source.kind,
      });
      this.stateUnsaved = false;
    } catch (error) {
      // Delivered, but not recorded: after a restart the same changes are sent again (harmless).
      const message = (error as Error).message;
      if (!this.stateUnsaved) {
        logger.error(
          { event: "state_write_failed", dir: store.dataDir, err: message },
          "could not save state; trying again before each cycle",
        );
        this.options.alert({
          alertType: "state_write_failed",
          severity: "error",
          message: `could not save state in ${store.dataDir}: ${message}`,
        });
      }
      this.stateUnsaved = true;
    }
  }
}
