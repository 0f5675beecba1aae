import { z } from "zod";
import {
  KICKOFF_CLOCK_OR_UNSET_PATTERN,
  KICKOFF_CLOCK_PATTERN,
  MATCH_DATE_PATTERN,
  parseTid,
  stockholmLocalToUtc,
  TID_PATTERN,
  toStockholmLocal,
} from "./time.js";

/**
 * The FOGIS match as the referee's match list delivers it (DESIGN §3). The fields this project
 * uses are typed and checked; every other field passes through untouched, because FOGIS adds
 * fields and the Python services downstream may read them.
 *
 * The schema only checks, it never changes a match (no defaults, no transforms): a match it
 * accepts can be used as parsed, without zod's copy (KnownMatches and the processor's sources do).
 */

const optionalText = z.string().nullish();
const optionalId = z.number().int().nullish();

export const RefereeSchema = z.looseObject({
  /** The referee's identity. NOT `domarid`: that "typo fix" broke referee-change detection. */
  domareid: z.number().int(),
  domarnr: optionalText,
  personid: optionalId,
  domarrollid: optionalId,
  domarrollnamn: optionalText,
  domarrollkortnamn: optionalText,
  personnamn: optionalText,
  mobiltelefon: optionalText,
  telefon: optionalText,
  epostadress: optionalText,
  adress: optionalText,
  postnr: optionalText,
  postort: optionalText,
});

export const TeamContactSchema = z.looseObject({
  lagid: optionalId,
  lagnamn: optionalText,
  personid: optionalId,
  personnamn: optionalText,
  telefon: optionalText,
  mobiltelefon: optionalText,
  epostadress: optionalText,
  reserv: z.boolean().nullish(),
});

/** A match needs at least one of these to have a kick-off (the JSON Schema says so too). */
export const KICKOFF_FIELDS = ["tid", "speldatum"] as const;

export const MatchSchema = z
  .looseObject({
    matchid: z.number().int().positive(),
    matchnr: optionalText,
    lag1lagid: optionalId,
    lag1namn: z.string(),
    lag2lagid: optionalId,
    lag2namn: z.string(),
    anlaggningid: optionalId,
    anlaggningnamn: optionalText,
    anlaggningLatitud: z.number().nullish(),
    anlaggningLongitud: z.number().nullish(),
    // Patterns, not refinements: the JSON Schema carries them as they are (see time.ts).
    tid: z.string().regex(TID_PATTERN, 'expected "/Date(<epoch ms>)/" or an ISO-8601 time').optional(),
    speldatum: z.string().regex(MATCH_DATE_PATTERN, "expected a date YYYY-MM-DD").optional(),
    avsparkstid: z
      .string()
      .regex(KICKOFF_CLOCK_OR_UNSET_PATTERN, "expected HH:MM, or empty when not set")
      .nullish(),
    tavlingnamn: optionalText,
    installd: z.boolean().nullish(),
    uppskjuten: z.boolean().nullish(),
    avbruten: z.boolean().nullish(),
    domaruppdraglista: z.array(RefereeSchema).nullish(),
    kontaktpersoner: z.array(TeamContactSchema).nullish(),
  })
  .refine((match) => KICKOFF_FIELDS.some((field) => match[field] !== undefined), {
    message: "a match needs a kick-off: 'tid' or 'speldatum'",
    path: ["tid"],
  });

export type Referee = z.infer<typeof RefereeSchema>;
export type TeamContact = z.infer<typeof TeamContactSchema>;
export type Match = z.infer<typeof MatchSchema>;

/**
 * The kick-off instant (UTC): from `tid`, else from `speldatum` + `avsparkstid` in Stockholm
 * time (a match without a kick-off time starts at midnight).
 */
