import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type DavServerHandle, type DavServerKind, fogisMatch, startDavServer } from "@fogis/testing";
import request from "supertest";
import { describe, expect, it } from "vitest";
import type { BackendStatus } from "../src/backends/push-backend.js";
import {
  addToEvent,
  davFetch,
  davServerPerSuite,
  deleteAsPhone,
  editAsPhone,
  FAST_RETRY,
  findCollection,
  putPersonal,
  readCalendar,
  type ServerEvent,
} from "./dav-helpers.js";
import {
  backendStatus,
  eventually,
  manualSync,
  parseFeed,
  pushMatches,
  startTestService,
  TOKEN,
} from "./helpers.js";

/**
 * The calendar pushed into a real CalDAV server (DESIGN §7, §11), on Radicale (with a password)
 * and on Xandikos, each started by the test on a free port. What is checked is what a calendar
 * app reads from the server.
 */

const _auth = { Authorization: `Bearer ${TOKEN}` };
const UID = (matchid: number) => `fogis-match-${matchid}@fogis-realtime`;

const referees = {
  anna: { domareid: 6600, role: "Dom" as const, name: "Anna Andersson" },
  bertil: { domareid: 10_773, role: "AD1" as const, name: "Bertil Berg" },
  cecilia: { domareid: 32_062, role: "AD2" as const, name: "Cecilia Ek" },
  david: { domareid: 44_100, role: "AD2" as const, name: "David Nord" },
};

const PERSONAL_EVENT = [
  "BEGIN:VCALENDAR",
  "VERSION:2.0",
  "PRODID:-//Phone//Calendar//EN",
  "BEGIN:VEVENT",
  "UID:tandlakare-2026-12-07@phone",
  "DTSTAMP:20261120T080000Z",
  "DTSTART:20261207T090000Z",
  "DTEND:20261207T100000Z",
  "SUMMARY:Tandläkare",
  "END:VEVENT",
  "END:VCALENDAR",
  "",
].join("\r\n");

