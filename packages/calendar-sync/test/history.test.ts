import { statSync } from "node:fs";
import { join } from "node:path";
import { createMatchUpdatesEnvelope, encodeEnvelope, type Match } from "@fogis/message-schema";
import { fogisMatch, pythonMatchUpdatesEnvelope, type RefereeInput } from "@fogis/testing";
import ICAL from "ical.js";
import request from "supertest";
import { afterEach, describe, expect, it } from "vitest";
import { loadCalendarSyncConfig } from "../src/config.js";
import { manualSync, parseFeed, startTestService, type TestService, TOKEN } from "./helpers.js";

/**
 * History (DESIGN §7): played matches that left FOGIS's list stay in the calendar and the phonebook
 * for HISTORY_DAYS after they ended, then leave both; a cancelled or postponed match is never
 * history; and a change to an upcoming match does not rewrite the history.
 */

const DAY = 86_400_000;
let t: TestService | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const anna: RefereeInput = { domareid: 1, domarnr: "1001", name: "Anna Andersson" };
const bertil: RefereeInput = { domareid: 2, domarnr: "2002", name: "Bertil Berg" };
const cecilia: RefereeInput = { domareid: 3, domarnr: "3003", name: "Cecilia Ek" };

async function sync(service: TestService, matches: Match[]) {
  const response = await manualSync(service, pythonMatchUpdatesEnvelope(matches));
  expect(response.status).toBe(200);
  return response.body as Record<string, unknown>;
}

async function feedIds(service: TestService): Promise<number[]> {
  const { events } = parseFeed((await request(service.service.app).get("/calendar.ics")).text);
  return events.map((event) => Number(/fogis-match-(\d+)@/.exec(event.uid)?.[1])).sort((a, b) => a - b);
}

async function contactNames(service: TestService): Promise<string[]> {
  const text = (await request(service.service.app).get("/contacts.vcf")).text;
  if (!text) return [];
  const parsed = ICAL.parse(text);
  const list = (Array.isArray(parsed[0]) ? parsed : [parsed]) as unknown[];
  return list.map((jcard) => String(new ICAL.Component(jcard as never).getFirstPropertyValue("fn"))).sort();
}

