import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Match } from "@fogis/message-schema";
import { afterEach, describe, expect, it } from "vitest";
import { calendarDifferences } from "./reliability/calendar.js";
import { FullDisk } from "./reliability/faults.js";
import { recordFault } from "./reliability/report.js";
import { type RedisStatus, Stack, sleep, timeUntil } from "./reliability/stack.js";

/**
 * The calendar stays right when a service's own state goes wrong: a setting lost on restart, an
 * empty answer from FOGIS, a corrupt calendar.json while nothing can rebuild it, a full disk.
 */

let stack: Stack | undefined;
let disk: FullDisk | undefined;
afterEach(async () => {
  await stack?.processor.stop("SIGKILL");
  await stack?.calendar.stop("SIGKILL");
  await disk?.close();
  await stack?.close();
  stack = disk = undefined;
});

const DEMO_MATCH_IDS = [9_900_001, 9_900_002, 9_900_003, 9_900_004, 9_900_005];

interface Issue {
  status: string;
  code: string;
  message: string;
}

function issues(status: RedisStatus): Issue[] {
  return (status.issues ?? []) as Issue[];
}

/** The calendar shows exactly `matches` (plus the script's history) at every look for `ms`. */
async function expectShows(s: Stack, matches: Match[], ms: number): Promise<void> {
  const until = performance.now() + ms;
  do {
    expect(calendarDifferences(await s.events(), matches, s.script.history)).toEqual([]);
    await sleep(100);
  } while (performance.now() < until);
}

describe("a processor restarted without its match source", () => {
  it("refuses the demo list, keeps the referee's matches in the calendar, says why, and delivers again once the setting is back", async () => {
    stack = await Stack.create();
    const s = stack;
    await s.change();
    await s.cycle();
    await s.waitConverged();
    const delivered = s.script.matches;

    // An .env line lost: the processor comes back with neither MATCH_SOURCE_FILE nor FOGIS_API_CLIENT_URL.
    const sourceFile = s.processor.env.MATCH_SOURCE_FILE as string;
    delete s.processor.env.MATCH_SOURCE_FILE;
    await s.processor.restart("SIGTERM");
    const detectionMs = await timeUntil(
      "the processor says fail",
      async () => (await s.processorStatus()).status === "fail",
      10_000,
    );
    const before = s.script.currentStep;
    for (let i = 0; i < 3; i++) {
      await s.change();
      const result = await s.cycle();
      expect(result).toMatchObject({ success: false, outcome: "source_failed" });
      expect(String(result.error)).toMatch(/refusing the built-in demo match list/);
    }
    const status = await s.processorStatus();
    expect(status.status).toBe("fail");
    expect(issues(status)).toContainEqual(expect.objectContaining({ code: "demo_source_refused" }));
    expect(issues(status)[0]?.message).toMatch(/MATCH_SOURCE_FILE/);
    expect(s.processor.logEvents().some((e) => e.event === "demo_source_refused" && e.level === 50)).toBe(
      true,
    );

    // The calendar keeps the real list, also when calendar-sync resyncs from the processor.
    await s.calendar.restart("SIGTERM");
    await expectShows(s, delivered, 1000);
    const events = await s.events();
    expect(events.filter((e) => DEMO_MATCH_IDS.some((id) => e.uid.includes(String(id))))).toEqual([]);

    s.processor.env.MATCH_SOURCE_FILE = sourceFile;
    const fixedAt = performance.now();
    await s.processor.restart("SIGTERM");
    expect((await s.cycle()).outcome).toBe("delivered");
    await s.waitConverged();
    const recoveryMs = performance.now() - fixedAt;
    expect((await s.processorStatus()).status).toBe("pass");
    await s.expectEveryChangeReached(before, {
      fault: "Processor restarted without MATCH_SOURCE_FILE",
      detectionMs,
      recoveryMs,
      notes: "demo list refused (source_failed, /redis-status fail); calendar kept the real list",
    });
  });
});

