import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createMatchProcessorService,
  loadProcessorConfig,
  type MatchProcessorService,
} from "@fogis/match-processor";
import { type Match, stockholmDate } from "@fogis/message-schema";
import { closeServer, listen } from "@fogis/runtime";
import { fogisMatch, freePort, type RedisHandle, startRedis } from "@fogis/testing";
import { loadCalendarSyncConfig } from "../src/config.js";
import { type CalendarSyncService, createCalendarSyncService } from "../src/service.js";
import { silentLogger, TOKEN } from "./helpers.js";

/**
 * The real stack for the status page's browser tests: a Redis the test owns (so it can stop it),
 * the real match-processor reading a match file, and calendar-sync, both in this process on free
 * loopback ports. Matches are placed relative to today, so the page has upcoming ones.
 */

export interface PageStack {
  redis: RedisHandle;
  calendarSync: CalendarSyncService;
  processor: MatchProcessorService;
  /** http://127.0.0.1:<port> of calendar-sync (the page). */
  url: string;
  /** Replaces the processor's match list and runs a cycle. */
  publish(matches: Match[]): Promise<void>;
  close(): Promise<void>;
}

export interface PageStackOptions {
  feedToken?: string;
  /** Seconds between the page's own refreshes. */
  refreshSeconds?: number;
  /** More of the processor's environment, e.g. a notification target. */
  processorEnv?: Record<string, string>;
}

/** A Stockholm date `days` from today, as FOGIS writes it. */
export function dayFromToday(days: number): string {
  return stockholmDate(new Date(Date.now() + days * 86_400_000));
}

export function demoMatches(): Match[] {
  return [
    fogisMatch({
      matchid: 6_200_001,
      date: dayFromToday(2),
      time: "17:30",
      home: "IFK Göteborg U19",
      away: "Örgryte IS U19",
      venue: "Valhalla IP",
    }),
    fogisMatch({
      matchid: 6_200_002,
      date: dayFromToday(4),
      time: "13:00",
      home: "Qviding FIF",
      away: "Västra Frölunda IF",
      venue: "Härlanda Park",
      cancelled: true,
    }),
    fogisMatch({
      matchid: 6_200_003,
      date: dayFromToday(8),
      time: "19:00",
      home: "Ahlafors IF",
      away: "Lunden ÖBK",
      venue: "Ahlavallen",
      postponed: true,
    }),
    fogisMatch({
      matchid: 6_200_004,
      date: dayFromToday(11),
      time: "15:00",
      home: "Utsiktens BK",
      away: "Torslanda IK",
      venue: "Utsiktens IP",
    }),
  ];
}

export async function startPageStack(options: PageStackOptions = {}): Promise<PageStack> {
  const dir = mkdtempSync(join(tmpdir(), "status-page-"));
  const matchFile = join(dir, "matches.json");
  writeFileSync(matchFile, JSON.stringify(demoMatches()));
  const cleanup: Array<() => Promise<void>> = [async () => rmSync(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
  };
  try {
    const redis = await startRedis({ owned: true });
    cleanup.push(() => redis.close());
    const processorPort = await freePort();
    const calendarSync = await createCalendarSyncService({
      config: loadCalendarSyncConfig({
        API_TOKEN: TOKEN,
        DATA_DIR: join(dir, "calendar-sync"),
        REDIS_URL: redis.url,
        PROCESSOR_URL: `http://127.0.0.1:${processorPort}`,
        PAGE_REFRESH_SECONDS: String(options.refreshSeconds ?? 1),
        ...(options.feedToken ? { FEED_TOKEN: options.feedToken } : {}),
      }),
      logger: silentLogger,
    });
    cleanup.push(() => calendarSync.stop());
    const listening = await listen(calendarSync.app, 0, "127.0.0.1");
    const server: Server = listening.server;
    cleanup.push(() => closeServer(server));
    const url = `http://127.0.0.1:${listening.port}`;
    calendarSync.start();
    const processor = await createMatchProcessorService({
      config: loadProcessorConfig({
        API_TOKEN: TOKEN,
        DATA_DIR: join(dir, "processor"),
        REDIS_URL: redis.url,
        MATCH_SOURCE_FILE: matchFile,
        SERVICE_INTERVAL: "0",
        CALENDAR_SYNC_URL: url,
        ...options.processorEnv,
      }),
      logger: silentLogger,
    });
    cleanup.push(() => processor.stop());
    const processorServer = (await listen(processor.app, processorPort, "127.0.0.1")).server;
    cleanup.push(() => closeServer(processorServer));
    await processor.start();
    await calendarSync.subscriber?.waitUntilSubscribed(10_000);
    const publish = async (matches: Match[]) => {
      writeFileSync(matchFile, JSON.stringify(matches));
      const result = await processor.processor.runCycle("test");
      if (!result.success) throw new Error(`processor cycle failed: ${result.error ?? result.outcome}`);
    };
    await publish(demoMatches());
    return { redis, calendarSync, processor, url, publish, close };
  } catch (error) {
    await close();
    throw error;
  }
}
