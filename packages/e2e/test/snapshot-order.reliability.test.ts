import { rmSync } from "node:fs";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { fillRedis, skewedClock } from "./reliability/faults.js";
import { MatchScript } from "./reliability/match-script.js";
import { recordFault } from "./reliability/report.js";
import { Stack, sleep, timeUntil } from "./reliability/stack.js";

/**
 * Which snapshot wins (DESIGN §5.3): a replayed older envelope, a processor whose state was wiped
 * (a new epoch) while Redis still holds the old epoch's envelope or while its clock was wrong, and
 * two processors publishing on one channel. The calendar must always show the newest list of its
 * own processor, and say so when something else is on the channel.
 */

const CHANNEL = "fogis:matches:updates";
const LATEST_KEY = `${CHANNEL}:latest`;

let stacks: Stack[] = [];
let clients: Redis[] = [];
afterEach(async () => {
  for (const client of clients) client.disconnect();
  for (const s of stacks.reverse()) await s.close();
  stacks = [];
  clients = [];
});

/** A stack whose calendar-sync is subscribed, so the first cycles go over Redis. */
async function newStack(...args: Parameters<typeof Stack.create>): Promise<Stack> {
  const s = await Stack.create(...args);
  stacks.push(s);
  await s.subscribed();
  return s;
}

function redisClient(s: Stack): Redis {
  const client = new Redis(s.redis.url, { maxRetriesPerRequest: 1 });
  clients.push(client);
  return client;
}

type Stats = Record<string, unknown> & {
  messages_processed: number;
  messages_failed: number;
  snapshots_stale: number;
  resyncs: { total: number };
};

async function stats(s: Stack): Promise<Stats> {
  return (await s.calendarStats()) as Stats;
}

/** Waits until calendar-sync has finished handling `count` more messages than in `before`. */
async function handled(s: Stack, before: Stats, count = 1): Promise<void> {
  const done = before.messages_processed + before.messages_failed + count;
  await timeUntil(
    "calendar-sync handled the message",
    async () => {
      const now = await stats(s);
      return now.messages_processed + now.messages_failed >= done;
    },
    10_000,
  );
}

/** Waits until calendar-sync has resynced at least `count` times since it started. */
async function resynced(s: Stack, count: number): Promise<void> {
  await timeUntil("calendar-sync resynced", async () => (await stats(s)).resyncs.total >= count, 15_000);
}

/** The calendar equals the list at every look for `ms`: nothing rolls it back meanwhile. */
async function expectSteady(s: Stack, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    expect(await s.differences()).toEqual([]);
    await sleep(100);
  }
}

async function wipeProcessor(s: Stack): Promise<void> {
  await s.processor.stop("SIGKILL");
  rmSync(s.processorDataDir, { recursive: true, force: true });
}

describe("a replayed older envelope", () => {
  it("re-published on Redis or POSTed to /manual-sync, it never rolls the calendar back", async () => {
    const s = await newStack();
    await s.change();
    expect((await s.cycle()).delivery.route).toBe("redis");
    await s.waitConverged();
    const old = (await s.processor.getJson("/matches/latest")).body;

    const before = s.script.currentStep;
    s.script.change("removed");
    s.script.change("time_change");
    s.script.change("referee_change");
    await s.writeMatches();
    expect((await s.cycle()).delivery.route).toBe("redis");
    await s.waitConverged();
    const changes = s.script.changesBetween(before);
    const staleBefore = (await stats(s)).snapshots_stale;

    // The older envelope again, on the channel (a replay, a stuck publisher) ...
    let previous = await stats(s);
    await redisClient(s).publish(CHANNEL, JSON.stringify(old));
    await handled(s, previous);
    await expectSteady(s, 1000);

    // ... and over the HTTP fallback route.
    previous = await stats(s);
    const answer = await s.calendar.post<{ status: string }>("/manual-sync", {
      token: s.apiToken,
      body: old,
    });
    await handled(s, previous);
    expect(answer.body.status).toBe("stale");
    await expectSteady(s, 500);

    // The processor's next cycle finds nothing to send: the calendar has to be right by itself.
    expect((await s.cycle()).outcome).toBe("unchanged");
    await expectSteady(s, 500);
    const stale = (await stats(s)).snapshots_stale - staleBefore;
    expect(stale).toBe(2);
    const reached = await s.reached(changes);
    recordFault({
      fault: "Older envelope replayed (Redis PUBLISH, POST /manual-sync)",
      changes: changes.length,
      reached,
      detectionMs: null,
      recoveryMs: null,
      notes: `both refused as stale (same epoch, lower sequence); next cycle "unchanged"`,
    });
    expect(reached).toBe(changes.length);
  });
});

