import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { DeliveryRoute } from "./delivery.js";

/**
 * Counters for everything that can be lost (STYLE.md), kept in one place: Prometheus metrics for
 * `/metrics` and the same figures as plain numbers for `/redis-status` and tests. Every envelope
 * created ends up in exactly one bucket:
 *   envelopes_created = delivered_via_redis + delivered_via_http + superseded + pending
 */

export type CycleOutcome =
  | "delivered"
  | "unchanged"
  /** An empty list after a non-empty one, not yet confirmed: nothing sent, the state kept. */
  | "empty_list_held"
  | "source_failed"
  | "delivery_failed";

export interface DeliveryCounters {
  envelopes_created: number;
  delivered_via_redis: number;
  delivered_via_http: number;
  /** Never confirmed, then replaced by a newer snapshot (which carries everything it had). */
  superseded: number;
  /** Created, not yet confirmed: 0 or 1. */
  pending: number;
  zero_receiver_publishes: number;
  /** Snapshots Redis answered with an error (e.g. OOM under maxmemory); they went over HTTP. */
  redis_refused: number;
  /** Snapshots over the Redis message limit, not published there; they went over HTTP. */
  too_large_for_redis: number;
  /** Cycles whose snapshot no route confirmed. */
  delivery_failures: number;
  cycles: Record<CycleOutcome, number>;
}

export class ProcessorMetrics {
  private readonly totals: DeliveryCounters = {
    envelopes_created: 0,
    delivered_via_redis: 0,
    delivered_via_http: 0,
    superseded: 0,
    pending: 0,
    zero_receiver_publishes: 0,
    redis_refused: 0,
    too_large_for_redis: 0,
    delivery_failures: 0,
    cycles: { delivered: 0, unchanged: 0, empty_list_held: 0, source_failed: 0, delivery_failed: 0 },
  };
  private readonly cyclesTotal: Counter<"result">;
  private readonly cycleSeconds: Histogram;
  private readonly envelopesCreated: Counter;
  private readonly envelopesDelivered: Counter<"route">;
  private readonly zeroReceivers: Counter;
  private readonly redisRefusedTotal: Counter;
  private readonly tooLargeTotal: Counter;
  private readonly deliveryFailures: Counter;
  private readonly superseded: Counter;
  private readonly pending: Gauge;
  private readonly lastSequence: Gauge;
  private readonly changesTotal: Counter<"category">;
  private readonly invalidEntriesTotal: Counter<"kind">;

