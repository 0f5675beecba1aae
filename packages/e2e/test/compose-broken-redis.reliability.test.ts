import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { detectComposeExecutable } from "@fogis/deploy";
import { freePort } from "@fogis/testing";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  ComposeProject,
  composeEnvironment,
  dockerEngineAnswers,
  NO_ENGINE_HELP,
  runCommand,
} from "../src/compose.js";
import { writeEnvFile } from "../src/docker-stack.js";
import { parseFeed } from "./reliability/calendar.js";
import { recordFault } from "./reliability/report.js";
import { repoRoot } from "./reliability/service-process.js";
import { timeUntil } from "./reliability/stack.js";

/**
 * docker-compose.yml on the real engine with a Redis that never gets healthy (its append-only
 * file is broken, so redis-server exits at start, again and again). Both services work on HTTP
 * alone, so the stack must come up anyway: `up -d` returns, the processor delivers the demo list
 * over its HTTP fallback, the feed shows it, and both /redis-status say `warn`, not `fail`.
 *
 * Needs a Docker engine (bash scripts/docker/ensure-engine.sh) and base images: REDIS_IMAGE /
 * NODE_IMAGE, or else redis:7-alpine / node:24-alpine when present, or else the local stand-ins
 * fogis-local/redis:7 and fogis-local/node:24 (bash scripts/docker/build-local-images.sh).
 */

const DEMO_MATCH_IDS = [9_900_001, 9_900_002, 9_900_003, 9_900_004, 9_900_005];
const runId = `${process.pid}-${randomBytes(3).toString("hex")}`;
// Tags of this run only: the layers are shared with every other build of the Dockerfile.
const SERVICE_IMAGES = {
  MATCH_PROCESSOR_IMAGE: `fogis-realtime/match-processor:reliability-${runId}`,
  CALENDAR_SYNC_IMAGE: `fogis-realtime/calendar-sync:reliability-${runId}`,
};

