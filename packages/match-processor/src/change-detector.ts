import {
  type ChangeCategory,
  type ChangePriority,
  type ChangeSummary,
  type DetailedChange,
  isMatchPlayed,
  type Match,
  matchDate,
  matchReferees,
  parseTid,
  type Referee,
  stockholmDate,
  toStockholmLocal,
} from "@fogis/message-schema";

/**
 * Change detection (DESIGN §6), pure and fast: both lists are indexed by `matchid` and only the
 * listed fields are compared, so 10,000 matches take milliseconds and reordering the list or an
 * unknown field FOGIS adds is never a change.
 */

export interface DetectChangesOptions {
  /** A match that leaves the list after it was played by then (`isMatchPlayed`) is history, dropped without a change. */
  now: Date;
}

export interface ChangeSet {
  /** One entry per changed aspect of a match, in list order, removals last. */
  changes: DetailedChange[];
  newMatchIds: number[];
  updatedMatchIds: number[];
  /** Left the list before it was played: reported as `removed`. */
  removedMatchIds: number[];
  /** Left the list after it was played: dropped silently. */
  playedMatchIds: number[];
  summary: ChangeSummary;
}

const PRIORITY_BY_CATEGORY: Record<ChangeCategory, ChangePriority> = {
  cancellation: "critical",
  new_assignment: "high",
  // DESIGN §6: "low: the rest". A removal on match day is still critical (same-day rule).
  removed: "low",
  referee_change: "high",
  time_change: "high",
  date_change: "high",
  venue_change: "medium",
  team_change: "medium",
  postponement: "medium",
  interruption: "medium",
  competition_change: "low",
};

const REFEREES_ONLY = ["referees"];
const REFEREES_AND_TEAMS = ["referees", "teams"];

export function detectChanges(
  previous: readonly Match[],
  current: readonly Match[],
  options: DetectChangesOptions,
): ChangeSet {
  const now = options.now;
  const timestamp = now.toISOString();
  const today = stockholmDate(now);

  const before = new Map<number, Match>();
  for (const match of previous) before.set(match.matchid, match);
  const seen = new Set<number>();

  const changes: DetailedChange[] = [];
  const newMatchIds: number[] = [];
  const updatedMatchIds: number[] = [];
  const removedMatchIds: number[] = [];
  const playedMatchIds: number[] = [];

  for (const match of current) {
    seen.add(match.matchid);
    const old = before.get(match.matchid);
    if (!old) {
      newMatchIds.push(match.matchid);
      const critical = matchDate(match) === today;
      changes.push(
        change(match, critical, timestamp, "new_assignment", {
          field_name: "match",
          previous_value: null,
          current_value: `${match.lag1namn} - ${match.lag2namn}`,
          change_description: `New match assignment: ${describeMatch(match)}`,
        }),
      );
      continue;
    }
    const count = changes.length;
    compareMatch(old, match, today, timestamp, changes);
    if (changes.length > count) updatedMatchIds.push(match.matchid);
  }

  for (const old of previous) {
    if (seen.has(old.matchid)) continue;
    if (isMatchPlayed(old, now)) {
      playedMatchIds.push(old.matchid);
      continue;
    }
    removedMatchIds.push(old.matchid);
    changes.push(
      change(old, matchDate(old) === today, timestamp, "removed", {
        field_name: "match",
        previous_value: `${old.lag1namn} - ${old.lag2namn}`,
        current_value: null,
        change_description: `Match removed from the assignment list: ${describeMatch(old)}`,
      }),
    );
  }

  return {
    changes,
    newMatchIds,
    updatedMatchIds,
    removedMatchIds,
    playedMatchIds,
    summary: summarize(changes, newMatchIds.length, updatedMatchIds.length, removedMatchIds.length),
  };
}

/** The status flags (DESIGN §6), each a change of its own category when it is set or cleared. */
const STATUS_FLAGS = [
  {
    field: "installd",
    category: "cancellation",
    set: "Match cancelled",
    cleared: "Match reinstated (no longer cancelled)",
  },
  {
    field: "uppskjuten",
    category: "postponement",
    set: "Match postponed",
    cleared: "Match no longer postponed",
  },
  {
    field: "avbruten",
    category: "interruption",
    set: "Match interrupted",
    cleared: "Match no longer marked as interrupted",
  },
] as const satisfies ReadonlyArray<{
  field: keyof Match;
  category: ChangeCategory;
  set: string;
  cleared: string;
}>;

