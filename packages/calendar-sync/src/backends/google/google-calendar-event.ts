import { STOCKHOLM_TIME_ZONE } from "@fogis/message-schema";
import type { calendar_v3 } from "@googleapis/calendar";
import { z } from "zod";
import type { StoredCalendarEvent } from "../../calendar-backend.js";
import { ALARM_MINUTES_BEFORE } from "../../match-event.js";

/**
 * A match's event as Google Calendar holds it: what FOGIS owns in it, the extended properties the
 * Python service set too (so either service finds the other's events), and the reminders, ours
 * merged with the referee's own.
 */

/** What the Python service put into `extendedProperties.private.syncTag`. */
export const PYTHON_SYNC_TAG = "FOGIS_CALENDAR_SYNC";
/** Our own extended property: the content hash of what we last wrote. */
export const HASH_PROPERTY = "fogisRealtimeHash";

export type GoogleEvent = calendar_v3.Schema$Event;

export const ReminderSchema = z.object({ method: z.string(), minutes: z.number() });
type Reminder = z.infer<typeof ReminderSchema>;

/** The referee's reminders on an event, or "default" when they chose the calendar's. */
export type TheirReminders = Reminder[] | "default";

/** Google's status for ours. Google's own "cancelled" means deleted, so it is never sent. */
const GOOGLE_STATUS: Record<string, "confirmed" | "tentative"> = {
  CONFIRMED: "confirmed",
  TENTATIVE: "tentative",
  CANCELLED: "confirmed",
};

/**
 * What FOGIS owns in the event, from the same event the feed serves (summary, description, times,
 * status, alarm). Google Calendar cannot show a cancelled event (its status "cancelled" is how the
 * API marks a deleted one), so a cancelled match stays visible as a free ("transparent") event
 * whose title starts with INSTÄLLD, as its description does.
 */
export function googleEvent(event: StoredCalendarEvent, theirs: TheirReminders): GoogleEvent {
  const cancelled = event.status === "CANCELLED";
  return {
    summary: cancelled ? `INSTÄLLD: ${event.summary}` : event.summary,
    location: event.location,
    description: event.description,
    start: { dateTime: event.start, timeZone: STOCKHOLM_TIME_ZONE },
    end: { dateTime: event.end, timeZone: STOCKHOLM_TIME_ZONE },
    status: GOOGLE_STATUS[event.status] ?? "confirmed",
    transparency: cancelled ? "transparent" : "opaque",
    source: { title: "Matchfakta", url: event.url },
    extendedProperties: {
      private: {
        matchId: String(event.matchid),
        syncTag: PYTHON_SYNC_TAG,
        [HASH_PROPERTY]: event.contentHash,
      },
    },
    reminders: remindersFor(event, theirs),
  };
}

/** Our 48-hour popup (the Python service's too) plus the referee's own; theirs win a full list of five. */
function remindersFor(event: StoredCalendarEvent, theirs: TheirReminders): GoogleEvent["reminders"] {
  if (theirs === "default") return { useDefault: true };
  const ours =
    event.alarmMinutesBefore === null ? [] : [{ method: "popup", minutes: event.alarmMinutesBefore }];
  return { useDefault: false, overrides: [...theirs, ...ours].slice(0, 5) };
}

function isOurReminder(reminder: calendar_v3.Schema$EventReminder): boolean {
  return reminder.method === "popup" && reminder.minutes === ALARM_MINUTES_BEFORE;
}

/** The referee's reminders on a server copy: all but our popup, or "default". */
export function theirReminders(server: GoogleEvent): TheirReminders {
  if (server.reminders?.useDefault) return "default";
  return (server.reminders?.overrides ?? [])
    .filter((reminder) => !isOurReminder(reminder))
    .map((reminder) => ({ method: reminder.method ?? "popup", minutes: reminder.minutes ?? 0 }));
}
