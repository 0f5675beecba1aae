import {
  type Match,
  matchHasKickoffTime,
  matchKickoff,
  matchReferees,
  stockholmDate,
} from "@fogis/message-schema";
import type { StoredCalendarEvent } from "../calendar-backend.js";
import { readEventSummary } from "../match-event.js";
import { type MatchState, matchState, type RecentChange, refereeLabel } from "../recent-changes.js";
import { type Language, texts } from "./i18n.js";
import { type PipelineStep, type StepState, type Verdict, verdictOf } from "./pipeline.js";

/**
 * Everything the status page shows, in one language, as plain data: the HTML is rendered from it
 * and `GET /status.json` answers it as it is. Pure; the clock and language come in.
 */

export interface SubscribeLinks {
  /** http(s)://host/calendar.ics[?token=…] */
  feed: string;
  /** webcal://host/calendar.ics[?token=…] */
  webcal: string;
  /** http(s)://host/contacts.vcf[?token=…] */
  vcard: string;
}

export interface StatusView {
  lang: Language;
  generatedAt: string;
  verdict: { state: Verdict; headline: string; explanation: string; calendar: string };
  pipeline: StepView[];
  matches: { items: MatchView[]; more: number; empty: string | null };
  changes: { items: ChangeView[]; empty: string | null };
  subscribe: SubscribeLinks & { feedFetched: string };
}

export interface StepView {
  id: string;
  name: string;
  status: StepState;
  statusLabel: string;
  lastWorked: string | null;
  lastWorkedText: string;
  reason: string | null;
  affectsCalendar: boolean;
}

export interface MatchView {
  matchid: number;
  /** Kick-off, ISO-8601 UTC (the start of the day when FOGIS has no kick-off time). */
  start: string;
  date: string;
  /** "17:30", or "time not set". */
  kickoff: string;
  home: string;
  away: string;
  venue: string;
  competition: string;
  referees: string[];
  state: MatchState;
  /** Shown for anything but a scheduled match. */
  stateLabel: string | null;
  /** The latest change of this match within `RECENT_MS`, e.g. "Changed 2 hours ago: Kick-off 17:00 → 18:30". */
  recentChange: string | null;
}

export interface ChangeView {
  key: string;
  matchid: number;
  kind: RecentChange["kind"];
  kindLabel: string;
  title: string;
  when: string;
  appliedAt: string;
  reached: string;
  aspects: string[];
}

export interface StatusViewInput {
  now: Date;
  language: Language;
  steps: PipelineStep[];
  /** The calendar's events (ordered by start), as stored. */
  events: readonly StoredCalendarEvent[];
  /** The matches of the last snapshot applied, for referees and status details. */
  matches: ReadonlyMap<number, Match>;
  recentChanges: readonly RecentChange[];
  /** When a snapshot was last applied or confirmed. */
  lastSynced?: Date;
  links: SubscribeLinks;
  feedLastFetched?: Date;
  /** Upcoming matches listed; the rest are counted. */
  maxMatches?: number;
  /** Recent changes listed. */
  maxChanges?: number;
}

/** A change this recent is also shown on its match. */
export const RECENT_MS = 7 * 24 * 3600 * 1000;

