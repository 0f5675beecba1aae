import { decodeEnvelope, type Envelope } from "@fogis/message-schema";
import type { Observed, PhaseRun } from "./phase-run.js";
import { type AppService, type PhaseNumber, phase, type StackSettings } from "./phases.js";
import { formatDuration } from "./progress.js";
import type { ChannelProbe } from "./runtime.js";
import { type CycleAnswer, metricValue, type RedisStatusReport, type Stack } from "./stack.js";

/**
 * The gate of each phase: the checks that must pass before the rollout moves on. Every gate starts
 * with the steady state its phase promises (containers up and healthy, each service's
 * `/redis-status` saying pass on the expected path); the same steady-state check verifies a rollback.
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

/** What each gate checks, in one line, for the plan. */
export const GATE_SUMMARIES: Record<PhaseNumber, string> = {
  0: "both services healthy, /redis-status pass with Redis disabled, redis not running; a cycle over HTTP",
  1: "redis healthy, PING answers PONG, CONFIG GET appendonly is yes; services unchanged",
  2: "match-processor healthy and connected; a cycle published through Redis reaches a probe subscriber held in the redis container (then relayed to calendar-sync over HTTP); fallback still armed",
  3: "calendar-sync subscribed; a cycle's messages reach it over Redis (/redis-stats, /metrics) and the feed shows the processor's latest snapshot",
  4: "full flow; fallback drill (redis paused -> HTTP -> unpaused -> Redis again); soak with Redis error rate < 1%",
};

export const STEADY_STATE_SUMMARY =
  "every container up and healthy, each /redis-status pass on the path the phase expects";

const MATCH_PROCESSOR = "match-processor";
const CALENDAR_SYNC = "calendar-sync";

function decode(payload: string): Envelope | undefined {
  const result = decodeEnvelope(payload);
  return result.ok ? result.envelope : undefined;
}

function snapshotSent(answer: CycleAnswer | undefined): boolean {
  return (
    Boolean(answer?.publish_reason) &&
    answer?.delivery?.sequence !== null &&
    answer?.delivery?.sequence !== undefined
  );
}

function describeCycle(status: number, answer: CycleAnswer | undefined): string {
  if (!answer) return `HTTP ${status}`;
  const head = `HTTP ${status}, cycle ${answer.cycle ?? "?"} ${answer.outcome ?? ""}`.trim();
  if (answer.error) return `${head}: ${answer.error}`;
  if (!snapshotSent(answer))
    return `${head}, nothing new to send (list unchanged since the last confirmed delivery)`;
  const delivery = answer.delivery ?? {};
  return `${head}, snapshot seq ${delivery.sequence} (${answer.publish_reason}) via ${delivery.route} to ${delivery.receivers ?? 0} receiver(s)`;
}

