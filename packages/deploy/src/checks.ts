import { decodeEnvelope, type Envelope } from "@fogis/message-schema";
import type { PhaseRun } from "./phase-run.js";
import type { AppService, StackSettings } from "./phases.js";
import type { CycleAnswer, RedisStatusReport, Stack } from "./stack.js";

/**
 * What the gates are built from: the steady state a phase promises (containers up and healthy,
 * each service's `/redis-status` pass on the expected path; also the check after each rollback
 * step), a processing cycle and the route its snapshot took, and the path from the processor to
 * the calendar feed.
 */

export interface GateSettings {
  /** How long the phase-4 soak window lasts. */
  soakMs: number;
  /** Pause between soak samples. */
  soakIntervalMs: number;
}

export interface GateEnv {
  run: PhaseRun;
  stack: Stack;
  settings: GateSettings;
  /** Figures phase 4 adds to the report. */
  validation: Record<string, unknown>;
}

export const MATCH_PROCESSOR = "match-processor";
export const CALENDAR_SYNC = "calendar-sync";

export function decode(payload: string): Envelope | undefined {
  const result = decodeEnvelope(payload);
  return result.ok ? result.envelope : undefined;
}

export function snapshotSent(answer: CycleAnswer | undefined): boolean {
  return (
    Boolean(answer?.publish_reason) &&
    answer?.delivery?.sequence !== null &&
    answer?.delivery?.sequence !== undefined
  );
}

export function describeCycle(status: number, answer: CycleAnswer | undefined): string {
  if (!answer) return `HTTP ${status}`;
  const head = `HTTP ${status}, cycle ${answer.cycle ?? "?"} ${answer.outcome ?? ""}`.trim();
  if (answer.error) return `${head}: ${answer.error}`;
  if (!snapshotSent(answer))
    return `${head}, nothing new to send (list unchanged since the last confirmed delivery)`;
  const delivery = answer.delivery ?? {};
  return `${head}, snapshot seq ${delivery.sequence} (${answer.publish_reason}) via ${delivery.route} to ${delivery.receivers ?? 0} receiver(s)`;
}

export function describeStatus(service: AppService, report: RedisStatusReport): string {
  const rs = report.redis_status ?? {};
  const parts = [
    `${report.status}`,
    `path ${report.delivery_path}`,
    `enabled ${rs.enabled}`,
    `connected ${rs.connected}`,
  ];
  if (service === CALENDAR_SYNC) parts.push(`subscribed ${rs.subscribed}`);
  return parts.join(", ");
}

export async function containerUp(env: GateEnv, service: "redis" | AppService): Promise<void> {
  await env.run.check(
    { name: `${service} container up`, service, expected: "running and healthy", wait: true },
    async () => {
      const container = await env.stack.container(service);
      if (!container) return { passed: false, observed: "no container" };
      const passed =
        container.state === "running" && (container.health === "healthy" || container.health === "none");
      const observed =
        container.health === "none"
          ? `${container.state} (no healthcheck)`
          : `${container.state}, ${container.health}`;
      return { passed, observed };
    },
  );
}

export async function redisStopped(env: GateEnv): Promise<void> {
  await env.run.check(
    { name: "redis not running", service: "redis", expected: "stopped or absent", wait: true },
    async () => {
      const container = await env.stack.container("redis");
      if (!container) return { passed: true, observed: "no container" };
      return {
        passed: container.state !== "running" && container.state !== "paused",
        observed: container.state,
      };
    },
  );
}

export async function redisPing(env: GateEnv, prefix = ""): Promise<void> {
  await env.run.check(
    { name: `${prefix}redis-cli PING`, service: "redis", expected: "PONG", wait: true },
    async () => {
      const result = await env.stack.redisCli(["PING"]);
      const answer = (result.stdout.trim() || result.stderr.trim()).split("\n").pop() ?? "";
      return {
        passed: result.exitCode === 0 && answer === "PONG",
        observed: answer || `exit ${result.exitCode}`,
      };
    },
  );
}

export async function serviceStatus(
  env: GateEnv,
  service: AppService,
  pubsub: boolean,
  prefix = "",
): Promise<void> {
  const subscriber = service === CALENDAR_SYNC;
  const expected = pubsub
    ? `pass over Redis (enabled, connected${subscriber ? ", subscribed" : ""})`
    : "pass with Redis disabled (HTTP path)";
  await env.run.check(
    { name: `${prefix}${service} /redis-status`, service, expected, wait: true },
    async () => {
      const report = await env.stack.redisStatus(service);
      const rs = report.redis_status ?? {};
      const passed =
        report.status === "pass" &&
        rs.enabled === pubsub &&
        (!pubsub ||
          (rs.connected === true &&
            report.delivery_path === "redis" &&
            (!subscriber || rs.subscribed === true)));
      return { passed, observed: describeStatus(service, report) };
    },
  );
}

/** The state a phase promises; also the check after each rollback step. */
export async function steadyState(env: GateEnv, settings: StackSettings): Promise<void> {
  if (settings.redisRunning) {
    await containerUp(env, "redis");
    await redisPing(env);
  } else {
    await redisStopped(env);
  }
  await containerUp(env, MATCH_PROCESSOR);
  await containerUp(env, CALENDAR_SYNC);
  await serviceStatus(env, MATCH_PROCESSOR, settings.processorPubsub);
  await serviceStatus(env, CALENDAR_SYNC, settings.calendarPubsub);
}

// --- a cycle and the path to the calendar ---------------------------------------------------