describe("processor epochs", () => {
  it("a wiped processor's new epoch wins over the old epoch's envelope left in a full Redis, also after calendar-sync restarts or is wiped", async () => {
    const s = await newStack({ redis: { args: ["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"] } });
    for (let i = 0; i < 3; i++) {
      await s.change();
      expect((await s.cycle()).delivery.route).toBe("redis");
    }
    await s.waitConverged();

    // The processor loses its state (a new volume, a wiped DATA_DIR): it starts a new epoch, and
    // Redis is full and refuses the write, so the key keeps the old epoch's envelope, with a
    // higher sequence. (Filled after the restart: a closed connection frees memory.)
    await wipeProcessor(s);
    const before = s.script.currentStep;
    await s.change(3);
    await s.processor.start();
    const filler = await fillRedis(redisClient(s));
    const result = await s.cycle();
    expect(result.delivery).toMatchObject({ confirmed: true, route: "http", sequence: 1 });
    await s.waitConverged();

    // calendar-sync restarts: its resync sees the old epoch in the Redis key and the new one at
    // the processor, and keeps the new one.
    let resyncs = (await stats(s)).resyncs.total;
    await s.calendar.restart("SIGTERM");
    await resynced(s, 2);
    await expectSteady(s, 1500);

    // calendar-sync wiped too: nothing remembered, and still the processor's epoch wins.
    await s.calendar.stop("SIGKILL");
    rmSync(s.calendarDataDir, { recursive: true, force: true });
    const startedAt = performance.now();
    await s.calendar.start();
    const recoveryMs = (await s.waitConverged()) + (performance.now() - startedAt);
    resyncs = (await stats(s)).resyncs.total;
    await resynced(s, Math.max(resyncs, 2));
    await expectSteady(s, 1000);

    const key = JSON.parse((await redisClient(s).get(LATEST_KEY)) ?? "{}");
    const changes = s.script.changesBetween(before);
    const reached = await s.reached(changes);
    await redisClient(s).del(...filler);
    recordFault({
      fault: "Processor state wiped while Redis is full (old epoch in the key)",
      changes: changes.length,
      reached,
      detectionMs: null,
      recoveryMs,
      notes: `key kept epoch ${String(key.payload?.metadata?.processor_epoch).slice(0, 8)} seq ${key.payload?.metadata?.sequence}; calendar-sync restarted and wiped: processor's new epoch won`,
    });
    expect(reached).toBe(changes.length);
  });

  it("a processor whose clock ran a day ahead and then lost its state does not hold the calendar on its old list", async () => {
    const s = await newStack({ processorEnv: skewedClock("+1d") });
    for (let i = 0; i < 3; i++) {
      await s.change();
      expect((await s.cycle()).delivery.route).toBe("redis");
    }
    await s.waitConverged();
    const skewed = (await s.processor.getJson<{ timestamp: string }>("/matches/latest")).body;
    expect(Date.parse(skewed.timestamp) - Date.now()).toBeGreaterThan(20 * 3_600_000);

    // The processor comes back with a right clock and no state, while calendar-sync is down: the
    // new epoch's first snapshot waits in the Redis key and at GET /matches/latest.
    await s.calendar.stop("SIGTERM");
    await wipeProcessor(s);
    for (const name of Object.keys(skewedClock(""))) delete s.processor.env[name];
    const before = s.script.currentStep;
    await s.change(3);
    await s.processor.start();
    expect((await s.cycle()).outcome).toBe("delivery_failed");

    const startedAt = performance.now();
    await s.calendar.start();
    await s.waitConverged();
    const recoveryMs = performance.now() - startedAt;
    await expectSteady(s, 1000);
    await s.expectEveryChangeReached(before, {
      fault: "Processor clock a day ahead, then state wiped",
      detectionMs: null,
      recoveryMs,
      notes: "old epoch's timestamps 1 day ahead; new epoch (seq 1) accepted as a reset on resync",
    });
  });
});

describe("two processors on one Redis channel", () => {
  it("each calendar follows its own processor, refuses and counts the other's envelopes, and says fail with the reason", async () => {
    const a = await newStack();
    await a.change();
    await a.cycle();
    await a.waitConverged();
    const b = await newStack({
      sharedRedis: a.redis,
      script: new MatchScript({ seed: 11, firstMatchId: 6_300_000 }),
    });
    await b.change();
    await b.cycle();
    await b.waitConverged();

    const beforeA = a.script.currentStep;
    const beforeB = b.script.currentStep;
    for (let round = 0; round < 3; round++) {
      for (const s of [a, b]) {
        await s.change();
        const result = await s.cycle();
        expect(result.delivery.confirmed).toBe(true);
      }
      await a.waitConverged(5000);
      await b.waitConverged(5000);
    }
    await expectSteady(a, 500);
    await expectSteady(b, 500);

    const status = await a.calendarStatus();
    expect(status.status).toBe("fail");
    expect(JSON.stringify(status.issues)).toMatch(/another processor/i);
    // The referee's status page says so too: the calendar step fails, with the reason.
    const token = a.calendar.env.FEED_TOKEN;
    const page = await a.calendar.getJson<{
      verdict: { state: string };
      pipeline: Array<{ id: string; status: string; reason: string | null }>;
    }>(`/status.json?lang=en${token ? `&token=${encodeURIComponent(token)}` : ""}`);
    expect(page.body.verdict.state).toBe("broken");
    expect(page.body.pipeline).toContainEqual(
      expect.objectContaining({ status: "fail", reason: expect.stringMatching(/another processor/i) }),
    );
    // The processors see each other in the publisher key too.
    for (const s of [a, b]) {
      const processor = await s.processorStatus();
      expect(processor.status).toBe("fail");
      expect(JSON.stringify(processor.issues)).toMatch(/second_publisher/);
    }
    const refused = (await stats(a)).snapshots_refused as number;
    expect(refused).toBeGreaterThanOrEqual(3);
    const changes = [...a.script.changesBetween(beforeA), ...b.script.changesBetween(beforeB)];
    const reached =
      (await a.reached(a.script.changesBetween(beforeA))) +
      (await b.reached(b.script.changesBetween(beforeB)));
    recordFault({
      fault: "Two processors publishing on one Redis channel",
      changes: changes.length,
      reached,
      detectionMs: null,
      recoveryMs: null,
      notes: `each calendar kept its own processor's list; ${refused} foreign envelopes refused, /redis-status fail`,
    });
    expect(reached).toBe(changes.length);
  });
});