let project: ComposeProject | undefined;
let workDir: string | undefined;
afterAll(async () => {
  await project?.down({ volumes: true }).catch(() => undefined);
  for (const image of Object.values(SERVICE_IMAGES)) {
    await runCommand("docker", ["rmi", image]).catch(() => undefined);
  }
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function imageExists(name: string): Promise<boolean> {
  try {
    await runCommand("docker", ["image", "inspect", name], { timeoutMs: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** The configured image, else the official one when present, else the local stand-in. */
async function baseImage(
  variable: "REDIS_IMAGE" | "NODE_IMAGE",
  official: string,
  local: string,
): Promise<string> {
  const configured = process.env[variable]?.trim();
  if (configured) return configured;
  if (await imageExists(official)) return official;
  if (await imageExists(local)) return local;
  throw new Error(
    `Neither ${official} nor ${local} is present and no registry may be reachable: build the local stand-ins (bash scripts/docker/build-local-images.sh) or set ${variable}.`,
  );
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, text: await response.text() };
}

describe("docker compose with a broken Redis", () => {
  it("brings both services up on HTTP alone: the feed fills, /redis-status says warn", async () => {
    if (!(await dockerEngineAnswers())) throw new Error(NO_ENGINE_HELP);
    const cli = await detectComposeExecutable();
    const redisImage = await baseImage("REDIS_IMAGE", "redis:7-alpine", "fogis-local/redis:7");
    const nodeImage = await baseImage("NODE_IMAGE", "node:24-alpine", "fogis-local/node:24");

    workDir = await mkdtemp(join(tmpdir(), "fogis-broken-redis-"));
    // A broken append-only file: redis-server refuses to start with it ("Invalid AOF manifest").
    const redisData = join(workDir, "redis-data");
    await mkdir(join(redisData, "appendonlydir"), { recursive: true });
    await writeFile(join(redisData, "appendonlydir", "appendonly.aof.manifest"), "not a manifest\n\0\0\0");
    await chmod(workDir, 0o755);
    await chmod(redisData, 0o777);

    const [processorPort, calendarPort, redisPort] = [await freePort(), await freePort(), await freePort()];
    const apiToken = randomBytes(24).toString("hex");
    const envFile = join(workDir, "stack.env");
    const settings: Record<string, string> = {
      API_TOKEN: apiToken,
      REDIS_PASSWORD: randomBytes(24).toString("hex"),
      PUBLISH_ADDRESS: "127.0.0.1",
      PROCESSOR_HOST_PORT: String(processorPort),
      CALENDAR_SYNC_HOST_PORT: String(calendarPort),
      REDIS_HOST_PORT: String(redisPort),
      REDIS_IMAGE: redisImage,
      NODE_IMAGE: nodeImage,
      ...SERVICE_IMAGES,
      SERVICE_INTERVAL: "3600",
    };
    await writeEnvFile(envFile, settings);
    const override = join(workDir, "compose.broken-redis.yml");
    await writeFile(override, stringify({ services: { redis: { volumes: [`${redisData}:/data`] } } }));
    project = new ComposeProject({
      cli,
      projectName: `fogis-broken-redis-${runId}`,
      files: [join(repoRoot, "docker-compose.yml"), override],
      envFile,
      env: composeEnvironment({}),
      cwd: repoRoot,
    });

    await project.build(["match-processor", "calendar-sync"]);
    const upAt = performance.now();
    // With `condition: service_healthy` this waits for a Redis that never gets healthy, and fails.
    await project.run(["up", "-d", "--no-build"], 90_000);
    const processorUrl = `http://127.0.0.1:${processorPort}`;
    const calendarUrl = `http://127.0.0.1:${calendarPort}`;
    await timeUntil(
      "both services answer /health",
      async () =>
        (await get(`${processorUrl}/health`)).status === 200 &&
        (await get(`${calendarUrl}/health`)).status === 200,
      90_000,
      500,
    );

    // The processor's first cycle delivers the demo list over its HTTP fallback.
    await timeUntil(
      "the demo matches in the feed",
      async () => {
        const uids = parseFeed((await get(`${calendarUrl}/calendar.ics`)).text).map((event) => event.uid);
        return DEMO_MATCH_IDS.every((id) => uids.some((uid) => uid.includes(String(id))));
      },
      60_000,
      500,
    );
    const recoveryMs = performance.now() - upAt;
    // A cycle now goes over the HTTP fallback (the first one may have run before calendar-sync
    // listened, and the feed then filled by calendar-sync's own resync from the processor).
    const cycle = await fetch(`${processorUrl}/process`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiToken}` },
      signal: AbortSignal.timeout(30_000),
    });
    const result = (await cycle.json()) as { outcome: string; delivery: { route: string } };
    expect(cycle.status).toBe(200);
    expect(["delivered", "unchanged"]).toContain(result.outcome);
    if (result.outcome === "delivered") expect(result.delivery.route).toBe("http");
    const shown = parseFeed((await get(`${calendarUrl}/calendar.ics`)).text).map((event) => event.uid);
    const reached = DEMO_MATCH_IDS.filter((id) => shown.some((uid) => uid.includes(String(id)))).length;
    const redisLogs = await project.logs(20, ["redis"]);
    expect(redisLogs).toMatch(/AOF|manifest/i);
    for (const url of [processorUrl, calendarUrl]) {
      const status = JSON.parse((await get(`${url}/redis-status`)).text) as {
        status: string;
        delivery_path: string;
      };
      expect(status).toMatchObject({ status: "warn", delivery_path: "http" });
    }
    const processor = JSON.parse((await get(`${processorUrl}/redis-status`)).text) as {
      last_confirmed_delivery: { route: string } | null;
    };
    expect(processor.last_confirmed_delivery?.route).toBe("http");

    recordFault({
      fault: "docker compose up with a broken Redis (corrupt AOF)",
      changes: DEMO_MATCH_IDS.length,
      reached,
      detectionMs: null,
      recoveryMs,
      notes: `${cli.command.join(" ")} ${cli.version}: both services up on HTTP, /redis-status warn; Redis exits at start`,
    });
    expect(reached).toBe(DEMO_MATCH_IDS.length);
  }, 600_000); // the image build takes minutes when the sources changed
});
