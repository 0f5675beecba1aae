import { fogisMatch, pythonMatchUpdatesEnvelope } from "@fogis/testing";
import request from "supertest";
import { afterEach, describe, expect, it } from "vitest";
import { manualSync, parseFeed, startTestService, type TestService, TOKEN } from "./helpers.js";

/** The HTTP surface the processor's fallback, scripts and users rely on (DESIGN §8). */

let t: TestService | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const auth = { Authorization: `Bearer ${TOKEN}` };

async function stats(service: TestService) {
  return (await request(service.service.app).get("/redis-stats")).body.stats;
}

describe("POST /manual-sync", () => {
  it("applies an envelope, {matches}, or a bare list, and answers what changed", async () => {
    t = await startTestService();
    const app = t.service.app;
    const first = await request(app)
      .post("/manual-sync")
      .set(auth)
      .send(pythonMatchUpdatesEnvelope([fogisMatch({ matchid: 1001 }), fogisMatch({ matchid: 1002 })]));
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      success: true,
      status: "applied",
      created: 2,
      updated: 0,
      removed: 0,
    });

    const second = await request(app)
      .post("/manual-sync")
      .set(auth)
      .send({ matches: [fogisMatch({ matchid: 1001, venue: "Ny arena" })] });
    expect(second.body).toMatchObject({
      status: "applied",
      created: 0,
      updated: 1,
      removed: 1,
      unchanged: 0,
    });

    const third = await request(app)
      .post("/manual-sync")
      .set(auth)
      .send([fogisMatch({ matchid: 1001, venue: "Ny arena" })]);
    expect(third.body).toMatchObject({
      status: "unchanged",
      created: 0,
      updated: 0,
      removed: 0,
      unchanged: 1,
    });

    const { events } = parseFeed((await request(app).get("/calendar.ics")).text);
    expect(events.map((e) => [e.uid, e.location])).toEqual([["fogis-match-1001@fogis-realtime", "Ny arena"]]);
    expect(await stats(t)).toMatchObject({
      messages_received: 3,
      messages_processed: 3,
      messages_failed: 0,
      received_by_origin: { http: 3, redis: 0 },
    });
  });

  it("answers 401 without the bearer token and changes nothing", async () => {
    t = await startTestService();
    const body = pythonMatchUpdatesEnvelope([fogisMatch({ matchid: 1001 })]);
    const missing = await request(t.service.app).post("/manual-sync").send(body);
    expect(missing.status).toBe(401);
    const wrong = await request(t.service.app)
      .post("/manual-sync")
      .set("Authorization", "Bearer not-the-token-at-all")
      .send(body);
    expect(wrong.status).toBe(401);
    expect(parseFeed((await request(t.service.app).get("/calendar.ics")).text).events).toHaveLength(0);
  });

  it("answers 400 with the reason for invalid bodies, counts them by reason, and keeps working", async () => {
    t = await startTestService();
    const app = t.service.app;
    const badMatch = await request(app)
      .post("/manual-sync")
      .set(auth)
      .send({ matches: [{ matchid: "6186203", lag1namn: "A" }] });
    expect(badMatch.status).toBe(400);
    expect(badMatch.body.success).toBe(false);
    expect(badMatch.body.code).toBe("invalid_envelope");
    expect(badMatch.body.error).toMatch(/payload\.matches\.0\.matchid/);

    const notJson = await request(app)
      .post("/manual-sync")
      .set(auth)
      .set("Content-Type", "application/json")
      .send("{not json");
    expect(notJson.status).toBe(400);
    expect(notJson.body.error).toMatch(/not valid JSON/);

    const status = await request(app)
      .post("/manual-sync")
      .set(auth)
      .send({
        message_id: "x",
        timestamp: "t",
        source: "s",
        version: "1.0",
        type: "processing_status",
        payload: { status: "ok" },
      });
    expect(status.status).toBe(400);
    expect(status.body.error).toMatch(/expected a match_updates envelope/);

    const good = await request(app)
      .post("/manual-sync")
      .set(auth)
      .send([fogisMatch({ matchid: 1001 })]);
    expect(good.status).toBe(200);

    const counted = await stats(t);
    expect(counted.invalid_by_reason).toEqual({ invalid_envelope: 1, not_json: 1, unknown_type: 1 });
    expect(counted).toMatchObject({ messages_received: 4, messages_failed: 3, messages_processed: 1 });
    const metrics = (await request(app).get("/metrics")).text;
    expect(metrics).toMatch(
      /fogis_calendar_messages_invalid_total\{reason="invalid_envelope",service="calendar-sync"\} 1/,
    );
  });

  it("answers 413 over the body limit", async () => {
    t = await startTestService({ env: { MAX_BODY_BYTES: "4096" } });
    const big = pythonMatchUpdatesEnvelope(
      Array.from({ length: 10 }, (_, i) => fogisMatch({ matchid: 1000 + i })),
    );
    const response = await manualSync(t, big);
    expect(response.status).toBe(413);
    expect(response.body.success).toBe(false);
    expect((await stats(t)).invalid_by_reason).toEqual({ too_large: 1 });
    const small = await manualSync(t, [fogisMatch({ matchid: 1 })]);
    expect(small.status).toBe(200);
  });
});

