import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { encodeEnvelope } from "@fogis/message-schema";
import { PlainRedisBaseline } from "./baseline.js";
import { type BenchContext, benchChannels, collectGarbage } from "./context.js";
import { drivePacedLatency, driveThroughput, type MessagePath } from "./drivers.js";
import { type Figure, figure, targets } from "./figures.js";
import { cycleStatusEnvelope, ProjectPipeline } from "./pipeline.js";
import { quantile } from "./stats.js";

/**
 * Small messages: the processor's `processing_status` envelopes (~250-420 B), "started" and
 * "completed" in turn as it sends them around every cycle. On the
 * project's path it is built by the message-schema builder, published by the processor's
 * `SnapshotDelivery.publishEvent`, received by calendar-sync's `MatchSubscriber`, and decoded,
 * validated, counted and logged by its `SnapshotHandler`, which is everything calendar-sync does
 * with such a message. The baseline publishes the same bytes with plain ioredis and JSON.parses
 * them. A match_updates envelope is never small (one real-shaped match is ~3 KB), so snapshots
 * are measured separately, at their real size.
 */
export async function benchSmallMessages(ctx: BenchContext): Promise<Figure[]> {
  const { profile } = ctx;
  // The same bytes for the baseline: a "started" and a "completed" message, in turn.
  const messages = [encodeEnvelope(cycleStatusEnvelope(1)), encodeEnvelope(cycleStatusEnvelope(2))];
  const bytes = messages.map((m) => Buffer.byteLength(m));
  const size = `${Math.min(...bytes)}–${Math.max(...bytes)} B`;
  const dataRoot = join(ctx.workDir, "small");
  mkdirSync(dataRoot, { recursive: true });
  const baseline = await PlainRedisBaseline.connect(ctx.redis.url, benchChannels().processorStatus, messages);
  const project = await ProjectPipeline.forBench(ctx, dataRoot);
  const timeoutMs = 60_000;
  try {
    const throughput = new Map<MessagePath, number[]>([
      [baseline, []],
      [project, []],
    ]);
    ctx.log(`small messages (${size}): throughput, ${profile.throughputMessages} messages a round`);
    for (let round = 0; round < profile.warmupRounds + profile.throughputRounds; round++) {
      // Alternate who goes first, so a slow moment of the machine does not always hit the same side.
      for (const path of round % 2 ? [project, baseline] : [baseline, project]) {
        collectGarbage();
        const perSecond = await driveThroughput(path, profile.throughputMessages, profile.throughputWindow, {
          timeoutMs,
        });
        project.assertHealthy();
        if (round >= profile.warmupRounds) throughput.get(path)?.push(perSecond);
      }
    }

    const latency = new Map<MessagePath, { p50: number[]; p99: number[]; p999: number[] }>([
      [baseline, { p50: [], p99: [], p999: [] }],
      [project, { p50: [], p99: [], p999: [] }],
    ]);
    ctx.log(
      `small messages: latency at ${profile.latencyRatePerSecond} msg/s, ${profile.latencyDurationMs} ms a round`,
    );
    for (let round = 0; round < profile.warmupRounds + profile.latencyRounds; round++) {
      for (const path of round % 2 ? [project, baseline] : [baseline, project]) {
        collectGarbage();
        const samples = await drivePacedLatency(
          path,
          profile.latencyRatePerSecond,
          profile.latencyDurationMs,
          { timeoutMs },
        );
        project.assertHealthy();
        if (round < profile.warmupRounds) continue;
        samples.sort();
        const into = latency.get(path);
        into?.p50.push(quantile(samples, 0.5));
        into?.p99.push(quantile(samples, 0.99));
        into?.p999.push(quantile(samples, 0.999));
      }
    }

    const at = profile.latencyRatePerSecond;
    const paced = `${at} msg/s for ${profile.latencyDurationMs / 1000} s a round, from just before the publish call to the end of the handler`;
    const of = (path: MessagePath) => latency.get(path) as { p50: number[]; p99: number[]; p999: number[] };
    return [
      figure({
        name: "small_throughput",
        unit: "msg/s",
        description: `${profile.throughputMessages} processing_status envelopes (${size}, "started" and "completed" in turn) published ${profile.throughputWindow} at a time; first publish to last handled`,
        measured: throughput.get(project) ?? [],
        baseline: throughput.get(baseline),
        target: targets.throughputRatio(0.5),
      }),
      figure({
        name: `small_latency_p50_at_${at}`,
        unit: "ms",
        description: `p50 latency, ${paced}`,
        measured: of(project).p50,
        baseline: of(baseline).p50,
      }),
      figure({
        name: `small_latency_p99_at_${at}`,
        unit: "ms",
        description: `p99 latency, ${paced}`,
        measured: of(project).p99,
        baseline: of(baseline).p99,
        target: targets.latency(2, 5),
      }),
      figure({
        name: `small_latency_p999_at_${at}`,
        unit: "ms",
        description: `p99.9 latency, ${paced}`,
        measured: of(project).p999,
        baseline: of(baseline).p999,
      }),
    ];
  } finally {
    await project.close();
    await baseline.close();
  }
}
