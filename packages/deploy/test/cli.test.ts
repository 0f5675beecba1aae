import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { afterEach, describe, expect, it } from "vitest";
import { parseCliArgs } from "../src/args.js";
import { calendarCounters, calendarUids } from "../src/checks.js";
import { ComposeCli } from "../src/compose-cli.js";
import { DockerEngine, demuxLines } from "../src/engine.js";
import { EngineUnavailableError, EXIT } from "../src/errors.js";
import { type CliIo, runCli } from "../src/main.js";
import { actionsBetween, phase } from "../src/phases.js";
import type { RunReport } from "../src/report.js";
import { Stack } from "../src/stack.js";
import { FilePhaseStore, stateFilePath } from "../src/state-file.js";
import { projectNameFrom, resolveTarget } from "../src/target.js";
import { MemoryPhaseStore, recordingProgress, ServiceStack, type StackSettings } from "./service-stack.js";

/**
 * The command line end to end (arguments in, exit code and output out) over the real services
 * (service-stack.ts).
 */

const stacks: ServiceStack[] = [];
afterEach(async () => {
  for (const stack of stacks.splice(0)) await stack.close();
});

async function stackAt(settings: StackSettings | null): Promise<ServiceStack> {
  const stack = await ServiceStack.at(settings);
  stacks.push(stack);
  return stack;
}

async function composeDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "fogis-deploy-cli-"));
  await writeFile(join(dir, "docker-compose.yml"), "services: {}\n");
  return dir;
}

async function cli(
  argv: string[],
  options: { services?: ServiceStack; connect?: CliIo["connect"]; cwd?: string } = {},
) {
  const cwd = options.cwd ?? (await composeDir());
  let stdout = "";
  let stderr = "";
  const { progress, output } = recordingProgress();
  const code = await runCli({
    argv,
    env: {},
    cwd,
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    progress,
    connect:
      options.connect ??
      (async () => {
        // Only commands that get this far need a stack.
        const services = options.services ?? (await stackAt(null));
        return { runtime: services.runtime(), store: new MemoryPhaseStore() };
      }),
  });
  return { code, stdout, stderr, progress: output(), cwd };
}

describe("exit codes", () => {
  it.each([
    [["bogus"], /unknown command "bogus"/],
    [["--phase", "7"], /--phase takes a phase number 0-4, not "7"/],
    [["--phaes", "2"], /Unknown option '--phaes'/],
    [["rollback"], /rollback needs the phase to go back to/],
    [["rollback", "--to", "x"], /--to takes a phase number/],
    [["status", "extra"], /unexpected argument "extra"/],
    [["--timeout", "0"], /--timeout takes a number of seconds of at least 1/],
    [["plan", "--phase", "2", "--to", "1"], /not both/],
  ])("%j is bad usage: exit 2 and a message", async (argv, message) => {
    const result = await cli(argv);
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toContain("--help");
  });

  it("deploying backwards is bad usage too, and says which command goes back", async () => {
    const result = await cli(["--phase", "1"], {
      services: await stackAt({ redis: true, processor: true, calendar: true }),
    });
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toContain("rollback --to 1");
  });

  it("no Docker engine: exit 5 with a message that names the fix", async () => {
    const result = await cli(["status"], {
      connect: async () => {
        throw new EngineUnavailableError(
          "no Docker engine answered at unix:///var/run/docker.sock (connect ENOENT)",
        );
      },
    });
    expect(result.code).toBe(EXIT.noEngine);
    expect(result.stderr).toMatch(/no Docker engine answered at unix:\/\/\/var\/run\/docker.sock/);
  });

  it("the real engine client says so when nothing listens on the socket", async () => {
    const engine = new DockerEngine("fogis", new Docker({ socketPath: "/nonexistent/docker.sock" }));
    const failure = await engine.ping().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EngineUnavailableError);
    expect((failure as Error).message).toMatch(
      /no Docker engine answered at unix:\/\/\/nonexistent\/docker.sock .*ensure-engine.sh.*DOCKER_HOST/,
    );
  });

  it("no compose file: exit 6", async () => {
    const result = await cli(["status"], { cwd: await mkdtemp(join(tmpdir(), "fogis-deploy-empty-")) });
    expect(result.code).toBe(EXIT.precondition);
    expect(result.stderr).toMatch(/no compose file in .* pass --compose-file/);
  });

  it("a gate failure with rollback done: exit 3, and the --json report says why", async () => {
    const services = await stackAt({ redis: true, processor: true, calendar: false });
    services.knobs.calendarRedisUnreachable = true;
    const dir = await composeDir();
    // --timeout 6: the check that must fail waits that long for calendar-sync to subscribe.
    const result = await cli(["--json", "out/report.json", "--timeout", "6"], { services, cwd: dir });
    expect(result.code).toBe(EXIT.rolledBack);
    const report = JSON.parse(await readFile(join(dir, "out/report.json"), "utf8")) as RunReport;
    expect(report).toMatchObject({ result: "rolled_back", exit_code: 3, final_phase: 2 });
    expect(report.phases[0]?.gate.checks.at(-1)).toMatchObject({
      name: "calendar-sync /redis-status",
      expected: expect.stringContaining("subscribed"),
      observed: expect.stringContaining("subscribed false"),
      passed: false,
      duration_ms: expect.any(Number),
    });
    expect(result.progress).toContain(`Report: ${join(dir, "out/report.json")}`);
  });
});

