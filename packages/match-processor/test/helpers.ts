import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Channels, resolveChannels } from "@fogis/message-schema";
import { createLogger, createMetricsRegistry, RedisLink } from "@fogis/runtime";
import { LoopbackServer, plainRedisClient, type RedisHandle, startRedis } from "@fogis/testing";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll } from "vitest";
import { SnapshotDelivery, type SnapshotDeliveryOptions } from "../src/delivery.js";
import { MatchProcessor, type MatchProcessorOptions } from "../src/processor.js";
import type { MatchSource } from "../src/sources.js";
import { type SourceKind, StateStore } from "../src/state-store.js";

/** Test support for this package: a calendar-sync stand-in, a subscriber, and a wired processor. */

export const TOKEN = "test-token-0123456789abcdef";
export const silentLogger = createLogger({ name: "test", level: "silent" });

/**
 * What a test hands over to be closed after it (`cleanup.push(() => x.close())`): run after each
 * test, last first. Call once at the top of a test file.
 */
export function cleanupAfterEach(): Array<() => Promise<void>> {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of cleanup.splice(0).reverse()) await close();
  });
  return cleanup;
}

/** One Redis for a whole test file: started before its tests, closed after them. */
export function redisForFile(): { readonly url: string } {
  let redis: RedisHandle | undefined;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.close();
  });
  return {
    get url(): string {
      if (!redis) throw new Error("the file's Redis is started before its tests: use it inside a test");
      return redis.url;
    },
  };
}

export function tempDir(prefix = "fogis-processor-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Channel names of our own, so tests sharing one Redis never see each other's messages. */
export function uniqueChannels(): Channels {
  const id = randomBytes(4).toString("hex");
  return resolveChannels({
    REDIS_MATCH_UPDATES_CHANNEL: `test:${id}:matches:updates`,
    REDIS_PROCESSOR_STATUS_CHANNEL: `test:${id}:processor:status`,
    REDIS_SYSTEM_ALERTS_CHANNEL: `test:${id}:system:alerts`,
  });
}

export interface ReceivedSync {
  authorization: string | undefined;
  body: unknown;
}

/**
 * A stand-in for calendar-sync's `POST /manual-sync`: a real HTTP server on a loopback port that
 * records what it receives. It can be stopped and started again on the same port.
 */
export class SyncReceiver {
  readonly received: ReceivedSync[] = [];
  status = 200;
  delayMs = 0;
  private readonly http = new LoopbackServer();

  get url(): string {
    return `http://127.0.0.1:${this.http.port}`;
  }

  async start(): Promise<this> {
    await this.http.start((req, res) => void this.handle(req, res));
    return this;
  }

  async stop(): Promise<void> {
    await this.http.stop();
  }

  private async handle(req: IncomingMessage, res: import("node:http").ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (req.method !== "POST" || req.url !== "/manual-sync") {
      res.writeHead(404).end();
      return;
    }
    const text = Buffer.concat(chunks).toString("utf8");
    if (this.status >= 200 && this.status < 300) {
      this.received.push({ authorization: req.headers.authorization, body: JSON.parse(text) });
    }
    res.writeHead(this.status, { "content-type": "application/json" });
    res.end(JSON.stringify(this.status < 300 ? { success: true } : { success: false, error: "refused" }));
  }
}

export interface ReceivedMessage {
  channel: string;
  text: string;
  json: Record<string, unknown> & { type?: string; payload?: Record<string, unknown> };
}

/** A plain ioredis subscriber, as any third-party (or the Python service) would use. */
export class Subscriber {
  readonly messages: ReceivedMessage[] = [];
  readonly client: Redis;

  private constructor(url: string) {
    this.client = plainRedisClient(url, { maxRetriesPerRequest: null, retryStrategy: () => 100 });
    this.client.on("message", (channel: string, text: string) => {
      this.messages.push({ channel, text, json: JSON.parse(text) });
    });
  }

  static async start(url: string, channels: Channels): Promise<Subscriber> {
    const subscriber = new Subscriber(url);
    await subscriber.client.subscribe(channels.matchUpdates, channels.processorStatus, channels.systemAlerts);
    return subscriber;
  }

  on(channel: string): ReceivedMessage[] {
    return this.messages.filter((m) => m.channel === channel);
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }
}

/** A match source whose list (or failure, or real source to ask instead) the test sets. */
export class ListSource implements MatchSource {
  kind: SourceKind = "file";
  readonly description = "test list";
  /** Entries as FOGIS would send them; a test may put invalid ones in. */
  matches: unknown[];
  failure: Error | null = null;
  delegate: MatchSource | null = null;
  delayMs = 0;
  fetches = 0;

  constructor(matches: unknown[] = []) {
    this.matches = matches;
  }

  async fetchMatches(signal?: AbortSignal): Promise<readonly unknown[]> {
    this.fetches++;
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failure) throw this.failure;
    if (this.delegate) return this.delegate.fetchMatches(signal);
    return structuredClone(this.matches);
  }
}

export interface Rig {
  processor: MatchProcessor;
  delivery: SnapshotDelivery;
  link: RedisLink | null;
  store: StateStore;
  dataDir: string;
  channels: Channels;
  close(): Promise<void>;
}

export interface RigOptions {
  redisUrl?: string | null;
  fallbackUrl?: string | null;
  source: MatchSource;
  dataDir?: string;
  channels?: Channels;
  delivery?: Partial<SnapshotDeliveryOptions>;
  processor?: Partial<MatchProcessorOptions>;
  /** Wait for the Redis link before answering (default true). */
  waitForRedis?: boolean;
}

/** A processor wired to real Redis (when given) and a real HTTP fallback (when given). */
export async function processorRig(options: RigOptions): Promise<Rig> {
  const channels = options.channels ?? uniqueChannels();
  const dataDir = options.dataDir ?? tempDir();
  const link = options.redisUrl
    ? new RedisLink({
        url: options.redisUrl,
        name: "test-processor",
        logger: silentLogger,
        maxBackoffMs: 200,
      })
    : null;
  link?.connect();
  if (link && options.waitForRedis !== false) await link.waitUntilUp(5000);
  const delivery = new SnapshotDelivery({
    link,
    channels,
    fallbackUrl: options.fallbackUrl ?? null,
    apiToken: TOKEN,
    logger: silentLogger,
    ...options.delivery,
  });
  const store = new StateStore(dataDir);
  const processor = new MatchProcessor({
    source: options.source,
    store,
    delivery,
    logger: silentLogger,
    registry: createMetricsRegistry("test", { processMetrics: false }),
    ...options.processor,
  });
  return {
    processor,
    delivery,
    link,
    store,
    dataDir,
    channels,
    close: async () => {
      await processor.stop();
      await link?.close();
    },
  };
}

/** How many clients are subscribed to a channel, asked through any connection. */
export async function subscriberCount(client: Redis, channel: string): Promise<number> {
  const reply = (await client.call("PUBSUB", "NUMSUB", channel)) as [string, number];
  return Number(reply[1]);
}
