import { spawn } from "node:child_process";
import { ComposeError, PreconditionError } from "./errors.js";
import type { ComposeAction } from "./phases.js";
import type { Compose } from "./runtime.js";

/**
 * The compose CLI, which stays the source of truth for service definitions: the one place that
 * chooses between compose v2 (`docker compose`) and v1 (`docker-compose`, the only one Debian 12
 * ships) and runs it, for `pnpm deploy` and the Docker tests (@fogis/e2e) alike. Every invocation
 * names the files and the project explicitly, so the tool and a person typing the printed command
 * line act on the same stack.
 */

export interface ComposeTarget {
  files: string[];
  project: string;
  envFile?: string;
  /** Where compose runs (the first file's folder, like compose itself resolves relative paths). */
  cwd: string;
}

/** The compose CLI found on this machine. */
export interface ComposeExecutable {
  /** The program and the arguments before compose's own: `["docker", "compose"]` or `["docker-compose"]`. */
  command: string[];
  /** 2: the Docker CLI plugin; 1: the Python docker-compose (its `build` keeps a failed step's container unless told). */
  generation: 1 | 2;
  /** What `version --short` answered, e.g. "1.29.2"; empty when FOGIS_DEPLOY_COMPOSE named the command. */
  version: string;
}

/** What one run of compose answered; `output` holds stdout and stderr in the order they came. */
export interface ComposeOutput {
  code: number;
  stdout: string;
  stderr: string;
  output: string;
}

function runProcess(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number },
): Promise<ComposeOutput> {
  return new Promise((resolve) => {
    const completed = { stdout: "", stderr: "", output: "" };
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const timer = setTimeout(() => {
      const note = `\n(killed after ${options.timeoutMs} ms)`;
      completed.stderr += note;
      completed.output += note;
      child.kill("SIGKILL");
    }, options.timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => {
      completed.stdout += chunk.toString();
      completed.output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      completed.stderr += chunk.toString();
      completed.output += chunk.toString();
    });
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout: "", stderr: error.message, output: error.message });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, ...completed });
    });
  });
}

const CANDIDATES: ReadonlyArray<Omit<ComposeExecutable, "version">> = [
  { command: ["docker", "compose"], generation: 2 },
  { command: ["docker-compose"], generation: 1 },
];

/**
 * `docker compose` when it answers, else `docker-compose` (or FOGIS_DEPLOY_COMPOSE), found on
 * `env`'s PATH; throws `PreconditionError` naming the fix.
 */
export async function detectComposeExecutable(
  env: NodeJS.ProcessEnv = process.env,
): Promise<ComposeExecutable> {
  const override = env.FOGIS_DEPLOY_COMPOSE?.trim();
  if (override) {
    const command = override.split(/\s+/);
    // One word (docker-compose, or a path to it) is v1; a program with `compose` after it, v2.
    return { command, generation: command.length > 1 ? 2 : 1, version: "" };
  }
  for (const candidate of CANDIDATES) {
    const [program, ...args] = candidate.command as [string, ...string[]];
    // docker-compose v1 is a Python program: on a loaded machine it takes seconds to start.
    const result = await runProcess(program, [...args, "version", "--short"], { env, timeoutMs: 30_000 });
    if (result.code === 0) return { ...candidate, version: result.stdout.trim() };
  }
  throw new PreconditionError(
    "no compose CLI found: neither `docker compose` (v2) nor `docker-compose` (v1) answered. " +
      "Install one (Debian: apt-get install -y docker-compose; or bash scripts/docker/ensure-engine.sh)",
  );
}

const shellQuote = (value: string) =>
  /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`;

function actionArgs(action: ComposeAction): string[] {
  if (action.kind === "stop") return ["stop", ...action.services];
  return ["up", "-d", "--no-deps", ...(action.recreate ? ["--force-recreate"] : []), ...action.services];
}

/** One compose project (files, project name, env file) driven through the chosen CLI. */
export class ComposeCli implements Compose {
  readonly executable: string;

  constructor(
    private readonly command: string[],
    private readonly target: ComposeTarget,
    private readonly options: { timeoutMs: number; env?: NodeJS.ProcessEnv } = { timeoutMs: 600_000 },
  ) {
    this.executable = command.join(" ");
  }

  /** Compose's own options naming the target, before any command. */
  private targetArgs(): string[] {
    return [
      ...this.target.files.flatMap((file) => ["-f", file]),
      "-p",
      this.target.project,
      ...(this.target.envFile ? ["--env-file", this.target.envFile] : []),
    ];
  }

  args(action: ComposeAction): string[] {
    return [...this.targetArgs(), ...actionArgs(action)];
  }

  commandLine(action: ComposeAction): string {
    const env =
      action.kind === "up" ? Object.entries(action.env).map(([key, value]) => `${key}=${value}`) : [];
    return [...env, ...this.command, ...this.args(action)].map(shellQuote).join(" ");
  }

  /**
   * Runs any compose command (`args` after the target's options) and answers its exit code and
   * output; never throws. `env` is added to the environment the CLI was given.
   */
  invoke(
    args: string[],
    options: { env?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<ComposeOutput> {
    const [command, ...prefix] = this.command as [string, ...string[]];
    return runProcess(command, [...prefix, ...this.targetArgs(), ...args], {
      env: { ...(this.options.env ?? process.env), ...options.env },
      cwd: this.target.cwd,
      timeoutMs: options.timeoutMs ?? this.options.timeoutMs,
    });
  }

  async run(action: ComposeAction): Promise<void> {
    const result = await this.invoke(actionArgs(action), action.kind === "up" ? { env: action.env } : {});
    if (result.code !== 0) {
      const last = result.output.trim().split("\n").slice(-12).join("\n");
      throw new ComposeError(
        `${this.executable} ${action.kind} ${action.services.join(" ")} failed (exit ${result.code}): ${last}`,
        result.output,
      );
    }
  }
}
