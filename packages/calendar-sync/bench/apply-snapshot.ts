import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMatchUpdatesEnvelope, encodeEnvelope, snapshotHash } from "@fogis/message-schema";
import { createLogger, createMetricsRegistry } from "@fogis/runtime";
import { fogisMatchList } from "@fogis/testing";
import { FeedCalendarBackend, Phonebook, SnapshotHandler, SyncStats } from "../src/index.js";

/**
 * How long one snapshot takes through the handler (decode, diff, write state) and how long the
 * feed takes to render, for a cold calendar, a repeat, and a one-match change.
 * Run: pnpm --filter @fogis/calendar-sync bench [matches]
 */

const count = Number(process.argv[2] ?? 1000);
const dataDir = mkdtempSync(join(tmpdir(), "calendar-sync-bench-"));
const logger = createLogger({ name: "bench", level: "silent" });
const calendar = new FeedCalendarBackend({ dataDir, logger, calendarName: "bench" });
const phonebook = new Phonebook({ dataDir, logger });
const handler = new SnapshotHandler({
  backend: calendar,
  phonebook,
  stats: new SyncStats(createMetricsRegistry("bench", { processMetrics: false })),
  logger,
  maxMessageBytes: 100 * 1024 * 1024,
  clock: () => new Date("2026-11-20T12:00:00Z"),
});

const matches = fogisMatchList(count);
const changed = matches.map((match, i) => (i === 0 ? { ...match, anlaggningnamn: "Ny arena" } : match));
const cases: Array<[string, string]> = [
  ["cold: all matches new", encode(matches, 1, true)],
  ["repeat with the same snapshot_hash", encode(matches, 2, true)],
  ["repeat without a hash (Python processor)", encode(matches, 3, false)],
  ["one match changed", encode(changed, 4, false)],
];

function encode(list: typeof matches, sequence: number, withHash: boolean): string {
  return encodeEnvelope(
    createMatchUpdatesEnvelope({
      source: "bench",
      matches: list,
      sequence,
      snapshotHash: withHash ? snapshotHash(matches) : undefined,
    }),
  );
}

for (const [name, raw] of cases) {
  const started = performance.now();
  const result = await handler.handleMessage(raw);
  const applied = performance.now() - started;
  const renderStarted = performance.now();
  const feed = calendar.renderIcs();
  const rendered = performance.now() - renderStarted;
  const status = result.accepted ? result.outcome?.status : result.rejection.code;
  console.log(
    `${name.padEnd(44)} ${(raw.length / 1e6).toFixed(2)} MB  apply ${applied.toFixed(1).padStart(7)} ms  (${status})  render ${rendered.toFixed(1).padStart(6)} ms  feed ${(feed.length / 1e6).toFixed(2)} MB`,
  );
}
rmSync(dataDir, { recursive: true, force: true });
