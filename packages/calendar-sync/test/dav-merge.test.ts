import { fogisMatch } from "@fogis/testing";
import ICAL from "ical.js";
import { describe, expect, it } from "vitest";
import { cardValueFingerprints, durationSeconds, mergeCard, mergeEvent } from "../src/backends/dav/merge.js";
import { renderCalendarObject } from "../src/ics.js";
import { matchToCalendarEvent } from "../src/match-event.js";
import { renderVcard } from "../src/vcard.js";

/**
 * What survives our update of an event or card the referee has added to (DESIGN §11): FOGIS's
 * fields are ours and replaced; everything else the referee or their app wrote stays. Read back
 * with ical.js, an independent parser.
 */

const UID = "fogis-match-6001@fogis-realtime";
const ours = (time: string, cancelled = false) => {
  const event = matchToCalendarEvent(fogisMatch({ matchid: 6001, time, cancelled }));
  if (!event) throw new Error("no event");
  return renderCalendarObject({
    ...event,
    sequence: 2,
    created: "2026-11-01T10:00:00Z",
    lastModified: "2026-11-20T10:00:00Z",
  });
};
const options = { uid: UID, alarmTriggerSeconds: -48 * 3600 };

function vevent(text: string) {
  const calendar = new ICAL.Component(ICAL.parse(text));
  const event = calendar.getFirstSubcomponent("vevent");
  if (!event) throw new Error("no VEVENT");
  return { calendar, event };
}

/** A server copy as a phone leaves it: our old event, re-ordered, with the referee's additions. */
function phoneCopy(): string {
  return ours("15:00")
    .replace(
      "END:VEVENT",
      [
        "CATEGORIES:Viktigt,Borta",
        "COLOR:crimson",
        "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC",
        "X-APPLE-STRUCTURED-LOCATION;VALUE=URI;X-TITLE=Arena 1:geo:57.7,11.9",
        "DURATION:PT2H",
        "X-ALT-DESC;FMTTYPE=text/html:<p>gammal beskrivning</p>",
        "BEGIN:VALARM",
        "ACTION:AUDIO",
        "TRIGGER;RELATED=START:-P0DT3H0M0S",
        "END:VALARM",
        "END:VEVENT",
      ].join("\r\n"),
    )
    .replace(
      "END:VCALENDAR",
      [
        "BEGIN:VEVENT",
        `UID:${UID}`,
        "RECURRENCE-ID:20261205T140000Z",
        "DTSTAMP:20261120T100000Z",
        "DTSTART:20261205T140000Z",
        "SUMMARY:an override we do not write",
        "END:VEVENT",
        "END:VCALENDAR",
      ].join("\r\n"),
    )
    .replace(
      "PRODID:-//FOGIS Realtime//calendar-sync//SV",
      "PRODID:-//Apple Inc.//iOS 18//EN\r\nX-WR-CALNAME:Domare",
    );
}

