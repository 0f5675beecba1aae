import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { NO_DAV_SERVER_HELP, startRadicale, startXandikos } from "../src/index.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Without the servers installed, a CalDAV/CardDAV test fails and says how to get them, never skips. */

describe("real CalDAV/CardDAV servers for the tests", () => {
  const path = process.env.PATH;
  afterEach(() => {
    process.env.PATH = path;
  });

  it("fails with the apt-get line when radicale or xandikos is not installed", async () => {
    process.env.PATH = "/nonexistent";
    await expect(startRadicale()).rejects.toThrow(/radicale is not installed/);
    await expect(startXandikos()).rejects.toThrow(NO_DAV_SERVER_HELP);
    expect(NO_DAV_SERVER_HELP).toContain("apt-get install -y radicale xandikos");
  });

  it("starts Radicale with a password on a free loopback port, and again after a stop", async () => {
    const server = await startRadicale({ password: "lösen" });
    try {
      const auth = (password: string) => ({
        Authorization: `Basic ${Buffer.from(`${server.username}:${password}`).toString("base64")}`,
        Depth: "0",
      });
      expect((await fetch(server.url, { method: "PROPFIND", headers: auth("fel") })).status).toBe(401);
      expect((await fetch(server.url, { method: "PROPFIND", headers: auth("lösen") })).status).toBe(207);
      await server.stop();
      await expect(fetch(server.url, { method: "PROPFIND", headers: auth("lösen") })).rejects.toThrow();
      await server.start();
      expect((await fetch(server.url, { method: "PROPFIND", headers: auth("lösen") })).status).toBe(207);
    } finally {
      await server.close();
    }
  });

  it("leaves no server behind when the test process is killed", async () => {
    // A worker that starts Xandikos and is then killed outright, as a timed-out test worker is.
    const helper = fileURLToPath(new URL("../src/dav-servers.ts", import.meta.url));
    const worker = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `const { startXandikos } = await import(${JSON.stringify(helper)});
         const server = await startXandikos();
         const { execSync } = await import("node:child_process");
         // [p]: the pattern must not match the shell running pgrep.
         const pid = execSync("pgrep -f '[p]ython3 .*-p " + server.port + " '").toString().trim();
         console.log(pid);
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const serverPid = await new Promise<number>((resolve, reject) => {
      worker.stdout.on("data", (chunk) => resolve(Number(String(chunk).trim())));
      worker.once("exit", (code) => reject(new Error(`the worker exited with ${code}`)));
    });
    expect(alive(serverPid)).toBe(true);
    worker.kill("SIGKILL");
    const deadline = Date.now() + 10_000;
    while (alive(serverPid) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(alive(serverPid)).toBe(false);
  });
});
