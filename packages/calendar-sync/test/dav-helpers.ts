import { type DavServerHandle, type DavServerKind, startDavServer } from "@fogis/testing";
import ICAL from "ical.js";
import { afterAll, afterEach, beforeAll } from "vitest";
import type { TestService } from "./helpers.js";

/**
 * Reading a CalDAV/CardDAV server the way a calendar or contacts app does, with plain HTTP
 * (PROPFIND, GET) and ical.js, independent of the code under test; and editing it the way a phone
 * does (conditional PUT and DELETE).
 */

export function davAuth(server: DavServerHandle): Record<string, string> {
  const basic = Buffer.from(`${server.username}:${server.password}`).toString("base64");
  return { Authorization: `Basic ${basic}` };
}

export async function davFetch(server: DavServerHandle, pathOrUrl: string, init: RequestInit = {}) {
  return fetch(new URL(pathOrUrl, server.url), {
    ...init,
    headers: { ...davAuth(server), ...(init.headers as Record<string, string>) },
  });
}

interface Listed {
  href: string;
  etag: string | null;
  displayName: string;
  collection: boolean;
}

/** PROPFIND Depth 1: the members of a collection (the collection itself left out). */
export async function propfindChildren(server: DavServerHandle, path: string): Promise<Listed[]> {
  const response = await davFetch(server, path, {
    method: "PROPFIND",
    headers: { Depth: "1", "Content-Type": "application/xml; charset=utf-8" },
    body: '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop><d:displayname/><d:resourcetype/><d:getetag/></d:prop></d:propfind>',
  });
  if (response.status !== 207) throw new Error(`PROPFIND ${path}: ${response.status}`);
  const xml = await response.text();
  const self = new URL(path, server.url).pathname;
  return [...xml.matchAll(/<(?:\w+:)?response\b[^>]*>([\s\S]*?)<\/(?:\w+:)?response>/g)]
    .map(([, block = ""]) => {
      const tag = (name: string) =>
        new RegExp(`<(?:\\w+:)?${name}\\b[^>]*>([\\s\\S]*?)</(?:\\w+:)?${name}>`).exec(block)?.[1];
      const href = decodeURIComponent(new URL(tag("href") ?? "", server.url).pathname);
      return {
        href,
        etag: tag("getetag")?.replace(/&quot;/g, '"') ?? null,
        displayName: tag("displayname") ?? "",
        collection: /<(?:\w+:)?collection\s*\/>/.test(tag("resourcetype") ?? ""),
      };
    })
    .filter((entry) => entry.href !== decodeURIComponent(self));
}

/** The collection in the home with this display name, as an app lists them. */
export async function findCollection(server: DavServerHandle, home: string, name: string) {
  const found = (await propfindChildren(server, home)).filter(
    (entry) => entry.collection && entry.displayName === name,
  );
  return found;
}

export interface ServerEvent {
  href: string;
  etag: string | null;
  text: string;
  uid: string;
  summary: string;
  location: string;
  description: string;
  status: string;
  start: Date;
  end: Date;
  sequence: number;
  categories: string[];
  color: string;
  /** Alarm triggers in seconds relative to the start. */
  alarms: number[];
  /** Lines of the VEVENT, unfolded, for properties the test looks for by hand. */
  properties: string[];
}

/** Every event in the calendar named `name`, read with ical.js. Throws unless exactly one such calendar exists. */
export async function readCalendar(server: DavServerHandle, name: string): Promise<ServerEvent[]> {
  const [calendar, ...more] = await findCollection(server, server.calendarHome, name);
  if (!calendar || more.length)
    throw new Error(`expected one calendar named ${name}, found ${more.length + (calendar ? 1 : 0)}`);
  const events: ServerEvent[] = [];
  for (const member of await propfindChildren(server, calendar.href)) {
    const response = await davFetch(server, member.href);
    const text = await response.text();
    const vcalendar = new ICAL.Component(ICAL.parse(text));
    for (const vevent of vcalendar.getAllSubcomponents("vevent")) {
      const value = (prop: string) => String(vevent.getFirstPropertyValue(prop) ?? "");
      const time = (prop: string) => (vevent.getFirstPropertyValue(prop) as ICAL.Time).toJSDate();
      events.push({
        href: member.href,
        etag: response.headers.get("etag"),
        text,
        uid: value("uid"),
        summary: value("summary"),
        location: value("location"),
        description: value("description"),
        status: value("status"),
        start: time("dtstart"),
        end: time("dtend"),
        sequence: Number(vevent.getFirstPropertyValue("sequence") ?? 0),
        categories: vevent.getAllProperties("categories").flatMap((p) => p.getValues().map(String)),
        color: value("color"),
        alarms: vevent
          .getAllSubcomponents("valarm")
          .map((alarm) => (alarm.getFirstPropertyValue("trigger") as ICAL.Duration).toSeconds()),
        properties: text.replace(/\r?\n[ \t]/g, "").split(/\r?\n/),
      });
    }
  }
  return events.sort((a, b) => a.start.getTime() - b.start.getTime() || a.uid.localeCompare(b.uid));
}

