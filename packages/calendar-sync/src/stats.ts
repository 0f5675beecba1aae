import type { RejectionCode } from "@fogis/message-schema";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/**
 * Counters for everything that can be lost or go wrong (STYLE.md), shown by `GET /redis-stats`
 * (the Python fields `messages_received`, `messages_processed`, `messages_failed` plus ours) and
 * exported to Prometheus from the same calls, so the two never disagree.
 */

export type MessageOrigin = "redis" | "http" | "resync";
export type SnapshotOutcome =
  | "applied"
  | "unchanged"
  | "skipped"
  | "superseded"
  | "stale"
  | "refused"
  | "failed";
/** Where a resync's snapshot came from: the Redis key, the processor (http), the live message it weighed, nowhere. */
export type ResyncSource = "redis" | "http" | "live" | "none" | "failed";

export interface SeenMessage {
  message_id: string;
  source: string;
  received_at: string;
  [key: string]: unknown;
}

export class SyncStats {
  messagesReceived = 0;
  messagesProcessed = 0;
  messagesFailed = 0;
  readonly receivedByOrigin: Record<MessageOrigin, number> = { redis: 0, http: 0, resync: 0 };
  readonly invalidByReason: Partial<Record<RejectionCode, number>> = {};
  /** Informational envelope parts dropped as malformed, by part (`payload.detailed_changes`, ...). */
  readonly partsDropped: Record<string, number> = {};
  readonly receivedByType: Record<string, number> = {};
  readonly snapshots: Record<SnapshotOutcome, number> = {
    applied: 0,
    unchanged: 0,
    skipped: 0,
    superseded: 0,
    stale: 0,
    refused: 0,
    failed: 0,
  };
  readonly resyncs: Record<ResyncSource, number> = { redis: 0, http: 0, live: 0, none: 0, failed: 0 };
  lastSequence: number | null = null;
  sequenceGaps = 0;
  /** New processor epochs followed (a processor whose state was reset). */
  epochResets = 0;
  heartbeatMisses = 0;
  reconnects = 0;
  lastApplied: Record<string, unknown> | null = null;
  lastStatus: SeenMessage | null = null;
  lastAlert: SeenMessage | null = null;
  private readonly startedAt: Date;

  private readonly metrics: {
    received: Counter<"origin">;
    invalid: Counter<"reason">;
    partsDropped: Counter<"part">;
    snapshots: Counter<"outcome">;
    resyncs: Counter<"source">;
    gaps: Counter;
    heartbeatMisses: Counter;
    applySeconds: Histogram;
    events: Gauge;
    contacts: Gauge;
  };

  constructor(registry: Registry, now = new Date()) {
    this.startedAt = now;
    const registers = [registry];
    this.metrics = {
      received: new Counter({
        name: "fogis_calendar_messages_received_total",
        help: "Messages received, by origin (redis, http, resync)",
        labelNames: ["origin"],
        registers,
      }),
      invalid: new Counter({
        name: "fogis_calendar_messages_invalid_total",
        help: "Messages rejected by the codec, by reason",
        labelNames: ["reason"],
        registers,
      }),
      partsDropped: new Counter({
        name: "fogis_calendar_envelope_parts_dropped_total",
        help: "Malformed informational envelope parts dropped by the codec (the envelope itself was used), by part",
        labelNames: ["part"],
        registers,
      }),
      snapshots: new Counter({
        name: "fogis_calendar_snapshots_total",
        help: "Match snapshots by outcome (applied, unchanged, skipped, superseded, stale, refused: another processor's, failed)",
        labelNames: ["outcome"],
        registers,
      }),
      resyncs: new Counter({
        name: "fogis_calendar_resyncs_total",
        help: "Resyncs from the latest envelope, by where it came from (none: nothing stored yet)",
        labelNames: ["source"],
        registers,
      }),
      gaps: new Counter({
        name: "fogis_calendar_sequence_gaps_total",
        help: "Sequence gaps seen (missed snapshots)",
        registers,
      }),
      heartbeatMisses: new Counter({
        name: "fogis_calendar_heartbeat_misses_total",
        help: "Subscriber heartbeats (PING) not answered in time",
        registers,
      }),
      applySeconds: new Histogram({
        name: "fogis_calendar_apply_seconds",
        help: "Time to apply one snapshot to the calendar and phonebook",
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
        registers,
      }),
      events: new Gauge({ name: "fogis_calendar_events", help: "Events in the calendar", registers }),
      contacts: new Gauge({ name: "fogis_calendar_contacts", help: "Contacts in the phonebook", registers }),
    };
  }

