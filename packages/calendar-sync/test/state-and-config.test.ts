import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMatchUpdatesEnvelope } from "@fogis/message-schema";
import { ConfigError } from "@fogis/runtime";
import { answerEndlessly, type EndlessAnswer, fogisMatch, pythonMatchUpdatesEnvelope } from "@fogis/testing";
import request from "supertest";
import { afterEach, describe, expect, it } from "vitest";
import { sequenceAt } from "../src/calendar-backend.js";
import { loadCalendarSyncConfig } from "../src/config.js";
import {
  capturingLogger,
  eventually,
  manualSync,
  parseFeed,
  startTestService,
  type TestService,
  TOKEN,
} from "./helpers.js";

const dirs: string[] = [];
const services: TestService[] = [];
afterEach(async () => {
  for (const service of services.splice(0)) await service.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "calendar-sync-state-"));
  dirs.push(dir);
  return dir;
}

async function service(options: Parameters<typeof startTestService>[0]) {
  const started = await startTestService(options);
  services.push(started);
  return started;
}

describe("configuration", () => {
  it("stops with a message naming every bad variable and what it should be, never a value", () => {
    let error: unknown;
    try {
      loadCalendarSyncConfig({
        PORT: "http",
        REDIS_URL: "localhost:6379",
        PROCESSOR_URL: "match-processor:8000",
        MAX_BODY_BYTES: "25mb",
        REDIS_PUBSUB_ENABLED: "maybe",
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/^calendar-sync: invalid configuration/);
    expect(message).toMatch(/API_TOKEN: is required/);
    expect(message).toMatch(/PORT: expected a whole number from 0 to 65535/);
    expect(message).toMatch(/REDIS_URL: expected redis:\/\//);
    expect(message).toMatch(/PROCESSOR_URL: expected http\(s\):\/\/host:port/);
    expect(message).toMatch(/MAX_BODY_BYTES: expected a whole number/);
    expect(message).toMatch(/REDIS_PUBSUB_ENABLED: expected true or false/);
    expect(message).not.toContain("localhost:6379");
  });

  it("fills in the documented defaults", () => {
    const config = loadCalendarSyncConfig({ API_TOKEN: TOKEN, USER_REFEREE_NUMBER: " 61318 " });
    expect(config).toMatchObject({
      port: 5003,
      processorUrl: "http://127.0.0.1:8000",
      maxBodyBytes: 25 * 1024 * 1024,
      ownRefereeNumber: "61318",
      redis: {
        enabled: true,
        url: "redis://127.0.0.1:6379",
        channels: {
          matchUpdates: "fogis:matches:updates",
          processorStatus: "fogis:processor:status",
          systemAlerts: "fogis:system:alerts",
        },
      },
    });
  });
});

describe("state files", () => {
  it("keeps the calendar and phonebook across a restart, and the same snapshot stays a no-op", async () => {
    const dataDir = tempDir();
    const snapshot = pythonMatchUpdatesEnvelope([
      fogisMatch({ matchid: 1001 }),
      fogisMatch({ matchid: 1002 }),
    ]);
    const first = await service({ dataDir, now: "2026-11-20T12:00:00Z" });
    await manualSync(first, snapshot);
    await manualSync(
      first,
      pythonMatchUpdatesEnvelope([
        fogisMatch({ matchid: 1001, time: "19:00" }),
        fogisMatch({ matchid: 1002 }),
      ]),
    );
    const feedBefore = (await request(first.service.app).get("/calendar.ics")).text;
    const contactsBefore = (await request(first.service.app).get("/contacts.vcf")).text;
    await first.close();

    const second = await service({ dataDir, now: "2026-11-21T12:00:00Z" });
    expect((await request(second.service.app).get("/calendar.ics")).text).toBe(feedBefore);
    expect((await request(second.service.app).get("/contacts.vcf")).text).toBe(contactsBefore);
    // 1002 as created; 1001 created and updated within the same second: one higher.
    const created = sequenceAt(new Date("2026-11-20T12:00:00Z"));
    expect(parseFeed(feedBefore).events.map((event) => event.sequence)).toEqual([created, created + 1]);

    const again = await manualSync(
      second,
      pythonMatchUpdatesEnvelope([
        fogisMatch({ matchid: 1001, time: "19:00" }),
        fogisMatch({ matchid: 1002 }),
      ]),
    );
    expect(again.body).toMatchObject({ status: "unchanged", unchanged: 2 });
    expect((await request(second.service.app).get("/calendar.ics")).text).toBe(feedBefore);
  });

  it("after a restart still refuses a resync from an envelope older than the stored calendar", async () => {
    const dataDir = tempDir();
    const snapshot = (sequence: number, time: string, at: string) =>
      createMatchUpdatesEnvelope({
        source: "match-processor",
        matches: [fogisMatch({ matchid: 2001, time })],
        sequence,
        now: new Date(at),
      });
    const first = await service({ dataDir });
    await manualSync(first, snapshot(5, "19:00", "2026-11-20T10:05:00Z")).expect(200);
    const feedBefore = (await request(first.service.app).get("/calendar.ics")).text;
    await first.close();

    // The processor (or the Redis key) still hands out snapshot 3, from before snapshot 5.
    let asked = 0;
    const older = snapshot(3, "15:00", "2026-11-20T10:03:00Z");
    const second = await service({
      dataDir,
      fetch: async () => {
        asked += 1;
        return new Response(JSON.stringify(older), { headers: { "content-type": "application/json" } });
      },
    });
    await eventually(() => expect(asked).toBeGreaterThan(0));
    await second.service.resync("test");
    expect((await request(second.service.app).get("/calendar.ics")).text).toBe(feedBefore);
    expect(parseFeed(feedBefore).events[0]?.start.toISOString()).toBe("2026-12-05T18:00:00.000Z");
  });

  it("reports corrupt state files, starts empty, and rebuilds them from the processor's latest envelope", async () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, "calendar.json"), '{"version":1,"events":[{"uid":');
    writeFileSync(join(dataDir, "contacts.json"), '{"version":7}');
    const latest = pythonMatchUpdatesEnvelope([fogisMatch({ matchid: 1001 })]);
    const asked: string[] = [];
    const processor: typeof fetch = async (input) => {
      asked.push(String(input));
      return new Response(JSON.stringify(latest), { headers: { "Content-Type": "application/json" } });
    };
    const t = await service({ dataDir, fetch: processor });

    const health = (await request(t.service.app).get("/health")).body;
    expect(health.state_files.calendar).toMatchObject({ state: "corrupt" });
    expect(health.state_files.contacts).toMatchObject({ state: "corrupt" });
    // The resync applies the calendar and then the phonebook: wait for both.
    await eventually(async () => {
      const { events } = parseFeed((await request(t.service.app).get("/calendar.ics")).text);
      expect(events.map((event) => event.uid)).toEqual(["fogis-match-1001@fogis-realtime"]);
      expect((await request(t.service.app).get("/contacts.vcf")).text).toContain("BEGIN:VCARD");
    });
    expect(asked).toContain("http://127.0.0.1:9/matches/latest");
    expect(t.service.stats.resyncs.http).toBe(1);
    // The phonebook is written just after the calendar.
    await eventually(async () =>
      expect((await request(t.service.app).get("/contacts.vcf")).text).toContain("BEGIN:VCARD"),
    );
    // Rebuilt: /health tells the files as they are now, and that they were corrupt at start.
    const after = (await request(t.service.app).get("/health")).body.state_files;
    expect(after.calendar).toMatchObject({ state: "ok", count: 1, at_start: { state: "corrupt" } });
    expect(after.contacts).toMatchObject({ state: "ok", at_start: { state: "corrupt" } });
  });

  it("reports state files missing at start as saved once the first snapshot wrote them", async () => {
    const t = await service({ dataDir: tempDir() });
    const before = (await request(t.service.app).get("/health")).body.state_files;
    expect(before.calendar).toEqual({ state: "missing" });
    await manualSync(t, [fogisMatch({ matchid: 1001 }), fogisMatch({ matchid: 1002 })]).expect(200);
    const after = (await request(t.service.app).get("/health")).body.state_files;
    expect(after.calendar).toMatchObject({ state: "ok", count: 2, at_start: { state: "missing" } });
    expect(after.contacts).toMatchObject({ state: "ok", at_start: { state: "missing" } });
    expect(Date.parse(after.calendar.saved_at)).not.toBeNaN();
  });

  it("stops reading a resync answer from the processor at the snapshot limit and fails the resync with the reason", async () => {
    let answer: EndlessAnswer | undefined;
    const processor = createServer((_req, res) => {
      answer = answerEndlessly(res, "x".repeat(64 * 1024));
    });
    await new Promise<void>((resolve) => processor.listen(0, "127.0.0.1", resolve));
    try {
      const port = (processor.address() as AddressInfo).port;
      const t = await service({
        start: false,
        env: { PROCESSOR_URL: `http://127.0.0.1:${port}`, MAX_BODY_BYTES: "1048576" },
      });
      const result = await t.service.resync("test");
      expect(result).toMatchObject({
        source: "failed",
        error: expect.stringMatching(/processor: .*over the limit of 1048576 bytes \(MAX_BODY_BYTES\)/),
      });
      expect(t.service.stats.toJSON()).toMatchObject({ invalid_by_reason: { too_large: 1 } });
      await eventually(() => expect(answer?.closedEarly).toBe(true));
      expect(answer?.written).toBeLessThan(16 * 1024 * 1024);
    } finally {
      processor.closeAllConnections();
      await new Promise((resolve) => processor.close(resolve));
    }
  });

  it("answers 500 when the calendar cannot be saved, so the processor sends the snapshot again", async () => {
    const dataDir = tempDir();
    mkdirSync(join(dataDir, "calendar.json")); // a directory where the state file should go
    const t = await service({ dataDir });
    const response = await manualSync(t, [fogisMatch({ matchid: 1001 })]);
    expect(response.status).toBe(500);
    expect(response.body).toMatchObject({ success: false, status: "failed" });
    expect(t.service.stats.toJSON()).toMatchObject({ snapshots_failed: 1, messages_failed: 1 });
    expect(parseFeed((await request(t.service.app).get("/calendar.ics")).text).events).toHaveLength(0);
  });
  it("shows a snapshot's calendar and phonebook together: when the phonebook cannot be saved, neither changes", async () => {
    const dataDir = tempDir();
    const t = await service({ dataDir });
    const sync = (matchids: number[]) =>
      manualSync(
        t,
        matchids.map((matchid) => fogisMatch({ matchid })),
      );
    expect((await sync([1001])).status).toBe(200);
    const feedBefore = (await request(t.service.app).get("/calendar.ics")).text;
    const contactsBefore = (await request(t.service.app).get("/contacts.vcf")).text;
    expect(contactsBefore).toContain("BEGIN:VCARD");

    // A directory where the phonebook's state file goes: the calendar saves, the phonebook cannot.
    rmSync(join(dataDir, "contacts.json"));
    mkdirSync(join(dataDir, "contacts.json"));
    expect((await sync([1001, 1002])).status).toBe(500);
    expect((await request(t.service.app).get("/calendar.ics")).text).toBe(feedBefore);
    expect((await request(t.service.app).get("/contacts.vcf")).text).toBe(contactsBefore);
    expect(t.service.stats.toJSON()).toMatchObject({ snapshots_failed: 1 });

    // Once it can be saved again, the same snapshot shows in both.
    rmSync(join(dataDir, "contacts.json"), { recursive: true });
    expect((await sync([1001, 1002])).status).toBe(200);
    const uids = parseFeed((await request(t.service.app).get("/calendar.ics")).text).events.map((e) => e.uid);
    expect(uids).toEqual(["fogis-match-1001@fogis-realtime", "fogis-match-1002@fogis-realtime"]);
  });
});

