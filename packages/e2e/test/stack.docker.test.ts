import { chmod, rename, writeFile } from "node:fs/promises";
import { createConnection } from "node:net";
import ICAL from "ical.js";
import { describe, expect, it } from "vitest";
import type { ComposeProject } from "../src/compose.js";
import { getJson, stepsOnServiceStack, waitFor } from "../src/docker-stack.js";

/**
 * The whole stack as users run it: docker-compose.yml, the images built from this tree, `up -d`,
 * then what a referee would notice. The demo calendar fills with no configuration; a changed match
 * list reaches the feed through Redis; with Redis stopped it still does, over HTTP, and the status
 * pages say `warn`; with Redis back, delivery returns to Redis.
 *
 * Needs a Docker engine (bash scripts/docker/ensure-engine.sh) and base images: the official
 * redis:7-alpine / node:24-alpine, or local stand-ins where no registry is reachable
 * (bash scripts/docker/build-local-images.sh, then REDIS_IMAGE=fogis-local/redis:7
 * NODE_IMAGE=fogis-local/node:24).
 */

// Tags of their own: the test never retags the images a developer's stack runs (:local), while
// the layer cache is shared with them all the same.
const SERVICE_IMAGES = {
  MATCH_PROCESSOR_IMAGE: "fogis-realtime/match-processor:e2e",
  CALENDAR_SYNC_IMAGE: "fogis-realtime/calendar-sync:e2e",
};
const DEMO_MATCH_IDS = [9_900_001, 9_900_002, 9_900_003, 9_900_004, 9_900_005];
const CHANGED_MATCH_ID = 9_900_001;

let matchSourceFile: string;
let stack: ComposeProject;
/** The same project plus an override: match-processor reads its list from a file we edit. */
let stackWithFileSource: ComposeProject;
let processorUrl: string;
let calendarUrl: string;
let apiToken: string;
let redisPort: number;
let calendarPort: number;

stepsOnServiceStack(
  {
    label: "stack",
    name: "fogis-e2e",
    serviceImages: SERVICE_IMAGES,
    settings: { LOG_LEVEL: "info" },
  },
  async (docker) => {
    ({ matchSourceFile, processorUrl, calendarUrl, apiToken } = docker);
    stack = docker.project;
    stackWithFileSource = docker.withFileSource;
    ({ calendar: calendarPort, redis: redisPort } = docker.ports);
    await docker.start(stack);
  },
);

