import type { Figure } from "./figures.js";

/**
 * A small SVG bar chart of the latency figures for the README: per row the baseline's median and
 * the project's median with a min–max whisker, one linear scale per panel.
 */

export interface ChartPanel {
  title: string;
  rows: Array<{ label: string; figure: Figure | undefined }>;
}

const WIDTH = 640;
const LABEL_WIDTH = 150;
const VALUE_WIDTH = 90;
const BAR = 11;
const ROW = 2 * BAR + 12;
const BASELINE_COLOR = "#9aa5b1";
const PROJECT_COLOR = "#2f6fde";
const TITLE = "FOGIS Realtime: latency, project vs baseline (lower is better)";

export function latencyChart(panels: ChartPanel[], caption: string): string {
  const parts: string[] = [];
  let y = 28;
  for (const panel of panels) {
    const rows = panel.rows.filter((row) => row.figure);
    if (!rows.length) continue;
    const top = Math.max(
      ...rows.map((row) => Math.max(row.figure?.max ?? 0, row.figure?.baseline_median ?? 0)),
    );
    const scale = (WIDTH - LABEL_WIDTH - VALUE_WIDTH) / (top * 1.05 || 1);
    parts.push(text(8, y, panel.title, 'font-weight="bold"'));
    y += 10;
    for (const { label, figure } of rows) {
      if (!figure) continue;
      parts.push(text(8, y + BAR + 4, label));
      if (figure.baseline_median !== null) {
        const width = figure.baseline_median * scale;
        parts.push(rect(LABEL_WIDTH, y, width, BAR, BASELINE_COLOR));
        parts.push(
          text(
            LABEL_WIDTH + width + 4,
            y + BAR - 2,
            `${format(figure.baseline_median)} ${figure.unit}`,
            'font-size="10"',
          ),
        );
      }
      const by = y + BAR + 2;
      const width = figure.median * scale;
      parts.push(rect(LABEL_WIDTH, by, width, BAR, PROJECT_COLOR));
      const whiskerY = by + BAR / 2;
      parts.push(
        `<line x1="${round(LABEL_WIDTH + figure.min * scale)}" y1="${whiskerY}" x2="${round(LABEL_WIDTH + figure.max * scale)}" y2="${whiskerY}" stroke="#102a43" stroke-width="1.5"/>`,
      );
      parts.push(
        text(
          LABEL_WIDTH + Math.max(width, figure.max * scale) + 4,
          by + BAR - 2,
          `${format(figure.median)} ${figure.unit}`,
          'font-size="10"',
        ),
      );
      y += ROW;
    }
    y += 16;
  }
  const legendY = y;
  parts.push(
    rect(8, legendY - 9, 10, 10, BASELINE_COLOR),
    text(22, legendY, "baseline (plain ioredis / node:http)"),
  );
  parts.push(
    rect(240, legendY - 9, 10, 10, PROJECT_COLOR),
    text(254, legendY, "project (median, min–max whisker)"),
  );
  parts.push(text(8, legendY + 18, caption, 'font-size="10" fill="#52606d"'));
  const height = legendY + 28;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<title>${escapeXml(`${TITLE}. ${caption}`)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    text(8, 16, TITLE, 'font-weight="bold" font-size="13"'),
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}

function rect(x: number, y: number, width: number, height: number, fill: string): string {
  return `<rect x="${round(x)}" y="${round(y)}" width="${round(Math.max(width, 1))}" height="${height}" fill="${fill}"/>`;
}

function text(x: number, y: number, content: string, attributes = ""): string {
  return `<text x="${round(x)}" y="${round(y)}" ${attributes}>${escapeXml(content)}</text>`;
}

function escapeXml(content: string): string {
  return content.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function format(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}
