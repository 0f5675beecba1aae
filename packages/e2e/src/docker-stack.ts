import { freePort } from "@fogis/testing";
import { type ComposeProject, runCommand } from "./compose.js";

/**
 * What the Docker tests share besides the compose CLI: HTTP to the published ports, waiting for a
 * condition, building the service images once per tag, and a hint when a base image is missing.
 */

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
