import { appendFileSync, existsSync, readFileSync } from "node:fs";

/**
 * The reliability table: each test that injects a fault records one row (how many changes were
 * made during the fault, how many reached the calendar, how long detection and recovery took, how
 * many were lost). Rows go to a JSON-lines file named by FOGIS_RELIABILITY_ROWS (set by
 * vitest.reliability.config.ts), because the test files run in worker processes and the table is
 * printed by the reporter in the main one.
 */

export interface FaultRow {
  fault: string;
  /** Changes to the match list made while the fault lasted. */
  changes: number;
  /** Of those, how many the calendar shows at the end. */
  reached: number;
  /** From the fault to the services reporting it (null: not a fault a service reports). */
  detectionMs: number | null;
  /** From the end of the fault to the calendar equal to the list again. */
  recoveryMs: number | null;
  /** Envelopes and other counts worth showing, e.g. "redis 31, http 19". */
  notes?: string;
}

export const ROWS_ENV = "FOGIS_RELIABILITY_ROWS";

export function recordFault(row: FaultRow): void {
  const file = process.env[ROWS_ENV];
  if (!file) return; // Run outside pnpm test:reliability: nothing collects the table.
  appendFileSync(file, `${JSON.stringify(row)}\n`);
}

export function readRows(file: string): FaultRow[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as FaultRow);
}

function duration(ms: number | null): string {
  if (ms === null) return "–";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** The table in Markdown (also readable as plain text in a terminal). */
export function renderTable(rows: FaultRow[]): string {
  const header = [
    "Fault",
    "Changes during fault",
    "Reached calendar",
    "Detection",
    "Recovery",
    "Lost",
    "Notes",
  ];
  const lines = rows.map((row) => [
    row.fault,
    String(row.changes),
    String(row.reached),
    duration(row.detectionMs),
    duration(row.recoveryMs),
    String(row.changes - row.reached),
    row.notes ?? "",
  ]);
  const widths = header.map((title, i) =>
    Math.max(title.length, ...lines.map((line) => (line[i] ?? "").length)),
  );
  const format = (cells: string[]) =>
    `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [format(header), format(widths.map((w) => "-".repeat(w))), ...lines.map(format)].join("\n");
}
