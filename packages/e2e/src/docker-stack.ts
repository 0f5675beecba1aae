import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { detectComposeExecutable } from "@fogis/deploy";
import { freePort } from "@fogis/testing";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import { stringify } from "yaml";
import {
  ComposeProject,
  composeEnvironment,
  dockerEngineAnswers,
  NO_ENGINE_HELP,
  runCommand,
} from "./compose.js";

/**
 * What the Docker tests share besides the compose CLI: a stack of their own (`ServiceStack`), HTTP
 * to the published ports, waiting for a condition, building the service images once per tag, and
 * a hint when a base image is missing.
 */

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const composeFile = join(repoRoot, "docker-compose.yml");
/** The base images of the service images: the official ones unless REDIS_IMAGE / NODE_IMAGE name stand-ins. */
export const baseImages = {
  redis: process.env.REDIS_IMAGE || "redis:7-alpine",
  node: process.env.NODE_IMAGE || "node:24-alpine",
};

export interface JsonResponse {
  ok: boolean;
  status: number;
  body: Record<string, unknown>;
}

/** GET (or `init`) a JSON endpoint; a service that is not listening yet answers status 0. */
export async function getJson(url: string, init: RequestInit = {}): Promise<JsonResponse> {
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = { text };
    }
    return { ok: response.ok, status: response.status, body };
  } catch (error) {
    // Not listening yet (or restarting): a status the caller can wait on.
    return { ok: false, status: 0, body: { error: (error as Error).message } };
  }
}

