import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { encodeEnvelope, type MatchUpdatesEnvelope } from "@fogis/message-schema";
import { pythonMatchUpdatesEnvelope } from "@fogis/testing";
import { PlainRedisBaseline } from "./baseline.js";
import { type BenchContext, benchChannels, collectGarbage } from "./context.js";
import { type Figure, figure, targets } from "./figures.js";
import { processorEnvelope, upcomingMatches, withVenueChanged } from "./fixtures.js";
import { ProjectPipeline } from "./pipeline.js";

/**
 * The large snapshot: 1,000 real-shaped matches (~3 MB) from the processor's `deliverSnapshot`
 * (encode, SET latest + PUBLISH in one MULTI) to calendar-sync's handler having decoded, validated
 * and applied it to the calendar and phonebook on disk. The baseline PUBLISHes the same bytes with
 * plain ioredis and JSON.parses them.
 *
 * Two cases: a calendar that already holds the previous snapshot and one match changed (every
 * cycle with a change after the first), and an empty calendar (first start, or a new DATA_DIR).
 * For context also: the same snapshot again (the processor's hourly heartbeat), the same list from
 * the Python processor (no hash), and rendering the feed after a change and cold.
 * (This replaces calendar-sync's own bench/apply-snapshot.ts, which timed these in the handler.)
 */
