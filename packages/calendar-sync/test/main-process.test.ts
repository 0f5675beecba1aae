import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnService } from "@fogis/runtime";
import {
  fogisMatch,
  freePort,
  plainRedisClient,
  pythonMatchUpdatesEnvelope,
  type RedisHandle,
  startRedis,
} from "@fogis/testing";
import { afterEach, describe, expect, it } from "vitest";
import { eventually, parseFeed, TOKEN } from "./helpers.js";

/**
 * The service as a process, the way compose and the reliability suite run it: `node <the services'
 * flags> dist/main.js` (built by the test run's global setup), environment in, HTTP and Redis out,
 * SIGTERM to stop.
 */

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startMain(env: Record<string, string>): Running {
  const child = spawnService("dist/main.js", { cwd: packageDir, env });
  let out = "";
  let err = "";
  child.stdout?.on("data", (chunk) => {
    out += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    err += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  running.push(child);
  return { child, stdout: () => out, stderr: () => err, exited };
}

const running: ChildProcess[] = [];
let redis: RedisHandle | undefined;
const dirs: string[] = [];
afterEach(async () => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  await redis?.close();
  redis = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

// Processes on a busy machine start slowly: the waits below are bounds, not sleeps.
describe("node dist/main.js", { timeout: 120_000 }, () => {
  it("refuses to start on a bad environment and says which variables to fix", async () => {
    const main = startMain({ PORT: "not-a-port" });
    const { code } = await main.exited;
    expect(code).toBe(1);
    expect(main.stderr()).toMatch(/calendar-sync: invalid configuration/);
    expect(main.stderr()).toMatch(/API_TOKEN: is required/);
    expect(main.stderr()).toMatch(/PORT: expected a whole number/);
  });

  it("turns an envelope published with ioredis into events in /calendar.ics, and exits 0 on SIGTERM", async () => {
    redis = await startRedis();
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), "calendar-sync-main-"));
    dirs.push(dataDir);
    const main = startMain({
      API_TOKEN: TOKEN,
      REDIS_URL: redis.url,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      PROCESSOR_URL: "http://127.0.0.1:9",
    });
    const base = `http://127.0.0.1:${port}`;
    await eventually(async () => {
      if (main.child.exitCode !== null) throw new Error(`exited:\n${main.stdout()}${main.stderr()}`);
      const status = (await (await fetch(`${base}/redis-status`)).json()) as { status: string };
      expect(status.status).toBe("pass");
    }, 60_000);

    const publisher = plainRedisClient(redis.url);
    const envelope = pythonMatchUpdatesEnvelope([
      fogisMatch({ matchid: 7_000_001, date: "2030-05-04", time: "14:00", home: "BK Häcken", away: "GAIS" }),
      fogisMatch({ matchid: 7_000_002, date: "2030-05-11", time: "16:00" }),
    ]);
    expect(await publisher.publish("fogis:matches:updates", JSON.stringify(envelope))).toBe(1);
    publisher.disconnect();

    const events = await eventually(async () => {
      const found = parseFeed(await (await fetch(`${base}/calendar.ics`)).text()).events;
      expect(found).toHaveLength(2);
      return found;
    });
    expect(events.find((event) => event.uid.includes("7000001"))).toMatchObject({
      summary: "BK Häcken - GAIS",
      start: new Date("2030-05-04T12:00:00Z"),
    });

    const stoppedAt = Date.now();
    main.child.kill("SIGTERM");
    const { code } = await main.exited;
    expect(code).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    expect(main.stdout()).toContain('"event":"stopped"');
  }, 90_000);
});
