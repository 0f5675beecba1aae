import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { decodeEnvelope, latestEnvelopeKey, type Match, snapshotHash } from "@fogis/message-schema";
import { fogisMatch, fogisMatchList } from "@fogis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileMatchSource, HttpMatchSource, type MatchSource } from "../src/sources.js";
import { STATE_FILES } from "../src/state-store.js";
import {
  cleanupAfterEach,
  ListSource,
  processorRig,
  type Rig,
  redisForFile,
  Subscriber,
  tempDir,
} from "./helpers.js";

const redis = redisForFile();

const cleanup = cleanupAfterEach();

async function rigWithSubscriber(source: MatchSource, dataDir?: string) {
  const rig = await processorRig({ redisUrl: redis.url, source, ...(dataDir ? { dataDir } : {}) });
  const subscriber = await Subscriber.start(redis.url, rig.channels);
  cleanup.push(
    () => rig.close(),
    () => subscriber.close(),
  );
  return { rig, subscriber };
}

function readState(rig: Rig): string[] {
  return [STATE_FILES.previousMatches, STATE_FILES.processorState].map((file) => {
    try {
      return readFileSync(join(rig.dataDir, file), "utf8");
    } catch {
      return "(missing)";
    }
  });
}

describe("a processing cycle", () => {
  it("publishes a full snapshot a plain subscriber receives and the Python subscriber can read; the Redis key holds it", async () => {
    const matches = fogisMatchList(3);
    const { rig, subscriber } = await rigWithSubscriber(new ListSource(matches));

    const result = await rig.processor.runCycle("test");
    expect(result).toMatchObject({
      success: true,
      status: "completed",
      outcome: "delivered",
      total_matches: 3,
      changes: { new: 3, updated: 0, removed: 0 },
      publish_reason: "changes",
      delivery: { route: "redis", confirmed: true, receivers: 1, sequence: 1 },
    });

    await expect.poll(() => subscriber.on(rig.channels.matchUpdates).length).toBe(1);
    const [message] = subscriber.on(rig.channels.matchUpdates);
    // What the Python subscriber looks at: json.loads(...)["payload"]["matches"] and metadata.has_changes.
    const raw = JSON.parse(message?.text ?? "null");
    expect(raw.type).toBe("match_updates");
    expect(raw.version).toBe("1.0");
    expect(Array.isArray(raw.payload.matches)).toBe(true);
    expect(raw.payload.matches.map((m: Match) => m.matchid)).toEqual(matches.map((m) => m.matchid));
    expect(raw.payload.metadata.has_changes).toBe(true);
    expect(raw.payload.metadata.total_matches).toBe(3);
    expect(raw.payload.schema_version).toBe("2.0");
    expect(raw.payload.high_priority).toBe(true);
    expect(raw.payload.detailed_changes).toHaveLength(3);
    // Ours, inside metadata where Python ignores it.
    expect(raw.payload.metadata.sequence).toBe(1);
    expect(raw.payload.metadata.snapshot_hash).toBe(snapshotHash(matches));
    expect(raw.payload.metadata.change_summary).toMatchObject({ new: 3, updated: 0, removed: 0 });
    expect(decodeEnvelope(message?.text ?? "").ok).toBe(true);

    const stored = await rig.link?.client.get(latestEnvelopeKey(rig.channels));
    expect(stored).toBe(message?.text);
    expect(rig.processor.latestEnvelope?.message_id).toBe(raw.message_id);

    // Status messages bracket the cycle.
    await expect
      .poll(() => subscriber.on(rig.channels.processorStatus).map((m) => m.json.payload?.status))
      .toEqual(["started", "completed"]);
  });

  it("sends nothing when nothing changed, and then a change as an update with the whole list", async () => {
    const source = new ListSource(fogisMatchList(3));
    const { rig, subscriber } = await rigWithSubscriber(source);
    await rig.processor.runCycle();

    const quiet = await rig.processor.runCycle();
    expect(quiet).toMatchObject({ outcome: "unchanged", publish_reason: null, delivery: { route: "none" } });

    (source.matches[1] as Match).avsparkstid = "20:00";
    const changed = await rig.processor.runCycle();
    expect(changed).toMatchObject({
      outcome: "delivered",
      changes: { new: 0, updated: 1 },
      delivery: { sequence: 2 },
    });
    await expect.poll(() => subscriber.on(rig.channels.matchUpdates).length).toBe(2);
    const update = subscriber.on(rig.channels.matchUpdates)[1]?.json.payload as {
      matches: Match[];
      detailed_changes: Array<{ category: string }>;
    };
    expect(update.matches).toHaveLength(3);
    expect(update.detailed_changes.map((c) => c.category)).toEqual(["time_change"]);
  });

  it.each([
    [
      "a referee's phone number",
      (m: Match) => {
        const referee = m.domaruppdraglista?.[0];
        if (referee) referee.mobiltelefon = "070-9999999";
      },
    ],
    [
      "a team contact",
      (m: Match) => {
        const contact = m.kontaktpersoner?.[1];
        if (contact) contact.epostadress = "ny.lagledare@example.org";
      },
    ],
  ])(
    "publishes a change the calendar shows but the change list leaves out (%s) with has_changes true",
    async (_what, edit) => {
      const source = new ListSource(fogisMatchList(2));
      const { rig, subscriber } = await rigWithSubscriber(source);
      await rig.processor.runCycle();
      edit(source.matches[0] as Match);
      const result = await rig.processor.runCycle();
      expect(result).toMatchObject({
        outcome: "delivered",
        publish_reason: "content_changed",
        changes: { total: 0 },
        delivery: { route: "redis" },
      });
      await expect.poll(() => subscriber.on(rig.channels.matchUpdates).length).toBe(2);
      const payload = subscriber.on(rig.channels.matchUpdates)[1]?.json.payload as {
        matches: Match[];
        metadata: { has_changes: boolean };
        detailed_changes: unknown[];
      };
      // The Python subscriber skips a snapshot unless has_changes is true.
      expect(payload.metadata.has_changes).toBe(true);
      expect(payload.detailed_changes).toEqual([]);
      expect(payload.matches[0]).toEqual(source.matches[0]);
      expect((await rig.processor.runCycle()).outcome).toBe("unchanged");
    },
  );

  it("says has_changes false for a resend of the list already delivered, true once it changes", async () => {
    const source = new ListSource(fogisMatchList(2));
    const { rig, subscriber } = await rigWithSubscriber(source);
    await rig.processor.runCycle();
    rig.processor.requestResend();
    expect((await rig.processor.runCycle()).publish_reason).toBe("resend");
    (source.matches[0] as Match).avsparkstid = "11:15";
    await rig.processor.runCycle();
    await expect.poll(() => subscriber.on(rig.channels.matchUpdates).length).toBe(3);
    expect(
      subscriber
        .on(rig.channels.matchUpdates)
        .map((m) => (m.json.payload?.metadata as { has_changes?: boolean } | undefined)?.has_changes),
    ).toEqual([true, false, true]);
  });

  it("re-sends an unchanged snapshot once the heartbeat interval has passed", async () => {
    let now = new Date("2026-11-20T08:00:00Z");
    const source = new ListSource(fogisMatchList(2));
    const rig = await processorRig({
      redisUrl: redis.url,
      source,
      processor: { heartbeatMs: 600_000, now: () => now },
    });
    const subscriber = await Subscriber.start(redis.url, rig.channels);
    cleanup.push(
      () => rig.close(),
      () => subscriber.close(),
    );
    await rig.processor.runCycle();
    now = new Date(now.getTime() + 599_000);
    expect((await rig.processor.runCycle()).outcome).toBe("unchanged");
    now = new Date(now.getTime() + 2_000);
    const heartbeat = await rig.processor.runCycle();
    expect(heartbeat).toMatchObject({
      outcome: "delivered",
      publish_reason: "heartbeat",
      delivery: { sequence: 2 },
    });
    await expect.poll(() => subscriber.on(rig.channels.matchUpdates).length).toBe(2);
    expect(subscriber.on(rig.channels.matchUpdates)[1]?.json.payload?.metadata).toMatchObject({
      has_changes: false,
    });
  });

  it("publishes an empty list on the very first cycle, so a calendar converges to 'no matches'", async () => {
    const { rig } = await rigWithSubscriber(new ListSource([]));
    const result = await rig.processor.runCycle();
    expect(result).toMatchObject({
      outcome: "delivered",
      publish_reason: "first_delivery",
      total_matches: 0,
    });
  });

  it("continues the sequence after a restart and does not resend what was delivered", async () => {
    const dataDir = tempDir();
    const source = new ListSource(fogisMatchList(2));
    const first = await rigWithSubscriber(source, dataDir);
    await first.rig.processor.runCycle();
    await first.rig.close();

    const { rig } = await rigWithSubscriber(source, dataDir);
    expect((await rig.processor.runCycle()).outcome).toBe("unchanged");
    source.matches.push(fogisMatch({ matchid: 7_000_001 }));
    const next = await rig.processor.runCycle();
    expect(next).toMatchObject({ changes: { new: 1 }, delivery: { sequence: 2 } });
  });

  it("reports a corrupt previous_matches.json (log + alert) and resends every match as new", async () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, STATE_FILES.previousMatches), "[{broken");
    const source = new ListSource(fogisMatchList(2));
    const rig = await processorRig({ redisUrl: redis.url, source, dataDir });
    const subscriber = await Subscriber.start(redis.url, rig.channels);
    cleanup.push(
      () => rig.close(),
      () => subscriber.close(),
    );
    const result = await rig.processor.runCycle();
    expect(result.changes.new).toBe(2);
    await expect
      .poll(() => subscriber.on(rig.channels.systemAlerts).map((m) => m.json.payload?.alert_type))
      .toContain("state_file_corrupt");
  });

  it("applies the rest of the list when one referee entry and one match are bad: a cancellation still gets through", async () => {
    const matches = [
      fogisMatch({ matchid: 6_143_016 }),
      fogisMatch({ matchid: 6_143_017 }),
      fogisMatch({ matchid: 6_143_018 }),
    ];
    const source = new ListSource(matches);
    const { rig, subscriber } = await rigWithSubscriber(source);
    await rig.processor.runCycle();

    const [first, second, third] = structuredClone(matches) as [Match, Match, Match];
    (first.domaruppdraglista?.[1] as Record<string, unknown>).domareid = null; // FOGIS sent a referee without id
    second.tid = "not a time"; // and a match it cannot describe
    second.lag1namn = "Should not show";
    third.installd = true; // while another match is cancelled
    source.matches = [first, second, third];
    const result = await rig.processor.runCycle();
    expect(result).toMatchObject({
      success: true,
      outcome: "delivered",
      total_matches: 3,
      input_problems: { invalid_matches: 1, kept_last_good: 1, dropped_referees: 1 },
      changes: { removed: 0 },
    });

    await expect.poll(() => subscriber.on(rig.channels.matchUpdates).length).toBe(2);
    const sent = subscriber.on(rig.channels.matchUpdates)[1]?.json.payload?.matches as Match[];
    const byId = new Map(sent.map((match) => [match.matchid, match]));
    expect(byId.get(6_143_018)?.installd).toBe(true);
    expect(byId.get(6_143_017)).toEqual(matches[1]);
    expect(byId.get(6_143_016)?.domaruppdraglista?.map((r) => r.domareid)).toEqual([6600, 32_062]);
    // What goes out is valid for every strict reader, calendar-sync's decoder included.
    expect(decodeEnvelope(subscriber.on(rig.channels.matchUpdates)[1]?.text ?? "").ok).toBe(true);

    await expect
      .poll(() => subscriber.on(rig.channels.systemAlerts).map((m) => m.json.payload))
      .toEqual([
        expect.objectContaining({
          alert_type: "invalid_entries",
          severity: "warning",
          message: expect.stringContaining("match 6143017 (index 1): tid:"),
        }),
      ]);
    expect(subscriber.on(rig.channels.systemAlerts)[0]?.text).not.toContain("not a time");
    expect(
      await rig.processor.metrics.registry.getSingleMetricAsString("fogis_processor_invalid_entries_total"),
    ).toMatch(/kind="referee",service="test"} 1$/m);

    // The same bad entries next cycle: nothing new to send, counted again, not alerted again.
    expect((await rig.processor.runCycle()).outcome).toBe("unchanged");
    // An alert of that cycle would have been published before its "completed" status.
    await expect.poll(() => subscriber.on(rig.channels.processorStatus).length).toBe(6);
    expect(subscriber.on(rig.channels.systemAlerts)).toHaveLength(1);
  });

  it("fails the cycle, keeping its state, when not one entry of the list is a valid match", async () => {
    const source = new ListSource(fogisMatchList(2));
    const { rig, subscriber } = await rigWithSubscriber(source);
    await rig.processor.runCycle();
    const before = readState(rig);
    source.matches = [{ matchid: "6143017" }, { hello: "FOGIS changed its format" }];
    const result = await rig.processor.runCycle();
    expect(result).toMatchObject({ success: false, outcome: "source_failed", total_matches: null });
    expect(result.error).toContain("none of the 2 entries is a valid match");
    expect(readState(rig)).toEqual(before);
    expect(subscriber.on(rig.channels.matchUpdates)).toHaveLength(1);
  });

  it("never runs two cycles at once; requests during a cycle share one follow-up cycle", async () => {
    const source = new ListSource(fogisMatchList(2));
    source.delayMs = 150;
    const { rig } = await rigWithSubscriber(source);
    const results = await Promise.all([
      rig.processor.runCycle("a"),
      rig.processor.runCycle("b"),
      rig.processor.runCycle("c"),
    ]);
    expect(source.fetches).toBe(2);
    expect(results.map((r) => r.cycle)).toEqual([1, 2, 2]);
    expect(results[0]?.outcome).toBe("delivered");
    expect(results[1]?.outcome).toBe("unchanged");
  });
});