describe("status endpoints", () => {
  it("reports pass over HTTP alone when pub/sub is switched off, and refuses the Redis probes", async () => {
    t = await startTestService({ env: { REDIS_PUBSUB_ENABLED: "false" } });
    const app = t.service.app;
    const status = await request(app).get("/redis-status");
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({
      success: true,
      status: "pass",
      redis_status: { enabled: false, connected: false, subscribed: false, redis_available: false },
      delivery_path: "http",
    });
    expect((await request(app).post("/redis-test").set(auth)).status).toBe(503);
    expect((await request(app).post("/redis-restart").set(auth)).status).toBe(409);
    expect((await request(app).post("/redis-test")).status).toBe(401);
  });

  it("reports warn, not fail, while Redis is unreachable, and /health stays 200", async () => {
    t = await startTestService({ env: { REDIS_URL: "redis://127.0.0.1:9/0" } });
    const app = t.service.app;
    const status = await request(app).get("/redis-status");
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({
      status: "warn",
      redis_status: { enabled: true, connected: false, subscribed: false },
    });
    const health = await request(app).get("/health");
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: "healthy", calendar: { events: 0 } });
    expect((await request(app).post("/redis-test").set(auth)).status).toBe(503);
  });

  it("shows the Redis config without secrets", async () => {
    t = await startTestService({
      env: {
        REDIS_URL: "redis://:s3cret-password@127.0.0.1:9/0",
        REDIS_MATCH_UPDATES_CHANNEL: "test:updates",
      },
    });
    const response = await request(t.service.app).get("/redis-config");
    expect(response.status).toBe(200);
    expect(response.body.redis_config).toMatchObject({
      enabled: true,
      url: "redis://:***@127.0.0.1:9/0",
      channels: {
        matchUpdates: "test:updates",
        processorStatus: "fogis:processor:status",
        systemAlerts: "fogis:system:alerts",
      },
      latest_envelope_key: "test:updates:latest",
      heartbeat_interval_ms: 2500,
    });
    expect(response.text).not.toContain("s3cret");
    expect(response.text).not.toContain(TOKEN);
  });

  it("protects the feeds with FEED_TOKEN when one is set", async () => {
    t = await startTestService({ env: { FEED_TOKEN: "feed-token-0123456789" } });
    const app = t.service.app;
    expect((await request(app).get("/calendar.ics")).status).toBe(401);
    expect((await request(app).get("/contacts.vcf?token=wrong")).status).toBe(401);
    const ok = await request(app).get("/calendar.ics?token=feed-token-0123456789");
    expect(ok.status).toBe(200);
    expect(ok.text).toContain("BEGIN:VCALENDAR");
  });
});
