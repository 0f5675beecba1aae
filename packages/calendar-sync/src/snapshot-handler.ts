import {
  type Accepted,
  type DecodeResult,
  decodeEnvelope,
  type Envelope,
  KnownMatches,
  type Match,
  type MatchUpdatesEnvelope,
  type ProcessingStatusEnvelope,
  type Rejection,
  type SystemAlertEnvelope,
} from "@fogis/message-schema";
import type { StatusIssue } from "@fogis/runtime";
import type { Logger } from "pino";
import { type CalendarBackend, type CalendarChanges, countChanges } from "./calendar-backend.js";
import { type CalendarEvent, matchToCalendarEvent } from "./match-event.js";
import type { Phonebook, PhonebookChanges } from "./phonebook.js";
import type { RecentChanges } from "./recent-changes.js";
import { type Candidate, type CandidateOrigin, SnapshotOrder } from "./snapshot-order.js";
import type { MessageOrigin, SyncStats } from "./stats.js";

/**
 * Receives messages from every path (Redis, POST /manual-sync, resync) and keeps the calendar
 * equal to the latest snapshot. Applies run one at a time; a snapshot that arrives while one is
 * being applied waits in a single slot, and a newer one replaces it there (latest wins: every
 * snapshot is complete, so the replaced one is counted as superseded, not lost). Applying a
 * snapshot is idempotent: the same snapshot hash is skipped outright, and otherwise only events
 * whose content hash changed are touched. Which snapshot may be applied at all is `SnapshotOrder`'s
 * rule (epochs and sequences): a replay is refused as stale, another processor's as foreign.
 */

export interface SnapshotHandlerOptions {
  backend: CalendarBackend;
  phonebook: Phonebook;
  stats: SyncStats;
  logger: Logger;
  /** Largest message accepted from Redis, in bytes. */
  maxMessageBytes: number;
  /** Decides which matches count as played; tests inject a fixed time. */
  clock?: () => Date;
  /** A sequence gap means snapshots were missed: resync from the latest envelope. */
  onSequenceGap?: () => void;
  /**
   * An apply failed (e.g. the disk is full). The processor counted a PUBLISH that reached us as
   * delivered, so nobody else will send this snapshot again: the caller should resync later.
   */
  onApplyFailed?: (error: string) => void;
  /**
   * The feed and phonebook took a snapshot (changed or not): the push backends follow from here,
   * after the snapshot is acknowledged, never before.
   */
  onApplied?: (changes: CalendarChanges, contacts: PhonebookChanges) => void;
  /** Which snapshot wins (restored from an earlier run by the caller); a fresh one by default. */
  order?: SnapshotOrder;
  /** The order moved on (a snapshot accepted): save it, so a restart still refuses older ones. */
  onOrderChanged?: () => void;
  /**
   * A live snapshot of an epoch the calendar does not follow: a processor reset, or another
   * processor on the channel. The caller resyncs with it as a candidate, asking the processor which
   * epoch is its own, and answers what became of it. Without it, a new epoch is taken as a reset.
   */
  resolveEpoch?: (envelope: MatchUpdatesEnvelope) => Promise<ApplyOutcome>;
  /**
   * The calendar was read back from its state file at start: the first snapshot applied is then
   * news (recent changes), not the setup of a new or rebuilt calendar.
   */
  calendarLoaded?: boolean;
  /** Told what each apply changed (the status page's "recent changes"). */
  recentChanges?: RecentChanges;
}

/** What an apply did, in numbers: the answer of `POST /manual-sync` and `last_applied` in `/redis-stats`. */
export function appliedCounts(changes: CalendarChanges, contacts: PhonebookChanges) {
  return {
    created: changes.created.length,
    updated: changes.updated.length,
    removed: changes.removed.length,
    unchanged: changes.unchanged,
    history: changes.history,
    expired: changes.expired.length,
    contacts: contacts.contacts,
  };
}

/** A processor other than ours is reported for this long after its last snapshot (longer than the default 1 h heartbeat). */
const FOREIGN_REPORTED_MS = 2 * 3_600_000;

export type ApplyOutcome =
  | { status: "applied" | "unchanged"; changes: CalendarChanges; contacts: PhonebookChanges }
  /** The same snapshot hash as the last one applied. */
  | { status: "skipped" }
  /** Replaced by a newer snapshot before it was applied. */
  | { status: "superseded" }
  /** Older than what the calendar shows (a replay, a left-over Redis key, a replaced epoch). */
  | { status: "stale"; reason: string }
  /** From another processor on the channel than the one calendar-sync follows. */
  | { status: "refused"; reason: string }
  | { status: "failed"; error: string };

