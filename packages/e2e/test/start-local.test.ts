import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, type RedisHandle, startRedis } from "@fogis/testing";
import { afterEach, describe, expect, it } from "vitest";
import { repoRoot } from "./reliability/service-process.js";

/**
 * `pnpm start` as a newcomer runs it (scripts/start-local.mjs): what it prints must be true (the
 * real source and size of the match list, the real calendar), settings it cannot use stop it before
 * anything starts, with the variable to change, and Ctrl-C stops both services cleanly.
 */

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const running: ChildProcess[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "start-local-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function startLocal(env: Record<string, string>, cwd = repoRoot): Run {
  const child = spawn(process.execPath, [join(repoRoot, "scripts", "start-local.mjs")], {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.push(child);
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Resolves with the output once the banner is printed; rejects if the script exits first. */
async function banner(run: Run): Promise<string> {
  const deadline = Date.now() + 150_000;
  while (!run.output().includes("Ctrl-C stops both services.")) {
    if (run.child.exitCode !== null)
      throw new Error(`pnpm start exited ${run.child.exitCode}:\n${run.output()}`);
    if (Date.now() > deadline) throw new Error(`no banner within 150 s:\n${run.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return run.output();
}

async function ports(): Promise<Record<string, string>> {
  return { CALENDAR_SYNC_PORT: String(await freePort()), PROCESSOR_PORT: String(await freePort()) };
}

describe("pnpm start", { timeout: 240_000 }, () => {
  it("prints the real source and size of the list and the calendar's events, without a start-order warning, and stops cleanly on Ctrl-C, without a warning", async () => {
    const redis: RedisHandle = await startRedis();
    cleanups.push(() => redis.close());
    const run = startLocal({ ...(await ports()), DATA_DIR: tempDir(), REDIS_URL: redis.url });
    const output = await banner(run);
    expect(output).toMatch(
      /FOGIS Realtime is running: 5 matches from built-in demo match list .*; 5 events in the calendar, delivery via redis/,
    );
    // calendar-sync starts before the processor: that is expected, not a warning.
    expect(output).not.toContain("could not fetch the latest envelope");

    run.child.kill("SIGINT");
    expect(await run.exited).toBe(0);
    // A stop the user asked for is not a warning (calendar-sync leaving its subscription was one).
    const stopping = run.output().slice(run.output().indexOf("stopping ..."));
    expect(stopping).not.toMatch(/ (WARN|ERROR) /);
    for (const service of ["calendar-sync", "match-processor"]) {
      const lines = run
        .output()
        .split("\n")
        .filter((line) => line.includes(` ${service} `));
      const shuttingDown = lines.findIndex((line) => line.includes("shutting down"));
      const stopped = lines.findIndex((line) => line.includes("stopped cleanly"));
      expect(shuttingDown, `${service} says it is shutting down`).toBeGreaterThanOrEqual(0);
      expect(stopped, `${service} says it stopped cleanly, after that`).toBeGreaterThan(shuttingDown);
    }
  });

  it("says loudly that a mistyped MATCH_SOURCE_FILE cannot be read (relative to where it was typed), and that PORT is not its setting", async () => {
    const here = tempDir();
    const run = startLocal(
      {
        ...(await ports()),
        DATA_DIR: tempDir(),
        REDIS_PUBSUB_ENABLED: "false",
        MATCH_SOURCE_FILE: "matchs.json",
        PORT: "abc",
      },
      here,
    );
    const output = await banner(run);
    expect(output).toContain("PORT=abc is not read by pnpm start");
    expect(output).toContain(
      `FOGIS Realtime is running, but it has no match list: MATCH_SOURCE_FILE ${join(here, "matchs.json")} does not exist`,
    );
    expect(output).toContain("Fix: point MATCH_SOURCE_FILE at a readable JSON match list");
    expect(output).not.toMatch(/\d+ matches from/);
    run.child.kill("SIGINT");
    expect(await run.exited).toBe(0);
  });

  it.each([
    [{ REDIS_URL: "notaurl" }, "REDIS_URL: expected redis://"],
    [{ CALENDAR_SYNC_PORT: "abc" }, "CALENDAR_SYNC_PORT=abc is not a port"],
  ])("stops before anything starts on %j, naming the variable", async (settings, message) => {
    const run = startLocal({ ...(await ports()), DATA_DIR: tempDir(), ...settings });
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain(message);
    expect(run.output()).not.toContain("running on HTTP alone");
    expect(run.output()).not.toContain("listening");
  });

  it("a port already taken names the variable that moves it", async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const port = (taken.address() as { port: number }).port;
    const run = startLocal({ ...(await ports()), CALENDAR_SYNC_PORT: String(port), DATA_DIR: tempDir() });
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain(
      `port ${port} (calendar-sync) is already in use on 127.0.0.1: stop what listens there, or choose another port: CALENDAR_SYNC_PORT=<port> pnpm start`,
    );
  });
});