describe("a failing match source", () => {
  let server: Server;
  let serverUrl: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === "/slow/matches") return; // never answers
      res.writeHead(500).end("internal error");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const failing: Array<[string, () => MatchSource, string]> = [
    ["a missing file", () => new FileMatchSource(join(tempDir(), "missing.json")), "missing_file"],
    [
      "a file with bad JSON",
      () => {
        const path = join(tempDir(), "bad.json");
        writeFileSync(path, '{"matchlista": [{"matchid": 1,');
        return new FileMatchSource(path);
      },
      "not_json",
    ],
    // The server answers 500 at once; the bound is only for a server that hangs (a loaded machine may take seconds).
    ["HTTP 500", () => new HttpMatchSource({ url: serverUrl, timeoutMs: 30_000 }), "http_status"],
    ["an HTTP timeout", () => new HttpMatchSource({ url: `${serverUrl}/slow`, timeoutMs: 200 }), "timeout"],
  ];

  it.each(failing)("%s: no publish, no state change, status failed, an alert", async (_what, make, code) => {
    const source = new ListSource(fogisMatchList(3));
    const { rig, subscriber } = await rigWithSubscriber(source);
    await rig.processor.runCycle();
    const before = readState(rig);
    const keyBefore = await rig.link?.client.get(latestEnvelopeKey(rig.channels));

    source.delegate = make();
    const result = await rig.processor.runCycle();
    expect(result).toMatchObject({
      success: false,
      status: "failed",
      outcome: "source_failed",
      total_matches: null,
      delivery: { route: "none", sequence: null },
    });
    expect(result.error).toBeTruthy();

    await expect
      .poll(() => subscriber.on(rig.channels.systemAlerts).map((m) => m.json.payload))
      .toEqual([
        expect.objectContaining({
          alert_type: "source_failed",
          severity: "error",
          details: expect.objectContaining({ code }),
        }),
      ]);
    await expect
      .poll(() => subscriber.on(rig.channels.processorStatus).map((m) => m.json.payload?.status))
      .toEqual(["started", "completed", "started", "failed"]);
    expect(subscriber.on(rig.channels.matchUpdates)).toHaveLength(1);
    expect(readState(rig)).toEqual(before);
    expect(await rig.link?.client.get(latestEnvelopeKey(rig.channels))).toBe(keyBefore);
    expect(rig.processor.counters).toMatchObject({ envelopes_created: 1, pending: 0 });

    // Never "all matches removed": once the source answers again, nothing changed.
    source.delegate = null;
    expect((await rig.processor.runCycle()).outcome).toBe("unchanged");
  });

  it("abandons a fetch that is still hanging when a shutdown's grace period is over", async () => {
    const source = new ListSource();
    source.delegate = new HttpMatchSource({ url: `${serverUrl}/slow`, timeoutMs: 60_000 });
    const { rig } = await rigWithSubscriber(source);
    const cycle = rig.processor.runCycle();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await rig.processor.stop({ graceMs: 200 });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await cycle).toMatchObject({
      outcome: "source_failed",
      error: expect.stringContaining("shutting down"),
    });
    await expect(rig.processor.runCycle()).rejects.toThrow("shutting down");
  });
});

