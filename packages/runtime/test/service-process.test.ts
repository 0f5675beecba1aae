import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "@fogis/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { spawnService, waitUntilServing } from "../src/index.js";

/**
 * The one way a built service is started as a process and waited for: a stand-in `main.js` per
 * case (serves /health, exits, or runs without listening), spawned exactly as the services are.
 */

const dir = mkdtempSync(join(tmpdir(), "service-process-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

function main(name: string, source: string): string {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}

const SERVES = main(
  "serves.mjs",
  `import { createServer } from "node:http";
createServer((req, res) => res.writeHead(req.url === "/health" ? Number(process.env.HEALTH_STATUS) : 404).end())
  .listen(Number(process.env.PORT), "127.0.0.1", () => console.log('{"event":"listening"}'));`,
);

async function start(path: string, env: Record<string, string> = {}) {
  const port = await freePort();
  const child = spawnService(path, { env: { PORT: String(port), ...env } });
  children.push(child);
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  return { child, baseUrl: `http://127.0.0.1:${port}`, output: () => output };
}

describe("spawnService + waitUntilServing", () => {
  it("answers serving once /health answers 2xx, and the child runs with the services' node flags", async () => {
    const { child, baseUrl } = await start(SERVES, { HEALTH_STATUS: "200" });
    expect(await waitUntilServing(child, { baseUrl, timeoutMs: 30_000 })).toBe("serving");
    expect(child.spawnargs).toEqual(expect.arrayContaining(["--max-semi-space-size=1", SERVES]));
  });

  it("counts only the statuses `accept` takes, and waits for `ours`", async () => {
    const { child, baseUrl, output } = await start(SERVES, { HEALTH_STATUS: "503" });
    expect(await waitUntilServing(child, { baseUrl, timeoutMs: 1000 })).toBe("timed-out");
    expect(
      await waitUntilServing(child, {
        baseUrl,
        timeoutMs: 30_000,
        accept: (status) => status === 503,
        ours: () => output().includes('"event":"listening"'),
      }),
    ).toBe("serving");
    expect(
      await waitUntilServing(child, { baseUrl, timeoutMs: 500, accept: () => true, ours: () => false }),
    ).toBe("timed-out");
  });

  it("answers exited at once when the child exits before it serves", async () => {
    const { child, baseUrl } = await start(main("exits.mjs", "process.exit(3);"));
    const started = Date.now();
    expect(await waitUntilServing(child, { baseUrl, timeoutMs: 60_000 })).toBe("exited");
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(child.exitCode).toBe(3);
  });

  it("answers timed-out for a child that runs but never listens", async () => {
    const { child, baseUrl } = await start(main("silent.mjs", "setInterval(() => {}, 1000);"));
    expect(await waitUntilServing(child, { baseUrl, timeoutMs: 500 })).toBe("timed-out");
    expect(child.exitCode).toBeNull();
  });
});