export type MessageResult =
  | { accepted: false; rejection: Rejection }
  | { accepted: true; type: Envelope["type"]; outcome?: ApplyOutcome };

/** Marks where a resync started, so a result older than live snapshots received meanwhile is dropped. */
export interface ResyncTicket {
  readonly liveSnapshotsSeen: number;
}

/** What a resync applied (`outcome`), and what became of the live snapshot that prompted it (`live`). */
export interface ResyncApplied {
  outcome?: ApplyOutcome;
  live?: ApplyOutcome;
}

interface Job {
  envelope: MatchUpdatesEnvelope;
  origin: MessageOrigin;
  resolve: (outcome: ApplyOutcome) => void;
}

export class SnapshotHandler {
  private readonly options: SnapshotHandlerOptions;
  private readonly logger: Logger;
  private readonly stats: SyncStats;
  private readonly clock: () => Date;
  private pending: Job | undefined;
  private draining = false;
  private readonly idleWaiters: Array<() => void> = [];
  private lastAppliedHash: string | undefined;
  readonly order: SnapshotOrder;
  private liveSnapshots = 0;
  /**
   * A snapshot repeats the previous one but for a few matches: those decode to the same objects
   * (KnownMatches), which keeps them from being validated and rendered again. Pass it to every
   * decode of a snapshot for this handler (Redis, POST /manual-sync).
   */
  readonly knownMatches = new KnownMatches();
  private readonly events = new WeakMap<Match, CalendarEvent | null>();
  private matchesById: ReadonlyMap<number, Match> = new Map();
  /** A snapshot has been applied to this calendar (or it was loaded from its state file). */
  private calendarFilled: boolean;
  private lastSuccess: Date | undefined;
  private lastFailure: { at: Date; error: string } | undefined;

  constructor(options: SnapshotHandlerOptions) {
    this.options = options;
    this.logger = options.logger;
    this.stats = options.stats;
    this.clock = options.clock ?? (() => new Date());
    this.order = options.order ?? new SnapshotOrder();
    this.calendarFilled = options.calendarLoaded ?? false;
  }

  /** Other processors seen on the channel lately: the service fails until they are gone. */
  get issues(): StatusIssue[] {
    const now = this.clock().getTime();
    return this.order.foreign
      .filter((other) => now - Date.parse(other.lastSeen) < FOREIGN_REPORTED_MS)
      .map((other) => ({
        status: "fail" as const,
        code: "another_processor",
        message: `another processor publishes on this channel (source ${other.source}, epoch ${other.epoch}): ${other.refused} of its snapshots refused, last ${other.lastSeen}. calendar-sync follows its own processor (PROCESSOR_URL, epoch ${this.order.followedEpoch ?? "unknown"}). Give each stack its own channel (REDIS_MATCH_UPDATES_CHANNEL) or its own Redis`,
        since: other.firstSeen,
      }));
  }

  /** A raw message (from Redis): decoded once, size-limited, counted, then handled. Never throws. */
  async handleMessage(raw: string | Uint8Array, origin: MessageOrigin = "redis"): Promise<MessageResult> {
    this.stats.received(origin);
    const bytes = typeof raw === "string" ? Buffer.byteLength(raw) : raw.byteLength;
    const decoded = decodeEnvelope(raw, {
      maxBytes: this.options.maxMessageBytes,
      knownMatches: this.knownMatches,
    });
    return this.dispatch(decoded, origin, bytes);
  }

  /** A message decoded elsewhere (POST /manual-sync): counted and handled without decoding it again. */
  async handleDecoded(decoded: DecodeResult, origin: MessageOrigin = "http"): Promise<MessageResult> {
    this.stats.received(origin);
    return this.dispatch(decoded, origin);
  }

  private async dispatch(
    decoded: DecodeResult,
    origin: MessageOrigin,
    bytes?: number,
  ): Promise<MessageResult> {
    if (!decoded.ok) {
      this.rejected(decoded, origin, bytes);
      return { accepted: false, rejection: decoded };
    }
    const envelope = decoded.envelope;
    this.stats.receivedType(envelope.type);
    this.droppedParts(decoded, origin);
    switch (envelope.type) {
      case "match_updates": {
        const outcome = await this.receiveSnapshot(envelope, origin);
        if (outcome.status === "failed") this.stats.failed();
        else this.stats.processed();
        return { accepted: true, type: envelope.type, outcome };
      }
      case "processing_status":
        this.recordStatus(envelope, origin);
        break;
      case "system_alert":
        this.recordAlert(envelope, origin);
        break;
    }
    this.stats.processed();
    return { accepted: true, type: envelope.type };
  }

