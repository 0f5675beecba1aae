import { createMatchUpdatesEnvelope, encodeEnvelope, type Match } from "@fogis/message-schema";
import { fogisMatch, pythonMatchUpdatesEnvelope, type RefereeInput } from "@fogis/testing";
import request from "supertest";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sequenceAt } from "../src/calendar-backend.js";
import { eventFor, manualSync, parseFeed, startTestService, type TestService } from "./helpers.js";

/**
 * What the referee sees in their calendar app, read back with ical.js: every change FOGIS can make
 * to an assignment shows up, SEQUENCE goes up so clients replace the event, and nothing changes
 * when nothing changed.
 */

const HOURS = 3_600_000;
const crew: RefereeInput[] = [
  { domareid: 6600, domarnr: "61318", role: "Dom", name: "Anna Andersson", mobile: "070-1111111" },
  { domareid: 10_773, domarnr: "61438", role: "AD1", name: "Bertil Berg", mobile: "070-2222222" },
  { domareid: 32_062, domarnr: "61969", role: "AD2", name: "Cecilia Ek", mobile: "070-3333333" },
];

let t: TestService;
beforeEach(async () => {
  t = await startTestService({ now: "2026-11-20T12:00:00Z" });
});
afterEach(async () => {
  await t.close();
});

async function sync(matches: Match[]) {
  const response = await manualSync(t, pythonMatchUpdatesEnvelope(matches));
  expect(response.status).toBe(200);
  return response.body as {
    status: string;
    created: number;
    updated: number;
    removed: number;
    unchanged: number;
  };
}

async function feed() {
  const response = await request(t.service.app).get("/calendar.ics");
  expect(response.status).toBe(200);
  expect(response.headers["content-type"]).toBe("text/calendar; charset=utf-8");
  return { text: response.text, ...parseFeed(response.text) };
}

