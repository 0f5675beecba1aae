import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Match } from "@fogis/message-schema";
import { fogisMatch } from "@fogis/testing";
import { describe, expect, it } from "vitest";
import type { CalendarChanges, StoredCalendarEvent } from "../src/calendar-backend.js";
import { matchToCalendarEvent } from "../src/match-event.js";
import { describeAppliedSnapshot, type RecentChange, RecentChanges } from "../src/recent-changes.js";
import { negotiateLanguage } from "../src/status-page/i18n.js";
import { buildPipeline, type PipelineInput, verdictOf } from "../src/status-page/pipeline.js";
import { type ProcessorReading, ProcessorReportSchema } from "../src/status-page/processor-status.js";
import { buildStatusView, type StatusViewInput } from "../src/status-page/view-model.js";
import { silentLogger } from "./helpers.js";

/** The status page's view model, server-side: what each state of the stack makes the page say. */

const NOW = new Date("2026-11-20T12:00:00Z");
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000);

function processorReport(overrides: Record<string, unknown> = {}): ProcessorReading {
  return {
    reachable: true,
    at: NOW,
    report: ProcessorReportSchema.parse({
      status: "pass",
      delivery_path: "redis",
      redis_status: { enabled: true, connected: true },
      fallback: { configured: true, lastAttemptOk: null },
      last_confirmed_delivery: {
        sequence: 7,
        route: "redis",
        delivered_at: ago(60).toISOString(),
        snapshot_hash: "h7",
      },
      last_cycle: { status: "completed", outcome: "delivered", started_at: ago(61).toISOString() },
      last_successful_fetch: ago(61).toISOString(),
      ...overrides,
    }),
  };
}

function input(overrides: Partial<PipelineInput> = {}): PipelineInput {
  return {
    now: NOW,
    processor: processorReport(),
    subscriber: { enabled: true, subscribed: true, lastSubscribed: NOW },
    calendarSync: { lastSuccess: ago(59), snapshotHash: "h7", stateProblems: [] },
    backends: [],
    ...overrides,
  };
}

const byId = (steps: ReturnType<typeof buildPipeline>, id: string) => {
  const step = steps.find((s) => s.id === id);
  if (!step) throw new Error(`no step ${id} in ${steps.map((s) => s.id).join(", ")}`);
  return step;
};

