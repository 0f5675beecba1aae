import { type FakeComposeClis, fakeComposeClis } from "@fogis/testing";
import { afterEach, describe, expect, it } from "vitest";
import { ComposeProject, findComposeCli, NO_COMPOSE_HELP } from "../src/compose.js";

/**
 * How the Docker tests choose and drive compose: `docker compose` (v2) when it answers, else
 * `docker-compose` (v1). v2 cannot be installed here, so both are stand-ins following their
 * documented answers (@fogis/testing `fakeComposeClis`); `pnpm test:docker` runs the real v1.
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

describe("findComposeCli", () => {
  it("takes docker compose (v2) when it answers, with its version", async () => {
    expect(await findComposeCli(clis({ v2: true, v1: true }).env)).toEqual({
      file: "docker",
      prefix: ["compose"],
      generation: 2,
      version: "2.29.7",
    });
  });

  it("takes docker-compose (v1) when docker has no compose plugin, as on Debian 12", async () => {
    expect(await findComposeCli(clis({ v2: false, v1: true }).env)).toEqual({
      file: "docker-compose",
      prefix: [],
      generation: 1,
      version: "1.29.2",
    });
  });

  it("fails with how to get one when neither answers", async () => {
    await expect(findComposeCli(clis({ v2: false, v1: false }).env)).rejects.toThrow(NO_COMPOSE_HELP);
  });
});

describe("ComposeProject", () => {
  it.each([
    [{ v2: true, v1: false }, "docker", ["compose"], []],
    [{ v2: false, v1: true }, "docker-compose", [], ["--force-rm"]],
  ] as const)(
    "runs the same project with %j (only v1 needs --force-rm to build)",
    async (options, program, prefix, forceRm) => {
      const fake = clis(options);
      const project = new ComposeProject({
        cli: await findComposeCli(fake.env),
        projectName: "fogis-test",
        files: ["/repo/docker-compose.yml"],
        envFile: "/repo/test.env",
        env: fake.env,
      });
      await project.build(["match-processor"]);
      await project.up(["calendar-sync"], { noDeps: true });
      const common = [
        ...prefix,
        "-f",
        "/repo/docker-compose.yml",
        "--env-file",
        "/repo/test.env",
        "-p",
        "fogis-test",
      ];
      expect(fake.calls().map((call) => [call.program, ...call.args])).toEqual([
        [program, ...common, "build", ...forceRm, "match-processor"],
        [program, ...common, "up", "-d", "--no-build", "--no-deps", "calendar-sync"],
      ]);
    },
  );
});
