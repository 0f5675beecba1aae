import { EventEmitter } from "node:events";
import { Redis, type RedisOptions } from "ioredis";
import type { Logger } from "pino";
import { formatAddress, redactUrl, type SentinelConfig } from "./config.js";

/**
 * One owner for each Redis connection (STYLE.md). Tuned so that a dead or frozen Redis costs a
 * service at most about a second: no offline queue (commands fail at once while disconnected
 * instead of piling up in memory), short connect and command timeouts, and reconnection in the
 * background with capped exponential backoff, forever.
 *
 * With `sentinel` (DESIGN §14) every (re)connect asks the sentinels for the master (ioredis's own
 * Sentinel support, which also checks the answer's ROLE, so the link never comes up on a replica),
 * and a `+switch-master` announced by any sentinel drops the connection so that it follows a
 * failover at once. A write refused with READONLY (a master demoted to a replica) drops it as
 * well: the link goes down, so callers treat Redis as unavailable, and the reconnect finds the
 * new master.
 */

export interface RedisConnectionOptions {
  /** The Redis URL; with `sentinel`, only its password, user, TLS (rediss://) and database count. */
  url: string;
  sentinel?: SentinelConfig;
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

/** What a status endpoint shows about a link: where it is connected, and the failovers it followed. */
export interface RedisConnectionInfo {
  mode: "standalone" | "sentinel";
  /** The Redis URL, password redacted (with Sentinel: its host is not used). */
  url: string;
  sentinels?: string[];
  sentinel_name?: string;
  /** Address of the Redis this link is (or was last) connected to. */
  master: string | null;
  connected: boolean;
  /** Since when `master` has been the one (ISO time). */
  master_since: string | null;
  /** Times the link found the master at another address than before (Sentinel mode only). */
  failovers_seen?: number;
  last_failover?: { from: string; to: string; at: string } | null;
}

/**
 * A Redis client plus the state a health report needs: whether it is up, since when, and the last
 * error. Emits "up" and "down" on transitions, so services can resubscribe, resync or fall back.
 */
export class RedisLink extends EventEmitter<{ up: []; down: [reason: string] }> {
  readonly client: Redis;
  readonly redactedUrl: string;
  /** Where this link connects, for messages: the redacted URL, or the master name and sentinels. */
  readonly target: string;
  private readonly sentinel: SentinelConfig | undefined;
  private masterAddress: string | undefined;
  private masterSince: Date | undefined;
  private failovers = 0;
  private lastFailover: { from: string; to: string; at: Date } | undefined;
  private stateValue: RedisLinkState = "connecting";
  private changedAt = Date.now();
  private lastErrorValue: string | undefined;
  private readonly logger: Logger;
  private heartbeat: NodeJS.Timeout | undefined;
  private heartbeatInFlight = false;
  private readonly backoff: (attempt: number) => number;
  private restartTimer: NodeJS.Timeout | undefined;
  private restarts = 0;

  constructor(options: RedisConnectionOptions) {
    super();
    this.logger = options.logger.child({ redis: options.name });
    this.redactedUrl = redactUrl(options.url);
    this.sentinel = options.sentinel;
    this.target = options.sentinel
      ? `the master "${options.sentinel.name}" of sentinels ${options.sentinel.sentinels.map(formatAddress).join(",")}`
      : this.redactedUrl;
    const maxBackoff = options.maxBackoffMs ?? 2000;
    // Reconnect forever; jitter keeps two services from hammering a recovering Redis in step.
    const backoff = (attempt: number) =>
      Math.min(maxBackoff, 50 * 2 ** Math.min(attempt, 10)) + Math.random() * 100;
    this.backoff = backoff;
    const redisOptions: RedisOptions = {
      connectionName: options.name,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: options.connectTimeoutMs ?? 1000,
      commandTimeout: options.commandTimeoutMs ?? 1000,
      retryStrategy: backoff,
      keepAlive: 5000,
      noDelay: true,
      ...(options.sentinel
        ? {
            ...sentinelOptions(options.sentinel, options.url, backoff, options.commandTimeoutMs),
            reconnectOnError: (error: Error) => this.refusedAsReplica(error),
          }
        : {}),
    };
    this.client = new Redis(options.url, redisOptions);
    this.client.on("ready", () => {
      this.noteAddress();
      this.transition("up");
    });
    this.client.on("close", () => this.transition("down", this.lastErrorValue ?? "connection closed"));
    this.client.on("end", () => this.restartAfterEnd());
    this.client.on("error", (error: Error) => {
      // ioredis emits an error per failed reconnect attempt; log the first of each outage only.
      const message = error.message;
      if (this.stateValue !== "down" || this.lastErrorValue !== message) {
        this.logger.warn({ event: "redis_error", err: message }, "redis error");
      }
      this.lastErrorValue = message;
    });
    // A sentinel that did not answer (ioredis then asks the next one); the "error" above says when none did.
    this.client.on("sentinelError", (error: Error) =>
      this.logger.debug({ event: "redis_sentinel_error", err: error.message }, "a sentinel did not answer"),
    );
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

  /** Address (host:port) of the Redis this link is, or was last, connected to. */
  get master(): string | undefined {
    return this.masterAddress;
  }

  /** Where the link is connected and, with Sentinel, the failovers it followed. */
  connectionInfo(): RedisConnectionInfo {
    const info: RedisConnectionInfo = {
      mode: this.sentinel ? "sentinel" : "standalone",
      url: this.redactedUrl,
      master: this.masterAddress ?? null,
      connected: this.isUp,
      master_since: this.masterSince?.toISOString() ?? null,
    };
    if (!this.sentinel) return info;
    const last = this.lastFailover;
    return {
      ...info,
      sentinels: this.sentinel.sentinels.map(formatAddress),
      sentinel_name: this.sentinel.name,
      failovers_seen: this.failovers,
      last_failover: last ? { from: last.from, to: last.to, at: last.at.toISOString() } : null,
    };
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
        reject(new Error(`Redis at ${this.target} not reachable within ${timeoutMs} ms`));
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
    clearTimeout(this.restartTimer);
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

  /**
   * ioredis ends a client for good in a few races, e.g. when a failover is announced (or the link
   * is told to reconnect) while it is still asking the sentinels for the master. The link never
   * gives up: unless `close()` ended it, it starts connecting again after a backoff.
   */
  private restartAfterEnd(): void {
    if (this.stateValue === "closed") return;
    this.transition("down", this.lastErrorValue ?? "connection ended");
    const delay = this.backoff(++this.restarts);
    this.logger.warn(
      { event: "redis_restart", delayMs: Math.round(delay) },
      "the Redis client ended; starting it again",
    );
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stateValue !== "closed") this.connect();
    }, delay);
    this.restartTimer.unref();
  }

