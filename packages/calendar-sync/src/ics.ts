import { STOCKHOLM_TIME_ZONE } from "@fogis/message-schema";
import type { StoredCalendarEvent } from "./calendar-backend.js";
import { ContentLines, escapeIcalText, formatUtcDateTime } from "./content-lines.js";

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
  const header = new ContentLines()
    .add("BEGIN", "VCALENDAR")
    .add("VERSION", "2.0")
    .add("PRODID", ICS_PRODUCT_ID)
    .add("CALSCALE", "GREGORIAN")
    .add("METHOD", "PUBLISH")
    .add("X-WR-CALNAME", escapeIcalText(options.calendarName))
    .add("X-WR-TIMEZONE", STOCKHOLM_TIME_ZONE)
    .add("REFRESH-INTERVAL", refresh, ";VALUE=DURATION")
    .add("X-PUBLISHED-TTL", refresh)
    .toString();
  return `${header}${events.map(renderEvent).join("")}END:VCALENDAR\r\n`;
}

/**
 * One event as a CalDAV calendar object resource: the feed's VEVENT in a VCALENDAR of its own,
 * without METHOD (RFC 4791 §4.1 forbids it in a calendar collection) or the feed-only properties.
 */
export function renderCalendarObject(event: StoredCalendarEvent): string {
  const header = new ContentLines()
    .add("BEGIN", "VCALENDAR")
    .add("VERSION", "2.0")
    .add("PRODID", ICS_PRODUCT_ID)
    .add("CALSCALE", "GREGORIAN")
    .toString();
  return `${header}${renderVevent(event)}END:VCALENDAR\r\n`;
}

/** One VEVENT block, CRLF-terminated. */
export function renderVevent(event: StoredCalendarEvent): string {
  const lastModified = formatUtcDateTime(new Date(event.lastModified));
  const out = new ContentLines()
    .add("BEGIN", "VEVENT")
    .add("UID", escapeIcalText(event.uid))
    // In a published feed DTSTAMP is when the event's information last changed (RFC 5545 §3.8.7.2).
    .add("DTSTAMP", lastModified)
    .add("CREATED", formatUtcDateTime(new Date(event.created)))
    .add("LAST-MODIFIED", lastModified)
    .add("SEQUENCE", String(event.sequence))
    .add("DTSTART", formatUtcDateTime(new Date(event.start)))
    .add("DTEND", formatUtcDateTime(new Date(event.end)))
    .add("SUMMARY", escapeIcalText(event.summary))
    .add("LOCATION", escapeIcalText(event.location))
    .add("DESCRIPTION", escapeIcalText(event.description))
    .add("URL", event.url, ";VALUE=URI")
    .add("STATUS", event.status)
    .add("TRANSP", "OPAQUE");
  if (event.alarmMinutesBefore !== null) {
    out
      .add("BEGIN", "VALARM")
      .add("ACTION", "DISPLAY")
      .add("TRIGGER", alarmTrigger(event.alarmMinutesBefore))
      .add("DESCRIPTION", escapeIcalText(event.summary))
      .add("END", "VALARM");
  }
  out.add("END", "VEVENT");
  return out.toString();
}

function alarmTrigger(minutesBefore: number): string {
  return minutesBefore % 60 === 0 ? `-PT${minutesBefore / 60}H` : `-PT${minutesBefore}M`;
}
