import { join } from "node:path";
import { type Match, matchHasKickoffTime, matchKickoff, matchReferees } from "@fogis/message-schema";
import { readJsonFile, writeJsonAtomic } from "@fogis/runtime";
import type { Logger } from "pino";
import { z } from "zod";
import type { CalendarChanges, StoredCalendarEvent } from "./calendar-backend.js";
import { readEventSummary } from "./match-event.js";
import type { MessageOrigin } from "./stats.js";

/**
 * What changed in the calendar recently, and when it reached it: a small bounded history for the
 * status page ("recent changes"). Each entry says which aspects of a match changed (kick-off,
 * venue, teams, referees, status), worked out by comparing the match before and after, so it does
 * not depend on the processor's `detailed_changes` (DESIGN §4: the calendar never does). Kept in
 * `DATA_DIR/recent_changes.json`, so a restart keeps the history; losing that file loses only this
 * history, never a calendar event.
 */

export type MatchState = "scheduled" | "cancelled" | "postponed" | "interrupted";

export interface MatchSummary {
  home: string;
  away: string;
  /** Kick-off, ISO-8601 UTC; for a match without a kick-off time, the start of its day. */
  start: string;
  /** Set (true) when FOGIS has no kick-off time: the calendar shows a whole-day event. */
  allDay?: true;
  venue: string;
  state: MatchState;
}

export type ChangeAspect =
  | { field: "kickoff"; from: string; to: string; fromAllDay?: true; toAllDay?: true }
  | { field: "venue"; from: string; to: string }
  | { field: "teams"; from: string; to: string }
  | { field: "referees"; added: string[]; removed: string[] }
  | { field: "status"; from: MatchState; to: MatchState }
  | { field: "competition"; from: string; to: string }
  /** Something else shown in the event changed (e.g. a team contact's number). */
  | { field: "details" };

export interface RecentChange {
  matchid: number;
  kind: "created" | "updated" | "removed";
  /** When the change reached the calendar (the feed), ISO-8601 UTC. */
  appliedAt: string;
  /** How the snapshot that carried it arrived. */
  origin: MessageOrigin;
  /** The match as it is now (for a removed match: as it was). */
  match: MatchSummary;
  /** For `updated`: what changed. */
  aspects: ChangeAspect[];
}

export interface AppliedSnapshot {
  changes: CalendarChanges;
  /** The calendar's events before and after the apply. */
  before: readonly StoredCalendarEvent[];
  after: readonly StoredCalendarEvent[];
  /** The matches of the snapshot applied before this one (empty after a restart) and of this one. */
  previousMatches: ReadonlyMap<number, Match>;
  matches: ReadonlyMap<number, Match>;
  appliedAt: Date;
  origin: MessageOrigin;
}

export interface RecentChangesOptions {
  dataDir: string;
  logger: Logger;
  /** Entries kept, newest first. */
  limit?: number;
}

const FILE = "recent_changes.json";
const VERSION = 1;
const DEFAULT_LIMIT = 50;

const stateSchema = z.enum(["scheduled", "cancelled", "postponed", "interrupted"]);
const FileSchema = z.object({
  version: z.literal(VERSION),
  entries: z.array(
    z.object({
      matchid: z.number().int(),
      kind: z.enum(["created", "updated", "removed"]),
      appliedAt: z.iso.datetime(),
      origin: z.enum(["redis", "http", "resync"]),
      match: z.object({
        home: z.string(),
        away: z.string(),
        start: z.iso.datetime(),
        allDay: z.literal(true).optional(),
        venue: z.string(),
        state: stateSchema,
      }),
      aspects: z.array(
        z.discriminatedUnion("field", [
          z.object({
            field: z.literal("kickoff"),
            from: z.string(),
            to: z.string(),
            fromAllDay: z.literal(true).optional(),
            toAllDay: z.literal(true).optional(),
          }),
          z.object({ field: z.literal("venue"), from: z.string(), to: z.string() }),
          z.object({ field: z.literal("teams"), from: z.string(), to: z.string() }),
          z.object({
            field: z.literal("referees"),
            added: z.array(z.string()),
            removed: z.array(z.string()),
          }),
          z.object({ field: z.literal("status"), from: stateSchema, to: stateSchema }),
          z.object({ field: z.literal("competition"), from: z.string(), to: z.string() }),
          z.object({ field: z.literal("details") }),
        ]),
      ),
    }),
  ),
});

export class RecentChanges {
  readonly path: string;
  private readonly logger: Logger;
  private readonly limit: number;
  private entries: RecentChange[] = [];
  /** Writes run one after another, so an older list never lands after a newer one. */
  private writing: Promise<void> = Promise.resolve();

  constructor(options: RecentChangesOptions) {
    this.path = join(options.dataDir, FILE);
    this.logger = options.logger;
    this.limit = options.limit ?? DEFAULT_LIMIT;
  }

  /** Reads the saved history; a missing or unreadable file starts an empty one (logged). */
  async load(): Promise<void> {
    const read = await readJsonFile(this.path);
    if (read.state === "missing") return;
    const parsed = read.state === "ok" ? FileSchema.safeParse(read.value) : undefined;
    if (parsed?.success) {
      this.entries = parsed.data.entries.slice(0, this.limit);
      return;
    }
    this.logger.warn(
      {
        event: "state_corrupt",
        file: this.path,
        reason: read.state === "corrupt" ? read.reason : "unexpected content",
      },
      "recent changes file unreadable; starting an empty history",
    );
  }

  /** Newest first. */
  list(): readonly RecentChange[] {
    return this.entries;
  }

