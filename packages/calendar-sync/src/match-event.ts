import { createHash } from "node:crypto";
import {
  type Match,
  matchContacts,
  matchReferees,
  matchSpan,
  type Referee,
  type TeamContact,
} from "@fogis/message-schema";

/**
 * One match as a calendar event (DESIGN §7). Everything the user sees is a field here, and the
 * content hash covers all of them, so any visible change (a swapped referee, a cancellation, a new
 * contact number) bumps SEQUENCE and LAST-MODIFIED and calendar clients refresh the event.
 */

export const ALARM_MINUTES_BEFORE = 48 * 60;

/** CANCELLED: `installd`; TENTATIVE: `uppskjuten` (postponed, no new time yet); else CONFIRMED. */
export type EventStatus = "CONFIRMED" | "TENTATIVE" | "CANCELLED";

export interface CalendarEvent {
  /** Stable across updates: `fogis-match-<matchid>@fogis-realtime`. */
  uid: string;
  matchid: number;
  summary: string;
  location: string;
  description: string;
  url: string;
  /**
   * ISO-8601 UTC instants. For an all-day event, Stockholm midnight of the match date and of the
   * day after (the DATE values written are their Stockholm dates).
   */
  start: string;
  end: string;
  /** FOGIS has no kick-off time (`avsparkstid` unset): a whole-day event (`VALUE=DATE`). */
  allDay: boolean;
  status: EventStatus;
  /** A DISPLAY alarm this many minutes before kick-off; none when cancelled, postponed or all-day. */
  alarmMinutesBefore: number | null;
  /** sha256 over every field above. */
  contentHash: string;
}

export function matchEventUid(matchid: number): string {
  return `fogis-match-${matchid}@fogis-realtime`;
}

export function matchFactsUrl(matchid: number): string {
  return `https://www.svenskfotboll.se/matchfakta/${matchid}/`;
}

/** The event for a match, or `null` when the match has no usable kick-off (the schema rules that out). */
export function matchToCalendarEvent(match: Match): CalendarEvent | null {
  const span = matchEventSpan(match);
  if (!span) return null;
  const cancelled = match.installd === true;
  const postponed = match.uppskjuten === true;
  const fields: Omit<CalendarEvent, "contentHash"> = {
    uid: matchEventUid(match.matchid),
    matchid: match.matchid,
    summary: eventSummary(match),
    location: match.anlaggningnamn ?? "",
    description: describeMatch(match),
    url: matchFactsUrl(match.matchid),
    ...span,
    status: cancelled ? "CANCELLED" : postponed ? "TENTATIVE" : "CONFIRMED",
    // No reminder for a match that will not be played then, nor one at a made-up time of day.
    alarmMinutesBefore: cancelled || postponed || span.allDay ? null : ALARM_MINUTES_BEFORE,
  };
  return { ...fields, contentHash: eventContentHash(fields) };
}

/**
 * `{lag1namn} - {lag2namn}`, prefixed with the status words the description opens with when the
 * match is postponed or interrupted (an interrupted match keeps its time). A cancelled match says
 * so by STATUS:CANCELLED and the description; its summary is left as DESIGN §7 fixes it.
 */
export function eventSummary(match: Match): string {
  const teams = `${match.lag1namn} - ${match.lag2namn}`;
  const flags = [match.uppskjuten && "UPPSKJUTEN", match.avbruten && "AVBRUTEN"].filter(Boolean);
  return flags.length ? `${flags.join(", ")}: ${teams}` : teams;
}

const SUMMARY_FLAGS = /^((?:UPPSKJUTEN|AVBRUTEN)(?:, (?:UPPSKJUTEN|AVBRUTEN))*): /;

/**
 * Reads a summary written by `eventSummary` back into teams and flags, for where only the stored
 * event is known (after a restart, before the next snapshot).
 */
export function readEventSummary(summary: string): {
  home: string;
  away: string;
  postponed: boolean;
  interrupted: boolean;
} {
  const flags = SUMMARY_FLAGS.exec(summary);
  const teams = flags ? summary.slice(flags[0].length) : summary;
  const [home = teams, ...away] = teams.split(" - ");
  return {
    home,
    away: away.join(" - "),
    postponed: flags?.[1]?.includes("UPPSKJUTEN") ?? false,
    interrupted: flags?.[1]?.includes("AVBRUTEN") ?? false,
  };
}