/**
 * A name and the id behind it (team, venue): a new name, else a new id, is one change of its
 * category, described in words of its own.
 */
const NAMED_PAIRS = [
  {
    name: "lag1namn",
    id: "lag1lagid",
    category: "team_change",
    describe: (old: Match, cur: Match) => `Home team changed from ${old.lag1namn} to ${cur.lag1namn}`,
  },
  {
    name: "lag2namn",
    id: "lag2lagid",
    category: "team_change",
    describe: (old: Match, cur: Match) => `Away team changed from ${old.lag2namn} to ${cur.lag2namn}`,
  },
  {
    name: "anlaggningnamn",
    id: "anlaggningid",
    category: "venue_change",
    describe: (old: Match, cur: Match) =>
      `Venue changed from ${old.anlaggningnamn ?? "(none)"} to ${cur.anlaggningnamn ?? "(none)"}`,
  },
] as const satisfies ReadonlyArray<{
  name: keyof Match;
  id: keyof Match;
  category: ChangeCategory;
  describe: (old: Match, cur: Match) => string;
}>;

function compareMatch(old: Match, cur: Match, today: string, timestamp: string, out: DetailedChange[]): void {
  // Any change to a match played today (before or after the change) is critical.
  const oldDate = matchDate(old);
  const curDate = matchDate(cur);
  const critical = oldDate === today || curDate === today;
  // Plain loops and ifs, no closures: this runs for every match on every cycle.

  for (const flag of STATUS_FLAGS) {
    const now = Boolean(cur[flag.field]);
    if (Boolean(old[flag.field]) === now) continue;
    out.push(
      change(cur, critical, timestamp, flag.category, {
        field_name: flag.field,
        previous_value: !now,
        current_value: now,
        change_description: now ? flag.set : flag.cleared,
      }),
    );
  }

  const dateChanged = oldDate !== curDate;
  if (dateChanged) {
    out.push(
      change(cur, critical, timestamp, "date_change", {
        field_name: cur.speldatum !== undefined ? "speldatum" : "tid",
        previous_value: oldDate,
        current_value: curDate,
        change_description: `Date changed from ${oldDate} to ${curDate}`,
      }),
    );
  }
  const oldTime = matchClock(old);
  const curTime = matchClock(cur);
  if (oldTime !== curTime) {
    out.push(
      change(cur, critical, timestamp, "time_change", {
        field_name: cur.avsparkstid !== undefined ? "avsparkstid" : "tid",
        previous_value: oldTime,
        current_value: curTime,
        change_description: `Kick-off changed from ${oldTime} to ${curTime}`,
      }),
    );
  } else if (!dateChanged && !sameInstant(old.tid, cur.tid)) {
    // Date and clock agree but the instant moved: trust the instant (`tid` is what calendars use).
    out.push(
      change(cur, critical, timestamp, "time_change", {
        field_name: "tid",
        previous_value: old.tid ?? null,
        current_value: cur.tid ?? null,
        change_description: "Kick-off time changed",
      }),
    );
  }

  for (const pair of NAMED_PAIRS) {
    const found = pairChange(old[pair.name], cur[pair.name], old[pair.id], cur[pair.id], pair.name, pair.id);
    if (found) {
      out.push(
        change(cur, critical, timestamp, pair.category, {
          ...found,
          change_description: pair.describe(old, cur),
        }),
      );
    }
  }
  if ((old.tavlingnamn ?? null) !== (cur.tavlingnamn ?? null)) {
    out.push(
      change(cur, critical, timestamp, "competition_change", {
        field_name: "tavlingnamn",
        previous_value: old.tavlingnamn ?? null,
        current_value: cur.tavlingnamn ?? null,
        change_description: `Competition changed from ${old.tavlingnamn ?? "(none)"} to ${cur.tavlingnamn ?? "(none)"}`,
      }),
    );
  }

  if (!sameReferees(old, cur)) {
    out.push(
      change(cur, critical, timestamp, "referee_change", {
        field_name: "domaruppdraglista",
        previous_value: refereeSummary(old),
        current_value: refereeSummary(cur),
        change_description: describeCrewChange(old, cur),
      }),
    );
  }
}

type ChangeFields = Omit<DetailedChange, "match_id" | "category" | "priority">;

