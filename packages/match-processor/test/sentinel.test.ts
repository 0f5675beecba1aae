import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { latestEnvelopeKey } from "@fogis/message-schema";
import { fogisMatch, fogisMatchList, startSentinelGroup } from "@fogis/testing";
import { Redis } from "ioredis";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { loadProcessorConfig } from "../src/config.js";
import { createMatchProcessorService } from "../src/service.js";
import { cleanupAfterEach, Subscriber, SyncReceiver, silentLogger, TOKEN, tempDir } from "./helpers.js";

/**
 * The processor behind Redis Sentinel (DESIGN §14), with real redis-server and redis-sentinel
 * processes: it publishes to the master the sentinels name, falls back to HTTP while a failover
 * runs, and is back on pub/sub through the promoted replica by itself.
 */

const cleanup = cleanupAfterEach();

describe("match-processor with Redis Sentinel", () => {
  it("publishes through the master, falls back to HTTP during a failover, then publishes through the new master; /redis-status tells which and counts the failover", async () => {
    const group = await startSentinelGroup({ sentinels: 1, downAfterMs: 500, failoverTimeoutMs: 2000 });
    cleanup.push(() => group.close());
    const calendar = await new SyncReceiver().start();
    cleanup.push(() => calendar.stop());
    const dataDir = tempDir();
    const matchFile = join(dataDir, "matches.json");
    const matches = fogisMatchList(2);
    writeFileSync(matchFile, JSON.stringify(matches));
    const config = loadProcessorConfig({
      ...group.env(),
      API_TOKEN: TOKEN,
      DATA_DIR: dataDir,
      MATCH_SOURCE_FILE: matchFile,
      SERVICE_INTERVAL: "0",
      CALENDAR_SYNC_URL: calendar.url,
    });
    const service = await createMatchProcessorService({ config, logger: silentLogger });
    cleanup.push(() => service.stop());
    await service.start();
    const firstMaster = await group.masterPort();
    await service.link?.waitUntilUp(5000);

    const first = await subscribe(firstMaster, config.channels);
    cleanup.push(() => first.close());
    const cycle = async () =>
      (await request(service.app).post("/process").set("authorization", `Bearer ${TOKEN}`)).body;
    expect(await cycle()).toMatchObject({ delivery: { route: "redis", receivers: 1, sequence: 1 } });
    const status = (await request(service.app).get("/redis-status")).body;
    expect(status).toMatchObject({
      status: "pass",
      redis_connection: {
        mode: "sentinel",
        sentinels: group.sentinelList.split(","),
        sentinel_name: "fogis",
        master: `127.0.0.1:${firstMaster}`,
        connected: true,
        failovers_seen: 0,
      },
    });

    await group.node(firstMaster).kill();
    await expect.poll(() => service.link?.isUp, { timeout: 3000 }).toBe(false);
    writeFileSync(matchFile, JSON.stringify([...matches, fogisMatch({ matchid: 7_100_001 })]));
    // While the sentinels agree on a new master, the snapshot goes over HTTP (the same second).
    expect(await cycle()).toMatchObject({ delivery: { route: "http", confirmed: true, sequence: 2 } });
    expect((await request(service.app).get("/redis-status")).body).toMatchObject({
      status: "warn",
      delivery_path: "http",
    });

    const newMaster = await group.waitForFailover(firstMaster, 20_000);
    // Up on the new master (an "up" before the failover's end may still be dropped by its +switch-master).
    await expect
      .poll(() => service.link?.isUp && service.link.master, { timeout: 10_000 })
      .toBe(`127.0.0.1:${newMaster}`);
    // The snapshot that went over HTTP is put into the new master's key for subscribers to resync from.
    const direct = new Redis({ port: newMaster, lazyConnect: true });
    cleanup.push(async () => direct.disconnect());
    await expect
      .poll(
        async () =>
          JSON.parse((await direct.get(latestEnvelopeKey(config.channels))) ?? "null")?.payload?.metadata
            ?.sequence,
      )
      .toBe(2);
    const second = await subscribe(newMaster, config.channels);
    cleanup.push(() => second.close());
    // The link can find the new master a moment before the sentinel's +switch-master reaches it,
    // which reconnects it once more (seen under load): a cycle in that moment goes over HTTP, as
    // it should, and the next one is back on Redis.
    let back = await cycle();
    let extraHttp = 0;
    const deadline = Date.now() + 15_000;
    while (back.delivery?.route !== "redis" && Date.now() < deadline) {
      expect(back.delivery).toMatchObject({ route: "http", confirmed: true });
      extraHttp += 1;
      await service.link?.waitUntilUp(5000);
      back = await cycle();
    }
    expect(back).toMatchObject({
      publish_reason: "redis_recovered",
      delivery: { route: "redis", receivers: 1, sequence: 3 + extraHttp },
    });
    expect((await request(service.app).get("/redis-status")).body).toMatchObject({
      status: "pass",
      redis_connection: {
        master: `127.0.0.1:${newMaster}`,
        failovers_seen: 1,
        last_failover: { from: `127.0.0.1:${firstMaster}`, to: `127.0.0.1:${newMaster}` },
      },
      delivery: {
        envelopes_created: 3 + extraHttp,
        delivered_via_redis: 2,
        delivered_via_http: 1 + extraHttp,
        pending: 0,
      },
    });
  });

  it("stops at start with a readable message when only one of REDIS_SENTINELS and REDIS_SENTINEL_NAME is set", () => {
    expect(() => loadProcessorConfig({ API_TOKEN: TOKEN, REDIS_SENTINELS: "sentinel-1:26379" })).toThrow(
      /match-processor: invalid configuration\n {2}- REDIS_SENTINEL_NAME: is required with REDIS_SENTINELS/,
    );
  });
});

async function subscribe(
  port: number,
  channels: import("@fogis/message-schema").Channels,
): Promise<Subscriber> {
  return Subscriber.start(`redis://127.0.0.1:${port}`, channels);
}
