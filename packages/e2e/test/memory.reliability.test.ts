import { describe, expect, it } from "vitest";
import { MatchScript } from "./reliability/match-script.js";
import { accountingProblems, stackPerTest } from "./reliability/stack.js";

/**
 * DESIGN §5.4: no unbounded offline queue. The processor runs 200 cycles of a changing list with
 * Redis down (the last 20 with calendar-sync down too, so nothing is delivered at all) and its
 * memory must stay flat: whatever it did not deliver is replaced by the next full snapshot, never
 * piled up.
 */

const stacks = stackPerTest();

const MB = 1024 * 1024;
/**
 * The live heap (in use right after a full collection) is what a queue would grow: 200 queued
 * snapshots of ~80 kB would add well over 16 MB.
 */
const LIVE_HEAP_GROWTH_BOUND = 8 * MB;
/** RSS also moves with V8's heap sizing and the allocator, so its bound is a looser sanity check. */
const RSS_GROWTH_BOUND = 64 * MB;

describe("memory during a long Redis outage", () => {
  // A fixed amount of work (200 cycles, 37 forced full GCs): how long it takes is the machine's
  // load, not a result, so it gets more than the suite's 2 minutes.
  it("200 cycles with Redis down: the processor's RSS and heap stay bounded and every envelope is accounted for", async () => {
    // 25 matches make every envelope ~80 kB, so a queue of them would show at once.
    const s = await stacks.create({
      script: new MatchScript({ initial: 25 }),
      processorNodeArgs: ["--inspect=127.0.0.1:0"],
    });
    await s.cycle();
    await s.redis.kill();
    const before = s.script.currentStep;
    const samples: Array<{ cycle: number; rss: number; heap: number }> = [];
    for (let cycle = 1; cycle <= 200; cycle++) {
      if (cycle === 181) await s.calendar.stop("SIGKILL");
      await s.change();
      const result = await s.cycle();
      expect(result.outcome).toBe(cycle <= 180 ? "delivered" : "delivery_failed");
      if (cycle >= 20 && cycle % 5 === 0) {
        samples.push({ cycle, rss: s.processor.rssBytes(), heap: await s.processor.liveHeapBytes() });
      }
    }
    const counters = await s.counters();
    expect(accountingProblems(counters)).toEqual([]);
    expect(counters).toMatchObject({ pending: 1, delivery_failures: 20 });

    const window = (from: number, to: number) => samples.filter((x) => x.cycle >= from && x.cycle <= to);
    const early = window(20, 70);
    const late = window(150, 200);
    const liveEarly = Math.min(...early.map((x) => x.heap));
    const liveLate = Math.min(...late.map((x) => x.heap));
    const rssEarly = Math.max(...early.map((x) => x.rss));
    const rssLate = Math.max(...late.map((x) => x.rss));
    const summary = `live heap ${(liveEarly / MB).toFixed(1)} → ${(liveLate / MB).toFixed(1)} MB, RSS ${(rssEarly / MB).toFixed(0)} → ${(rssLate / MB).toFixed(0)} MB (cycles 20–70 → 150–200)`;
    console.log(`processor memory with Redis down: ${summary}`);
    expect(liveLate - liveEarly, summary).toBeLessThan(LIVE_HEAP_GROWTH_BOUND);
    expect(rssLate - rssEarly, summary).toBeLessThan(RSS_GROWTH_BOUND);

    // Both come back: everything changed during the outage arrives.
    const backAt = performance.now();
    await Promise.all([s.redis.start(), s.calendar.start()]);
    await s.cycle();
    await s.waitConverged();
    await s.expectEveryChangeReached(before, {
      fault: "Redis down for 200 cycles (last 20 with calendar-sync down too)",
      detectionMs: null,
      recoveryMs: performance.now() - backAt,
      notes: `${summary}; bounds +${LIVE_HEAP_GROWTH_BOUND / MB} / +${RSS_GROWTH_BOUND / MB} MB`,
    });
  }, 300_000);
});