describe("the stack in docker compose", () => {
  it("runs Redis with a password, append-only and noeviction, published on loopback only", async () => {
    expect(await redisReplyWithoutPassword(redisPort)).toMatch(/^-NOAUTH/);
    // redis-cli in the container authenticates through REDISCLI_AUTH, as the healthcheck does.
    const config = await stack.exec("redis", [
      "redis-cli",
      "config",
      "get",
      "appendonly",
      "maxmemory-policy",
    ]);
    const values = configValues(config.stdout);
    expect(values.get("appendonly")).toBe("yes");
    expect(values.get("maxmemory-policy")).toBe("noeviction");
    expect(await stack.port("calendar-sync", 5003)).toBe(`127.0.0.1:${calendarPort}`);
  });

  it("connects both services to Redis, calendar-sync subscribed", async () => {
    const [processor, calendar] = await waitFor("both /redis-status pass", 30_000, async () => {
      const reports = [await redisStatus(processorUrl), await redisStatus(calendarUrl)];
      return reports.every((report) => report.body.status === "pass") ? reports : undefined;
    });
    expect(processor?.body.redis_status).toMatchObject({ enabled: true, connected: true });
    expect(calendar?.body.redis_status).toMatchObject({ enabled: true, connected: true, subscribed: true });
  });

  it("serves the status page from the image: all good, its own assets, the processor read inside the stack", async () => {
    let last: unknown;
    const view = await waitFor("the status page's verdict 'good'", 30_000, async () => {
      const status = await getJson(`${calendarUrl}/status.json`);
      last = status.body.pipeline;
      return (status.body.verdict as { state: string } | undefined)?.state === "good" ? status : undefined;
    }).catch((error: Error) => {
      throw new Error(`${error.message}\nthe page's pipeline then: ${JSON.stringify(last)}`);
    });
    const steps = view?.body.pipeline as Array<{ id: string; status: string }>;
    expect(steps.map((step) => [step.id, step.status])).toEqual([
      ["source", "pass"],
      ["processor", "pass"],
      ["delivery", "pass"],
      ["calendar-sync", "pass"],
    ]);
    const page = await fetch(`${calendarUrl}/`, { headers: { "accept-language": "en" } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("All good</h1>");
    for (const asset of ["status-page.js", "status-page.css"]) {
      expect((await fetch(`${calendarUrl}/assets/${asset}`)).status, asset).toBe(200);
    }
  });

  it("shows the demo match list in /calendar.ics with no configuration beyond .env", async () => {
    const events = await waitFor("the five demo matches in the feed", 30_000, async () => {
      const feed = await feedEvents();
      return DEMO_MATCH_IDS.every((id) => feed.some((event) => event.uid.includes(String(id))))
        ? feed
        : undefined;
    });
    expect(events).toHaveLength(DEMO_MATCH_IDS.length);
    expect(eventSummary(events, CHANGED_MATCH_ID)).toBe("Demo IF - Exempel BK");
  });

  it("delivers a changed match list to the feed through Redis", async () => {
    // Switch the processor to a file holding the same list, so the next edit is the only change.
    const latest = await getJson(`${processorUrl}/matches/latest`);
    expect(latest.status).toBe(200);
    const matches = (latest.body as { payload: { matches: Record<string, unknown>[] } }).payload.matches;
    await writeMatchList(matches);
    await stackWithFileSource.up(["match-processor"], { noDeps: true });
    await waitFor("the recreated match-processor's first cycle", 60_000, async () => {
      const status = await redisStatus(processorUrl);
      return status.body.status === "pass" && status.body.last_cycle ? status : undefined;
    });

    await writeMatchList(renameHomeTeam(matches, "E2E Redis FC"));
    const cycle = await processNow();
    expect(cycle).toMatchObject({ success: true, delivery: { route: "redis", confirmed: true } });
    expect(cycle.changes.updated).toBe(1);
    await waitFor("the renamed team in the feed", 15_000, async () => {
      return eventSummary(await feedEvents(), CHANGED_MATCH_ID) === "E2E Redis FC - Exempel BK";
    });
  });

  it("with Redis stopped, delivers over the HTTP fallback and reports warn, not fail", async () => {
    await stackWithFileSource.stop("redis");
    const reports = await waitFor("both /redis-status warn", 30_000, async () => {
      const both = [await redisStatus(processorUrl), await redisStatus(calendarUrl)];
      return both.every((report) => report.body.status === "warn") ? both : undefined;
    });
    for (const report of reports) {
      expect(report.status).toBe(200);
      expect(report.body).toMatchObject({ success: true, delivery_path: "http" });
      expect(report.body.redis_status).toMatchObject({ connected: false });
    }
    const page = await waitFor("the status page's verdict 'degraded'", 15_000, async () => {
      const status = await getJson(`${calendarUrl}/status.json`);
      return (status.body.verdict as { state: string } | undefined)?.state === "degraded"
        ? status
        : undefined;
    });
    expect(page?.body.pipeline).toContainEqual(expect.objectContaining({ id: "delivery", status: "warn" }));

    await writeMatchList(renameHomeTeam(sourceMatches, "E2E HTTP FC"));
    const cycle = await processNow();
    expect(cycle).toMatchObject({ success: true, delivery: { route: "http", confirmed: true } });
    await waitFor("the HTTP-delivered change in the feed", 15_000, async () => {
      return eventSummary(await feedEvents(), CHANGED_MATCH_ID) === "E2E HTTP FC - Exempel BK";
    });
  });

  it("with Redis started again, delivers through Redis again", async () => {
    await stackWithFileSource.start("redis");
    await waitFor("both /redis-status pass again (calendar-sync resubscribed)", 60_000, async () => {
      const both = [await redisStatus(processorUrl), await redisStatus(calendarUrl)];
      return both.every((report) => report.body.status === "pass") ? both : undefined;
    });

    await writeMatchList(renameHomeTeam(sourceMatches, "E2E Back FC"));
    const cycle = await processNow();
    expect(cycle).toMatchObject({ success: true, delivery: { route: "redis", confirmed: true } });
    await waitFor("the change after Redis came back in the feed", 15_000, async () => {
      return eventSummary(await feedEvents(), CHANGED_MATCH_ID) === "E2E Back FC - Exempel BK";
    });
  });
});

// --- helpers ---------------------------------------------------------------------------------

interface RedisStatusBody extends Record<string, unknown> {
  status?: string;
  redis_status?: Record<string, boolean>;
  last_cycle?: unknown;
}

async function redisStatus(baseUrl: string): Promise<{ status: number; body: RedisStatusBody }> {
  return getJson(`${baseUrl}/redis-status`);
}

interface CycleResult {
  success: boolean;
  changes: { new: number; updated: number; removed: number };
  delivery: { route: string; confirmed: boolean };
}

async function processNow(): Promise<CycleResult> {
  const response = await getJson(`${processorUrl}/process`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiToken}` },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body as unknown as CycleResult;
}

interface FeedEvent {
  uid: string;
  summary: string;
}

async function feedEvents(): Promise<FeedEvent[]> {
  const response = await fetch(`${calendarUrl}/calendar.ics`, { signal: AbortSignal.timeout(10_000) });
  expect(response.status).toBe(200);
  const calendar = new ICAL.Component(ICAL.parse(await response.text()));
  return calendar.getAllSubcomponents("vevent").map((vevent) => ({
    uid: String(vevent.getFirstPropertyValue("uid") ?? ""),
    summary: String(vevent.getFirstPropertyValue("summary") ?? ""),
  }));
}

function eventSummary(events: FeedEvent[], matchid: number): string | undefined {
  return events.find((event) => event.uid.includes(String(matchid)))?.summary;
}

/** The list match-processor reads now. */
let sourceMatches: Record<string, unknown>[] = [];

/** Replaces the list match-processor reads (a rename, so it never sees half a file). */
async function writeMatchList(matches: Record<string, unknown>[]): Promise<void> {
  const next = `${matchSourceFile}.next`;
  await writeFile(next, JSON.stringify(matches));
  await chmod(next, 0o644);
  await rename(next, matchSourceFile);
  sourceMatches = matches;
}

function renameHomeTeam(matches: Record<string, unknown>[], name: string): Record<string, unknown>[] {
  return matches.map((match) => (match.matchid === CHANGED_MATCH_ID ? { ...match, lag1namn: name } : match));
}

/** What Redis answers a PING from the host without a password (one round trip over TCP). */
function redisReplyWithoutPassword(port: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.setTimeout(5000, () => socket.destroy(new Error("no answer from Redis within 5 s")));
    socket.once("error", reject);
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (data) => {
      resolvePromise(data.toString());
      socket.end();
    });
  });
}

/** `redis-cli config get` prints name and value on alternating lines. */
function configValues(output: string): Map<string, string> {
  const lines = output.split("\n").map((line) => line.trim());
  const values = new Map<string, string>();
  for (let i = 0; i + 1 < lines.length; i += 2) values.set(lines[i] as string, lines[i + 1] as string);
  return values;
}
