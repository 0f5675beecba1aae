import type { ChildProcess } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { MatchUpdatesEnvelope } from "@fogis/message-schema";
import { spawnService, waitUntilServing } from "@fogis/runtime";
import { fogisMatch, fogisMatchList, freePort, type RedisHandle, startRedis } from "@fogis/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { CycleResult } from "../src/cycle-result.js";
import { Subscriber, SyncReceiver, TOKEN, tempDir, uniqueChannels } from "./helpers.js";
import { decodeEncodedWords, HttpReceiver } from "./notification-receivers.js";

/**
 * The built service as users run it: `node <the services' flags> dist/main.js` with its
 * configuration in the environment.
 */

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const mainJs = join(packageDir, "dist", "main.js");

let redis: RedisHandle;
beforeAll(async () => {
  // dist/ is fresh: every vitest run starts with the one build step (scripts/build-before-tests.ts).
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.close();
});

const running: ChildProcess[] = [];
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  for (const close of cleanup.splice(0).reverse()) await close();
});

interface Started {
  child: ChildProcess;
  base: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

function spawnBuilt(env: Record<string, string>): Started {
  const child = spawnService(mainJs, { cwd: packageDir, env });
  running.push(child);
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  return { child, base: `http://127.0.0.1:${env.PORT}`, output: () => output, exited };
}

async function startService(env: Record<string, string>): Promise<Started> {
  const service = spawnBuilt(env);
  const verdict = await waitUntilServing(service.child, {
    baseUrl: service.base,
    // Start-up takes well under a second on an idle machine; the bound is for a very busy one.
    timeoutMs: 60_000,
    accept: (status) => status === 200,
    // A port from freePort() can be taken by another test's process in between.
    ours: () => service.output().includes('"event":"listening"'),
  });
  if (verdict !== "serving")
    throw new Error(`service ${verdict} before /health answered 200:\n${service.output()}`);
  return service;
}

async function baseEnv(): Promise<Record<string, string>> {
  const channels = uniqueChannels();
  return {
    API_TOKEN: TOKEN,
    PORT: String(await freePort()),
    HOST: "127.0.0.1",
    REDIS_URL: redis.url,
    DATA_DIR: tempDir(),
    SERVICE_INTERVAL: "0",
    LOG_LEVEL: "info",
    REDIS_MATCH_UPDATES_CHANNEL: channels.matchUpdates,
    REDIS_PROCESSOR_STATUS_CHANNEL: channels.processorStatus,
    REDIS_SYSTEM_ALERTS_CHANNEL: channels.systemAlerts,
  };
}

const process_ = (base: string) =>
  fetch(`${base}/process`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });

