import { type GateEnv, type GateSettings, steadyState } from "./checks.js";
import { EXIT, PreconditionError, UsageError } from "./errors.js";
import { GATES } from "./gates.js";
import { ActionFailure, GateFailure, PhaseRun } from "./phase-run.js";
import {
  actionsBetween,
  type ComposeAction,
  describeAction,
  LAST_PHASE,
  type PhaseNumber,
  phase,
  phaseLabel,
  SERVICES,
  type ServiceName,
} from "./phases.js";
import { type PlanEntry, planDeploy, planRollback } from "./plan.js";
import { formatDuration, type Progress } from "./progress.js";
import { type FailureRecord, type PhaseRecord, type RunReport, startReport } from "./report.js";
import type { Runtime } from "./runtime.js";
import { isRunning, type Observation, type Stack, StackError } from "./stack.js";
import type { PhaseStore, RecordedPhase } from "./state-file.js";

/**
 * The phase machine. `deploy` walks forward one phase at a time: the phase's compose actions, then
 * its gate; a failure rolls back to the last good phase at once (its compose actions undone, then
 * the steady state of that phase checked). `rollback` walks back one phase at a time the same way.
 * After every phase that holds, the phase is recorded (state-file.ts).
 */

export interface RolloutConfig extends GateSettings {
  project: string;
  composeFiles: string[];
  /** Longest wait of any one check. */
  timeoutMs: number;
  /** Pause between two looks of a waiting check. */
  pollMs: number;
  /** Log lines of a failing container shown and reported. */
  logLines: number;
}

export interface RolloutDeps {
  runtime: Runtime;
  stack: Stack;
  progress: Progress;
  store: PhaseStore;
  config: RolloutConfig;
}

export interface CurrentPhase {
  /** null: not deployed (neither service runs). */
  phase: PhaseNumber | null;
  /** false: the containers match no phase (see `reason`). */
  known: boolean;
  reason: string;
  observation: Observation;
  recorded: RecordedPhase | null;
}

const serviceOf = (action: ComposeAction): ServiceName | undefined =>
  action.services.length === 1 ? action.services[0] : undefined;

export class Rollout {
  /** When the running command started (one command per instance at a time). */
  private runStarted = 0;

  constructor(private readonly deps: RolloutDeps) {}

  async current(): Promise<CurrentPhase> {
    const observation = await this.deps.stack.observe();
    const recorded = await this.deps.store.read();
    const base = { observation, recorded };
    const { containers, settings, settingsPhase } = observation;
    if (!settings) {
      const running = (["match-processor", "calendar-sync"] as const).filter((service) =>
        isRunning(containers[service]),
      );
      if (running.length === 0) {
        return {
          ...base,
          phase: null,
          known: true,
          reason: observation.empty
            ? "no containers in the project"
            : "match-processor and calendar-sync are not running",
        };
      }
      const stopped = running.includes("match-processor") ? "calendar-sync" : "match-processor";
      return {
        ...base,
        phase: null,
        known: false,
        reason: `${stopped} is not running (${containers[stopped]?.state ?? "no container"})`,
      };
    }
    if (settingsPhase === null) {
      return {
        ...base,
        phase: null,
        known: false,
        reason: `redis ${settings.redisRunning ? "running" : "stopped"}, match-processor pub/sub ${
          settings.processorPubsub ? "on" : "off"
        }, calendar-sync pub/sub ${settings.calendarPubsub ? "on" : "off"}: no phase looks like that`,
      };
    }
    if (settingsPhase === 3 && recorded?.phase === 4 && sameContainers(recorded, observation)) {
      return { ...base, phase: 4, known: true, reason: `validated at ${recorded.updated_at}` };
    }
    const note =
      settingsPhase === 3 && recorded?.phase === 4
        ? "recorded as validated, but containers were recreated since: validate again"
        : "from the containers' settings";
    return { ...base, phase: settingsPhase, known: true, reason: note };
  }

  planDeploy(from: PhaseNumber | null, target: PhaseNumber): PlanEntry[] {
    return planDeploy(this.deps.runtime.compose, from, target);
  }

