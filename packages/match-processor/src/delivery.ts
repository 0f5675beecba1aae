import {
  type Channels,
  type Envelope,
  encodeEnvelope,
  encodeSyncBody,
  latestEnvelopeKey,
  type MatchUpdatesEnvelope,
  publisherKey,
} from "@fogis/message-schema";
import {
  type Logger,
  type RedisConnectionInfo,
  type RedisLink,
  readResponseBody,
  redactUrl,
  type StatusIssue,
} from "@fogis/runtime";

/**
 * Delivers a match-updates snapshot (DESIGN §5). A delivery is confirmed when the PUBLISH reached
 * at least one receiver, or when calendar-sync's `POST /manual-sync` answered 2xx (ours, or the
 * Python calendar service's: the body suits both). Redis is tried
 * only while the link is up (it fails fast and reconnects in the background), so a cycle with
 * Redis down goes straight to HTTP instead of waiting on connect timeouts. Attempts are bounded:
 * nothing is queued, the caller keeps its state and sends a fresh snapshot next cycle.
 */

export type DeliveryRoute = "redis" | "http" | "none";

/** calendar-sync's refusal is read for its message only: at most this much of it. */
const MAX_REFUSAL_BYTES = 64 * 1024;

export interface SnapshotDeliveryOptions {
  /** The Redis link; `null` when REDIS_PUBSUB_ENABLED=false (HTTP alone). */
  link: RedisLink | null;
  channels: Channels;
  /** calendar-sync's base URL; `null` disables the HTTP fallback. */
  fallbackUrl: string | null;
  apiToken: string;
  logger: Logger;
  /** Rounds of (Redis, then HTTP). Default 3. */
  attempts?: number;
  /** Pause before round 2, 3, … Default [100, 300]. */
  retryDelaysMs?: number[];
  /** Longest wait for calendar-sync to answer the fallback POST. Default 5000. */
  fallbackTimeoutMs?: number;
  /**
   * Largest envelope published over Redis (REDIS_MAX_MESSAGE_BYTES), and the limit when Redis does
   * not tell its own: a larger one would overflow the subscriber's pub/sub output buffer, and Redis
   * drops the subscriber while PUBLISH still counts it. Default 8 MiB (Redis's default soft limit).
   */
  maxRedisMessageBytes?: number;
  fetch?: typeof fetch;
}

export const DEFAULT_MAX_REDIS_MESSAGE_BYTES = 8 * 1024 * 1024;

/** A second publisher on the channel is reported this long after it was last seen (longer than the default 1 h heartbeat). */
const SECOND_PUBLISHER_REPORTED_MS = 2 * 3_600_000;

export interface DeliveryResult {
  confirmed: boolean;
  /** What confirmed it; `none` when nothing did. */
  route: DeliveryRoute;
  /** Receivers of the last PUBLISH (0 when none was made). */
  receivers: number;
  attempts: number;
  /** PUBLISHes that reached nobody (each one sent the snapshot over HTTP too). */
  zeroReceiverPublishes: number;
  /** Why each failed step failed, in order; empty on a first-try success. */
  errors: string[];
  /** Redis answered with an error (e.g. OOM under maxmemory): it is up but does not take snapshots. */
  redisRefused: boolean;
  /** The envelope was over the Redis message limit, so it was not published there. */
  tooLargeForRedis: boolean;
  durationMs: number;
}