describe("the processor epoch", () => {
  it("is saved with the state, sent in every envelope, and kept across restarts; a wiped DATA_DIR starts a new one", async () => {
    const dataDir = tempDir();
    const source = new ListSource(fogisMatchList(2));
    const first = await rigWithSubscriber(source, dataDir);
    const result = await first.rig.processor.runCycle();
    const epoch = first.rig.processor.processorEpoch;
    expect(epoch).toMatch(/^[0-9a-f-]{36}$/);
    const sent = first.subscriber.on(first.rig.channels.matchUpdates);
    await expect.poll(() => sent.length).toBe(1);
    expect(JSON.parse(sent[0]?.text ?? "{}").payload.metadata.processor_epoch).toBe(epoch);
    expect(result.delivery.sequence).toBe(1);
    expect(JSON.parse(readFileSync(join(dataDir, STATE_FILES.processorState), "utf8"))).toMatchObject({
      processor_epoch: epoch,
      source_kind: "file",
    });
    await first.rig.close();

    const again = await rigWithSubscriber(source, dataDir);
    await again.rig.processor.load();
    expect(again.rig.processor.processorEpoch).toBe(epoch);
    await again.rig.close();

    const wiped = await rigWithSubscriber(source, tempDir());
    const fresh = await wiped.rig.processor.runCycle();
    expect(wiped.rig.processor.processorEpoch).not.toBe(epoch);
    expect(fresh.delivery.sequence).toBe(1);
  });
});

