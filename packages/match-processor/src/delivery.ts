import {
  type Channels,
  type Envelope,
  encodeEnvelope,
  encodeSyncBody,
  latestEnvelopeKey,
  type MatchUpdatesEnvelope,
} from "@fogis/message-schema";
import { type Logger, type RedisConnectionInfo, type RedisLink, redactUrl } from "@fogis/runtime";

/**
 * Delivers a match-updates snapshot (DESIGN §5). A delivery is confirmed when the PUBLISH reached
 * at least one receiver, or when calendar-sync's `POST /manual-sync` answered 2xx (ours, or the
 * Python calendar service's: the body suits both). Redis is tried
 * only while the link is up (it fails fast and reconnects in the background), so a cycle with
 * Redis down goes straight to HTTP instead of waiting on connect timeouts. Attempts are bounded:
 * nothing is queued, the caller keeps its state and sends a fresh snapshot next cycle.
 */

export type DeliveryRoute = "redis" | "http" | "none";

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
  fetch?: typeof fetch;
}

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
  private fallback: FallbackState;

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

  /** `signal` ends the attempts early (shutdown); the snapshot then counts as not delivered. */
  async deliverSnapshot(envelope: MatchUpdatesEnvelope, signal?: AbortSignal): Promise<DeliveryResult> {
    const started = performance.now();
    const body = encodeEnvelope(envelope);
    // Written only when the fallback is needed: the envelope plus the top-level `matches` the
    // Python calendar service's /manual-sync reads (encodeSyncBody).
    let syncBody: string | undefined;
    const sequence = envelope.payload.metadata?.sequence;
    const errors: string[] = [];
    let receivers = 0;
    let zeroReceiverPublishes = 0;
    const result = (confirmed: boolean, route: DeliveryRoute, attempts: number): DeliveryResult => ({
      confirmed,
      route,
      receivers,
      attempts,
      zeroReceiverPublishes,
      errors,
      durationMs: Math.round(performance.now() - started),
    });

    let attempt = 1;
    for (; attempt <= this.attempts; attempt++) {
      if (attempt > 1) await sleep(this.retryDelaysMs[attempt - 2] ?? this.retryDelaysMs.at(-1) ?? 0);
      if (signal?.aborted) {
        errors.push(`attempt ${attempt}: abandoned, the service is shutting down`);
        break;
      }

      if (this.link) {
        if (this.link.isUp) {
          try {
            receivers = await this.publishAndStore(body);
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
    try {
      const receivers = await this.publishAndStore(encodeEnvelope(envelope));
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

  /** SET the latest envelope and PUBLISH it in one MULTI/EXEC; answers the receiver count. */
  private async publishAndStore(body: string): Promise<number> {
    const link = this.link as RedisLink;
    const replies = await link.client
      .multi()
      .set(this.latestKey, body)
      .publish(this.channels.matchUpdates, body)
      .exec();
    if (!replies) throw new Error("MULTI/EXEC was aborted");
    for (const [error] of replies) if (error) throw error;
    return Number(replies[1]?.[1] ?? 0);
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
      const text = await response.text().catch(() => "");
      if (!response.ok) failure = `calendar-sync answered ${response.status}${detail(text)}`;
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

function detail(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === "string") return `: ${parsed.error.slice(0, 200)}`;
  } catch {
    // Not JSON: the status code says enough.
  }
  return "";
}
