import { fogisMatchList } from "@fogis/testing";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { createApp } from "../src/app.js";
import {
  cleanupAfterEach,
  ListSource,
  processorRig,
  type RigOptions,
  redisForFile,
  Subscriber,
  SyncReceiver,
  silentLogger,
  TOKEN,
} from "./helpers.js";

const redis = redisForFile();

const cleanup = cleanupAfterEach();

async function appWith(options: Partial<RigOptions> = {}) {
  const source = new ListSource(fogisMatchList(3));
  const rig = await processorRig({ redisUrl: redis.url, source, ...options });
  cleanup.push(() => rig.close());
  const app = createApp({
    processor: rig.processor,
    delivery: rig.delivery,
    apiToken: TOKEN,
    logger: silentLogger,
    redisUrl: "redis://127.0.0.1:6379",
  });
  return { app, rig, source };
}

async function calendarSync(): Promise<SyncReceiver> {
  const receiver = await new SyncReceiver().start();
  cleanup.push(() => receiver.stop());
  return receiver;
}

describe("POST /process", () => {
  it("answers 401 without a token or with a wrong one, and runs nothing", async () => {
    const { app, source } = await appWith();
    const missing = await request(app).post("/process").expect(401);
    expect(missing.body.error).toContain("missing Authorization");
    await request(app).post("/process").set("Authorization", "Bearer wrong-token-xxxxxxxx").expect(401);
    expect(source.fetches).toBe(0);
  });

  it("runs a cycle and answers its result: counts, route, sequence, receivers", async () => {
    const { app, rig } = await appWith();
    const subscriber = await Subscriber.start(redis.url, rig.channels);
    cleanup.push(() => subscriber.close());
    const response = await request(app).post("/process").set("Authorization", `Bearer ${TOKEN}`).expect(200);
    expect(response.body).toMatchObject({
      success: true,
      status: "completed",
      outcome: "delivered",
      trigger: "http",
      total_matches: 3,
      changes: { new: 3, updated: 0, removed: 0 },
      delivery: { route: "redis", confirmed: true, sequence: 1, receivers: 1 },
    });
  });

  it("?resend=true sends the unchanged snapshot again; a plain call after it sends nothing", async () => {
    const { app, rig } = await appWith();
    const subscriber = await Subscriber.start(redis.url, rig.channels);
    cleanup.push(() => subscriber.close());
    const auth = { Authorization: `Bearer ${TOKEN}` };
    await request(app).post("/process").set(auth).expect(200);
    const quiet = await request(app).post("/process").set(auth).expect(200);
    expect(quiet.body).toMatchObject({ outcome: "unchanged", delivery: { route: "none" } });
    const resent = await request(app).post("/process?resend=true").set(auth).expect(200);
    expect(resent.body).toMatchObject({
      outcome: "delivered",
      publish_reason: "resend",
      changes: { total: 0 },
      delivery: { route: "redis", sequence: 2 },
    });
    await expect.poll(() => subscriber.on(rig.channels.matchUpdates).length).toBe(2);
    expect((await request(app).post("/process").set(auth).expect(200)).body.outcome).toBe("unchanged");
  });

  it("answers 502 with the reason when the cycle fails", async () => {
    const { app, source } = await appWith();
    source.failure = new Error("FOGIS is down");
    const response = await request(app).post("/process").set("Authorization", `Bearer ${TOKEN}`).expect(502);
    expect(response.body).toMatchObject({ success: false, outcome: "source_failed", error: "FOGIS is down" });
  });

  it("/redis-status keeps when the list was last fetched, through a failing fetch (the page's 'last worked')", async () => {
    const calendar = await calendarSync();
    const { app, source } = await appWith({ fallbackUrl: calendar.url });
    const auth = { Authorization: `Bearer ${TOKEN}` };
    expect((await request(app).get("/redis-status")).body.last_successful_fetch).toBeNull();
    await request(app).post("/process").set(auth).expect(200);
    const fetched = (await request(app).get("/redis-status")).body.last_successful_fetch;
    expect(Date.parse(fetched)).toBeGreaterThan(Date.now() - 10_000);
    source.failure = new Error("FOGIS is down");
    await request(app).post("/process").set(auth).expect(502);
    const status = (await request(app).get("/redis-status")).body;
    expect(status.last_cycle).toMatchObject({ outcome: "source_failed", error: "FOGIS is down" });
    expect(status.last_successful_fetch).toBe(fetched);
    expect(status.latest_snapshot).toMatchObject({ sequence: 1, snapshot_hash: expect.any(String) });
  });
});