  planRollback(from: PhaseNumber | null, target: PhaseNumber): PlanEntry[] {
    return planRollback(this.deps.runtime.compose, from, target);
  }

  async deploy(target: PhaseNumber): Promise<RunReport> {
    await this.unpauseLeftoverRedis();
    const current = await this.current();
    if (!current.known) {
      throw new PreconditionError(
        `the stack matches no phase (${current.reason}). Bring it to a known phase first: pnpm run deploy rollback --to <0-3>`,
      );
    }
    const from = current.phase;
    if (from !== null && target < from) {
      throw new UsageError(
        `the stack is at phase ${phaseLabel(from)}, past phase ${target}; to go back: pnpm run deploy rollback --to ${target}`,
      );
    }
    const report = this.newReport("deploy", from, target);
    const { progress } = this.deps;
    progress.line(`${this.deps.config.project}: at phase ${phaseLabel(from)}, target ${phaseLabel(target)}`);
    if (from === target) {
      progress.line(`Nothing to do: already at phase ${phaseLabel(target)}.`);
      return this.finish(report, "unchanged", EXIT.ok, from, `already at phase ${phaseLabel(target)}`);
    }

    let lastGood = from;
    for (let number = from === null ? 0 : from + 1; number <= target; number++) {
      const to = number as PhaseNumber;
      const definition = phase(to);
      progress.heading(`Phase ${to}/${LAST_PHASE} ${definition.name}: ${definition.summary}`);
      const actions = actionsBetween(
        lastGood === null ? null : phase(lastGood).settings,
        definition.settings,
      );
      const record = await this.runPhase(to, "forward", lastGood, actions, (env) => GATES[to](env), report);
      if (record.passed) {
        lastGood = to;
        await this.remember(to, "deploy", "ok");
        continue;
      }
      const why = `phase ${to} ${definition.name} failed: ${record.failure?.reason}`;
      if (lastGood === null) {
        progress.line(
          `\n${why}. There is no earlier phase to return to; the containers are left as they are for inspection.`,
        );
        return this.finish(report, "failed", EXIT.rolledBack, null, `${why}; nothing to roll back to`);
      }
      progress.heading(`Rolling back to phase ${phaseLabel(lastGood)} (automatic)`);
      const rolledBack = await this.walkBack(report, to, lastGood);
      if (!rolledBack.ok) {
        return this.finish(
          report,
          "rollback_failed",
          EXIT.rollbackFailed,
          null,
          `${why}; the automatic rollback to phase ${lastGood} failed too: ${rolledBack.reason}`,
        );
      }
      return this.finish(
        report,
        "rolled_back",
        EXIT.rolledBack,
        lastGood,
        `${why}; rolled back to phase ${phaseLabel(lastGood)}`,
      );
    }
    return this.finish(report, "ok", EXIT.ok, target, `at phase ${phaseLabel(target)}`);
  }