function describeStatus(service: AppService, report: RedisStatusReport): string {
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

// --- steady state ---------------------------------------------------------------------------

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

async function redisStopped(env: GateEnv): Promise<void> {
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

async function redisPing(env: GateEnv, prefix = ""): Promise<void> {
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

async function serviceStatus(env: GateEnv, service: AppService, pubsub: boolean, prefix = ""): Promise<void> {
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

// --- shared probes --------------------------------------------------------------------------

/**
 * POST /process, then (when the cycle sent a snapshot) the route it took. A cycle with nothing new
 * to send is not a failure: the processor only publishes changes, a first snapshot, an unconfirmed
 * one, or one after Redis recovered (DESIGN §5); the gates then rely on the status messages every
 * cycle publishes.
 */
async function runCycle(
  env: GateEnv,
  route: "redis" | "http",
  prefix = "",
): Promise<CycleAnswer | undefined> {
  let answer: CycleAnswer | undefined;
  await env.run.check(
    { name: `${prefix}POST /process runs a cycle`, service: MATCH_PROCESSOR, expected: "HTTP 200, success" },
    async () => {
      const response = await env.stack.runCycle();
      answer = response.body;
      return {
        passed: response.status === 200 && answer?.success === true,
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

interface CalendarCounters {
  processed: number;
  receivedRedis: number;
  receivedHttp: number;
  lastSequence: number | null;
}

async function calendarCounters(stack: Stack): Promise<CalendarCounters> {
  const [stats, metrics] = await Promise.all([stack.calendarStats(), stack.metrics(CALENDAR_SYNC)]);
  return {
    processed: Number(stats.messages_processed ?? 0),
    receivedRedis: metricValue(metrics, "fogis_calendar_messages_received_total", { origin: "redis" }),
    receivedHttp: metricValue(metrics, "fogis_calendar_messages_received_total", { origin: "http" }),
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

async function feedShowsLatest(env: GateEnv, prefix = ""): Promise<void> {
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
async function endToEnd(env: GateEnv, prefix: string): Promise<void> {
  const before = await calendarCounters(env.stack);
  const answer = await runCycle(env, "redis", prefix);
  await env.run.check(
    {
      name: `${prefix}calendar-sync received the cycle's messages over Redis`,
      service: CALENDAR_SYNC,
      expected: "messages_processed and the Redis-received counter increase",
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

// --- phase gates ----------------------------------------------------------------------------

async function httpOnlyGate(env: GateEnv): Promise<void> {
  await steadyState(env, phase(0).settings);
  await runCycle(env, "http");
}

async function infrastructureGate(env: GateEnv): Promise<void> {
  await steadyState(env, phase(1).settings);
  await env.run.check(
    { name: "persistence on (CONFIG GET appendonly)", service: "redis", expected: "yes" },
    async () => {
      const result = await env.stack.redisCli(["--raw", "CONFIG", "GET", "appendonly"]);
      const value = result.stdout.trim().split("\n")[1]?.trim() ?? "";
      return {
        passed: value === "yes",
        observed: value || result.stderr.trim() || `exit ${result.exitCode}`,
      };
    },
  );
}

async function publisherGate(env: GateEnv): Promise<void> {
  const { run, stack } = env;
  await steadyState(env, phase(2).settings);
  await run.check(
    { name: "HTTP fallback still armed", service: MATCH_PROCESSOR, expected: "fallback configured" },
    async () => {
      const report = await stack.redisStatus(MATCH_PROCESSOR);
      const fallback = report.fallback as { configured?: boolean; url?: string } | undefined;
      return {
        passed: fallback?.configured === true,
        observed: fallback?.configured ? `configured: ${fallback.url}` : "not configured",
      };
    },
  );

  // calendar-sync is not subscribed yet, so a PUBLISH would reach nobody and the processor would
  // (rightly) fall back to HTTP: a probe subscriber in the redis container is the receiver.
  const channels = await stack.channels();
  const probe = await stack.probeChannels(
    [channels.matchUpdates, channels.processorStatus],
    Math.ceil((run.options.timeoutMs * 4) / 1000) + 60,
  );
  let failure: unknown;
  try {
    await probeReady(env, probe, [channels.matchUpdates, channels.processorStatus]);
    const answer = await runCycle(env, "redis");
    if (snapshotSent(answer)) {
      const messageId = answer?.delivery?.message_id;
      await run.check(
        {
          name: "probe received the snapshot via Redis",
          service: "redis",
          expected: `match_updates ${messageId}`,
          wait: true,
        },
        async () => {
          const received = probe.messages.find(
            (message) =>
              message.channel === channels.matchUpdates && decode(message.payload)?.message_id === messageId,
          );
          return {
            passed: received !== undefined,
            observed: received
              ? `match_updates ${messageId} (${received.payload.length} bytes)`
              : `${probe.messages.length} message(s), not this one`,
          };
        },
      );
      await run.check(
        {
          name: "processor metrics count the Redis delivery",
          service: MATCH_PROCESSOR,
          expected: 'envelopes_delivered_total{route="redis"} >= 1',
        },
        async () => {
          const value = metricValue(
            await stack.metrics(MATCH_PROCESSOR),
            "fogis_processor_envelopes_delivered_total",
            { route: "redis" },
          );
          return {
            passed: value >= 1,
            observed: `fogis_processor_envelopes_delivered_total{route="redis"} ${value}`,
          };
        },
      );
    }
    await run.check(
      {
        name: "probe received the cycle's status messages via Redis",
        service: "redis",
        expected: `processing_status from match-processor for cycle ${answer?.cycle}`,
        wait: true,
      },
      async () => {
        const statuses = probe.messages
          .filter((message) => message.channel === channels.processorStatus)
          .map((message) => decode(message.payload))
          .filter(
            (envelope) =>
              envelope?.type === "processing_status" && envelope.payload.details?.cycle === answer?.cycle,
          );
        return {
          passed: statuses.length > 0,
          observed: `${statuses.length} processing_status for cycle ${answer?.cycle} (${probe.messages.length} message(s) in all)`,
        };
      },
    );
  } catch (error) {
    failure = error;
  }
  await probe.close();
  // What only the probe received must still reach the calendar: calendar-sync is on HTTP here.
  const snapshots = probe.messages.filter((message) => message.channel === channels.matchUpdates);
  for (const snapshot of snapshots) {
    const sequence = (
      decode(snapshot.payload) as { payload?: { metadata?: { sequence?: number } } } | undefined
    )?.payload?.metadata?.sequence;
    try {
      await run.action(
        `relay snapshot seq ${sequence ?? "?"} from the probe to calendar-sync (POST /manual-sync)`,
        async () => {
          const answer = await stack.post(CALENDAR_SYNC, "/manual-sync", snapshot.payload);
          if (answer.status < 200 || answer.status >= 300)
            throw new Error(`answered ${answer.status}: ${answer.text.slice(0, 200)}`);
        },
        { service: CALENDAR_SYNC },
      );
    } catch (error) {
      failure ??= error;
    }
  }
  if (failure) throw failure;
  await run.check(
    {
      name: "probe subscriber gone",
      service: "redis",
      expected: `0 subscribers on ${channels.matchUpdates}`,
      wait: true,
    },
    async () => {
      const result = await stack.redisCli(["--raw", "PUBSUB", "NUMSUB", channels.matchUpdates]);
      const count = Number(result.stdout.trim().split("\n")[1]);
      return {
        passed: count === 0,
        observed: `${Number.isNaN(count) ? result.stdout.trim() : count} subscriber(s)`,
      };
    },
  );
}

async function probeReady(env: GateEnv, probe: ChannelProbe, channels: string[]): Promise<void> {
  let state: Observed = { passed: false, observed: "subscribing" };
  probe.ready.then(
    () => {
      state = { passed: true, observed: "subscribed" };
    },
    (error: Error) => {
      state = { passed: false, observed: error.message };
    },
  );
  await env.run.check(
    {
      name: `probe subscriber on ${channels.join(" and ")}`,
      service: "redis",
      expected: "subscribed",
      wait: true,
    },
    async () => state,
  );
}

async function subscriberGate(env: GateEnv): Promise<void> {
  await steadyState(env, phase(3).settings);
  await endToEnd(env, "");
}

async function fallbackDrill(env: GateEnv): Promise<void> {
  const { run, stack } = env;
  const redis = await stack.requireContainer("redis");
  const pausedAt = stack.runtime.now();
  await run.action("drill: pause redis", () => stack.runtime.engine.pause(redis.id), { service: "redis" });
  let failure: unknown;
  const drill: Record<string, unknown> = {};
  try {
    await run.check(
      {
        name: "drill: calendar-sync notices and stays up on HTTP",
        service: CALENDAR_SYNC,
        expected: "status warn, delivery path http, not subscribed",
        wait: true,
      },
      async () => {
        const report = await stack.redisStatus(CALENDAR_SYNC);
        return {
          passed:
            report.status === "warn" &&
            report.delivery_path === "http" &&
            report.redis_status?.subscribed === false,
          observed: describeStatus(CALENDAR_SYNC, report),
        };
      },
    );
    drill.noticed_after_ms = stack.runtime.now() - pausedAt;
    const before = await calendarCounters(stack);
    const answer = await runCycle(env, "http", "drill: ");
    drill.cycle = describeCycle(200, answer);
    if (!snapshotSent(answer)) {
      // The list did not change, so the processor has nothing to send: send its latest snapshot
      // to /manual-sync exactly as its fallback would, to prove the HTTP path end to end.
      await run.action(
        "drill: nothing new to send; POST the processor's latest snapshot to /manual-sync as its fallback does",
        async () => {
          const latest = await stack.get(MATCH_PROCESSOR, "/matches/latest");
          if (latest.status !== 200) throw new Error(`GET /matches/latest answered ${latest.status}`);
          const answer = await stack.post(CALENDAR_SYNC, "/manual-sync", latest.text);
          if (answer.status < 200 || answer.status >= 300)
            throw new Error(`/manual-sync answered ${answer.status}`);
        },
        { service: CALENDAR_SYNC },
      );
      drill.http_path = "latest snapshot sent to /manual-sync by the tool";
    } else {
      drill.http_path = "the processor's fallback delivered the cycle's snapshot";
    }
    await run.check(
      {
        name: "drill: the snapshot reached calendar-sync over HTTP",
        service: CALENDAR_SYNC,
        expected: "HTTP-received counter increases",
        wait: true,
      },
      async () => {
        const now = await calendarCounters(stack);
        return {
          passed: now.receivedHttp > before.receivedHttp,
          observed: `received over HTTP ${before.receivedHttp} -> ${now.receivedHttp}`,
        };
      },
    );
    await feedShowsLatest(env, "drill: ");
  } catch (error) {
    failure = error;
  }
  // Always, whatever failed above: a paused Redis must never outlive the drill.
  await run.action("drill: unpause redis", () => stack.runtime.engine.unpause(redis.id), {
    service: "redis",
  });
  drill.paused_ms = stack.runtime.now() - pausedAt;
  env.validation.drill = drill;
  if (failure) throw failure;

  const resumedAt = stack.runtime.now();
  await serviceStatus(env, CALENDAR_SYNC, true, "drill: back on Redis: ");
  await serviceStatus(env, MATCH_PROCESSOR, true, "drill: back on Redis: ");
  drill.back_on_redis_after_ms = stack.runtime.now() - resumedAt;
  await run.check(
    {
      name: "drill: pub/sub round trip (calendar-sync POST /redis-test)",
      service: CALENDAR_SYNC,
      expected: "success",
      wait: true,
    },
    async () => {
      const answer = await stack.post<{ success?: boolean; latency_ms?: number; error?: string }>(
        CALENDAR_SYNC,
        "/redis-test",
      );
      return {
        passed: answer.status === 200 && answer.body?.success === true,
        observed: answer.body?.success
          ? `${answer.body.latency_ms} ms`
          : `${answer.status}: ${answer.body?.error ?? answer.text.slice(0, 120)}`,
      };
    },
  );
  await endToEnd(env, "drill: after: ");
}

interface SoakFigures {
  duration_ms: number;
  samples: number;
  operations: number;
  errors: number;
  error_rate: number;
  round_trip_ms: { min: number | null; avg: number | null; max: number | null };
  counters: Record<string, { before: number; after: number }>;
  failures: string[];
}

async function soak(env: GateEnv): Promise<void> {
  const { run, stack, settings } = env;
  const processorCounters = async () => {
    const report = await stack.redisStatus(MATCH_PROCESSOR);
    const delivery = (report.delivery ?? {}) as Record<string, number>;
    return {
      delivered_via_redis: delivery.delivered_via_redis ?? 0,
      delivered_via_http: delivery.delivered_via_http ?? 0,
      delivery_failures: delivery.delivery_failures ?? 0,
      zero_receiver_publishes: delivery.zero_receiver_publishes ?? 0,
    };
  };
  const subscriberCounters = async () => {
    const stats = await stack.calendarStats();
    return {
      messages_received: Number(stats.messages_received ?? 0),
      messages_failed: Number(stats.messages_failed ?? 0),
      heartbeat_misses: Number(stats.heartbeat_misses ?? 0),
      reconnects: Number(stats.reconnects ?? 0),
    };
  };

  await run.check(
    {
      name: `soak ${formatDuration(settings.soakMs)}: Redis error rate`,
      expected: "under 1% of Redis operations",
      timeoutMs: settings.soakMs,
    },
    async (update) => {
      const started = stack.runtime.now();
      const p0 = await processorCounters();
      const c0 = await subscriberCounters();
      let samples = 0;
      let operations = 0;
      let errors = 0;
      const failures: string[] = [];
      const roundTrips: number[] = [];
      const fail = (what: string, count = 1) => {
        errors += count;
        if (failures.length < 10) failures.push(`${formatDuration(stack.runtime.now() - started)}: ${what}`);
      };
      do {
        samples++;
        operations += 3;
        try {
          const answer = await stack.post<{ success?: boolean; latency_ms?: number; error?: string }>(
            CALENDAR_SYNC,
            "/redis-test",
          );
          if (answer.body?.success) roundTrips.push(answer.body.latency_ms ?? 0);
          else fail(`/redis-test: ${answer.body?.error ?? answer.status}`);
        } catch (error) {
          fail(`/redis-test: ${(error as Error).message}`);
        }
        for (const service of [MATCH_PROCESSOR, CALENDAR_SYNC] as const) {
          try {
            const report = await stack.redisStatus(service);
            if (report.status !== "pass" || report.delivery_path !== "redis")
              fail(`${service} /redis-status ${describeStatus(service, report)}`);
          } catch (error) {
            fail(`${service} /redis-status: ${(error as Error).message}`);
          }
        }
        const left = settings.soakMs - (stack.runtime.now() - started);
        update(`${formatDuration(Math.max(0, left))} left, ${errors} error(s) in ${operations} operations`);
        await stack.runtime.sleep(settings.soakIntervalMs);
      } while (stack.runtime.now() - started < settings.soakMs);
      const p1 = await processorCounters();
      const c1 = await subscriberCounters();
      const delta = (after: Record<string, number>, before: Record<string, number>, key: string) =>
        Math.max(0, (after[key] ?? 0) - (before[key] ?? 0));
      // Traffic the services carried meanwhile counts too: received messages and snapshot deliveries
      // are operations; failed messages, missed heartbeats, reconnects, and snapshots that had to
      // take HTTP (or nothing) while Redis was meant to carry them are errors.
      operations +=
        delta(c1, c0, "messages_received") +
        delta(p1, p0, "delivered_via_redis") +
        delta(p1, p0, "delivered_via_http") +
        delta(p1, p0, "delivery_failures");
      const counterErrors =
        delta(c1, c0, "messages_failed") +
        delta(c1, c0, "heartbeat_misses") +
        delta(c1, c0, "reconnects") +
        delta(p1, p0, "delivered_via_http") +
        delta(p1, p0, "delivery_failures") +
        delta(p1, p0, "zero_receiver_publishes");
      if (counterErrors > 0) fail(`service counters: ${counterErrors} error(s)`, counterErrors);
      const rate = operations > 0 ? errors / operations : 0;
      const sorted = [...roundTrips].sort((a, b) => a - b);
      const figures: SoakFigures = {
        duration_ms: stack.runtime.now() - started,
        samples,
        operations,
        errors,
        error_rate: rate,
        round_trip_ms: {
          min: sorted[0] ?? null,
          avg: sorted.length
            ? Math.round((sorted.reduce((a, b) => a + b, 0) / sorted.length) * 100) / 100
            : null,
          max: sorted.at(-1) ?? null,
        },
        counters: Object.fromEntries([
          ...Object.keys(p0).map((key) => [
            `match-processor.${key}`,
            { before: p0[key as keyof typeof p0], after: p1[key as keyof typeof p1] },
          ]),
          ...Object.keys(c0).map((key) => [
            `calendar-sync.${key}`,
            { before: c0[key as keyof typeof c0], after: c1[key as keyof typeof c1] },
          ]),
        ]),
        failures,
      };
      env.validation.soak = figures;
      return {
        passed: rate < 0.01,
        observed: `${(rate * 100).toFixed(2)}% (${errors} error(s) in ${operations} operations, ${samples} samples)${
          failures.length ? `; first: ${failures[0]}` : ""
        }`,
      };
    },
  );
}

async function validationGate(env: GateEnv): Promise<void> {
  await steadyState(env, phase(4).settings);
  await endToEnd(env, "full flow: ");
  await fallbackDrill(env);
  await soak(env);
}

export const GATES: Record<PhaseNumber, (env: GateEnv) => Promise<void>> = {
  0: httpOnlyGate,
  1: infrastructureGate,
  2: publisherGate,
  3: subscriberGate,
  4: validationGate,
};
