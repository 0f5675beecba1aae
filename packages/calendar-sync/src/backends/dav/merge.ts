import { createHash } from "node:crypto";
import { foldLine } from "../../content-lines.js";

/**
 * Merging our version of an event or card into the copy on the server, so the referee's own
 * additions survive our updates (DESIGN §11). FOGIS owns a fixed set of properties; the server
 * copy's other lines (the referee's alarms, categories, colour, notes in properties we do not set,
 * whatever their app adds) are carried over byte for byte. Our own lines always come from the one
 * writer the feed uses (`renderVevent`, `renderVcard`); this module only reads content lines and
 * re-folds the referee's, it writes no property of its own.
 */

export interface ContentLine {
  readonly kind: "line";
  /** The unfolded line as it came. */
  readonly raw: string;
  /** Upper-case property name without its group. */
  readonly name: string;
  /** vCard group (`item1` in `item1.TEL`), upper-case. */
  readonly group: string | undefined;
  /** Everything after the first colon outside quotes. */
  readonly value: string;
}

export interface Component {
  readonly kind: "component";
  readonly name: string;
  readonly children: Array<ContentLine | Component>;
}

/** Reads iCalendar or vCard text into its components (RFC 5545 §3.1, RFC 6350 §3.2). Never throws. */
export function parseContent(text: string): Component[] {
  const roots: Component[] = [];
  const stack: Component[] = [];
  for (const raw of text.replace(/\r?\n[ \t]/g, "").split(/\r?\n/)) {
    if (raw.trim() === "") continue;
    const line = parseLine(raw);
    if (!line) continue;
    if (line.name === "BEGIN") {
      const component: Component = { kind: "component", name: line.value.trim().toUpperCase(), children: [] };
      (stack.at(-1)?.children ?? roots).push(component);
      stack.push(component);
    } else if (line.name === "END") {
      // Close up to the matching BEGIN; an END without one is dropped.
      const name = line.value.trim().toUpperCase();
      const at = stack.findLastIndex((component) => component.name === name);
      if (at >= 0) stack.length = at;
    } else {
      stack.at(-1)?.children.push(line);
    }
  }
  return roots;
}

function parseLine(raw: string): ContentLine | undefined {
  const head = /^(?:([A-Za-z0-9-]+)\.)?([A-Za-z0-9-]+)/.exec(raw);
  if (!head) return undefined;
  let quoted = false;
  for (let i = head[0].length; i < raw.length; i += 1) {
    const c = raw[i];
    if (c === '"') quoted = !quoted;
    else if (c === ":" && !quoted) {
      return {
        kind: "line",
        raw,
        name: (head[2] ?? "").toUpperCase(),
        group: head[1]?.toUpperCase(),
        value: raw.slice(i + 1),
      };
    }
  }
  return undefined;
}

export function serializeComponent(component: Component): string {
  const out = [`BEGIN:${component.name}`];
  for (const child of component.children) {
    out.push(child.kind === "line" ? foldLine(child.raw) : serializeComponent(child).slice(0, -2));
  }
  out.push(`END:${component.name}`);
  return `${out.join("\r\n")}\r\n`;
}

function lines(component: Component): ContentLine[] {
  return component.children.filter((child): child is ContentLine => child.kind === "line");
}

function components(component: Component, name?: string): Component[] {
  return component.children.filter(
    (child): child is Component => child.kind === "component" && (name === undefined || child.name === name),
  );
}

function firstValue(component: Component, name: string): string | undefined {
  return lines(component).find((line) => line.name === name)?.value;
}

// ---------------------------------------------------------------------------------------------
// Events

/**
 * What FOGIS owns in a VEVENT, beyond whatever our writer emits: the alternative forms a client
 * may have turned ours into (DURATION for DTEND), and copies clients derive from our fields that
 * would show stale data if kept (Outlook's HTML description, Apple's map pin for the location).
 */
const FOGIS_EVENT_PROPERTIES = new Set([
  "UID",
  "DTSTAMP",
  "CREATED",
  "LAST-MODIFIED",
  "SEQUENCE",
  "DTSTART",
  "DTEND",
  "DURATION",
  "SUMMARY",
  "LOCATION",
  "DESCRIPTION",
  "URL",
  "STATUS",
  "TRANSP",
  "X-ALT-DESC",
  "X-APPLE-STRUCTURED-LOCATION",
]);
/** Properties that change with every write and say nothing about the match. */
const STAMPS = new Set(["DTSTAMP", "CREATED", "LAST-MODIFIED", "SEQUENCE"]);
const CALENDAR_HEADER = new Set(["VERSION", "PRODID", "CALSCALE", "METHOD"]);