export function matchKickoff(match: Pick<Match, "tid" | "speldatum" | "avsparkstid">): Date | null {
  if (match.tid) {
    const instant = parseTid(match.tid);
    if (instant) return instant;
  }
  if (match.speldatum && MATCH_DATE_PATTERN.test(match.speldatum)) {
    const [y, mo, d] = match.speldatum.split("-").map(Number) as [number, number, number];
    const clock =
      match.avsparkstid && KICKOFF_CLOCK_PATTERN.test(match.avsparkstid) ? match.avsparkstid : "00:00";
    const [h, mi] = clock.split(":").map(Number) as [number, number];
    return stockholmLocalToUtc(y, mo, d, h, mi);
  }
  return null;
}

/**
 * Whether FOGIS has set the kick-off time: `avsparkstid`, or else a `tid` that is not at Stockholm
 * midnight (FOGIS gives a match without a time as 00:00 of its date). Without one the match is a
 * whole day in the calendar, not a 00:00 kick-off.
 */
export function matchHasKickoffTime(match: Pick<Match, "tid" | "avsparkstid">): boolean {
  if (match.avsparkstid && KICKOFF_CLOCK_PATTERN.test(match.avsparkstid)) return true;
  const instant = match.tid ? parseTid(match.tid) : null;
  return instant !== null && toStockholmLocal(instant).time !== "00:00";
}

/** The match's date in Stockholm (`YYYY-MM-DD`): `speldatum`, else the date of its kick-off. */
export function matchDate(match: Pick<Match, "tid" | "speldatum" | "avsparkstid">): string | null {
  if (match.speldatum && MATCH_DATE_PATTERN.test(match.speldatum)) return match.speldatum;
  const kickoff = matchKickoff(match);
  return kickoff ? toStockholmLocal(kickoff).date : null;
}

/** How long a match with a kick-off time lasts in the calendar, and after which it counts as played. */
export const MATCH_DURATION_MS = 2 * 3_600_000;

/**
 * When the match takes place: kick-off to kick-off + 2 h, or its whole Stockholm day when FOGIS
 * has no kick-off time. The calendar shows this span, and the match counts as played once it ended.
 */
export function matchSpan(
  match: Pick<Match, "tid" | "speldatum" | "avsparkstid">,
): { start: Date; end: Date; allDay: boolean } | null {
  if (matchHasKickoffTime(match)) {
    const kickoff = matchKickoff(match);
    return kickoff
      ? { start: kickoff, end: new Date(kickoff.getTime() + MATCH_DURATION_MS), allDay: false }
      : null;
  }
  const date = matchDate(match);
  if (!date) return null;
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  const next = new Date(Date.UTC(y, m - 1, d + 1));
  const start = stockholmLocalToUtc(y, m, d);
  const end = stockholmLocalToUtc(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate());
  return start && end ? { start, end, allDay: true } : null;
}

/**
 * The one "played" rule (detector, calendar, notifications): the match's span has ended. A played
 * match that leaves FOGIS's list is history; one that leaves before is taken off the schedule.
 */
export function isMatchPlayed(match: Pick<Match, "tid" | "speldatum" | "avsparkstid">, now: Date): boolean {
  const span = matchSpan(match);
  return span !== null && span.end.getTime() <= now.getTime();
}

/**
 * The kick-off as the match sheet prints it, in Stockholm time: the date, and the clock when FOGIS
 * set one (`matchHasKickoffTime`); `instant` is `matchKickoff`'s (`tid` wins).
 */
export function matchLocalKickoff(match: Pick<Match, "tid" | "speldatum" | "avsparkstid">): {
  instant: Date | null;
  date: string | null;
  time: string | null;
} {
  const instant = matchKickoff(match);
  if (!instant) return { instant: null, date: match.speldatum ?? null, time: null };
  const local = toStockholmLocal(instant);
  return { instant, date: local.date, time: matchHasKickoffTime(match) ? local.time : null };
}

/** The referees of a match, never undefined. */
export function matchReferees(match: Pick<Match, "domaruppdraglista">): Referee[] {
  return match.domaruppdraglista ?? [];
}

/** The team contacts of a match, never undefined. */
export function matchContacts(match: Pick<Match, "kontaktpersoner">): TeamContact[] {
  return match.kontaktpersoner ?? [];
}
