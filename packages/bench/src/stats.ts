/** Plain statistics over round results and latency samples. */

export interface Spread {
  median: number;
  min: number;
  max: number;
  /** Every round's value, in the order measured. */
  rounds: number[];
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error("no rounds were measured");
  const sorted = [...values].sort((a, b) => a - b);
  return {
    median: quantile(sorted, 0.5),
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
    rounds: [...values],
  };
}

/**
 * The q-quantile of ascending `sorted` samples by nearest rank: the smallest sample with at least
 * q of all samples at or below it (p99.9 of 3,000 samples is the 2,997th).
 */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) throw new Error("no samples");
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Rounds to a few significant digits for the report, so the JSON stays readable. */
export function tidy(value: number): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const digits = Math.max(0, 3 - Math.floor(Math.log10(Math.abs(value))));
  return Number(value.toFixed(Math.min(digits, 4)));
}
