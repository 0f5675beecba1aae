import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Match } from "@fogis/message-schema";
import { fogisMatchList, freePort } from "@fogis/testing";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { ComposeCli, detectComposeExecutable } from "../src/compose-cli.js";
import { EXIT } from "../src/errors.js";
import type { RunReport } from "../src/report.js";
import type { StatusReport } from "../src/status.js";

/**
 * The rollout against a real Docker engine and the real docker-compose.yml: a stack of its own
 * (unique project name, free loopback ports, local images), taken from nothing to phase 4, then
 * through an injected failure at phase 3 and back to phase 0. The CLI runs as a process, as an
 * operator runs it. Needs an engine: bash scripts/docker/ensure-engine.sh, and the local images:
 * bash scripts/docker/build-local-images.sh (no registry here).
 */

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const composeFile = join(repo, "docker-compose.yml");
const cli = join(repo, "packages/deploy/src/cli.ts");
const tsx = join(repo, "node_modules/.bin/tsx");
const project = `fogisdeploytest${Date.now().toString(36)}`;
const token = "deploy-test-token-0123456789";

const NO_ENGINE = [
  "No Docker engine answered, and this test needs one (it runs the stack in containers).",
  "Start one: bash scripts/docker/ensure-engine.sh (as root on Debian; installs docker.io and starts dockerd),",
  "then bash scripts/docker/build-local-images.sh (local redis/node base images: no registry here),",
  "or point DOCKER_HOST at a running engine.",
].join("\n");

let workDir: string;
let matchFile: string;
let overrideFile: string;
/** Empty: compose reads it instead of a developer's .env beside docker-compose.yml. */
let envFile: string;
let composeEnv: NodeJS.ProcessEnv;
let processorUrl: string;
let calendarUrl: string;
let matches: Match[];

/** The stack's own compose project, run by the tool's chosen CLI: docker compose (v2) when it answers, else docker-compose (v1). */
let composeCli: ComposeCli | undefined;

async function compose(...args: string[]): Promise<string> {
  composeCli ??= new ComposeCli(
    (await detectComposeExecutable()).command,
    { files: [composeFile, overrideFile], project, envFile, cwd: repo },
    { timeoutMs: 900_000, env: composeEnv },
  );
  const result = await composeCli.invoke(args);
  if (result.code !== 0) {
    throw new Error(
      `${composeCli.executable} ${args.join(" ")} failed (exit ${result.code}):\n${result.output}`,
    );
  }
  return result.stdout + result.stderr;
}

interface CliRun {
  code: number;
  stdout: string;
  /** stdout and stderr as they came. */
  output: string;
}

