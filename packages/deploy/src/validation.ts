import {
  CALENDAR_SYNC,
  calendarCounters,
  describeCycle,
  describeStatus,
  endToEnd,
  feedShowsLatest,
  type GateEnv,
  MATCH_PROCESSOR,
  runCycle,
  serviceStatus,
  steadyState,
} from "./checks.js";
import { phase } from "./phases.js";
import { formatDuration } from "./progress.js";

/**
 * Phase 4: the full flow once more, the fallback drill (Redis paused -> HTTP -> resumed -> Redis)
 * and the soak window whose Redis error rate must stay under 1%. Figures go to the report.
 */

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
    // resend: the processor sends its snapshot even if the list did not change, so the drill
    // proves the processor's own fallback, not a request the tool makes itself.
    const answer = await runCycle(env, "http", "drill: ", { resend: true });
    drill.cycle = describeCycle(200, answer);
    drill.http_path = "the processor's fallback delivered the cycle's snapshot";
    await run.check(
      {
        name: "drill: the snapshot reached calendar-sync over HTTP",
        service: CALENDAR_SYNC,
        expected: "received_by_origin.http increases (/redis-stats)",
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

export async function validationGate(env: GateEnv): Promise<void> {
  await steadyState(env, phase(4).settings);
  await endToEnd(env, "full flow: ");
  await fallbackDrill(env);
  await soak(env);
}