describe.each<DavServerKind>(["radicale", "xandikos"])("CalDAV push into %s", (kind) => {
  const dav = davServerPerSuite(kind);
  let calendars = 0;

  /** A service pushing into a calendar of its own on the shared server. */
  async function startPushing(
    options: { calendar?: string; dataDir?: string; fetch?: typeof fetch; target?: DavServerHandle } = {},
  ) {
    const target = options.target ?? dav.server;
    calendars += 1;
    const calendar = options.calendar ?? `FOGIS test ${calendars}`;
    const service = await startTestService({
      dataDir: options.dataDir,
      fetch: options.fetch,
      pushRetry: FAST_RETRY,
      env: {
        CALDAV_URL: target.url,
        CALDAV_USERNAME: target.username,
        CALDAV_PASSWORD: target.password,
        CALDAV_CALENDAR: calendar,
        CARDDAV_ADDRESSBOOK: "",
      },
    });
    dav.services.push(service);
    return { service, calendar };
  }

  function byUid(events: ServerEvent[], matchid: number): ServerEvent {
    const found = events.filter((event) => event.uid === UID(matchid));
    expect(found).toHaveLength(1);
    return found[0] as ServerEvent;
  }

  it("creates the calendar, then carries a new match, a time change, a referee swap, a cancellation and a removal", async () => {
    const { service, calendar } = await startPushing();
    const home = [referees.anna, referees.bertil, referees.cecilia];
    await pushMatches(service, [
      fogisMatch({ matchid: 7001, time: "15:00", home: "IFK Göteborg", away: "GAIS", referees: home }),
      fogisMatch({ matchid: 7002, date: "2026-12-06", time: "13:00", referees: home }),
    ]);
    let events = await readCalendar(dav.server, calendar);
    expect(events.map((event) => event.uid)).toEqual([UID(7001), UID(7002)]);
    const first = byUid(events, 7001);
    expect(first).toMatchObject({
      summary: "IFK Göteborg - GAIS",
      status: "CONFIRMED",
      alarms: [-48 * 3600],
      start: new Date("2026-12-05T14:00:00Z"),
      end: new Date("2026-12-05T16:00:00Z"),
    });
    expect(first.href).toMatch(/\/fogis-match-7001\.ics$/);
    expect(first.description).toContain("Bertil Berg");

    // Someone's own appointment in the same calendar.
    const collection = first.href.slice(0, first.href.lastIndexOf("/") + 1);
    const personal = await putPersonal(dav.server, collection, "tandlakare.ics", PERSONAL_EVENT);
    const personalEtag = (await readCalendar(dav.server, calendar)).find(
      (event) => event.href === personal,
    )?.etag;
    expect(personalEtag).toBeTruthy();

    // Kick-off moved.
    await pushMatches(service, [
      fogisMatch({ matchid: 7001, time: "17:30", home: "IFK Göteborg", away: "GAIS", referees: home }),
      fogisMatch({ matchid: 7002, date: "2026-12-06", time: "13:00", referees: home }),
    ]);
    events = await readCalendar(dav.server, calendar);
    expect(byUid(events, 7001).start).toEqual(new Date("2026-12-05T16:30:00Z"));
    expect(byUid(events, 7001).sequence).toBeGreaterThan(first.sequence);
    expect(backendStatus(service, "caldav")).toMatchObject({ status: "pass", pending: 0, lastError: null });

    // A referee swapped.
    const swapped = [referees.anna, referees.bertil, referees.david];
    await pushMatches(service, [
      fogisMatch({ matchid: 7001, time: "17:30", home: "IFK Göteborg", away: "GAIS", referees: swapped }),
      fogisMatch({ matchid: 7002, date: "2026-12-06", time: "13:00", referees: home }),
    ]);
    events = await readCalendar(dav.server, calendar);
    expect(byUid(events, 7001).description).toContain("David Nord");
    expect(byUid(events, 7001).description).not.toContain("Cecilia Ek");

    // The second match cancelled: still there, marked cancelled, without its alarm.
    await pushMatches(service, [
      fogisMatch({ matchid: 7001, time: "17:30", home: "IFK Göteborg", away: "GAIS", referees: swapped }),
      fogisMatch({ matchid: 7002, date: "2026-12-06", time: "13:00", referees: home, cancelled: true }),
    ]);
    events = await readCalendar(dav.server, calendar);
    expect(byUid(events, 7002)).toMatchObject({ status: "CANCELLED", alarms: [] });

    // The first match taken off the list before kick-off: its event leaves the calendar.
    const before = backendStatus(service, "caldav").counters;
    await pushMatches(service, [
      fogisMatch({ matchid: 7002, date: "2026-12-06", time: "13:00", referees: home, cancelled: true }),
    ]);
    events = await readCalendar(dav.server, calendar);
    expect(events.map((event) => event.uid)).toEqual([UID(7002), "tandlakare-2026-12-07@phone"]);
    expect(backendStatus(service, "caldav").counters.removed).toBe(before.removed + 1);

    // An unchanged snapshot costs the server nothing.
    const requests = backendStatus(service, "caldav").counters.requests;
    const unchanged = await pushMatches(service, [
      fogisMatch({ matchid: 7002, date: "2026-12-06", time: "13:00", referees: home, cancelled: true }),
    ]);
    expect(unchanged.status).toBe("unchanged");
    expect(backendStatus(service, "caldav").counters.requests).toBe(requests);

    // The personal appointment was never written to: same ETag, same summary.
    const personalNow = events.find((event) => event.href === personal);
    expect(personalNow).toMatchObject({ etag: personalEtag, summary: "Tandläkare" });

    // The cancelled match drops off FOGIS's list after its kick-off: it was not played, so it is
    // not kept as history (issue #21); the referee's own appointment stays.
    service.setNow("2026-12-07T12:00:00Z");
    await pushMatches(service, []);
    events = await readCalendar(dav.server, calendar);
    expect(events.map((event) => event.uid)).toEqual(["tandlakare-2026-12-07@phone"]);

    // A played match that drops off the list stays, as history.
    await pushMatches(service, [
      fogisMatch({ matchid: 7003, date: "2026-12-08", time: "13:00", referees: home }),
    ]);
    service.setNow("2026-12-09T12:00:00Z");
    await pushMatches(service, []);
    events = await readCalendar(dav.server, calendar);
    expect(events.map((event) => event.uid).sort()).toEqual([UID(7003), "tandlakare-2026-12-07@phone"]);

    // HISTORY_DAYS (365) after it ended, the played match leaves the referee's calendar too.
    service.setNow("2027-12-09T12:00:00Z");
    await pushMatches(service, []);
    events = await readCalendar(dav.server, calendar);
    expect(events.map((event) => event.uid)).toEqual(["tandlakare-2026-12-07@phone"]);
  });

  it("keeps the referee's own alarm, categories, colour and notes through our next update", async () => {
    const { service, calendar } = await startPushing();
    await pushMatches(service, [fogisMatch({ matchid: 7101, time: "15:00" })]);
    const [created] = await readCalendar(dav.server, calendar);
    if (!created) throw new Error("no event");

    // The referee's phone adds an alarm two hours before, a category, a colour and a note.
    await editAsPhone(dav.server, created.href, (text) =>
      addToEvent(
        text,
        "CATEGORIES:Viktigt",
        "COLOR:crimson",
        "X-REFEREE-NOTE:Ta med extra visselpipa",
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        "TRIGGER:-PT2H",
        "DESCRIPTION:Åk till matchen",
        "END:VALARM",
      ),
    );

    await pushMatches(service, [fogisMatch({ matchid: 7101, time: "18:00", venue: "Nya Ullevi" })]);
    const [updated] = await readCalendar(dav.server, calendar);
    expect(updated).toMatchObject({
      start: new Date("2026-12-05T17:00:00Z"),
      location: "Nya Ullevi",
      categories: ["Viktigt"],
      color: "crimson",
    });
    expect(updated?.alarms.sort((a, b) => a - b)).toEqual([-48 * 3600, -2 * 3600]);
    expect(updated?.properties).toContain("X-REFEREE-NOTE:Ta med extra visselpipa");

    // Cancelled: our alarm goes, theirs stays.
    await pushMatches(service, [
      fogisMatch({ matchid: 7101, time: "18:00", venue: "Nya Ullevi", cancelled: true }),
    ]);
    const [cancelled] = await readCalendar(dav.server, calendar);
    expect(cancelled).toMatchObject({ status: "CANCELLED", alarms: [-2 * 3600], categories: ["Viktigt"] });
  });

  it("shows a postponed match as tentative without our alarm, and a match without a kick-off time as a whole day", async () => {
    const { service, calendar } = await startPushing();
    const noTime = { avsparkstid: "", tid: undefined };
    await pushMatches(service, [
      fogisMatch({ matchid: 7151, time: "15:00" }),
      fogisMatch({ matchid: 7152, date: "2026-12-06", extra: noTime }),
    ]);
    let events = await readCalendar(dav.server, calendar);
    const postponing = byUid(events, 7151);
    expect(postponing).toMatchObject({ status: "CONFIRMED", alarms: [-48 * 3600] });
    const wholeDay = byUid(events, 7152);
    expect(wholeDay.properties).toContain("DTSTART;VALUE=DATE:20261206");
    expect(wholeDay.properties).toContain("DTEND;VALUE=DATE:20261207");
    expect(wholeDay.alarms).toEqual([]);

    // The referee's phone adds an alarm of its own; FOGIS then postpones the match.
    await editAsPhone(dav.server, postponing.href, (text) =>
      addToEvent(text, "BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT3H", "DESCRIPTION:Match", "END:VALARM"),
    );
    await pushMatches(service, [
      fogisMatch({ matchid: 7151, time: "15:00", postponed: true }),
      fogisMatch({ matchid: 7152, date: "2026-12-06", extra: noTime }),
    ]);
    events = await readCalendar(dav.server, calendar);
    expect(byUid(events, 7151)).toMatchObject({
      status: "TENTATIVE",
      summary: "UPPSKJUTEN: Hemmalag 151 - Bortalag 151",
      alarms: [-3 * 3600],
    });

    // The kick-off time is set: the whole-day event becomes a timed one, with the reminder.
    await pushMatches(service, [
      fogisMatch({ matchid: 7151, time: "15:00", postponed: true }),
      fogisMatch({ matchid: 7152, date: "2026-12-06", time: "13:00" }),
    ]);
    events = await readCalendar(dav.server, calendar);
    expect(byUid(events, 7152)).toMatchObject({
      start: new Date("2026-12-06T12:00:00Z"),
      end: new Date("2026-12-06T14:00:00Z"),
      alarms: [-48 * 3600],
    });
  });

  it("answers a stale ETag (the phone wrote in between) by re-reading and merging, never overwriting", async () => {
    let interfere: ((url: string, init: RequestInit) => Promise<void>) | undefined;
    const meddling: typeof fetch = async (input, init) => {
      const url = String(input);
      if (interfere && init?.method === "PUT" && url.endsWith("fogis-match-7201.ics")) {
        const act = interfere;
        interfere = undefined;
        await act(url, init);
      }
      return fetch(input, init);
    };
    const { service, calendar } = await startPushing({ fetch: meddling });
    await pushMatches(service, [fogisMatch({ matchid: 7201, time: "15:00" })]);
    const [created] = await readCalendar(dav.server, calendar);
    if (!created) throw new Error("no event");

    // The referee's phone saves a note in the moment between our reading and our writing.
    interfere = async () => {
      await editAsPhone(dav.server, created.href, (text) => addToEvent(text, "CATEGORIES:Bortamatch"));
    };
    await pushMatches(service, [fogisMatch({ matchid: 7201, time: "16:00" })]);
    expect(interfere).toBeUndefined();
    const [merged] = await readCalendar(dav.server, calendar);
    expect(merged).toMatchObject({ start: new Date("2026-12-05T15:00:00Z"), categories: ["Bortamatch"] });
    expect(backendStatus(service, "caldav")).toMatchObject({ status: "pass", counters: { conflicts: 1 } });
  });

  it("leaves an event the referee deleted deleted, until FOGIS changes that match", async () => {
    const { service, calendar } = await startPushing();
    await pushMatches(service, [fogisMatch({ matchid: 7301, time: "15:00" }), fogisMatch({ matchid: 7302 })]);
    const deleted = byUid(await readCalendar(dav.server, calendar), 7301);
    await deleteAsPhone(dav.server, deleted.href);

    // Another match changes: the deleted one is not brought back.
    await pushMatches(service, [
      fogisMatch({ matchid: 7301, time: "15:00" }),
      fogisMatch({ matchid: 7302, time: "19:00" }),
    ]);
    expect((await readCalendar(dav.server, calendar)).map((event) => event.uid)).toEqual([UID(7302)]);
    expect(backendStatus(service, "caldav")).toMatchObject({ status: "pass", pending: 0 });

    // Nor by a restart.
    await service.service.stop();
    const { service: restarted } = await startPushing({ calendar, dataDir: service.dataDir });
    await pushMatches(restarted, [
      fogisMatch({ matchid: 7301, time: "15:00" }),
      fogisMatch({ matchid: 7302, time: "19:30" }),
    ]);
    expect((await readCalendar(dav.server, calendar)).map((event) => event.uid)).toEqual([UID(7302)]);

    // FOGIS moves the deleted match: the referee needs to know, so it comes back.
    await pushMatches(restarted, [
      fogisMatch({ matchid: 7301, time: "16:00" }),
      fogisMatch({ matchid: 7302, time: "19:30" }),
    ]);
    const events = await readCalendar(dav.server, calendar);
    expect(events.map((event) => event.uid)).toEqual([UID(7301), UID(7302)]);
    expect(byUid(events, 7301).start).toEqual(new Date("2026-12-05T15:00:00Z"));
  });

  it("never makes a duplicate: not after a lost response, a restart, a lost state file or a forgotten sync token", async () => {
    let dropResponse = true;
    const flaky: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (dropResponse && init?.method === "PUT" && String(input).endsWith("fogis-match-7402.ics")) {
        // The server stored it, but the answer never arrived.
        dropResponse = false;
        await response.body?.cancel();
        throw new TypeError("fetch failed", { cause: { code: "ECONNRESET" } });
      }
      return response;
    };
    const { service, calendar } = await startPushing({ fetch: flaky });
    const matches = [7401, 7402, 7403].map((matchid) => fogisMatch({ matchid }));
    await pushMatches(service, matches);
    expect(dropResponse).toBe(false);
    let events = await readCalendar(dav.server, calendar);
    expect(events.map((event) => event.uid)).toEqual([UID(7401), UID(7402), UID(7403)]);
    expect(backendStatus(service, "caldav").counters.failures).toBe(1);

    // A restart, then a restart without the state file: our events are found, not written again.
    await service.service.stop();
    rmSync(join(service.dataDir, "caldav.json"));
    const { service: again } = await startPushing({ calendar, dataDir: service.dataDir });
    await again.service.backends.whenSynced();
    expect(backendStatus(again, "caldav").counters).toMatchObject({ created: 0, updated: 0, removed: 0 });
    events = await readCalendar(dav.server, calendar);
    expect(events.map((event) => event.uid)).toEqual([UID(7401), UID(7402), UID(7403)]);

    // A sync token the server does not know (Radicale: 403, Xandikos: 500) costs one listing,
    // which also shows what the referee deleted meanwhile.
    await again.service.stop();
    await deleteAsPhone(dav.server, byUid(events, 7403).href);
    const statePath = join(service.dataDir, "caldav.json");
    const state = JSON.parse(readFileSync(statePath, "utf8"));
    writeFileSync(statePath, JSON.stringify({ ...state, syncToken: `${state.syncToken ?? "x"}-forgotten` }));
    const { service: third } = await startPushing({ calendar, dataDir: service.dataDir });
    await pushMatches(third, [fogisMatch({ matchid: 7401, time: "20:00" }), matches[1], matches[2]]);
    events = await readCalendar(dav.server, calendar);
    expect(events.map((event) => event.uid)).toEqual([UID(7402), UID(7401)]);
    expect(byUid(events, 7401).start).toEqual(new Date("2026-12-05T19:00:00Z"));
    expect(backendStatus(third, "caldav")).toMatchObject({
      status: "pass",
      counters: { created: 0, updated: 1 },
    });
    expect(await findCollection(dav.server, dav.server.calendarHome, calendar)).toHaveLength(1);
  });

  it("creates the calendar again, with every match, after the referee deleted the whole calendar", async () => {
    const { service, calendar } = await startPushing();
    await pushMatches(service, [fogisMatch({ matchid: 7601 }), fogisMatch({ matchid: 7602 })]);
    const [collection] = await findCollection(dav.server, dav.server.calendarHome, calendar);
    if (!collection) throw new Error("no calendar");
    const gone = await davFetch(dav.server, collection.href, { method: "DELETE" });
    expect(gone.status).toBeLessThan(300);

    await pushMatches(service, [fogisMatch({ matchid: 7601, time: "19:00" }), fogisMatch({ matchid: 7602 })]);
    const events = await readCalendar(dav.server, calendar);
    expect(events.map((event) => event.uid)).toEqual([UID(7602), UID(7601)]);
    expect(backendStatus(service, "caldav")).toMatchObject({ status: "pass", pending: 0 });
  });

  it("updates the feed while the server is down, and pushes the change by itself when it is back", async () => {
    const own = await startDavServer(kind);
    try {
      const { service, calendar } = await startPushing({ target: own });
      await pushMatches(service, [fogisMatch({ matchid: 7501, time: "15:00" })]);
      await own.stop();

      const body = (await manualSync(service, { matches: [fogisMatch({ matchid: 7501, time: "12:00" })] }))
        .body;
      expect(body).toMatchObject({ success: true, status: "applied", updated: 1 });
      const feed = parseFeed((await request(service.service.app).get("/calendar.ics")).text);
      expect(feed.events[0]?.start).toEqual(new Date("2026-12-05T11:00:00Z"));
      await eventually(() =>
        expect(backendStatus(service, "caldav")).toMatchObject({
          status: "warn",
          pending: 1,
          lastError: expect.stringMatching(/cannot reach 127\.0\.0\.1/),
        }),
      );
      const health = (await request(service.service.app).get("/health")).body;
      expect(health.backends.find((b: BackendStatus) => b.name === "caldav").status).toBe("warn");

      await own.start();
      // No further snapshot: the retry brings it.
      await eventually(async () => {
        const [event] = await readCalendar(own, calendar);
        expect(event?.start).toEqual(new Date("2026-12-05T11:00:00Z"));
      }, 10_000);
      await eventually(() =>
        expect(backendStatus(service, "caldav")).toMatchObject({ status: "pass", pending: 0 }),
      );
    } finally {
      await own.close();
    }
  });
});