describe("start-up", () => {
  it("expects the processor not to answer while the stack starts (info), and warns once it should", async () => {
    const { logger, lines } = capturingLogger("info");
    // Nothing listens at the test service's PROCESSOR_URL: like a processor that is not up yet.
    const t = await service({ logger, now: "2026-11-20T12:00:00Z" });
    const failures = () =>
      lines
        .map((line) => JSON.parse(line) as { level: number; event?: string; starting?: boolean })
        .filter((line) => line.event === "resync_failed");
    await eventually(() => expect(failures()).toHaveLength(1));
    expect(failures()[0]).toMatchObject({ level: 30, starting: true });

    t.setNow("2026-11-20T12:01:00Z"); // the start is over
    await t.service.resync("poll");
    expect(failures()[1]).toMatchObject({ level: 40 });
    expect(failures()[1]?.starting).toBeUndefined();
  });
});

describe("HTTP-only mode (REDIS_PUBSUB_ENABLED=false)", () => {
  it("converges from the processor's GET /matches/latest at start and by polling", async () => {
    let latest = pythonMatchUpdatesEnvelope([fogisMatch({ matchid: 1001 })]);
    const processor: typeof fetch = async () => new Response(JSON.stringify(latest));
    const t = await service({ fetch: processor, env: { PROCESSOR_POLL_SECONDS: "1" } });
    const ids = async () =>
      parseFeed((await request(t.service.app).get("/calendar.ics")).text).events.map((event) => event.uid);
    await eventually(async () => expect(await ids()).toEqual(["fogis-match-1001@fogis-realtime"]));
    latest = pythonMatchUpdatesEnvelope([fogisMatch({ matchid: 1002 })]);
    await eventually(async () => expect(await ids()).toEqual(["fogis-match-1002@fogis-realtime"]));
  });
});
