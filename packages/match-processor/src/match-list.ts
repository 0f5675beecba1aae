import { type Match, MatchSchema } from "@fogis/message-schema";
import type { z } from "zod";

/**
 * The match list validated entry by entry (DESIGN §3, issue #21). One malformed entry must not
 * hold back the rest of the list: a cancellation of another match has to reach the calendar.
 * - A referee entry that fails validation (no `domareid`, or `null`) is dropped from its match;
 *   the match itself still applies.
 * - A match that fails validation keeps its last good version (from the previous list, else
 *   the delivered baseline), so it never looks removed; a match never seen valid is left out
 *   until FOGIS sends it valid.
 * - An entry without a readable `matchid` could be any match: every match of the last good list
 *   that is missing from this one is kept, so nothing is removed because of it.
 * - The same `matchid` twice with different content is a bad match (which version is right?);
 *   twice with the same content is read once.
 * Reasons name paths and expected types, never values (names, phone numbers).
 */

export interface InvalidMatchEntry {
  /** Position in the list as sent. */
  index: number;
  /** The entry's `matchid`, when it has a usable one. */
  matchid: number | null;
  reason: string;
  /** The last good version of the match stands in for it. */
  keptLastGood: boolean;
}

export interface DroppedRefereeEntry {
  matchid: number;
  /** Position in the match's `domaruppdraglista`. */
  index: number;
  reason: string;
}

export interface ValidatedMatchList {
  /** The list to use: valid matches and the last good versions of bad ones, in list order. */
  matches: Match[];
  invalidMatches: InvalidMatchEntry[];
  droppedReferees: DroppedRefereeEntry[];
  /** Matches kept because an entry without a readable `matchid` might be them. */
  keptForUnidentified: number[];
}

export class MatchListValidator {
  private lastGood = new Map<number, Match>();

  /** The list to fall back on: the baseline at start, then each validated list. */
  remember(matches: readonly Match[]): void {
    this.lastGood = new Map(matches.map((match) => [match.matchid, match]));
  }

  /**
   * Validates `entries` and remembers the result as the new last good list. `baseline` (the list
   * last delivered) is the fallback for a match the previous list did not have (it was held back,
   * or the service restarted). Never throws: the caller decides whether a list without a single
   * valid entry is usable.
   */
  validate(entries: readonly unknown[], baseline: readonly Match[] = []): ValidatedMatchList {
    const known = new Map(baseline.map((match) => [match.matchid, match]));
    for (const [matchid, match] of this.lastGood) known.set(matchid, match);
    const invalidMatches: InvalidMatchEntry[] = [];
    const droppedReferees: DroppedRefereeEntry[] = [];
    const valid: Array<Match | null> = entries.map((entry, index) => {
      const checked = checkEntry(entry);
      if (checked.ok) {
        for (const dropped of checked.droppedReferees) droppedReferees.push(dropped);
        return checked.match;
      }
      invalidMatches.push({ index, matchid: usableId(entry), reason: checked.reason, keptLastGood: false });
      return null;
    });
    rejectConflictingDuplicates(valid, invalidMatches);

    const matches: Match[] = [];
    const seen = new Set<number>();
    const invalidAt = new Map(invalidMatches.map((entry) => [entry.index, entry]));
    valid.forEach((match, index) => {
      const invalid = invalidAt.get(index);
      const chosen = match ?? (invalid?.matchid != null ? known.get(invalid.matchid) : undefined);
      if (!chosen || seen.has(chosen.matchid)) return;
      if (invalid) invalid.keptLastGood = true;
      seen.add(chosen.matchid);
      matches.push(chosen);
    });
    const keptForUnidentified: number[] = [];
    if (invalidMatches.some((entry) => entry.matchid === null)) {
      for (const [matchid, match] of known) {
        if (seen.has(matchid)) continue;
        seen.add(matchid);
        matches.push(match);
        keptForUnidentified.push(matchid);
      }
    }
    invalidMatches.sort((a, b) => a.index - b.index);
    this.remember(matches);
    return { matches, invalidMatches, droppedReferees, keptForUnidentified };
  }
}

