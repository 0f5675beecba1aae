import { randomBytes } from "node:crypto";
import { chmod, rename, writeFile } from "node:fs/promises";
import { fogisMatchList } from "@fogis/testing";
import ICAL from "ical.js";
import { describe, expect, it } from "vitest";
import { CommandError, type ComposeProject, runCommand } from "../src/compose.js";
import { getJson, stepsOnServiceStack, waitFor } from "../src/docker-stack.js";

/**
 * The compose profile `ha` as a user turns it on (COMPOSE_PROFILES=ha, REDIS_SENTINELS,
 * REDIS_SENTINEL_NAME, a sentinel password): redis, a replica and three sentinels next to the two
 * services. The redis container is killed; the sentinels promote the replica; both services follow
 * by themselves, the HTTP fallback carries the change made meanwhile, and delivery returns to
 * Redis on the new master. The old master, started again, comes back as a replica and changes
 * nothing. Sentinel timeouts are shortened through the profile's own variables.
 *
 * Needs what `pnpm test:docker` needs (a Docker engine, base images: see stack.docker.test.ts).
 */

// Tags of their own (as stack.docker.test.ts has), never a developer's :local; the layer cache is
// shared with the other Docker tests, so the second build of the same tree takes seconds.
const SERVICE_IMAGES = {
  MATCH_PROCESSOR_IMAGE: "fogis-realtime/match-processor:e2e-ha",
  CALENDAR_SYNC_IMAGE: "fogis-realtime/calendar-sync:e2e-ha",
};
const SENTINELS = "redis-sentinel-1:26379,redis-sentinel-2:26379,redis-sentinel-3:26379";

const sentinelPassword = randomBytes(24).toString("hex");
const matches = fogisMatchList(3).map((match) => ({ ...match }) as Record<string, unknown>);
const CHANGED_MATCH_ID = matches[0]?.matchid as number;

let matchSourceFile: string;
/** docker-compose.yml plus the file-source override, profile ha. */
let stack: ComposeProject;
let processorUrl: string;
let calendarUrl: string;
let apiToken: string;
let redisPassword: string;
/** Container IPs of the two data nodes, as the services report their master. */
const address: Record<"redis" | "redis-replica", string> = { redis: "", "redis-replica": "" };

stepsOnServiceStack(
  {
    label: "ha",
    name: "fogis-e2e-ha",
    serviceImages: SERVICE_IMAGES,
    settings: {
      COMPOSE_PROFILES: "ha",
      REDIS_SENTINELS: SENTINELS,
      REDIS_SENTINEL_NAME: "fogis",
      REDIS_SENTINEL_PASSWORD: sentinelPassword,
      REDIS_SENTINEL_DOWN_AFTER_MS: "1000",
      REDIS_SENTINEL_FAILOVER_TIMEOUT_MS: "5000",
    },
  },
  async (docker) => {
    ({ matchSourceFile, processorUrl, calendarUrl, apiToken, redisPassword } = docker);
    stack = docker.withFileSource;
    await writeMatchList("E2E Start FC");
    await docker.start(stack);
    for (const node of ["redis", "redis-replica"] as const) address[node] = await containerIp(node);
  },
);

