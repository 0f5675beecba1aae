import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { SnapshotDelivery } from "@fogis/match-processor";
import { encodeSyncBody } from "@fogis/message-schema";
import { freePort } from "@fogis/testing";
import { type BenchContext, benchChannels, collectGarbage } from "./context.js";
import { type Figure, figure } from "./figures.js";
import { processorEnvelope, upcomingMatches, withVenueChanged } from "./fixtures.js";
import { ServiceProcess } from "./processes.js";

/**
 * The HTTP fallback (Redis down): the processor's `SnapshotDelivery` POSTs the 1,000-match snapshot
 * to `/manual-sync` of a real calendar-sync (`node packages/calendar-sync/dist/main.js`, Redis off)
 * on 127.0.0.1, which answers once the calendar is applied; timed from the deliverSnapshot() call
 * to the 2xx. The baseline POSTs the same bytes (`encodeSyncBody`) with fetch to a bare node:http
 * process that answers after JSON.parse.
 */
export async function benchHttpFallback(ctx: BenchContext): Promise<Figure[]> {
  const { profile } = ctx;
  const dataDir = join(ctx.workDir, "fallback");
  mkdirSync(dataDir, { recursive: true });
  const calendar = await ServiceProcess.start("calendar-sync", {
    PORT: String(await freePort()),
    DATA_DIR: dataDir,
    API_TOKEN: ctx.apiToken,
    REDIS_PUBSUB_ENABLED: "false",
    // Nothing listens there: its start-up resync finds no processor and gives up at once.
    PROCESSOR_URL: `http://127.0.0.1:${await freePort()}`,
  });
  const plain = await ServiceProcess.start("baseline", { PORT: String(await freePort()) });
  try {
    const delivery = new SnapshotDelivery({
      link: null,
      channels: benchChannels(),
      fallbackUrl: calendar.baseUrl,
      apiToken: ctx.apiToken,
      logger: ctx.processorLogger,
      attempts: 1,
    });
    let matches = upcomingMatches(profile.snapshotMatches);
    let sequence = 1;
    const first = await delivery.deliverSnapshot(processorEnvelope(matches, sequence));
    if (!first.confirmed) throw new Error(`the first fallback delivery failed: ${first.errors.join("; ")}`);
    ctx.log(`HTTP fallback: ${profile.snapshotMatches} matches to calendar-sync (pid ${calendar.pid})`);

    const measured: number[] = [];
    const baseline: number[] = [];
    for (let round = 0; round < profile.warmupRounds + profile.fallbackRounds; round++) {
      matches = withVenueChanged(matches, round % matches.length, `http ${round}`);
      const envelope = processorEnvelope(matches, ++sequence);
      // The same bytes the processor's fallback sends (the envelope plus the matches for Python).
      const body = encodeSyncBody(envelope);
      collectGarbage();
      let started = performance.now();
      const response = await fetch(plain.baseUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      await response.text();
      if (!response.ok) throw new Error(`the baseline receiver answered ${response.status}`);
      const plainMs = performance.now() - started;
      collectGarbage();
      started = performance.now();
      const delivered = await delivery.deliverSnapshot(envelope);
      const projectMs = performance.now() - started;
      if (!delivered.confirmed || delivered.route !== "http") {
        throw new Error(`fallback delivery failed: ${delivered.errors.join("; ")}`);
      }
      if (round >= profile.warmupRounds) {
        measured.push(projectMs);
        baseline.push(plainMs);
      }
    }
    const stats = (await calendar.getJson("/redis-stats")).stats as Record<string, number>;
    if ((stats.snapshots_applied ?? 0) < profile.fallbackRounds + 1) {
      throw new Error(`calendar-sync applied ${stats.snapshots_applied} snapshots, expected every one`);
    }
    return [
      figure({
        name: "fallback_latency",
        unit: "ms",
        description: `${profile.snapshotMatches} matches, one changed: SnapshotDelivery (Redis down) POST /manual-sync -> calendar-sync process applied -> 2xx (baseline: fetch POST of the same bytes to a bare node:http process that JSON.parses them)`,
        measured,
        baseline,
      }),
    ];
  } finally {
    await plain.stop();
    await calendar.stop();
  }
}
