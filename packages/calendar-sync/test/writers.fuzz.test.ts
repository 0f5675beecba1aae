import { stockholmDate } from "@fogis/message-schema";
import fc from "fast-check";
import ICAL from "ical.js";
import { describe, expect, it } from "vitest";
import type { StoredCalendarEvent } from "../src/calendar-backend.js";
import { cleanText, cleanUri } from "../src/content-lines.js";
import { renderIcs } from "../src/ics.js";
import type { CalendarEvent } from "../src/match-event.js";
import { renderVcard, type VcardContact, type VcardVersion } from "../src/vcard.js";

/**
 * Both writers against hostile text: whatever FOGIS (or an attacker behind it) puts in a name, a
 * venue or an identifier, the output parses back (with ical.js, an independent reader) to exactly
 * the properties we wrote, each holding exactly the cleaned input. `pnpm test` runs a few hundred
 * cases per property; `pnpm test:fuzz` runs FOGIS_FUZZ_RUNS (default there: 20,000).
 */

const RUNS = Number(process.env.FOGIS_FUZZ_RUNS ?? 200);
// Generous: a busy machine runs a case in tens of milliseconds.
const TIMEOUT_MS = Math.max(60_000, RUNS * 100);

// ical.js reads unknown X- properties as raw values; calendar apps read X-WR-CALNAME as text.
ICAL.design.icalendar.property["x-wr-calname"] = { defaultType: "text" };

/** Text that tries to break out of its line: line breaks, separators, controls, property names. */
const hostileText = fc.string({
  unit: fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        "\r",
        "\n",
        "\r\n",
        "\t",
        " ",
        ";",
        ",",
        ":",
        "\\",
        "\\n",
        "\u0000",
        "\u007F",
        "\u0085",
        "\u2028",
        "\uD800",
        "\uDC00",
        "ä",
        "😀",
        "BEGIN:VEVENT",
        "END:VCARD",
        "EMAIL:attacker@evil.example",
        "\r\nFN:Injected",
        "\r\n UID:x",
        'DESCRIPTION;ALTREP="cid:x":y',
      ),
    },
  ),
  maxLength: 160,
});

/** What a line of output may look like: a property of ours or a folded continuation, CRLF-terminated. */
function expectWellFormedLines(text: string, names: readonly string[]): void {
  expect(text.endsWith("\r\n")).toBe(true);
  const lines = text.slice(0, -2).split("\r\n");
  for (const line of lines) {
    expect(line).not.toMatch(/[\r\n]/);
    expect(Buffer.byteLength(line)).toBeLessThanOrEqual(75);
    if (!line.startsWith(" ")) expect(names).toContain(/^[A-Z-]+/.exec(line)?.[0]);
  }
  // Encodable as UTF-8 and back without a change (no lone surrogates).
  expect(Buffer.from(text, "utf8").toString("utf8")).toBe(text);
}

const eventArbitrary = fc.record({
  uid: hostileText,
  matchid: fc.integer({ min: 1, max: 2 ** 31 }),
  summary: hostileText,
  location: hostileText,
  description: hostileText,
  url: hostileText,
  start: fc
    .integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2099, 0, 1) })
    .map((ms) => new Date(ms).toISOString()),
  allDay: fc.boolean(),
  status: fc.constantFrom<CalendarEvent["status"]>("CONFIRMED", "TENTATIVE", "CANCELLED"),
  alarmMinutesBefore: fc.option(fc.integer({ min: 1, max: 10_000 }), { nil: null }),
  sequence: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
});

type EventFields = typeof eventArbitrary extends fc.Arbitrary<infer T> ? T : never;

function storedEvent(fields: EventFields): StoredCalendarEvent {
  return {
    ...fields,
    end: new Date(Date.parse(fields.start) + 2 * 3_600_000).toISOString(),
    contentHash: "x",
    created: "2026-01-01T00:00:00.000Z",
    lastModified: "2026-01-02T00:00:00.000Z",
  };
}

