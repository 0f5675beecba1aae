import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  isMatchPlayed,
  MatchSchema,
  matchKickoff,
  matchLocalKickoff,
  matchSpan,
  parseTid,
  parseWireTimestamp,
  stockholmLocalToUtc,
  toStockholmLocal,
} from "../src/index.js";

describe("tid", () => {
  it('reads FOGIS "/Date(ms)/" as a UTC instant', () => {
    expect(parseTid("/Date(1746543600000)/")?.toISOString()).toBe("2025-05-06T15:00:00.000Z");
    expect(parseTid("/Date(1746543600000+0200)/")?.toISOString()).toBe("2025-05-06T15:00:00.000Z");
  });

  it("reads ISO strings with a zone exactly, and without one as Stockholm time", () => {
    expect(parseTid("2025-05-06T15:00:00Z")?.toISOString()).toBe("2025-05-06T15:00:00.000Z");
    expect(parseTid("2025-05-06T17:00:00+02:00")?.toISOString()).toBe("2025-05-06T15:00:00.000Z");
    // Summer (CEST, +2) and winter (CET, +1).
    expect(parseTid("2025-05-06T17:00:00")?.toISOString()).toBe("2025-05-06T15:00:00.000Z");
    expect(parseTid("2025-12-06 17:00")?.toISOString()).toBe("2025-12-06T16:00:00.000Z");
  });

  it("rejects anything else, days that do not exist included", () => {
    for (const bad of [
      "",
      "tomorrow",
      "/Date(abc)/",
      "2025-13-45T99:00",
      "1746543600000",
      "2025-02-29T12:00Z",
      "2025-04-31",
      "2025-05-06T24:00:00Z",
      "2025-05-06T15:00:00 +02:00",
    ]) {
      expect(parseTid(bad), bad).toBeNull();
    }
    expect(parseTid("2024-02-29T12:00:00Z")?.toISOString()).toBe("2024-02-29T12:00:00.000Z");
  });

  it("keeps the milliseconds of an ISO time, from microseconds too", () => {
    expect(parseTid("2025-05-06T15:00:00.123456+00:00")?.toISOString()).toBe("2025-05-06T15:00:00.123Z");
    expect(parseTid("2025-05-06T17:00:00.5")?.toISOString()).toBe("2025-05-06T15:00:00.500Z");
  });

  it("both formats validate in a match and give the same kick-off", () => {
    const match = JSON.parse(readFileSync(new URL("./fixtures/fogis-match.json", import.meta.url), "utf8"));
    const msForm = MatchSchema.parse(match);
    const isoForm = MatchSchema.parse({ ...match, tid: "2026-05-06T17:00:00" });
    expect(matchKickoff(msForm)?.toISOString()).toBe("2026-05-06T15:00:00.000Z");
    expect(matchKickoff(isoForm)?.toISOString()).toBe("2026-05-06T15:00:00.000Z");
  });

  it("falls back to speldatum + avsparkstid in Stockholm time", () => {
    expect(matchKickoff({ speldatum: "2026-01-10", avsparkstid: "13:30" })?.toISOString()).toBe(
      "2026-01-10T12:30:00.000Z",
    );
  });
});

