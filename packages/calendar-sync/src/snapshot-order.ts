import { type MatchUpdatesEnvelope, parseWireTimestamp } from "@fogis/message-schema";

/**
 * Which snapshot wins (DESIGN §5.3). Every envelope is a complete list, so the calendar must only
 * ever move forward to the newest list of its own processor:
 *
 * - Sequences count within one processor epoch (`payload.metadata.processor_epoch`). Within the
 *   epoch the calendar follows, a lower sequence is stale (a replay): refused.
 * - An epoch never seen is a processor whose state was wiped: accepted explicitly, as a reset, and
 *   the epoch it replaces is retired. A retired epoch never wins again, whatever its sequence or
 *   timestamp (a Redis key left from before the reset, a clock that ran ahead).
 * - When calendar-sync's own processor (PROCESSOR_URL) answers, its epoch decides: a live snapshot
 *   from any other epoch that is still publishing is another processor on the channel ("foreign"):
 *   refused, counted, and reported. The publisher that wins is the one calendar-sync is configured
 *   to ask; when it cannot be asked, the newest epoch seen (the last reset) wins.
 * - Envelopes without an epoch (the Python processor, a `{"matches": [...]}` POST) carry no order:
 *   live ones are applied as they come; a resync result without one is refused once an epoch is
 *   followed, and otherwise when it is older by timestamp than the last one applied.
 *
 * Timestamps are never compared across epochs: a processor's clock may be wrong.
 */

export type OrderVerdict =
  /** The followed epoch, a higher sequence. */
  | "newer"
  /** The followed epoch, the same sequence (the same snapshot, or one sent again). */
  | "same"
  /** The followed epoch, a lower sequence: a replay. */
  | "older"
  /** An epoch never seen: a processor reset, or another processor (decided by asking ours). */
  | "new_epoch"
  /** An epoch that was followed before and replaced. */
  | "retired_epoch"
  /** An epoch found to be another processor's. */
  | "foreign"
  /** No epoch: no order to check. */
  | "unversioned";

/** Where a resync candidate came from. `live` is the message that prompted the resync. */
export type CandidateOrigin = "live" | "redis" | "processor";

export interface Candidate {
  envelope: MatchUpdatesEnvelope;
  from: CandidateOrigin;
}

export type Choice =
  | { kind: "apply"; candidate: Candidate; reset: boolean }
  | { kind: "stale"; why: string }
  | { kind: "none" };

export interface ForeignPublisher {
  epoch: string;
  source: string;
  refused: number;
  firstSeen: string;
  lastSeen: string;
}

/** What `applied_snapshot.json` holds. */
export interface PersistedOrder {
  processor_epoch?: string;
  sequence?: number;
  /** ms since the epoch: the last snapshot applied without an epoch. */
  timestamp?: number;
  retired?: Array<{ epoch: string; sequence: number }>;
}

const RETIRED_KEPT = 20;

function epochOf(envelope: MatchUpdatesEnvelope): string | undefined {
  return envelope.payload.metadata?.processor_epoch;
}

/** ms since the epoch, read as the Python services write it (no zone = UTC), or NaN. */
function timeOf(envelope: MatchUpdatesEnvelope): number {
  return parseWireTimestamp(envelope.timestamp)?.getTime() ?? Number.NaN;
}

function sequenceOf(envelope: MatchUpdatesEnvelope): number | undefined {
  return envelope.payload.metadata?.sequence;
}

export class SnapshotOrder {
  /** The epoch followed, and the highest sequence accepted in it (-1: any of its sequences). */
  private current: { epoch: string; sequence: number } | undefined;
  /** Epochs replaced, with the highest sequence seen from each. */
  private readonly retired = new Map<string, number>();
  private readonly foreignEpochs = new Map<string, ForeignPublisher>();
  private unversionedTimestamp: number | undefined;