export interface FallbackState {
  configured: boolean;
  url: string | null;
  lastAttemptOk: boolean | null;
  lastAttemptAt: string | null;
  lastError: string | null;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class SnapshotDelivery {
  private readonly link: RedisLink | null;
  private readonly channels: Channels;
  private readonly latestKey: string;
  private readonly manualSyncUrl: string | null;
  private readonly authorization: string;
  private readonly logger: Logger;
  private readonly attempts: number;
  private readonly retryDelaysMs: number[];
  private readonly fallbackTimeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly publisherKey: string;
  private readonly configuredMaxRedisBytes: number;
  /** The smaller of Redis's pub/sub output buffer limits (hard, soft), when Redis tells them. */
  private serverPubsubLimit: number | null = null;
  private fallback: FallbackState;
  /** Redis answered the last snapshot with an error: why, and since when. */
  private redisRefusal: { error: string; since: string } | null = null;
  /** The last snapshot was over the Redis limit. */
  private oversize: { bytes: number; limit: number; at: string } | null = null;
  /** The publisher key held our epoch after a publish of ours, so a different one there is another processor. */
  private publishedOnce = false;
  private secondPublisher: { epoch: string; lastSeen: number; since: string; times: number } | null = null;

  constructor(options: SnapshotDeliveryOptions) {
    this.link = options.link;
    this.channels = options.channels;
    this.latestKey = latestEnvelopeKey(options.channels);
    this.manualSyncUrl = options.fallbackUrl
      ? `${options.fallbackUrl.replace(/\/+$/, "")}/manual-sync`
      : null;
    this.authorization = `Bearer ${options.apiToken}`;
    this.logger = options.logger.child({ component: "delivery" });
    this.attempts = Math.max(1, options.attempts ?? 3);
    this.retryDelaysMs = options.retryDelaysMs ?? [100, 300];
    this.fallbackTimeoutMs = options.fallbackTimeoutMs ?? 5000;
    this.fetchImpl = options.fetch ?? fetch;
    this.publisherKey = publisherKey(options.channels);
    this.configuredMaxRedisBytes = options.maxRedisMessageBytes ?? DEFAULT_MAX_REDIS_MESSAGE_BYTES;
    this.link?.on("up", () => void this.readServerLimit());
    if (this.link?.isUp) void this.readServerLimit();
    this.fallback = {
      configured: this.manualSyncUrl !== null,
      url: this.manualSyncUrl ? redactUrl(this.manualSyncUrl) : null,
      lastAttemptOk: null,
      lastAttemptAt: null,
      lastError: null,
    };
  }

  get redisEnabled(): boolean {
    return this.link !== null;
  }

  get redisConnected(): boolean {
    return this.link?.isUp ?? false;
  }

  /** Where the link is connected (null with pub/sub off). */
  get redisConnection(): RedisConnectionInfo | null {
    return this.link?.connectionInfo() ?? null;
  }

  get fallbackState(): FallbackState {
    return { ...this.fallback };
  }

  /** The HTTP fallback is configured and its last attempt (if any) did not fail. */
  get fallbackAvailable(): boolean {
    return this.fallback.configured && this.fallback.lastAttemptOk !== false;
  }

  /** False while Redis is up but the last snapshot could not go through it (refused, too large). */
  get redisCarriesUpdates(): boolean {
    return this.redisRefusal === null && this.oversize === null;
  }

  /** The largest envelope published over Redis now. */
  get maxRedisMessageBytes(): number {
    return Math.min(this.configuredMaxRedisBytes, this.serverPubsubLimit ?? Number.POSITIVE_INFINITY);
  }

  /** Why Redis does not carry snapshots although it is up, and whether another processor publishes on the channel. */
  get issues(): StatusIssue[] {
    const issues: StatusIssue[] = [];
    const other = this.secondPublisher;
    if (other && Date.now() - other.lastSeen < SECOND_PUBLISHER_REPORTED_MS) {
      issues.push({
        status: "fail",
        code: "second_publisher",
        message: `another processor (epoch ${other.epoch}) publishes on ${this.channels.matchUpdates} (seen ${other.times} time(s), last ${new Date(other.lastSeen).toISOString()}): calendar-sync follows only its own processor and refuses the other's snapshots. Give each stack its own channel (REDIS_MATCH_UPDATES_CHANNEL) or its own Redis`,
        since: other.since,
      });
    }
    if (this.link?.isUp && this.redisRefusal) {
      issues.push({
        status: "warn",
        code: "redis_refused_snapshot",
        message: `Redis is up but refused the last snapshot (${this.redisRefusal.error}); snapshots go over HTTP until it takes one. A full Redis (maxmemory, noeviction): free memory or raise maxmemory`,
        since: this.redisRefusal.since,
      });
    }
    if (this.oversize) {
      issues.push({
        status: "warn",
        code: "snapshot_too_large_for_redis",
        message: `the last snapshot is ${this.oversize.bytes} bytes, over the ${this.oversize.limit} bytes a subscriber's pub/sub output buffer takes (Redis's client-output-buffer-limit pubsub, REDIS_MAX_MESSAGE_BYTES): Redis would drop calendar-sync, so it went over HTTP (and into the latest-envelope key). Raise the pubsub limit in Redis to deliver it through Redis`,
        since: this.oversize.at,
      });
    }
    return issues;
  }

  /** `signal` ends the attempts early (shutdown); the snapshot then counts as not delivered. */
  async deliverSnapshot(envelope: MatchUpdatesEnvelope, signal?: AbortSignal): Promise<DeliveryResult> {
    const started = performance.now();
    const body = encodeEnvelope(envelope);
    // Written only when the fallback is needed: the envelope plus the top-level `matches` the
    // Python calendar service's /manual-sync reads (encodeSyncBody).
    let syncBody: string | undefined;
    const sequence = envelope.payload.metadata?.sequence;
    const epoch = envelope.payload.metadata?.processor_epoch;
    const errors: string[] = [];
    let receivers = 0;
    let zeroReceiverPublishes = 0;
    let redisRefused = false;
    const bytes = Buffer.byteLength(body);
    const limit = this.maxRedisMessageBytes;
    const tooLargeForRedis = this.link !== null && bytes > limit;
    this.oversize = tooLargeForRedis ? { bytes, limit, at: new Date().toISOString() } : null;
    if (tooLargeForRedis) {
      this.logger.warn(
        { event: "too_large_for_redis", sequence, bytes, limit },
        "snapshot over the Redis pub/sub limit: not published (Redis would drop the subscriber); sending it over HTTP",
      );
      // Resyncs still find it in the key: a GET is not limited like a subscriber's buffer.
      await this.storeOnly(body);
    }
    const result = (confirmed: boolean, route: DeliveryRoute, attempts: number): DeliveryResult => ({
      confirmed,
      route,
      receivers,
      attempts,
      zeroReceiverPublishes,
      errors,
      redisRefused,
      tooLargeForRedis,
      durationMs: Math.round(performance.now() - started),
    });

    let attempt = 1;
    for (; attempt <= this.attempts; attempt++) {
      if (attempt > 1) await sleep(this.retryDelaysMs[attempt - 2] ?? this.retryDelaysMs.at(-1) ?? 0);
      if (signal?.aborted) {
        errors.push(`attempt ${attempt}: abandoned, the service is shutting down`);
        break;
      }

      if (this.link && tooLargeForRedis) {
        errors.push(
          `attempt ${attempt}: redis: snapshot is ${bytes} bytes, over the pub/sub limit of ${limit}`,
        );
      } else if (this.link) {
        if (this.link.isUp) {
          try {
            receivers = await this.publishAndStore(body, epoch);
            this.redisRefusal = null;
            if (receivers > 0) {
              this.logger.info(
                { event: "delivered_redis", sequence, receivers, attempt },
                "snapshot published to Redis",
              );
              return result(true, "redis", attempt);
            }
            zeroReceiverPublishes++;
            errors.push(`attempt ${attempt}: PUBLISH reached 0 receivers`);
            this.logger.warn(
              { event: "zero_receivers", sequence, attempt, channel: this.channels.matchUpdates },
              "no subscriber received the snapshot; sending it over HTTP",
            );
          } catch (error) {
            const message = redisErrorMessage(error);
            if ((error as Error).name === "ReplyError") {
              // Redis is up and answered: it does not take writes (maxmemory, read-only replica, ...).
              redisRefused = true;
              this.redisRefusal ??= { error: message, since: new Date().toISOString() };
            }
            errors.push(`attempt ${attempt}: redis: ${message}`);
            this.logger.warn(
              { event: "redis_publish_failed", sequence, attempt, err: message },
              "publishing to Redis failed; sending the snapshot over HTTP",
            );
          }
        } else {
          errors.push(`attempt ${attempt}: redis: not connected (${this.link.lastError ?? this.link.state})`);
        }
      }

      if (this.manualSyncUrl) {
        syncBody ??= encodeSyncBody(envelope);
        const failure = await this.postFallback(syncBody, signal);
        if (failure === null) {
          this.logger.info(
            { event: "delivered_http", sequence, attempt, receivers },
            "snapshot delivered through the HTTP fallback",
          );
          return result(true, "http", attempt);
        }
        errors.push(`attempt ${attempt}: http: ${failure}`);
      }
    }

    const attempts = Math.min(attempt, this.attempts);
    this.logger.error(
      { event: "delivery_failed", sequence, attempts, errors },
      "snapshot not delivered; state is kept and the next cycle sends again",
    );
    return result(false, "none", attempts);
  }

  /** Calls `listener` each time the Redis link comes (back) up. */
  onRedisUp(listener: () => void): void {
    this.link?.on("up", listener);
  }

  /**
   * SETs the latest-envelope key and PUBLISHes the envelope again, in one MULTI, best effort. Used
   * when Redis comes back (restarted, or a new master after a failover): snapshots sent over HTTP
   * meanwhile reached only the fallback target and never the key. A subscriber that resubscribes
   * after this reads the key; one that resubscribed before it (and read an older key) gets the
   * message. Subscribers that already have the snapshot skip it. Not a delivery: no counter moves.
   */
  async announceLatest(envelope: MatchUpdatesEnvelope): Promise<boolean> {
    if (!this.link?.isUp) return false;
    const body = encodeEnvelope(envelope);
    // Too large to publish (it would drop the subscribers): the key alone, for their resyncs.
    if (Buffer.byteLength(body) > this.maxRedisMessageBytes) return this.storeOnly(body);
    try {
      const receivers = await this.publishAndStore(body, envelope.payload.metadata?.processor_epoch);
      this.logger.info(
        { event: "latest_announced", sequence: envelope.payload.metadata?.sequence, receivers },
        "Redis is back: the latest snapshot is in its key and published again",
      );
      return true;
    } catch (error) {
      this.logger.warn({ event: "latest_key_refresh_failed", err: redisErrorMessage(error) });
      return false;
    }
  }

  /** SETs the latest-envelope key alone, best effort: for a snapshot too large to publish. */
  private async storeOnly(body: string): Promise<boolean> {
    if (!this.link?.isUp) return false;
    try {
      await this.link.client.set(this.latestKey, body);
      return true;
    } catch (error) {
      this.logger.warn({ event: "latest_key_refresh_failed", err: redisErrorMessage(error) });
      return false;
    }
  }

  /**
   * Best-effort status and alert messages: one PUBLISH if the link is up, never retried, never
   * in the way of a snapshot. Answers whether it was sent.
   */
  async publishEvent(envelope: Envelope): Promise<boolean> {
    if (!this.link?.isUp) return false;
    const channel =
      envelope.type === "system_alert"
        ? this.channels.systemAlerts
        : envelope.type === "processing_status"
          ? this.channels.processorStatus
          : this.channels.matchUpdates;
    try {
      await this.link.client.publish(channel, encodeEnvelope(envelope));
      return true;
    } catch (error) {
      this.logger.debug({ event: "event_publish_failed", channel, err: (error as Error).message });
      return false;
    }
  }

  /**
   * SET the latest envelope, swap our epoch into the publisher key, and PUBLISH, in one MULTI/EXEC;
   * answers the receiver count.
   */
  private async publishAndStore(body: string, epoch: string | undefined): Promise<number> {
    const link = this.link as RedisLink;
    const transaction = link.client.multi().set(this.latestKey, body);
    if (epoch) transaction.set(this.publisherKey, epoch, "GET");
    const replies = await transaction.publish(this.channels.matchUpdates, body).exec();
    if (!replies) throw new Error("MULTI/EXEC was aborted");
    for (const [error] of replies) if (error) throw error;
    if (epoch) this.notePublisher(epoch, replies[1]?.[1]);
    return Number(replies.at(-1)?.[1] ?? 0);
  }

  /** `previous` is the epoch that was in the publisher key: after a publish of ours, another one is a second processor. */
  private notePublisher(epoch: string, previous: unknown): void {
    const other = typeof previous === "string" && previous !== epoch && this.publishedOnce ? previous : null;
    this.publishedOnce = true;
    if (!other) return;
    const now = Date.now();
    if (this.secondPublisher?.epoch !== other) {
      this.logger.error(
        {
          event: "second_publisher",
          other_epoch: other,
          processor_epoch: epoch,
          channel: this.channels.matchUpdates,
        },
        "another processor publishes on the same channel; give each stack its own channel or Redis",
      );
      this.secondPublisher = { epoch: other, lastSeen: now, since: new Date(now).toISOString(), times: 1 };
      return;
    }
    this.secondPublisher.lastSeen = now;
    this.secondPublisher.times += 1;
  }

  /** Redis's client-output-buffer-limit for pub/sub clients, when it lets us read it (CONFIG may be off limits). */
  private async readServerLimit(): Promise<void> {
    try {
      const reply = await (this.link as RedisLink).client.config("GET", "client-output-buffer-limit");
      this.serverPubsubLimit = parsePubsubLimit(Array.isArray(reply) ? String(reply[1] ?? "") : "");
    } catch (error) {
      this.serverPubsubLimit = null;
      this.logger.debug({ event: "redis_limit_unknown", err: (error as Error).message });
    }
  }

  /** POST /manual-sync; answers `null` on 2xx, else why it failed. */
  private async postFallback(body: string, signal?: AbortSignal): Promise<string | null> {
    const url = this.manualSyncUrl as string;
    let failure: string | null = null;
    try {
      const timeout = AbortSignal.timeout(this.fallbackTimeoutMs);
      const response = await this.fetchImpl(url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: this.authorization },
        body,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      if (response.ok) {
        // Confirmed by the status; the body is not read (an endless one would hold the cycle).
        await response.body?.cancel().catch(() => undefined);
      } else {
        const text = await readResponseBody(response, MAX_REFUSAL_BYTES)
          .then((bytes) => new TextDecoder().decode(bytes))
          .catch(() => "");
        failure = `calendar-sync answered ${response.status}${detail(text)}`;
      }
    } catch (error) {
      const name = (error as Error).name;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      if (signal?.aborted) failure = "abandoned: the service is shutting down";
      else if (name === "TimeoutError" || name === "AbortError") {
        failure = `no answer within ${this.fallbackTimeoutMs} ms`;
      } else failure = `${cause?.code ?? cause?.message ?? (error as Error).message}`;
    }
    this.fallback.lastAttemptOk = failure === null;
    this.fallback.lastAttemptAt = new Date().toISOString();
    this.fallback.lastError = failure;
    if (failure) {
      this.logger.warn(
        { event: "fallback_failed", url: this.fallback.url, err: failure },
        "HTTP fallback failed",
      );
    }
    return failure;
  }
}

/**
 * A refused MULTI fails as EXECABORT; the reason is the refused command's error (READONLY from a
 * master demoted to a replica, OOM, ...), which ioredis keeps in `previousErrors`.
 */
function redisErrorMessage(error: unknown): string {
  const { message, previousErrors } = error as { message: string; previousErrors?: Error[] };
  const cause = previousErrors?.[0]?.message;
  return cause ? `${cause} (the transaction was discarded: nothing stored, nothing published)` : message;
}

/**
 * The smaller non-zero of the pub/sub hard and soft limits in a CONFIG GET client-output-buffer-limit
 * value ("normal 0 0 0 replica … pubsub 33554432 8388608 60"), or null when there is none.
 */
export function parsePubsubLimit(value: string): number | null {
  const words = value.trim().split(/\s+/);
  const at = words.indexOf("pubsub");
  if (at < 0) return null;
  const limits = [words[at + 1], words[at + 2]].map(Number).filter((n) => Number.isFinite(n) && n > 0);
  return limits.length ? Math.min(...limits) : null;
}

function detail(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === "string") return `: ${parsed.error.slice(0, 200)}`;
  } catch {
    // Not JSON: the status code says enough.
  }
  return "";
}
