import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The services' log lines as a person (or `docker logs`) reads them: a line is out when the call
 * returns, so every line a service logged is there, in order, however the process ends, even by a
 * SIGKILL (the OOM killer, `docker kill`) right after a burst of lines.
 */

const runtimeDist = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "index.js");

function logThenDie(): Promise<string[]> {
  const script = `
    const { createLogger } = await import(${JSON.stringify(runtimeDist)});
    const logger = createLogger({ name: "service" });
    for (let i = 0; i < 2000; i++) logger.info({ event: "work", i }, "working");
    logger.info({ event: "shutdown" }, "shutting down");
    logger.info({ event: "stopped" }, "stopped cleanly");
    process.kill(process.pid, "SIGKILL");
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (chunk) => {
    out += chunk;
  });
  return new Promise((resolve) =>
    child.once("close", () =>
      resolve(
        out
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line).event as string),
      ),
    ),
  );
}

describe("createLogger", () => {
  it("has written every line, in order, when a SIGKILL ends the process right after logging", async () => {
    const events = await logThenDie();
    expect(events).toHaveLength(2002);
    expect(events.slice(-2)).toEqual(["shutdown", "stopped"]);
  });
});
