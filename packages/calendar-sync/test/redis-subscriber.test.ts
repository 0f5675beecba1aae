import {
  type Channels,
  createMatchUpdatesEnvelope,
  createSystemAlertEnvelope,
  DEFAULT_CHANNELS,
  encodeEnvelope,
  latestEnvelopeKey,
  type Match,
} from "@fogis/message-schema";
import { fogisMatch, pythonMatchUpdatesEnvelope, pythonProcessingStatusEnvelope } from "@fogis/testing";
import type { Redis } from "ioredis";
import request from "supertest";
import { describe, expect, it } from "vitest";
import {
  eventFor,
  eventually,
  manualSync,
  parseFeed,
  subscriberRigPerTest,
  type TestService,
  TOKEN,
} from "./helpers.js";

/**
 * The subscriber against a real Redis: what a processor publishes shows up in the calendar, and it
 * still does after the subscriber was away, Redis died or froze, or someone published garbage.
 */

const channels: Channels = { ...DEFAULT_CHANNELS };
const rig = subscriberRigPerTest();

/** What the match-processor does: the latest envelope SET in the same MULTI as the PUBLISH. */
/** The processor epoch of the snapshots these tests publish. */
const EPOCH = "epoch-redis-subscriber-test";

async function publishSnapshot(client: Redis, matches: Match[], sequence: number): Promise<number> {
  const text = encodeEnvelope(
    createMatchUpdatesEnvelope({
      source: "match-processor",
      matches,
      sequence,
      processorEpoch: EPOCH,
      snapshotHash: `hash-${sequence}`,
    }),
  );
  const results = await client
    .multi()
    .set(latestEnvelopeKey(channels), text)
    .publish(channels.matchUpdates, text)
    .exec();
  return Number(results?.[1]?.[1] ?? 0);
}

async function feedMatchIds(service: TestService): Promise<number[]> {
  const { events } = parseFeed((await request(service.service.app).get("/calendar.ics")).text);
  return events.map((event) => Number(/fogis-match-(\d+)@/.exec(event.uid)?.[1])).sort((a, b) => a - b);
}

/** Resyncs attempted, whatever they found. */
function resyncCount(service: TestService): number {
  return Object.values(service.service.stats.resyncs).reduce((sum, n) => sum + n, 0);
}

async function redisStatus(service: TestService) {
  return (await request(service.service.app).get("/redis-status")).body;
}

async function subscribed(service: TestService, timeoutMs = 5000) {
  await eventually(async () => expect((await redisStatus(service)).status).toBe("pass"), timeoutMs);
}

