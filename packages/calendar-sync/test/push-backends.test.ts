import { fogisMatch } from "@fogis/testing";
import request from "supertest";
import { afterEach, describe, expect, it } from "vitest";
import {
  type BackendStatus,
  type PushBackend,
  type PushContext,
  PushError,
  type PushSnapshot,
} from "../src/backends/push-backend.js";
import type { StateLoadReport } from "../src/calendar-backend.js";
import { eventually, manualSync, parseFeed, startTestService, type TestService, TOKEN } from "./helpers.js";

/**
 * The fan-out of push backends (DESIGN §11): the feed acknowledges a snapshot on its own; every
 * push backend follows in the background with its own retry and status, and one that fails never
 * holds up the feed or another. The backends here keep their "server" in memory and fail on
 * command: these tests are about the runner that every real backend (CalDAV, Google) plugs into.
 */

const _auth = { Authorization: `Bearer ${TOKEN}` };

/** A push backend whose remote side is a Map, and which fails or blocks when told to. */
class MemoryBackend implements PushBackend {
  readonly kind = "memory";
  /** What the "server" holds: uid -> start. */
  readonly remote = new Map<string, string>();
  readonly contacts = new Map<string, string>();
  syncs: PushSnapshot[] = [];
  /** Errors thrown by the next syncs, in order. */
  failures: Error[] = [];
  /** While set, a sync waits for it. */
  gate: Promise<void> | undefined;

  constructor(readonly name: string) {}

  async load(): Promise<StateLoadReport> {
    return { state: "missing" };
  }

  async sync(snapshot: PushSnapshot, context: PushContext): Promise<void> {
    this.syncs.push(snapshot);
    await this.gate;
    const failure = this.failures.shift();
    if (failure) throw failure;
    for (const event of snapshot.events) {
      if (this.remote.get(event.uid) !== event.start) {
        context.counts[this.remote.has(event.uid) ? "updated" : "created"] += 1;
        this.remote.set(event.uid, event.start);
      }
    }
    for (const uid of this.remote.keys()) {
      if (!snapshot.events.some((event) => event.uid === uid)) {
        this.remote.delete(uid);
        context.counts.removed += 1;
      }
    }
    this.contacts.clear();
    for (const contact of snapshot.contacts) this.contacts.set(contact.refereeNumber, contact.name);
    context.counts.requests += 1;
  }

  pending(snapshot: PushSnapshot): number {
    return snapshot.events.filter((event) => this.remote.get(event.uid) !== event.start).length;
  }

  describe(): Record<string, unknown> {
    return { where: "memory" };
  }
}

let t: TestService | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const FAST_RETRY = { initialMs: 50, maxMs: 200, permanentMs: 300, failAfterMs: 60_000 };

async function sync(service: TestService, matches: unknown[]) {
  const response = await manualSync(service, { matches });
  expect(response.status).toBe(200);
  return response.body;
}

function statusOf(service: TestService, name: string): BackendStatus {
  const found = service.service.backends.statuses().find((status) => status.name === name);
  if (!found) throw new Error(`no backend ${name}`);
  return found;
}