  received(origin: MessageOrigin): void {
    this.messagesReceived += 1;
    this.receivedByOrigin[origin] += 1;
    this.metrics.received.inc({ origin });
  }

  receivedType(type: string): void {
    this.receivedByType[type] = (this.receivedByType[type] ?? 0) + 1;
  }

  invalid(code: RejectionCode): void {
    this.messagesFailed += 1;
    this.invalidByReason[code] = (this.invalidByReason[code] ?? 0) + 1;
    this.metrics.invalid.inc({ reason: code });
  }

  /** `part` is a declared schema path (no values, no indices): a bounded label. */
  partDropped(part: string): void {
    this.partsDropped[part] = (this.partsDropped[part] ?? 0) + 1;
    this.metrics.partsDropped.inc({ part });
  }

  processed(): void {
    this.messagesProcessed += 1;
  }

  failed(): void {
    this.messagesFailed += 1;
  }

  snapshot(outcome: SnapshotOutcome, seconds?: number): void {
    this.snapshots[outcome] += 1;
    this.metrics.snapshots.inc({ outcome });
    if (seconds !== undefined) this.metrics.applySeconds.observe(seconds);
  }

  resync(source: ResyncSource): void {
    this.resyncs[source] += 1;
    this.metrics.resyncs.inc({ source });
  }

  sequenceGap(): void {
    this.sequenceGaps += 1;
    this.metrics.gaps.inc();
  }

  heartbeatMissed(): void {
    this.heartbeatMisses += 1;
    this.metrics.heartbeatMisses.inc();
  }

  sizes(events: number, contacts: number): void {
    this.metrics.events.set(events);
    this.metrics.contacts.set(contacts);
  }

  /** The `stats` object of `GET /redis-stats`. */
  toJSON(): Record<string, unknown> {
    const invalid = Object.values(this.invalidByReason).reduce((sum, n) => sum + (n ?? 0), 0);
    return {
      messages_received: this.messagesReceived,
      messages_processed: this.messagesProcessed,
      messages_failed: this.messagesFailed,
      received_by_origin: { ...this.receivedByOrigin },
      messages_invalid: invalid,
      invalid_by_reason: { ...this.invalidByReason },
      envelope_parts_dropped: { ...this.partsDropped },
      received_by_type: { ...this.receivedByType },
      snapshots_applied: this.snapshots.applied,
      snapshots_unchanged: this.snapshots.unchanged,
      snapshots_skipped: this.snapshots.skipped,
      snapshots_superseded: this.snapshots.superseded,
      snapshots_stale: this.snapshots.stale,
      snapshots_refused: this.snapshots.refused,
      snapshots_failed: this.snapshots.failed,
      resyncs: { ...this.resyncs, total: Object.values(this.resyncs).reduce((sum, n) => sum + n, 0) },
      last_sequence: this.lastSequence,
      sequence_gaps: this.sequenceGaps,
      epoch_resets: this.epochResets,
      heartbeat_misses: this.heartbeatMisses,
      reconnects: this.reconnects,
      last_applied: this.lastApplied,
      last_status: this.lastStatus,
      last_alert: this.lastAlert,
      started_at: this.startedAt.toISOString(),
    };
  }
}
