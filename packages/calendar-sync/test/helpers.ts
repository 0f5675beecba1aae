import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createLogger, type Logger } from "@fogis/runtime";
import { plainRedisClient, type RedisHandle, startRedis } from "@fogis/testing";
import ICAL from "ical.js";
import type { Redis } from "ioredis";
import request from "supertest";
import { afterEach, expect } from "vitest";
import type { GoogleRetryPolicy } from "../src/backends/google/google-requests.js";
import type { BackendStatus, PushBackend } from "../src/backends/push-backend.js";
import type { RetryPolicy } from "../src/backends/push-runner.js";
import { loadCalendarSyncConfig } from "../src/config.js";
import { type CalendarSyncService, createCalendarSyncService } from "../src/service.js";

/** Shared set-up for the calendar-sync tests: an in-process service, and feeds read back with ical.js. */

export const TOKEN = "test-token-0123456789abcdef";
export const silentLogger = createLogger({ name: "calendar-sync-test", level: "silent" });

/** A logger at `level` whose lines (pino JSON, one per entry) the test reads back from `lines`. */
export function capturingLogger(
  level: string,
  name = "calendar-sync-test",
): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger(
    { name, level },
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    }),
  );
  return { logger, lines };
}

export interface TestService {
  service: CalendarSyncService;
  dataDir: string;
  /** Moves the service's clock (which decides what counts as played). */
  setNow(iso: string): void;
  close(): Promise<void>;
}

export interface TestServiceOptions {
  env?: Record<string, string>;
  /** ISO time the service believes it is. */
  now?: string;
  dataDir?: string;
  fetch?: typeof fetch;
  start?: boolean;
  /** Defaults to a silent one. */
  logger?: Logger;
  /** Replaces the push backends the config would create. */
  pushBackends?: readonly PushBackend[];
  pushRetry?: Partial<RetryPolicy>;
  /** The Google backends' retry within a sync. */
  googleRetry?: Partial<GoogleRetryPolicy>;
}

/** A service with its own DATA_DIR; pub/sub is off unless `env.REDIS_URL` is given. */
export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "calendar-sync-test-"));
  let now = new Date(options.now ?? "2026-11-20T12:00:00Z");
  const config = loadCalendarSyncConfig({
    API_TOKEN: TOKEN,
    DATA_DIR: dataDir,
    REDIS_PUBSUB_ENABLED: options.env?.REDIS_URL ? "true" : "false",
    // Nothing listens here: a resync that asks the processor fails fast.
    PROCESSOR_URL: "http://127.0.0.1:9",
    ...options.env,
  });
  const service = await createCalendarSyncService({
    config,
    logger: options.logger ?? silentLogger,
    clock: () => now,
    fetch: options.fetch,
    pushBackends: options.pushBackends,
    pushRetry: options.pushRetry,
    googleRetry: options.googleRetry,
  });
  if (options.start !== false) service.start();
  return {
    service,
    dataDir,
    setNow(iso) {
      now = new Date(iso);
    },
    async close() {
      await service.stop();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface FeedEvent {
  uid: string;
  summary: string;
  location: string;
  description: string;
  start: Date;
  end: Date;
  status: string;
  sequence: number;
  lastModified: Date;
  url: string;
  /** Seconds relative to the start (negative: before). */
  alarms: Array<{ action: string; triggerSeconds: number }>;
}

/** Parses an iCalendar feed with ical.js, an implementation independent of ours. */
export function parseFeed(text: string): { calendar: ICAL.Component; events: FeedEvent[] } {
  const calendar = new ICAL.Component(ICAL.parse(text));
  const events = calendar.getAllSubcomponents("vevent").map((vevent) => {
    const time = (name: string) => (vevent.getFirstPropertyValue(name) as ICAL.Time).toJSDate();
    const text = (name: string) => String(vevent.getFirstPropertyValue(name) ?? "");
    return {
      uid: text("uid"),
      summary: text("summary"),
      location: text("location"),
      description: text("description"),
      start: time("dtstart"),
      end: time("dtend"),
      status: text("status"),
      sequence: Number(vevent.getFirstPropertyValue("sequence")),
      lastModified: time("last-modified"),
      url: text("url"),
      alarms: vevent.getAllSubcomponents("valarm").map((alarm) => ({
        action: String(alarm.getFirstPropertyValue("action")),
        triggerSeconds: (alarm.getFirstPropertyValue("trigger") as ICAL.Duration).toSeconds(),
      })),
    };
  });
  return { calendar, events };
}

export function eventFor(events: FeedEvent[], matchid: number): FeedEvent | undefined {
  return events.find((event) => event.uid.includes(String(matchid)));
}

/**
 * Polls until `check` stops throwing (or the timeout passes, then rethrows its last error). The
 * default bound is generous because the machine may be busy; a passing check returns at once.
 */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** `POST /manual-sync` with the service's token and `body` as it is; chain `.expect()` on it. */
export function manualSync(service: TestService, body: unknown) {
  return request(service.service.app)
    .post("/manual-sync")
    .set({ Authorization: `Bearer ${TOKEN}` })
    .send(body as object);
}

/** Sends `matches` as a manual sync and waits until every push backend has carried it; answers the sync's body. */
export async function pushMatches(service: TestService, matches: unknown[]): Promise<{ status?: string }> {
  const response = await manualSync(service, { matches });
  expect(response.status).toBe(200);
  await service.service.backends.whenSynced();
  return response.body;
}

/** The status of the push backend called `name` ("caldav", "carddav"). */
export function backendStatus(service: TestService, name: string): BackendStatus {
  const status = service.service.backends.statuses().find((entry) => entry.name === name);
  if (!status) throw new Error(`no ${name} backend`);
  return status;
}

export interface SubscriberRig {
  redis: RedisHandle;
  /** A plain client on the same Redis, publishing as a processor would. */
  publisher: Redis;
  t: TestService;
}

/**
 * Per test: a Redis, a publisher on it and a service subscribed to it (or, with `withoutRedis`, a
 * service alone), all stopped after each test. Call once at the top of a test file.
 */
export function subscriberRigPerTest(): {
  start(options?: { owned?: boolean; env?: Record<string, string>; start?: boolean }): Promise<SubscriberRig>;
  withoutRedis(): Promise<TestService>;
} {
  let redis: RedisHandle | undefined;
  let publisher: Redis | undefined;
  let t: TestService | undefined;
  afterEach(async () => {
    await t?.close();
    publisher?.disconnect();
    await redis?.close();
    t = undefined;
    publisher = undefined;
    redis = undefined;
  });
  return {
    async start(options = {}) {
      redis = await startRedis({ owned: options.owned });
      publisher = plainRedisClient(redis.url, { maxRetriesPerRequest: 1 });
      t = await startTestService({ env: { REDIS_URL: redis.url, ...options.env }, start: options.start });
      return { redis, publisher, t };
    },
    async withoutRedis() {
      t = await startTestService();
      return t;
    },
  };
}