export interface ServerCard {
  href: string;
  etag: string | null;
  text: string;
  uid: string;
  fn: string;
  tels: string[];
  emails: string[];
  note: string;
  title: string;
  /** Lines of the card, unfolded. */
  properties: string[];
}

export async function readAddressBook(server: DavServerHandle, name: string): Promise<ServerCard[]> {
  const [book, ...more] = await findCollection(server, server.addressBookHome, name);
  if (!book || more.length)
    throw new Error(`expected one address book named ${name}, found ${more.length + (book ? 1 : 0)}`);
  const cards: ServerCard[] = [];
  for (const member of await propfindChildren(server, book.href)) {
    const response = await davFetch(server, member.href);
    const text = await response.text();
    const card = new ICAL.Component(ICAL.parse(text));
    const value = (prop: string) => String(card.getFirstPropertyValue(prop) ?? "");
    cards.push({
      href: member.href,
      etag: response.headers.get("etag"),
      text,
      uid: value("uid"),
      fn: value("fn"),
      tels: card.getAllProperties("tel").map((p) => String(p.getFirstValue())),
      emails: card.getAllProperties("email").map((p) => String(p.getFirstValue())),
      note: value("note"),
      title: value("title"),
      properties: text.replace(/\r?\n[ \t]/g, "").split(/\r?\n/),
    });
  }
  return cards.sort((a, b) => a.fn.localeCompare(b.fn, "sv"));
}

/** A phone's edit: GET, change the text, PUT it back with If-Match. Returns the new ETag. */
export async function editAsPhone(
  server: DavServerHandle,
  href: string,
  change: (text: string) => string,
): Promise<string | null> {
  const current = await davFetch(server, href);
  const etag = current.headers.get("etag");
  if (!current.ok || !etag) throw new Error(`GET ${href}: ${current.status}`);
  const contentType = href.endsWith(".vcf") ? "text/vcard; charset=utf-8" : "text/calendar; charset=utf-8";
  const put = await davFetch(server, href, {
    method: "PUT",
    headers: { "If-Match": etag, "Content-Type": contentType },
    body: change(await current.text()),
  });
  await put.body?.cancel();
  if (put.status >= 300) throw new Error(`PUT ${href}: ${put.status}`);
  return put.headers.get("etag");
}

export async function deleteAsPhone(server: DavServerHandle, href: string): Promise<void> {
  const current = await davFetch(server, href);
  await current.body?.cancel();
  const etag = current.headers.get("etag") ?? "*";
  const response = await davFetch(server, href, { method: "DELETE", headers: { "If-Match": etag } });
  await response.body?.cancel();
  if (response.status >= 300) throw new Error(`DELETE ${href}: ${response.status}`);
}

/** Puts an item the user made themselves (not ours) and returns its path. */
export async function putPersonal(server: DavServerHandle, collection: string, name: string, body: string) {
  const href = `${collection}${name}`;
  const contentType = name.endsWith(".vcf") ? "text/vcard; charset=utf-8" : "text/calendar; charset=utf-8";
  const response = await davFetch(server, href, {
    method: "PUT",
    headers: { "If-None-Match": "*", "Content-Type": contentType },
    body,
  });
  await response.body?.cancel();
  if (response.status >= 300) throw new Error(`PUT ${href}: ${response.status}`);
  return href;
}

/** Inserts lines before the VEVENT's END (the referee's own additions). */
export function addToEvent(text: string, ...lines: string[]): string {
  return text.replace(/END:VEVENT/, `${lines.join("\r\n")}\r\nEND:VEVENT`);
}

/** Push retries short enough that a failed push is retried within a test. */
export const FAST_RETRY = { initialMs: 100, maxMs: 400, permanentMs: 1000, failAfterMs: 60_000 };

/**
 * One DAV server of `kind` per describe block (started before its tests, closed after them) and
 * the services its tests start, closed after each test. Call inside the describe block.
 */
export function davServerPerSuite(kind: DavServerKind): { server: DavServerHandle; services: TestService[] } {
  const suite = { server: undefined as unknown as DavServerHandle, services: [] as TestService[] };
  beforeAll(async () => {
    suite.server = await startDavServer(kind);
  });
  afterAll(async () => {
    await suite.server?.close();
  });
  afterEach(async () => {
    for (const service of suite.services.splice(0)) await service.close();
  });
  return suite;
}
