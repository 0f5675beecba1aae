import {
  type DecodeResult,
  decodeEnvelope,
  type MatchUpdatesEnvelope,
  type Rejection,
} from "@fogis/message-schema";
import { BodyTooLargeError, type RedisLink, readResponseBody } from "@fogis/runtime";
import type { Logger } from "pino";
import type { ApplyOutcome, SnapshotHandler } from "./snapshot-handler.js";
import type { Candidate } from "./snapshot-order.js";
import type { ResyncSource, SyncStats } from "./stats.js";

/**
 * Convergence after anything was missed (DESIGN §5.3): fetch the latest envelope from both places
 * that keep it, and apply the newest by the order rules (`SnapshotOrder`): the Redis key the
 * processor writes in the same MULTI as each PUBLISH, and the processor's `GET /matches/latest`.
 * Both are asked every time: the key may be stale (snapshots went over HTTP while Redis was full,
 * or the processor was reset), and the processor's answer names the epoch that is its own.
 */

export interface LatestEnvelopeSourceOptions {
  /** The command connection and the key (`latestEnvelopeKey(channels)`); omitted when pub/sub is off. */
  redis?: { link: RedisLink; key: string };
  /** e.g. http://match-processor:8000 */
  processorUrl: string;
  maxBytes: number;
  fetch?: typeof fetch;
  httpTimeoutMs?: number;
}

/** What one place answered. */
export type LatestFromOnePlace =
  | { state: "found"; decoded: DecodeResult }
  /** Nothing stored there yet (before the processor's first cycle; the Python processor writes no key). */
  | { state: "none" }
  | { state: "failed"; error: string };

export interface LatestEnvelopes {
  redis: LatestFromOnePlace;
  processor: LatestFromOnePlace;
}

/** Asks the Redis key and the processor at once. */
export async function fetchLatestEnvelopes(options: LatestEnvelopeSourceOptions): Promise<LatestEnvelopes> {
  const [redis, processor] = await Promise.all([fromRedis(options), fromProcessor(options)]);
  return { redis, processor };
}

async function fromRedis(options: LatestEnvelopeSourceOptions): Promise<LatestFromOnePlace> {
  if (!options.redis) return { state: "none" };
  if (!options.redis.link.isUp) return { state: "failed", error: "redis: not connected" };
  try {
    const { client } = options.redis.link;
    // The size first: a value over the limit is never read into memory.
    const size = await client.strlen(options.redis.key);
    if (size > options.maxBytes) {
      return {
        state: "found",
        decoded: tooLarge(`the latest envelope in Redis is ${size} bytes`, options.maxBytes),
      };
    }
    const raw = size > 0 ? await client.getBuffer(options.redis.key) : null;
    if (!raw) return { state: "none" };
    return { state: "found", decoded: decodeEnvelope(raw, { maxBytes: options.maxBytes }) };
  } catch (error) {
    return { state: "failed", error: `redis: ${(error as Error).message}` };
  }
}

async function fromProcessor(options: LatestEnvelopeSourceOptions): Promise<LatestFromOnePlace> {
  const doFetch = options.fetch ?? fetch;
  const url = `${options.processorUrl.replace(/\/+$/, "")}/matches/latest`;
  try {
    const response = await doFetch(url, { signal: AbortSignal.timeout(options.httpTimeoutMs ?? 3000) });
    if (response.status === 404) {
      await response.body?.cancel();
      return { state: "none" };
    }
    if (!response.ok) {
      await response.body?.cancel();
      return { state: "failed", error: `processor: HTTP ${response.status}` };
    }
    // Streamed with the snapshot limit: a larger answer is refused after at most that many bytes.
    const body = await readResponseBody(response, options.maxBytes);
    return { state: "found", decoded: decodeEnvelope(body, { maxBytes: options.maxBytes }) };
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      return {
        state: "found",
        decoded: tooLarge("the processor's latest envelope (reading stopped there)", options.maxBytes),
      };
    }
    return { state: "failed", error: `processor: ${(error as Error).message}` };
  }
}

function tooLarge(what: string, maxBytes: number): Rejection {
  return {
    ok: false,
    code: "too_large",
    reason: `${what}: over the limit of ${maxBytes} bytes (MAX_BODY_BYTES)`,
  };
}

export interface ResyncResult {
  /** Where the applied snapshot came from (`none`: nothing stored anywhere; `failed`: neither place answered). */
  source: ResyncSource;
  outcome?: ApplyOutcome;
  /** What became of the live snapshot the resync was asked to weigh. */
  live?: ApplyOutcome;
  error?: string;
}

export interface ResynchronizerOptions {
  handler: SnapshotHandler;
  stats: SyncStats;
  logger: Logger;
  fetchLatest: () => Promise<LatestEnvelopes>;
  /**
   * True while the stack is starting: the processor may not answer yet (compose and `pnpm start`
   * start both services at once), so a failed fetch is expected and logged at info. Once the
   * processor answered or a stored snapshot was found, or the start is over, it is a warning again.
   */
  starting?: () => boolean;
}