  /**
   * With Sentinel, ioredis asks this for every error reply. READONLY means the Redis we write to is
   * a replica now (a failover demoted it): reconnect, and ask the sentinels for the master again.
   * (Without Sentinel a reconnect would only reach the same replica again: the refused write is
   * reported to the caller, and that is all.)
   */
  private refusedAsReplica(error: Error): boolean {
    if (!error.message.startsWith("READONLY")) return false;
    const reason = `Redis refused a write as a read-only replica (READONLY); reconnecting to find the master`;
    if (this.lastErrorValue !== reason) {
      this.logger.warn({ event: "redis_readonly", master: this.masterAddress }, reason);
    }
    this.lastErrorValue = reason;
    return true;
  }

  /** Records the address the client is connected to, and counts a change of master as a failover. */
  private noteAddress(): void {
    const stream = this.client.stream as { remoteAddress?: string; remotePort?: number } | undefined;
    if (!stream?.remoteAddress || !stream.remotePort) return;
    const address = formatAddress({ host: stream.remoteAddress, port: stream.remotePort });
    const previous = this.masterAddress;
    if (address === previous) return;
    this.masterAddress = address;
    this.masterSince = new Date();
    if (previous === undefined || !this.sentinel) return;
    this.failovers += 1;
    this.lastFailover = { from: previous, to: address, at: this.masterSince };
    this.logger.warn(
      { event: "redis_failover", from: previous, to: address, failovers: this.failovers },
      "the sentinels name a new master; following it",
    );
  }

  private transition(next: RedisLinkState, reason?: string): void {
    if (this.stateValue === "closed" || this.stateValue === next) return;
    const previous = this.stateValue;
    this.stateValue = next;
    this.changedAt = Date.now();
    if (next === "up") {
      this.lastErrorValue = undefined;
      this.restarts = 0;
      this.logger.info(
        { event: "redis_up", url: this.redactedUrl, master: this.masterAddress },
        this.sentinel ? `redis connected to the master at ${this.masterAddress}` : "redis connected",
      );
      this.emit("up");
    } else if (next === "down" && previous === "up") {
      this.logger.warn({ event: "redis_down", reason }, "redis connection lost");
      this.emit("down", reason ?? "connection lost");
    } else if (next === "down") {
      this.emit("down", reason ?? "not connected");
    }
  }
}

/**
 * ioredis's Sentinel options. The sentinels speak TLS when REDIS_URL is rediss:// (in a TLS
 * deployment the sentinels listen on TLS as well). When no sentinel answers, ioredis itself keeps
 * trying them with `backoff`; a rejected connect would end the client for good.
 */
function sentinelOptions(
  sentinel: SentinelConfig,
  url: string,
  backoff: (attempt: number) => number,
  commandTimeoutMs: number | undefined,
): RedisOptions {
  const tls = url.startsWith("rediss:");
  return {
    sentinels: sentinel.sentinels.map(({ host, port }) => ({ host, port })),
    name: sentinel.name,
    role: "master",
    ...(sentinel.password ? { sentinelPassword: sentinel.password } : {}),
    enableTLSForSentinelMode: tls,
    ...(tls ? { sentinelTLS: {} } : {}),
    sentinelRetryStrategy: backoff,
    sentinelCommandTimeout: commandTimeoutMs ?? 1000,
    // Subscribes to +switch-master on the sentinels: a failover drops the connection at once, even
    // one to an old master that is still reachable.
    failoverDetector: true,
  };
}