describe("the pipeline and its verdict", () => {
  it("all good: every step passes, with when it last worked", () => {
    const steps = buildPipeline(input());
    expect(steps.map((s) => [s.id, s.status])).toEqual([
      ["source", "pass"],
      ["processor", "pass"],
      ["delivery", "pass"],
      ["calendar-sync", "pass"],
    ]);
    expect(byId(steps, "source").lastWorked).toBe(ago(61).toISOString());
    expect(byId(steps, "processor").lastWorked).toBe(ago(60).toISOString());
    expect(byId(steps, "delivery").via).toBe("redis");
    expect(verdictOf(steps)).toBe("good");
  });

  it("Redis down with the HTTP fallback working is degraded, with the reason and when Redis last worked", () => {
    const steps = buildPipeline(
      input({
        processor: processorReport({
          status: "warn",
          delivery_path: "http",
          redis_status: { connected: false },
        }),
        subscriber: {
          enabled: true,
          subscribed: false,
          lastSubscribed: ago(30),
          lastError: "connect ECONNREFUSED 127.0.0.1:6379",
        },
      }),
    );
    const delivery = byId(steps, "delivery");
    expect(delivery).toMatchObject({ status: "warn", via: "http", lastWorked: ago(30).toISOString() });
    expect(delivery.reason).toEqual({
      code: "redis_down_http_fallback",
      detail: "connect ECONNREFUSED 127.0.0.1:6379",
    });
    expect(verdictOf(steps)).toBe("degraded");
  });

  it("neither Redis nor the fallback works: broken", () => {
    const steps = buildPipeline(
      input({
        processor: processorReport({
          status: "fail",
          delivery_path: "none",
          fallback: { configured: true, lastError: "calendar-sync answered 500" },
          last_cycle: {
            status: "failed",
            outcome: "delivery_failed",
            error: "no route confirmed the snapshot",
          },
        }),
        subscriber: { enabled: true, subscribed: false, lastError: "connect ECONNREFUSED" },
      }),
    );
    expect(byId(steps, "delivery")).toMatchObject({ status: "fail", via: "none" });
    expect(byId(steps, "processor")).toMatchObject({
      status: "fail",
      reason: { code: "delivery_failed", detail: "no route confirmed the snapshot" },
    });
    expect(verdictOf(steps)).toBe("broken");
  });

  it("processor unreachable: its step fails with the reason, FOGIS is unknown, the last known times stay", () => {
    const report = processorReport();
    const steps = buildPipeline(
      input({
        processor: {
          reachable: false,
          at: NOW,
          error: "no answer from http://127.0.0.1:8000: ECONNREFUSED",
          lastReport: report.reachable ? report.report : undefined,
          lastReachable: ago(20),
        },
      }),
    );
    expect(byId(steps, "processor")).toMatchObject({
      status: "fail",
      lastWorked: ago(20).toISOString(),
      reason: { code: "processor_unreachable", detail: "no answer from http://127.0.0.1:8000: ECONNREFUSED" },
    });
    expect(byId(steps, "source")).toMatchObject({
      status: "warn",
      lastWorked: ago(61).toISOString(),
      reason: { code: "unknown_processor_unreachable" },
    });
    expect(verdictOf(steps)).toBe("broken");
  });

  it("a failing FOGIS fetch fails its step with the processor's error and keeps when it last worked", () => {
    const steps = buildPipeline(
      input({
        processor: processorReport({
          last_cycle: {
            status: "failed",
            outcome: "source_failed",
            error: "GET http://fogis/matches answered 503",
          },
          last_successful_fetch: ago(3600).toISOString(),
        }),
      }),
    );
    expect(byId(steps, "source")).toMatchObject({
      status: "fail",
      lastWorked: ago(3600).toISOString(),
      reason: { code: "source_failed", detail: "GET http://fogis/matches answered 503" },
    });
    expect(verdictOf(steps)).toBe("broken");
  });

  it("a failed apply (e.g. a full disk) fails calendar-sync until a snapshot applies again", () => {
    const failing = buildPipeline(
      input({
        calendarSync: {
          lastSuccess: ago(300),
          lastFailure: { at: ago(5), error: "ENOSPC: no space left on device" },
          stateProblems: [],
        },
      }),
    );
    expect(byId(failing, "calendar-sync")).toMatchObject({
      status: "fail",
      lastWorked: ago(300).toISOString(),
      reason: { code: "apply_failed", detail: "ENOSPC: no space left on device" },
    });
    const recovered = buildPipeline(
      input({
        calendarSync: {
          lastSuccess: ago(1),
          lastFailure: { at: ago(5), error: "ENOSPC" },
          stateProblems: [],
        },
      }),
    );
    expect(byId(recovered, "calendar-sync").status).toBe("pass");
  });

  it("a failed delivery the calendar made good by resyncing is history, not a failure", () => {
    // docker compose up: the processor's first cycle ran before calendar-sync listened; calendar-sync
    // then resynced from the Redis key. The processor still says its last delivery failed.
    const firstStart = processorReport({
      last_confirmed_delivery: null,
      last_cycle: { status: "failed", outcome: "delivery_failed", error: "attempt 1: http: ECONNREFUSED" },
      latest_snapshot: { sequence: 1, snapshot_hash: "h1", created_at: ago(40).toISOString() },
    });
    const resynced = buildPipeline(
      input({
        processor: firstStart,
        calendarSync: { lastSuccess: ago(38), snapshotHash: "h1", stateProblems: [] },
      }),
    );
    expect(byId(resynced, "processor").status).toBe("pass");
    expect(verdictOf(resynced)).toBe("good");
    const missing = buildPipeline(
      input({
        processor: firstStart,
        calendarSync: { lastSuccess: ago(300), snapshotHash: "h0", stateProblems: [] },
      }),
    );
    expect(byId(missing, "processor")).toMatchObject({ status: "fail", reason: { code: "delivery_failed" } });
    expect(byId(missing, "calendar-sync")).toMatchObject({
      status: "warn",
      reason: { code: "behind_processor", detail: "#1" },
    });
  });

  it("a calendar without the processor's latest delivered snapshot is behind (after a grace period)", () => {
    const behind = buildPipeline(
      input({ calendarSync: { lastSuccess: ago(120), snapshotHash: "h6", stateProblems: [] } }),
    );
    expect(byId(behind, "calendar-sync")).toMatchObject({
      status: "warn",
      reason: { code: "behind_processor", detail: "#7" },
    });
    const justDelivered = buildPipeline(
      input({
        processor: processorReport({
          last_confirmed_delivery: { sequence: 8, delivered_at: ago(2).toISOString(), snapshot_hash: "h8" },
        }),
      }),
    );
    expect(byId(justDelivered, "calendar-sync").status).toBe("pass");
  });

  it("issues the processor reports go to their step and are shown as the processor says them", () => {
    const steps = buildPipeline(
      input({
        processor: processorReport({
          status: "fail",
          issues: [
            {
              status: "fail",
              code: "second_publisher",
              message: "another processor publishes on fogis:matches:updates",
            },
            {
              status: "warn",
              code: "empty_list_held",
              message: "FOGIS answered an empty list; held until confirmed",
            },
            {
              status: "warn",
              code: "snapshot_too_large_for_redis",
              message: "the snapshot went over HTTP: too large for pub/sub",
            },
          ],
        }),
      }),
    );
    expect(byId(steps, "processor")).toMatchObject({
      status: "fail",
      reason: { code: "reported", detail: "another processor publishes on fogis:matches:updates" },
    });
    expect(byId(steps, "source")).toMatchObject({
      status: "warn",
      reason: { detail: "FOGIS answered an empty list; held until confirmed" },
    });
    expect(byId(steps, "delivery")).toMatchObject({ status: "warn" });
    expect(verdictOf(steps)).toBe("broken");
  });

  it("push backends and notification targets are steps; a failing notification only degrades", () => {
    const steps = buildPipeline(
      input({
        backends: [{ name: "CalDAV", status: "pass", lastSuccess: ago(10).toISOString() }],
        processor: processorReport({
          notifications: [
            {
              name: "ntfy",
              kind: "ntfy",
              status: "fail",
              lastSuccess: null,
              lastError: "HTTP 503 from ntfy",
            },
          ],
        }),
      }),
    );
    expect(steps.map((s) => s.id)).toEqual([
      "source",
      "processor",
      "delivery",
      "calendar-sync",
      "backend:CalDAV",
      "notification:ntfy",
    ]);
    expect(byId(steps, "notification:ntfy")).toMatchObject({
      status: "fail",
      affectsCalendar: false,
      reason: { code: "reported", detail: "HTTP 503 from ntfy" },
    });
    expect(verdictOf(steps)).toBe("degraded");
    const pending = buildStatusView(
      viewInput({
        steps: buildPipeline(
          input({
            backends: [{ name: "caldav", kind: "caldav", status: "warn", lastError: null, pending: 3 }],
          }),
        ),
      }),
    );
    expect(pending.pipeline.at(-1)).toMatchObject({
      name: "CalDAV",
      reason: "3 changes waiting to be pushed",
    });
    expect(pending.verdict.state).toBe("degraded");
    // Names as a reader knows them: the product, and the configured name only when it says more.
    const named = buildStatusView(
      viewInput({
        steps: buildPipeline(
          input({
            backends: [{ name: "work-calendar", kind: "caldav", status: "pass" }],
            processor: processorReport({
              notifications: [
                { name: "webhook", kind: "discord", status: "pass" },
                { name: "email", kind: "email", status: "warn", lastError: null, pending: 2 },
              ],
            }),
          }),
        ),
      }),
    );
    expect(named.pipeline.slice(4).map((step) => step.name)).toEqual([
      "CalDAV (work-calendar)",
      "Notification: Discord",
      "Notification: E-mail",
    ]);
    expect(named.pipeline.at(-1)?.reason).toBe("2 notifications waiting to be sent");
    const backendDown = buildPipeline(
      input({
        backends: [{ name: "CalDAV", status: "fail", lastError: "401 Unauthorized: check CALDAV_PASSWORD" }],
      }),
    );
    expect(verdictOf(backendDown)).toBe("broken");
  });

  it("reads a processor report leniently: unknown or malformed fields never reject it", () => {
    const parsed = ProcessorReportSchema.parse({
      status: "warn",
      last_cycle: "not an object",
      notifications: "nope",
      future_field: { anything: true },
    });
    expect(parsed.status).toBe("warn");
    expect(parsed.last_cycle).toBeUndefined();
    expect(parsed.notifications).toBeUndefined();
  });
});

