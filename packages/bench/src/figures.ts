import { type Spread, spread, tidy } from "./stats.js";

/** One line of bench/results.json: a median of several rounds, with its baseline when it has one. */
export interface Figure {
  name: string;
  unit: string;
  median: number;
  min: number;
  max: number;
  /** The same measurement over plain ioredis (or plain HTTP) in the same run; null without one. */
  baseline_median: number | null;
  /** median / baseline_median; null without a baseline. */
  ratio: number | null;
  /** The goal from issue #8, in words; null for figures recorded for context only. */
  target: string | null;
  /** Whether the median meets the target; null without a target. */
  met: boolean | null;
  rounds: number;
  /** What exactly was timed. */
  description: string;
}

export interface Target {
  text: string;
  check: (median: number, ratio: number | null) => boolean;
}

export interface FigureInput {
  name: string;
  unit: string;
  description: string;
  measured: readonly number[];
  baseline?: readonly number[];
  target?: Target;
}

export function figure(input: FigureInput): Figure {
  const project: Spread = spread(input.measured);
  const baseline = input.baseline ? spread(input.baseline).median : null;
  const ratio = baseline ? project.median / baseline : null;
  return {
    name: input.name,
    unit: input.unit,
    median: tidy(project.median),
    min: tidy(project.min),
    max: tidy(project.max),
    baseline_median: baseline === null ? null : tidy(baseline),
    ratio: ratio === null ? null : tidy(ratio),
    target: input.target?.text ?? null,
    met: input.target ? input.target.check(project.median, ratio) : null,
    rounds: project.rounds.length,
    description: input.description,
  };
}

/** The targets of issue #8 (2-core machine). */
export const targets = {
  throughputRatio: (min: number): Target => ({
    text: `>= ${Math.round(min * 100)}% of the baseline`,
    check: (_median, ratio) => ratio !== null && ratio >= min,
  }),
  latency: (maxRatio: number, maxMs: number): Target => ({
    text: `<= ${maxRatio}x the baseline and < ${maxMs} ms`,
    check: (median, ratio) => ratio !== null && ratio <= maxRatio && median < maxMs,
  }),
  ratioAtMost: (maxRatio: number): Target => ({
    text: `<= ${maxRatio}x the baseline`,
    check: (_median, ratio) => ratio !== null && ratio <= maxRatio,
  }),
  below: (limit: number, unit: string): Target => ({
    text: `< ${limit} ${unit}`,
    check: (median) => median < limit,
  }),
};