describe("GET /matches/latest", () => {
  it("answers 404 with a clear message before the first snapshot, then the latest envelope", async () => {
    const calendar = await calendarSync();
    const { app, rig } = await appWith({ fallbackUrl: calendar.url });
    const before = await request(app).get("/matches/latest").expect(404);
    expect(before.body.error).toContain("no snapshot yet");
    await request(app).post("/process").set("Authorization", `Bearer ${TOKEN}`).expect(200);
    const latest = await request(app).get("/matches/latest").expect(200);
    expect(latest.body).toEqual(rig.processor.latestEnvelope);
    expect(latest.body.payload.matches).toHaveLength(3);
    expect(latest.body.payload.metadata.sequence).toBe(1);
  });
});

describe("GET /health and /redis-status", () => {
  it("/health answers while Redis is unreachable (liveness only)", async () => {
    const { app } = await appWith({ redisUrl: "redis://127.0.0.1:1", waitForRedis: false });
    const response = await request(app).get("/health").expect(200);
    expect(response.body).toMatchObject({ status: "healthy", service: "match-processor" });
  });

  it("/redis-status: pass with Redis up, with delivery counters and no secrets", async () => {
    const calendar = await calendarSync();
    const { app } = await appWith({ fallbackUrl: calendar.url });
    await request(app).post("/process").set("Authorization", `Bearer ${TOKEN}`).expect(200);
    const response = await request(app).get("/redis-status").expect(200);
    expect(response.body).toMatchObject({
      success: true,
      status: "pass",
      redis_status: { enabled: true, connected: true, subscribed: false, redis_available: true },
      delivery_path: "redis",
      delivery: { envelopes_created: 1, delivered_via_http: 1, zero_receiver_publishes: 1, pending: 0 },
      last_cycle: { outcome: "delivered", route: "http", sequence: 1 },
      last_confirmed_delivery: { sequence: 1, route: "http" },
      fallback: { configured: true, lastAttemptOk: true },
    });
    expect(response.text).not.toContain(TOKEN);
  });

  it("/redis-status: warn when Redis is down but the fallback works, fail (503) when it does not", async () => {
    const calendar = await calendarSync();
    const { app } = await appWith({
      redisUrl: "redis://127.0.0.1:1",
      waitForRedis: false,
      fallbackUrl: calendar.url,
    });
    const warn = await request(app).get("/redis-status").expect(200);
    expect(warn.body).toMatchObject({
      status: "warn",
      delivery_path: "http",
      redis_status: { connected: false },
    });

    calendar.status = 500;
    await request(app).post("/process").set("Authorization", `Bearer ${TOKEN}`).expect(502);
    const fail = await request(app).get("/redis-status").expect(503);
    expect(fail.body).toMatchObject({ success: false, status: "fail", delivery_path: "none" });
    expect(fail.body.fallback.lastError).toContain("calendar-sync answered 500");
  });
});

describe("GET /metrics", () => {
  it("counts cycles, envelopes and how they were delivered", async () => {
    const calendar = await calendarSync();
    const { app, source } = await appWith({ fallbackUrl: calendar.url });
    await request(app).post("/process").set("Authorization", `Bearer ${TOKEN}`).expect(200);
    source.failure = new Error("down");
    await request(app).post("/process").set("Authorization", `Bearer ${TOKEN}`).expect(502);
    const text = (await request(app).get("/metrics").expect(200)).text;
    expect(text).toMatch(/fogis_processor_cycles_total\{result="delivered"[^}]*\} 1/);
    expect(text).toMatch(/fogis_processor_cycles_total\{result="source_failed"[^}]*\} 1/);
    expect(text).toMatch(/fogis_processor_envelopes_created_total\{[^}]*\} 1/);
    expect(text).toMatch(/fogis_processor_envelopes_delivered_total\{route="http"[^}]*\} 1/);
    expect(text).toMatch(/fogis_processor_envelopes_delivered_total\{route="redis"[^}]*\} 0/);
    expect(text).toMatch(/fogis_processor_zero_receiver_publishes_total\{[^}]*\} 1/);
    expect(text).toMatch(/fogis_processor_envelopes_superseded_total\{[^}]*\} 0/);
    expect(text).toMatch(/fogis_processor_delivery_failures_total\{[^}]*\} 0/);
  });
});

it("answers unknown routes with a JSON 404", async () => {
  const { app } = await appWith();
  const response = await request(app).get("/nope").expect(404);
  expect(response.body.error).toContain("GET /nope");
});
