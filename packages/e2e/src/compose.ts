import { execFile } from "node:child_process";
import { ComposeCli, type ComposeExecutable } from "@fogis/deploy";

/**
 * Drives a Docker Compose project from a test: the compose CLI is the one `pnpm deploy` chooses
 * and runs (@fogis/deploy `detectComposeExecutable`, `ComposeCli`: `docker compose` v2 when it
 * answers, else `docker-compose` v1.29), here for one project with a fixed set of files and an
 * environment of the caller's choosing, so neither the caller's shell nor a developer's `.env`
 * leaks into the stack.
 */

export const NO_ENGINE_HELP = [
  "No Docker engine answers `docker info`, and this needs one (it runs the stack in containers).",
  "Start one: bash scripts/docker/ensure-engine.sh (as root on Debian: installs docker.io, starts dockerd),",
  "or start Docker Desktop / `sudo systemctl start docker`, or point DOCKER_HOST at a running engine.",
].join("\n");

export interface CommandResult {
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | string | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`\`${command}\` failed (${exitCode ?? "killed"}):\n${lastLines(stderr || stdout, 30)}`);
    this.name = "CommandError";
  }
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

/** Runs a program (no shell) and answers its output; a non-zero exit throws a `CommandError`. */
export function runCommand(file: string, args: string[], options: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        env: options.env ?? process.env,
        cwd: options.cwd,
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ stdout, stderr });
          return;
        }
        const code = (error as NodeJS.ErrnoException & { code?: number | string }).code ?? null;
        reject(new CommandError([file, ...args].join(" "), code, stdout, stderr || error.message));
      },
    );
  });
}

/** Whether a Docker engine answers (`docker info` within 10 s). */
export async function dockerEngineAnswers(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  try {
    await runCommand("docker", ["info", "--format", "{{.ServerVersion}}"], { env, timeoutMs: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * The environment for compose: what reaching the engine needs (PATH, HOME, DOCKER_*), the legacy
 * builder (BuildKit is not available everywhere we run), and `vars`; nothing else from the caller,
 * so a stray API_TOKEN or COMPOSE_FILE in the shell cannot change the stack.
 */
export function composeEnvironment(
  vars: Record<string, string>,
  from: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const kept: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(from)) {
    if (value === undefined) continue;
    if (["PATH", "HOME", "USER", "TMPDIR", "XDG_RUNTIME_DIR"].includes(name) || name.startsWith("DOCKER_")) {
      kept[name] = value;
    }
  }
  return { ...kept, DOCKER_BUILDKIT: "0", COMPOSE_DOCKER_CLI_BUILD: "0", ...vars };
}

export interface ComposeProjectOptions {
  /** From @fogis/deploy `detectComposeExecutable`. */
  cli: ComposeExecutable;
  /** Unique per run, so parallel runs and a developer's own stack do not meet. */
  projectName: string;
  /** Compose files, absolute paths, later ones override earlier ones. */
  files: string[];
  /** Read instead of the project directory's `.env` (which may be a developer's). */
  envFile: string;
  /** The whole environment compose runs with (see `composeEnvironment`). */
  env: NodeJS.ProcessEnv;
  /** Working directory; defaults to the current one. */
  cwd?: string;
}

/** One compose project: every call names the same files, env file and project. */
export class ComposeProject {
  readonly projectName: string;
  private readonly compose: ComposeCli;

  constructor(private readonly options: ComposeProjectOptions) {
    this.projectName = options.projectName;
    const { cli, files, envFile, projectName, env, cwd } = options;
    this.compose = new ComposeCli(
      cli.command,
      { files, project: projectName, envFile, cwd: cwd ?? process.cwd() },
      { timeoutMs: 120_000, env },
    );
  }

  /** The same project seen through other compose files (e.g. plus an override). */
  withFiles(files: string[]): ComposeProject {
    return new ComposeProject({ ...this.options, files });
  }

  async run(args: string[], timeoutMs = 120_000): Promise<CommandResult> {
    const { code, stdout, stderr } = await this.compose.invoke(args, { timeoutMs });
    if (code !== 0) {
      const command = [this.compose.executable, "-p", this.projectName, ...args].join(" ");
      throw new CommandError(command, code, stdout, stderr);
    }
    return { stdout, stderr };
  }

  build(services: string[] = [], timeoutMs = 900_000): Promise<CommandResult> {
    // v1 keeps the container of a failed step unless told; v2 removes it anyway (and deprecates the flag).
    const forceRm = this.options.cli.generation === 1 ? ["--force-rm"] : [];
    return this.run(["build", ...forceRm, ...services], timeoutMs);
  }

  /** `up -d` without building; `noDeps` recreates just the named services. */
  up(services: string[] = [], { noDeps = false } = {}): Promise<CommandResult> {
    return this.run(["up", "-d", "--no-build", ...(noDeps ? ["--no-deps"] : []), ...services]);
  }

  stop(...services: string[]): Promise<CommandResult> {
    return this.run(["stop", ...services]);
  }

  start(...services: string[]): Promise<CommandResult> {
    return this.run(["start", ...services]);
  }

  /** Runs a command in a running service container (no TTY). */
  exec(service: string, command: string[]): Promise<CommandResult> {
    return this.run(["exec", "-T", service, ...command]);
  }

  /** The host address a container port is published on, e.g. "127.0.0.1:49153". */
  async port(service: string, containerPort: number): Promise<string> {
    const { stdout } = await this.run(["port", service, String(containerPort)]);
    return stdout.trim();
  }

  /** The last `tail` log lines of every service (or of the named ones); never throws. */
  async logs(tail = 50, services: string[] = []): Promise<string> {
    try {
      const { stdout, stderr } = await this.run(["logs", "--no-color", `--tail=${tail}`, ...services]);
      return stdout + stderr;
    } catch (error) {
      return `(compose logs failed: ${(error as Error).message})`;
    }
  }

  /** Removes the project's containers, network and (with `volumes`) named volumes. */
  down({ volumes = true } = {}): Promise<CommandResult> {
    return this.run(["down", "--remove-orphans", ...(volumes ? ["-v"] : [])]);
  }
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split("\n").slice(-count).join("\n");
}