function events(matches: Match[]): StoredCalendarEvent[] {
  return matches.flatMap((match) => {
    const event = matchToCalendarEvent(match);
    return event
      ? [{ ...event, sequence: 0, created: NOW.toISOString(), lastModified: NOW.toISOString() }]
      : [];
  });
}

function viewInput(overrides: Partial<StatusViewInput> = {}): StatusViewInput {
  const matches = [
    fogisMatch({ matchid: 1, date: "2026-11-18", time: "12:00", home: "Played", away: "Earlier" }),
    fogisMatch({ matchid: 2, date: "2026-11-22", time: "17:30", home: "IFK Göteborg", away: "Örgryte IS" }),
    fogisMatch({
      matchid: 3,
      date: "2026-11-25",
      time: "13:00",
      home: "Qviding",
      away: "Frölunda",
      cancelled: true,
    }),
    fogisMatch({
      matchid: 4,
      date: "2026-11-29",
      time: "19:00",
      home: "Ahlafors",
      away: "Lunden",
      postponed: true,
    }),
  ];
  return {
    now: NOW,
    language: "en",
    steps: buildPipeline(input()),
    events: events(matches),
    matches: new Map(matches.map((m) => [m.matchid, m])),
    recentChanges: [],
    lastSynced: ago(59),
    links: {
      feed: "https://cal.example/calendar.ics",
      webcal: "webcal://cal.example/calendar.ics",
      vcard: "https://cal.example/contacts.vcf",
    },
    ...overrides,
  };
}