describe("FOGIS answers an empty list", () => {
  it("keeps the calendar and warns until several empty answers over the configured time confirm it", async () => {
    stack = await Stack.create({
      processorEnv: { EMPTY_LIST_CONFIRM_FETCHES: "3", EMPTY_LIST_CONFIRM_SECONDS: "3" },
    });
    const s = stack;
    await s.change();
    await s.cycle();
    await s.waitConverged();

    // A glitch: two empty answers, in both of FOGIS's shapes.
    const faultAt = performance.now();
    const before = s.script.currentStep;
    for (const empty of ["[]", '{"d":{"matchlista":[]}}']) {
      writeFileSync(s.matchFile, empty);
      expect(await s.cycle()).toMatchObject({ success: true, outcome: "empty_list_held" });
      await expectShows(s, s.script.matches, 300);
    }
    const held = await s.processorStatus();
    const detectionMs = performance.now() - faultAt;
    expect(held.status).toBe("warn");
    expect(issues(held)).toContainEqual(expect.objectContaining({ code: "empty_list_held" }));

    // FOGIS answers again, with changes made meanwhile.
    await s.change(2);
    const backAt = performance.now();
    expect((await s.cycle()).outcome).toBe("delivered");
    await s.waitConverged();
    const recoveryMs = performance.now() - backAt;
    expect((await s.processorStatus()).status).toBe("pass");
    const changes = s.script.changesBetween(before);
    const reached = await s.reached(changes);

    // A list that really is empty: applied once 3 empty answers spanning 3 s confirm it.
    writeFileSync(s.matchFile, "[]");
    const emptySince = performance.now();
    let held2 = 0;
    for (;;) {
      const result = await s.cycle();
      if (result.outcome === "delivered") break;
      expect(result.outcome).toBe("empty_list_held");
      held2 += 1;
      expect(performance.now() - emptySince).toBeLessThan(20_000);
      await sleep(500);
    }
    const confirmedAfterMs = performance.now() - emptySince;
    expect(held2).toBeGreaterThanOrEqual(2);
    expect(confirmedAfterMs).toBeGreaterThanOrEqual(3000);
    await timeUntil("the calendar is empty", async () => (await s.events()).length === 0, 10_000);
    recordFault({
      fault: "FOGIS answered an empty list (2×), then a real empty list",
      changes: changes.length,
      reached,
      detectionMs,
      recoveryMs,
      notes: `glitch held, calendar kept; real empty list applied after ${held2 + 1} answers over ${(confirmedAfterMs / 1000).toFixed(1)} s (EMPTY_LIST_CONFIRM_* 3 / 3 s)`,
    });
    expect(reached).toBe(changes.length);
  });
});

describe("calendar.json corrupt while nothing can rebuild it", () => {
  it("serves the previous generation with the played matches' history, says warn, and converges once Redis and the processor are back", async () => {
    stack = await Stack.create();
    const s = stack;
    const played = s.script.addPlayedMatch(3);
    await s.change();
    await s.cycle();
    await s.waitConverged();
    // The played match leaves FOGIS's list: from now on it is history the calendar keeps.
    s.script.dropPlayed(played);
    await s.change();
    await s.cycle();
    await s.waitConverged();
    await s.change();
    await s.cycle();
    await s.waitConverged();

    await Promise.all([s.processor.stop("SIGTERM"), s.redis.kill()]);
    await s.calendar.stop("SIGTERM");
    writeFileSync(join(s.calendarDataDir, "calendar.json"), '{"version":1,"events":[{"uid":"fogis-match');
    await s.calendar.start();
    const detectionMs = await timeUntil(
      "calendar-sync reports the restored calendar",
      async () => issues(await s.calendarStatus()).some((issue) => issue.code === "calendar_restored"),
      10_000,
    );

    const events = await s.events();
    expect(events.length).toBeGreaterThan(0);
    expect(events.some((e) => e.uid.includes(String(played)))).toBe(true);
    const status = await s.calendarStatus();
    expect(status.status).toBe("warn");
    expect(issues(status)).toContainEqual(
      expect.objectContaining({ code: "calendar_restored", status: "warn" }),
    );
    const health = (await s.calendar.getJson<{ state_files: { calendar: { state: string } } }>("/health"))
      .body;
    expect(health.state_files.calendar.state).toBe("restored");

    const before = s.script.currentStep;
    await s.change(2);
    const backAt = performance.now();
    await s.redis.start();
    await s.processor.start();
    expect((await s.cycle()).outcome).toBe("delivered");
    await s.waitConverged();
    const recoveryMs = performance.now() - backAt;
    await timeUntil(
      "calendar-sync says pass again",
      async () => (await s.calendarStatus()).status === "pass",
      15_000,
    );
    expect(issues(await s.calendarStatus())).toEqual([]);
    await s.expectEveryChangeReached(before, {
      fault: "calendar.json corrupt, restart with Redis and processor down",
      detectionMs,
      recoveryMs,
      notes: `previous generation served (${events.length} events, history kept) with warn until the resync`,
    });
  });
});

