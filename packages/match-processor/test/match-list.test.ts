import type { Match } from "@fogis/message-schema";
import { fogisMatch } from "@fogis/testing";
import { describe, expect, it } from "vitest";
import { describeDroppedReferee, describeInvalidMatch, MatchListValidator } from "../src/match-list.js";

/** The list validated entry by entry: one bad entry never holds back, or removes, another match. */

const crew = [
  { domareid: 6600, domarnr: "61318", name: "Anna Andersson" },
  { domareid: 10_773, domarnr: "61438", role: "AD1" as const, name: "Bertil Berg" },
];

function withReferee(match: Match, index: number, patch: Record<string, unknown>): Match {
  const copy = structuredClone(match);
  const referees = copy.domaruppdraglista ?? [];
  referees[index] = { ...referees[index], ...patch } as (typeof referees)[number];
  return copy;
}

describe("MatchListValidator", () => {
  it("drops a referee entry without a usable domareid from its match and keeps the rest of the match", () => {
    const match = fogisMatch({ matchid: 1001, referees: crew });
    const nullId = withReferee(match, 0, { domareid: null });
    const { domareid: _, ...noId } = nullId.domaruppdraglista?.[0] ?? {};
    const missingId = { ...match, domaruppdraglista: [noId, match.domaruppdraglista?.[1]] };

    for (const entry of [nullId, missingId]) {
      const result = new MatchListValidator().validate([entry]);
      expect(result.invalidMatches).toEqual([]);
      expect(result.matches).toHaveLength(1);
      expect(result.matches[0]?.domaruppdraglista?.map((r) => r.domareid)).toEqual([10_773]);
      expect(result.matches[0]?.lag1namn).toBe(match.lag1namn);
      expect(result.droppedReferees).toEqual([
        { matchid: 1001, index: 0, reason: expect.stringMatching(/^domareid: /) },
      ]);
      expect(describeDroppedReferee(result.droppedReferees[0] as never)).toMatch(
        /^referee 0 of match 1001: domareid: .*; dropped from the match$/,
      );
    }
  });

  it("keeps the last good version of a bad match, leaves out a new bad one, and applies the rest", () => {
    const validator = new MatchListValidator();
    const good = [fogisMatch({ matchid: 1 }), fogisMatch({ matchid: 2 }), fogisMatch({ matchid: 3 })];
    validator.validate(good);

    const next = [
      { ...good[0], tid: "tomorrow-ish", lag1namn: "Nytt namn" },
      fogisMatch({ matchid: 2, cancelled: true }),
      good[2],
      { ...fogisMatch({ matchid: 4 }), lag2namn: 42 },
    ];
    const result = validator.validate(next);
    expect(result.matches.map((m) => m.matchid)).toEqual([1, 2, 3]);
    expect(result.matches[0]).toBe(good[0]);
    expect(result.matches[1]?.installd).toBe(true);
    expect(result.invalidMatches).toEqual([
      { index: 0, matchid: 1, reason: expect.stringMatching(/^tid: /), keptLastGood: true },
      { index: 3, matchid: 4, reason: expect.stringMatching(/^lag2namn: /), keptLastGood: false },
    ]);
    expect(describeInvalidMatch(result.invalidMatches[0] as never)).toMatch(
      /^match 1 \(index 0\): tid: .*; its last good version is kept$/,
    );
    // The reason names the field, never its value.
    expect(JSON.stringify(result.invalidMatches)).not.toContain("tomorrow-ish");

    // Fixed by FOGIS: the new version replaces the kept one.
    const fixed = validator.validate([{ ...good[0], lag1namn: "Nytt namn" }, next[1], good[2]]);
    expect(fixed.invalidMatches).toEqual([]);
    expect(fixed.matches[0]?.lag1namn).toBe("Nytt namn");
  });

  it("starts from the baseline it is given, so a restart keeps the delivered version of a bad match", () => {
    const validator = new MatchListValidator();
    const delivered = fogisMatch({ matchid: 7, time: "18:00" });
    validator.remember([delivered]);
    const result = validator.validate([{ ...delivered, matchid: 7, speldatum: "5 december" }]);
    expect(result.matches).toEqual([delivered]);
    expect(result.invalidMatches[0]?.keptLastGood).toBe(true);
  });

  it("falls back on the delivered list when the previous answer did not have the match (an empty answer held back)", () => {
    const validator = new MatchListValidator();
    const delivered = [fogisMatch({ matchid: 1 }), fogisMatch({ matchid: 2 })];
    validator.validate(delivered);
    validator.validate([], delivered); // FOGIS answered empty for a moment
    const result = validator.validate([{ ...delivered[0], tid: "broken" }, delivered[1]], delivered);
    expect(result.matches).toEqual(delivered);
    expect(result.invalidMatches[0]?.keptLastGood).toBe(true);
  });

  it("keeps every missing match while an entry without a readable matchid could be one of them", () => {
    const validator = new MatchListValidator();
    const good = [fogisMatch({ matchid: 1 }), fogisMatch({ matchid: 2 }), fogisMatch({ matchid: 3 })];
    validator.validate(good);
    const { matchid: _, ...anonymous } = good[1] as Match;
    const result = validator.validate([good[0], anonymous, "not a match"]);
    expect(result.matches.map((m) => m.matchid).sort()).toEqual([1, 2, 3]);
    expect(result.keptForUnidentified.sort()).toEqual([2, 3]);
    expect(result.invalidMatches.map((entry) => [entry.index, entry.matchid])).toEqual([
      [1, null],
      [2, null],
    ]);
  });

  it("reads a match listed twice with the same content once, and treats different content as a bad match", () => {
    const validator = new MatchListValidator();
    const a = fogisMatch({ matchid: 5, time: "15:00" });
    validator.validate([a]);
    const same = validator.validate([a, structuredClone(a)]);
    expect(same.matches).toHaveLength(1);
    expect(same.invalidMatches).toEqual([]);

    const conflicting = validator.validate([
      fogisMatch({ matchid: 5, time: "17:00" }),
      fogisMatch({ matchid: 5, time: "19:00" }),
    ]);
    expect(conflicting.matches).toEqual([a]);
    expect(conflicting.invalidMatches.map((entry) => entry.reason)).toEqual([
      "matchid appears 2 times with different content (index 0, 1)",
      "matchid appears 2 times with different content (index 0, 1)",
    ]);
  });
});
