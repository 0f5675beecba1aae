export { type CliArgs, HELP, parseCliArgs } from "./args.js";
export {
  ComposeCli,
  type ComposeExecutable,
  type ComposeOutput,
  type ComposeTarget,
  detectComposeExecutable,
} from "./compose-cli.js";
export { DockerEngine } from "./engine.js";
export { ComposeError, EngineUnavailableError, EXIT, PreconditionError, UsageError } from "./errors.js";
export { GATE_SUMMARIES, GATES } from "./gates.js";
export { type CliIo, connectDocker, renderPlan, runCli } from "./main.js";
export {
  type AppService,
  type ComposeAction,
  PHASES,
  type PhaseDefinition,
  type PhaseNumber,
  phase,
  type ServiceName,
  type StackSettings,
} from "./phases.js";
export { type PlanEntry, planDeploy, planRollback } from "./plan.js";
export { PlainProgress, type Progress, TerminalProgress } from "./progress.js";
export type { CheckRecord, PhaseRecord, RunReport } from "./report.js";
export { type CurrentPhase, Rollout, type RolloutConfig } from "./rollout.js";
export type {
  ChannelMessage,
  ChannelProbe,
  Compose,
  ContainerInfo,
  Engine,
  EngineEvent,
  EventWatch,
  ExecResult,
  HealthState,
  HttpClient,
  HttpResponse,
  Runtime,
} from "./runtime.js";
export { type Observation, Stack } from "./stack.js";
export { FilePhaseStore, type PhaseStore, type RecordedPhase, stateFilePath } from "./state-file.js";
export { collectStatus, renderStatus, type StatusReport } from "./status.js";
export { type DeployTarget, resolveTarget } from "./target.js";