describe("compose profile ha (Redis Sentinel)", () => {
  it("runs a replica and three sentinels that want their password; both services find the master through them", async () => {
    const services = (await stack.run(["ps", "--services", "--filter", "status=running"])).stdout;
    for (const name of [
      "redis",
      "redis-replica",
      "redis-sentinel-1",
      "redis-sentinel-2",
      "redis-sentinel-3",
    ]) {
      expect(services.split("\n")).toContain(name);
    }
    // Without the password a sentinel answers nothing but NOAUTH (redis-cli may exit non-zero on it).
    const noPassword = await stack
      .exec("redis-sentinel-1", ["redis-cli", "-p", "26379", "ping"])
      .catch((error: CommandError) => error);
    expect(`${noPassword.stdout}${noPassword instanceof CommandError ? noPassword.stderr : ""}`).toMatch(
      /NOAUTH/,
    );
    await waitFor("the sentinels to know the replica and each other", 60_000, async () => {
      const master = await sentinel(["sentinel", "master", "fogis"]);
      return /num-slaves\s+1\b/.test(master) && /num-other-sentinels\s+2\b/.test(master);
    });
    await bothOnMaster(address.redis, 0);
    const config = await getJson(`${calendarUrl}/redis-config`);
    expect(config.body.redis_config).toMatchObject({
      mode: "sentinel",
      sentinels: SENTINELS.split(","),
      sentinel_name: "fogis",
      sentinel_password: "***",
    });
    expect(JSON.stringify(config.body)).not.toContain(sentinelPassword);
    expect(JSON.stringify(config.body)).not.toContain(redisPassword);
    await changeAndExpect("E2E Master FC", "redis");
  });

  it("with the master killed, delivers over HTTP meanwhile and follows the failover back onto Redis", async () => {
    await stack.run(["kill", "redis"]);
    await changeAndExpect("E2E Failover FC", "http");
    await waitFor("the sentinels to name redis-replica", 60_000, async () =>
      (await sentinel(["sentinel", "get-master-addr-by-name", "fogis"])).includes("redis-replica"),
    );
    await bothOnMaster(address["redis-replica"], 1);
    await changeAndExpect("E2E New Master FC", "redis");
  });

  it("the old master, started again, becomes a replica and moves no one", async () => {
    await stack.start("redis");
    await waitFor("redis to replicate from redis-replica", 90_000, async () => {
      const role = (await stack.exec("redis", ["redis-cli", "info", "replication"])).stdout;
      return /role:slave/.test(role) && /master_host:redis-replica/.test(role);
    });
    await bothOnMaster(address["redis-replica"], 1);
    await changeAndExpect("E2E Old Master Back FC", "redis");
  });
});

async function containerIp(service: string): Promise<string> {
  const id = (await stack.run(["ps", "-q", service])).stdout.trim();
  const { stdout } = await runCommand("docker", [
    "inspect",
    "--format",
    "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
    id,
  ]);
  return stdout.trim();
}

/** redis-cli in the first sentinel container, with the sentinel password. */
async function sentinel(args: string[]): Promise<string> {
  const command = [
    "sh",
    "-c",
    'REDISCLI_AUTH="$SENTINEL_PASSWORD" exec redis-cli -p 26379 "$@"',
    "sentinel-cli",
    ...args,
  ];
  return (await stack.exec("redis-sentinel-1", command)).stdout;
}

/** Waits until both services pass on Redis at `ip`, having followed `failovers` failovers. */
async function bothOnMaster(ip: string, failovers: number): Promise<void> {
  await waitFor(`both services on the master at ${ip} after ${failovers} failover(s)`, 60_000, async () => {
    for (const url of [processorUrl, calendarUrl]) {
      const { body } = await getJson(`${url}/redis-status`);
      const connection = body.redis_connection as { master?: string; failovers_seen?: number } | undefined;
      if (
        body.status !== "pass" ||
        connection?.master !== `${ip}:6379` ||
        connection.failovers_seen !== failovers
      ) {
        return false;
      }
    }
    return true;
  });
}

/** Renames the home team of one match, runs a cycle, and waits for the feed to show it. */
async function changeAndExpect(homeTeam: string, route: "redis" | "http"): Promise<void> {
  await writeMatchList(homeTeam);
  const cycle = await getJson(`${processorUrl}/process`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiToken}` },
  });
  expect(cycle.status, JSON.stringify(cycle.body)).toBe(200);
  expect(cycle.body).toMatchObject({ success: true, delivery: { route, confirmed: true } });
  await waitFor(`"${homeTeam}" in the feed`, 30_000, async () => {
    const response = await fetch(`${calendarUrl}/calendar.ics`, { signal: AbortSignal.timeout(10_000) });
    const calendar = new ICAL.Component(ICAL.parse(await response.text()));
    return calendar
      .getAllSubcomponents("vevent")
      .some(
        (event) =>
          String(event.getFirstPropertyValue("uid")).includes(String(CHANGED_MATCH_ID)) &&
          String(event.getFirstPropertyValue("summary")).startsWith(`${homeTeam} - `),
      );
  });
}

/** The list match-processor reads, with the first match's home team renamed (atomically). */
async function writeMatchList(homeTeam: string): Promise<void> {
  const next = `${matchSourceFile}.next`;
  const list = matches.map((match) =>
    match.matchid === CHANGED_MATCH_ID ? { ...match, lag1namn: homeTeam } : match,
  );
  await writeFile(next, JSON.stringify(list));
  await chmod(next, 0o644);
  await rename(next, matchSourceFile);
}