describe("history", () => {
  it("keeps a played match for HISTORY_DAYS (365 by default), then it leaves the calendar and the phonebook", async () => {
    t = await startTestService({ now: "2026-11-20T12:00:00Z" });
    const played = fogisMatch({ matchid: 101, date: "2026-11-14", time: "15:00", referees: [anna, bertil] });
    const upcoming = fogisMatch({ matchid: 102, date: "2026-12-05", time: "15:00", referees: [anna] });
    await sync(t, [played, upcoming]);
    // FOGIS's list moves on (today − 7 days): the played match leaves it and stays as history.
    t.setNow("2026-11-23T12:00:00Z");
    expect(await sync(t, [upcoming])).toMatchObject({ removed: 0, history: 1 });
    expect(await feedIds(t)).toEqual([101, 102]);
    expect(await contactNames(t)).toEqual(["Anna Andersson", "Bertil Berg"]);

    // 364 days after it ended: still there.
    t.setNow(new Date(Date.parse("2026-11-14T16:00:00Z") + 364 * DAY).toISOString());
    await sync(t, [upcoming]);
    expect(await feedIds(t)).toEqual([101, 102]);

    // 366 days after: gone from the calendar; Bertil, met only in that match, leaves the phonebook.
    t.setNow(new Date(Date.parse("2026-11-14T16:00:00Z") + 366 * DAY).toISOString());
    expect(await sync(t, [upcoming])).toMatchObject({ expired: 1, removed: 0 });
    expect(await feedIds(t)).toEqual([102]);
    expect(await contactNames(t)).toEqual(["Anna Andersson"]);
  });

  it("drops expired history even when the same snapshot comes again (a heartbeat)", async () => {
    t = await startTestService({ now: "2026-11-20T12:00:00Z", env: { HISTORY_DAYS: "30" } });
    const played = fogisMatch({ matchid: 101, date: "2026-11-14", referees: [bertil] });
    const upcoming = fogisMatch({ matchid: 102, date: "2026-12-05", referees: [anna] });
    const { handler } = t.service;
    await handler.handleMessage(
      encodeEnvelope(
        createMatchUpdatesEnvelope({
          source: "test",
          matches: [played, upcoming],
          sequence: 1,
          snapshotHash: "a",
        }),
      ),
    );
    const heartbeat = encodeEnvelope(
      createMatchUpdatesEnvelope({ source: "test", matches: [upcoming], sequence: 2, snapshotHash: "b" }),
    );
    await handler.handleMessage(heartbeat);
    expect(await feedIds(t)).toEqual([101, 102]);

    // The same snapshot hash a month later: not skipped, because history expired meanwhile.
    t.setNow("2026-12-20T12:00:00Z");
    const again = await handler.handleMessage(heartbeat);
    expect(again).toMatchObject({ accepted: true, outcome: { status: "applied" } });
    expect(await feedIds(t)).toEqual([102]);
    expect(await contactNames(t)).toEqual(["Anna Andersson"]);
    // And once nothing is due, the same hash is skipped again.
    expect(await handler.handleMessage(heartbeat)).toMatchObject({ outcome: { status: "skipped" } });
  });

  it("never keeps a cancelled or postponed match as history when it leaves the list after its kick-off", async () => {
    t = await startTestService({ now: "2026-11-20T12:00:00Z" });
    const cancelled = fogisMatch({ matchid: 101, date: "2026-11-18", cancelled: true, referees: [bertil] });
    const postponed = fogisMatch({ matchid: 102, date: "2026-11-18", postponed: true, referees: [cecilia] });
    const played = fogisMatch({ matchid: 103, date: "2026-11-18", referees: [anna] });
    await sync(t, [cancelled, postponed, played]);
    expect(await feedIds(t)).toEqual([101, 102, 103]);

    t.setNow("2026-11-26T12:00:00Z");
    expect(await sync(t, [])).toMatchObject({ removed: 2, history: 1 });
    expect(await feedIds(t)).toEqual([103]);
    expect(await contactNames(t)).toEqual(["Anna Andersson"]);
  });

  it("does not rewrite the history when an upcoming match changes", async () => {
    t = await startTestService({ now: "2026-11-20T12:00:00Z" });
    const played = fogisMatch({ matchid: 101, date: "2026-11-14", referees: [bertil] });
    await sync(t, [played, fogisMatch({ matchid: 102, time: "15:00", referees: [anna] })]);
    await sync(t, [fogisMatch({ matchid: 102, time: "15:00", referees: [anna] })]);
    const files = ["calendar.json", "calendar-history.json", "contacts.json", "contacts-history.json"];
    // An atomic write replaces the file: a new inode means it was written.
    const inodes = () => files.map((file) => statSync(join(t?.dataDir ?? "", file)).ino);
    const before = inodes();

    await sync(t, [fogisMatch({ matchid: 102, time: "17:30", referees: [anna, cecilia] })]);
    const after = inodes();
    expect(after[0]).not.toBe(before[0]);
    expect(after[1]).toBe(before[1]);
    expect(after[2]).not.toBe(before[2]);
    expect(after[3]).toBe(before[3]);
    expect(await feedIds(t)).toEqual([101, 102]);
    expect(await contactNames(t)).toEqual(["Anna Andersson", "Bertil Berg", "Cecilia Ek"]);
  });

  it("keeps the history across a restart, from a calendar.json written before the history file existed too", async () => {
    t = await startTestService({ now: "2026-11-20T12:00:00Z" });
    const dataDir = t.dataDir;
    const played = fogisMatch({ matchid: 101, date: "2026-11-14", referees: [bertil] });
    const upcoming = fogisMatch({ matchid: 102, referees: [anna] });
    await sync(t, [played, upcoming]);
    await t.service.stop();

    // calendar.json still holds both events (as an older version kept them); no history file yet.
    const second = await startTestService({ now: "2026-11-24T12:00:00Z", dataDir });
    expect(await feedIds(second)).toEqual([101, 102]);
    expect(await sync(second, [upcoming])).toMatchObject({ history: 1, removed: 0 });
    await second.service.stop();

    const third = await startTestService({ now: "2026-11-25T12:00:00Z", dataDir });
    expect(await feedIds(third)).toEqual([101, 102]);
    expect(await contactNames(third)).toEqual(["Anna Andersson", "Bertil Berg"]);
    await third.close();
  });
});

describe("HISTORY_DAYS", () => {
  it("defaults to 365 and refuses what is not a number of days", () => {
    expect(loadCalendarSyncConfig({ API_TOKEN: TOKEN }).historyDays).toBe(365);
    expect(loadCalendarSyncConfig({ API_TOKEN: TOKEN, HISTORY_DAYS: "30" }).historyDays).toBe(30);
    expect(() => loadCalendarSyncConfig({ API_TOKEN: TOKEN, HISTORY_DAYS: "a year" })).toThrow(
      /HISTORY_DAYS: expected a whole number from 0 to 3650/,
    );
  });
});