  /** Counts a rejected message and logs why (the codec's reasons name paths and types, never values). */
  rejected(rejection: Rejection, origin: MessageOrigin, bytes?: number): void {
    this.stats.invalid(rejection.code);
    this.logger.warn(
      { event: "message_invalid", origin, code: rejection.code, reason: rejection.reason, bytes },
      "rejected an invalid message",
    );
  }

  /**
   * Counts and logs the informational parts the codec dropped from an accepted envelope (a detailed
   * change that does not fit, ...): the envelope is used all the same.
   */
  droppedParts(decoded: Accepted, origin: MessageOrigin): void {
    if (decoded.dropped.length === 0) return;
    const parts: Record<string, number> = {};
    for (const { part } of decoded.dropped) {
      this.stats.partDropped(part);
      parts[part] = (parts[part] ?? 0) + 1;
    }
    this.logger.warn(
      {
        event: "envelope_parts_dropped",
        origin,
        message_id: decoded.envelope.message_id,
        source: decoded.envelope.source,
        parts,
        reasons: decoded.dropped.slice(0, 3).map(({ path, reason }) => `${path}: ${reason}`),
      },
      "dropped malformed informational parts; the envelope was used",
    );
  }

  /** Call before fetching the latest envelope for a resync; pass the ticket to `applyResync`. */
  beginResync(): ResyncTicket {
    return { liveSnapshotsSeen: this.liveSnapshots };
  }

  /**
   * Applies what a resync found: of the candidates (the live snapshot that prompted it, the Redis
   * key, the processor's latest), the one `SnapshotOrder` picks. A live one from another processor
   * is refused and counted; one without an epoch is dropped when a live snapshot arrived meanwhile.
   */
  async applyResync(
    candidates: readonly Candidate[],
    ticket: ResyncTicket,
    /** Told, before the apply starts, where the snapshot to apply came from (undefined: none). */
    onChosen?: (from: CandidateOrigin | undefined) => void,
  ): Promise<ResyncApplied> {
    const { choice, foreign } = this.order.choose(candidates);
    const staleUnversioned =
      choice.kind === "apply" &&
      choice.candidate.envelope.payload.metadata?.processor_epoch === undefined &&
      this.liveSnapshots !== ticket.liveSnapshotsSeen;
    onChosen?.(choice.kind === "apply" && !staleUnversioned ? choice.candidate.from : undefined);
    const liveCandidate = candidates.find((c) => c.from === "live");
    let live: ApplyOutcome | undefined;
    for (const candidate of foreign) live = this.refuseForeign(candidate.envelope);
    if (choice.kind === "none") {
      return {
        live:
          live ??
          (liveCandidate && this.stale(liveCandidate.envelope, "resync", "not the processor's epoch")),
      };
    }
    if (choice.kind === "stale") {
      const outcome = this.stale(candidates[0]?.envelope, "resync", choice.why);
      return { outcome, live: live ?? (liveCandidate && outcome) };
    }
    const chosen = choice.candidate.envelope;
    if (staleUnversioned) {
      const outcome = this.stale(chosen, "resync", "a live snapshot arrived during the resync");
      return { outcome, live };
    }
    this.acceptOrder(chosen, "resync");
    const outcome = await this.submit(chosen, "resync");
    if (liveCandidate && !live)
      live = liveCandidate === choice.candidate ? outcome : { status: "superseded" };
    return { outcome, live };
  }

  /** The matches of the last snapshot applied, by matchid (empty until the first one since start). */
  get currentMatches(): ReadonlyMap<number, Match> {
    return this.matchesById;
  }

  /**
   * How the last snapshot went: when one was last applied (or found already applied), and the
   * last failure with its reason. A failure older than the last success is history.
   */
  get health(): {
    lastSuccess: Date | undefined;
    lastFailure: { at: Date; error: string } | undefined;
    snapshotHash: string | undefined;
  } {
    return {
      lastSuccess: this.lastSuccess,
      lastFailure: this.lastFailure,
      snapshotHash: this.lastAppliedHash,
    };
  }

