import {
  CALENDAR_SYNC,
  decode,
  endToEnd,
  type GateEnv,
  MATCH_PROCESSOR,
  runCycle,
  snapshotSent,
  steadyState,
} from "./checks.js";
import type { Observed } from "./phase-run.js";
import { type PhaseNumber, phase } from "./phases.js";
import type { ChannelProbe } from "./runtime.js";
import { validationGate } from "./validation.js";

/**
 * The gate of each phase: the checks that must pass before the rollout moves on. Every gate starts
 * with the steady state its phase promises (checks.ts); phase 4's drill and soak are in validation.ts.
 */

/** What each gate checks, in one line, for the plan. */
export const GATE_SUMMARIES: Record<PhaseNumber, string> = {
  0: "both services healthy, /redis-status pass with Redis disabled, redis not running; a cycle over HTTP",
  1: "redis healthy, PING answers PONG, CONFIG GET appendonly is yes; services unchanged",
  2: "match-processor healthy and connected; a cycle published through Redis reaches a probe subscriber held in the redis container (then relayed to calendar-sync over HTTP); fallback still armed",
  3: "calendar-sync subscribed; a cycle's messages reach it over Redis (/redis-stats) and the feed shows the processor's latest snapshot",
  4: "full flow; fallback drill (redis paused -> HTTP -> unpaused -> Redis again); soak with Redis error rate < 1%",
};

export const STEADY_STATE_SUMMARY =
  "every container up and healthy, each /redis-status pass on the path the phase expects";

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
          name: "processor counts the Redis delivery",
          service: MATCH_PROCESSOR,
          expected: "delivery.delivered_via_redis >= 1 (/redis-status)",
        },
        async () => {
          const delivery = (await stack.redisStatus(MATCH_PROCESSOR)).delivery as
            | { delivered_via_redis?: number }
            | undefined;
          const value = delivery?.delivered_via_redis ?? 0;
          return { passed: value >= 1, observed: `delivered_via_redis ${value}` };
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

export const GATES: Record<PhaseNumber, (env: GateEnv) => Promise<void>> = {
  0: httpOnlyGate,
  1: infrastructureGate,
  2: publisherGate,
  3: subscriberGate,
  4: validationGate,
};
