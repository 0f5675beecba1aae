import { EventEmitter } from "node:events";
import { Redis, type RedisOptions } from "ioredis";
import type { Logger } from "pino";
import { redactUrl } from "./config.js";

/**
 * One owner for each Redis connection (STYLE.md). Tuned so that a dead or frozen Redis costs a
 * service at most about a second: no offline queue (commands fail at once while disconnected
 * instead of piling up in memory), short connect and command timeouts, and reconnection in the
 * background with capped exponential backoff, forever.
 */

export interface RedisConnectionOptions {
  url: string;
  /** Shown in logs and in CLIENT LIST. */
  name: string;
  logger: Logger;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  /** Longest pause between reconnect attempts. */
  maxBackoffMs?: number;
  /**
   * PING this often while up; a PING that fails or times out (after `commandTimeoutMs`) forces a
   * reconnect. A frozen Redis or a half-open socket keeps the TCP connection open and is otherwise
   * noticed only when a command happens to time out. 0 (the default) turns it off.
   */
  heartbeatMs?: number;
}

export type RedisLinkState = "connecting" | "up" | "down" | "closed";

/**
 * A Redis client plus the state a health report needs: whether it is up, since when, and the last
 * error. Emits "up" and "down" on transitions, so services can resubscribe, resync or fall back.
 */
export class RedisLink extends EventEmitter<{ up: []; down: [reason: string] }> {
  readonly client: Redis;
  readonly redactedUrl: string;
  private stateValue: RedisLinkState = "connecting";
  private changedAt = Date.now();
  private lastErrorValue: string | undefined;
  private readonly logger: Logger;
  private heartbeat: NodeJS.Timeout | undefined;
  private heartbeatInFlight = false;

  constructor(options: RedisConnectionOptions) {
    super();
    this.logger = options.logger.child({ redis: options.name });
    this.redactedUrl = redactUrl(options.url);
    const maxBackoff = options.maxBackoffMs ?? 2000;
    const redisOptions: RedisOptions = {
      connectionName: options.name,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: options.connectTimeoutMs ?? 1000,
      commandTimeout: options.commandTimeoutMs ?? 1000,
      // Reconnect forever; jitter keeps two services from hammering a recovering Redis in step.
      retryStrategy: (attempt) => Math.min(maxBackoff, 50 * 2 ** Math.min(attempt, 10)) + Math.random() * 100,
      keepAlive: 5000,
      noDelay: true,
    };
    this.client = new Redis(options.url, redisOptions);
    this.client.on("ready", () => this.transition("up"));
    this.client.on("close", () => this.transition("down", this.lastErrorValue ?? "connection closed"));
    this.client.on("end", () => this.transition("closed"));
    this.client.on("error", (error: Error) => {
      // ioredis emits an error per failed reconnect attempt; log the first of each outage only.
      const message = error.message;
      if (this.stateValue !== "down" || this.lastErrorValue !== message) {
        this.logger.warn({ event: "redis_error", err: message }, "redis error");
      }
      this.lastErrorValue = message;
    });
    if (options.heartbeatMs) {
      this.heartbeat = setInterval(() => void this.ping(), options.heartbeatMs);
      this.heartbeat.unref();
    }
  }

  get state(): RedisLinkState {
    return this.stateValue;
  }

  get isUp(): boolean {
    return this.stateValue === "up" && this.client.status === "ready";
  }

  get lastError(): string | undefined {
    return this.lastErrorValue;
  }

  get stateSince(): Date {
    return new Date(this.changedAt);
  }

  /** Starts connecting in the background; resolves at once (never blocks a service's start). */
  connect(): void {
    this.client.connect().catch(() => {
      // Failures are reported through "error"/"close" and retried by retryStrategy.
    });
  }

  /** Waits until the link is up, or rejects after `timeoutMs`. */
  async waitUntilUp(timeoutMs: number): Promise<void> {
    if (this.isUp) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off("up", onUp);
        reject(new Error(`Redis at ${this.redactedUrl} not reachable within ${timeoutMs} ms`));
      }, timeoutMs);
      const onUp = () => {
        clearTimeout(timer);
        resolve();
      };
      this.once("up", onUp);
    });
  }

  /** Drops the connection and reconnects (e.g. after a missed heartbeat on a half-open socket). */
  reconnect(reason: string): void {
    this.logger.warn({ event: "redis_reconnect", reason }, "forcing a reconnect");
    this.lastErrorValue = reason;
    this.client.disconnect(true);
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    this.transition("closed");
    try {
      await Promise.race([this.client.quit(), new Promise((resolve) => setTimeout(resolve, 500))]);
    } catch {
      // Already gone.
    }
    this.client.disconnect(false);
  }

  private async ping(): Promise<void> {
    if (this.heartbeatInFlight || !this.isUp) return;
    this.heartbeatInFlight = true;
    try {
      await this.client.ping();
    } catch (error) {
      if (this.isUp) this.reconnect(`heartbeat PING failed: ${(error as Error).message}`);
    } finally {
      this.heartbeatInFlight = false;
    }
  }

  private transition(next: RedisLinkState, reason?: string): void {
    if (this.stateValue === "closed" || this.stateValue === next) return;
    const previous = this.stateValue;
    this.stateValue = next;
    this.changedAt = Date.now();
    if (next === "up") {
      this.lastErrorValue = undefined;
      this.logger.info({ event: "redis_up", url: this.redactedUrl }, "redis connected");
      this.emit("up");
    } else if (next === "down" && previous === "up") {
      this.logger.warn({ event: "redis_down", reason }, "redis connection lost");
      this.emit("down", reason ?? "connection lost");
    } else if (next === "down") {
      this.emit("down", reason ?? "not connected");
    }
  }
}