describe("a full disk under calendar-sync", () => {
  it("leaves no temp files, says fail with the reason in /health and /redis-status, and recovers by itself when space is freed in two steps", async () => {
    stack = await Stack.create({ start: false });
    const s = stack;
    disk = await FullDisk.prepare(s.calendarDataDir);
    await s.writeMatches();
    await Promise.all([s.calendar.start(), s.processor.start()]);
    await s.change();
    await s.cycle();
    await s.waitConverged();
    const pid = s.calendar.pid as number;

    await disk.fill(pid);
    const faultAt = performance.now();
    const before = s.script.currentStep;
    for (let i = 0; i < 3; i++) {
      await s.change();
      expect((await s.cycle()).delivery.confirmed).toBe(true);
    }
    await timeUntil(
      "calendar-sync's /health says fail",
      async () => (await s.calendar.getJson("/health")).status === 503,
      15_000,
    );
    const detectionMs = performance.now() - faultAt;
    const healthBody = (await s.calendar.getJson<{ status: string; reason: string }>("/health")).body;
    expect(healthBody.status).toBe("fail");
    expect(healthBody.reason).toMatch(disk.mechanism === "tmpfs" ? /ENOSPC/ : /EFBIG/);
    const status = await s.calendarStatus();
    expect(status.status).toBe("fail");
    expect(issues(status)).toContainEqual(expect.objectContaining({ code: "state_write_failed" }));

    // Retries (every 5 s) while the disk is full, then with a little room that is not enough.
    const failedBefore = (await s.calendarStats()).snapshots_failed as number;
    await timeUntil(
      "calendar-sync retried",
      async () => ((await s.calendarStats()).snapshots_failed as number) > failedBefore,
      15_000,
    );
    await disk.free(pid, 4096);
    const retried = (await s.calendarStats()).snapshots_failed as number;
    await timeUntil(
      "calendar-sync retried with a little room",
      async () => ((await s.calendarStats()).snapshots_failed as number) > retried,
      15_000,
    );
    expect(readdirSync(s.calendarDataDir).filter((name) => name.endsWith(".tmp"))).toEqual([]);

    const freedAt = performance.now();
    await disk.freeAll(pid);
    await s.waitConverged(20_000);
    await timeUntil(
      "calendar-sync's /health is ok",
      async () => (await s.calendar.getJson("/health")).status === 200,
      15_000,
    );
    const recoveryMs = performance.now() - freedAt;
    expect((await s.calendarStatus()).status).toBe("pass");
    expect(readdirSync(s.calendarDataDir).filter((name) => name.endsWith(".tmp"))).toEqual([]);
    await s.expectEveryChangeReached(before, {
      fault: `Disk full under calendar-sync (${disk.mechanism === "tmpfs" ? "tmpfs filled" : "RLIMIT_FSIZE"}), freed in 2 steps`,
      detectionMs,
      recoveryMs,
      notes:
        "no temp file left; /health 503 and /redis-status fail with the reason; recovered by its own retry",
    });
  });
});
