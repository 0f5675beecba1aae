import {
  CHANGE_CATEGORIES,
  type ChangeCategory,
  type ChangePriority,
  type DetailedChange,
  type Match,
  matchLocalKickoff,
  matchReferees,
  type Referee,
} from "@fogis/message-schema";
import { z } from "zod";

/**
 * What the referee is told about one match: the match as it is now (teams, Stockholm date and
 * kick-off, venue, link) and each change since the last list the notifier took in. Built from
 * the change detector's output plus the old and new match, so every value is already in the
 * referee's terms (local time, names) and the message can be written in any language later.
 */

export const matchfaktaUrl = (matchId: number) => `https://www.svenskfotboll.se/matchfakta/${matchId}/`;

const ChangeValue = z.union([z.string(), z.boolean(), z.null()]);

export const NoticeChangeSchema = z.object({
  category: z.enum(CHANGE_CATEGORIES),
  priority: z.enum(["critical", "high", "medium", "low"]),
  /** The FOGIS field the change is about; for a team change `lag1…` is the home team. */
  field: z.string().nullable(),
  from: ChangeValue,
  to: ChangeValue,
  /** Referee changes: "Name (role)" of each referee added to / taken off the match. */
  added: z.array(z.string()).optional(),
  removed: z.array(z.string()).optional(),
});
export type NoticeChange = z.infer<typeof NoticeChangeSchema>;

export const MatchNoticeSchema = z.object({
  matchId: z.number().int(),
  matchNr: z.string().nullable(),
  homeTeam: z.string(),
  awayTeam: z.string(),
  competition: z.string().nullable(),
  /** Kick-off instant (ISO, UTC), and the same as Stockholm wall-clock date and time. */
  kickoffUtc: z.string().nullable(),
  date: z.string().nullable(),
  time: z.string().nullable(),
  venue: z.string().nullable(),
  cancelled: z.boolean(),
  postponed: z.boolean(),
  interrupted: z.boolean(),
  /** The highest priority among the changes. */
  priority: z.enum(["critical", "high", "medium", "low"]),
  url: z.string(),
  changes: z.array(NoticeChangeSchema).min(1),
});
export type MatchNotice = z.infer<typeof MatchNoticeSchema>;

const PRIORITY_RANK: Record<ChangePriority, number> = { critical: 0, high: 1, medium: 2, low: 3 };

/** Most telling first: what the headline of a notice is about. */
const CATEGORY_ORDER: readonly ChangeCategory[] = [
  "cancellation",
  "new_assignment",
  "removed",
  "postponement",
  "interruption",
  "date_change",
  "time_change",
  "venue_change",
  "referee_change",
  "team_change",
  "competition_change",
];

export function meetsPriority(priority: ChangePriority, minimum: ChangePriority): boolean {
  return PRIORITY_RANK[priority] <= PRIORITY_RANK[minimum];
}

export function higherPriority(a: ChangePriority, b: ChangePriority): ChangePriority {
  return PRIORITY_RANK[a] <= PRIORITY_RANK[b] ? a : b;
}

const isCategory = (value: string): value is ChangeCategory =>
  (CHANGE_CATEGORIES as readonly string[]).includes(value);
const isPriority = (value: string): value is ChangePriority => value in PRIORITY_RANK;

/**
 * One notice per match with at least one change of `minPriority` or higher. Such a notice lists
 * all of the match's changes (a new venue travels with the new kick-off), most telling first;
 * notices come most urgent first, then by kick-off.
 */
export function buildNotices(
  previous: readonly Match[],
  current: readonly Match[],
  changes: readonly DetailedChange[],
  minPriority: ChangePriority,
): MatchNotice[] {
  const byMatch = new Map<string, DetailedChange[]>();
  for (const change of changes) {
    if (!isCategory(change.category) || !isPriority(change.priority)) continue;
    // The integer matchid from our detector; a string from older publishers.
    const key = String(change.match_id);
    const list = byMatch.get(key);
    if (list) list.push(change);
    else byMatch.set(key, [change]);
  }
  if (byMatch.size === 0) return [];

  const index = (list: readonly Match[]) => new Map(list.map((match) => [String(match.matchid), match]));
  const before = index(previous);
  const after = index(current);
  const notices: MatchNotice[] = [];
  for (const [matchId, list] of byMatch) {
    if (!list.some((change) => meetsPriority(change.priority as ChangePriority, minPriority))) continue;
    const old = before.get(matchId);
    const now = after.get(matchId) ?? old;
    if (!now) continue;
    notices.push(noticeFor(old ?? null, now, list));
  }
  return notices.sort(
    (a, b) =>
      PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority] ||
      (a.kickoffUtc ?? "").localeCompare(b.kickoffUtc ?? "") ||
      a.matchId - b.matchId,
  );
}