/**
 * POST /process, then (when the cycle sent a snapshot) the route it took. A cycle with nothing new
 * to send is not a failure: the processor only publishes changes, a first snapshot, an unconfirmed
 * one, or one after Redis recovered (DESIGN §5); the gates then rely on the status messages every
 * cycle publishes.
 */
export async function runCycle(
  env: GateEnv,
  route: "redis" | "http",
  prefix = "",
  { resend = false }: { resend?: boolean } = {},
): Promise<CycleAnswer | undefined> {
  let answer: CycleAnswer | undefined;
  await env.run.check(
    {
      name: `${prefix}POST /process${resend ? "?resend=true" : ""} runs a cycle`,
      service: MATCH_PROCESSOR,
      expected: resend ? "HTTP 200, success, a snapshot sent" : "HTTP 200, success",
    },
    async () => {
      const response = await env.stack.runCycle({ resend });
      answer = response.body;
      return {
        passed: response.status === 200 && answer?.success === true && (!resend || snapshotSent(answer)),
        observed: describeCycle(response.status, answer),
      };
    },
  );
  if (snapshotSent(answer)) {
    const delivery = answer?.delivery ?? {};
    await env.run.check(
      {
        name: `${prefix}snapshot seq ${delivery.sequence} delivered via ${route}`,
        service: MATCH_PROCESSOR,
        expected: route === "redis" ? "route redis, confirmed, at least 1 receiver" : "route http, confirmed",
      },
      async () => ({
        passed:
          delivery.route === route &&
          delivery.confirmed === true &&
          (route === "http" || (delivery.receivers ?? 0) >= 1),
        observed: `route ${delivery.route}, confirmed ${delivery.confirmed}, ${delivery.receivers ?? 0} receiver(s)${
          delivery.errors?.length ? `; ${delivery.errors.join("; ")}` : ""
        }`,
      }),
    );
  }
  return answer;
}

export interface CalendarCounters {
  processed: number;
  receivedRedis: number;
  receivedHttp: number;
  lastSequence: number | null;
}

/** calendar-sync's `/redis-stats`: what it processed, and what it received over each path. */
export async function calendarCounters(stack: Stack): Promise<CalendarCounters> {
  const stats = await stack.calendarStats();
  const byOrigin = (stats.received_by_origin ?? {}) as Record<string, unknown>;
  return {
    processed: Number(stats.messages_processed ?? 0),
    receivedRedis: Number(byOrigin.redis ?? 0),
    receivedHttp: Number(byOrigin.http ?? 0),
    lastSequence: typeof stats.last_sequence === "number" ? stats.last_sequence : null,
  };
}

/** Every UID of an iCalendar text (lines unfolded). */
export function calendarUids(ics: string): string[] {
  return ics
    .replace(/\r?\n[ \t]/g, "")
    .split(/\r?\n/)
    .filter((line) => line.startsWith("UID:"))
    .map((line) => line.slice(4));
}

export async function feedShowsLatest(env: GateEnv, prefix = ""): Promise<void> {
  await env.run.check(
    {
      name: `${prefix}calendar feed shows the processor's latest snapshot`,
      service: CALENDAR_SYNC,
      expected: "an event for every matchid of GET /matches/latest",
      wait: true,
    },
    async () => {
      const latest = await env.stack.get<{
        payload?: { matches?: Array<{ matchid?: unknown }>; metadata?: { sequence?: number } };
      }>(MATCH_PROCESSOR, "/matches/latest");
      if (latest.status !== 200 || !latest.body?.payload) {
        return { passed: false, observed: `GET /matches/latest answered ${latest.status}` };
      }
      const ids = (latest.body.payload.matches ?? []).map((match) => String(match.matchid));
      const uids = calendarUids(await env.stack.calendarFeed());
      const missing = ids.filter((id) => !uids.some((uid) => new RegExp(`(^|\\D)${id}(\\D|$)`).test(uid)));
      const sequence = latest.body.payload.metadata?.sequence;
      return {
        passed: missing.length === 0,
        observed: `${ids.length - missing.length}/${ids.length} matches of snapshot seq ${sequence ?? "?"} in the feed${
          missing.length ? `; missing ${missing.slice(0, 5).join(", ")}` : ""
        }`,
      };
    },
  );
}

/** A cycle whose messages must reach calendar-sync over Redis, and a feed that shows the snapshot. */
export async function endToEnd(env: GateEnv, prefix: string): Promise<void> {
  const before = await calendarCounters(env.stack);
  const answer = await runCycle(env, "redis", prefix);
  await env.run.check(
    {
      name: `${prefix}calendar-sync received the cycle's messages over Redis`,
      service: CALENDAR_SYNC,
      expected: "messages_processed and received_by_origin.redis increase (/redis-stats)",
      wait: true,
    },
    async () => {
      const now = await calendarCounters(env.stack);
      return {
        passed: now.processed > before.processed && now.receivedRedis > before.receivedRedis,
        observed: `messages_processed ${before.processed} -> ${now.processed}, received over Redis ${before.receivedRedis} -> ${now.receivedRedis}`,
      };
    },
  );
  if (snapshotSent(answer)) {
    const sequence = answer?.delivery?.sequence as number;
    await env.run.check(
      {
        name: `${prefix}calendar-sync took snapshot seq ${sequence}`,
        service: CALENDAR_SYNC,
        expected: `last_sequence >= ${sequence}`,
        wait: true,
      },
      async () => {
        const now = await calendarCounters(env.stack);
        return { passed: (now.lastSequence ?? 0) >= sequence, observed: `last_sequence ${now.lastSequence}` };
      },
    );
  }
  await feedShowsLatest(env, prefix);
}
