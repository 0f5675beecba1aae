import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { latencyChart } from "./chart.js";
import type { Figure } from "./figures.js";
import { METHOD_NOTES, MISSED_TARGET_NOTES } from "./notes.js";

export interface Machine {
  cpus: number;
  cpu_model: string;
  node: string;
  redis: string;
  platform: string;
  memory_gb: number;
  load_average_at_start: number[];
  load_average_at_end: number[];
}

export interface Results {
  command: string;
  profile: string;
  date: string;
  duration_s: number;
  machine: Machine;
  figures: Figure[];
}

/** Writes results.json, results.md and latency.svg into `dir`; answers the paths. */
export function writeResults(dir: string, results: Results): string[] {
  const files = {
    json: join(dir, "results.json"),
    markdown: join(dir, "results.md"),
    chart: join(dir, "latency.svg"),
  };
  writeFileSync(files.json, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(files.markdown, markdown(results));
  writeFileSync(files.chart, chart(results));
  return Object.values(files);
}

export function resultsTable(figures: readonly Figure[]): string {
  const rows = figures.map((f) => [
    `\`${f.name}\``,
    `${number(f.median)} ${f.unit} (${number(f.min)}–${number(f.max)})`,
    f.baseline_median === null ? "–" : `${number(f.baseline_median)} ${f.unit}`,
    f.ratio === null ? "–" : `${f.ratio}×`,
    f.target ?? "–",
    f.met === null ? "–" : f.met ? "yes" : "**no**",
  ]);
  return table(["Figure", "Project: median (min–max)", "Baseline median", "Ratio", "Target", "Met"], rows);
}

/** A Markdown table with padded columns, as biome formats it (pnpm lint checks bench/results.md). */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, i) =>
    Math.max(3, title.length, ...rows.map((row) => (row[i] ?? "").length)),
  );
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)].join("\n");
}

function markdown(results: Results): string {
  const m = results.machine;
  const missed = results.figures.filter((f) => f.met === false);
  const out = [
    "# Benchmark results",
    "",
    `Written by \`${results.command}\` on ${results.date.slice(0, 10)} (${results.profile} profile, ${results.duration_s} s): ` +
      `${m.cpus} × ${m.cpu_model}, ${m.memory_gb} GB, ${m.platform}, Node ${m.node}, Redis ${m.redis}. ` +
      `Load average at the start ${m.load_average_at_start.join(" / ")}, at the end ${m.load_average_at_end.join(" / ")}.`,
    "",
    "Each figure is the median of several rounds (min–max in brackets). Every baseline ran in the same run, on the " +
      "same Redis, interleaved round by round with the project's path, so the ratios hold even on a busy machine " +
      "where the absolute figures move.",
    "",
    resultsTable(results.figures),
    "",
    "![Latency: project vs baseline](latency.svg)",
    "",
    "## What each figure times",
    "",
    ...results.figures.map((f) => `- \`${f.name}\`: ${f.description}.`),
    "",
    ...METHOD_NOTES,
    "",
    "## Targets missed",
    "",
  ];
  if (!missed.length) out.push("None: every target was met in this run.");
  for (const f of missed) {
    out.push(
      `- \`${f.name}\` (${number(f.median)} ${f.unit}, target ${f.target}): ${MISSED_TARGET_NOTES[f.name] ?? "no analysis recorded yet."}`,
    );
  }
  out.push("");
  return out.join("\n");
}

function chart(results: Results): string {
  const find = (name: string) => results.figures.find((f) => f.name === name);
  return latencyChart(
    [
      {
        title: "Small message (275–420 B) at 1,000 msg/s",
        rows: [
          { label: "p50", figure: find("small_latency_p50_at_1000") },
          { label: "p99", figure: find("small_latency_p99_at_1000") },
          { label: "p99.9", figure: find("small_latency_p999_at_1000") },
        ],
      },
      {
        title: "1,000-match snapshot (~3 MB): publish -> applied",
        rows: [
          { label: "one match changed", figure: find("snapshot_1000_apply") },
          { label: "empty calendar", figure: find("snapshot_1000_apply_cold") },
          { label: "HTTP fallback", figure: find("fallback_latency") },
        ],
      },
    ],
    `pnpm bench, ${results.date.slice(0, 10)}: ${results.machine.cpus} CPUs, Node ${results.machine.node}, Redis ${results.machine.redis}`,
  );
}

function number(value: number): string {
  return value >= 1000 ? Math.round(value).toLocaleString("en-US") : String(value);
}
