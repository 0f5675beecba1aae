import { afterEach, describe, expect, it } from "vitest";
import { NO_DAV_SERVER_HELP, startRadicale, startXandikos } from "../src/index.js";

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
});
