import { writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "@fogis/testing";
import { stringify } from "yaml";
import { type ComposeProject, runCommand } from "./compose.js";

/**
 * What the Docker tests share besides the compose CLI: HTTP to the published ports, waiting for a
 * condition, building the service images once per tag, and a hint when a base image is missing.
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