function change(
  match: Match,
  critical: boolean,
  timestamp: string,
  category: ChangeCategory,
  fields: ChangeFields,
): DetailedChange {
  const priority = critical ? "critical" : PRIORITY_BY_CATEGORY[category];
  return {
    match_id: match.matchid,
    match_nr: match.matchnr ?? null,
    category,
    priority,
    affected_stakeholders:
      category.includes("referee") || category === "new_assignment" || category === "removed"
        ? REFEREES_ONLY
        : REFEREES_AND_TEAMS,
    ...fields,
    timestamp,
  };
}

/** Stockholm kick-off clock `HH:MM`: `avsparkstid`, else derived from `tid`. */
function matchClock(match: Match): string | null {
  if (match.avsparkstid) return match.avsparkstid.padStart(5, "0");
  const instant = match.tid ? parseTid(match.tid) : null;
  return instant ? toStockholmLocal(instant).time : null;
}

function sameInstant(a: string | undefined, b: string | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  const x = parseTid(a);
  const y = parseTid(b);
  return x !== null && y !== null && x.getTime() === y.getTime();
}

/** A name + id pair (team, venue): one change, named after the name when it changed, else the id. */
function pairChange(
  oldName: string | null | undefined,
  curName: string | null | undefined,
  oldId: number | null | undefined,
  curId: number | null | undefined,
  nameField: string,
  idField: string,
): { field_name: string; previous_value: unknown; current_value: unknown } | null {
  if ((oldName ?? null) !== (curName ?? null)) {
    return { field_name: nameField, previous_value: oldName ?? null, current_value: curName ?? null };
  }
  if ((oldId ?? null) !== (curId ?? null)) {
    return { field_name: idField, previous_value: oldId ?? null, current_value: curId ?? null };
  }
  return null;
}

function roleOf(referee: Referee): string {
  return referee.domarrollkortnamn ?? referee.domarrollnamn ?? String(referee.domarrollid ?? "");
}

/**
 * Whether two matches have the same referee assignment: the same set of (domareid, role). The
 * common case, the same crew in the same order, is decided without allocating.
 */
function sameReferees(old: Match, cur: Match): boolean {
  const a = matchReferees(old);
  const b = matchReferees(cur);
  if (a.length !== b.length) return false;
  let inOrder = true;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as Referee;
    const y = b[i] as Referee;
    if (x.domareid !== y.domareid || roleOf(x) !== roleOf(y)) {
      inOrder = false;
      break;
    }
  }
  if (inOrder) return true;
  const keys = (list: Referee[]) =>
    list
      .map((r) => `${r.domareid}|${roleOf(r)}`)
      .sort()
      .join(",");
  return keys(a) === keys(b);
}

function refereeSummary(match: Match): Array<{ domareid: number; role: string; name: string | null }> {
  return matchReferees(match).map((r) => ({
    domareid: r.domareid,
    role: roleOf(r),
    name: r.personnamn ?? null,
  }));
}

function describeCrewChange(old: Match, cur: Match): string {
  const label = (r: Referee) => `${r.personnamn ?? r.domareid} (${roleOf(r)})`;
  const oldKeys = new Set(matchReferees(old).map((r) => `${r.domareid}|${roleOf(r)}`));
  const curKeys = new Set(matchReferees(cur).map((r) => `${r.domareid}|${roleOf(r)}`));
  const added = matchReferees(cur)
    .filter((r) => !oldKeys.has(`${r.domareid}|${roleOf(r)}`))
    .map((r) => `+${label(r)}`);
  const removed = matchReferees(old)
    .filter((r) => !curKeys.has(`${r.domareid}|${roleOf(r)}`))
    .map((r) => `-${label(r)}`);
  return `Referees changed: ${[...added, ...removed].join(", ")}`;
}

function describeMatch(match: Match): string {
  const when = [matchDate(match), matchClock(match)].filter(Boolean).join(" ");
  return `${match.lag1namn} - ${match.lag2namn}${when ? `, ${when}` : ""}`;
}

function summarize(
  changes: DetailedChange[],
  added: number,
  updated: number,
  removed: number,
): ChangeSummary {
  const byCategory: Record<string, number> = {};
  const byPriority: Record<string, number> = {};
  for (const c of changes) {
    byCategory[c.category] = (byCategory[c.category] ?? 0) + 1;
    byPriority[c.priority] = (byPriority[c.priority] ?? 0) + 1;
  }
  return { new: added, updated, removed, by_category: byCategory, by_priority: byPriority };
}
