import { GATE_SUMMARIES, STEADY_STATE_SUMMARY } from "./gates.js";
import { actionsBetween, type PhaseNumber, phase } from "./phases.js";
import type { Compose } from "./runtime.js";

/**
 * The plan a command shows before it changes anything (`pnpm deploy plan`, and the head of every
 * deploy and rollback): each phase with its compose command lines, its gate, and where a failure
 * returns the stack. Pure: it reads the phase table, nothing else.
 */

export interface PlanEntry {
  phase: PhaseNumber;
  name: string;
  summary: string;
  direction: "forward" | "rollback";
  /** Compose command lines, in order. */
  actions: string[];
  gate: string;
  /** Forward steps: where a failed gate returns the stack, and how. */
  onFailure?: { rollbackTo: PhaseNumber | null; actions: string[] };
}

/** Forward from `from` to `target`, one phase at a time; each step names the rollback of its failure. */
export function planDeploy(
  compose: Pick<Compose, "commandLine">,
  from: PhaseNumber | null,
  target: PhaseNumber,
): PlanEntry[] {
  const entries: PlanEntry[] = [];
  let previous = from;
  for (let number = from === null ? 0 : from + 1; number <= target; number++) {
    const to = number as PhaseNumber;
    const definition = phase(to);
    entries.push({
      phase: to,
      name: definition.name,
      summary: definition.summary,
      direction: "forward",
      actions: actionsBetween(previous === null ? null : phase(previous).settings, definition.settings).map(
        (action) => compose.commandLine(action),
      ),
      gate: GATE_SUMMARIES[to],
      onFailure: {
        rollbackTo: previous,
        actions:
          previous === null
            ? []
            : actionsBetween(definition.settings, phase(previous).settings).map((action) =>
                compose.commandLine(action),
              ),
      },
    });
    previous = to;
  }
  return entries;
}

export function planRollback(
  compose: Pick<Compose, "commandLine">,
  from: PhaseNumber | null,
  target: PhaseNumber,
): PlanEntry[] {
  const settings = phase(target).settings;
  if (from === null) {
    return [
      {
        phase: target,
        name: phase(target).name,
        summary: phase(target).summary,
        direction: "rollback",
        actions: actionsBetween(null, settings).map((action) => compose.commandLine(action)),
        gate: STEADY_STATE_SUMMARY,
      },
    ];
  }
  const entries: PlanEntry[] = [];
  for (let number = from; number > target; number--) {
    const to = (number - 1) as PhaseNumber;
    entries.push({
      phase: to,
      name: phase(to).name,
      summary: phase(to).summary,
      direction: "rollback",
      actions: actionsBetween(phase(number as PhaseNumber).settings, phase(to).settings).map((action) =>
        compose.commandLine(action),
      ),
      gate: STEADY_STATE_SUMMARY,
    });
  }
  return entries;
}