  constructor(readonly registry: Registry) {
    const registers = [registry];
    this.cyclesTotal = new Counter({
      name: "fogis_processor_cycles_total",
      help: "Processing cycles by result: delivered, unchanged (nothing to send), empty_list_held (an empty list not yet confirmed), source_failed, delivery_failed",
      labelNames: ["result"],
      registers,
    });
    for (const result of Object.keys(this.totals.cycles)) this.cyclesTotal.inc({ result }, 0);
    this.cycleSeconds = new Histogram({
      name: "fogis_processor_cycle_duration_seconds",
      help: "Duration of a processing cycle: fetch, detect, deliver",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.envelopesCreated = new Counter({
      name: "fogis_processor_envelopes_created_total",
      help: "match_updates envelopes (full snapshots) created",
      registers,
    });
    this.envelopesDelivered = new Counter({
      name: "fogis_processor_envelopes_delivered_total",
      help: "Envelopes whose delivery was confirmed, by route: redis (PUBLISH reached a receiver) or http (fallback answered 2xx)",
      labelNames: ["route"],
      registers,
    });
    this.envelopesDelivered.inc({ route: "redis" }, 0);
    this.envelopesDelivered.inc({ route: "http" }, 0);
    this.zeroReceivers = new Counter({
      name: "fogis_processor_zero_receiver_publishes_total",
      help: "PUBLISHes of a snapshot that reached no subscriber (the HTTP fallback was tried)",
      registers,
    });
    this.redisRefusedTotal = new Counter({
      name: "fogis_processor_redis_refused_total",
      help: "Snapshots Redis answered with an error while up (e.g. OOM under maxmemory noeviction); sent over HTTP",
      registers,
    });
    this.tooLargeTotal = new Counter({
      name: "fogis_processor_too_large_for_redis_total",
      help: "Snapshots over the Redis pub/sub message limit, not published (Redis would drop the subscriber); sent over HTTP",
      registers,
    });
    this.deliveryFailures = new Counter({
      name: "fogis_processor_delivery_failures_total",
      help: "Snapshots that neither Redis nor the HTTP fallback confirmed after all attempts of a cycle",
      registers,
    });
    this.superseded = new Counter({
      name: "fogis_processor_envelopes_superseded_total",
      help: "Unconfirmed envelopes replaced by a newer full snapshot",
      registers,
    });
    this.pending = new Gauge({
      name: "fogis_processor_envelopes_pending",
      help: "Envelopes created but not yet confirmed (0 or 1)",
      registers,
    });
    this.lastSequence = new Gauge({
      name: "fogis_processor_last_sequence",
      help: "Sequence number of the newest envelope created",
      registers,
    });
    this.changesTotal = new Counter({
      name: "fogis_processor_changes_detected_total",
      help: "Changes detected, by category",
      labelNames: ["category"],
      registers,
    });
    this.invalidEntriesTotal = new Counter({
      name: "fogis_processor_invalid_entries_total",
      help: "Entries of fetched match lists that did not validate, each cycle they were seen: kind=match (last good version kept) or referee (dropped from its match)",
      labelNames: ["kind"],
      registers,
    });
    this.invalidEntriesTotal.inc({ kind: "match" }, 0);
    this.invalidEntriesTotal.inc({ kind: "referee" }, 0);
  }

  /** Entries of fetched lists that did not validate, counted each cycle they are seen. */
  invalidEntries(matches: number, referees: number): void {
    if (matches) this.invalidEntriesTotal.inc({ kind: "match" }, matches);
    if (referees) this.invalidEntriesTotal.inc({ kind: "referee" }, referees);
  }

  get counters(): DeliveryCounters {
    return { ...this.totals, cycles: { ...this.totals.cycles } };
  }

  cycle(outcome: CycleOutcome, seconds: number): void {
    this.totals.cycles[outcome]++;
    this.cyclesTotal.inc({ result: outcome });
    this.cycleSeconds.observe(seconds);
  }

  changesDetected(byCategory: Record<string, number>): void {
    for (const [category, count] of Object.entries(byCategory)) this.changesTotal.inc({ category }, count);
  }

  envelopeCreated(sequence: number, supersedesPending: boolean): void {
    if (supersedesPending) {
      this.totals.superseded++;
      this.superseded.inc();
    }
    this.totals.envelopes_created++;
    this.envelopesCreated.inc();
    this.setPending(1);
    this.lastSequence.set(sequence);
  }

  delivered(route: Exclude<DeliveryRoute, "none">): void {
    if (route === "redis") this.totals.delivered_via_redis++;
    else this.totals.delivered_via_http++;
    this.envelopesDelivered.inc({ route });
    this.setPending(0);
  }

  zeroReceiverPublishes(count: number): void {
    if (count === 0) return;
    this.totals.zero_receiver_publishes += count;
    this.zeroReceivers.inc(count);
  }

  /** One snapshot's delivery went around Redis: refused by it, or too large for it. */
  redisBypassed({ refused, tooLarge }: { refused: boolean; tooLarge: boolean }): void {
    if (refused) {
      this.totals.redis_refused++;
      this.redisRefusedTotal.inc();
    }
    if (tooLarge) {
      this.totals.too_large_for_redis++;
      this.tooLargeTotal.inc();
    }
  }

  deliveryFailed(): void {
    this.totals.delivery_failures++;
    this.deliveryFailures.inc();
  }

  private setPending(value: 0 | 1): void {
    this.totals.pending = value;
    this.pending.set(value);
  }
}