describe("Stockholm time", () => {
  it("handles the DST switch days", () => {
    // 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET.
    expect(stockholmLocalToUtc(2026, 3, 29, 12, 0)?.toISOString()).toBe("2026-03-29T10:00:00.000Z");
    expect(stockholmLocalToUtc(2026, 3, 28, 12, 0)?.toISOString()).toBe("2026-03-28T11:00:00.000Z");
    expect(stockholmLocalToUtc(2026, 10, 25, 12, 0)?.toISOString()).toBe("2026-10-25T11:00:00.000Z");
    expect(toStockholmLocal(new Date("2026-10-24T22:30:00Z")).date).toBe("2026-10-25");
  });

  it("agrees with ICU minute by minute across the DST switches, and at any instant (property)", () => {
    const icu = new Intl.DateTimeFormat("sv-SE", {
      timeZone: "Europe/Stockholm",
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
    });
    const expected = (ms: number) => {
      const p = Object.fromEntries(icu.formatToParts(ms).map((part) => [part.type, part.value]));
      return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
    };
    const shown = (ms: number) => {
      const local = toStockholmLocal(new Date(ms));
      return `${local.date} ${local.time}`;
    };
    for (const around of ["2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z", "1995-09-24T01:00:00Z"]) {
      for (let minute = -180; minute <= 180; minute++) {
        const ms = Date.parse(around) + minute * 60_000;
        expect(shown(ms), new Date(ms).toISOString()).toBe(expected(ms));
      }
    }
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1950, 0, 1), max: Date.UTC(2100, 0, 1) }), (ms) => {
        expect(shown(ms)).toBe(expected(ms));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("a match's span and when it is played (one rule for detector, calendar and notifications)", () => {
  const withTime = { tid: "/Date(1777645800000)/", speldatum: "2026-05-01", avsparkstid: "16:30" };
  const dayOnly = { speldatum: "2026-05-01" };

  it("a kick-off time: kick-off to kick-off + 2 h, played from then on", () => {
    expect(matchSpan(withTime)).toEqual({
      start: new Date("2026-05-01T14:30:00Z"),
      end: new Date("2026-05-01T16:30:00Z"),
      allDay: false,
    });
    expect(isMatchPlayed(withTime, new Date("2026-05-01T16:29:59Z"))).toBe(false);
    expect(isMatchPlayed(withTime, new Date("2026-05-01T16:30:00Z"))).toBe(true);
    expect(matchLocalKickoff(withTime)).toMatchObject({ date: "2026-05-01", time: "16:30" });
  });

  it("no kick-off time (a bare date, or tid at Stockholm midnight): the whole day, played when it ends", () => {
    const midnightTid = { tid: "2026-04-30T22:00:00Z" };
    for (const match of [dayOnly, midnightTid]) {
      expect(matchSpan(match)).toEqual({
        start: new Date("2026-04-30T22:00:00Z"),
        end: new Date("2026-05-01T22:00:00Z"),
        allDay: true,
      });
      // Still match day in Stockholm at 10:00: leaving the list now is no history.
      expect(isMatchPlayed(match, new Date("2026-05-01T08:00:00Z"))).toBe(false);
      expect(isMatchPlayed(match, new Date("2026-05-01T22:00:00Z"))).toBe(true);
      expect(matchLocalKickoff(match)).toMatchObject({ date: "2026-05-01", time: null });
    }
  });

  it("tid wins over speldatum/avsparkstid when they disagree", () => {
    const moved = { ...withTime, tid: "2026-05-01T16:00:00Z" };
    expect(matchLocalKickoff(moved)).toMatchObject({ date: "2026-05-01", time: "18:00" });
    expect(matchSpan(moved)?.start).toEqual(new Date("2026-05-01T16:00:00Z"));
  });
});

describe("envelope timestamps (parseWireTimestamp)", () => {
  it("reads what the Python services write: Z, +00:00, microseconds, and no zone as UTC", () => {
    const cases = {
      "2026-11-29T03:50:58.791016Z": "2026-11-29T03:50:58.791Z",
      "2026-11-29T03:50:58.773979+00:00": "2026-11-29T03:50:58.773Z",
      "2026-11-29T04:50:58+01:00": "2026-11-29T03:50:58.000Z",
      "2026-11-29T04:50:58+0100": "2026-11-29T03:50:58.000Z",
      "2026-11-29T03:50:58.1": "2026-11-29T03:50:58.100Z",
      "2026-11-29 03:50": "2026-11-29T03:50:00.000Z",
    };
    for (const [text, iso] of Object.entries(cases))
      expect(parseWireTimestamp(text)?.toISOString(), text).toBe(iso);
  });

  it("reads a zone-less timestamp the same on every machine", () => {
    expect(parseWireTimestamp("2026-07-01T12:00:00")?.getTime()).toBe(Date.UTC(2026, 6, 1, 12));
  });

  it("answers null for anything else", () => {
    for (const bad of [
      "",
      "now",
      "2026-11-29",
      "2026-11-31T10:00:00Z",
      "1764388258",
      "2026-11-29T03:50:58 Z",
    ]) {
      expect(parseWireTimestamp(bad), bad).toBeNull();
    }
  });

  it("agrees with Date.parse on every ISO instant with a zone (property)", () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date("1970-01-01"), max: new Date("2100-01-01"), noInvalidDate: true }),
        (date) => {
          expect(parseWireTimestamp(date.toISOString())?.getTime()).toBe(date.getTime());
        },
      ),
    );
  });
});