describe("the status view", () => {
  it("lists upcoming matches only, in Stockholm time, cancelled and postponed said so", () => {
    const view = buildStatusView(viewInput());
    expect(view.verdict).toMatchObject({ state: "good", headline: "All good" });
    expect(view.verdict.calendar).toBe("4 matches in the calendar, last updated 1 minute ago.");
    expect(view.matches.items.map((m) => m.matchid)).toEqual([2, 3, 4]);
    const [first, cancelled, postponed] = view.matches.items;
    // 17:30 in Stockholm is 16:30 UTC in November: the page says 17:30 whatever the server's zone.
    expect(first).toMatchObject({
      date: "Sun 22 Nov",
      kickoff: "17:30",
      home: "IFK Göteborg",
      away: "Örgryte IS",
    });
    expect(first?.referees).toEqual(["Anna Andersson (Dom)", "Bertil Berg (AD1)", "Cecilia Ek (AD2)"]);
    expect(first?.stateLabel).toBeNull();
    expect(cancelled).toMatchObject({ state: "cancelled", stateLabel: "Cancelled" });
    expect(postponed).toMatchObject({ state: "postponed", stateLabel: "Postponed" });
  });

  it("speaks Swedish: verdict, steps, dates and relative times", () => {
    const view = buildStatusView(viewInput({ language: "sv" }));
    expect(view.verdict.headline).toBe("Allt fungerar");
    expect(view.matches.items[0]).toMatchObject({ date: "sön 22 nov.", kickoff: "17:30" });
    expect(view.pipeline[0]).toMatchObject({ name: "Hämtning från FOGIS", statusLabel: "OK" });
    expect(view.pipeline[0]?.lastWorkedText).toBe("Fungerade senast för 1 minut sedan");
    expect(view.matches.items[1]?.stateLabel).toBe("Inställd");
  });

  it("without a snapshot since start, the stored events still list the matches", () => {
    const view = buildStatusView(viewInput({ matches: new Map() }));
    expect(view.matches.items.map((m) => [m.home, m.away, m.kickoff, m.state])).toEqual([
      ["IFK Göteborg", "Örgryte IS", "17:30", "scheduled"],
      ["Qviding", "Frölunda", "13:00", "cancelled"],
      // Postponed: the stored event is TENTATIVE and its summary says so (DESIGN §7).
      ["Ahlafors", "Lunden", "19:00", "postponed"],
    ]);
  });

  it("shows recent changes with what changed and when it reached the calendar, and marks the match", () => {
    const change: RecentChange = {
      matchid: 2,
      kind: "updated",
      appliedAt: ago(7200).toISOString(),
      origin: "http",
      match: {
        home: "IFK Göteborg",
        away: "Örgryte IS",
        start: "2026-11-22T16:30:00.000Z",
        venue: "Valhalla",
        state: "scheduled",
      },
      aspects: [
        { field: "kickoff", from: "2026-11-22T16:00:00.000Z", to: "2026-11-22T16:30:00.000Z" },
        { field: "referees", added: ["Dan Dahl (AD1)"], removed: ["Bertil Berg (AD1)"] },
      ],
    };
    const view = buildStatusView(viewInput({ recentChanges: [change] }));
    expect(view.changes.items[0]).toMatchObject({
      kindLabel: "Changed",
      title: "IFK Göteborg – Örgryte IS",
      reached: "In the calendar 2 hours ago, via HTTP",
      aspects: ["Kick-off 17:00 → 17:30", "Referees + Dan Dahl (AD1), − Bertil Berg (AD1)"],
    });
    expect(view.matches.items[0]?.recentChange).toBe(
      "Changed 2 hours ago: Kick-off 17:00 → 17:30; Referees + Dan Dahl (AD1), − Bertil Berg (AD1)",
    );
  });

  it("a match without a kick-off time shows its date and 'time not set', never 00:00, until the time is set", () => {
    // How FOGIS sends a match whose time is not yet set: no avsparkstid, `tid` at Stockholm midnight.
    const midnight = `/Date(${Date.parse("2026-11-26T23:00:00Z")})/`;
    const unset = fogisMatch({
      matchid: 5,
      date: "2026-11-27",
      home: "Lerum",
      away: "Gunnilse",
      extra: { avsparkstid: null, tid: midnight },
    });
    const set = fogisMatch({
      matchid: 5,
      date: "2026-11-27",
      time: "18:30",
      home: "Lerum",
      away: "Gunnilse",
    });

    const listed = (view: ReturnType<typeof buildStatusView>) =>
      view.matches.items.find((item) => item.matchid === 5);
    const withUnset = viewInput({ events: events([unset]), matches: new Map([[5, unset]]) });
    expect(listed(buildStatusView(withUnset))).toMatchObject({ date: "Fri 27 Nov", kickoff: "time not set" });
    expect(listed(buildStatusView({ ...withUnset, language: "sv" }))?.kickoff).toBe("tid ej fastställd");
    // After a restart only the stored (whole-day) event is known.
    expect(listed(buildStatusView({ ...withUnset, matches: new Map() }))?.kickoff).toBe("time not set");

    const [created] = describeAppliedSnapshot({
      changes: { created: [5], updated: [], removed: [], unchanged: 0, history: 0, expired: [] },
      before: [],
      after: events([unset]),
      previousMatches: new Map(),
      matches: new Map([[5, unset]]),
      appliedAt: ago(3600),
      origin: "redis",
    });
    const [timed] = describeAppliedSnapshot({
      changes: { created: [], updated: [5], removed: [], unchanged: 0, history: 0, expired: [] },
      before: events([unset]),
      after: events([set]),
      previousMatches: new Map([[5, unset]]),
      matches: new Map([[5, set]]),
      appliedAt: ago(60),
      origin: "redis",
    });
    const view = buildStatusView(
      viewInput({
        events: events([set]),
        matches: new Map([[5, set]]),
        recentChanges: [timed, created].filter((entry) => entry !== undefined),
      }),
    );
    expect(view.changes.items.map((item) => [item.kindLabel, item.when, item.aspects])).toEqual([
      ["Changed", "Fri 27 Nov, 18:30", ["Kick-off time not set → 18:30"]],
      ["New assignment", "Fri 27 Nov, time not set", []],
    ]);
    expect(listed(view)?.kickoff).toBe("18:30");
  });

  it("a degraded pipeline says why, in the reader's language", () => {
    const steps = buildPipeline(
      input({
        processor: processorReport({ status: "warn", delivery_path: "http" }),
        subscriber: { enabled: true, subscribed: false, lastSubscribed: ago(600), lastError: "ECONNREFUSED" },
      }),
    );
    const sv = buildStatusView(viewInput({ steps, language: "sv" }));
    expect(sv.verdict.headline).toBe("Begränsad drift");
    expect(sv.pipeline[2]).toMatchObject({
      name: "HTTP-reserv",
      status: "warn",
      statusLabel: "Varning",
      lastWorkedText: "Fungerade senast för 10 minuter sedan",
      reason: "Redis nås inte; HTTP-reserven levererar ändringarna: ECONNREFUSED",
    });
  });
});

