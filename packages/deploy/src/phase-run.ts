import type { ServiceName } from "./phases.js";
import { formatDuration, type Progress } from "./progress.js";
import type { ActionRecord, CheckRecord, PhaseRecord } from "./report.js";
import type { Runtime } from "./runtime.js";

/**
 * Runs the actions and checks of one phase: times each, shows it as it happens, and records it in
 * the phase's report entry. A check that does not pass (within its wait, if it waits) throws
 * `GateFailure`, which ends the gate; the machine then rolls back.
 */

export interface Observed {
  passed: boolean;
  observed: string;
}

export interface CheckSpec {
  name: string;
  service?: ServiceName;
  /** What passing looks like, in words, for the report. */
  expected: string;
  /** Poll until it passes or the timeout runs out (instead of looking once). */
  wait?: boolean;
  timeoutMs?: number;
}

export class GateFailure extends Error {
  override name = "GateFailure";
  constructor(readonly check: CheckRecord) {
    super(`${check.name}: expected ${check.expected}, observed ${check.observed}`);
  }
}

export class ActionFailure extends Error {
  override name = "ActionFailure";
  constructor(
    readonly action: ActionRecord,
    readonly service?: ServiceName,
  ) {
    super(`${action.name} failed: ${action.error}`);
  }
}

export interface PhaseRunOptions {
  timeoutMs: number;
  pollMs: number;
}

export class PhaseRun {
  constructor(
    readonly record: PhaseRecord,
    private readonly runtime: Runtime,
    private readonly progress: Progress,
    readonly options: PhaseRunOptions,
  ) {}

  /** A change to the stack (a compose invocation, a pause). Throws `ActionFailure` when it fails. */
  async action(
    name: string,
    run: () => Promise<void>,
    details: { command?: string; service?: ServiceName } = {},
  ) {
    const line = this.progress.start(name);
    const started = this.runtime.now();
    try {
      await run();
      const duration = this.runtime.now() - started;
      this.record.actions.push({
        name,
        ...(details.command ? { command: details.command } : {}),
        passed: true,
        duration_ms: duration,
      });
      line.succeed(`${name}  ${formatDuration(duration)}`);
    } catch (error) {
      const duration = this.runtime.now() - started;
      const message = (error as Error).message;
      const record: ActionRecord = {
        name,
        ...(details.command ? { command: details.command } : {}),
        passed: false,
        duration_ms: duration,
        error: message,
      };
      this.record.actions.push(record);
      line.fail(`${name}  ${formatDuration(duration)}: ${message}`);
      throw new ActionFailure(record, details.service);
    }
  }

  /** Looks (or waits) for `probe` to pass; an exception from the probe counts as "not yet". */
  async check(
    spec: CheckSpec,
    probe: (update: (text: string) => void) => Promise<Observed>,
  ): Promise<string> {
    const line = this.progress.start(spec.name);
    const started = this.runtime.now();
    const deadline = started + (spec.timeoutMs ?? this.options.timeoutMs);
    let result: Observed;
    for (;;) {
      try {
        result = await probe((text) => line.update(text));
      } catch (error) {
        result = { passed: false, observed: `error: ${(error as Error).message}` };
      }
      if (result.passed || !spec.wait || this.runtime.now() >= deadline) break;
      line.update(`${result.observed} (waiting ${formatDuration(deadline - this.runtime.now())} more)`);
      await this.runtime.sleep(this.options.pollMs);
    }
    const duration = this.runtime.now() - started;
    const record: CheckRecord = {
      name: spec.name,
      ...(spec.service ? { service: spec.service } : {}),
      expected: spec.expected,
      observed: result.observed,
      passed: result.passed,
      duration_ms: duration,
    };
    this.record.gate.checks.push(record);
    const text = `${spec.name}: ${result.observed}  ${formatDuration(duration)}`;
    if (!result.passed) {
      line.fail(
        `${text} (expected ${spec.expected}${spec.wait ? `, waited ${formatDuration(duration)}` : ""})`,
      );
      throw new GateFailure(record);
    }
    line.succeed(text);
    return result.observed;
  }

  /** A plain line under the phase (e.g. why a check took the path it took). */
  note(text: string): void {
    this.progress.line(`         ${text}`);
  }
}