describe("Redis subscriber", () => {
  it("turns the Python processor's envelope, published on Redis, into calendar events", async () => {
    const { publisher, t } = await rig.start();
    await subscribed(t);
    const match = fogisMatch({
      matchid: 6_186_203,
      date: "2026-12-05",
      time: "17:00",
      home: "IFK Göteborg",
      away: "Falkenbergs FF",
      venue: "Kamratgården 2 hybrid",
      competition: "Ligacupen Elit Västra",
    });
    // The Python processor only PUBLISHes: no sequence, no hash, no latest key.
    expect(
      await publisher.publish(channels.matchUpdates, JSON.stringify(pythonMatchUpdatesEnvelope([match]))),
    ).toBe(1);
    await publisher.publish(channels.processorStatus, JSON.stringify(pythonProcessingStatusEnvelope(7, 1)));

    const event = await eventually(async () => {
      const found = eventFor(
        parseFeed((await request(t.service.app).get("/calendar.ics")).text).events,
        6_186_203,
      );
      if (!found) throw new Error("event not there yet");
      return found;
    });
    expect(event.summary).toBe("IFK Göteborg - Falkenbergs FF");
    expect(event.location).toBe("Kamratgården 2 hybrid");
    expect(event.start.toISOString()).toBe("2026-12-05T16:00:00.000Z");
    expect(event.end.toISOString()).toBe("2026-12-05T18:00:00.000Z");
    expect(event.description).toContain("Tävling: Ligacupen Elit Västra");
    expect(event.description).toContain("Dom: Anna Andersson");
    expect(event.description).toContain("https://www.svenskfotboll.se/matchfakta/6186203/");

    // The feed shows the event as soon as the calendar is written; the snapshot counts as
    // processed once the phonebook and applied_snapshot.json are written too, a moment later.
    await eventually(async () => {
      const body = (await request(t.service.app).get("/redis-stats")).body.stats;
      expect(body.last_status).toMatchObject({ status: "completed", source: "match-list-processor" });
      expect(body).toMatchObject({
        messages_received: 2,
        messages_processed: 2,
        messages_failed: 0,
        received_by_origin: { redis: 2, http: 0 },
      });
    });
  });

  it("converges to the latest snapshot after being down while two were published", async () => {
    const { publisher, t } = await rig.start({ start: false });
    expect(await publishSnapshot(publisher, [fogisMatch({ matchid: 1001 })], 1)).toBe(0);
    expect(
      await publishSnapshot(publisher, [fogisMatch({ matchid: 1002 }), fogisMatch({ matchid: 1003 })], 2),
    ).toBe(0);

    t.service.start();
    await eventually(async () => expect(await feedMatchIds(t)).toEqual([1002, 1003]));
    expect(t.service.stats.resyncs.redis).toBeGreaterThanOrEqual(1);
  });

  it("resyncs from the latest key when a sequence gap shows that snapshots were missed", async () => {
    const { publisher, t } = await rig.start();
    await subscribed(t);
    expect(await publishSnapshot(publisher, [fogisMatch({ matchid: 1001 })], 1)).toBe(1);
    await eventually(async () => expect(await feedMatchIds(t)).toEqual([1001]));

    // Snapshot 4 is in the key but its PUBLISH never arrived; then 3 arrives late: 1 -> 3 is a gap.
    const four = createMatchUpdatesEnvelope({
      source: "match-processor",
      matches: [fogisMatch({ matchid: 1004 })],
      sequence: 4,
      processorEpoch: EPOCH,
      snapshotHash: "hash-4",
    });
    await publisher.set(latestEnvelopeKey(channels), encodeEnvelope(four));
    const three = createMatchUpdatesEnvelope({
      source: "match-processor",
      matches: [fogisMatch({ matchid: 1003 })],
      sequence: 3,
      processorEpoch: EPOCH,
      snapshotHash: "hash-3",
    });
    await publisher.publish(channels.matchUpdates, encodeEnvelope(three));

    await eventually(async () => expect(await feedMatchIds(t)).toEqual([1004]));
    expect(t.service.stats.toJSON()).toMatchObject({ sequence_gaps: 1, last_sequence: 4 });
  });

  it("never rolls the calendar back to an older envelope still stored in Redis", async () => {
    const { publisher, t } = await rig.start();
    await subscribed(t);
    // Stored before an outage...
    const old = createMatchUpdatesEnvelope({
      source: "match-processor",
      matches: [fogisMatch({ matchid: 1001 })],
      sequence: 1,
      processorEpoch: EPOCH,
      now: new Date("2026-11-20T10:00:00Z"),
    });
    await publisher.set(latestEnvelopeKey(channels), encodeEnvelope(old));
    // ...then the HTTP fallback delivered a newer snapshot.
    const newer = createMatchUpdatesEnvelope({
      source: "match-processor",
      matches: [fogisMatch({ matchid: 1002 })],
      sequence: 2,
      processorEpoch: EPOCH,
      // A clock that ran behind: within an epoch only the sequence counts.
      now: new Date("2026-11-20T09:55:00Z"),
    });
    const posted = await manualSync(t, newer);
    expect(posted.body.status).toBe("applied");

    const result = await t.service.resync("test");
    expect(result).toMatchObject({ source: "redis", outcome: { status: "stale" } });
    expect(await feedMatchIds(t)).toEqual([1002]);
  });

  it("refuses a latest envelope in Redis over the size limit by its length (STRLEN, before any GET), and says why", async () => {
    const { publisher, t } = await rig.start({ env: { MAX_BODY_BYTES: "65536" }, start: false });
    const big = createMatchUpdatesEnvelope({
      source: "match-processor",
      matches: Array.from({ length: 40 }, (_, i) => fogisMatch({ matchid: 2000 + i })),
      sequence: 9,
    });
    await publisher.set(latestEnvelopeKey(channels), encodeEnvelope(big));
    t.service.start();
    await subscribed(t);
    const result = await t.service.resync("test");
    expect(result).toMatchObject({
      source: "failed",
      error: expect.stringMatching(
        /redis: the latest envelope in Redis is \d+ bytes: over the limit of 65536 bytes/,
      ),
    });
    expect(t.service.stats.toJSON()).toMatchObject({ invalid_by_reason: { too_large: expect.any(Number) } });
    expect(await feedMatchIds(t)).toEqual([]);
  });

  it("resubscribes and resyncs by itself after Redis is killed and restarted", async () => {
    const { redis, publisher, t } = await rig.start({ owned: true });
    await subscribed(t);
    expect(await publishSnapshot(publisher, [fogisMatch({ matchid: 1001 })], 1)).toBe(1);
    await eventually(async () => expect(await feedMatchIds(t)).toEqual([1001]));
    const resyncsBefore = resyncCount(t);

    await redis.kill();
    await eventually(async () => expect((await redisStatus(t)).status).toBe("warn"));
    await redis.start();
    // Published while the subscriber may still be reconnecting: the resync on resubscribe covers it.
    await eventually(() => publishSnapshot(publisher, [fogisMatch({ matchid: 1002 })], 2));

    await eventually(async () => expect(await feedMatchIds(t)).toEqual([1002]));
    await subscribed(t, 8000);
    // The resubscribe's resync finishes a moment after the subscription.
    await eventually(() => expect(resyncCount(t)).toBeGreaterThan(resyncsBefore));

    expect(await publishSnapshot(publisher, [fogisMatch({ matchid: 1003 })], 3)).toBe(1);
    await eventually(async () => expect(await feedMatchIds(t)).toEqual([1003]));
  });

  it("notices a frozen Redis within 10 s by its heartbeat, and recovers when it thaws", async () => {
    const { redis, publisher, t } = await rig.start({ owned: true });
    await subscribed(t);

    await redis.pause();
    const frozenAt = Date.now();
    await eventually(async () => expect((await redisStatus(t)).status).not.toBe("pass"), 10_000);
    expect(Date.now() - frozenAt).toBeLessThan(10_000);
    expect((await request(t.service.app).get("/health")).status).toBe(200);
    expect(t.service.stats.heartbeatMisses).toBeGreaterThanOrEqual(2);

    await redis.resume();
    await subscribed(t, 8000);
    expect(await publishSnapshot(publisher, [fogisMatch({ matchid: 1001 })], 1)).toBe(1);
    await eventually(async () => expect(await feedMatchIds(t)).toEqual([1001]));
  });

  it("counts garbage, wrong-type and oversized messages, keeps running, and applies the next valid one", async () => {
    const { publisher, t } = await rig.start({ env: { MAX_BODY_BYTES: "16384" } });
    await subscribed(t);
    const oversized = createMatchUpdatesEnvelope({
      source: "match-processor",
      matches: Array.from({ length: 20 }, (_, i) => fogisMatch({ matchid: 2000 + i })),
    });
    await publisher.publish(channels.matchUpdates, "{garbage");
    await publisher.publish(channels.matchUpdates, JSON.stringify({ type: "match_update_v9", payload: {} }));
    await publisher.publish(
      channels.matchUpdates,
      JSON.stringify({ ...pythonMatchUpdatesEnvelope([]), payload: { matches: "not a list" } }),
    );
    await publisher.publish(channels.matchUpdates, encodeEnvelope(oversized));
    await publisher.publish(
      channels.systemAlerts,
      encodeEnvelope(
        createSystemAlertEnvelope({
          source: "match-processor",
          alertType: "fogis_down",
          severity: "error",
          message: "FOGIS unreachable",
        }),
      ),
    );
    await publisher.publish(
      channels.matchUpdates,
      JSON.stringify(pythonMatchUpdatesEnvelope([fogisMatch({ matchid: 1001 })])),
    );

    await eventually(async () => expect(await feedMatchIds(t)).toEqual([1001]));
    // The counters follow the feed by a moment (the apply shows the calendar, then is counted).
    const stats = await eventually(async () => {
      const stats = (await request(t.service.app).get("/redis-stats")).body.stats;
      expect(stats).toMatchObject({ messages_received: 6, messages_failed: 4, messages_processed: 2 });
      return stats;
    });
    expect(stats.invalid_by_reason).toEqual({
      not_json: 1,
      unknown_type: 1,
      invalid_envelope: 1,
      too_large: 1,
    });
    expect(stats.last_alert).toMatchObject({ alert_type: "fogis_down", severity: "error" });
    expect((await redisStatus(t)).status).toBe("pass");
  });

  it("answers /redis-test with a measured round trip and /redis-restart by resubscribing", async () => {
    const { t } = await rig.start();
    await subscribed(t);
    const probe = await request(t.service.app).post("/redis-test").set("Authorization", `Bearer ${TOKEN}`);
    expect(probe.status).toBe(200);
    expect(probe.body.success).toBe(true);
    expect(probe.body.latency_ms).toBeGreaterThan(0);
    expect(probe.body.latency_ms).toBeLessThan(1000);

    const resyncsBefore = resyncCount(t);
    const restart = await request(t.service.app)
      .post("/redis-restart")
      .set("Authorization", `Bearer ${TOKEN}`);
    expect(restart.status).toBe(200);
    expect(restart.body).toMatchObject({ success: true, subscribed: true });
    await eventually(() => expect(resyncCount(t)).toBeGreaterThan(resyncsBefore));
  });
});
