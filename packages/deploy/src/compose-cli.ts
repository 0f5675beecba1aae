import { spawn } from "node:child_process";
import { ComposeError, PreconditionError } from "./errors.js";
import type { ComposeAction } from "./phases.js";
import type { Compose } from "./runtime.js";

/**
 * The compose CLI, which stays the source of truth for service definitions. Compose v2
 * (`docker compose`) when it answers, else v1 (`docker-compose`, the only one Debian 12 ships).
 * Every invocation names the files and the project explicitly, so the tool and a person typing the
 * printed command line act on the same stack.
 */

export interface ComposeTarget {
  files: string[];
  project: string;
  envFile?: string;
  /** Where compose runs (the first file's folder, like compose itself resolves relative paths). */
  cwd: string;
}

interface Completed {
  code: number;
  output: string;
}

function runProcess(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number },
): Promise<Completed> {
  return new Promise((resolve) => {
    let output = "";
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const timer = setTimeout(() => {
      output += `\n(killed after ${options.timeoutMs} ms)`;
      child.kill("SIGKILL");
    }, options.timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ code: 127, output: error.message });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, output });
    });
  });
}

/**
 * `["docker", "compose"]` or `["docker-compose"]` (or FOGIS_DEPLOY_COMPOSE), found on `env`'s PATH;
 * throws `PreconditionError` naming the fix.
 */
export async function detectComposeExecutable(env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const override = env.FOGIS_DEPLOY_COMPOSE?.trim();
  if (override) return override.split(/\s+/);
  for (const candidate of [["docker", "compose"], ["docker-compose"]]) {
    const [command, ...args] = candidate as [string, ...string[]];
    const result = await runProcess(command, [...args, "version"], { env, timeoutMs: 15_000 });
    if (result.code === 0) return candidate;
  }
  throw new PreconditionError(
    "no compose CLI found: neither `docker compose` (v2) nor `docker-compose` (v1) answered. " +
      "Install one (Debian: apt-get install -y docker-compose; or bash scripts/docker/ensure-engine.sh)",
  );
}

const shellQuote = (value: string) =>
  /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`;

export class ComposeCli implements Compose {
  readonly executable: string;

  constructor(
    private readonly command: string[],
    private readonly target: ComposeTarget,
    private readonly options: { timeoutMs: number; env?: NodeJS.ProcessEnv } = { timeoutMs: 600_000 },
  ) {
    this.executable = command.join(" ");
  }

  args(action: ComposeAction): string[] {
    const global = [
      ...this.target.files.flatMap((file) => ["-f", file]),
      "-p",
      this.target.project,
      ...(this.target.envFile ? ["--env-file", this.target.envFile] : []),
    ];
    if (action.kind === "stop") return [...global, "stop", ...action.services];
    return [
      ...global,
      "up",
      "-d",
      "--no-deps",
      ...(action.recreate ? ["--force-recreate"] : []),
      ...action.services,
    ];
  }

  commandLine(action: ComposeAction): string {
    const env =
      action.kind === "up" ? Object.entries(action.env).map(([key, value]) => `${key}=${value}`) : [];
    return [...env, ...this.command, ...this.args(action)].map(shellQuote).join(" ");
  }

  async run(action: ComposeAction): Promise<void> {
    const [command, ...prefix] = this.command as [string, ...string[]];
    const env = { ...(this.options.env ?? process.env), ...(action.kind === "up" ? action.env : {}) };
    const result = await runProcess(command, [...prefix, ...this.args(action)], {
      env,
      cwd: this.target.cwd,
      timeoutMs: this.options.timeoutMs,
    });
    if (result.code !== 0) {
      const last = result.output.trim().split("\n").slice(-12).join("\n");
      throw new ComposeError(
        `${this.executable} ${action.kind} ${action.services.join(" ")} failed (exit ${result.code}): ${last}`,
        result.output,
      );
    }
  }
}
