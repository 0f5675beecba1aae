import type { SystemAlertInput } from "@fogis/message-schema";
import type { Logger } from "@fogis/runtime";
import type { CycleContext, CycleResult } from "./cycle-result.js";
import { describeDroppedReferee, describeInvalidMatch, type ValidatedMatchList } from "./match-list.js";
import type { ProcessorMetrics } from "./metrics.js";

export interface InputProblemReportOptions {
  metrics: ProcessorMetrics;
  sourceDescription: string;
  logger: Logger;
  alert: (input: Omit<SystemAlertInput, "source">) => void;
}

/**
 * Counts and logs the entries FOGIS sent that did not validate, every cycle; alerts when the
 * set of problems differs from the previous cycle's, so a bad entry that stays for days raises
 * one alert, not one per cycle.
 */
export class InputProblemReport {
  /** The previous cycle's problems, one line each: alert only when they change. */
  private lastSignature = "";

  constructor(private readonly options: InputProblemReportOptions) {}

  report(context: CycleContext, checked: ValidatedMatchList): CycleResult["input_problems"] {
    const counts = {
      invalid_matches: checked.invalidMatches.length,
      kept_last_good: checked.invalidMatches.filter((entry) => entry.keptLastGood).length,
      dropped_referees: checked.droppedReferees.length,
    };
    this.options.metrics.invalidEntries(counts.invalid_matches, counts.dropped_referees);
    const problems = [
      ...checked.invalidMatches.map(describeInvalidMatch),
      ...checked.droppedReferees.map(describeDroppedReferee),
    ];
    const signature = problems.join("\n");
    const changed = signature !== this.lastSignature;
    this.lastSignature = signature;
    if (problems.length === 0) return counts;
    this.options.logger.warn(
      {
        event: "invalid_entries",
        cycle: context.cycle,
        ...counts,
        kept_for_unidentified: checked.keptForUnidentified.length,
        problems: problems.slice(0, 10),
      },
      "the match list has invalid entries; the rest of the list applies",
    );
    if (changed) {
      const shown = problems.slice(0, 5).join("; ");
      const more = problems.length > 5 ? ` (+${problems.length - 5} more)` : "";
      this.options.alert({
        alertType: "invalid_entries",
        severity: "warning",
        message: `the match list has ${counts.invalid_matches} invalid match(es) and ${counts.dropped_referees} invalid referee entr(y/ies); the rest of the list applies: ${shown}${more}`,
        details: {
          cycle: context.cycle,
          source: this.options.sourceDescription,
          ...counts,
          invalid_match_entries: checked.invalidMatches,
          dropped_referee_entries: checked.droppedReferees,
          kept_for_unidentified: checked.keptForUnidentified,
        },
      });
    }
    return counts;
  }
}