export interface EventMergeOptions {
  uid: string;
  /** Our alarm's TRIGGER, in seconds relative to the start; a VALARM with this trigger is ours. */
  alarmTriggerSeconds: number;
}

/** The master VEVENT (no RECURRENCE-ID) with this UID. */
function masterEvent(calendar: Component, uid: string): Component | undefined {
  return components(calendar, "VEVENT").find(
    (event) =>
      firstValue(event, "UID") === uid && !lines(event).some((line) => line.name === "RECURRENCE-ID"),
  );
}

function calendarOf(text: string): Component | undefined {
  return parseContent(text).find((component) => component.name === "VCALENDAR");
}

/**
 * Our calendar object (from `renderCalendarObject`) merged into the server's copy: our VEVENT
 * properties and alarm replace theirs; every other property, alarm and component of the server
 * copy is kept. A server copy that is not recognisably our event is replaced by ours.
 */
export function mergeEvent(server: string, ours: string, options: EventMergeOptions): string {
  const serverCalendar = calendarOf(server);
  const ourCalendar = calendarOf(ours);
  const ourEvent = ourCalendar && masterEvent(ourCalendar, options.uid);
  const serverEvent = serverCalendar && masterEvent(serverCalendar, options.uid);
  if (!ourCalendar || !ourEvent || !serverCalendar || !serverEvent) return ours;

  const owned = new Set([...FOGIS_EVENT_PROPERTIES, ...lines(ourEvent).map((line) => line.name)]);
  const merged: Component = {
    kind: "component",
    name: "VEVENT",
    children: [
      ...lines(ourEvent),
      ...lines(serverEvent).filter((line) => !owned.has(line.name)),
      ...components(serverEvent).filter((child) => !isOurAlarm(child, options.alarmTriggerSeconds)),
      ...components(ourEvent),
    ],
  };
  const calendar: Component = {
    kind: "component",
    name: "VCALENDAR",
    children: [
      ...lines(ourCalendar),
      ...lines(serverCalendar).filter((line) => !CALENDAR_HEADER.has(line.name)),
      ...components(serverCalendar).map((child) => (child === serverEvent ? merged : child)),
    ],
  };
  return serializeComponent(calendar);
}

/** The SEQUENCE of our event in a server copy (a client may have raised it), or -1. */
export function eventSequence(text: string, uid: string): number {
  const calendar = calendarOf(text);
  const event = calendar && masterEvent(calendar, uid);
  const value = event ? Number(firstValue(event, "SEQUENCE")) : Number.NaN;
  return Number.isInteger(value) ? value : -1;
}

/**
 * What FOGIS shows in an event (its owned properties and those our rendering `ours` has, stamps
 * aside, and whether our alarm is there), to tell whether a server copy already says what we would
 * write, e.g. when a lost state file makes us meet our own events again.
 */
export function eventFingerprint(text: string, ours: string, options: EventMergeOptions): string | undefined {
  const calendar = calendarOf(text);
  const event = calendar && masterEvent(calendar, options.uid);
  if (!event) return undefined;
  const ourCalendar = calendarOf(ours);
  const ourEvent = ourCalendar && masterEvent(ourCalendar, options.uid);
  const owned = new Set([
    ...FOGIS_EVENT_PROPERTIES,
    ...(ourEvent ? lines(ourEvent) : []).map((line) => line.name),
  ]);
  const shown = lines(event)
    .filter((line) => owned.has(line.name) && !STAMPS.has(line.name))
    .map((line) => `${line.name}:${line.value}`)
    .sort();
  const alarms = components(event).filter((child) => isOurAlarm(child, options.alarmTriggerSeconds)).length;
  return JSON.stringify([shown, alarms]);
}

function isOurAlarm(component: Component, triggerSeconds: number): boolean {
  if (component.name !== "VALARM") return false;
  const action = firstValue(component, "ACTION")?.trim().toUpperCase();
  const trigger = firstValue(component, "TRIGGER");
  return action === "DISPLAY" && trigger !== undefined && durationSeconds(trigger) === triggerSeconds;
}