const EVENT_PROPERTIES = [
  "BEGIN",
  "END",
  "UID",
  "DTSTAMP",
  "CREATED",
  "LAST-MODIFIED",
  "SEQUENCE",
  "DTSTART",
  "DTEND",
  "SUMMARY",
  "LOCATION",
  "DESCRIPTION",
  "URL",
  "STATUS",
  "TRANSP",
  "ACTION",
  "TRIGGER",
];
const CALENDAR_PROPERTIES = [
  "VERSION",
  "PRODID",
  "CALSCALE",
  "METHOD",
  "X-WR-CALNAME",
  "X-WR-TIMEZONE",
  "REFRESH-INTERVAL",
  "X-PUBLISHED-TTL",
];

describe("the iCalendar writer under fuzzing", () => {
  it(
    "writes every event as exactly its own properties, each reading back as the cleaned input",
    () => {
      fc.assert(
        fc.property(
          hostileText,
          fc.array(eventArbitrary, { minLength: 1, maxLength: 3 }),
          (calendarName, fields) => {
            const events = fields.map(storedEvent);
            const text = renderIcs(events, { calendarName });
            expectWellFormedLines(text, [...EVENT_PROPERTIES, ...CALENDAR_PROPERTIES]);

            const calendar = new ICAL.Component(ICAL.parse(text));
            expect(calendar.getFirstPropertyValue("x-wr-calname")).toBe(cleanText(calendarName));
            expect(calendar.getAllProperties().map((p) => p.name)).toEqual(
              CALENDAR_PROPERTIES.map((name) => name.toLowerCase()),
            );
            const vevents = calendar.getAllSubcomponents("vevent");
            expect(vevents).toHaveLength(events.length);
            vevents.forEach((vevent, i) => {
              const event = events[i] as StoredCalendarEvent;
              const names = vevent.getAllProperties().map((p) => p.name);
              expect(names).toEqual([
                "uid",
                "dtstamp",
                "created",
                "last-modified",
                "sequence",
                "dtstart",
                "dtend",
                "summary",
                "location",
                "description",
                "url",
                "status",
                "transp",
              ]);
              const value = (name: string) => vevent.getFirstPropertyValue(name);
              expect(value("uid")).toBe(cleanText(event.uid));
              expect(value("summary")).toBe(cleanText(event.summary));
              expect(value("location")).toBe(cleanText(event.location));
              expect(value("description")).toBe(cleanText(event.description));
              expect(value("url")).toBe(cleanUri(event.url));
              expect(value("status")).toBe(event.status);
              expect(value("sequence")).toBe(event.sequence);
              const start = value("dtstart") as ICAL.Time;
              expect(start.isDate).toBe(event.allDay);
              if (event.allDay) {
                expect(start.toString()).toBe(stockholmDate(new Date(event.start)));
              } else {
                expect(start.toJSDate().toISOString()).toBe(
                  new Date(Math.floor(Date.parse(event.start) / 1000) * 1000).toISOString(),
                );
              }
              const alarms = vevent.getAllSubcomponents("valarm");
              expect(alarms).toHaveLength(event.alarmMinutesBefore === null ? 0 : 1);
              for (const alarm of alarms) {
                expect(alarm.getAllProperties().map((p) => p.name)).toEqual([
                  "action",
                  "trigger",
                  "description",
                ]);
                expect(alarm.getFirstPropertyValue("description")).toBe(cleanText(event.summary));
                expect((alarm.getFirstPropertyValue("trigger") as ICAL.Duration).toSeconds()).toBe(
                  -(event.alarmMinutesBefore ?? 0) * 60,
                );
              }
            });
          },
        ),
        { numRuns: RUNS },
      );
    },
    TIMEOUT_MS,
  );
});

const contactArbitrary = fc.record({
  refereeNumber: hostileText,
  name: hostileText,
  mobile: fc.option(hostileText, { nil: undefined }),
  phone: fc.option(hostileText, { nil: undefined }),
  email: fc.option(hostileText, { nil: undefined }),
  address: fc.option(
    fc.record({ street: hostileText, postalCode: hostileText, city: hostileText, country: hostileText }),
    { nil: undefined },
  ),
  title: fc.option(hostileText, { nil: undefined }),
  note: fc.option(hostileText, { nil: undefined }),
});