export async function benchLargeSnapshot(ctx: BenchContext): Promise<Figure[]> {
  const { profile } = ctx;
  const count = profile.snapshotMatches;
  const dataRoot = join(ctx.workDir, "snapshot");
  mkdirSync(dataRoot, { recursive: true });
  const baseline = await PlainRedisBaseline.connect(ctx.redis.url, benchChannels().matchUpdates, ["{}"]);
  // Channels of its own for each calendar-sync, so a new one's start-up resync finds no envelope.
  const startProject = () => ProjectPipeline.forBench(ctx, dataRoot);
  let project = await startProject();
  const timeoutMs = 30_000;
  let sequence = 0;
  try {
    let matches = upcomingMatches(count);
    const buildMs: number[] = [];
    const build = (): MatchUpdatesEnvelope => {
      const started = performance.now();
      const envelope = processorEnvelope(matches, ++sequence);
      buildMs.push(performance.now() - started);
      return envelope;
    };
    const first = build();
    const bytes = Buffer.byteLength(encodeEnvelope(first));
    ctx.log(`large snapshot: ${count} matches, ${(bytes / 1e6).toFixed(2)} MB`);
    expectApplied(await project.timeSnapshot(first, timeoutMs), { created: count });

    const changed = { project: [] as number[], baseline: [] as number[] };
    const feedAfterChange: number[] = [];
    const feedCold: number[] = [];
    for (let round = 0; round < profile.warmupRounds + profile.snapshotRounds; round++) {
      matches = withVenueChanged(matches, round % count, String(round));
      const envelope = build();
      const body = encodeEnvelope(envelope);
      for (const side of round % 2
        ? (["project", "baseline"] as const)
        : (["baseline", "project"] as const)) {
        collectGarbage();
        let ms: number;
        if (side === "baseline") ms = await baseline.timeSnapshot(body, timeoutMs);
        else {
          const timed = await project.timeSnapshot(envelope, timeoutMs);
          expectApplied(timed, { updated: 1 });
          ms = timed.ms;
          if (round >= profile.warmupRounds) feedAfterChange.push(project.timeFeedRender());
        }
        if (round >= profile.warmupRounds) changed[side].push(ms);
      }
    }

    const repeated: number[] = [];
    const python: number[] = [];
    for (let round = 0; round < profile.snapshotRounds; round++) {
      collectGarbage();
      repeated.push(expectOutcome(await project.timeSnapshot(build(), timeoutMs), "skipped"));
    }
    // Last: a snapshot without a hash makes the next one with a hash count as new again.
    for (let round = 0; round < profile.snapshotRounds; round++) {
      // The Python processor publishes when something changed: the detailed changes of one match.
      const fromPython = pythonMatchUpdatesEnvelope(matches, {
        newMatches: matches.slice(0, 1),
      }) as MatchUpdatesEnvelope;
      collectGarbage();
      python.push(expectOutcome(await project.timeSnapshot(fromPython, timeoutMs), "unchanged"));
    }

    const cold = { project: [] as number[], baseline: [] as number[] };
    for (let round = 0; round < profile.coldSnapshotRounds; round++) {
      await project.close();
      project = await startProject();
      const envelope = build();
      const body = encodeEnvelope(envelope);
      collectGarbage();
      cold.baseline.push(await baseline.timeSnapshot(body, timeoutMs));
      collectGarbage();
      const timed = await project.timeSnapshot(envelope, timeoutMs);
      expectApplied(timed, { created: count });
      cold.project.push(timed.ms);
      feedCold.push(project.timeFeedRender());
    }
    project.assertHealthy();

    const size = `${count} matches, ${(bytes / 1e6).toFixed(2)} MB`;
    return [
      figure({
        name: "snapshot_1000_apply",
        unit: "ms",
        description: `${size}, one match changed since the last snapshot: deliverSnapshot() called -> calendar and phonebook applied (baseline: PUBLISH -> JSON.parse of the same bytes)`,
        measured: changed.project,
        baseline: changed.baseline,
        target: targets.ratioAtMost(3),
      }),
      figure({
        name: "snapshot_1000_apply_cold",
        unit: "ms",
        description: `${size} into an empty calendar (first start): deliverSnapshot() called -> ${count} events and the phonebook written (baseline: PUBLISH -> JSON.parse of the same bytes)`,
        measured: cold.project,
        baseline: cold.baseline,
        target: targets.ratioAtMost(3),
      }),
      figure({
        name: "snapshot_1000_repeat",
        unit: "ms",
        description: `${size}, the same list again (the processor's heartbeat; same snapshot_hash, so skipped): deliverSnapshot() -> handled, for context`,
        measured: repeated,
      }),
      figure({
        name: "snapshot_1000_python_unchanged",
        unit: "ms",
        description: `${size}, the same list as the Python processor publishes it (no hash: validated and compared, nothing written): publish -> handled, for context`,
        measured: python,
      }),
      figure({
        name: "feed_render_after_change",
        unit: "ms",
        description: `GET /calendar.ics's rendering of the ${count}-event feed after a one-match change (unchanged events come from a cache), for context`,
        measured: feedAfterChange,
      }),
      figure({
        name: "feed_render_cold",
        unit: "ms",
        description: `the first rendering of the ${count}-event feed after an empty calendar received the snapshot, for context`,
        measured: feedCold,
      }),
      figure({
        name: "snapshot_1000_envelope_build",
        unit: "ms",
        description: `${size}: the processor building the envelope before delivering it (createMatchUpdatesEnvelope + snapshotHash), for context`,
        measured: buildMs.slice(1),
      }),
    ];
  } finally {
    await project.close();
    await baseline.close();
  }
}

/** Answers the ms of a snapshot the handler answered with `status`; throws on anything else. */
function expectOutcome(timed: Awaited<ReturnType<ProjectPipeline["timeSnapshot"]>>, status: string): number {
  const { result } = timed;
  if (!result.accepted || result.outcome?.status !== status) {
    throw new Error(`expected the snapshot to be ${status}, got ${JSON.stringify(result).slice(0, 300)}`);
  }
  return timed.ms;
}

function expectApplied(
  timed: Awaited<ReturnType<ProjectPipeline["timeSnapshot"]>>,
  expected: { created?: number; updated?: number },
): void {
  const { result } = timed;
  const outcome = result.accepted ? result.outcome : undefined;
  if (outcome?.status !== "applied") {
    throw new Error(`expected the snapshot to be applied, got ${JSON.stringify(result).slice(0, 300)}`);
  }
  const created = outcome.changes.created.length;
  const updated = outcome.changes.updated.length;
  if (
    (expected.created !== undefined && created !== expected.created) ||
    (expected.updated !== undefined && updated !== expected.updated)
  ) {
    throw new Error(
      `expected ${JSON.stringify(expected)}, the calendar reported created ${created}, updated ${updated}`,
    );
  }
}
