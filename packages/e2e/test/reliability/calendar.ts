import type { Match } from "@fogis/message-schema";
import ICAL from "ical.js";

/**
 * Reads `/calendar.ics` with ical.js (an iCalendar implementation independent of ours, the one
 * calendar-sync's own tests use) and compares it with a match list: the user-visible fields of
 * each event against the match it should show.
 */

export interface FeedEvent {
  uid: string;
  summary: string;
  location: string;
  description: string;
  start: Date;
  status: string;
}

export function parseFeed(text: string): FeedEvent[] {
  const calendar = new ICAL.Component(ICAL.parse(text));
  return calendar.getAllSubcomponents("vevent").map((vevent) => {
    const field = (name: string) => String(vevent.getFirstPropertyValue(name) ?? "");
    return {
      uid: field("uid"),
      summary: field("summary"),
      location: field("location"),
      description: field("description"),
      start: (vevent.getFirstPropertyValue("dtstart") as ICAL.Time).toJSDate(),
      status: field("status"),
    };
  });
}

/** `tid` is "/Date(<epoch ms>)/" in the fixtures; read it here rather than with the project's own helper. */
function kickoffOf(match: Match): string | undefined {
  const ms = /^\/Date\((\d+)\)\/$/.exec(match.tid ?? "")?.[1];
  return ms === undefined ? undefined : new Date(Number(ms)).toISOString();
}

function matchIdOf(uid: string): number | undefined {
  const id = /(\d{5,})/.exec(uid)?.[1];
  return id === undefined ? undefined : Number(id);
}

/**
 * How `events` differ from what `matches` should show, plus an event for each match in `history`
 * (played, no longer listed); empty when the calendar equals the list.
 */
export function calendarDifferences(
  events: FeedEvent[],
  matches: Match[],
  history: ReadonlySet<number> = new Set(),
): string[] {
  const problems: string[] = [];
  const byId = new Map<number, FeedEvent>();
  for (const event of events) {
    const id = matchIdOf(event.uid);
    if (id === undefined) problems.push(`event ${event.uid} names no matchid`);
    else if (byId.has(id)) problems.push(`two events for match ${id}`);
    else byId.set(id, event);
  }
  for (const match of matches) {
    const event = byId.get(match.matchid);
    byId.delete(match.matchid);
    if (!event) {
      problems.push(`match ${match.matchid}: no event`);
      continue;
    }
    const wrong = (what: string, shown: unknown, expected: unknown) =>
      problems.push(
        `match ${match.matchid}: ${what} is ${JSON.stringify(shown)}, expected ${JSON.stringify(expected)}`,
      );
    // DESIGN §7: a postponed or interrupted match says so in the summary.
    const flags = [match.uppskjuten && "UPPSKJUTEN", match.avbruten && "AVBRUTEN"].filter(Boolean);
    const teams = `${match.lag1namn} - ${match.lag2namn}`;
    const summary = flags.length ? `${flags.join(", ")}: ${teams}` : teams;
    if (event.summary !== summary) wrong("SUMMARY", event.summary, summary);
    if (event.location !== (match.anlaggningnamn ?? ""))
      wrong("LOCATION", event.location, match.anlaggningnamn);
    const kickoff = kickoffOf(match);
    if (event.start.toISOString() !== kickoff) wrong("DTSTART", event.start.toISOString(), kickoff);
    const status = match.installd ? "CANCELLED" : match.uppskjuten ? "TENTATIVE" : "CONFIRMED";
    if (event.status !== status) wrong("STATUS", event.status, status);
    for (const referee of match.domaruppdraglista ?? []) {
      if (referee.personnamn && !event.description.includes(referee.personnamn)) {
        problems.push(`match ${match.matchid}: referee ${referee.personnamn} missing from DESCRIPTION`);
      }
    }
  }
  for (const id of history) {
    if (!byId.delete(id)) problems.push(`match ${id}: the played match's event (history) is gone`);
  }
  for (const id of byId.keys()) problems.push(`match ${id}: event for a match not in the list`);
  return problems;
}

/** Match ids whose event differs from the list (the changes to them did not all arrive). */
export function wrongMatchIds(
  events: FeedEvent[],
  matches: Match[],
  history: ReadonlySet<number> = new Set(),
): Set<number> {
  const ids = new Set<number>();
  for (const problem of calendarDifferences(events, matches, history)) {
    const id = /match (\d+)/.exec(problem)?.[1];
    if (id) ids.add(Number(id));
  }
  return ids;
}