  /** Adds what an apply changed; saving happens in the background and never fails the apply. */
  record(applied: AppliedSnapshot): void {
    const added = describeAppliedSnapshot(applied);
    if (!added.length) return;
    this.entries = [...added, ...this.entries].slice(0, this.limit);
    const snapshot = { version: VERSION, entries: this.entries };
    this.writing = this.writing
      .then(() => writeJsonAtomic(this.path, snapshot))
      .catch((error: Error) =>
        this.logger.warn(
          { event: "state_write_failed", file: this.path, err: error.message },
          "could not save the recent changes (the calendar itself is saved)",
        ),
      );
  }

  /** Resolves once the last record is saved (or failed to be). */
  flushed(): Promise<void> {
    return this.writing;
  }
}

/** The entries for one apply: created, updated (with what changed), removed; in that order. */
export function describeAppliedSnapshot(applied: AppliedSnapshot): RecentChange[] {
  const { changes } = applied;
  if (!changes.created.length && !changes.updated.length && !changes.removed.length) return [];
  const before = byMatchId(applied.before);
  const after = byMatchId(applied.after);
  const appliedAt = applied.appliedAt.toISOString();
  const entry = (
    matchid: number,
    kind: RecentChange["kind"],
    match: MatchSummary | undefined,
    aspects: ChangeAspect[] = [],
  ): RecentChange[] => (match ? [{ matchid, kind, appliedAt, origin: applied.origin, match, aspects }] : []);

  return [
    ...changes.created.flatMap((id) =>
      entry(id, "created", summarize(applied.matches.get(id), after.get(id))),
    ),
    ...changes.updated.flatMap((id) => {
      const now = summarize(applied.matches.get(id), after.get(id));
      const was = summarize(applied.previousMatches.get(id), before.get(id));
      return entry(
        id,
        "updated",
        now,
        compare(applied.previousMatches.get(id), applied.matches.get(id), was, now),
      );
    }),
    ...changes.removed.flatMap((id) =>
      entry(id, "removed", summarize(applied.previousMatches.get(id), before.get(id))),
    ),
  ];
}

export function matchState(match: Pick<Match, "installd" | "uppskjuten" | "avbruten">): MatchState {
  if (match.installd) return "cancelled";
  if (match.uppskjuten) return "postponed";
  if (match.avbruten) return "interrupted";
  return "scheduled";
}

/** A referee as the page shows them: name and role short name. */
export function refereeLabel(referee: ReturnType<typeof matchReferees>[number]): string {
  const role = referee.domarrollkortnamn || referee.domarrollnamn;
  const name = referee.personnamn?.trim() || `#${referee.domareid}`;
  return role ? `${name} (${role})` : name;
}

function summarize(
  match: Match | undefined,
  event: StoredCalendarEvent | undefined,
): MatchSummary | undefined {
  if (match) {
    return {
      home: match.lag1namn,
      away: match.lag2namn,
      start: (matchKickoff(match) ?? new Date(event?.start ?? 0)).toISOString(),
      ...(matchHasKickoffTime(match) ? {} : { allDay: true as const }),
      venue: match.anlaggningnamn ?? "",
      state: matchState(match),
    };
  }
  if (!event) return undefined;
  // Only the event is known (the snapshot before a restart is not kept): read its summary.
  const { home, away, interrupted } = readEventSummary(event.summary);
  const state: MatchState =
    event.status === "CANCELLED"
      ? "cancelled"
      : event.status === "TENTATIVE"
        ? "postponed"
        : interrupted
          ? "interrupted"
          : "scheduled";
  return {
    home,
    away,
    start: event.start,
    ...(event.allDay ? { allDay: true as const } : {}),
    venue: event.location,
    state,
  };
}

function compare(
  previous: Match | undefined,
  current: Match | undefined,
  was: MatchSummary | undefined,
  now: MatchSummary | undefined,
): ChangeAspect[] {
  const aspects: ChangeAspect[] = [];
  if (was && now) {
    if (was.start !== now.start || was.allDay !== now.allDay) {
      aspects.push({
        field: "kickoff",
        from: was.start,
        to: now.start,
        ...(was.allDay ? { fromAllDay: true as const } : {}),
        ...(now.allDay ? { toAllDay: true as const } : {}),
      });
    }
    if (was.venue !== now.venue) aspects.push({ field: "venue", from: was.venue, to: now.venue });
    const teams = (m: MatchSummary) => `${m.home} - ${m.away}`;
    if (teams(was) !== teams(now)) aspects.push({ field: "teams", from: teams(was), to: teams(now) });
    if (was.state !== now.state) aspects.push({ field: "status", from: was.state, to: now.state });
  }
  if (previous && current) {
    const before = new Set(matchReferees(previous).map(refereeLabel));
    const after = new Set(matchReferees(current).map(refereeLabel));
    const added = [...after].filter((label) => !before.has(label));
    const removed = [...before].filter((label) => !after.has(label));
    if (added.length || removed.length) aspects.push({ field: "referees", added, removed });
    const competition = (m: Match) => m.tavlingnamn ?? "";
    if (competition(previous) !== competition(current)) {
      aspects.push({ field: "competition", from: competition(previous), to: competition(current) });
    }
  }
  // The event changed in something not named above (contacts), or the earlier match is unknown.
  if (!aspects.length) aspects.push({ field: "details" });
  return aspects;
}

function byMatchId(events: readonly StoredCalendarEvent[]): Map<number, StoredCalendarEvent> {
  return new Map(events.map((event) => [event.matchid, event]));
}
