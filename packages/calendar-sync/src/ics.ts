import { STOCKHOLM_TIME_ZONE, stockholmDate } from "@fogis/message-schema";
import type { StoredCalendarEvent } from "./calendar-backend.js";
import { ContentLines, formatDate, formatUtcDateTime } from "./content-lines.js";

/**
 * The iCalendar feed (RFC 5545) Google, Apple and Thunderbird subscribe to. Times are written in
 * UTC, which every client converts without needing a VTIMEZONE; X-WR-TIMEZONE tells clients that
 * honour it to show the calendar in Stockholm time.
 */

export interface IcsOptions {
  /** X-WR-CALNAME: the name clients show for the subscription. */
  calendarName: string;
  /** How often clients should refresh (clients that honour REFRESH-INTERVAL / X-PUBLISHED-TTL). */
  refreshMinutes?: number;
}

export const ICS_PRODUCT_ID = "-//FOGIS Realtime//calendar-sync//SV";

/**
 * The whole feed. `renderEvent` lets a caller reuse the text of events that did not change
 * (the feed backend caches it per event), so a one-match change re-renders one event.
 */
export function renderIcs(
  events: readonly StoredCalendarEvent[],
  options: IcsOptions,
  renderEvent: (event: StoredCalendarEvent) => string = renderVevent,
): string {
  const refresh = `PT${options.refreshMinutes ?? 15}M`;
  const header = new ContentLines("icalendar")
    .token("BEGIN", "VCALENDAR")
    .token("VERSION", "2.0")
    .token("PRODID", ICS_PRODUCT_ID)
    .token("CALSCALE", "GREGORIAN")
    .token("METHOD", "PUBLISH")
    .text("X-WR-CALNAME", options.calendarName)
    .token("X-WR-TIMEZONE", STOCKHOLM_TIME_ZONE)
    .token("REFRESH-INTERVAL", refresh, ";VALUE=DURATION")
    .token("X-PUBLISHED-TTL", refresh)
    .toString();
  return `${header}${events.map(renderEvent).join("")}END:VCALENDAR\r\n`;
}

/**
 * One event as a CalDAV calendar object resource: the feed's VEVENT in a VCALENDAR of its own,
 * without METHOD (RFC 4791 §4.1 forbids it in a calendar collection) or the feed-only properties.
 */
export function renderCalendarObject(event: StoredCalendarEvent): string {
  const header = new ContentLines("icalendar")
    .token("BEGIN", "VCALENDAR")
    .token("VERSION", "2.0")
    .token("PRODID", ICS_PRODUCT_ID)
    .token("CALSCALE", "GREGORIAN")
    .toString();
  return `${header}${renderVevent(event)}END:VCALENDAR\r\n`;
}

/**
 * One VEVENT block, CRLF-terminated: the one iCalendar writer, for the feed and for the CalDAV
 * backend (`renderCalendarObject`).
 */
export function renderVevent(event: StoredCalendarEvent): string {
  const lastModified = formatUtcDateTime(new Date(event.lastModified));
  const out = new ContentLines("icalendar")
    .token("BEGIN", "VEVENT")
    .text("UID", event.uid)
    // In a published feed DTSTAMP is when the event's information last changed (RFC 5545 §3.8.7.2).
    .token("DTSTAMP", lastModified)
    .token("CREATED", formatUtcDateTime(new Date(event.created)))
    .token("LAST-MODIFIED", lastModified)
    .token("SEQUENCE", String(Math.trunc(event.sequence)));
  if (event.allDay) {
    // A whole day without a kick-off time: DATE values, the Stockholm dates of start and end.
    out
      .token("DTSTART", formatDate(stockholmDate(new Date(event.start))), ";VALUE=DATE")
      .token("DTEND", formatDate(stockholmDate(new Date(event.end))), ";VALUE=DATE");
  } else {
    out
      .token("DTSTART", formatUtcDateTime(new Date(event.start)))
      .token("DTEND", formatUtcDateTime(new Date(event.end)));
  }
  out
    .text("SUMMARY", event.summary)
    .text("LOCATION", event.location)
    .text("DESCRIPTION", event.description)
    .uri("URL", event.url, ";VALUE=URI")
    .token("STATUS", event.status)
    .token("TRANSP", "OPAQUE");
  if (event.alarmMinutesBefore !== null) {
    out
      .token("BEGIN", "VALARM")
      .token("ACTION", "DISPLAY")
      .token("TRIGGER", alarmTrigger(event.alarmMinutesBefore))
      .text("DESCRIPTION", event.summary)
      .token("END", "VALARM");
  }
  out.token("END", "VEVENT");
  return out.toString();
}

function alarmTrigger(minutesBefore: number): string {
  const minutes = Math.trunc(minutesBefore);
  return minutes % 60 === 0 ? `-PT${minutes / 60}H` : `-PT${minutes}M`;
}
