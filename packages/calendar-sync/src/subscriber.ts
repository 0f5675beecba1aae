import { randomUUID } from "node:crypto";
import type { Channels } from "@fogis/message-schema";
import { RedisLink, type SentinelConfig } from "@fogis/runtime";
import type { Logger } from "pino";
import type { SyncStats } from "./stats.js";

/**
 * The Redis side of the subscriber. Two connections, each with one owner (a `RedisLink`): one in
 * subscribe mode for the three channels, one for commands (reading the latest envelope, publishing
 * the /redis-test probe). Both reconnect by themselves with backoff; every (re)subscribe triggers a
 * resync, because pub/sub drops whatever was published while we were away.
 *
 * A heartbeat PINGs the subscriber connection (RESP3 allows that in subscribe mode). TCP keepalive
 * takes minutes to notice a frozen Redis or a half-open socket; two unanswered PINGs force a
 * reconnect within 2 × interval + timeout of the freeze (6 s with the defaults).
 */

export interface MatchSubscriberOptions {
  url: string;
  /** Find the master through Redis Sentinel (both connections follow a failover). */
  sentinel?: SentinelConfig;
  channels: Channels;
  logger: Logger;
  stats: SyncStats;
  /** A message on one of the three channels. Called synchronously; must not throw. */
  onMessage: (channel: string, message: Buffer) => void;
  /** After each successful (re)subscribe. */
  onSubscribed: () => void;
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  maxBackoffMs?: number;
  /** Prefix of the private /redis-test channel; a random id is appended. */
  probeChannelPrefix?: string;
}

export const MISSED_HEARTBEATS_BEFORE_RECONNECT = 2;

export class RedisUnavailableError extends Error {
  override name = "RedisUnavailableError";
}

export class MatchSubscriber {
  readonly subscriberLink: RedisLink;
  readonly commandLink: RedisLink;
  readonly probeChannel: string;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  private readonly options: MatchSubscriberOptions;
  private readonly logger: Logger;
  private subscribedValue = false;
  private subscribedSince: Date | undefined;
  private unsubscribedAt: Date | undefined;
  private missedHeartbeats = 0;
  private lastHeartbeatMs: number | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatInFlight = false;
  private readonly probes = new Map<string, () => void>();

  constructor(options: MatchSubscriberOptions) {
    this.options = options;
    this.logger = options.logger.child({ component: "subscriber" });
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 2500;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 1000;
    this.probeChannel = `${options.probeChannelPrefix ?? "fogis:calendar-sync:probe"}:${randomUUID()}`;
    const common = {
      url: options.url,
      sentinel: options.sentinel,
      logger: options.logger,
      connectTimeoutMs: options.connectTimeoutMs,
      maxBackoffMs: options.maxBackoffMs,
    };
    this.subscriberLink = new RedisLink({
      ...common,
      name: "calendar-sync-subscriber",
      commandTimeoutMs: this.heartbeatTimeoutMs,
    });
    this.commandLink = new RedisLink({
      ...common,
      name: "calendar-sync",
      commandTimeoutMs: options.commandTimeoutMs,
    });
    this.subscriberLink.on("up", () => void this.subscribe());
    this.subscriberLink.on("down", () => this.markUnsubscribed());
    this.subscriberLink.client.on("messageBuffer", (channel: Buffer, message: Buffer) =>
      this.receive(channel.toString(), message),
    );
  }

  /** Connects in the background and starts the heartbeat; never blocks. */
  start(): void {
    this.subscriberLink.connect();
    this.commandLink.connect();
    this.heartbeatTimer ??= setInterval(() => void this.heartbeat(), this.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
  }

  get connected(): boolean {
    return this.subscriberLink.isUp;
  }

  get subscribed(): boolean {
    return this.subscribedValue && this.subscriberLink.isUp;
  }

  /** When pub/sub last worked: now while subscribed, else when the subscription was lost. */
  get lastSubscribedAt(): Date | undefined {
    return this.subscribed ? new Date() : this.unsubscribedAt;
  }

  /** Why Redis is not reachable, when it is not. */
  get lastError(): string | undefined {
    return this.subscriberLink.lastError ?? this.commandLink.lastError;
  }

  /** Resolves once subscribed, or false after `timeoutMs`. */
  async waitUntilSubscribed(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.subscribed) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return true;
  }

