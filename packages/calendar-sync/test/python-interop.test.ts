import {
  createMatchUpdatesEnvelope,
  DEFAULT_CHANNELS,
  encodeSyncBody,
  type Match,
  snapshotHash,
} from "@fogis/message-schema";
import { fogisMatch, pythonMatchUpdatesEnvelope } from "@fogis/testing";
import request from "supertest";
import { describe, expect, it } from "vitest";
import {
  eventually,
  manualSync,
  parseFeed,
  subscriberRigPerTest,
  type TestService,
  TOKEN,
} from "./helpers.js";

/**
 * Drop-in for the Python stack (DESIGN §4): what the live Python match-list-processor publishes
 * (integer `match_id`, eleven detailed changes per new match, `+00:00` microsecond timestamps,
 * `schema_version` in the payload or at the top) reaches the calendar over Redis and over
 * POST /manual-sync, and a malformed informational part is counted, never a lost snapshot.
 */

// biome-ignore lint/suspicious/noExplicitAny: these tests edit envelopes as plain JSON, at any depth
type Json = Record<string, any>;

const rig = subscriberRigPerTest();

const auth = { Authorization: `Bearer ${TOKEN}` };

/** A first list of four, as in the captured envelope: 44 detailed changes. */
function firstList(): Match[] {
  return [
    fogisMatch({
      matchid: 6_300_001,
      date: "2026-12-05",
      time: "17:00",
      home: "IFK Göteborg",
      away: "Falkenbergs FF",
    }),
    fogisMatch({ matchid: 6_300_002, date: "2026-12-06", time: "15:00", home: "BK Häcken", away: "GAIS" }),
    fogisMatch({ matchid: 6_300_003, date: "2026-12-12", time: "13:00", cancelled: true }),
    fogisMatch({ matchid: 6_300_004, date: "2026-12-13", time: "19:00" }),
  ];
}

async function feed(service: TestService) {
  return parseFeed((await request(service.service.app).get("/calendar.ics")).text).events;
}

async function feedIds(service: TestService): Promise<number[]> {
  return (await feed(service))
    .map((e) => Number(/fogis-match-(\d+)@/.exec(e.uid)?.[1]))
    .sort((a, b) => a - b);
}

async function stats(service: TestService) {
  return (await request(service.service.app).get("/redis-stats")).body.stats;
}

async function subscribedService() {
  const { publisher, t: service } = await rig.start();
  await eventually(async () => {
    expect((await request(service.service.app).get("/redis-status")).body.status).toBe("pass");
  });
  return { publisher, t: service };
}

describe("what the Python processor publishes", () => {
  it("over Redis: a first list with 44 detailed changes and integer match ids reaches the calendar", async () => {
    const { publisher, t } = await subscribedService();
    const envelope = pythonMatchUpdatesEnvelope(firstList());
    expect(envelope.payload.detailed_changes).toHaveLength(44);
    expect(await publisher.publish(DEFAULT_CHANNELS.matchUpdates, JSON.stringify(envelope))).toBe(1);

    await eventually(async () =>
      expect(await feedIds(t)).toEqual([6_300_001, 6_300_002, 6_300_003, 6_300_004]),
    );
    const events = await feed(t);
    expect(events.find((e) => e.uid.includes("6300001"))?.start.toISOString()).toBe(
      "2026-12-05T16:00:00.000Z",
    );
    expect(events.find((e) => e.uid.includes("6300003"))?.status).toBe("CANCELLED");
    await eventually(async () => expect((await stats(t)).messages_processed).toBe(1));
    expect(await stats(t)).toMatchObject({
      messages_failed: 0,
      invalid_by_reason: {},
      envelope_parts_dropped: {},
    });
  });

  it("over Redis: schema_version at the top level, and a new assignment later", async () => {
    const { publisher, t } = await subscribedService();
    const list = firstList();
    await publisher.publish(
      DEFAULT_CHANNELS.matchUpdates,
      JSON.stringify(pythonMatchUpdatesEnvelope(list.slice(0, 2), { schemaVersionAt: "top" })),
    );
    await eventually(async () => expect(await feedIds(t)).toEqual([6_300_001, 6_300_002]));
    const added = list[3] as Match;
    await publisher.publish(
      DEFAULT_CHANNELS.matchUpdates,
      JSON.stringify(pythonMatchUpdatesEnvelope([...list.slice(0, 2), added], { newMatches: [added] })),
    );
    await eventually(async () => expect(await feedIds(t)).toEqual([6_300_001, 6_300_002, 6_300_004]));
    expect((await stats(t)).messages_failed).toBe(0);
  });

  it("through POST /manual-sync: the same envelope is applied", async () => {
    const t = await rig.withoutRedis();
    const response = await manualSync(t, pythonMatchUpdatesEnvelope(firstList()));
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ success: true, status: "applied", created: 4 });
    expect(await feedIds(t)).toEqual([6_300_001, 6_300_002, 6_300_003, 6_300_004]);
  });

  it("a malformed detailed change or flag is dropped and counted (/redis-stats, /metrics); the snapshot is applied", async () => {
    const { publisher, t } = await subscribedService();
    const envelope = pythonMatchUpdatesEnvelope(firstList()) as Json;
    delete envelope.payload.detailed_changes[5].match_id;
    envelope.payload.detailed_changes[6] = "not a change";
    envelope.payload.high_priority = "yes";
    await publisher.publish(DEFAULT_CHANNELS.matchUpdates, JSON.stringify(envelope));
    await eventually(async () => expect(await feedIds(t)).toHaveLength(4));

    const viaHttp = pythonMatchUpdatesEnvelope(firstList().slice(0, 1)) as Json;
    viaHttp.payload.metadata = "not metadata";
    const response = await manualSync(t, viaHttp);
    expect(response.status).toBe(200);
    expect(await feedIds(t)).toEqual([6_300_001]);

    await eventually(async () =>
      expect(await stats(t)).toMatchObject({
        messages_failed: 0,
        invalid_by_reason: {},
        envelope_parts_dropped: {
          "payload.detailed_changes": 2,
          "payload.high_priority": 1,
          "payload.metadata": 1,
        },
      }),
    );
    const metrics = (await request(t.service.app).get("/metrics")).text;
    expect(metrics).toMatch(
      /^fogis_calendar_envelope_parts_dropped_total\{part="payload\.detailed_changes"[^}]*\} 2$/m,
    );
    expect(metrics).toMatch(
      /^fogis_calendar_envelope_parts_dropped_total\{part="payload\.metadata"[^}]*\} 1$/m,
    );
  });
});

describe("what our processor sends over HTTP", () => {
  it("the fallback body (envelope + top-level matches) is applied, with its sequence and hash", async () => {
    const t = await rig.withoutRedis();
    const app = t.service.app;
    const matches = firstList();
    const envelope = createMatchUpdatesEnvelope({
      source: "match-processor",
      matches,
      sequence: 41,
      snapshotHash: snapshotHash(matches),
    });
    const send = () =>
      request(app)
        .post("/manual-sync")
        .set(auth)
        .set("Content-Type", "application/json")
        .send(encodeSyncBody(envelope));
    const first = await send();
    expect(first.body).toMatchObject({ success: true, status: "applied", created: 4 });
    expect(await stats(t)).toMatchObject({ last_sequence: 41, messages_failed: 0 });
    // The hash travelled too: the same snapshot again is recognised without work.
    expect((await send()).body).toMatchObject({ success: true, status: "skipped" });
  });
});
