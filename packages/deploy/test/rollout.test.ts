import { afterEach, describe, expect, it } from "vitest";
import { EXIT } from "../src/errors.js";
import { renderPlan } from "../src/main.js";
import { type PhaseNumber, phase } from "../src/phases.js";
import type { RunReport } from "../src/report.js";
import { Rollout } from "../src/rollout.js";
import { Stack } from "../src/stack.js";
import { collectStatus, renderStatus } from "../src/status.js";
import { MemoryPhaseStore, recordingProgress, ServiceStack, type StackSettings } from "./service-stack.js";

/**
 * The phase machine and every gate against the real services on a real Redis, in this process
 * (service-stack.ts: only Docker and compose are stood in for).
 */

const stacks: ServiceStack[] = [];
afterEach(async () => {
  for (const stack of stacks.splice(0)) await stack.close();
});

async function stackAt(settings: StackSettings | null): Promise<ServiceStack> {
  const stack = await ServiceStack.at(settings);
  stacks.push(stack);
  return stack;
}

/** `timeoutMs`: the longest wait of a check, which a test whose gate must fail waits out. */
function rolloutOn(services: ServiceStack, { store = new MemoryPhaseStore(), timeoutMs = 15_000 } = {}) {
  const runtime = services.runtime();
  const stack = new Stack(runtime);
  const { progress, output } = recordingProgress();
  const rollout = new Rollout({
    runtime,
    stack,
    progress,
    store,
    config: {
      project: "fogis",
      composeFiles: ["/srv/fogis/docker-compose.yml"],
      timeoutMs,
      pollMs: 100,
      soakMs: 1500,
      soakIntervalMs: 300,
      logLines: 30,
    },
  });
  return { rollout, stack, store, output };
}

const atPhase = (number: PhaseNumber | null) => {
  if (number === null) return stackAt(null);
  const { redisRunning, processorPubsub, calendarPubsub } = phase(number).settings;
  return stackAt({ redis: redisRunning, processor: processorPubsub, calendar: calendarPubsub });
};

const allChecks = (report: RunReport) => report.phases.flatMap((p) => p.gate.checks);

describe("current phase", () => {
  it.each([0, 1, 2, 3] as const)("reads phase %i from the containers' settings", async (number) => {
    const { rollout } = rolloutOn(await atPhase(number));
    const current = await rollout.current();
    expect(current).toMatchObject({ phase: number, known: true });
  });

  it("is 'not deployed' without containers, and phase 4 only while the validated containers run", async () => {
    expect((await rolloutOn(await atPhase(null)).rollout.current()).phase).toBeNull();

    const services = await atPhase(3);
    const { rollout, store } = rolloutOn(services);
    await rollout.deploy(4);
    expect(store.state?.phase).toBe(4);
    expect((await rollout.current()).phase).toBe(4);

    // Someone recreated calendar-sync behind the tool's back: validate again.
    await services.runtime().compose.run({
      kind: "up",
      services: ["calendar-sync"],
      recreate: true,
      env: { MATCH_PROCESSOR_REDIS_PUBSUB_ENABLED: "true", CALENDAR_SYNC_REDIS_PUBSUB_ENABLED: "true" },
    });
    expect(await rollout.current()).toMatchObject({
      phase: 3,
      reason: expect.stringContaining("validate again"),
    });
  });

  it("names a stack that matches no phase", async () => {
    const { rollout } = rolloutOn(await stackAt({ redis: true, processor: false, calendar: true }));
    const current = await rollout.current();
    expect(current.known).toBe(false);
    expect(current.reason).toContain("calendar-sync pub/sub on");
    await expect(rollout.deploy(4)).rejects.toThrow(/matches no phase.*rollback --to/);
  });
});

