import { type DecodeResult, decodeEnvelope, type MatchUpdatesEnvelope } from "@fogis/message-schema";
import type { RedisLink } from "@fogis/runtime";
import type { Logger } from "pino";
import type { ApplyOutcome, SnapshotHandler } from "./snapshot-handler.js";
import type { ResyncSource, SyncStats } from "./stats.js";

/**
 * Convergence after anything was missed (DESIGN §5.3): fetch the latest envelope and apply it.
 * It is read from the Redis key the processor writes in the same MULTI as each PUBLISH, and when
 * Redis is down or holds nothing (the Python processor writes no key) from the processor's
 * `GET /matches/latest`.
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

export type LatestEnvelope =
  | { source: "redis" | "http"; decoded: DecodeResult }
  /** Neither place had an envelope yet (before the processor's first cycle). */
  | { source: "none" }
  | { source: "failed"; errors: string[] };

export async function fetchLatestEnvelope(options: LatestEnvelopeSourceOptions): Promise<LatestEnvelope> {
  const errors: string[] = [];
  if (options.redis?.link.isUp) {
    try {
      const raw = await options.redis.link.client.getBuffer(options.redis.key);
      if (raw) return { source: "redis", decoded: decodeEnvelope(raw, { maxBytes: options.maxBytes }) };
    } catch (error) {
      errors.push(`redis: ${(error as Error).message}`);
    }
  } else if (options.redis) {
    errors.push("redis: not connected");
  }
  const doFetch = options.fetch ?? fetch;
  const url = `${options.processorUrl.replace(/\/+$/, "")}/matches/latest`;
  try {
    const response = await doFetch(url, { signal: AbortSignal.timeout(options.httpTimeoutMs ?? 3000) });
    if (response.status === 404) return errors.length ? { source: "failed", errors } : { source: "none" };
    if (!response.ok) {
      errors.push(`processor: HTTP ${response.status}`);
      return { source: "failed", errors };
    }
    const body = new Uint8Array(await response.arrayBuffer());
    return { source: "http", decoded: decodeEnvelope(body, { maxBytes: options.maxBytes }) };
  } catch (error) {
    errors.push(`processor: ${(error as Error).message}`);
    return { source: "failed", errors };
  }
}

export interface ResyncResult {
  source: ResyncSource;
  outcome?: ApplyOutcome;
  error?: string;
}

export interface ResynchronizerOptions {
  handler: SnapshotHandler;
  stats: SyncStats;
  logger: Logger;
  fetchLatest: () => Promise<LatestEnvelope>;
  /**
   * True while the stack is starting: the processor may not answer yet (compose and `pnpm start`
   * start both services at once), so a failed fetch is expected and logged at info. Once Redis or
   * the processor answered, or the start is over, a failed fetch is a warning again.
   */
  starting?: () => boolean;
}

/** Runs one resync at a time; a request during a run causes exactly one more run after it. */
export class Resynchronizer {
  private running: Promise<ResyncResult> | undefined;
  private again: { reason: string; waiters: Array<(result: ResyncResult) => void> } | undefined;
  private answered = false;

  constructor(private readonly options: ResynchronizerOptions) {}

  resync(reason: string): Promise<ResyncResult> {
    if (this.running) {
      // The running fetch may predate what prompted this request: queue one more fetch.
      this.again ??= { reason, waiters: [] };
      const again = this.again;
      return new Promise((resolve) => again.waiters.push(resolve));
    }
    this.running = this.run(reason).finally(() => {
      this.running = undefined;
      const next = this.again;
      this.again = undefined;
      if (next) {
        void this.resync(next.reason).then((result) => {
          for (const resolve of next.waiters) resolve(result);
        });
      }
    });
    return this.running;
  }

  private async run(reason: string): Promise<ResyncResult> {
    const { handler, stats, logger } = this.options;
    const ticket = handler.beginResync();
    const latest = await this.options.fetchLatest();
    if (latest.source === "none") {
      this.answered = true;
      stats.resync("none");
      logger.info({ event: "resync_empty", reason }, "no latest envelope stored yet");
      return { source: "none" };
    }
    if (latest.source === "failed") {
      stats.resync("failed");
      const error = latest.errors.join("; ");
      if (!this.answered && this.options.starting?.()) {
        logger.info(
          { event: "resync_failed", reason, err: error, starting: true },
          "no latest envelope yet (the processor is still starting); the first snapshot is pushed when it is up",
        );
      } else {
        logger.warn({ event: "resync_failed", reason, err: error }, "could not fetch the latest envelope");
      }
      return { source: "failed", error };
    }
    this.answered = true;
    stats.resync(latest.source);
    const decoded = latest.decoded;
    if (!decoded.ok) {
      handler.rejected(decoded, "resync");
      return { source: latest.source, error: decoded.reason };
    }
    if (decoded.envelope.type !== "match_updates") {
      const reason = `the latest envelope is a '${decoded.envelope.type}', not match_updates`;
      handler.rejected({ ok: false, code: "unknown_type", reason }, "resync");
      return { source: latest.source, error: reason };
    }
    handler.droppedParts(decoded, "resync");
    const envelope = decoded.envelope as MatchUpdatesEnvelope;
    logger.info(
      {
        event: "resync",
        reason,
        from: latest.source,
        message_id: envelope.message_id,
        sequence: envelope.payload.metadata?.sequence,
      },
      "resyncing from the latest envelope",
    );
    return { source: latest.source, outcome: await handler.applyResync(envelope, ticket) };
  }
}