/** Polls `probe` every half second until it answers something truthy; throws naming what never happened. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined | false>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as T;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const why = lastError ? ` (last error: ${(lastError as Error).message})` : "";
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Runs `step` and logs how long it took, prefixed with `label`. */
export async function timed<T>(label: string, what: string, step: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await step();
  console.log(`[${label}] ${what} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

/**
 * Builds both service images under the names in `imageNames` (values); an image a rebuild
 * replaced is removed (unless a container uses it).
 */
export async function buildServiceImages(project: ComposeProject, imageNames: string[]): Promise<void> {
  const before = await Promise.all(imageNames.map(imageId));
  await project.build(["match-processor", "calendar-sync"]);
  const after = await Promise.all(imageNames.map(imageId));
  for (const [index, previous] of before.entries()) {
    if (previous && previous !== after[index]) {
      await runCommand("docker", ["rmi", previous]).catch(() => undefined);
    }
  }
}

async function imageId(name: string): Promise<string | undefined> {
  try {
    return (await runCommand("docker", ["image", "inspect", "--format", "{{.Id}}", name])).stdout.trim();
  } catch {
    return undefined;
  }
}

/** When a build or `up` failed on a missing base image: how to make local ones. */
export function baseImageHint(error: unknown, images: { redis: string; node: string }): string {
  const message = String((error as Error).message);
  if (!/pull|registry|manifest|no such host|not found/i.test(message)) return "";
  return (
    `\nREDIS_IMAGE=${images.redis}, NODE_IMAGE=${images.node}: without a reachable registry, build local ` +
    "base images (bash scripts/docker/build-local-images.sh) and set " +
    "REDIS_IMAGE=fogis-local/redis:7 NODE_IMAGE=fogis-local/node:24."
  );
}

export async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/** Writes `settings` as a compose env file (`KEY=value` lines), the way a user's .env holds them. */
export async function writeEnvFile(path: string, settings: Record<string, string>): Promise<void> {
  await writeFile(
    path,
    Object.entries(settings)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(""),
  );
}

/**
 * Writes a compose override in `dir` that makes match-processor read its list from
 * `dir`/matches.json (a file the test edits) and answers the override's path.
 */
export async function writeFileSourceOverride(dir: string): Promise<string> {
  const overrideFile = join(dir, "compose.file-source.yml");
  await writeFile(
    overrideFile,
    stringify({
      services: {
        "match-processor": {
          environment: { MATCH_SOURCE_FILE: "/match-source/matches.json" },
          volumes: [`${dir}:/match-source:ro`],
        },
      },
    }),
  );
  return overrideFile;
}

/** `up -d`, then waits until both services answer /health on their published ports. */
export async function upUntilHealthy(
  project: ComposeProject,
  processorUrl: string,
  calendarUrl: string,
): Promise<void> {
  await project.up();
  await waitFor("match-processor and calendar-sync answer /health", 90_000, async () => {
    return (await getJson(`${processorUrl}/health`)).ok && (await getJson(`${calendarUrl}/health`)).ok;
  });
}

export interface ServiceStackOptions {
  /** Prefix of the log lines, e.g. "stack". */
  label: string;
  /** Prefix of the project name and the work folder, e.g. "fogis-e2e". */
  name: string;
  /** Tags of the test's own (MATCH_PROCESSOR_IMAGE, CALENDAR_SYNC_IMAGE): never a developer's :local. */
  serviceImages: Record<string, string>;
  /** The .env settings beyond the ones every stack has (tokens, ports, images, a long interval). */
  settings?: Record<string, string>;
}

/** What `ServiceStack.prepare` made: the stack's files, ports and secrets. */
interface PreparedStack {
  workDir: string;
  project: ComposeProject;
  withFileSource: ComposeProject;
  apiToken: string;
  redisPassword: string;
  ports: { processor: number; calendar: number; redis: number };
}

/**
 * docker-compose.yml as a user runs it, for one test file: its own project name, work folder, free
 * loopback ports, an env file with fresh secrets, and the override that makes match-processor read
 * `matchSourceFile` (a file the test edits). Cycles run when the test asks (SERVICE_INTERVAL=3600).
 */
export class ServiceStack {
  readonly workDir: string;
  /** The list match-processor reads through `withFileSource`. */
  readonly matchSourceFile: string;
  /** docker-compose.yml alone. */
  readonly project: ComposeProject;
  /** The same project plus the override: match-processor reads its list from `matchSourceFile`. */
  readonly withFileSource: ComposeProject;
  readonly apiToken: string;
  readonly redisPassword: string;
  /** Published on 127.0.0.1. */
  readonly ports: { processor: number; calendar: number; redis: number };
  readonly processorUrl: string;
  readonly calendarUrl: string;

  private constructor(
    private readonly options: ServiceStackOptions,
    prepared: PreparedStack,
  ) {
    this.workDir = prepared.workDir;
    this.project = prepared.project;
    this.withFileSource = prepared.withFileSource;
    this.apiToken = prepared.apiToken;
    this.redisPassword = prepared.redisPassword;
    this.ports = prepared.ports;
    this.matchSourceFile = join(this.workDir, "matches.json");
    this.processorUrl = `http://127.0.0.1:${this.ports.processor}`;
    this.calendarUrl = `http://127.0.0.1:${this.ports.calendar}`;
  }

  /** Checks the engine, finds the compose CLI (deploy's choice) and writes the stack's files; starts nothing. */
  static async prepare(options: ServiceStackOptions): Promise<ServiceStack> {
    const { label, name, serviceImages, settings } = options;
    if (!(await dockerEngineAnswers())) throw new Error(NO_ENGINE_HELP);
    const cli = await detectComposeExecutable();
    const workDir = await mkdtemp(join(tmpdir(), `${name}-`));
    // match-processor runs as uid 1000 and reads the match list from here.
    await chmod(workDir, 0o755);
    const [processor, calendar, redis] = (await distinctFreePorts(3)) as [number, number, number];
    const apiToken = randomBytes(24).toString("hex");
    const redisPassword = randomBytes(24).toString("hex");

    // What a user's .env holds, plus test ports and a long interval: cycles run when the test asks.
    const envFile = join(workDir, "stack.env");
    await writeEnvFile(envFile, {
      API_TOKEN: apiToken,
      REDIS_PASSWORD: redisPassword,
      PUBLISH_ADDRESS: "127.0.0.1",
      PROCESSOR_HOST_PORT: String(processor),
      CALENDAR_SYNC_HOST_PORT: String(calendar),
      REDIS_HOST_PORT: String(redis),
      REDIS_IMAGE: baseImages.redis,
      NODE_IMAGE: baseImages.node,
      ...serviceImages,
      SERVICE_INTERVAL: "3600",
      ...settings,
    });
    const overrideFile = await writeFileSourceOverride(workDir);
    const projectName = `${name}-${process.pid}-${randomBytes(3).toString("hex")}`;
    const project = new ComposeProject({
      cli,
      projectName,
      files: [composeFile],
      envFile,
      env: composeEnvironment({}),
      cwd: repoRoot,
    });
    console.log(`[${label}] ${cli.command.join(" ")} ${cli.version}; project ${projectName}`);
    return new ServiceStack(options, {
      workDir,
      project,
      withFileSource: project.withFiles([composeFile, overrideFile]),
      apiToken,
      redisPassword,
      ports: { processor, calendar, redis },
    });
  }

  /**
   * Builds the service images and brings `project` (this stack seen through its files of choice)
   * up until both services answer /health; a failure names the fix for missing base images.
   */
  async start(project: ComposeProject): Promise<void> {
    const { label, serviceImages } = this.options;
    try {
      await timed(label, "images built", () => buildServiceImages(project, Object.values(serviceImages)));
      await timed(label, "stack up and healthy", () =>
        upUntilHealthy(project, this.processorUrl, this.calendarUrl),
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}${baseImageHint(error, baseImages)}`);
    }
  }

  /** Removes containers, network, volumes and the work folder; after a failure, prints the logs first. */
  async remove({ showLogs }: { showLogs: boolean }): Promise<void> {
    const { label } = this.options;
    if (showLogs) {
      console.error(
        `[${label}] last log lines of ${this.project.projectName}:\n${await this.project.logs(60)}`,
      );
    }
    await this.withFileSource.down({ volumes: true }).catch((error: Error) => {
      console.error(`[${label}] down -v failed: ${error.message}`);
    });
    await rm(this.workDir, { recursive: true, force: true });
  }
}

/**
 * The hooks of a test file whose steps build on each other around one `ServiceStack`: before all,
 * the stack is prepared and `setUp` (which starts it) runs; after a failed step the rest are
 * skipped, as they would only repeat it; after all, the stack is removed, with its logs when
 * something failed.
 */
export function stepsOnServiceStack(
  options: ServiceStackOptions,
  setUp: (stack: ServiceStack) => Promise<void>,
): void {
  let stack: ServiceStack | undefined;
  let stepFailed = false;
  beforeAll(async () => {
    stack = await ServiceStack.prepare(options);
    try {
      await setUp(stack);
    } catch (error) {
      stepFailed = true;
      throw error;
    }
  });
  afterEach(({ task }) => {
    if (task.result?.state === "fail") stepFailed = true;
  });
  beforeEach(({ skip }) => {
    if (stepFailed) skip();
  });
  afterAll(async () => {
    await stack?.remove({ showLogs: stepFailed });
  });
}
