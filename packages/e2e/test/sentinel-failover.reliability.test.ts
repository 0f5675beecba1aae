import { describe, expect, it } from "vitest";
import type { MatchChange } from "./reliability/match-script.js";
import { recordFault } from "./reliability/report.js";
import {
  type CycleResult,
  isPass,
  notPass,
  type RedisStatus,
  type Stack,
  sleep,
  stackPerTest,
} from "./reliability/stack.js";

/**
 * DESIGN §14 under a Redis Sentinel failover: master, replica and three sentinels as real
 * processes, the processor and two calendar-sync replicas (only the first is the processor's HTTP
 * fallback target) reaching Redis through REDIS_SENTINELS. The master is killed in the middle of a
 * cycle while the match list changes every half second. Both calendars must end equal to the list,
 * the processor must be back on pub/sub through the promoted replica by itself, and the old master,
 * started again, must become a replica without moving anyone.
 */

const stacks = stackPerTest();

const CHANGE_EVERY_MS = 500;

interface Connection {
  master: string | null;
  failovers_seen: number;
}

describe("Redis Sentinel failover", () => {
  it("master killed mid-cycle while the list changes every 0.5 s, two calendar-sync replicas: both calendars equal the list, the processor is back on pub/sub through the new master, the returning old master moves no one", async () => {
    const s = await stacks.create({
      // Short Sentinel timeouts keep the row quick; the failover itself is Redis's own.
      sentinel: { replicas: 1, sentinels: 3, downAfterMs: 1000, failoverTimeoutMs: 3000 },
      calendars: 2,
    });
    const group = s.sentinel as NonNullable<Stack["sentinel"]>;
    const w = stacks.watch(s);
    await w.all(0, isPass, 15_000, "every service on Redis at start");
    const firstMaster = await group.masterPort();
    const [second] = s.calendars.slice(1);
    if (!second) throw new Error("the stack has one calendar-sync");

    const routes: Record<string, number> = {};
    let cycles = 0;
    /** One change and one cycle, then a pause to keep the pace of a change every half second. */
    const step = async (during?: (cycle: Promise<CycleResult>) => Promise<void>) => {
      const started = performance.now();
      await s.change();
      const cycle = s.cycle();
      await during?.(cycle);
      const result = await cycle;
      expect(result.delivery.confirmed, JSON.stringify(result.delivery)).toBe(true);
      routes[result.delivery.route] = (routes[result.delivery.route] ?? 0) + 1;
      cycles++;
      await sleep(Math.max(0, CHANGE_EVERY_MS - (performance.now() - started)));
      return result;
    };
    const connection = async (status: Promise<RedisStatus>) => (await status).redis_connection as Connection;

    for (let i = 0; i < 4; i++) {
      expect((await step()).delivery).toMatchObject({ route: "redis", receivers: 2 });
    }
    await s.waitConverged();
    const secondResyncsBefore = ((await s.calendarStats(second)).resyncs as { total: number }).total;

    // The fault: the master dies in the middle of a cycle (it may publish just before or not at all).
    const before = s.script.currentStep;
    const killedAt = performance.now();
    let promotedAt: number | undefined;
    let newMaster: number | undefined;
    const promotion = group.waitForFailover(firstMaster, 30_000).then((port) => {
      promotedAt = performance.now();
      newMaster = port;
    });
    promotion.catch(() => {});
    await step(async () => {
      await sleep(1);
      await group.node(firstMaster).kill();
    });
    // Changes go on every half second until the sentinels have promoted the replica and every
    // service is on Redis again, through it.
    let back: number | undefined;
    while (back === undefined) {
      await step();
      if (performance.now() - killedAt > 45_000) throw new Error("no failover within 45 s");
      if (promotedAt !== undefined) {
        back = await w.all(promotedAt, isPass, 0, "").catch(() => undefined);
      }
    }
    await promotion;
    // While the sentinels agreed on a new master, the HTTP fallback carried the changes.
    expect(routes.http ?? 0).toBeGreaterThan(0);
    const faultChanges: MatchChange[] = s.script.changesBetween(before);
    const detected = await w.all(killedAt, notPass, 0, "every service noticed the dead master");
    const convergedIn = await s.waitConverged();
    const recoveryMs = performance.now() - (promotedAt as number);
    const master = `127.0.0.1:${newMaster}`;

    // Back on pub/sub through the promoted replica: every change by PUBLISH, to both replicas.
    for (let i = 0; i < 4; i++) {
      expect((await step()).delivery).toMatchObject({ route: "redis", receivers: 2 });
    }
    for (const status of [s.processorStatus(), ...s.calendars.map((c) => s.calendarStatus(c))]) {
      expect(await connection(status)).toMatchObject({ master, failovers_seen: 1 });
    }
    // The replica the fallback never reached resynced when it resubscribed on the new master.
    expect(((await s.calendarStats(second)).resyncs as { total: number }).total).toBeGreaterThan(
      secondResyncsBefore,
    );
    await s.waitConverged();

    // The old master comes back as it was started, a master: the sentinels make it a replica of
    // the new one. Meanwhile the list keeps changing and no service wavers or moves.
    const returnedAt = performance.now();
    await group.node(firstMaster).start();
    let replica = false;
    const demotion = group.waitForReplica(firstMaster, newMaster as number, 40_000).then(() => {
      replica = true;
    });
    demotion.catch(() => {});
    let stepsAfterReturn = 0;
    while (!replica || stepsAfterReturn < 4) {
      expect((await step()).delivery).toMatchObject({ route: "redis", receivers: 2 });
      stepsAfterReturn++;
      if (performance.now() - returnedAt > 45_000) break;
    }
    await demotion;
    expect(await group.role(firstMaster)).toBe("slave");
    for (const service of w.services) expect(w.statusesSince(service, returnedAt).every(isPass)).toBe(true);
    for (const status of [s.processorStatus(), ...s.calendars.map((c) => s.calendarStatus(c))]) {
      expect(await connection(status)).toMatchObject({ master, failovers_seen: 1 });
    }
    await s.waitConverged();

    const counters = await s.expectEveryEnvelopeDelivered(cycles, routes);
    const reached = await s.reached(faultChanges);
    recordFault({
      fault: "Redis master killed mid-cycle, Sentinel failover (2 calendar-sync replicas)",
      changes: faultChanges.length,
      reached,
      detectionMs: detected - killedAt,
      recoveryMs,
      notes: `failover ${(((promotedAt as number) - killedAt) / 1000).toFixed(1)} s; both calendars equal ${Math.round(convergedIn)} ms after all services were back; envelopes ${counters.envelopes_created} = redis ${counters.delivered_via_redis} + http ${counters.delivered_via_http}; old master a replica after ${((performance.now() - returnedAt) / 1000).toFixed(0)} s, no service moved`,
    });
    expect(reached).toBe(faultChanges.length);
  });
});