  /**
   * `trustSequence` false: the stored calendar could not be read back, so the next snapshot of the
   * followed epoch must rebuild it whatever its sequence (epochs stay retired all the same).
   */
  constructor(persisted?: PersistedOrder, { trustSequence = true } = {}) {
    if (persisted?.processor_epoch) {
      this.current = {
        epoch: persisted.processor_epoch,
        sequence: trustSequence ? (persisted.sequence ?? -1) : -1,
      };
    }
    for (const entry of persisted?.retired ?? []) this.retired.set(entry.epoch, entry.sequence);
    if (trustSequence) this.unversionedTimestamp = persisted?.timestamp;
  }

  get followedEpoch(): string | undefined {
    return this.current?.epoch;
  }

  get followedSequence(): number | undefined {
    const sequence = this.current?.sequence;
    return sequence === undefined || sequence < 0 ? undefined : sequence;
  }

  /** Processors found publishing on the channel besides the one followed. */
  get foreign(): ForeignPublisher[] {
    return [...this.foreignEpochs.values()];
  }

  judge(envelope: MatchUpdatesEnvelope): OrderVerdict {
    const epoch = epochOf(envelope);
    if (epoch === undefined) return "unversioned";
    if (this.foreignEpochs.has(epoch)) return "foreign";
    if (this.current?.epoch === epoch) {
      const sequence = sequenceOf(envelope);
      if (sequence === undefined || sequence === this.current.sequence) return "same";
      return sequence > this.current.sequence ? "newer" : "older";
    }
    return this.retired.has(epoch) ? "retired_epoch" : "new_epoch";
  }

  /** A live snapshot of the followed epoch more than one ahead: snapshots were missed. */
  isGap(envelope: MatchUpdatesEnvelope): boolean {
    const sequence = sequenceOf(envelope);
    return (
      this.judge(envelope) === "newer" &&
      sequence !== undefined &&
      this.current !== undefined &&
      this.current.sequence >= 0 &&
      sequence > this.current.sequence + 1
    );
  }

  /** An envelope without an epoch, from a resync, older than the last one applied. */
  isStaleUnversioned(envelope: MatchUpdatesEnvelope): boolean {
    if (this.current) return true;
    const timestamp = timeOf(envelope);
    return (
      this.unversionedTimestamp !== undefined &&
      !Number.isNaN(timestamp) &&
      timestamp < this.unversionedTimestamp
    );
  }

  /**
   * Records that `envelope` is being applied; answers the epoch it replaces (a reset), if any.
   * Called for every snapshot handed to the calendar, live or from a resync.
   */
  accept(envelope: MatchUpdatesEnvelope): string | undefined {
    const epoch = epochOf(envelope);
    const sequence = sequenceOf(envelope) ?? -1;
    if (epoch === undefined) {
      const timestamp = timeOf(envelope);
      if (!Number.isNaN(timestamp)) this.unversionedTimestamp = timestamp;
      return undefined;
    }
    let replaced: string | undefined;
    if (this.current && this.current.epoch !== epoch) {
      replaced = this.current.epoch;
      this.retire(this.current.epoch, this.current.sequence);
    }
    this.retired.delete(epoch);
    this.foreignEpochs.delete(epoch);
    const previous = this.current?.epoch === epoch ? this.current.sequence : -1;
    this.current = { epoch, sequence: Math.max(previous, sequence) };
    return replaced;
  }

  /** Counts a refused envelope of another processor. */
  markForeign(envelope: MatchUpdatesEnvelope, now: Date): ForeignPublisher | undefined {
    const epoch = epochOf(envelope);
    if (epoch === undefined) return undefined;
    const at = now.toISOString();
    const known = this.foreignEpochs.get(epoch) ?? {
      epoch,
      source: envelope.source,
      refused: 0,
      firstSeen: at,
      lastSeen: at,
    };
    known.refused += 1;
    known.lastSeen = at;
    this.foreignEpochs.set(epoch, known);
    return known;
  }