/** The deploy CLI as a process (TypeScript sources through tsx: no build needed). */
function deployCli(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((done) => {
    const child = spawn(
      tsx,
      [
        "--conditions=fogis-source",
        cli,
        ...args,
        "-f",
        composeFile,
        "-f",
        overrideFile,
        "--env-file",
        envFile,
        "-p",
        project,
      ],
      { cwd: repo, env: { ...composeEnv, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk;
      output += chunk;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    child.on("close", (code) => {
      done({ code: code ?? -1, stdout, output });
    });
  });
}

function expectExit(run: CliRun, code: number): void {
  if (run.code !== code) console.log(run.output);
  expect(run.code, `exit code; output:\n${run.output.slice(-3000)}`).toBe(code);
}

async function readReport(name: string): Promise<RunReport> {
  return JSON.parse(await readFile(join(workDir, name), "utf8")) as RunReport;
}

async function status(): Promise<StatusReport> {
  const run = await deployCli(["status", "--json"]);
  expectExit(run, EXIT.ok);
  return JSON.parse(run.stdout) as StatusReport;
}

/** A change in the match list, so the next cycle has something to deliver. */
async function addMatch(matchid: number): Promise<void> {
  const [template] = fogisMatchList(1, matchid, "2030-06-01");
  matches = [...matches, template as Match];
  await writeFile(matchFile, JSON.stringify(matches));
}

async function runCycle(): Promise<{ outcome?: string; delivery?: { route?: string; confirmed?: boolean } }> {
  const response = await fetch(`${processorUrl}/process`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { outcome?: string; delivery?: { route?: string } };
}

async function feedHas(matchid: number): Promise<boolean> {
  const feed = await (await fetch(`${calendarUrl}/calendar.ics`)).text();
  return feed.replace(/\r?\n[ \t]/g, "").includes(`fogis-match-${matchid}@`);
}

async function printLogs(): Promise<void> {
  try {
    console.log(await compose("ps"));
    console.log(await compose("logs", "--no-color", "--tail", "80"));
  } catch (error) {
    console.log(`(could not print the containers' logs: ${(error as Error).message})`);
  }
}

/** A change reaches the calendar through the processor's HTTP fallback. */
async function expectHttpDelivery(matchid: number): Promise<void> {
  await addMatch(matchid);
  const cycle = await runCycle();
  expect(cycle.outcome).toBe("delivered");
  expect(cycle.delivery?.route).toBe("http");
  expect(await feedHas(matchid)).toBe(true);
}

beforeAll(async () => {
  try {
    await new Docker().ping();
  } catch (error) {
    throw new Error(`${NO_ENGINE}\n(${(error as Error).message})`);
  }
  workDir = await mkdtemp(join(tmpdir(), "fogis-deploy-docker-"));
  // Mounted into the processor, which runs as the image's user `node`, not as us.
  await chmod(workDir, 0o755);
  matchFile = join(workDir, "matches.json");
  envFile = join(workDir, "empty.env");
  await writeFile(envFile, "");
  overrideFile = join(workDir, "compose.test.yml");
  matches = fogisMatchList(3, 6_200_000, "2030-05-01");
  await writeFile(matchFile, JSON.stringify(matches));
  // The processor reads a match file the test can change, and runs a cycle only when asked.
  await writeFile(
    overrideFile,
    [
      "services:",
      "  match-processor:",
      "    environment:",
      "      MATCH_SOURCE_FILE: /source/matches.json",
      '      SERVICE_INTERVAL: "0"',
      "    volumes:",
      `      - ${workDir}:/source:ro`,
      "",
    ].join("\n"),
  );
  const [processorPort, calendarPort, redisPort] = [await freePort(), await freePort(), await freePort()];
  processorUrl = `http://127.0.0.1:${processorPort}`;
  calendarUrl = `http://127.0.0.1:${calendarPort}`;
  const docker = new Docker();
  const localImage = async (name: string) =>
    docker
      .getImage(name)
      .inspect()
      .then(() => name)
      .catch(() => undefined);
  // Only what reaching the engine needs comes from our environment, so a stray API_TOKEN,
  // COMPOSE_FILE or port in the shell cannot change this stack.
  const kept = Object.entries(process.env).filter(
    ([name, value]) =>
      value !== undefined &&
      (["PATH", "HOME", "USER", "TMPDIR"].includes(name) || name.startsWith("DOCKER_")),
  );
  composeEnv = {
    ...Object.fromEntries(kept),
    CI: "true",
    API_TOKEN: token,
    REDIS_PASSWORD: "deploy-test-redis-password",
    PROCESSOR_HOST_PORT: String(processorPort),
    CALENDAR_SYNC_HOST_PORT: String(calendarPort),
    REDIS_HOST_PORT: String(redisPort),
    REDIS_IMAGE: process.env.REDIS_IMAGE ?? (await localImage("fogis-local/redis:7")) ?? "redis:7-alpine",
    NODE_IMAGE: process.env.NODE_IMAGE ?? (await localImage("fogis-local/node:24")) ?? "node:24-alpine",
    DOCKER_BUILDKIT: "0",
    COMPOSE_DOCKER_CLI_BUILD: "0",
  };
  // Rebuild the service images from this checkout (cached layers: seconds when nothing changed).
  await compose("build", "--force-rm", "match-processor", "calendar-sync");
}, 600_000);

afterAll(async () => {
  if (!composeEnv) return;
  await compose("down", "-v", "--remove-orphans").catch((error: Error) =>
    console.log(`down failed: ${error.message}`),
  );
  const stateFile = join(repo, ".fogis-deploy", `${project}.json`);
  if (existsSync(stateFile)) await rm(stateFile);
  await rm(workDir, { recursive: true, force: true });
}, 120_000);

describe("pnpm deploy against a real stack", () => {
  it("takes the stack from nothing to phase 4 with every gate passing", async () => {
    onTestFailed(printLogs);
    const run = await deployCli(["--soak", "5", "--timeout", "90", "--json", join(workDir, "deploy.json")]);
    expectExit(run, EXIT.ok);
    const report = await readReport("deploy.json");
    expect(report).toMatchObject({ result: "ok", from_phase: null, final_phase: 4 });
    expect(report.phases.map((p) => [p.phase, p.passed])).toEqual([
      [0, true],
      [1, true],
      [2, true],
      [3, true],
      [4, true],
    ]);
    const checks = report.phases.flatMap((p) => p.gate.checks);
    expect(checks.filter((check) => !check.passed)).toEqual([]);
    // Phase 2: the snapshot went through Redis to the probe, then on to calendar-sync over HTTP.
    const publisher = report.phases[2];
    expect(publisher?.gate.checks.map((check) => check.name)).toContain(
      "probe received the snapshot via Redis",
    );
    expect(publisher?.actions.some((action) => action.name.startsWith("relay snapshot"))).toBe(true);
    expect(checks.find((check) => check.name === "persistence on (CONFIG GET appendonly)")?.observed).toBe(
      "yes",
    );
    expect(report.validation).toMatchObject({ soak: { error_rate: 0 } });
    // Progress as plain lines (not a TTY), with timings.
    expect(run.output).toMatch(/\[ok\] {3}redis-cli PING: PONG {2}\d/);
  }, 300_000);

  it("status shows phase 4, every container healthy and every /redis-status pass", async () => {
    onTestFailed(printLogs);
    const current = await status();
    expect(current).toMatchObject({ phase: 4, known: true });
    for (const service of current.services) {
      expect(service, service.service).toMatchObject({ state: "running", health: "healthy" });
    }
    const statuses = current.services
      .filter((s) => s.service !== "redis")
      .map((s) => (s.redis_status as { status?: string }).status);
    expect(statuses).toEqual(["pass", "pass"]);
    const table = await deployCli(["status"]);
    expect(table.output).toMatch(
      /calendar-sync\s+\S+\s+running\s+healthy\s+on\s+pass, path redis, connected, subscribed/,
    );
  }, 60_000);

  it("an unreachable Redis for calendar-sync fails phase 3 and rolls back to phase 2, which still delivers over HTTP", async () => {
    onTestFailed(printLogs);
    expectExit(await deployCli(["rollback", "--to", "2"]), EXIT.ok);
    const run = await deployCli(["--timeout", "15", "--json", join(workDir, "failure.json")], {
      CALENDAR_SYNC_REDIS_PORT: "6390",
    });
    expectExit(run, EXIT.rolledBack);
    const report = await readReport("failure.json");
    expect(report).toMatchObject({ result: "rolled_back", final_phase: 2, exit_code: EXIT.rolledBack });
    const [failed, rollback] = report.phases;
    expect(failed).toMatchObject({ phase: 3, passed: false, failure: { service: "calendar-sync" } });
    expect(failed?.failure?.reason).toMatch(/calendar-sync \/redis-status: expected pass over Redis/);
    expect(failed?.failure?.logs?.length).toBeGreaterThan(0);
    expect(rollback).toMatchObject({ phase: 2, direction: "rollback", passed: true });
    expect(run.output).toContain("Rolling back to phase 2 publisher (automatic)");

    const current = await status();
    expect(current.phase).toBe(2);
    for (const service of current.services)
      expect(service, service.service).toMatchObject({ health: "healthy" });
    // The calendar is still kept up to date, over HTTP.
    await expectHttpDelivery(6_299_001);
  }, 300_000);

  it("rollback --to 0 leaves a working HTTP-only stack without Redis", async () => {
    onTestFailed(printLogs);
    const run = await deployCli(["rollback", "--to", "0", "--json", join(workDir, "rollback.json")]);
    expectExit(run, EXIT.ok);
    expect((await readReport("rollback.json")).phases.map((p) => p.phase)).toEqual([1, 0]);
    const current = await status();
    expect(current.phase).toBe(0);
    const byService = Object.fromEntries(current.services.map((s) => [s.service, s]));
    expect(byService.redis?.state).toBe("exited");
    expect(byService["match-processor"]).toMatchObject({
      state: "running",
      health: "healthy",
      pubsub: false,
    });
    expect(byService["calendar-sync"]).toMatchObject({ state: "running", health: "healthy", pubsub: false });
    await expectHttpDelivery(6_299_002);
  }, 300_000);
});