  async rollback(target: PhaseNumber): Promise<RunReport> {
    if (target === LAST_PHASE) {
      throw new UsageError(`phase ${LAST_PHASE} is reached by validating, not by rolling back: pnpm deploy`);
    }
    await this.unpauseLeftoverRedis();
    const current = await this.current();
    const { progress } = this.deps;
    if (current.known && current.phase !== null && target > current.phase) {
      throw new UsageError(
        `the stack is at phase ${phaseLabel(current.phase)}; phase ${target} is ahead: pnpm run deploy --phase ${target}`,
      );
    }
    const from = current.known ? current.phase : null;
    const report = this.newReport("rollback", from, target);
    progress.line(
      `${this.deps.config.project}: at phase ${current.known ? phaseLabel(current.phase) : `unknown (${current.reason})`}, rolling back to ${phaseLabel(target)}`,
    );
    if (current.known && current.phase === target) {
      progress.line(`Nothing to do: already at phase ${phaseLabel(target)}.`);
      return this.finish(report, "unchanged", EXIT.ok, target, `already at phase ${phaseLabel(target)}`);
    }
    if (current.known && current.phase === null) {
      // Never deployed (or taken down): a rollback never starts services, so there is nothing to do.
      progress.line(`Nothing to roll back: ${current.reason}. To deploy: pnpm run deploy --phase ${target}`);
      return this.finish(report, "unchanged", EXIT.ok, null, "nothing to roll back: not deployed");
    }
    if (from === null) {
      // Matching no phase: bring every service straight to the target's settings.
      progress.heading(`Converging on phase ${phaseLabel(target)}`);
      const settings = phase(target).settings;
      const record = await this.runPhase(
        target,
        "rollback",
        null,
        actionsBetween(null, settings),
        (env) => steadyState(env, settings),
        report,
      );
      if (!record.passed) {
        return this.finish(
          report,
          "rollback_failed",
          EXIT.rollbackFailed,
          null,
          `converging on phase ${target} failed: ${record.failure?.reason}`,
        );
      }
      await this.remember(target, "rollback", "ok");
      return this.finish(report, "ok", EXIT.ok, target, `at phase ${phaseLabel(target)}`);
    }
    const result = await this.walkBack(report, from, target);
    if (!result.ok)
      return this.finish(
        report,
        "rollback_failed",
        EXIT.rollbackFailed,
        null,
        `rollback failed: ${result.reason}`,
      );
    return this.finish(report, "ok", EXIT.ok, target, `at phase ${phaseLabel(target)}`);
  }

  /**
   * A run stopped in the middle of the fallback drill (Ctrl-C, a killed terminal) leaves Redis
   * paused; every later run starts by resuming it.
   */
  private async unpauseLeftoverRedis(): Promise<void> {
    const redis = (await this.deps.stack.observe()).containers.redis;
    if (redis?.state !== "paused") return;
    this.deps.progress.line("redis is paused (an interrupted fallback drill?): unpausing it first");
    await this.deps.runtime.engine.unpause(redis.id);
  }

  /** From `from` (or a failed attempt at it) back to `target`, one phase at a time. */
  private async walkBack(
    report: RunReport,
    from: PhaseNumber,
    target: PhaseNumber,
  ): Promise<{ ok: true } | { ok: false; reason: string }> {
    for (let number = from; number > target; number--) {
      const to = (number - 1) as PhaseNumber;
      const settings = phase(to).settings;
      this.deps.progress.heading(`Rollback ${number} -> ${to} ${phase(to).name}: ${phase(to).summary}`);
      const actions = actionsBetween(phase(number as PhaseNumber).settings, settings);
      const record = await this.runPhase(
        to,
        "rollback",
        number as PhaseNumber,
        actions,
        (env) => steadyState(env, settings),
        report,
      );
      if (!record.passed) return { ok: false, reason: `rollback to phase ${to}: ${record.failure?.reason}` };
      await this.remember(to, "rollback", "ok");
    }
    return { ok: true };
  }