describe("plan", () => {
  it.each([
    [null, [0, 1, 2, 3, 4]],
    [0, [1, 2, 3, 4]],
    [1, [2, 3, 4]],
    [2, [3, 4]],
    [3, [4]],
    [4, []],
  ] as const)(
    "from phase %s lists phases %j with their commands, gates and rollbacks",
    async (from, phases) => {
      const services = await atPhase(from === 4 ? 3 : from);
      const { rollout } = rolloutOn(services);
      const entries = rollout.planDeploy(from, 4);
      expect(entries.map((entry) => entry.phase)).toEqual(phases);
      const text = renderPlan(entries, "plan");
      if (phases.length === 0) expect(text).toContain("Nothing to do.");
      for (const entry of entries) {
        expect(text).toContain(`Phase ${entry.phase} ${entry.name}`);
        expect(entry.gate.length).toBeGreaterThan(10);
      }
      // Planning changes nothing.
      expect(services.composeLog).toEqual([]);
    },
  );

  it("shows the exact compose command of each step and of its rollback", async () => {
    const { rollout } = rolloutOn(await atPhase(1));
    const [publisher, subscriber] = rollout.planDeploy(1, 3);
    expect(publisher?.actions).toEqual([
      "MATCH_PROCESSOR_REDIS_PUBSUB_ENABLED=true CALENDAR_SYNC_REDIS_PUBSUB_ENABLED=false up -d --no-deps --force-recreate match-processor",
    ]);
    expect(publisher?.onFailure).toEqual({
      rollbackTo: 1,
      actions: [
        "MATCH_PROCESSOR_REDIS_PUBSUB_ENABLED=false CALENDAR_SYNC_REDIS_PUBSUB_ENABLED=false up -d --no-deps --force-recreate match-processor",
      ],
    });
    expect(subscriber?.actions).toEqual([
      "MATCH_PROCESSOR_REDIS_PUBSUB_ENABLED=true CALENDAR_SYNC_REDIS_PUBSUB_ENABLED=true up -d --no-deps --force-recreate calendar-sync",
    ]);
  });

  it("from nothing starts both services on HTTP with redis stopped, and a rollback plan walks back one phase at a time", async () => {
    const { rollout } = rolloutOn(await atPhase(null));
    expect(rollout.planDeploy(null, 0)[0]?.actions).toEqual([
      "MATCH_PROCESSOR_REDIS_PUBSUB_ENABLED=false CALENDAR_SYNC_REDIS_PUBSUB_ENABLED=false up -d --no-deps match-processor calendar-sync",
      "stop redis",
    ]);
    const back = rollout.planRollback(3, 0);
    expect(back.map((entry) => entry.phase)).toEqual([2, 1, 0]);
    expect(back.at(-1)?.actions).toEqual(["stop redis"]);
  });
});

