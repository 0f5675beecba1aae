import { describe, expect, it } from "vitest";
import type { MatchChange } from "./reliability/match-script.js";
import { recordFault } from "./reliability/report.js";
import {
  accountingProblems,
  type CycleResult,
  isPass,
  notPass,
  type Stack,
  sleep,
  stackPerTest,
} from "./reliability/stack.js";

/**
 * DESIGN §5 under Redis faults: Redis killed and restarted, frozen, and down together with
 * calendar-sync. The calendar must end equal to the match list, and the processor's counters must
 * account for every envelope it created.
 */

const stacks = stackPerTest();

/** Verifies the calendar equals the list at every look for `ms` (no regression to an older snapshot). */
async function expectSteady(s: Stack, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    expect(await s.differences()).toEqual([]);
    await sleep(100);
  }
}

describe("Redis killed and restarted while the processor runs", () => {
  it("6 outages during 60 cycles (kills and stops, mid-cycle, cycles right after the fault and right after the restart): the calendar equals the final list, every envelope accounted for", async () => {
    // Persistence on, as in docker-compose.yml: after a restart the latest-envelope key holds what
    // was published before the outage, older than what the HTTP fallback delivered meanwhile.
    const s = await stacks.create({ redis: { args: ["--appendonly", "yes"] } });
    const watcher = stacks.watch(s);
    await watcher.both(0, isPass, 10_000, "both services on Redis at start");

    const routes: Record<string, number> = {};
    const run = async () => {
      const result: CycleResult = await s.cycle();
      routes[result.delivery.route] = (routes[result.delivery.route] ?? 0) + 1;
      return result;
    };
    const detections: number[] = [];
    const recoveries: number[] = [];
    const faultChanges: MatchChange[] = [];
    let cycles = 0;

    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 5; i++) {
        await s.change();
        expect((await run()).delivery).toMatchObject({ confirmed: true, route: "redis" });
        cycles++;
      }
      const before = s.script.currentStep;
      const faultAt = performance.now();
      const fault = () => (round % 2 === 0 ? s.redis.kill() : s.redis.stop());
      if (round % 3 === 1) {
        // Mid-cycle: the cycle may publish just before or just after Redis dies.
        await s.change();
        const cycle = run();
        await sleep(round);
        await fault();
        expect((await cycle).delivery.confirmed).toBe(true);
        cycles++;
      } else {
        await fault();
      }
      if (round % 3 === 0) await watcher.both(faultAt, notPass, 10_000, "both notice the outage");
      // round % 3 === 2: cycles start before anyone noticed the outage.
      for (let i = 0; i < 4; i++) {
        await s.change();
        // Redis is down: the HTTP fallback carries every change, each in its own cycle.
        expect((await run()).delivery).toMatchObject({ confirmed: true, route: "http" });
        cycles++;
      }
      detections.push((await watcher.both(faultAt, notPass, 10_000, "both notice the outage")) - faultAt);
      faultChanges.push(...s.script.changesBetween(before));

      const restartedAt = performance.now();
      await s.redis.start();
      if (round % 2 === 1) {
        // Right after the restart, before calendar-sync has resubscribed.
        await s.change();
        expect((await run()).delivery.confirmed).toBe(true);
        cycles++;
      }
      const back = await watcher.both(restartedAt, isPass, 15_000, "both back on Redis");
      await s.waitConverged();
      recoveries.push(Math.max(back, performance.now()) - restartedAt);
      await expectSteady(s, 1000);
    }
    await s.change();
    expect((await run()).delivery).toMatchObject({ confirmed: true, route: "redis" });
    cycles++;
    expect(cycles).toBeGreaterThanOrEqual(50);

    await s.waitConverged();
    const counters = await s.expectEveryEnvelopeDelivered(cycles, routes);
    // /metrics tells the same story as /redis-status.
    expect(await s.processorMetric("fogis_processor_envelopes_created_total")).toBe(
      counters.envelopes_created,
    );
    expect(await s.processorMetric("fogis_processor_envelopes_delivered_total", { route: "redis" })).toBe(
      counters.delivered_via_redis,
    );
    expect(await s.processorMetric("fogis_processor_envelopes_delivered_total", { route: "http" })).toBe(
      counters.delivered_via_http,
    );
    expect(await s.processorMetric("fogis_processor_envelopes_superseded_total")).toBe(counters.superseded);
    expect(await s.processorMetric("fogis_processor_envelopes_pending")).toBe(counters.pending);
    const reached = await s.reached(faultChanges);
    recordFault({
      fault: "Redis killed/stopped and restarted ×6 during 60 cycles",
      changes: faultChanges.length,
      reached,
      detectionMs: Math.max(...detections),
      recoveryMs: Math.max(...recoveries),
      notes: `envelopes ${counters.envelopes_created} = redis ${counters.delivered_via_redis} + http ${counters.delivered_via_http} + superseded ${counters.superseded} + pending ${counters.pending}`,
    });
    expect(reached).toBe(faultChanges.length);
  });
});

describe("Redis frozen (SIGSTOP) for 15 s", () => {
  it("both services notice within 10 s, the HTTP fallback carries the changes, and after SIGCONT both return to Redis", async () => {
    const s = await stacks.create();
    const watcher = stacks.watch(s);
    await watcher.both(0, isPass, 10_000, "both services on Redis at start");
    await s.change();
    expect((await s.cycle()).delivery).toMatchObject({ confirmed: true, route: "redis" });

    const before = s.script.currentStep;
    const frozenAt = performance.now();
    await s.redis.pause();
    const routes: string[] = [];
    // A change every second or so while Redis is frozen; no cycle may hang.
    while (performance.now() - frozenAt < 15_000) {
      await s.change();
      const started = performance.now();
      const result = await s.cycle();
      expect(performance.now() - started).toBeLessThan(5000);
      expect(result.delivery.confirmed).toBe(true);
      routes.push(result.delivery.route);
      await s.waitConverged(5000);
      await sleep(500);
    }
    const detected = await watcher.both(frozenAt, notPass, 0, "both notice the freeze within 10 s");
    expect(detected - frozenAt).toBeLessThan(10_000);
    expect(routes.filter((route) => route === "http").length).toBeGreaterThan(routes.length / 2);
    const changes = s.script.changesBetween(before);

    const resumedAt = performance.now();
    await s.redis.resume();
    const back = await watcher.both(resumedAt, isPass, 15_000, "both back on Redis after SIGCONT");
    await s.change();
    expect((await s.cycle()).delivery).toMatchObject({ confirmed: true, route: "redis" });
    await s.waitConverged();
    const counters = await s.counters();
    expect(accountingProblems(counters)).toEqual([]);
    const reached = await s.reached(changes);
    recordFault({
      fault: "Redis frozen (SIGSTOP) for 15 s",
      changes: changes.length,
      reached,
      detectionMs: detected - frozenAt,
      recoveryMs: back - resumedAt,
      notes: `cycles during the freeze: ${routes.filter((r) => r === "http").length} over http, ${routes.filter((r) => r === "redis").length} over redis`,
    });
    expect(reached).toBe(changes.length);
  });
});