// Processes on a busy machine start slowly: room for the 60 s start-up bound above.
describe("the built service", { timeout: 120_000 }, () => {
  it("delivers the demo list on POST /process and exits 0 on SIGTERM within 10 s", async () => {
    const env = await baseEnv();
    const calendar = await new SyncReceiver().start();
    cleanup.push(() => calendar.stop());
    const subscriber = await Subscriber.start(redis.url, {
      matchUpdates: env.REDIS_MATCH_UPDATES_CHANNEL as string,
      processorStatus: env.REDIS_PROCESSOR_STATUS_CHANNEL as string,
      systemAlerts: env.REDIS_SYSTEM_ALERTS_CHANNEL as string,
    });
    cleanup.push(() => subscriber.close());
    const service = await startService({ ...env, CALENDAR_SYNC_URL: calendar.url });

    expect((await fetch(`${service.base}/process`, { method: "POST" })).status).toBe(401);
    const response = await process_(service.base);
    const result = (await response.json()) as CycleResult;
    expect(response.status).toBe(200);
    expect(result).toMatchObject({
      outcome: "delivered",
      delivery: { route: "redis", receivers: 1, sequence: 1 },
    });
    expect(result.changes.new).toBeGreaterThanOrEqual(4);
    // At least once: a PUBLISH whose answer is late on a busy machine is sent again, as the same envelope.
    const published = () => subscriber.on(env.REDIS_MATCH_UPDATES_CHANNEL as string);
    await expect.poll(() => published().length).toBeGreaterThanOrEqual(1);
    const ids = new Set(published().map((message) => (message.json as MatchUpdatesEnvelope).message_id));
    expect([...ids]).toEqual([result.delivery?.message_id]);
    const latest = (await (await fetch(`${service.base}/matches/latest`)).json()) as MatchUpdatesEnvelope;
    expect(latest.payload.matches).toHaveLength(result.total_matches ?? -1);

    const signalled = Date.now();
    service.child.kill("SIGTERM");
    const exit = await service.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - signalled).toBeLessThan(10_000);
    expect(service.output()).toContain('"event":"stopped"');
    expect(service.output()).not.toContain(TOKEN);
  });

  it("finishes the running cycle on SIGTERM before it exits", async () => {
    let answer: (() => void) | undefined;
    const fogis: Server = createServer((_req, res) => {
      answer = () => res.setHeader("content-type", "application/json").end(JSON.stringify(fogisMatchList(2)));
    });
    await new Promise<void>((resolve) => fogis.listen(0, "127.0.0.1", resolve));
    cleanup.push(async () => {
      fogis.closeAllConnections();
      await new Promise((resolve) => fogis.close(resolve));
    });
    const calendar = await new SyncReceiver().start();
    cleanup.push(() => calendar.stop());
    const service = await startService({
      ...(await baseEnv()),
      FOGIS_API_CLIENT_URL: `http://127.0.0.1:${(fogis.address() as AddressInfo).port}`,
      CALENDAR_SYNC_URL: calendar.url,
    });

    const pending = process_(service.base);
    // The built service's first fetch; poll's 1 s default is short on a loaded machine.
    await expect.poll(() => answer !== undefined, { timeout: 10_000 }).toBe(true);
    service.child.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(service.child.exitCode).toBeNull(); // still finishing the cycle
    answer?.();
    const result = await (await pending).json();
    expect(result).toMatchObject({ outcome: "delivered", delivery: { route: "http" } });
    expect(calendar.received).toHaveLength(1);
    expect((await service.exited).code).toBe(0);
  });

  it("says loudly at start, with the fix, that a mistyped MATCH_SOURCE_FILE cannot be read, and why each cycle fails", async () => {
    const missing = join(tempDir(), "matchs.json");
    const service = await startService({
      ...(await baseEnv()),
      REDIS_PUBSUB_ENABLED: "false",
      MATCH_SOURCE_FILE: missing,
    });
    await expect.poll(() => service.output()).toContain('"event":"source_unusable"');
    const start = service
      .output()
      .split("\n")
      .find((line) => line.includes('"event":"source_unusable"'));
    expect(start, "a source_unusable line at start").toBeDefined();
    expect(JSON.parse(start as string)).toMatchObject({
      level: 50,
      msg: expect.stringMatching(
        /^NO MATCH LIST: MATCH_SOURCE_FILE .*matchs\.json does not exist.*Fix: point MATCH_SOURCE_FILE at/,
      ),
    });

    const response = await process_(service.base);
    expect(response.status).toBe(502);
    await expect
      .poll(() => service.output())
      .toContain(`"msg":"cycle 1 source_failed: MATCH_SOURCE_FILE ${missing} does not exist`);
  });

  it("stops at once with a readable message naming each bad variable", async () => {
    const service = spawnBuilt({ PORT: "abc", CALENDAR_SYNC_URL: "calendar-sync:5003" });
    const exit = await service.exited;
    expect(exit.code).toBe(1);
    expect(service.output()).toContain("match-processor: invalid configuration");
    expect(service.output()).toContain("PORT: expected a whole number");
    expect(service.output()).toContain("API_TOKEN: is required");
    expect(service.output()).toContain("CALENDAR_SYNC_URL");
  });

  it("pushes a moved kick-off to ntfy once, also across a restart, and shows the target on /redis-status and /metrics", async () => {
    const ntfy = await new HttpReceiver().start();
    cleanup.push(() => ntfy.stop());
    const calendar = await new SyncReceiver().start();
    cleanup.push(() => calendar.stop());
    const dataDir = tempDir();
    const listFile = `${dataDir}/matches.json`;
    const list = (time: string) => [
      fogisMatch({ matchid: 7001, date: "2030-10-26", time, home: "Örgryte IS", away: "BK Häcken" }),
      fogisMatch({ matchid: 7002, date: "2030-11-02", time: "13:00" }),
    ];
    writeFileSync(listFile, JSON.stringify(list("17:00")));
    const topic = "fogis-topic-4b1d9e";
    const env = {
      ...(await baseEnv()),
      DATA_DIR: dataDir,
      MATCH_SOURCE_FILE: listFile,
      CALENDAR_SYNC_URL: calendar.url,
      NOTIFY_NTFY_URL: ntfy.url(`/${topic}`),
      NOTIFY_LANGUAGE: "en",
    };
    // A record left from before notifications were switched off goes when none is configured.
    writeFileSync(`${dataDir}/notifications.json`, "{}");
    const plain = await startService({ ...env, NOTIFY_NTFY_URL: "" });
    expect(existsSync(`${dataDir}/notifications.json`)).toBe(false);
    plain.child.kill("SIGTERM");
    await plain.exited;

    let service = await startService(env);
    expect(await (await process_(service.base)).json()).toMatchObject({ outcome: "delivered" }); // the first list: silent
    writeFileSync(listFile, JSON.stringify(list("18:30")));
    expect(await (await process_(service.base)).json()).toMatchObject({ outcome: "delivered" });
    await expect.poll(() => ntfy.delivered().length, { timeout: 10_000 }).toBe(1);
    const [push] = ntfy.delivered();
    expect(decodeEncodedWords(String(push?.headers.title))).toBe("New kick-off time: Örgryte IS - BK Häcken");
    expect(push?.text).toContain("Kick-off moved 17:00 -> 18:30");
    expect(push?.text).toContain("Sat, 26 Oct 2030, 18:30 (Swedish time)");

    const status = (await (await fetch(`${service.base}/redis-status`)).json()) as {
      notifications: Array<Record<string, unknown>>;
    };
    expect(status.notifications).toEqual([
      expect.objectContaining({ name: "ntfy", kind: "ntfy", status: "pass", lastError: null, pending: 0 }),
    ]);
    expect(status.notifications[0]?.lastSuccess).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    const metrics = await (await fetch(`${service.base}/metrics`)).text();
    expect(metrics).toMatch(/^fogis_processor_notifications_total\{target="ntfy",outcome="sent"[^}]*\} 1$/m);
    expect(JSON.stringify(status) + metrics + service.output()).not.toContain(topic);

    // Restarted on the same data: the same list is no news; the next change is.
    service.child.kill("SIGTERM");
    expect((await service.exited).code).toBe(0);
    service = await startService({ ...env, PORT: String(await freePort()) });
    await process_(service.base);
    writeFileSync(listFile, JSON.stringify(list("20:00")));
    await process_(service.base);
    await expect.poll(() => ntfy.delivered().length, { timeout: 10_000 }).toBe(2);
    expect(ntfy.delivered()[1]?.text).toContain("Kick-off moved 18:30 -> 20:00");
  });

  it("stops at once on a bad NOTIFY_* value, naming the variable and the fix", async () => {
    const service = spawnBuilt({
      API_TOKEN: TOKEN,
      NOTIFY_NTFY_URL: "ntfy.sh/topic",
      NOTIFY_LANGUAGE: "de",
      NOTIFY_EMAIL_TO: "ref@example.org",
      NOTIFY_WEBHOOK_URL: "https://discord.com/api/webhooks/1/top-secret-token",
    });
    const exit = await service.exited;
    expect(exit.code).toBe(1);
    expect(service.output()).toContain(
      "NOTIFY_NTFY_URL: expected an ntfy topic URL such as https://ntfy.sh/<your-secret-topic>",
    );
    expect(service.output()).toContain("NOTIFY_LANGUAGE: expected sv (Swedish, the default) or en (English)");
    expect(service.output()).not.toContain("top-secret-token");
  });
});