describe("calendar feed", () => {
  it("shows a Python-shaped snapshot as one event per match with the fields referees rely on", async () => {
    const match = fogisMatch({
      matchid: 6_186_203,
      date: "2026-12-05",
      time: "17:00",
      home: "IFK Göteborg",
      away: "Falkenbergs FF",
      venue: "Kamratgården 2 hybrid",
      competition: "Ligacupen Elit Västra",
      referees: crew,
    });
    const answer = await sync([match, fogisMatch({ matchid: 6_186_204 })]);
    expect(answer).toMatchObject({ status: "applied", created: 2, updated: 0, removed: 0 });

    const { events, calendar } = await feed();
    expect(events).toHaveLength(2);
    expect(calendar.getFirstPropertyValue("x-wr-timezone")).toBe("Europe/Stockholm");
    const event = eventFor(events, 6_186_203);
    expect(event).toBeDefined();
    if (!event) return;
    expect(event.uid).toBe("fogis-match-6186203@fogis-realtime");
    expect(event.summary).toBe("IFK Göteborg - Falkenbergs FF");
    expect(event.location).toBe("Kamratgården 2 hybrid");
    // 17:00 in Stockholm in December (CET, UTC+1).
    expect(event.start.toISOString()).toBe("2026-12-05T16:00:00.000Z");
    expect(event.end.getTime() - event.start.getTime()).toBe(2 * HOURS);
    expect(event.status).toBe("CONFIRMED");
    expect(event.sequence).toBe(sequenceAt(new Date("2026-11-20T12:00:00Z")));
    expect(event.alarms).toEqual([{ action: "DISPLAY", triggerSeconds: -48 * 3600 }]);
    expect(event.description).toContain("Matchnummer: 006186203");
    expect(event.description).toContain("Tävling: Ligacupen Elit Västra");
    expect(event.description).toContain("Dom: Anna Andersson, 070-1111111");
    expect(event.description).toContain("AD1: Bertil Berg, 070-2222222");
    expect(event.description).toContain("AD2: Cecilia Ek, 070-3333333");
    expect(event.description).toContain("IFK Göteborg: Lagledare IFK Göteborg, 073-1234567");
    expect(event.description).toContain("Falkenbergs FF: Lagledare Falkenbergs FF, 073-1234567");
    expect(event.description).toContain("https://www.svenskfotboll.se/matchfakta/6186203/");
  });

  it("updates the event, with a higher SEQUENCE, when a referee is swapped for another", async () => {
    await sync([fogisMatch({ matchid: 1001, referees: crew }), fogisMatch({ matchid: 1002 })]);
    const before = eventFor((await feed()).events, 1001);

    t.setNow("2026-11-21T08:00:00Z");
    const swapped = [
      crew[0],
      { ...crew[1], domareid: 55_555, domarnr: "70001", name: "Doris Dahl" },
      crew[2],
    ];
    const answer = await sync([
      fogisMatch({ matchid: 1001, referees: swapped as RefereeInput[] }),
      fogisMatch({ matchid: 1002 }),
    ]);
    expect(answer).toMatchObject({ status: "applied", created: 0, updated: 1, removed: 0, unchanged: 1 });

    const { events } = await feed();
    const after = eventFor(events, 1001);
    expect(after?.description).toContain("AD1: Doris Dahl");
    expect(after?.description).not.toContain("Bertil Berg");
    expect(after?.sequence).toBeGreaterThan(before?.sequence ?? Number.POSITIVE_INFINITY);
    expect(after?.lastModified.toISOString()).toBe("2026-11-21T08:00:00.000Z");
    expect(eventFor(events, 1002)?.sequence).toBe(before?.sequence);
  });

  it("moves the event when the kick-off time changes, with a higher SEQUENCE even within the same second", async () => {
    await sync([fogisMatch({ matchid: 1001, date: "2026-12-05", time: "15:00" })]);
    const before = eventFor((await feed()).events, 1001)?.sequence ?? Number.POSITIVE_INFINITY;
    await sync([fogisMatch({ matchid: 1001, date: "2026-12-05", time: "18:30" })]);
    const event = eventFor((await feed()).events, 1001);
    expect(event?.start.toISOString()).toBe("2026-12-05T17:30:00.000Z");
    expect(event?.end.toISOString()).toBe("2026-12-05T19:30:00.000Z");
    expect(event?.sequence).toBe(before + 1);
  });

  it("keeps a cancelled match as a cancelled event, without the reminder", async () => {
    await sync([fogisMatch({ matchid: 1001 })]);
    const before = eventFor((await feed()).events, 1001)?.sequence ?? Number.POSITIVE_INFINITY;
    await sync([fogisMatch({ matchid: 1001, cancelled: true })]);
    const event = eventFor((await feed()).events, 1001);
    expect(event?.status).toBe("CANCELLED");
    expect(event?.summary).toBe("Hemmalag 1 - Bortalag 1");
    expect(event?.description.startsWith("INSTÄLLD")).toBe(true);
    expect(event?.alarms).toEqual([]);
    expect(event?.sequence).toBeGreaterThan(before);
  });

  it("shows a postponed match as tentative, without the reminder, and says so in the summary", async () => {
    await sync([fogisMatch({ matchid: 1001, date: "2026-12-05", time: "15:00" })]);
    const before = eventFor((await feed()).events, 1001);
    await sync([fogisMatch({ matchid: 1001, date: "2026-12-05", time: "15:00", postponed: true })]);
    const event = eventFor((await feed()).events, 1001);
    expect(event?.status).toBe("TENTATIVE");
    expect(event?.summary).toBe("UPPSKJUTEN: Hemmalag 1 - Bortalag 1");
    expect(event?.description.startsWith("UPPSKJUTEN")).toBe(true);
    expect(event?.alarms).toEqual([]);
    expect(event?.sequence).toBeGreaterThan(before?.sequence ?? Number.POSITIVE_INFINITY);

    // FOGIS gives it a new date: confirmed again, with its reminder.
    await sync([fogisMatch({ matchid: 1001, date: "2026-12-12", time: "13:00" })]);
    const again = eventFor((await feed()).events, 1001);
    expect(again).toMatchObject({ status: "CONFIRMED", summary: "Hemmalag 1 - Bortalag 1" });
    expect(again?.alarms).toEqual([{ action: "DISPLAY", triggerSeconds: -48 * 3600 }]);
  });

  it("keeps an interrupted match at its time and says so in the summary", async () => {
    await sync([fogisMatch({ matchid: 1001, date: "2026-11-18", time: "19:00", interrupted: true })]);
    const event = eventFor((await feed()).events, 1001);
    expect(event?.summary).toBe("AVBRUTEN: Hemmalag 1 - Bortalag 1");
    expect(event?.status).toBe("CONFIRMED");
    expect(event?.start.toISOString()).toBe("2026-11-18T18:00:00.000Z");
    expect(event?.description.startsWith("AVBRUTEN")).toBe(true);
  });

  it.each([
    ["avsparkstid null and tid at midnight", { avsparkstid: null, tid: "/Date(1796425200000)/" }],
    ["avsparkstid empty, no tid", { avsparkstid: "", tid: undefined }],
    ["no avsparkstid, no tid", { avsparkstid: undefined, tid: undefined }],
  ])(
    "makes a match without a kick-off time (%s) an all-day event without a reminder",
    async (_what, extra) => {
      await sync([fogisMatch({ matchid: 1001, date: "2026-12-05", extra })]);
      const { text, events } = await feed();
      const event = eventFor(events, 1001);
      expect(text).toContain("DTSTART;VALUE=DATE:20261205\r\n");
      expect(text).toContain("DTEND;VALUE=DATE:20261206\r\n");
      const vevent = parseFeed(text).calendar.getFirstSubcomponent("vevent");
      const start = vevent?.getFirstPropertyValue("dtstart") as { isDate: boolean } | undefined;
      expect(start?.isDate).toBe(true);
      expect(event?.alarms).toEqual([]);
      expect(event?.status).toBe("CONFIRMED");
      expect(event?.summary).toBe("Hemmalag 1 - Bortalag 1");

      // The time is set later: a timed event with its reminder.
      await sync([fogisMatch({ matchid: 1001, date: "2026-12-05", time: "14:00" })]);
      const timed = eventFor((await feed()).events, 1001);
      expect(timed?.start.toISOString()).toBe("2026-12-05T13:00:00.000Z");
      expect(timed?.alarms).toHaveLength(1);
    },
  );

  it("never lowers SEQUENCE, also after calendar-sync lost its state and rebuilt the calendar", async () => {
    const matches = [fogisMatch({ matchid: 1001, time: "15:00" })];
    await sync(matches);
    t.setNow("2026-11-20T12:30:00Z");
    await sync([fogisMatch({ matchid: 1001, time: "16:00" })]);
    const before = eventFor((await feed()).events, 1001)?.sequence ?? Number.POSITIVE_INFINITY;

    // The state is gone (a new volume, a wiped DATA_DIR): the next snapshot rebuilds the calendar.
    await t.close();
    t = await startTestService({ now: "2026-11-20T12:45:00Z" });
    await sync([fogisMatch({ matchid: 1001, time: "16:00" })]);
    const after = eventFor((await feed()).events, 1001)?.sequence ?? 0;
    expect(after).toBeGreaterThan(before);
  });

  it("removes a match that leaves the list before kick-off, and keeps played ones as history", async () => {
    await sync([
      fogisMatch({ matchid: 1001, date: "2026-11-18", time: "19:00" }), // played two days ago
      fogisMatch({ matchid: 1002, date: "2026-12-05", time: "15:00" }), // upcoming
      fogisMatch({ matchid: 1003, date: "2026-12-06", time: "15:00" }),
    ]);
    const created = eventFor((await feed()).events, 1001)?.sequence;
    const answer = await sync([fogisMatch({ matchid: 1003, date: "2026-12-06", time: "15:00" })]);
    expect(answer).toMatchObject({ removed: 1, unchanged: 1 });

    const { events } = await feed();
    expect(events.map((event) => event.uid).sort()).toEqual([
      "fogis-match-1001@fogis-realtime",
      "fogis-match-1003@fogis-realtime",
    ]);
    expect(eventFor(events, 1001)?.sequence).toBe(created);
  });

  it("counts a match still being played (kick-off + 2 h not reached) as not played", async () => {
    await sync([fogisMatch({ matchid: 1001, date: "2026-11-20", time: "12:30" })]); // 11:30Z, ends 13:30Z
    await sync([]);
    expect((await feed()).events).toHaveLength(0);
  });

  it("changes nothing when the same snapshot comes again", async () => {
    const matches = [fogisMatch({ matchid: 1001 }), fogisMatch({ matchid: 1002, cancelled: true })];
    await sync(matches);
    const first = await feed();
    t.setNow("2026-11-20T13:00:00Z");
    const again = await sync(matches.map((match) => structuredClone(match)).reverse());
    expect(again).toMatchObject({ status: "unchanged", created: 0, updated: 0, removed: 0, unchanged: 2 });
    expect((await feed()).text).toBe(first.text);
  });

  it("skips a repeated snapshot hash without diffing, and applies only the latest of a burst", async () => {
    const { handler, stats } = t.service;
    const envelopes = [1, 2, 3, 4, 5].map((n) =>
      createMatchUpdatesEnvelope({
        source: "test",
        sequence: n,
        snapshotHash: `hash-${n}`,
        matches: [fogisMatch({ matchid: 1001, time: `1${n}:00` })],
      }),
    );
    const results = await Promise.all(envelopes.map((e) => handler.handleMessage(encodeEnvelope(e))));
    const outcomes = results.map((result) => (result.accepted ? result.outcome?.status : "rejected"));
    expect(outcomes).toEqual(["applied", "superseded", "superseded", "superseded", "applied"]);
    expect(eventFor((await feed()).events, 1001)?.start.toISOString()).toBe("2026-12-05T14:00:00.000Z");

    const latest = envelopes.at(-1);
    if (!latest) throw new Error("no envelopes");
    const repeat = await handler.handleMessage(encodeEnvelope(latest));
    expect(repeat.accepted && repeat.outcome?.status).toBe("skipped");
    expect(stats.toJSON()).toMatchObject({ snapshots_superseded: 3, snapshots_skipped: 1 });
  });

  it("escapes and folds text so that any client reads back exactly what FOGIS said", async () => {
    const awkward = 'Örgryte IS, Dam; "U19" \\ Ä-lag';
    const venue = "Valhalla IP, konstgräs 1; entré vid Skånegatan – ".repeat(3);
    await sync([fogisMatch({ matchid: 1001, home: awkward, venue })]);
    const { text, events } = await feed();
    for (const line of text.split("\r\n").slice(0, -1)) {
      expect(Buffer.byteLength(line)).toBeLessThanOrEqual(75);
    }
    expect(text.endsWith("END:VCALENDAR\r\n")).toBe(true);
    expect(text.replace(/\r\n/g, "")).not.toContain("\n");
    expect(events[0]?.summary).toBe(`${awkward} - Bortalag 1`);
    expect(events[0]?.location).toBe(venue);
  });
});
