import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { encodeEnvelope } from "@fogis/message-schema";
import { startRadicale } from "@fogis/testing";
import { type BenchContext, collectGarbage } from "./context.js";
import { type Figure, figure, targets } from "./figures.js";
import { processorEnvelope, upcomingMatches, withKickoffMoved } from "./fixtures.js";
import { pushOnlyCalendarSync } from "./pipeline.js";

/**
 * The push into the referee's own calendar: a real Radicale (bcrypt password, as users run it) on a
 * free loopback port holding a calendar of N matches that calendar-sync wrote; then one match's
 * kick-off moves. Timed from the snapshot reaching calendar-sync's handler (as from Redis) to the
 * response of the PUT that put the moved event on the server; every HTTP request is counted. The
 * baseline in the same run is one plain conditional PUT (If-Match) of that event's text to the
 * same server with fetch. Also: the same snapshot again (must cost no request) and the first fill.
 */
export async function benchCalDavPush(ctx: BenchContext): Promise<Figure[]> {
  const { profile } = ctx;
  const count = profile.caldavMatches;
  const radicale = await startRadicale();
  const dataDir = join(ctx.workDir, "caldav");
  mkdirSync(dataDir, { recursive: true });
  let requests = 0;
  /** When the last PUT of an event answered: the moment the change is on the server. */
  let putAnswered = 0;
  const counting: typeof fetch = async (input, init) => {
    requests += 1;
    const response = await fetch(input, init);
    if (init?.method === "PUT") putAnswered = performance.now();
    return response;
  };
  const service = await pushOnlyCalendarSync(
    ctx,
    dataDir,
    {
      CALDAV_URL: radicale.url,
      CALDAV_USERNAME: radicale.username,
      CALDAV_PASSWORD: radicale.password,
      CARDDAV_ADDRESSBOOK: "",
    },
    counting,
  );
  const auth = `Basic ${Buffer.from(`${radicale.username}:${radicale.password}`).toString("base64")}`;
  let sequence = 0;
  let matches = upcomingMatches(count);
  /** The snapshot handed to the handler as Redis would (raw bytes), then the push awaited. */
  const deliver = async () => {
    const raw = encodeEnvelope(processorEnvelope(matches, ++sequence));
    const before = requests;
    const started = performance.now();
    const result = await service.handler.handleMessage(raw, "redis");
    if (!result.accepted) throw new Error(`the snapshot was rejected: ${result.rejection.reason}`);
    await service.backends.whenSynced();
    return { started, requests: requests - before };
  };
  try {
    const fill = await deliver();
    const fillMs = putAnswered - fill.started;
    ctx.log(
      `caldav: ${count} events into Radicale on port ${radicale.port} in ${Math.round(fillMs)} ms, ${fill.requests} requests`,
    );
    const caldav = service.backends.statuses().find((status) => status.name === "caldav");
    if (caldav?.counters.created !== count)
      throw new Error(`expected ${count} events created, got ${caldav?.counters.created}`);
    const calendarUrl = String(caldav.target.collection_url);

    const project: number[] = [];
    const baseline: number[] = [];
    const changeRequests: number[] = [];
    for (let round = 0; round < profile.warmupRounds + profile.caldavRounds; round++) {
      const index = (round * 37) % count;
      const matchid = matches[index]?.matchid;
      const eventUrl = new URL(`fogis-match-${matchid}.ics`, calendarUrl).href;
      for (const side of round % 2
        ? (["project", "baseline"] as const)
        : (["baseline", "project"] as const)) {
        collectGarbage();
        if (side === "project") {
          matches = withKickoffMoved(matches, index, 30);
          const change = await deliver();
          const ms = putAnswered - change.started;
          await expectKickoffOnServer(eventUrl, auth, matches[index]?.tid);
          if (round >= profile.warmupRounds) {
            project.push(ms);
            changeRequests.push(change.requests);
          }
        } else {
          const current = await fetch(eventUrl, { headers: { Authorization: auth } });
          const etag = current.headers.get("etag");
          const body = await current.text();
          if (!current.ok || !etag) throw new Error(`GET ${eventUrl}: ${current.status}`);
          const started = performance.now();
          const put = await fetch(eventUrl, {
            method: "PUT",
            headers: {
              Authorization: auth,
              "If-Match": etag,
              "Content-Type": "text/calendar; charset=utf-8",
            },
            body,
          });
          await put.text();
          if (!put.ok) throw new Error(`baseline PUT: ${put.status}`);
          if (round >= profile.warmupRounds) baseline.push(performance.now() - started);
        }
      }
    }

    const unchangedRequests: number[] = [];
    const unchangedMs: number[] = [];
    for (let round = 0; round < profile.caldavRounds; round++) {
      const again = await deliver();
      unchangedMs.push(performance.now() - again.started);
      unchangedRequests.push(again.requests);
    }

    return [
      figure({
        name: "caldav_change_to_server",
        unit: "ms",
        description: `${count}-event calendar on a real Radicale, one match's kick-off moved: from the snapshot reaching calendar-sync's handler (raw bytes, as from Redis: decode, validate, feed and phonebook written with fsync) to the answer of the PUT that put the event on the server (sync-collection REPORT first). Baseline: one plain conditional PUT (If-Match) of that event to the same server.`,
        measured: project,
        baseline,
      }),
      figure({
        name: "caldav_change_requests",
        unit: "requests",
        description:
          "HTTP requests the CalDAV backend made for that one changed match (none for discovery: done once per process).",
        measured: changeRequests,
        target: targets.below(4, "requests"),
      }),
      figure({
        name: "caldav_unchanged_requests",
        unit: "requests",
        description: `The same ${count}-match snapshot again: HTTP requests the CalDAV backend made (an unchanged snapshot must cost none).`,
        measured: unchangedRequests,
        target: targets.below(1, "request"),
      }),
      figure({
        name: "caldav_unchanged_ms",
        unit: "ms",
        description:
          "The same snapshot again: from the handler to the backends reporting nothing left to do.",
        measured: unchangedMs,
      }),
      figure({
        name: `caldav_first_fill_${count}`,
        unit: "ms",
        description: `${count} matches into an empty Radicale account: discovery, MKCALENDAR, one listing and ${count} conditional PUTs (4 in flight); ${fill.requests} HTTP requests.`,
        measured: [fillMs],
      }),
    ];
  } finally {
    await service.stop();
    await radicale.close();
  }
}

async function expectKickoffOnServer(url: string, auth: string, tid: string | undefined): Promise<void> {
  const ms = Number(/\d+/.exec(tid ?? "")?.[0]);
  const expected = new Date(ms)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  const text = await (await fetch(url, { headers: { Authorization: auth } })).text();
  if (!text.includes(`DTSTART:${expected}`))
    throw new Error(`the moved kick-off ${expected} is not on the server`);
}
