import type { Match, SystemAlertInput } from "@fogis/message-schema";
import type { Logger, StatusIssue } from "@fogis/runtime";
import type { ChangeSet } from "./change-detector.js";
import type { CycleContext } from "./cycle-result.js";

export interface EmptyListHoldOptions {
  /** Empty answers in a row before an empty list is believed (EMPTY_LIST_CONFIRM_FETCHES, at least 1). */
  confirmFetches: number;
  /** ... over at least this long (EMPTY_LIST_CONFIRM_SECONDS). */
  confirmMs: number;
  sourceDescription: string;
  logger: Logger;
  alert: (input: Omit<SystemAlertInput, "source">) => void;
}

/** Consecutive empty answers after a non-empty list, not yet believed. */
interface EmptyListStreak {
  since: Date;
  fetches: number;
  /** Matches of the delivered list that an empty one would take off the calendar. */
  wouldRemove: number;
}

/** The processor's guard against a list that is empty for a moment (DESIGN §5: nothing lost). */
export class EmptyListHold {
  private streak: EmptyListStreak | null = null;

  constructor(private readonly options: EmptyListHoldOptions) {}

  /** A `warn` issue for /redis-status while an empty list is held back. */
  get issue(): StatusIssue | undefined {
    const streak = this.streak;
    if (!streak) return undefined;
    return {
      status: "warn",
      code: "empty_list_held",
      message: `${this.options.sourceDescription} answered an empty match list ${streak.fetches} time(s) in a row since ${streak.since.toISOString()}; the calendar keeps its ${streak.wouldRemove} upcoming match(es) until ${this.options.confirmFetches} empty answers over ${Math.round(this.options.confirmMs / 60_000)} min confirm it (EMPTY_LIST_CONFIRM_FETCHES, EMPTY_LIST_CONFIRM_SECONDS)`,
      since: streak.since.toISOString(),
    };
  }

  /**
   * FOGIS (or a file being rewritten) sometimes answers an empty list for a moment; the Python
   * processor treated that as a failed fetch. An empty list that would take upcoming matches off the
   * calendar is believed only after `confirmFetches` empty answers in a row spanning at
   * least `confirmMs`; until then the cycle keeps the state and says why (answered).
   */
  check(matches: readonly Match[], changeSet: ChangeSet, context: CycleContext): string | null {
    if (matches.length > 0 || changeSet.removedMatchIds.length === 0) {
      if (this.streak) {
        this.options.logger.info(
          { event: "empty_list_over", fetches: this.streak.fetches, matches: matches.length },
          "the match list is no longer empty",
        );
      }
      this.streak = null;
      return null;
    }
    this.streak ??= {
      since: context.started,
      fetches: 0,
      wouldRemove: changeSet.removedMatchIds.length,
    };
    const streak = this.streak;
    streak.fetches += 1;
    const elapsedMs = context.started.getTime() - streak.since.getTime();
    if (streak.fetches >= this.options.confirmFetches && elapsedMs >= this.options.confirmMs) {
      this.options.logger.warn(
        { event: "empty_list_confirmed", fetches: streak.fetches, elapsedMs, removed: streak.wouldRemove },
        "the empty match list is confirmed; delivering it",
      );
      this.streak = null;
      return null;
    }
    const message = `empty match list held back (${streak.fetches} of ${this.options.confirmFetches} empty answers, ${Math.round(elapsedMs / 1000)} s of ${Math.round(this.options.confirmMs / 1000)} s): it would remove ${streak.wouldRemove} upcoming match(es); the calendar keeps them until it is confirmed`;
    this.options.logger.warn(
      {
        event: "empty_list_held",
        cycle: context.cycle,
        fetches: streak.fetches,
        elapsedMs,
        wouldRemove: streak.wouldRemove,
      },
      message,
    );
    if (streak.fetches === 1) {
      this.options.alert({
        alertType: "empty_list_held",
        severity: "warning",
        message,
        details: { cycle: context.cycle, source: this.options.sourceDescription },
      });
    }
    return message;
  }
}