  /**
   * Picks the snapshot a resync applies. `candidates` are the live message that prompted it (if
   * any), the Redis key and the processor's GET /matches/latest. When the processor named an epoch,
   * that epoch wins and a live snapshot of another epoch that is still publishing is foreign (listed
   * in `foreign`, for the caller to count). Otherwise the rules of `judge` decide, a new epoch (the
   * last reset) before the followed one.
   */
  choose(candidates: readonly Candidate[]): { choice: Choice; foreign: Candidate[] } {
    const foreign: Candidate[] = [];
    const own = candidates.find((c) => c.from === "processor" && epochOf(c.envelope) !== undefined);
    const ownEpoch = own ? epochOf(own.envelope) : undefined;
    if (ownEpoch !== undefined) {
      for (const candidate of candidates) {
        const epoch = epochOf(candidate.envelope);
        if (
          candidate.from === "live" &&
          epoch !== undefined &&
          epoch !== ownEpoch &&
          this.isAlive(candidate)
        ) {
          foreign.push(candidate);
        }
      }
      const best = highestSequence(candidates.filter((c) => epochOf(c.envelope) === ownEpoch));
      if (!best) return { choice: { kind: "none" }, foreign };
      const verdict = this.judge(best.envelope);
      if (verdict === "older") {
        return {
          choice: { kind: "stale", why: "older than the snapshot applied, in the same epoch" },
          foreign,
        };
      }
      const reset = verdict === "new_epoch" || verdict === "retired_epoch" || verdict === "foreign";
      return { choice: { kind: "apply", candidate: best, reset }, foreign };
    }

    const byVerdict = (wanted: OrderVerdict) => candidates.filter((c) => this.judge(c.envelope) === wanted);
    const newEpoch = byVerdict("new_epoch")[0];
    if (newEpoch) return { choice: { kind: "apply", candidate: newEpoch, reset: true }, foreign };
    const followed = highestSequence([...byVerdict("newer"), ...byVerdict("same")]);
    if (followed) return { choice: { kind: "apply", candidate: followed, reset: false }, foreign };
    const unversioned = byVerdict("unversioned")
      .filter((c) => !this.isStaleUnversioned(c.envelope))
      .sort((a, b) => timeOf(b.envelope) - timeOf(a.envelope))[0];
    if (unversioned) return { choice: { kind: "apply", candidate: unversioned, reset: false }, foreign };
    if (candidates.length === 0) return { choice: { kind: "none" }, foreign };
    return {
      choice: {
        kind: "stale",
        why: "older than the snapshot applied (a lower sequence, or an epoch that was replaced)",
      },
      foreign,
    };
  }

  toJSON(): PersistedOrder {
    return {
      ...(this.current
        ? {
            processor_epoch: this.current.epoch,
            ...(this.current.sequence >= 0 ? { sequence: this.current.sequence } : {}),
          }
        : {}),
      ...(this.unversionedTimestamp !== undefined ? { timestamp: this.unversionedTimestamp } : {}),
      retired: [...this.retired].map(([epoch, sequence]) => ({ epoch, sequence })),
    };
  }

  /** A snapshot of an epoch that is not the followed one, newer than anything seen from it: that processor still runs. */
  private isAlive(candidate: Candidate): boolean {
    const epoch = epochOf(candidate.envelope) as string;
    const sequence = sequenceOf(candidate.envelope) ?? Number.POSITIVE_INFINITY;
    if (this.current?.epoch === epoch) return sequence > this.current.sequence;
    const seen = this.retired.get(epoch);
    return seen === undefined || sequence > seen;
  }

  private retire(epoch: string, sequence: number): void {
    const highest = Math.max(sequence, this.retired.get(epoch) ?? -1);
    // Re-inserted, so the map's order stays oldest-retired first.
    this.retired.delete(epoch);
    this.retired.set(epoch, highest);
    while (this.retired.size > RETIRED_KEPT) {
      const oldest = this.retired.keys().next().value as string;
      this.retired.delete(oldest);
    }
  }
}

function highestSequence(candidates: readonly Candidate[]): Candidate | undefined {
  let best: Candidate | undefined;
  for (const candidate of candidates) {
    const sequence = sequenceOf(candidate.envelope) ?? -1;
    if (!best || sequence > (sequenceOf(best.envelope) ?? -1)) best = candidate;
  }
  return best;
}