describe("a lost source setting", () => {
  it("refuses the demo list after deliveries from a real source, says why, and keeps the state", async () => {
    const dataDir = tempDir();
    const real = new ListSource(fogisMatchList(3));
    const first = await rigWithSubscriber(real, dataDir);
    await first.rig.processor.runCycle();
    await first.rig.close();
    const before = readFileSync(join(dataDir, STATE_FILES.previousMatches), "utf8");

    const demo = new ListSource(fogisMatchList(5, 9_900_001));
    demo.kind = "demo";
    const { rig } = await rigWithSubscriber(demo, dataDir);
    const result = await rig.processor.runCycle();
    expect(result).toMatchObject({ success: false, outcome: "source_failed" });
    expect(result.error).toMatch(/refusing the built-in demo match list.*MATCH_SOURCE_FILE/);
    expect(demo.fetches).toBe(0);
    expect(rig.processor.issues).toEqual([
      expect.objectContaining({ status: "fail", code: "demo_source_refused" }),
    ]);
    expect(readFileSync(join(dataDir, STATE_FILES.previousMatches), "utf8")).toBe(before);
  });

  it("uses the demo list on a fresh install, and again after demo deliveries", async () => {
    const dataDir = tempDir();
    const demo = new ListSource(fogisMatchList(5, 9_900_001));
    demo.kind = "demo";
    const first = await rigWithSubscriber(demo, dataDir);
    expect((await first.rig.processor.runCycle()).outcome).toBe("delivered");
    await first.rig.close();
    const { rig } = await rigWithSubscriber(demo, dataDir);
    expect((await rig.processor.runCycle()).outcome).toBe("unchanged");
    expect(rig.processor.issues).toEqual([]);
  });
});

