import { detectComposeExecutable } from "@fogis/deploy";
import { fakeComposeClis } from "@fogis/testing";
import { describe, expect, it } from "vitest";
import { ComposeProject } from "../src/compose.js";

/**
 * What the Docker tests run through compose. The choice between `docker compose` (v2) and
 * `docker-compose` (v1) is deploy's (`detectComposeExecutable`, tested in
 * packages/deploy/test/compose-cli.test.ts); v2 cannot be installed here, so both are stand-ins
 * following their documented answers (@fogis/testing `fakeComposeClis`); `pnpm test:docker` runs
 * the real v1.
 */

describe("ComposeProject", () => {
  it.each([
    [{ v2: true, v1: false }, "docker", ["compose"], []],
    [{ v2: false, v1: true }, "docker-compose", [], ["--force-rm"]],
  ] as const)(
    "runs the same project with %j (only v1 needs --force-rm to build)",
    async (options, program, prefix, forceRm) => {
      const fake = fakeComposeClis(options);
      try {
        const project = new ComposeProject({
          cli: await detectComposeExecutable(fake.env),
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
          "-p",
          "fogis-test",
          "--env-file",
          "/repo/test.env",
        ];
        expect(fake.calls().map((call) => [call.program, ...call.args])).toEqual([
          [program, ...common, "build", ...forceRm, "match-processor"],
          [program, ...common, "up", "-d", "--no-build", "--no-deps", "calendar-sync"],
        ]);
      } finally {
        fake.remove();
      }
    },
  );

  it("fails with the command, exit code and compose's own words", async () => {
    const fake = fakeComposeClis({ v2: false, v1: false });
    try {
      const project = new ComposeProject({
        cli: { command: ["docker", "compose"], generation: 2, version: "" },
        projectName: "fogis-test",
        files: ["/repo/docker-compose.yml"],
        envFile: "/repo/test.env",
        env: fake.env,
      });
      await expect(project.up()).rejects.toThrow(
        /docker compose -p fogis-test up -d --no-build` failed \(1\):\n.*unknown command/,
      );
    } finally {
      fake.remove();
    }
  });
});
