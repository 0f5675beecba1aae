import {
  createMatchUpdatesEnvelope,
  DEFAULT_CHANNELS,
  encodeEnvelope,
  latestEnvelopeKey,
  type Match,
} from "@fogis/message-schema";
import { fogisMatch, startSentinelGroup } from "@fogis/testing";
import { Redis } from "ioredis";
import request from "supertest";
import { afterEach, describe, expect, it } from "vitest";
import { eventually, parseFeed, startTestService, type TestService } from "./helpers.js";

/**
 * calendar-sync behind Redis Sentinel (DESIGN §14), with real redis-server and redis-sentinel
 * processes: it subscribes on the master the sentinels name, and after a failover resubscribes on
 * the promoted replica and resyncs from the latest envelope there.
 */

const PASSWORD = "data-node-password-91c3";
const SENTINEL_PASSWORD = "sentinel-password-0e7f";
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

function envelope(matches: Match[], sequence: number): string {
  return encodeEnvelope(
    createMatchUpdatesEnvelope({
      source: "match-processor",
      matches,
      sequence,
      snapshotHash: `hash-${sequence}`,
    }),
  );
}

async function feedMatchIds(t: TestService): Promise<number[]> {
  const { events } = parseFeed((await request(t.service.app).get("/calendar.ics")).text);
  return events.map((event) => Number(/fogis-match-(\d+)@/.exec(event.uid)?.[1])).sort((a, b) => a - b);
}

describe("calendar-sync with Redis Sentinel", () => {
  it("subscribes through the master, and after a failover resubscribes on the new one and resyncs from its key", async () => {
    const group = await startSentinelGroup({
      sentinels: 1,
      downAfterMs: 500,
      failoverTimeoutMs: 2000,
      password: PASSWORD,
      sentinelPassword: SENTINEL_PASSWORD,
    });
    cleanup.push(() => group.close());
    const t = await startTestService({ env: group.env() });
    cleanup.push(() => t.close());
    const firstMaster = await group.masterPort();
    const status = async () => (await request(t.service.app).get("/redis-status")).body;
    await eventually(async () => expect((await status()).status).toBe("pass"));
    expect((await status()).redis_connection).toMatchObject({
      mode: "sentinel",
      master: `127.0.0.1:${firstMaster}`,
      failovers_seen: 0,
    });

    const master = new Redis({
      port: firstMaster,
      password: PASSWORD,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    master.on("error", () => {});
    cleanup.push(async () => master.disconnect());
    const key = latestEnvelopeKey(DEFAULT_CHANNELS);
    const first = fogisMatch({ matchid: 6_300_001 });
    await master
      .multi()
      .set(key, envelope([first], 1))
      .publish(DEFAULT_CHANNELS.matchUpdates, envelope([first], 1))
      .exec();
    await eventually(async () => expect(await feedMatchIds(t)).toEqual([6_300_001]));

    // A snapshot this subscriber never got as a message: only the key (replicated) holds it.
    const second = fogisMatch({ matchid: 6_300_002 });
    await master.set(key, envelope([first, second], 2));
    expect(await master.call("WAIT", "1", "2000")).toBe(1);
    const resyncsBefore = t.service.stats.resyncs.redis;
    await group.node(firstMaster).kill();
    const newMaster = await group.waitForFailover(firstMaster, 20_000);

    await eventually(async () => expect(await feedMatchIds(t)).toEqual([6_300_001, 6_300_002]), 15_000);
    expect(t.service.stats.resyncs.redis).toBeGreaterThan(resyncsBefore);
    await eventually(async () =>
      expect(await status()).toMatchObject({
        status: "pass",
        redis_connection: {
          master: `127.0.0.1:${newMaster}`,
          failovers_seen: 1,
          last_failover: { from: `127.0.0.1:${firstMaster}`, to: `127.0.0.1:${newMaster}` },
        },
        command_connection_master: `127.0.0.1:${newMaster}`,
      }),
    );

    const config = await request(t.service.app).get("/redis-config");
    expect(config.body.redis_config).toMatchObject({
      mode: "sentinel",
      url: "redis://:***@127.0.0.1:6379",
      sentinels: group.sentinelList.split(","),
      sentinel_name: "fogis",
      sentinel_password: "***",
    });
    expect(config.text).not.toContain(PASSWORD);
    expect(config.text).not.toContain(SENTINEL_PASSWORD);
  });
});