function noticeFor(old: Match | null, match: Match, detected: DetailedChange[]): MatchNotice {
  const changes = detected
    .map((change) => noticeChange(old, match, change))
    .sort((a, b) => CATEGORY_ORDER.indexOf(a.category) - CATEGORY_ORDER.indexOf(b.category));
  const when = localKickoff(match);
  return {
    matchId: match.matchid,
    matchNr: match.matchnr ?? null,
    homeTeam: match.lag1namn,
    awayTeam: match.lag2namn,
    competition: match.tavlingnamn ?? null,
    kickoffUtc: when.utc,
    date: when.date,
    time: when.time,
    venue: match.anlaggningnamn ?? null,
    cancelled: Boolean(match.installd),
    postponed: Boolean(match.uppskjuten),
    interrupted: Boolean(match.avbruten),
    priority: changes.map((change) => change.priority).reduce(higherPriority),
    url: matchfaktaUrl(match.matchid),
    changes,
  };
}

function noticeChange(old: Match | null, match: Match, change: DetailedChange): NoticeChange {
  const category = change.category as ChangeCategory;
  const base = {
    category,
    priority: change.priority as ChangePriority,
    field: change.field_name ?? null,
  };
  if (!old) return { ...base, from: null, to: null };
  switch (category) {
    case "date_change":
      return { ...base, from: localKickoff(old).date, to: localKickoff(match).date };
    case "time_change":
      return { ...base, from: localKickoff(old).time, to: localKickoff(match).time };
    case "venue_change":
      return { ...base, from: old.anlaggningnamn ?? null, to: match.anlaggningnamn ?? null };
    case "team_change": {
      const home = !(change.field_name ?? "").startsWith("lag2");
      return home
        ? { ...base, from: old.lag1namn, to: match.lag1namn }
        : { ...base, from: old.lag2namn, to: match.lag2namn };
    }
    case "competition_change":
      return { ...base, from: old.tavlingnamn ?? null, to: match.tavlingnamn ?? null };
    case "cancellation":
      return { ...base, from: Boolean(old.installd), to: Boolean(match.installd) };
    case "postponement":
      return { ...base, from: Boolean(old.uppskjuten), to: Boolean(match.uppskjuten) };
    case "interruption":
      return { ...base, from: Boolean(old.avbruten), to: Boolean(match.avbruten) };
    case "referee_change": {
      const was = new Map(matchReferees(old).map((r) => [refereeKey(r), r]));
      const is = new Map(matchReferees(match).map((r) => [refereeKey(r), r]));
      return {
        ...base,
        from: null,
        to: null,
        added: [...is].filter(([key]) => !was.has(key)).map(([, r]) => refereeLabel(r)),
        removed: [...was].filter(([key]) => !is.has(key)).map(([, r]) => refereeLabel(r)),
      };
    }
    default:
      // new_assignment, removed: the match itself is the news.
      return { ...base, from: null, to: null };
  }
}

const roleOf = (r: Referee) => r.domarrollkortnamn ?? r.domarrollnamn ?? String(r.domarrollid ?? "");
const refereeKey = (r: Referee) => `${r.domareid}|${roleOf(r)}`;
const refereeLabel = (r: Referee) => `${r.personnamn ?? r.domareid}${roleOf(r) ? ` (${roleOf(r)})` : ""}`;

/**
 * The kick-off in Stockholm wall-clock time, by the calendar's rule (`matchLocalKickoff`: `tid`
 * wins; the zone rules decide the offset, so a match moved across a daylight-saving change shows
 * the time printed on the match sheet).
 */
export function localKickoff(match: Match): { utc: string | null; date: string | null; time: string | null } {
  const { instant, date, time } = matchLocalKickoff(match);
  return { utc: instant?.toISOString() ?? null, date, time };
}

/**
 * What the notifier keeps of a match to detect changes against: every field DESIGN §6 compares
 * and every field a notice shows, nothing else (a referee list of contact details is not news).
 */
export function notificationView(match: Match): Match {
  const view: Record<string, unknown> = {};
  for (const key of VIEW_FIELDS) {
    const value = match[key];
    if (value !== undefined) view[key] = value;
  }
  if (match.domaruppdraglista) {
    view.domaruppdraglista = match.domaruppdraglista.map((r) => {
      const kept: Record<string, unknown> = { domareid: r.domareid };
      for (const key of REFEREE_FIELDS) if (r[key] !== undefined) kept[key] = r[key];
      return kept;
    });
  }
  return view as Match;
}

const VIEW_FIELDS = [
  "matchid",
  "matchnr",
  "lag1lagid",
  "lag1namn",
  "lag2lagid",
  "lag2namn",
  "anlaggningid",
  "anlaggningnamn",
  "tid",
  "speldatum",
  "avsparkstid",
  "tavlingnamn",
  "installd",
  "uppskjuten",
  "avbruten",
] as const;
const REFEREE_FIELDS = ["domarrollid", "domarrollnamn", "domarrollkortnamn", "personnamn"] as const;