type CheckedEntry =
  | { ok: true; match: Match; droppedReferees: DroppedRefereeEntry[] }
  | { ok: false; reason: string };

function checkEntry(entry: unknown): CheckedEntry {
  const first = MatchSchema.safeParse(entry);
  // The parsed JSON itself, not zod's copy: the schema only checks (see message-schema's match.ts).
  if (first.success) return { ok: true, match: entry as Match, droppedReferees: [] };
  const badReferees = new Map<number, z.core.$ZodIssue>();
  const otherIssues: z.core.$ZodIssue[] = [];
  for (const issue of first.error.issues) {
    const [field, position] = issue.path;
    if (field === "domaruppdraglista" && typeof position === "number") {
      if (!badReferees.has(position)) badReferees.set(position, issue);
    } else {
      otherIssues.push(issue);
    }
  }
  if (otherIssues.length > 0 || badReferees.size === 0) {
    return { ok: false, reason: describeIssue(otherIssues[0] ?? first.error.issues[0]) };
  }
  const original = entry as Match;
  const referees = (original.domaruppdraglista ?? []).filter((_, index) => !badReferees.has(index));
  const cleaned = { ...original, domaruppdraglista: referees };
  const second = MatchSchema.safeParse(cleaned);
  if (!second.success) return { ok: false, reason: describeIssue(second.error.issues[0]) };
  const droppedReferees = [...badReferees].map(([index, issue]) => ({
    matchid: original.matchid,
    index,
    reason: describeIssue({ ...issue, path: issue.path.slice(2) }),
  }));
  return { ok: true, match: cleaned, droppedReferees };
}

/** Two valid entries with one matchid: the same content is read once, different content is bad. */
function rejectConflictingDuplicates(valid: Array<Match | null>, invalid: InvalidMatchEntry[]): void {
  const byId = new Map<number, number[]>();
  valid.forEach((match, index) => {
    if (!match) return;
    const indexes = byId.get(match.matchid);
    if (indexes) indexes.push(index);
    else byId.set(match.matchid, [index]);
  });
  for (const [matchid, indexes] of byId) {
    if (indexes.length < 2) continue;
    const texts = new Set(indexes.map((index) => JSON.stringify(valid[index])));
    if (texts.size === 1) {
      for (const index of indexes.slice(1)) valid[index] = null;
      continue;
    }
    const reason = `matchid appears ${indexes.length} times with different content (index ${indexes.join(", ")})`;
    for (const index of indexes) {
      valid[index] = null;
      invalid.push({ index, matchid, reason, keptLastGood: false });
    }
  }
}

function usableId(entry: unknown): number | null {
  const id =
    typeof entry === "object" && entry !== null ? (entry as { matchid?: unknown }).matchid : undefined;
  return typeof id === "number" && Number.isSafeInteger(id) && id > 0 ? id : null;
}

function describeIssue(issue: z.core.$ZodIssue | undefined): string {
  if (!issue) return "invalid";
  const path = issue.path.length ? issue.path.map(String).join(".") : "(entry)";
  return `${path}: ${issue.message}`;
}

/** One line for logs and alerts, e.g. `match 6143017 (index 3): tid: expected …, last good version kept`. */
export function describeInvalidMatch(entry: InvalidMatchEntry): string {
  const which =
    entry.matchid === null
      ? `entry ${entry.index} (no readable matchid)`
      : `match ${entry.matchid} (index ${entry.index})`;
  const outcome = entry.keptLastGood
    ? "its last good version is kept"
    : entry.matchid === null
      ? "matches missing from the list are kept"
      : "left out: never seen valid";
  return `${which}: ${entry.reason}; ${outcome}`;
}

export function describeDroppedReferee(entry: DroppedRefereeEntry): string {
  return `referee ${entry.index} of match ${entry.matchid}: ${entry.reason}; dropped from the match`;
}
