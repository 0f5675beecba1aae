import { type FakeComposeClis, fakeComposeClis } from "@fogis/testing";
import { afterEach, describe, expect, it } from "vitest";
import { ComposeCli, detectComposeExecutable } from "../src/compose-cli.js";
import { PreconditionError } from "../src/errors.js";
import { actionsBetween, phase } from "../src/phases.js";

/**
 * How the deploy tool (and the Docker tests, through @fogis/e2e's ComposeProject) chooses and runs
 * compose: `docker compose` (v2, what users have) when it answers, else `docker-compose` (v1, all
 * Debian 12 ships). v2 cannot be installed here, so both
 * CLIs are stand-ins that follow their documented answers (@fogis/testing `fakeComposeClis`); the
 * real v1 runs in `pnpm test:docker`.
 */

const fakes: FakeComposeClis[] = [];
afterEach(() => {
  for (const fake of fakes.splice(0)) fake.remove();
});

function clis(options: { v2: boolean; v1: boolean }): FakeComposeClis {
  const fake = fakeComposeClis(options);
  fakes.push(fake);
  return fake;
}

const target = {
  files: ["/srv/fogis/docker-compose.yml"],
  project: "fogis",
  envFile: "/srv/fogis/.env",
  cwd: "/",
};

describe("choosing the compose CLI (deploy and the Docker tests alike)", () => {
  it("takes docker compose (v2) when it answers, with its version", async () => {
    expect(await detectComposeExecutable(clis({ v2: true, v1: true }).env)).toEqual({
      command: ["docker", "compose"],
      generation: 2,
      version: "2.29.7",
    });
    expect((await detectComposeExecutable(clis({ v2: true, v1: false }).env)).command).toEqual([
      "docker",
      "compose",
    ]);
  });

  it("takes docker-compose (v1) when docker has no compose plugin, as on Debian 12", async () => {
    expect(await detectComposeExecutable(clis({ v2: false, v1: true }).env)).toEqual({
      command: ["docker-compose"],
      generation: 1,
      version: "1.29.2",
    });
  });

  it("with neither, stops (exit 6) naming both and how to get one", async () => {
    const failure = await detectComposeExecutable(clis({ v2: false, v1: false }).env).catch(
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(PreconditionError);
    expect((failure as Error).message).toMatch(
      /neither `docker compose` \(v2\) nor `docker-compose` \(v1\) answered.*apt-get install -y docker-compose/,
    );
  });

  it("FOGIS_DEPLOY_COMPOSE forces one", async () => {
    const env = { ...clis({ v2: true, v1: true }).env, FOGIS_DEPLOY_COMPOSE: "docker-compose" };
    expect(await detectComposeExecutable(env)).toMatchObject({ command: ["docker-compose"], generation: 1 });
    const v2 = { ...env, FOGIS_DEPLOY_COMPOSE: "docker compose" };
    expect(await detectComposeExecutable(v2)).toMatchObject({
      command: ["docker", "compose"],
      generation: 2,
    });
  });
});

describe("running a phase's compose action", () => {
  const action = actionsBetween(phase(1).settings, phase(2).settings)[0];

  it.each([
    ["v2", { v2: true, v1: false }, ["docker", "compose"], "docker", ["compose"]],
    ["v1", { v2: false, v1: true }, ["docker-compose"], "docker-compose", []],
  ] as const)(
    "%s gets the same files, project, env file and settings",
    async (_name, options, command, program, prefix) => {
      if (!action) throw new Error("no action between phases 1 and 2");
      const fake = clis(options);
      await new ComposeCli([...command], target, { timeoutMs: 15_000, env: fake.env }).run(action);
      expect(fake.calls()).toEqual([
        {
          program,
          args: [
            ...prefix,
            ...["-f", "/srv/fogis/docker-compose.yml", "-p", "fogis", "--env-file", "/srv/fogis/.env"],
            ...["up", "-d", "--no-deps", "--force-recreate", "match-processor"],
          ],
          env: { MATCH_PROCESSOR_REDIS_PUBSUB_ENABLED: "true", CALENDAR_SYNC_REDIS_PUBSUB_ENABLED: "false" },
        },
      ]);
    },
  );
});