describe("merging our event into the server's copy", () => {
  it("replaces FOGIS's fields and alarm, and keeps the referee's categories, colour, alarms and other lines", () => {
    const merged = mergeEvent(phoneCopy(), ours("18:00"), options);
    const { calendar, event } = vevent(merged);
    expect((event.getFirstPropertyValue("dtstart") as ICAL.Time).toJSDate()).toEqual(
      new Date("2026-12-05T17:00:00Z"),
    );
    expect(event.getAllProperties("dtstart")).toHaveLength(1);
    expect(event.getFirstPropertyValue("duration")).toBeNull();
    expect(event.getFirstPropertyValue("x-alt-desc")).toBeNull();
    expect(event.getFirstPropertyValue("x-apple-structured-location")).toBeNull();
    expect(event.getFirstProperty("categories")?.getValues()).toEqual(["Viktigt", "Borta"]);
    expect(event.getFirstPropertyValue("color")).toBe("crimson");
    expect(event.getFirstPropertyValue("x-apple-travel-advisory-behavior")).toBe("AUTOMATIC");
    const alarms = event
      .getAllSubcomponents("valarm")
      .map((alarm) => [
        alarm.getFirstPropertyValue("action"),
        (alarm.getFirstPropertyValue("trigger") as ICAL.Duration).toSeconds(),
      ]);
    expect(alarms).toEqual([
      ["AUDIO", -3 * 3600],
      ["DISPLAY", -48 * 3600],
    ]);
    // Calendar-level: our header, the app's calendar name, the override component untouched.
    expect(calendar.getFirstPropertyValue("prodid")).toBe("-//FOGIS Realtime//calendar-sync//SV");
    expect(calendar.getFirstPropertyValue("x-wr-calname")).toBe("Domare");
    expect(calendar.getAllSubcomponents("vevent")).toHaveLength(2);
    expect(merged).toContain("SUMMARY:an override we do not write");
    // The same merge again changes nothing.
    expect(mergeEvent(merged, ours("18:00"), options)).toBe(merged);
  });

  it("drops our alarm from a cancelled match and keeps theirs; ours alone when nothing was added", () => {
    const { event } = vevent(mergeEvent(phoneCopy(), ours("18:00", true), options));
    expect(event.getFirstPropertyValue("status")).toBe("CANCELLED");
    expect(event.getAllSubcomponents("valarm").map((alarm) => alarm.getFirstPropertyValue("action"))).toEqual(
      ["AUDIO"],
    );
    expect(mergeEvent(ours("15:00"), ours("18:00"), options)).toBe(ours("18:00"));
  });

  it("takes ours when the server copy is not recognisably our event", () => {
    expect(mergeEvent("not a calendar", ours("18:00"), options)).toBe(ours("18:00"));
    expect(
      mergeEvent(ours("15:00").replace(`UID:${UID}`, "UID:something-else"), ours("18:00"), options),
    ).toBe(ours("18:00"));
  });

  it("reads RFC 5545 durations as seconds", () => {
    expect(durationSeconds("-PT48H")).toBe(-172_800);
    expect(durationSeconds("-P2D")).toBe(-172_800);
    expect(durationSeconds("-P0DT3H0M0S")).toBe(-10_800);
    expect(durationSeconds("PT15M")).toBe(900);
    expect(durationSeconds("-P1W")).toBe(-604_800);
    expect(durationSeconds("19970317T133000Z")).toBeNaN();
    expect(durationSeconds("P")).toBeNaN();
  });
});

describe("merging our card into the server's copy", () => {
  const contact = (mobile: string) => ({
    refereeNumber: "60773",
    name: "Bertil Berg",
    mobile,
    email: "bertil@example.org",
    title: "Assisterande 1",
    note: "Domarnummer: 60773",
  });

  it("replaces the numbers we wrote and keeps the referee's own number, e-mail group, photo and birthday", () => {
    const before = renderVcard(contact("070-111 22 33"), { version: "3.0" });
    const phone = before
      .replace(
        "END:VCARD",
        [
          // Apps reformat numbers; ours is still recognised by its digits.
          "TEL;TYPE=work:031-12 34 56",
          "BDAY:1985-04-02",
          "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRg==",
          "item1.EMAIL;TYPE=INTERNET:bertil.privat@example.net",
          "item1.X-ABLabel:privat",
          "END:VCARD",
        ].join("\r\n"),
      )
      .replace("TEL;TYPE=cell:070-111 22 33", "TEL;type=CELL;type=VOICE;type=pref:0701112233");
    const after = renderVcard(contact("073-444 55 66"), { version: "3.0" });
    const merged = mergeCard(phone, after, { previouslyWritten: cardValueFingerprints(before) });
    const card = new ICAL.Component(ICAL.parse(merged));
    expect(
      card
        .getAllProperties("tel")
        .map((tel) => String(tel.getFirstValue()))
        .sort(),
    ).toEqual(["031-12 34 56", "073-444 55 66"]);
    expect(
      card
        .getAllProperties("email")
        .map((email) => String(email.getFirstValue()))
        .sort(),
    ).toEqual(["bertil.privat@example.net", "bertil@example.org"]);
    expect(merged).toContain("item1.X-ABLabel:privat");
    expect(card.getFirstPropertyValue("bday")).toBeTruthy();
    expect(merged).toContain("PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRg==");
    expect(card.getAllProperties("fn")).toHaveLength(1);
    expect(card.getFirstPropertyValue("version")).toBe("3.0");
  });

  it("drops a group whose value was ours, label and all", () => {
    const before = renderVcard(contact("070-111 22 33"), { version: "3.0" });
    const phone = before.replace(
      "EMAIL:bertil@example.org",
      "item2.EMAIL;type=INTERNET:bertil@example.org\r\nitem2.X-ABLabel:_$!<Work>!$_",
    );
    const after = renderVcard(
      { ...contact("070-111 22 33"), email: "bertil.berg@example.org" },
      { version: "3.0" },
    );
    const merged = mergeCard(phone, after, { previouslyWritten: cardValueFingerprints(before) });
    expect(merged).not.toContain("item2.");
    expect(merged).toContain("EMAIL:bertil.berg@example.org");
  });
});