describe("an empty list after a non-empty one", () => {
  it("is held back until enough empty fetches over enough time confirm it, and a non-empty answer ends the streak", async () => {
    let now = new Date("2026-11-20T10:00:00Z");
    const source = new ListSource(fogisMatchList(3, 6_100_000, "2027-01-10"));
    const rig = await processorRig({
      redisUrl: redis.url,
      source,
      processor: { emptyListConfirmFetches: 2, emptyListConfirmMs: 60_000, now: () => now },
    });
    cleanup.push(() => rig.close());
    const subscriber = await Subscriber.start(redis.url, rig.channels);
    cleanup.push(() => subscriber.close());
    expect((await rig.processor.runCycle()).outcome).toBe("delivered");

    source.matches = [];
    const held = await rig.processor.runCycle();
    expect(held).toMatchObject({ success: true, outcome: "empty_list_held", delivery: { route: "none" } });
    expect(rig.processor.issues).toEqual([
      expect.objectContaining({ status: "warn", code: "empty_list_held" }),
    ]);
    now = new Date(now.getTime() + 120_000);
    // Back to non-empty: the streak is over, nothing was sent.
    source.matches = fogisMatchList(3, 6_100_000, "2027-01-10");
    expect((await rig.processor.runCycle()).outcome).toBe("unchanged");
    expect(rig.processor.issues).toEqual([]);

    source.matches = [];
    expect((await rig.processor.runCycle()).outcome).toBe("empty_list_held");
    now = new Date(now.getTime() + 30_000);
    // Two empty answers, but only 30 s apart: still held.
    expect((await rig.processor.runCycle()).outcome).toBe("empty_list_held");
    now = new Date(now.getTime() + 31_000);
    const applied = await rig.processor.runCycle();
    expect(applied).toMatchObject({ outcome: "delivered", changes: { removed: 3 }, total_matches: 0 });
    expect(rig.processor.issues).toEqual([]);
    expect(rig.processor.counters.cycles.empty_list_held).toBe(3);
  });
});
