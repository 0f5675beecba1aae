/**
 * Exit codes (documented in the README and `--help`) and the errors that lead to them. Each code
 * tells an operator's script what state the stack is in without reading the output.
 */
export const EXIT = {
  /** Done: the stack is at the phase asked for (or already was). */
  ok: 0,
  /** An unexpected error (a bug, or something the tool did not foresee); the stack may be mid-phase. */
  unexpected: 1,
  /** Bad usage: unknown command or option, a bad value, or a direction that needs the other command. */
  usage: 2,
  /** A gate (or a phase's compose action) failed and the stack was rolled back to its last good phase. */
  rolledBack: 3,
  /** A rollback failed: the stack is between phases; the report names the failing check and its logs. */
  rollbackFailed: 4,
  /** No Docker engine answered. */
  noEngine: 5,
  /**
   * The stack cannot be worked on as it is: the compose file, the `--env-file` or a compose CLI is
   * missing, or the stack matches no phase.
   */
  precondition: 6,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class UsageError extends Error {
  override name = "UsageError";
}

export class EngineUnavailableError extends Error {
  override name = "EngineUnavailableError";
}

export class ComposeError extends Error {
  override name = "ComposeError";
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
  }
}

/** The stack or its files are not in a state the tool can work from; the message names the fix. */
export class PreconditionError extends Error {
  override name = "PreconditionError";
}