  private async runPhase(
    number: PhaseNumber,
    direction: PhaseRecord["direction"],
    from: PhaseNumber | null,
    actions: ComposeAction[],
    gate: (env: GateEnv) => Promise<void>,
    report: RunReport,
  ): Promise<PhaseRecord> {
    const { runtime, stack, progress, config } = this.deps;
    const started = runtime.now();
    const record: PhaseRecord = {
      phase: number,
      name: phase(number).name,
      direction,
      from,
      started_at: new Date().toISOString(),
      duration_ms: 0,
      passed: false,
      actions: [],
      gate: {
        name: direction === "forward" ? `phase ${number} gate` : `phase ${number} steady state`,
        passed: false,
        duration_ms: 0,
        checks: [],
      },
      events: [],
    };
    report.phases.push(record);
    const run = new PhaseRun(record, runtime, progress, {
      timeoutMs: config.timeoutMs,
      pollMs: config.pollMs,
    });
    const validation: Record<string, unknown> = {};
    const watch = await runtime.engine.watchEvents().catch(() => null);
    let gateStarted = started;
    try {
      for (const action of actions) {
        const service = serviceOf(action);
        await run.action(describeAction(action), () => runtime.compose.run(action), {
          command: runtime.compose.commandLine(action),
          ...(service ? { service } : {}),
        });
      }
      gateStarted = runtime.now();
      const eventsBefore = watch?.events.length ?? 0;
      await gate({ run, stack, settings: config, validation });
      if (watch) {
        await run.check(
          { name: "no container died during the gate", expected: "no die or oom events" },
          async () => {
            const bad = watch.events
              .slice(eventsBefore)
              .filter((event) => event.action === "die" || event.action === "oom");
            return {
              passed: bad.length === 0,
              observed: bad.length
                ? bad.map((event) => `${event.service} ${event.action} at ${event.time}`).join("; ")
                : "none",
            };
          },
        );
      }
      record.passed = true;
      record.gate.passed = true;
    } catch (error) {
      record.failure = await this.describeFailure(error);
      // Shown cut to a screen line; the report keeps them whole.
      for (const line of record.failure.logs ?? [])
        progress.line(`    | ${line.length > 300 ? `${line.slice(0, 300)}…` : line}`);
    } finally {
      watch?.stop();
      record.events = [...(watch?.events ?? [])];
      record.gate.duration_ms = runtime.now() - gateStarted;
      record.duration_ms = runtime.now() - started;
    }
    if (Object.keys(validation).length) report.validation = validation;
    progress.line(
      `  ${direction === "forward" ? "phase" : "rollback to phase"} ${number} ${record.passed ? "passed" : "FAILED"} in ${formatDuration(record.duration_ms)}`,
    );
    return record;
  }

  private async describeFailure(error: unknown): Promise<FailureRecord> {
    let service: ServiceName | undefined;
    let reason: string;
    if (error instanceof GateFailure) {
      service = error.check.service;
      reason = error.message;
    } else if (error instanceof ActionFailure) {
      service = error.service;
      reason = error.message;
    } else if (error instanceof StackError) {
      service = error.service;
      reason = error.message;
    } else {
      reason = (error as Error).message ?? String(error);
    }
    const failure: FailureRecord = { reason, ...(service ? { service } : {}) };
    if (service) {
      this.deps.progress.line(`  last ${this.deps.config.logLines} log lines of ${service}:`);
      failure.logs = await this.deps.stack
        .logs(service, this.deps.config.logLines)
        .catch((logError: Error) => [`(logs not available: ${logError.message})`]);
    }
    return failure;
  }

  private async remember(number: PhaseNumber, command: string, result: string): Promise<void> {
    const observation = await this.deps.stack.observe();
    const containers: RecordedPhase["containers"] = {};
    for (const service of SERVICES) {
      const container = observation.containers[service];
      if (container) containers[service] = container.id;
    }
    const at = new Date().toISOString();
    await this.deps.store.write({
      project: this.deps.config.project,
      phase: number,
      phase_name: phase(number).name,
      updated_at: at,
      containers,
      last_run: { command, result, at },
    });
  }

  private newReport(command: RunReport["command"], from: PhaseNumber | null, target: PhaseNumber): RunReport {
    this.runStarted = this.deps.runtime.now();
    const { project, composeFiles } = this.deps.config;
    return startReport({
      command,
      project,
      composeFiles,
      composeCli: this.deps.runtime.compose.executable,
      from,
      target,
    });
  }

  private finish(
    report: RunReport,
    result: RunReport["result"],
    exitCode: number,
    finalPhase: PhaseNumber | null,
    summary: string,
  ): RunReport {
    report.finished_at = new Date().toISOString();
    report.duration_ms = this.deps.runtime.now() - this.runStarted;
    report.result = result;
    report.exit_code = exitCode;
    report.final_phase = finalPhase;
    report.summary = summary;
    this.deps.progress.line(
      `\n${result === "ok" || result === "unchanged" ? "Done" : "FAILED"}: ${summary} (${formatDuration(report.duration_ms)})`,
    );
    return report;
  }
}

function sameContainers(recorded: RecordedPhase, observation: Observation): boolean {
  return SERVICES.every((service) => recorded.containers[service] === observation.containers[service]?.id);
}