  /**
   * Publishes a probe on the private test channel over the command connection and waits for it to
   * arrive on the subscriber connection: the full path a real message takes. Answers milliseconds.
   */
  async roundTrip(timeoutMs = 2000): Promise<number> {
    if (!this.subscribed || !this.commandLink.isUp) {
      throw new RedisUnavailableError(
        `Redis is not reachable (${this.subscriberLink.lastError ?? this.commandLink.lastError ?? "not subscribed"})`,
      );
    }
    const token = randomUUID();
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<void>((resolve, reject) => {
      this.probes.set(token, resolve);
      timer = setTimeout(
        () => reject(new RedisUnavailableError(`the probe did not come back within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      const receivers = await this.commandLink.client.publish(this.probeChannel, token);
      if (receivers === 0) throw new RedisUnavailableError("the probe reached no subscriber");
      await arrived;
      return performance.now() - started;
    } catch (error) {
      if (error instanceof RedisUnavailableError) throw error;
      throw new RedisUnavailableError(`publishing the probe failed: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
      this.probes.delete(token);
    }
  }

  /** Drops both connections and reconnects; the resubscribe that follows resyncs. */
  restart(reason = "restart requested"): void {
    this.options.stats.reconnects += 1;
    this.markUnsubscribed();
    this.commandLink.reconnect(reason);
    this.subscriberLink.reconnect(reason);
  }

  /** Shown by /redis-status. */
  details(): Record<string, unknown> {
    return {
      // Which Redis the subscription is on and, with Sentinel, the failovers it followed; every
      // failover is a resubscribe, and every resubscribe a resync.
      redis_connection: this.subscriberLink.connectionInfo(),
      subscriber_connection: this.subscriberLink.state,
      command_connection: this.commandLink.state,
      command_connection_master: this.commandLink.master ?? null,
      subscribed_since: this.subscribed ? this.subscribedSince?.toISOString() : undefined,
      last_error: this.subscriberLink.lastError ?? this.commandLink.lastError,
      heartbeat: {
        interval_ms: this.heartbeatIntervalMs,
        timeout_ms: this.heartbeatTimeoutMs,
        missed_in_a_row: this.missedHeartbeats,
        last_round_trip_ms: this.lastHeartbeatMs,
      },
    };
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    this.markUnsubscribed("closing");
    await Promise.all([this.subscriberLink.close(), this.commandLink.close()]);
  }

  private async subscribe(): Promise<void> {
    const { channels } = this.options;
    const names = [channels.matchUpdates, channels.processorStatus, channels.systemAlerts, this.probeChannel];
    try {
      await this.subscriberLink.client.subscribe(...names);
    } catch (error) {
      this.logger.warn(
        { event: "subscribe_failed", err: (error as Error).message },
        "subscribe failed; reconnecting",
      );
      this.subscriberLink.reconnect("subscribe failed");
      return;
    }
    this.subscribedValue = true;
    this.subscribedSince = new Date();
    this.missedHeartbeats = 0;
    this.logger.info({ event: "subscribed", channels }, "subscribed; resyncing");
    this.options.onSubscribed();
  }

  private markUnsubscribed(cause: "lost" | "closing" = "lost"): void {
    if (this.subscribedValue) {
      // Leaving on shutdown is what the user asked for, not a warning.
      if (cause === "closing")
        this.logger.info({ event: "unsubscribed", cause }, "unsubscribed: shutting down");
      else this.logger.warn({ event: "unsubscribed", cause }, "no longer subscribed");
      this.unsubscribedAt = new Date();
    }
    this.subscribedValue = false;
  }

  private receive(channel: string, message: Buffer): void {
    if (channel === this.probeChannel) {
      this.probes.get(message.toString())?.();
      return;
    }
    this.options.onMessage(channel, message);
  }

  private async heartbeat(): Promise<void> {
    if (this.heartbeatInFlight || !this.subscriberLink.isUp) return;
    this.heartbeatInFlight = true;
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.subscriberLink.client.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error("PING timed out")), this.heartbeatTimeoutMs);
        }),
      ]);
      this.missedHeartbeats = 0;
      this.lastHeartbeatMs = Math.round((performance.now() - started) * 10) / 10;
    } catch (error) {
      this.missedHeartbeats += 1;
      this.options.stats.heartbeatMissed();
      this.logger.warn(
        { event: "heartbeat_missed", missed: this.missedHeartbeats, err: (error as Error).message },
        "subscriber connection did not answer PING",
      );
      if (this.missedHeartbeats >= MISSED_HEARTBEATS_BEFORE_RECONNECT) {
        this.missedHeartbeats = 0;
        this.options.stats.reconnects += 1;
        this.markUnsubscribed();
        this.subscriberLink.reconnect(`${MISSED_HEARTBEATS_BEFORE_RECONNECT} heartbeats missed`);
      }
    } finally {
      clearTimeout(timer);
      this.heartbeatInFlight = false;
    }
  }
}