/** The event's span: message-schema's `matchSpan` (the same span decides when a match is played). */
export function matchEventSpan(match: Match): Pick<CalendarEvent, "start" | "end" | "allDay"> | null {
  const span = matchSpan(match);
  return span ? { start: span.start.toISOString(), end: span.end.toISOString(), allDay: span.allDay } : null;
}

export function eventContentHash(fields: Omit<CalendarEvent, "contentHash">): string {
  // A fixed field order, so the hash does not depend on how the object was built.
  const shown = [
    fields.uid,
    fields.summary,
    fields.location,
    fields.description,
    fields.url,
    fields.start,
    fields.end,
    fields.status,
    fields.alarmMinutesBefore,
    // Only when set: events stored before all-day events existed keep their hash (no mass update).
    ...(fields.allDay ? ["all-day"] : []),
  ];
  return createHash("sha256").update(JSON.stringify(shown)).digest("hex");
}

/**
 * The description: status flags first (so a cancellation is the first thing read), then match
 * number, competition, referees (role short name, name, mobile), team contacts, and the match
 * facts link. Referees and contacts are sorted, so FOGIS reordering them changes nothing.
 */
export function describeMatch(match: Match): string {
  const lines: string[] = [];
  if (match.installd) lines.push("INSTÄLLD");
  if (match.uppskjuten) lines.push("UPPSKJUTEN");
  if (match.avbruten) lines.push("AVBRUTEN");
  if (lines.length) lines.push("");
  if (match.matchnr) lines.push(`Matchnummer: ${match.matchnr}`);
  if (match.tavlingnamn) lines.push(`Tävling: ${match.tavlingnamn}`);

  const referees = sortReferees(matchReferees(match));
  if (referees.length) {
    lines.push("", "Domare:");
    for (const referee of referees) lines.push(refereeLine(referee));
  }

  const contacts = sortContacts(matchContacts(match), match);
  if (contacts.length) {
    lines.push("", "Kontaktpersoner:");
    for (const contact of contacts) lines.push(contactLine(contact));
  }

  lines.push("", `Matchfakta: ${matchFactsUrl(match.matchid)}`);
  return lines.join("\n");
}

function refereeLine(referee: Referee): string {
  const role = referee.domarrollkortnamn || referee.domarrollnamn || "Domare";
  return joinParts(
    `${role}: ${referee.personnamn || "(namn saknas)"}`,
    referee.mobiltelefon || referee.telefon,
  );
}

function contactLine(contact: TeamContact): string {
  const who = contact.lagnamn
    ? `${contact.lagnamn}: ${contact.personnamn ?? ""}`
    : (contact.personnamn ?? "");
  const line = joinParts(who, contact.mobiltelefon || contact.telefon, contact.epostadress);
  return contact.reserv ? `${line} (reserv)` : line;
}

function joinParts(...parts: Array<string | null | undefined>): string {
  return parts.filter((part): part is string => Boolean(part?.trim())).join(", ");
}

function sortReferees(referees: Referee[]): Referee[] {
  return [...referees].sort(
    (a, b) => (a.domarrollid ?? 99) - (b.domarrollid ?? 99) || a.domareid - b.domareid,
  );
}

const swedish = new Intl.Collator("sv");

function sortContacts(contacts: TeamContact[], match: Match): TeamContact[] {
  const teamOrder = (contact: TeamContact) => {
    if (contact.lagid != null && contact.lagid === match.lag1lagid) return 0;
    if (contact.lagid != null && contact.lagid === match.lag2lagid) return 1;
    return 2;
  };
  return [...contacts].sort(
    (a, b) =>
      teamOrder(a) - teamOrder(b) ||
      Number(a.reserv === true) - Number(b.reserv === true) ||
      swedish.compare(a.personnamn ?? "", b.personnamn ?? "") ||
      (a.personid ?? 0) - (b.personid ?? 0),
  );
}