interface Request {
  reason: string;
  live?: MatchUpdatesEnvelope;
}

/** Runs one resync at a time; requests during a run cause exactly one more run after it. */
export class Resynchronizer {
  private running: Promise<ResyncResult> | undefined;
  private again: (Request & { waiters: Array<(result: ResyncResult) => void> }) | undefined;
  private answered = false;

  constructor(private readonly options: ResynchronizerOptions) {}

  /** `live`: a snapshot that just arrived, to weigh against the stored ones (an epoch change). */
  resync(reason: string, live?: MatchUpdatesEnvelope): Promise<ResyncResult> {
    if (this.running) {
      // The running fetch may predate what prompted this request: queue one more fetch, with the
      // newest live snapshot asked about.
      this.again ??= { reason, waiters: [] };
      if (live) this.again.live = live;
      const again = this.again;
      return new Promise((resolve) => again.waiters.push(resolve));
    }
    this.running = this.run({ reason, live }).finally(() => {
      this.running = undefined;
      const next = this.again;
      this.again = undefined;
      if (next) {
        void this.resync(next.reason, next.live).then((result) => {
          for (const resolve of next.waiters) resolve(result);
        });
      }
    });
    return this.running;
  }

  private async run({ reason, live }: Request): Promise<ResyncResult> {
    const { handler, stats, logger } = this.options;
    const ticket = handler.beginResync();
    const latest = await this.options.fetchLatest();
    const candidates: Candidate[] = live ? [{ envelope: live, from: "live" }] : [];
    const errors: string[] = [];
    for (const [from, answer] of [
      ["redis", latest.redis],
      ["processor", latest.processor],
    ] as const) {
      if (answer.state === "failed") errors.push(answer.error);
      if (answer.state !== "found") continue;
      const usable = this.usable(answer.decoded, from);
      // An unusable envelope (too large, invalid) is a reason the resync fails: say it.
      if ("reason" in usable) errors.push(`${from}: ${usable.reason}`);
      else candidates.push({ envelope: usable.envelope, from });
    }
    const stored = candidates.filter((c) => c.from !== "live");
    // Redis answering "no key yet" says nothing about the processor: only its answer, or a stored
    // snapshot, ends the start-up allowance.
    const startingUp = !this.answered && (this.options.starting?.() ?? false);
    if (latest.processor.state !== "failed" || stored.length > 0) this.answered = true;
    if (stored.length === 0 && !live) {
      const nothing = latest.redis.state !== "failed" || latest.processor.state !== "failed";
      if (nothing && errors.length === 0) {
        stats.resync("none");
        logger.info({ event: "resync_empty", reason }, "no latest envelope stored yet");
        return { source: "none" };
      }
      stats.resync("failed");
      const error = errors.join("; ") || "no usable latest envelope";
      if (startingUp) {
        logger.info(
          { event: "resync_failed", reason, err: error, starting: true },
          "no latest envelope yet (the processor is still starting); the first snapshot is pushed when it is up",
        );
      } else {
        logger.warn({ event: "resync_failed", reason, err: error }, "could not fetch the latest envelope");
      }
      return { source: "failed", error };
    }
    logger.info(
      {
        event: "resync",
        reason,
        candidates: candidates.map((c) => ({
          from: c.from,
          message_id: c.envelope.message_id,
          sequence: c.envelope.payload.metadata?.sequence,
          processor_epoch: c.envelope.payload.metadata?.processor_epoch,
        })),
        ...(errors.length ? { errors } : {}),
      },
      "resyncing from the latest envelope",
    );
    let source: ResyncSource = "none";
    const applied = await handler.applyResync(candidates, ticket, (chosen) => {
      // Counted by where the snapshot to apply came from, or (none applied) where one was found.
      const from = chosen ?? stored[0]?.from;
      source = from === "processor" ? "http" : from === "redis" ? "redis" : from === "live" ? "live" : "none";
      stats.resync(source);
    });
    return { source, outcome: applied.outcome, live: applied.live };
  }

  /** A decoded stored envelope, or why (counted and logged) it cannot be used. */
  private usable(
    decoded: DecodeResult,
    from: "redis" | "processor",
  ): { envelope: MatchUpdatesEnvelope } | { reason: string } {
    const { handler } = this.options;
    if (!decoded.ok) {
      handler.rejected(decoded, "resync");
      return { reason: decoded.reason };
    }
    if (decoded.envelope.type !== "match_updates") {
      const reason = `the latest envelope from ${from} is a '${decoded.envelope.type}', not match_updates`;
      handler.rejected({ ok: false, code: "unknown_type", reason }, "resync");
      return { reason };
    }
    handler.droppedParts(decoded, "resync");
    return { envelope: decoded.envelope as MatchUpdatesEnvelope };
  }
}