  /** Resolves once nothing is being applied or waiting. */
  async idle(): Promise<void> {
    if (!this.draining && !this.pending) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private submit(envelope: MatchUpdatesEnvelope, origin: MessageOrigin): Promise<ApplyOutcome> {
    return new Promise((resolve) => {
      if (this.pending) {
        this.stats.snapshot("superseded");
        this.logger.info(
          {
            event: "snapshot_superseded",
            message_id: this.pending.envelope.message_id,
            by: envelope.message_id,
          },
          "a newer snapshot replaced one waiting to be applied",
        );
        this.pending.resolve({ status: "superseded" });
      }
      this.pending = { envelope, origin, resolve };
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    // Set and cleared synchronously around the loop, so a job submitted at any moment is either
    // seen by the running loop or starts a new one.
    this.draining = true;
    try {
      for (let job = this.pending; job; job = this.pending) {
        this.pending = undefined;
        job.resolve(await this.apply(job));
      }
    } finally {
      this.draining = false;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private async apply({ envelope, origin }: Job): Promise<ApplyOutcome> {
    const metadata = envelope.payload.metadata;
    const hash = metadata?.snapshot_hash;
    const context = {
      origin,
      message_id: envelope.message_id,
      source: envelope.source,
      sequence: metadata?.sequence,
      matches: envelope.payload.matches.length,
    };
    if (hash !== undefined && hash === this.lastAppliedHash && !this.expiryDue()) {
      this.lastSuccess = this.clock();
      this.stats.snapshot("skipped");
      this.logger.debug({ event: "snapshot_skipped", ...context }, "same snapshot as the last one applied");
      return { status: "skipped" };
    }
    const started = performance.now();
    try {
      const now = this.clock();
      const desired: CalendarEvent[] = [];
      for (const match of envelope.payload.matches) {
        let event = this.events.get(match);
        if (event === undefined) {
          event = matchToCalendarEvent(match);
          this.events.set(match, event);
        }
        if (event) desired.push(event);
      }
      const before = this.options.backend.list();
      // The first snapshot into a new (or rebuilt) calendar is setup, not news.
      const firstFill = !this.calendarFilled;
      // Both saved before either is shown, then shown together (see `Staged`).
      const calendar = await this.options.backend.stage(desired, now);
      const phonebook = await this.options.phonebook.stage(envelope.payload.matches, now);
      calendar.show();
      phonebook.show();
      const changes = calendar.changes;
      const contacts = phonebook.changes;
      this.lastAppliedHash = hash;
      this.calendarFilled = true;
      const previousMatches = this.matchesById;
      this.matchesById = new Map(envelope.payload.matches.map((match) => [match.matchid, match]));
      this.lastSuccess = now;
      if (!firstFill) {
        this.options.recentChanges?.record({
          changes,
          before,
          after: this.options.backend.list(),
          previousMatches,
          matches: this.matchesById,
          appliedAt: now,
          origin,
        });
      }
      this.options.onApplied?.(changes, contacts);
      const seconds = (performance.now() - started) / 1000;
      const status = countChanges(changes) > 0 || contacts.changed ? "applied" : "unchanged";
      this.stats.snapshot(status, seconds);
      this.stats.sizes(this.options.backend.list().length, contacts.contacts);
      this.stats.lastApplied = {
        ...context,
        applied_at: now.toISOString(),
        ...appliedCounts(changes, contacts),
      };
      this.logger.info(
        {
          event: status === "applied" ? "snapshot_applied" : "snapshot_unchanged",
          ...context,
          // matchids are public identifiers; names, phone numbers and addresses are never logged.
          created: changes.created.slice(0, 20),
          updated: changes.updated.slice(0, 20),
          removed: changes.removed.slice(0, 20),
          expired: changes.expired.slice(0, 20),
          unchanged: changes.unchanged,
          history: changes.history,
          contacts: contacts.contacts,
          ms: Math.round(seconds * 1000),
        },
        status === "applied" ? "calendar updated" : "calendar already up to date",
      );
      return { status, changes, contacts };
    } catch (error) {
      this.lastAppliedHash = undefined;
      this.stats.snapshot("failed");
      const message = error instanceof Error ? error.message : String(error);
      this.lastFailure = { at: this.clock(), error: message };
      this.logger.error({ event: "snapshot_failed", ...context, err: message }, "could not apply snapshot");
      this.options.onApplyFailed?.(message);
      return { status: "failed", error: message };
    }
  }

  /**
   * A played match passed HISTORY_DAYS since the last apply: the same snapshot must be applied
   * again (not skipped) for it to leave the calendar and the phonebook.
   */
  private expiryDue(): boolean {
    const now = this.clock().getTime();
    const due = [this.options.backend.nextExpiry(), this.options.phonebook.nextExpiry()];
    return due.some((at) => at !== null && at < now);
  }

  /** A live snapshot (Redis, POST /manual-sync): applied unless the order refuses it. */
  private async receiveSnapshot(
    envelope: MatchUpdatesEnvelope,
    origin: MessageOrigin,
  ): Promise<ApplyOutcome> {
    const verdict = this.order.judge(envelope);
    switch (verdict) {
      case "older":
        return this.stale(
          envelope,
          origin,
          `sequence ${envelope.payload.metadata?.sequence} is lower than ${this.order.followedSequence} of the same processor epoch (a replay)`,
        );
      case "foreign":
        return this.refuseForeign(envelope);
      case "new_epoch":
      case "retired_epoch":
        if (this.options.resolveEpoch) return this.options.resolveEpoch(envelope);
        if (verdict === "retired_epoch")
          return this.stale(envelope, origin, "its processor epoch was replaced");
        break;
    }
    if (this.order.isGap(envelope)) {
      this.stats.sequenceGap();
      this.logger.warn(
        {
          event: "sequence_gap",
          expected: (this.order.followedSequence ?? 0) + 1,
          received: envelope.payload.metadata?.sequence,
        },
        "missed snapshots; resyncing from the latest envelope",
      );
      this.options.onSequenceGap?.();
    }
    this.liveSnapshots += 1;
    this.acceptOrder(envelope, origin);
    return this.submit(envelope, origin);
  }

  /** Moves the order on to `envelope` (logging a reset), records its sequence, and has the order saved. */
  private acceptOrder(envelope: MatchUpdatesEnvelope, origin: MessageOrigin): void {
    const sequence = envelope.payload.metadata?.sequence;
    const replaced = this.order.accept(envelope);
    if (replaced !== undefined) {
      this.stats.epochResets += 1;
      this.logger.info(
        {
          event: "epoch_reset",
          origin,
          from: replaced,
          to: envelope.payload.metadata?.processor_epoch,
          sequence,
          source: envelope.source,
        },
        "the processor started a new epoch (its state was reset); following it",
      );
    }
    if (sequence !== undefined) this.stats.lastSequence = this.order.followedSequence ?? sequence;
    this.options.onOrderChanged?.();
  }

  private stale(
    envelope: MatchUpdatesEnvelope | undefined,
    origin: MessageOrigin,
    reason: string,
  ): ApplyOutcome {
    this.stats.snapshot("stale");
    this.logger.info(
      {
        event: "snapshot_stale",
        origin,
        message_id: envelope?.message_id,
        sequence: envelope?.payload.metadata?.sequence,
        processor_epoch: envelope?.payload.metadata?.processor_epoch,
        reason,
      },
      "refused an older snapshot; the calendar keeps the newer one",
    );
    return { status: "stale", reason };
  }

  private refuseForeign(envelope: MatchUpdatesEnvelope): ApplyOutcome {
    const other = this.order.markForeign(envelope, this.clock());
    this.stats.snapshot("refused");
    const reason = `from another processor (source ${envelope.source}, epoch ${envelope.payload.metadata?.processor_epoch}) than the one calendar-sync follows (epoch ${this.order.followedEpoch ?? "unknown"}); two stacks on one channel?`;
    this.logger[other?.refused === 1 ? "error" : "warn"](
      {
        event: "foreign_snapshot_refused",
        message_id: envelope.message_id,
        source: envelope.source,
        processor_epoch: envelope.payload.metadata?.processor_epoch,
        followed_epoch: this.order.followedEpoch,
        refused: other?.refused,
      },
      "refused a snapshot of another processor publishing on the same channel",
    );
    return { status: "refused", reason };
  }

  private recordStatus(envelope: ProcessingStatusEnvelope, origin: MessageOrigin): void {
    const payload = envelope.payload;
    this.stats.lastStatus = {
      message_id: envelope.message_id,
      source: envelope.source,
      received_at: this.clock().toISOString(),
      status: payload.status,
      timestamp: payload.timestamp ?? envelope.timestamp,
    };
    // Debug, not info: the processor logs each cycle itself (cycle_finished), and the last status
    // is in /redis-stats; a line per status message cost a fifth of calendar-sync's time for them.
    this.logger.debug(
      { event: "processor_status", origin, source: envelope.source, status: payload.status },
      "processor status",
    );
  }

  private recordAlert(envelope: SystemAlertEnvelope, origin: MessageOrigin): void {
    const payload = envelope.payload;
    const alert = {
      message_id: envelope.message_id,
      source: envelope.source,
      received_at: this.clock().toISOString(),
      alert_type: payload.alert_type,
      severity: payload.severity,
      message: payload.message?.slice(0, 300),
      timestamp: payload.timestamp ?? envelope.timestamp,
    };
    this.stats.lastAlert = alert;
    const level = payload.severity === "error" || payload.severity === "critical" ? "error" : "warn";
    this.logger[level]({ event: "system_alert", origin, ...alert }, "system alert from the processor");
  }
}