describe("commands", () => {
  it("--help shows the overview, each command its own, with the exit codes", async () => {
    const main = await cli(["--help"]);
    expect(main.code).toBe(0);
    expect(main.stdout).toContain("Commands:");
    expect(main.stdout).toContain("pnpm run deploy --phase 2");
    for (const command of ["deploy", "plan", "status", "rollback"]) {
      const help = await cli([command, "--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`Usage: pnpm run deploy ${command === "deploy" ? "[deploy]" : command}`);
    }
    expect((await cli(["rollback", "--help"])).stdout).toContain(
      "3  a gate failed; rolled back automatically",
    );
  });

  it("plan prints every phase's commands and changes nothing", async () => {
    const services = await stackAt({ redis: true, processor: false, calendar: false });
    const result = await cli(["plan"], { services });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Now at phase 1 infrastructure; target phase 4 validation.");
    expect(result.stdout).toContain("Phase 2 publisher");
    expect(result.stdout).toContain("on failure: back to phase 1 infrastructure");
    expect(result.stdout).toContain("run   (nothing to change: checks only)");
    expect(services.composeLog).toEqual([]);
  });

  it("status --json is machine-readable", async () => {
    const result = await cli(["status", "--json"], {
      services: await stackAt({ redis: true, processor: true, calendar: true }),
    });
    const status = JSON.parse(result.stdout);
    expect(status).toMatchObject({ phase: 3, known: true });
    expect(status.services.map((s: { service: string; state: string }) => [s.service, s.state])).toEqual([
      ["redis", "running"],
      ["match-processor", "running"],
      ["calendar-sync", "running"],
    ]);
  });

  it("takes the common options before or after the command", () => {
    expect(parseCliArgs(["-p", "fogis", "-f", "a.yml", "status", "--json"])).toMatchObject({
      command: "status",
      projectName: "fogis",
      composeFiles: ["a.yml"],
      jsonStdout: true,
    });
    expect(parseCliArgs(["--json", "r.json", "--phase", "2"])).toMatchObject({
      command: "deploy",
      jsonFile: "r.json",
      phase: 2,
    });
    expect(parseCliArgs(["--timeout", "5", "rollback", "1"])).toMatchObject({
      command: "rollback",
      to: 1,
      timeoutMs: 5000,
    });
  });

  it("rollback on a stack that was never deployed says there is nothing to roll back, exits 0 and starts nothing", async () => {
    const services = await stackAt(null);
    const result = await cli(["rollback", "0"], { services });
    expect(result.code).toBe(EXIT.ok);
    expect(result.progress).toContain("Nothing to roll back: no containers in the project");
    expect(services.composeLog).toEqual([]);
  });

  it("an --env-file that does not exist: exit 6, naming the file and the fix", async () => {
    const dir = await composeDir();
    const result = await cli(["status", "--env-file", "prod.env"], { cwd: dir });
    expect(result.code).toBe(EXIT.precondition);
    expect(result.stderr).toContain(`env file not found: ${join(dir, "prod.env")}`);
    expect(result.stderr).toContain("leave --env-file out");
  });

  it("rollback 0 (positional, for pnpm deploy rollback 0) works like --to 0", async () => {
    expect(parseCliArgs(["rollback", "0"]).to).toBe(0);
    const services = await stackAt({ redis: true, processor: true, calendar: false });
    const result = await cli(["rollback", "0"], { services });
    expect(result.code).toBe(EXIT.ok);
    expect(services.state("redis")).toBe("exited");
  });
});

describe("pieces", () => {
  it("compose command lines name files, project and env file, for v1 and v2", () => {
    const action = actionsBetween(phase(1).settings, phase(2).settings)[0];
    if (!action) throw new Error("no action");
    const target = {
      files: ["/srv/a b/docker-compose.yml"],
      project: "fogis",
      envFile: "/srv/.env",
      cwd: "/srv",
    };
    expect(new ComposeCli(["docker", "compose"], target).commandLine(action)).toBe(
      "MATCH_PROCESSOR_REDIS_PUBSUB_ENABLED=true CALENDAR_SYNC_REDIS_PUBSUB_ENABLED=false docker compose -f '/srv/a b/docker-compose.yml' -p fogis --env-file /srv/.env up -d --no-deps --force-recreate match-processor",
    );
    expect(
      new ComposeCli(["docker-compose"], target).commandLine({ kind: "stop", services: ["redis"] }),
    ).toBe("docker-compose -f '/srv/a b/docker-compose.yml' -p fogis --env-file /srv/.env stop redis");
  });

  it("the subscriber is switched on after the publisher and off before it", () => {
    const kinds = (from: 0 | 1 | 2 | 3, to: 0 | 1 | 2 | 3) =>
      actionsBetween(phase(from).settings, phase(to).settings).map(
        (a) => `${a.kind} ${a.services.join(",")}`,
      );
    expect(kinds(0, 3)).toEqual(["up redis", "up match-processor", "up calendar-sync"]);
    expect(kinds(3, 0)).toEqual(["up calendar-sync", "up match-processor", "stop redis"]);
  });

  it("finds the compose file above the folder pnpm was started in, and names the project like compose", async () => {
    const dir = await composeDir();
    const target = resolveTarget(parseCliArgs([]), { INIT_CWD: join(dir) }, "/");
    expect(target.composeFiles).toEqual([join(dir, "docker-compose.yml")]);
    expect(target.project).toBe(projectNameFrom(dir.split("/").at(-1) ?? ""));
    expect(projectNameFrom("FOGIS Realtime.v2")).toBe("fogisrealtimev2");
    expect(resolveTarget(parseCliArgs(["-p", "prod"]), { INIT_CWD: dir }, "/").project).toBe("prod");
  });

  it("reads docker-compose.override.yml too when no file is named, as compose does", async () => {
    const dir = await composeDir();
    await writeFile(join(dir, "docker-compose.override.yml"), "services: {}\n");
    expect(resolveTarget(parseCliArgs([]), { INIT_CWD: dir }, "/").composeFiles).toEqual([
      join(dir, "docker-compose.yml"),
      join(dir, "docker-compose.override.yml"),
    ]);
    expect(
      resolveTarget(parseCliArgs(["-f", "docker-compose.yml"]), { INIT_CWD: dir }, "/").composeFiles,
    ).toEqual([join(dir, "docker-compose.yml")]);
  });

  it("reads calendar-sync's counters from its /redis-stats JSON: a cycle over Redis counts as received over Redis", async () => {
    const stack = new Stack((await stackAt({ redis: true, processor: true, calendar: true })).runtime());
    const before = await calendarCounters(stack);
    expect((await stack.runCycle({ resend: true })).status).toBe(200);
    await expect
      .poll(async () => (await calendarCounters(stack)).receivedRedis)
      .toBeGreaterThan(before.receivedRedis);
    const after = await calendarCounters(stack);
    expect(after.processed).toBeGreaterThan(before.processed);
    expect(after.receivedHttp).toBe(before.receivedHttp);
    expect(after.lastSequence).toEqual(expect.any(Number));
  });

  it("records the phase in .fogis-deploy/<project>.json, kept out of git; an unreadable record is no record", async () => {
    const dir = await composeDir();
    const store = new FilePhaseStore(stateFilePath(dir, "fogis"));
    expect(await store.read()).toBeNull();
    const state = {
      project: "fogis",
      phase: 4 as const,
      phase_name: "validation",
      updated_at: "2030-05-01T12:00:00.000Z",
      containers: { redis: "r1", "match-processor": "m1", "calendar-sync": "c1" },
      last_run: { command: "deploy", result: "ok", at: "2030-05-01T12:00:00.000Z" },
    };
    await store.write(state);
    expect(await store.read()).toEqual(state);
    expect(await readFile(join(dir, ".fogis-deploy", ".gitignore"), "utf8")).toBe("*\n");
    expect(await readdir(join(dir, ".fogis-deploy"))).toEqual([".gitignore", "fogis.json"]);
    await writeFile(join(dir, ".fogis-deploy", "fogis.json"), "{ half a rec");
    expect(await store.read()).toBeNull();
  });

  it("reads UIDs from a folded iCalendar text", () => {
    expect(
      calendarUids("BEGIN:VEVENT\r\nUID:fogis-match-6143017@fogis-\r\n realtime\r\nEND:VEVENT\r\n"),
    ).toEqual(["fogis-match-6143017@fogis-realtime"]);
  });

  it("splits the engine's multiplexed log frames into lines", () => {
    const frame = (stream: number, text: string) => {
      const body = Buffer.from(text);
      const header = Buffer.alloc(8);
      header[0] = stream;
      header.writeUInt32BE(body.length, 4);
      return Buffer.concat([header, body]);
    };
    expect(demuxLines(Buffer.concat([frame(1, "one\ntw"), frame(2, "o\nthree\n")]))).toEqual([
      "one",
      "two",
      "three",
    ]);
    expect(demuxLines(Buffer.from("plain\nlines\n"))).toEqual(["plain", "lines"]);
  });
});