describe("recent changes", () => {
  const before = fogisMatch({ matchid: 10, date: "2026-12-05", time: "17:00", venue: "Valhalla IP" });
  const after = fogisMatch({
    matchid: 10,
    date: "2026-12-05",
    time: "18:30",
    venue: "Nya Ullevi",
    cancelled: true,
    referees: [
      { domareid: 6600, role: "Dom", name: "Anna Andersson" },
      { domareid: 999, role: "AD1", name: "Dan Dahl" },
      { domareid: 32_062, role: "AD2", name: "Cecilia Ek" },
    ],
  });
  const other = fogisMatch({ matchid: 11, date: "2026-12-06" });
  const added = fogisMatch({ matchid: 12, date: "2026-12-07" });

  function applied(changes: Partial<CalendarChanges>) {
    return {
      changes: { created: [], updated: [], removed: [], unchanged: 0, history: 0, expired: [], ...changes },
      before: events([before, other]),
      after: events([after, added]),
      previousMatches: new Map([
        [10, before],
        [11, other],
      ]),
      matches: new Map([
        [10, after],
        [12, added],
      ]),
      appliedAt: NOW,
      origin: "redis" as const,
    };
  }

  it("says what changed in an updated match, and lists created and removed ones", () => {
    const entries = describeAppliedSnapshot(applied({ created: [12], updated: [10], removed: [11] }));
    expect(entries.map((e) => [e.matchid, e.kind])).toEqual([
      [12, "created"],
      [10, "updated"],
      [11, "removed"],
    ]);
    expect(entries[1]?.aspects).toEqual([
      { field: "kickoff", from: "2026-12-05T16:00:00.000Z", to: "2026-12-05T17:30:00.000Z" },
      { field: "venue", from: "Valhalla IP", to: "Nya Ullevi" },
      { field: "status", from: "scheduled", to: "cancelled" },
      { field: "referees", added: ["Dan Dahl (AD1)"], removed: ["Bertil Berg (AD1)"] },
    ]);
    expect(entries[2]?.match).toMatchObject({ home: other.lag1namn, away: other.lag2namn });
  });

  it("after a restart (earlier match unknown) it still says what the events show", () => {
    const entries = describeAppliedSnapshot({ ...applied({ updated: [10] }), previousMatches: new Map() });
    expect(entries[0]?.aspects.map((a) => a.field)).toEqual(["kickoff", "venue", "status"]);
  });

  it("keeps a bounded history across a restart", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "recent-changes-"));
    try {
      const history = new RecentChanges({ dataDir, logger: silentLogger, limit: 2 });
      await history.load();
      history.record(applied({ created: [12], updated: [10], removed: [11] }));
      await history.flushed();
      expect(history.list().map((e) => e.matchid)).toEqual([12, 10]);
      const reloaded = new RecentChanges({ dataDir, logger: silentLogger, limit: 2 });
      await reloaded.load();
      expect(reloaded.list()).toEqual(history.list());
      expect(JSON.parse(readFileSync(history.path, "utf8")).entries).toHaveLength(2);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("language", () => {
  it("follows Accept-Language between Swedish and English, Swedish by default, ?lang= wins", () => {
    expect(negotiateLanguage("en-GB,en;q=0.9")).toBe("en");
    expect(negotiateLanguage("sv-SE,sv;q=0.9,en;q=0.8")).toBe("sv");
    expect(negotiateLanguage("de-DE,de;q=0.9,en;q=0.5,sv;q=0.4")).toBe("en");
    expect(negotiateLanguage("de-DE")).toBe("sv");
    expect(negotiateLanguage(undefined)).toBe("sv");
    expect(negotiateLanguage("en", "sv")).toBe("sv");
  });
});
