import { detectChanges } from "@fogis/match-processor";
import { type BenchContext, collectGarbage } from "./context.js";
import { type Figure, figure, targets } from "./figures.js";
import { nextMatchList, upcomingMatches } from "./fixtures.js";

/**
 * The processor's change detection (`detectChanges`) over 10,000 matches: the last delivered list
 * against a freshly fetched one with 1% of the matches changed, 50 new and 50 gone.
 */
export async function benchChangeDetection(ctx: BenchContext): Promise<Figure[]> {
  const { profile } = ctx;
  const count = profile.detectionMatches;
  const previous = upcomingMatches(count);
  const current = nextMatchList(
    previous,
    Math.ceil(count / 100),
    Math.ceil(count / 200),
    Math.ceil(count / 200),
  );
  ctx.log(`change detection: ${count} matches`);
  const measured: number[] = [];
  for (let round = 0; round < profile.warmupRounds + profile.detectionRounds; round++) {
    collectGarbage();
    const started = performance.now();
    const changes = detectChanges(previous, current, { now: new Date() });
    const ms = performance.now() - started;
    if (
      changes.newMatchIds.length === 0 ||
      changes.updatedMatchIds.length === 0 ||
      changes.removedMatchIds.length === 0
    ) {
      throw new Error(
        "change detection found no new, updated or removed matches in a list that has all three",
      );
    }
    if (round >= profile.warmupRounds) measured.push(ms);
  }
  return [
    figure({
      name: "change_detection_10k",
      unit: "ms",
      description: `detectChanges() over ${count} matches against the previous list: 1% changed (venue, kick-off or a referee), 0.5% new, 0.5% removed`,
      measured,
      target: targets.below(100, "ms"),
    }),
  ];
}
