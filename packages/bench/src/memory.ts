import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "@fogis/testing";
import { type BenchContext, benchChannels } from "./context.js";
import { type Figure, figure, targets } from "./figures.js";
import { upcomingMatches } from "./fixtures.js";
import { ServiceProcess, sleep, waitFor } from "./processes.js";

/**
 * Memory of the services as users run them: match-processor (reading a 1,000-match list from
 * MATCH_SOURCE_FILE, SERVICE_INTERVAL=0) and calendar-sync, each `node dist/main.js`, plus a bare
 * Node process that subscribes with ioredis and keeps the parsed snapshot (the floor). RSS from
 * /proc/<pid>/status when idle, and after `POST /process` ran a cycle whose snapshot reached both
 * subscribers over Redis and calendar-sync served its feed and phonebook once.
 */
export async function benchServiceMemory(ctx: BenchContext): Promise<Figure[]> {
  const { profile } = ctx;
  const matchFile = join(ctx.workDir, "matches.json");
  writeFileSync(matchFile, JSON.stringify(upcomingMatches(profile.snapshotMatches)));
  const rss = {
    idleProcessor: [] as number[],
    idleCalendar: [] as number[],
    idleBaseline: [] as number[],
    afterProcessor: [] as number[],
    afterCalendar: [] as number[],
    afterBaseline: [] as number[],
    peakProcessor: [] as number[],
    peakCalendar: [] as number[],
    anonProcessor: [] as number[],
    anonCalendar: [] as number[],
    anonBaseline: [] as number[],
  };

  for (let round = 0; round < profile.memoryRounds; round++) {
    const channels = benchChannels();
    const channelEnv = {
      REDIS_URL: ctx.redis.url,
      REDIS_MATCH_UPDATES_CHANNEL: channels.matchUpdates,
      REDIS_PROCESSOR_STATUS_CHANNEL: channels.processorStatus,
      REDIS_SYSTEM_ALERTS_CHANNEL: channels.systemAlerts,
    };
    const [processorPort, calendarPort] = [await freePort(), await freePort()];
    const dir = (name: string) => {
      const path = join(ctx.workDir, `memory-${round}`, name);
      mkdirSync(path, { recursive: true });
      return path;
    };
    const started: ServiceProcess[] = [];
    try {
      const processor = await ServiceProcess.start("match-processor", {
        ...channelEnv,
        PORT: String(processorPort),
        DATA_DIR: dir("processor"),
        API_TOKEN: ctx.apiToken,
        MATCH_SOURCE_FILE: matchFile,
        SERVICE_INTERVAL: "0",
        CALENDAR_SYNC_URL: `http://127.0.0.1:${calendarPort}`,
      });
      started.push(processor);
      const calendar = await ServiceProcess.start("calendar-sync", {
        ...channelEnv,
        PORT: String(calendarPort),
        DATA_DIR: dir("calendar"),
        API_TOKEN: ctx.apiToken,
        PROCESSOR_URL: processor.baseUrl,
      });
      started.push(calendar);
      const plain = await ServiceProcess.start("baseline", {
        PORT: String(await freePort()),
        REDIS_URL: ctx.redis.url,
        CHANNEL: channels.matchUpdates,
      });
      started.push(plain);
      await waitFor("calendar-sync to subscribe", 10_000, async () => {
        const status = await calendar.getJson("/redis-status");
        return (status.redis_status as { subscribed?: boolean } | undefined)?.subscribed === true;
      });
      await sleep(profile.memorySettleMs);
      rss.idleProcessor.push(processor.memory().rssMb);
      rss.idleCalendar.push(calendar.memory().rssMb);
      rss.idleBaseline.push(plain.memory().rssMb);

      const cycle = await processor.post("/process", ctx.apiToken);
      const delivery = cycle.delivery as { route?: string; receivers?: number } | undefined;
      if (delivery?.route !== "redis" || (delivery.receivers ?? 0) < 2) {
        throw new Error(`the cycle did not reach both subscribers over Redis: ${JSON.stringify(delivery)}`);
      }
      await waitFor("calendar-sync to apply the snapshot", 15_000, async () => {
        const stats = (await calendar.getJson("/redis-stats")).stats as Record<string, number>;
        return (stats.snapshots_applied ?? 0) >= 1;
      });
      await waitFor("the baseline process to parse the snapshot", 15_000, async () => {
        return ((await plain.getJson("/")).received as number) >= 1;
      });
      await calendar.getText("/calendar.ics");
      await calendar.getText("/contacts.vcf");
      await sleep(Math.min(500, profile.memorySettleMs));
      const processorMemory = processor.memory();
      const calendarMemory = calendar.memory();
      rss.afterProcessor.push(processorMemory.rssMb);
      rss.afterCalendar.push(calendarMemory.rssMb);
      const plainMemory = plain.memory();
      rss.afterBaseline.push(plainMemory.rssMb);
      rss.anonBaseline.push(plainMemory.anonMb);
      rss.peakProcessor.push(processorMemory.peakMb);
      rss.peakCalendar.push(calendarMemory.peakMb);
      rss.anonProcessor.push(processorMemory.anonMb);
      rss.anonCalendar.push(calendarMemory.anonMb);
      ctx.log(
        `service memory round ${round + 1}: processor ${processorMemory.rssMb.toFixed(0)} MB, calendar-sync ${calendarMemory.rssMb.toFixed(0)} MB after the snapshot`,
      );
    } finally {
      for (const service of started.reverse()) await service.stop();
    }
  }

  const count = profile.snapshotMatches;
  const floor = "baseline: a bare Node process with ioredis + node:http";
  const under100 = targets.below(100, "MB");
  return [
    figure({
      name: "rss_idle_processor",
      unit: "MB",
      description: `match-processor process (node dist/main.js) started, Redis connected, no cycle yet (${floor}, subscribed, idle)`,
      measured: rss.idleProcessor,
      baseline: rss.idleBaseline,
    }),
    figure({
      name: "rss_idle_calendar",
      unit: "MB",
      description: `calendar-sync process (node dist/main.js) started and subscribed, empty calendar (${floor}, subscribed, idle)`,
      measured: rss.idleCalendar,
      baseline: rss.idleBaseline,
    }),
    figure({
      name: "rss_after_snapshot_processor",
      unit: "MB",
      description: `match-processor after POST /process: ${count} matches read, detected, saved and published (${floor}, holding the parsed snapshot)`,
      measured: rss.afterProcessor,
      baseline: rss.afterBaseline,
      target: under100,
    }),
    figure({
      name: "rss_after_snapshot_calendar",
      unit: "MB",
      description: `calendar-sync after applying the ${count}-match snapshot and serving /calendar.ics and /contacts.vcf once (${floor}, holding the parsed snapshot)`,
      measured: rss.afterCalendar,
      baseline: rss.afterBaseline,
      target: under100,
    }),
    figure({
      name: "rss_peak_processor",
      unit: "MB",
      description: "match-processor's peak RSS (VmHWM) during the cycle, for context",
      measured: rss.peakProcessor,
    }),
    figure({
      name: "rss_peak_calendar",
      unit: "MB",
      description: "calendar-sync's peak RSS (VmHWM) while applying and serving, for context",
      measured: rss.peakCalendar,
    }),
    figure({
      name: "rss_anon_after_snapshot_processor",
      unit: "MB",
      description:
        "the anonymous part of rss_after_snapshot_processor (RssAnon: heap and buffers, without the node binary's shared file pages), for context",
      measured: rss.anonProcessor,
      baseline: rss.anonBaseline,
    }),
    figure({
      name: "rss_anon_after_snapshot_calendar",
      unit: "MB",
      description: "the anonymous part of rss_after_snapshot_calendar (RssAnon), for context",
      measured: rss.anonCalendar,
      baseline: rss.anonBaseline,
    }),
  ];
}