const CARD_PROPERTIES = [
  "BEGIN",
  "END",
  "VERSION",
  "KIND",
  "UID",
  "FN",
  "N",
  "TEL",
  "EMAIL",
  "ADR",
  "TITLE",
  "CATEGORIES",
  "NOTE",
];

const shown = (value: string | undefined): value is string =>
  value !== undefined && cleanText(value).trim() !== "";
/** A structured component as it reads back: cleaned, backslashes left out (see escapeVcardComponent). */
const component = (value: string | undefined) => cleanText(value ?? "").replace(/\\/g, "");

/** A phone number as it reads back: one line, backslashes left out (see escapePhoneNumber). */
const phone = (value: string) => cleanText(value).replace(/\\/g, "").replace(/\n/g, " ");

function expectedCard(contact: VcardContact, version: VcardVersion): Array<[string, unknown]> {
  const words = contact.name.trim().split(/\s+/).filter(Boolean);
  const [family, given] =
    words.length < 2 ? [words[0] ?? "", ""] : [words.at(-1) ?? "", words.slice(0, -1).join(" ")];
  const expected: Array<[string, unknown]> = [
    ["version", version],
    ...(version === "4.0" ? [["kind", "individual"] as [string, unknown]] : []),
    ["uid", `urn:fogis-realtime:referee:${encodeURIComponent(cleanText(contact.refereeNumber))}`],
    ["fn", cleanText(contact.name)],
    ["n", [component(family), component(given), "", "", ""]],
  ];
  if (shown(contact.mobile)) expected.push(["tel", phone(contact.mobile)]);
  if (shown(contact.phone) && contact.phone !== contact.mobile) expected.push(["tel", phone(contact.phone)]);
  if (shown(contact.email)) expected.push(["email", cleanText(contact.email)]);
  const a = contact.address;
  if (a && [a.street, a.postalCode, a.city, a.country].some(shown)) {
    expected.push([
      "adr",
      ["", "", component(a.street), component(a.city), "", component(a.postalCode), component(a.country)],
    ]);
  }
  if (shown(contact.title)) expected.push(["title", cleanText(contact.title)]);
  expected.push(["categories", "FOGIS,Domare"]);
  if (shown(contact.note)) expected.push(["note", cleanText(contact.note)]);
  return expected;
}

describe("the vCard writer under fuzzing", () => {
  it(
    "writes every card as exactly its own properties, each reading back as the cleaned input",
    () => {
      fc.assert(
        fc.property(
          fc.array(contactArbitrary, { minLength: 1, maxLength: 3 }),
          fc.constantFrom<VcardVersion>("4.0", "3.0"),
          (contacts, version) => {
            // 4.0 for /contacts.vcf, 3.0 for CardDAV servers.
            const text = contacts.map((contact) => renderVcard(contact, { version })).join("");
            expectWellFormedLines(text, CARD_PROPERTIES);
            const parsed = ICAL.parse(text);
            // ical.js answers one component for a single card and a list for several.
            const list = (contacts.length === 1 ? [parsed] : parsed) as unknown[];
            expect(list).toHaveLength(contacts.length);
            list.forEach((jcard, i) => {
              const card = new ICAL.Component(jcard as never);
              const read = card.getAllProperties().map((p): [string, unknown] => {
                const values = p.getValues();
                const value = p.name === "categories" ? values.join(",") : values[0];
                // ical.js reads 3.0 text by the 4.0 rules and leaves "\;" as is; RFC 2426 §4 escapes
                // ";" in all text (as the CardDAV backend writes it), so unescape what ical.js left.
                return [
                  p.name,
                  version === "3.0" && typeof value === "string" ? value.replace(/\\;/g, ";") : value,
                ];
              });
              expect(read).toEqual(expectedCard(contacts[i] as VcardContact, version));
            });
          },
        ),
        { numRuns: RUNS },
      );
    },
    TIMEOUT_MS,
  );
});
