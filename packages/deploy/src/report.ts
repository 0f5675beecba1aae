import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { EXIT } from "./errors.js";
import type { PhaseNumber, ServiceName } from "./phases.js";
import type { EngineEvent } from "./runtime.js";

/**
 * The machine-readable record of a run (`--json <file>`): every phase, every compose action and
 * every gate check with what was expected, what was observed, pass/fail and how long it took.
 */

export interface CheckRecord {
  name: string;
  service?: ServiceName;
  expected: string;
  observed: string;
  passed: boolean;
  duration_ms: number;
}

export interface ActionRecord {
  name: string;
  /** The compose command line, when the action is one. */
  command?: string;
  passed: boolean;
  duration_ms: number;
  error?: string;
}

export interface FailureRecord {
  reason: string;
  service?: ServiceName;
  /** The failing container's last log lines. */
  logs?: string[];
}

export interface PhaseRecord {
  phase: PhaseNumber | null;
  name: string;
  direction: "forward" | "rollback";
  /** The phase the stack was at before. */
  from: PhaseNumber | null;
  started_at: string;
  duration_ms: number;
  passed: boolean;
  actions: ActionRecord[];
  gate: { name: string; passed: boolean; duration_ms: number; checks: CheckRecord[] };
  /** Container events seen during the phase (die, health_status, pause, …). */
  events: EngineEvent[];
  failure?: FailureRecord;
}

export type RunResult = "ok" | "unchanged" | "rolled_back" | "rollback_failed" | "failed";

export interface RunReport {
  tool: "@fogis/deploy";
  command: "deploy" | "rollback";
  project: string;
  compose_files: string[];
  compose_cli: string;
  started_at: string;
  finished_at: string;
  duration_ms: number;
  from_phase: PhaseNumber | null;
  target_phase: PhaseNumber;
  final_phase: PhaseNumber | null;
  result: RunResult;
  exit_code: number;
  /** One line a person reads first. */
  summary: string;
  phases: PhaseRecord[];
  /** Filled by phase 4: the drill and soak in figures. */
  validation?: Record<string, unknown>;
}

export async function writeReport(path: string, report: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}

/** A report at the start of a run: nothing done yet, ending where it started unless a phase moves it. */
export function startReport(run: {
  command: RunReport["command"];
  project: string;
  composeFiles: string[];
  composeCli: string;
  from: PhaseNumber | null;
  target: PhaseNumber;
}): RunReport {
  return {
    tool: "@fogis/deploy",
    command: run.command,
    project: run.project,
    compose_files: run.composeFiles,
    compose_cli: run.composeCli,
    started_at: new Date().toISOString(),
    finished_at: "",
    duration_ms: 0,
    from_phase: run.from,
    target_phase: run.target,
    final_phase: run.from,
    result: "ok",
    exit_code: EXIT.ok,
    summary: "",
    phases: [],
  };
}