describe("push backends next to the feed", () => {
  it("acknowledges a snapshot once the feed has it, while a push backend is still busy", async () => {
    const slow = new MemoryBackend("slow");
    let release = () => {};
    slow.gate = new Promise((resolve) => {
      release = resolve;
    });
    t = await startTestService({ pushBackends: [slow], pushRetry: FAST_RETRY });

    const body = await sync(t, [fogisMatch({ matchid: 501, time: "15:00" })]);
    expect(body).toMatchObject({ status: "applied", created: 1 });
    const feed = parseFeed((await request(t.service.app).get("/calendar.ics")).text);
    expect(feed.events.map((event) => event.uid)).toEqual(["fogis-match-501@fogis-realtime"]);
    expect(slow.remote.size).toBe(0);
    expect(statusOf(t, "slow")).toMatchObject({ status: "warn", pending: 1, lastSuccess: null });

    release();
    await t.service.backends.whenSynced();
    expect([...slow.remote.keys()]).toEqual(["fogis-match-501@fogis-realtime"]);
    expect(statusOf(t, "slow")).toMatchObject({ status: "pass", pending: 0, lastError: null });
  });

  it("retries a failed push with backoff and catches up without another snapshot", async () => {
    const flaky = new MemoryBackend("flaky");
    flaky.failures = [new Error("connect ECONNREFUSED 127.0.0.1:5232"), new Error("socket hang up")];
    t = await startTestService({ pushBackends: [flaky], pushRetry: FAST_RETRY });

    await sync(t, [fogisMatch({ matchid: 601 })]);
    await eventually(() => expect(flaky.syncs.length).toBeGreaterThanOrEqual(1));
    await eventually(() =>
      expect(statusOf(t as TestService, "flaky")).toMatchObject({
        status: "warn",
        lastError: expect.stringMatching(/ECONNREFUSED|socket hang up/),
        pending: 1,
      }),
    );

    await t.service.backends.whenSynced();
    expect(flaky.syncs).toHaveLength(3);
    expect(flaky.remote.has("fogis-match-601@fogis-realtime")).toBe(true);
    expect(statusOf(t, "flaky")).toMatchObject({
      status: "pass",
      lastError: null,
      pending: 0,
      counters: { syncs: 3, failures: 2, created: 1 },
    });
  });

  it("keeps one failing backend from holding up another, and says how to fix it", async () => {
    const broken = new MemoryBackend("broken");
    const wrongPassword = new PushError("the server refused the user name or password (401)", {
      kind: "permanent",
      fix: "check CALDAV_USERNAME and CALDAV_PASSWORD",
    });
    broken.failures = [wrongPassword, wrongPassword, wrongPassword];
    const healthy = new MemoryBackend("healthy");
    t = await startTestService({ pushBackends: [broken, healthy], pushRetry: FAST_RETRY });

    await sync(t, [fogisMatch({ matchid: 701 }), fogisMatch({ matchid: 702 })]);
    await t.service.backends.runners[1]?.whenSynced();
    expect(healthy.remote.size).toBe(2);
    await eventually(() =>
      expect(statusOf(t as TestService, "broken")).toMatchObject({
        status: "fail",
        pending: 2,
        lastError:
          "the server refused the user name or password (401). Fix: check CALDAV_USERNAME and CALDAV_PASSWORD",
      }),
    );
    expect(statusOf(t, "healthy").status).toBe("pass");
    expect(statusOf(t, "feed")).toMatchObject({ kind: "ics-feed", status: "pass", pending: 0 });
  });

  it("hands over only the latest snapshot after a busy sync, and nothing for an unchanged one", async () => {
    const backend = new MemoryBackend("latest");
    t = await startTestService({ pushBackends: [backend], pushRetry: FAST_RETRY });
    await sync(t, [fogisMatch({ matchid: 801, time: "12:00" })]);
    await t.service.backends.whenSynced();
    expect(backend.syncs).toHaveLength(1);

    let release = () => {};
    backend.gate = new Promise((resolve) => {
      release = resolve;
    });
    await sync(t, [fogisMatch({ matchid: 801, time: "13:00" })]);
    await eventually(() => expect(backend.syncs).toHaveLength(2));
    await sync(t, [fogisMatch({ matchid: 801, time: "14:00" })]);
    await sync(t, [fogisMatch({ matchid: 801, time: "15:00" })]);
    backend.gate = undefined;
    release();
    await t.service.backends.whenSynced();
    // The 13:00 sync that was running, then straight to 15:00: 14:00 was never needed.
    expect(backend.syncs).toHaveLength(3);
    expect(backend.remote.get("fogis-match-801@fogis-realtime")).toBe("2026-12-05T14:00:00.000Z");

    // The same list again changes nothing in the feed, so the backend is not even asked.
    const unchanged = await sync(t, [fogisMatch({ matchid: 801, time: "15:00" })]);
    expect(unchanged.status).toBe("unchanged");
    await t.service.backends.whenSynced();
    expect(backend.syncs).toHaveLength(3);
  });

  it("pushes the phonebook too: a referee swap reaches the backend's contacts", async () => {
    const backend = new MemoryBackend("contacts");
    t = await startTestService({
      pushBackends: [backend],
      pushRetry: FAST_RETRY,
      env: { USER_REFEREE_NUMBER: "56600" },
    });
    const referees = [
      { domareid: 6600, role: "Dom" as const, name: "Anna Andersson" },
      { domareid: 7700, role: "AD1" as const, name: "Bo Ek" },
    ];
    await sync(t, [fogisMatch({ matchid: 901, referees })]);
    await t.service.backends.whenSynced();
    expect([...backend.contacts.values()]).toEqual(["Bo Ek"]);

    const swapped = [
      { domareid: 6600, role: "Dom" as const, name: "Anna Andersson" },
      { domareid: 8800, role: "AD1" as const, name: "Cilla Lund" },
    ];
    await sync(t, [fogisMatch({ matchid: 901, referees: swapped })]);
    await t.service.backends.whenSynced();
    expect([...backend.contacts.values()]).toEqual(["Cilla Lund"]);
  });

  it("catches a backend up with the saved calendar after a restart", async () => {
    const first = await startTestService({ pushBackends: [], pushRetry: FAST_RETRY });
    await sync(first, [fogisMatch({ matchid: 1001 }), fogisMatch({ matchid: 1002 })]);
    await first.service.stop();

    const backend = new MemoryBackend("restarted");
    t = await startTestService({ dataDir: first.dataDir, pushBackends: [backend], pushRetry: FAST_RETRY });
    await t.service.backends.whenSynced();
    expect([...backend.remote.keys()].sort()).toEqual([
      "fogis-match-1001@fogis-realtime",
      "fogis-match-1002@fogis-realtime",
    ]);
    await first.close();
  });

  it("shows every backend in /health, /redis-status and /metrics", async () => {
    const backend = new MemoryBackend("shown");
    t = await startTestService({ pushBackends: [backend], pushRetry: FAST_RETRY });
    await sync(t, [fogisMatch({ matchid: 1101 })]);
    await t.service.backends.whenSynced();
    const app = t.service.app;

    const health = (await request(app).get("/health")).body;
    expect(health.status).toBe("healthy");
    expect(health.backends.map((b: BackendStatus) => [b.name, b.kind, b.status])).toEqual([
      ["feed", "ics-feed", "pass"],
      ["shown", "memory", "pass"],
    ]);
    expect(health.backends[1]).toMatchObject({
      pending: 0,
      lastError: null,
      lastSuccess: expect.any(String),
      target: { where: "memory" },
    });

    const status = (await request(app).get("/redis-status")).body;
    expect(status.backends.map((b: BackendStatus) => b.name)).toEqual(["feed", "shown"]);

    const metrics = (await request(app).get("/metrics")).text;
    expect(metrics).toMatch(
      /fogis_calendar_backend_status\{backend="shown",kind="memory",status="pass"[^}]*\} 1/,
    );
    expect(metrics).toMatch(
      /fogis_calendar_backend_status\{backend="shown",kind="memory",status="fail"[^}]*\} 0/,
    );
    expect(metrics).toMatch(/fogis_calendar_backend_pending_changes\{backend="shown",kind="memory"[^}]*\} 0/);
    expect(metrics).toMatch(
      /fogis_calendar_backend_writes_total\{backend="shown",kind="memory",operation="create"[^}]*\} 1/,
    );
  });
});