describe("deploy", () => {
  it("takes a stack from nothing to phase 4 with every gate passing, and records each phase", async () => {
    const services = await atPhase(null);
    const { rollout, store, output } = rolloutOn(services);
    const report = await rollout.deploy(4);
    expect(report).toMatchObject({ result: "ok", exit_code: EXIT.ok, from_phase: null, final_phase: 4 });
    expect(report.phases.map((p) => [p.phase, p.direction, p.passed])).toEqual([
      [0, "forward", true],
      [1, "forward", true],
      [2, "forward", true],
      [3, "forward", true],
      [4, "forward", true],
    ]);
    expect(allChecks(report).every((check) => check.passed)).toBe(true);
    expect(store.state?.phase).toBe(4);
    expect(services.state("redis")).toBe("running");
    expect([services.pubsub("match-processor"), services.pubsub("calendar-sync")]).toEqual([true, true]);

    const names = allChecks(report).map((check) => check.name);
    expect(names).toContain("persistence on (CONFIG GET appendonly)");
    expect(names).toContain("probe received the snapshot via Redis");
    expect(names).toContain("probe subscriber gone");
    expect(names).toContain("calendar-sync received the cycle's messages over Redis");
    expect(names).toContain("drill: the snapshot reached calendar-sync over HTTP");
    expect(names.some((name) => name.startsWith("soak"))).toBe(true);
    // The snapshot only the probe received in phase 2 reached the calendar over HTTP.
    expect(report.phases[2]?.actions.map((a) => a.name)).toContainEqual(
      expect.stringMatching(/^relay snapshot seq \d+/),
    );
    expect(report.validation).toMatchObject({
      soak: { errors: 0, error_rate: 0 },
      drill: { http_path: expect.any(String) },
    });

    // Plain progress: a heading per phase, a line per action and check, with timings.
    expect(output()).toContain("Phase 2/4 publisher");
    expect(output()).toMatch(/\[ok\] {3}redis-cli PING: PONG {2}\d+ms/);
    expect(output()).toContain("Done: at phase 4 validation");
  });

  it("stops at --phase", async () => {
    const services = await atPhase(0);
    const { rollout } = rolloutOn(services);
    const report = await rollout.deploy(2);
    expect(report.final_phase).toBe(2);
    expect([services.pubsub("match-processor"), services.pubsub("calendar-sync")]).toEqual([true, false]);
  });

  it("rolls back to the last good phase when a gate fails, says why, and shows the failing container's logs", async () => {
    const services = await atPhase(2);
    services.knobs.calendarRedisUnreachable = true;
    const { rollout, store, output } = rolloutOn(services, { timeoutMs: 6000 });
    const report = await rollout.deploy(4);

    expect(report).toMatchObject({ result: "rolled_back", exit_code: EXIT.rolledBack, final_phase: 2 });
    const [failed, rollback] = report.phases;
    expect(failed).toMatchObject({ phase: 3, direction: "forward", passed: false });
    expect(failed?.failure).toMatchObject({
      service: "calendar-sync",
      reason: expect.stringContaining("calendar-sync /redis-status"),
      // calendar-sync's own log lines, as `docker logs` shows them.
      logs: expect.arrayContaining([expect.stringContaining('"service":"calendar-sync"')]),
    });
    expect(failed?.gate.checks.at(-1)).toMatchObject({
      passed: false,
      observed: expect.stringContaining("subscribed false"),
    });
    expect(rollback).toMatchObject({ phase: 2, direction: "rollback", from: 3, passed: true });
    expect(report.summary).toMatch(/phase 3 subscriber failed: .*rolled back to phase 2 publisher/);
    // calendar-sync is back on HTTP alone; the processor stays on Redis.
    expect([services.pubsub("match-processor"), services.pubsub("calendar-sync")]).toEqual([true, false]);
    expect(store.state?.phase).toBe(2);
    expect(output()).toContain("Rolling back to phase 2 publisher (automatic)");
    expect(output()).toMatch(/ {4}\| \{.*"service":"calendar-sync"/);
  });

  it("rolls back a failed phase 1 (persistence off) to phase 0", async () => {
    const services = await atPhase(0);
    services.knobs.appendonly = "no";
    const { rollout } = rolloutOn(services);
    const report = await rollout.deploy(4);
    expect(report).toMatchObject({ exit_code: EXIT.rolledBack, final_phase: 0 });
    expect(report.phases[0]?.failure?.reason).toMatch(/persistence on .*expected yes, observed no/);
    expect(services.state("redis")).toBe("exited");
  });

  it("exits 4 when the automatic rollback fails too", async () => {
    const services = await atPhase(1);
    const { rollout, store } = rolloutOn(services, { timeoutMs: 6000 });
    expect((await rollout.deploy(2)).exit_code).toBe(EXIT.ok);
    services.knobs.calendarRedisUnreachable = true;
    // The compose invocation that would turn calendar-sync's pub/sub off again fails.
    services.knobs.composeFails = (action) =>
      action.kind === "up" &&
      action.services.includes("calendar-sync") &&
      action.env.CALENDAR_SYNC_REDIS_PUBSUB_ENABLED === "false";
    const report = await rollout.deploy(3);

    expect(report).toMatchObject({
      result: "rollback_failed",
      exit_code: EXIT.rollbackFailed,
      final_phase: null,
    });
    expect(report.phases[1]).toMatchObject({ direction: "rollback", passed: false });
    expect(report.phases[1]?.actions[0]).toMatchObject({
      passed: false,
      error: expect.stringContaining("compose up failed"),
    });
    expect(report.summary).toContain("the automatic rollback to phase 2 failed too");
    // The record still says the last phase that held.
    expect(store.state?.phase).toBe(2);
  });

  it("first resumes a redis that an interrupted drill left paused", async () => {
    const services = await atPhase(3);
    await services.runtime().engine.pause("redis");
    const { rollout, output } = rolloutOn(services);
    expect((await rollout.deploy(4)).exit_code).toBe(EXIT.ok);
    expect(output()).toContain("redis is paused (an interrupted fallback drill?): unpausing it first");
    expect(services.state("redis")).toBe("running");
  });

  it("refuses to deploy backwards", async () => {
    const { rollout } = rolloutOn(await atPhase(3));
    await expect(rollout.deploy(1)).rejects.toThrow(/rollback --to 1/);
  });
});

describe("rollback", () => {
  it("walks back one phase at a time to 0: both services on HTTP alone, redis stopped", async () => {
    const services = await atPhase(3);
    const { rollout, store } = rolloutOn(services);
    const report = await rollout.rollback(0);
    expect(report).toMatchObject({ result: "ok", exit_code: EXIT.ok, final_phase: 0 });
    expect(report.phases.map((p) => [p.phase, p.from, p.passed])).toEqual([
      [2, 3, true],
      [1, 2, true],
      [0, 1, true],
    ]);
    expect(services.state("redis")).toBe("exited");
    expect([services.pubsub("match-processor"), services.pubsub("calendar-sync")]).toEqual([false, false]);
    expect(store.state?.phase).toBe(0);
  });

  it("exits 4 when a steady-state check after a rollback step fails", async () => {
    const services = await atPhase(3);
    const { rollout } = rolloutOn(services);
    // redis refuses to stop: phase 0 cannot be reached.
    services.knobs.composeFails = (action) => action.kind === "stop";
    const report = await rollout.rollback(0);
    expect(report).toMatchObject({ result: "rollback_failed", exit_code: EXIT.rollbackFailed });
    expect(report.phases.at(-1)).toMatchObject({ phase: 0, passed: false });
  });

  it("brings a stack that matches no phase straight to the target", async () => {
    const services = await stackAt({ redis: false, processor: true, calendar: false });
    const { rollout } = rolloutOn(services);
    const report = await rollout.rollback(0);
    expect(report.exit_code).toBe(EXIT.ok);
    expect([services.pubsub("match-processor"), services.pubsub("calendar-sync")]).toEqual([false, false]);
  });
});

describe("status", () => {
  it("shows the phase, each container's health and /redis-status in one table", async () => {
    const services = await atPhase(2);
    const { rollout, stack } = rolloutOn(services);
    const status = await collectStatus(stack, await rollout.current(), {
      project: "fogis",
      composeFiles: ["docker-compose.yml"],
      stateLocation: "(memory)",
    });
    expect(status.phase).toBe(2);
    const text = renderStatus(status);
    expect(text).toContain("Phase     2 publisher");
    expect(text).toMatch(/redis\s+stack_redis_1\s+running\s+healthy\s+-\s+PONG, appendonly yes/);
    expect(text).toMatch(/match-processor\s+\S+\s+running\s+healthy\s+on\s+pass, path redis, connected/);
    expect(text).toMatch(/calendar-sync\s+\S+\s+running\s+healthy\s+off\s+pass, path http, Redis disabled/);
  });
});
