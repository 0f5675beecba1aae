import { resolve } from "node:path";
import { type CliArgs, HELP, parseCliArgs } from "./args.js";
import { ComposeCli, detectComposeExecutable } from "./compose-cli.js";
import { DockerEngine } from "./engine.js";
import { EngineUnavailableError, EXIT, PreconditionError, UsageError } from "./errors.js";
import { fetchHttpClient } from "./http.js";
import { phaseLabel } from "./phases.js";
import type { PlanEntry } from "./plan.js";
import type { Progress } from "./progress.js";
import { writeReport } from "./report.js";
import { Rollout } from "./rollout.js";
import type { Runtime } from "./runtime.js";
import { Stack } from "./stack.js";
import { FilePhaseStore, type PhaseStore, stateFilePath } from "./state-file.js";
import { collectStatus, renderStatus } from "./status.js";
import { type DeployTarget, resolveTarget } from "./target.js";

/**
 * The CLI without process globals: arguments in, exit code out. `cli.ts` wires it to the process;
 * tests call it with a fake `connect`.
 */

export interface CliIo {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  progress: Progress;
  /** The runtime for a target; `connectDocker` unless a test passes a fake. */
  connect: (target: DeployTarget) => Promise<{ runtime: Runtime; store: PhaseStore }>;
}

/** The real world: the engine must answer first (exit 5 otherwise), then a compose CLI is found. */
export async function connectDocker(target: DeployTarget): Promise<{ runtime: Runtime; store: PhaseStore }> {
  const engine = new DockerEngine(target.project);
  await engine.ping();
  const compose = new ComposeCli((await detectComposeExecutable()).command, {
    files: target.composeFiles,
    project: target.project,
    cwd: target.composeDir,
    ...(target.envFile ? { envFile: target.envFile } : {}),
  });
  const runtime: Runtime = {
    compose,
    engine,
    http: fetchHttpClient,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => performance.now(),
  };
  return { runtime, store: new FilePhaseStore(stateFilePath(target.composeDir, target.project)) };
}

export function renderPlan(entries: PlanEntry[], heading: string): string {
  const lines = [heading];
  if (entries.length === 0) lines.push("", "Nothing to do.");
  for (const entry of entries) {
    const title =
      entry.direction === "forward"
        ? `Phase ${entry.phase} ${entry.name}`
        : `Back to phase ${entry.phase} ${entry.name}`;
    lines.push("", `${title}: ${entry.summary}`);
    if (entry.actions.length === 0) lines.push("  run   (nothing to change: checks only)");
    for (const action of entry.actions) lines.push(`  run   ${action}`);
    lines.push(`  gate  ${entry.gate}`);
    if (entry.onFailure) {
      const back = entry.onFailure;
      if (back.rollbackTo === null) lines.push("  on failure: stop; nothing earlier to return to");
      else {
        lines.push(`  on failure: back to phase ${phaseLabel(back.rollbackTo)}`);
        for (const action of back.actions) lines.push(`        ${action}`);
      }
    }
  }
  return `${lines.join("\n")}\n`;
}

async function execute(args: CliArgs, io: CliIo): Promise<number> {
  const target = resolveTarget(args, io.env, io.cwd);
  const { runtime, store } = await io.connect(target);
  const stack = new Stack(runtime);
  const rollout = new Rollout({
    runtime,
    stack,
    store,
    progress: io.progress,
    config: {
      project: target.project,
      composeFiles: target.composeFiles,
      timeoutMs: args.timeoutMs,
      pollMs: 500,
      soakMs: args.soakMs,
      soakIntervalMs: args.soakIntervalMs,
      logLines: 30,
    },
  });

  switch (args.command) {
    case "status": {
      const current = await rollout.current();
      const status = await collectStatus(stack, current, {
        project: target.project,
        composeFiles: target.composeFiles,
        stateLocation: store.location,
      });
      io.stdout(args.jsonStdout ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status));
      return EXIT.ok;
    }
    case "plan": {
      const current = await rollout.current();
      const where = current.known ? phaseLabel(current.phase) : `unknown (${current.reason})`;
      const context = `${target.project} (${target.composeFiles.join(", ")}), compose CLI: ${runtime.compose.executable}`;
      let entries: PlanEntry[];
      let heading: string;
      if (args.to !== undefined) {
        entries =
          current.known && current.phase === args.to
            ? []
            : rollout.planRollback(current.known ? current.phase : null, args.to);
        heading = `Rollback plan for ${context}\nNow at phase ${where}; back to phase ${phaseLabel(args.to)}.`;
      } else {
        if (!current.known) {
          throw new PreconditionError(
            `the stack matches no phase (${current.reason}); plan a way back first: pnpm run deploy plan --to <0-3>`,
          );
        }
        if (current.phase !== null && current.phase > args.phase) {
          throw new UsageError(
            `the stack is at phase ${phaseLabel(current.phase)}, past ${args.phase}: plan --to ${args.phase} plans the way back`,
          );
        }
        entries = rollout.planDeploy(current.phase, args.phase);
        heading = `Deploy plan for ${context}\nNow at phase ${where}; target phase ${phaseLabel(args.phase)}.`;
      }
      io.stdout(renderPlan(entries, heading));
      if (args.jsonFile)
        await writeReport(args.jsonFile, {
          project: target.project,
          from: current.phase,
          known: current.known,
          entries,
        });
      return EXIT.ok;
    }
    case "deploy":
    case "rollback": {
      // parseCliArgs guarantees `to` for rollback.
      const report =
        args.command === "deploy" ? await rollout.deploy(args.phase) : await rollout.rollback(args.to ?? 0);
      if (args.jsonFile) {
        const path = args.jsonFile;
        await writeReport(path, report);
        io.progress.line(`Report: ${path}`);
      }
      return report.exit_code;
    }
  }
}

export async function runCli(io: CliIo): Promise<number> {
  let args: CliArgs;
  try {
    args = parseCliArgs(io.argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`fogis-deploy: ${error.message}\nRun \`pnpm run deploy --help\` for usage.\n`);
    return EXIT.usage;
  }
  if (args.help) {
    io.stdout(`${HELP[args.commandNamed ? args.command : "main"]}\n`);
    return EXIT.ok;
  }
  if (args.jsonFile) args.jsonFile = resolvePath(io, args.jsonFile);
  try {
    return await execute(args, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`fogis-deploy: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof EngineUnavailableError) {
      io.stderr(`fogis-deploy: ${error.message}\n`);
      return EXIT.noEngine;
    }
    if (error instanceof PreconditionError) {
      io.stderr(`fogis-deploy: ${error.message}\n`);
      return EXIT.precondition;
    }
    io.stderr(`fogis-deploy: unexpected error: ${(error as Error).stack ?? error}\n`);
    return EXIT.unexpected;
  }
}

function resolvePath(io: CliIo, path: string): string {
  return resolve(io.env.INIT_CWD || io.cwd, path);
}