/** An RFC 5545 DURATION (`-PT48H`, `-P2D`, `-PT2880M`, `-P2DT0H`) in seconds; NaN otherwise. */
export function durationSeconds(value: string): number {
  const match = /^([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(
    value.trim().toUpperCase(),
  );
  if (!match || value.trim().toUpperCase().replace(/^[+-]/, "") === "P") return Number.NaN;
  const [, sign, weeks, days, hours, minutes, seconds] = match;
  const total =
    Number(weeks ?? 0) * 604_800 +
    Number(days ?? 0) * 86_400 +
    Number(hours ?? 0) * 3600 +
    Number(minutes ?? 0) * 60 +
    Number(seconds ?? 0);
  return sign === "-" ? -total : total;
}

// ---------------------------------------------------------------------------------------------
// Cards

/** Card properties FOGIS owns outright (one value each, or one list). */
const FOGIS_CARD_PROPERTIES = new Set([
  "VERSION",
  "PRODID",
  "REV",
  "UID",
  "KIND",
  "FN",
  "N",
  "TITLE",
  "NOTE",
  "CATEGORIES",
]);
/**
 * Properties a card may hold several of, where the referee may add their own (a work number, a
 * private e-mail): only the values we wrote are ours.
 */
const SHARED_CARD_PROPERTIES = new Set(["TEL", "EMAIL", "ADR"]);

export interface CardMergeOptions {
  /** Fingerprints (`cardValueFingerprints`) of the TEL/EMAIL/ADR values we wrote last time. */
  previouslyWritten: readonly string[];
}

/**
 * Our card merged into the server's copy: our properties replace theirs, TEL/EMAIL/ADR values we
 * wrote before (or write now) are replaced, and everything else the referee or their app added
 * is kept, including the other lines of a group (`item1.X-ABLabel`) whose value stays.
 */
export function mergeCard(server: string, ours: string, options: CardMergeOptions): string {
  const serverCard = parseContent(server).find((component) => component.name === "VCARD");
  const ourCard = parseContent(ours).find((component) => component.name === "VCARD");
  if (!serverCard || !ourCard) return ours;
  const ourLines = lines(ourCard);
  const ourValues = new Set([...options.previouslyWritten, ...cardValueFingerprints(ours)]);
  const owned = new Set([...FOGIS_CARD_PROPERTIES, ...ourLines.map((line) => line.name)]);
  const droppedGroups = new Set<string>();
  const kept: ContentLine[] = [];
  for (const line of lines(serverCard)) {
    const ours = SHARED_CARD_PROPERTIES.has(line.name)
      ? ourValues.has(valueFingerprint(line))
      : owned.has(line.name);
    if (ours) {
      if (line.group) droppedGroups.add(line.group);
    } else {
      kept.push(line);
    }
  }
  const card: Component = {
    kind: "component",
    name: "VCARD",
    children: [
      ...ourLines,
      ...kept.filter((line) => !line.group || !droppedGroups.has(line.group)),
      ...components(serverCard),
    ],
  };
  return serializeComponent(card);
}

/** Fingerprints of the TEL, EMAIL and ADR values in a card, to know them as ours next time. */
export function cardValueFingerprints(text: string): string[] {
  const card = parseContent(text).find((component) => component.name === "VCARD");
  if (!card) return [];
  return lines(card)
    .filter((line) => SHARED_CARD_PROPERTIES.has(line.name))
    .map(valueFingerprint);
}

/** What FOGIS shows in a card: our properties and values, to tell whether a server copy is current. */
export function cardFingerprint(text: string, ours: string): string | undefined {
  const card = parseContent(text).find((component) => component.name === "VCARD");
  if (!card) return undefined;
  const ourValues = new Set(cardValueFingerprints(ours));
  const shown = lines(card)
    .filter((line) =>
      SHARED_CARD_PROPERTIES.has(line.name)
        ? ourValues.has(valueFingerprint(line))
        : FOGIS_CARD_PROPERTIES.has(line.name) && line.name !== "PRODID" && line.name !== "REV",
    )
    .map((line) =>
      SHARED_CARD_PROPERTIES.has(line.name) ? valueFingerprint(line) : `${line.name}:${line.value}`,
    )
    .sort();
  return JSON.stringify(shown);
}

/** A TEL by its digits, an EMAIL case-insensitively, an ADR by its words: how apps rewrite them. */
function valueFingerprint(line: ContentLine): string {
  let value = line.value.trim();
  if (line.name === "TEL") value = value.replace(/^tel:/i, "").replace(/[^\d+]/g, "");
  else if (line.name === "EMAIL") value = value.replace(/^mailto:/i, "").toLowerCase();
  else
    value = value
      .replace(/\\(.)/g, "$1")
      .replace(/[\s;,]+/g, " ")
      .trim()
      .toLowerCase();
  return createHash("sha256").update(`${line.name}:${value}`).digest("hex").slice(0, 16);
}