export function buildStatusView(input: StatusViewInput): StatusView {
  const t = texts(input.language);
  const { now } = input;
  const relative = (iso: string) => t.relative(iso, now);
  const verdict = verdictOf(input.steps);

  const upcoming = input.events.filter((event) => Date.parse(event.end) > now.getTime());
  const maxMatches = input.maxMatches ?? 50;
  const latestChange = new Map<number, RecentChange>();
  for (const change of input.recentChanges) {
    if (change.kind === "removed" || now.getTime() - Date.parse(change.appliedAt) > RECENT_MS) continue;
    if (!latestChange.has(change.matchid)) latestChange.set(change.matchid, change);
  }

  const changeLine = (change: RecentChange) =>
    change.kind === "updated"
      ? change.aspects.map((aspect) => t.aspect(aspect, aspectKickoffFormat(t, aspect)))
      : [t.changeKind[change.kind]];

  return {
    lang: input.language,
    generatedAt: now.toISOString(),
    verdict: {
      state: verdict,
      headline: t.verdict[verdict].headline,
      explanation: t.verdict[verdict].explanation,
      calendar: t.calendarSummary(
        input.events.length,
        input.lastSynced ? relative(input.lastSynced.toISOString()) : null,
      ),
    },
    pipeline: input.steps.map((step) => ({
      id: step.id,
      name: t.stepName(step),
      status: step.status,
      statusLabel: t.state[step.status],
      lastWorked: step.lastWorked,
      lastWorkedText: t.lastWorked(step.lastWorked ? relative(step.lastWorked) : null),
      reason: step.status !== "pass" && step.reason ? t.reason(step.reason) : null,
      affectsCalendar: step.affectsCalendar,
    })),
    matches: {
      items: upcoming.slice(0, maxMatches).map((event) => {
        const match = input.matches.get(event.matchid);
        const state = match ? matchState(match) : eventState(event);
        const start = match ? (matchKickoff(match)?.toISOString() ?? event.start) : event.start;
        const allDay = match ? !matchHasKickoffTime(match) : event.allDay;
        const change = latestChange.get(event.matchid);
        const stored = readEventSummary(event.summary);
        return {
          matchid: event.matchid,
          start,
          date: t.date(start),
          kickoff: allDay ? t.timeNotSet : t.time(start),
          home: match?.lag1namn ?? stored.home,
          away: match?.lag2namn ?? stored.away,
          venue: match ? (match.anlaggningnamn ?? "") : event.location,
          competition: match?.tavlingnamn ?? "",
          referees: match ? matchReferees(match).map(refereeLabel) : [],
          state,
          stateLabel: state === "scheduled" ? null : t.matchState[state],
          recentChange: change
            ? `${t.changedRecently(relative(change.appliedAt))}: ${changeLine(change).join("; ")}`
            : null,
        };
      }),
      more: Math.max(0, upcoming.length - maxMatches),
      empty: upcoming.length ? null : t.noMatches,
    },
    changes: {
      items: input.recentChanges.slice(0, input.maxChanges ?? 20).map((change) => ({
        key: `${change.matchid}-${change.appliedAt}-${change.kind}`,
        matchid: change.matchid,
        kind: change.kind,
        kindLabel: t.changeKind[change.kind],
        title: `${change.match.home} – ${change.match.away}`,
        when: change.match.allDay
          ? `${t.date(change.match.start)}, ${t.timeNotSet}`
          : t.dateTime(change.match.start),
        appliedAt: change.appliedAt,
        reached: t.reachedCalendar(relative(change.appliedAt), t.origin[change.origin]),
        aspects: change.kind === "updated" ? changeLine(change) : [],
      })),
      empty: input.recentChanges.length ? null : t.noChanges,
    },
    subscribe: {
      ...input.links,
      feedFetched: t.subscribe.feedFetched(
        input.feedLastFetched ? relative(input.feedLastFetched.toISOString()) : null,
      ),
    },
  };
}

/**
 * A kick-off moved within a day shows times only; to another day, the dates too. A side without a
 * kick-off time says so instead of showing midnight.
 */
function aspectKickoffFormat(t: ReturnType<typeof texts>, aspect: RecentChange["aspects"][number]) {
  const sameDay =
    aspect.field !== "kickoff" || stockholmDate(new Date(aspect.from)) === stockholmDate(new Date(aspect.to));
  return (iso: string, allDay = false) => {
    if (allDay) return sameDay ? t.timeNotSet : `${t.date(iso)}, ${t.timeNotSet}`;
    return sameDay ? t.time(iso) : t.dateTime(iso);
  };
}

function eventState(event: StoredCalendarEvent): MatchState {
  // Only the stored event is known (no snapshot applied since start): its status is what it says.
  const status: string = event.status;
  if (status === "CANCELLED") return "cancelled";
  if (status === "TENTATIVE") return "postponed";
  return readEventSummary(event.summary).interrupted ? "interrupted" : "scheduled";
}
