import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { fillRedis } from "./reliability/faults.js";
import { MatchScript } from "./reliability/match-script.js";
import { type RedisStatus, Stack, timeUntil } from "./reliability/stack.js";

/**
 * `/redis-status` tells the truth about the path snapshots take: Redis up but refusing writes
 * (maxmemory with noeviction) is `warn` with the reason, not `pass`; a snapshot too large for a
 * subscriber's pub/sub output buffer (Redis would drop the subscriber while PUBLISH still counts it)
 * is not published, goes over HTTP, and is reported.
 */

let stack: Stack | undefined;
let client: Redis | undefined;
afterEach(async () => {
  client?.disconnect();
  await stack?.close();
  stack = client = undefined;
});

function issueCodes(status: RedisStatus): string[] {
  return ((status.issues ?? []) as Array<{ code: string }>).map((issue) => issue.code);
}

describe("Redis full (maxmemory, noeviction)", () => {
  it("the processor says warn and why while every snapshot goes over HTTP, and pass again once Redis takes writes", async () => {
    stack = await Stack.create({
      redis: { args: ["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"] },
    });
    const s = stack;
    await s.subscribed();
    await s.change();
    expect((await s.cycle()).delivery.route).toBe("redis");
    await s.waitConverged();
    expect((await s.processorStatus()).status).toBe("pass");

    client = new Redis(s.redis.url, { maxRetriesPerRequest: 1 });
    const filler = await fillRedis(client);
    const faultAt = performance.now();
    const before = s.script.currentStep;
    let detectionMs: number | null = null;
    for (let i = 0; i < 3; i++) {
      await s.change();
      const result = await s.cycle();
      expect(result.delivery).toMatchObject({ confirmed: true, route: "http" });
      expect(result.delivery.errors.join()).toMatch(/OOM/);
      if ((await s.processorStatus()).status === "warn") detectionMs ??= performance.now() - faultAt;
    }
    const status = await s.processorStatus();
    expect(status).toMatchObject({ status: "warn", delivery_path: "http", success: true });
    expect(status.redis_status.connected).toBe(true);
    expect(issueCodes(status)).toContain("redis_refused_snapshot");
    expect(JSON.stringify(status.issues)).toMatch(/maxmemory/);
    expect(status.delivery?.redis_refused).toBeGreaterThanOrEqual(3);
    await s.waitConverged();

    // Room again: the next cycle goes back to Redis by itself, without a change to send.
    await client.del(...filler);
    const freedAt = performance.now();
    const next = await s.cycle();
    expect(next).toMatchObject({ publish_reason: "redis_recovered", delivery: { route: "redis" } });
    await timeUntil(
      "the processor says pass",
      async () => (await s.processorStatus()).status === "pass",
      10_000,
    );
    const recoveryMs = performance.now() - freedAt;
    await s.expectEveryChangeReached(before, {
      fault: "Redis full (maxmemory noeviction) during 3 cycles",
      detectionMs,
      recoveryMs,
      notes: "processor warn, path http, reason OOM while Redis refused; back on Redis the next cycle",
    });
  });
});

describe("a snapshot larger than the subscriber's pub/sub output buffer", () => {
  it("is not published (Redis would drop calendar-sync), goes over HTTP, and the processor says warn with the limit", async () => {
    // Redis drops a subscriber whose output buffer passes 64 kB; the list's snapshots are ~100 kB.
    stack = await Stack.create({
      redis: { args: ["--client-output-buffer-limit", "pubsub 64kb 32kb 60"] },
      script: new MatchScript({ initial: 30 }),
    });
    const s = stack;
    await s.subscribed();
    const before = s.script.currentStep;
    const faultAt = performance.now();
    let detectionMs: number | null = null;
    for (let i = 0; i < 3; i++) {
      await s.change();
      const result = await s.cycle();
      expect(result.delivery).toMatchObject({ confirmed: true, route: "http" });
      expect(result.delivery.errors.join()).toMatch(/over the pub\/sub limit of 32768/);
      if ((await s.processorStatus()).status === "warn") detectionMs ??= performance.now() - faultAt;
    }
    await s.waitConverged();
    const status = await s.processorStatus();
    expect(status).toMatchObject({ status: "warn", delivery_path: "http" });
    expect(issueCodes(status)).toContain("snapshot_too_large_for_redis");
    expect(status.delivery?.too_large_for_redis).toBe(3);
    // Nothing was pushed into calendar-sync's subscription, so Redis never dropped it.
    const stats = await s.calendarStats();
    expect(stats.reconnects).toBe(0);
    expect((await s.calendarStatus()).redis_status.subscribed).toBe(true);
    await s.expectEveryChangeReached(before, {
      fault: "Snapshot over the pub/sub output buffer limit (3 cycles)",
      detectionMs,
      recoveryMs: null,
      notes:
        "not published (limit read from Redis: 32 kB); sent over HTTP; processor warn; subscriber never dropped",
    });
  });
});
