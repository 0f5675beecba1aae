import { createHash } from "node:crypto";
import {
  type Match,
  matchContacts,
  matchKickoff,
  matchReferees,
  type Referee,
  type TeamContact,
} from "@fogis/message-schema";

/**
 * One match as a calendar event (DESIGN §7). Everything the user sees is a field here, and the
 * content hash covers all of them, so any visible change (a swapped referee, a cancellation, a new
 * contact number) bumps SEQUENCE and LAST-MODIFIED and calendar clients refresh the event.
 */

export const MATCH_DURATION_MS = 2 * 60 * 60 * 1000;
export const ALARM_MINUTES_BEFORE = 48 * 60;

export type EventStatus = "CONFIRMED" | "CANCELLED";

export interface CalendarEvent {
  /** Stable across updates: `fogis-match-<matchid>@fogis-realtime`. */
  uid: string;
  matchid: number;
  summary: string;
  location: string;
  description: string;
  url: string;
  /** ISO-8601 UTC instants. */
  start: string;
  end: string;
  status: EventStatus;
  /** A DISPLAY alarm this many minutes before kick-off; none for a cancelled match. */
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
  const kickoff = matchKickoff(match);
  if (!kickoff) return null;
  const cancelled = match.installd === true;
  const fields: Omit<CalendarEvent, "contentHash"> = {
    uid: matchEventUid(match.matchid),
    matchid: match.matchid,
    summary: `${match.lag1namn} - ${match.lag2namn}`,
    location: match.anlaggningnamn ?? "",
    description: describeMatch(match),
    url: matchFactsUrl(match.matchid),
    start: kickoff.toISOString(),
    end: new Date(kickoff.getTime() + MATCH_DURATION_MS).toISOString(),
    status: cancelled ? "CANCELLED" : "CONFIRMED",
    alarmMinutesBefore: cancelled ? null : ALARM_MINUTES_BEFORE,
  };
  return { ...fields, contentHash: eventContentHash(fields) };
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
