import { afterEach, describe, expect, it } from "vitest";
import { MatchScript } from "./reliability/match-script.js";
import { recordFault } from "./reliability/report.js";
import { accountingProblems, Stack } from "./reliability/stack.js";

/**
 * DESIGN §5.4: no unbounded offline queue. The processor runs 200 cycles of a changing list with
 * Redis down (the last 20 with calendar-sync down too, so nothing is delivered at all) and its
 * memory must stay flat: whatever it did not deliver is replaced by the next full snapshot, never
 * piled up.
 */

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const MB = 1024 * 1024;
/** Growth allowed from the warm-up sample to the end: far below what 200 queued snapshots would take. */
const RSS_GROWTH_BOUND = 24 * MB;
const HEAP_GROWTH_BOUND = 12 * MB;

async function heapUsed(s: Stack): Promise<number> {
  const { text } = await s.processor.getText("/metrics");
  const line = /^fogis_nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\d+(?:\.\d+)?)/m.exec(text);
  if (!line?.[1]) throw new Error("no fogis_nodejs_heap_size_used_bytes in /metrics");
  return Number(line[1]);
}

describe("memory during a long Redis outage", () => {
  it("200 cycles with Redis down: the processor's RSS and heap stay bounded and every envelope is accounted for", async () => {
    // 40 matches make every envelope ~150 kB, so a queue of them would show at once.
    stack = await Stack.create({ script: new MatchScript({ initial: 40 }) });
    const s = stack;
    await s.cycle();
    await s.redis.kill();
    const before = s.script.currentStep;
    const samples: Array<{ cycle: number; rss: number; heap: number }> = [];
    for (let cycle = 1; cycle <= 200; cycle++) {
      if (cycle === 181) await s.calendar.stop("SIGKILL");
      await s.change();
      const result = await s.cycle();
      expect(result.outcome).toBe(cycle <= 180 ? "delivered" : "delivery_failed");
      if (cycle % 20 === 0) samples.push({ cycle, rss: s.processor.rssBytes(), heap: await heapUsed(s) });
    }
    const counters = await s.counters();
    expect(accountingProblems(counters)).toEqual([]);
    expect(counters).toMatchObject({ pending: 1, delivery_failures: 20 });

    const warm = samples[0] as (typeof samples)[number];
    const peakRss = Math.max(...samples.map((sample) => sample.rss));
    const lastHeap = (samples.at(-1) as (typeof samples)[number]).heap;
    const table = samples.map(
      (x) => `${x.cycle}: rss ${(x.rss / MB).toFixed(1)} MB, heap ${(x.heap / MB).toFixed(1)} MB`,
    );
    console.log(`processor memory with Redis down:\n  ${table.join("\n  ")}`);
    expect(peakRss - warm.rss, table.join("; ")).toBeLessThan(RSS_GROWTH_BOUND);
    expect(lastHeap - warm.heap, table.join("; ")).toBeLessThan(HEAP_GROWTH_BOUND);

    // Both come back: everything changed during the outage arrives.
    const backAt = performance.now();
    await Promise.all([s.redis.start(), s.calendar.start()]);
    await s.cycle();
    await s.waitConverged();
    const changes = s.script.changesBetween(before);
    const reached = await s.reached(changes);
    recordFault({
      fault: "Redis down for 200 cycles (last 20 with calendar-sync down too)",
      changes: changes.length,
      reached,
      detectionMs: null,
      recoveryMs: performance.now() - backAt,
      notes: `processor RSS ${(warm.rss / MB).toFixed(0)} → peak ${(peakRss / MB).toFixed(0)} MB (bound +${RSS_GROWTH_BOUND / MB}), heap ${(warm.heap / MB).toFixed(1)} → ${(lastHeap / MB).toFixed(1)} MB`,
    });
    expect(reached).toBe(changes.length);
  });
});
