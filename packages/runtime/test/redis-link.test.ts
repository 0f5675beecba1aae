import { startRedis } from "@fogis/testing";
import { describe, expect, it } from "vitest";
import { createLogger, RedisLink } from "../src/index.js";

const logger = createLogger({ name: "test", level: "silent" });

describe("RedisLink", () => {
  it("reports up and down, fails fast while down, and comes back by itself", async () => {
    const redis = await startRedis({ owned: true });
    const link = new RedisLink({ url: redis.url, name: "test", logger, maxBackoffMs: 200 });
    const events: string[] = [];
    link.on("up", () => events.push("up"));
    link.on("down", () => events.push("down"));
    try {
      link.connect();
      await link.waitUntilUp(5000);
      expect(link.isUp).toBe(true);

      await redis.kill();
      await expect.poll(() => link.isUp, { timeout: 3000 }).toBe(false);
      const started = Date.now();
      await expect(link.client.publish("x", "y")).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(200);

      await redis.start();
      await link.waitUntilUp(5000);
      expect(await link.client.ping()).toBe("PONG");
      expect(events).toEqual(["up", "down", "up"]);
    } finally {
      await link.close();
      await redis.close();
    }
  });

  it("with a heartbeat, notices a frozen Redis within seconds and is back after it thaws", async () => {
    const redis = await startRedis({ owned: true, kind: "server" });
    const link = new RedisLink({
      url: redis.url,
      name: "test",
      logger,
      heartbeatMs: 300,
      commandTimeoutMs: 300,
    });
    try {
      link.connect();
      await link.waitUntilUp(5000);
      await redis.pause();
      // The TCP connection stays open; only the unanswered PING tells.
      await expect.poll(() => link.isUp, { timeout: 3000 }).toBe(false);
      expect(link.lastError).toMatch(/heartbeat/);
      await redis.resume();
      await link.waitUntilUp(5000);
      expect(await link.client.ping()).toBe("PONG");
    } finally {
      await redis.resume();
      await link.close();
      await redis.close();
    }
  });

  it("starts the client again when ioredis gives it up (anything but close() ending it)", async () => {
    const redis = await startRedis();
    const link = new RedisLink({ url: redis.url, name: "test", logger, maxBackoffMs: 200 });
    try {
      link.connect();
      await link.waitUntilUp(5000);
      // What ioredis does by itself in a few races (e.g. a failover announced mid-reconnect).
      const ended = new Promise((resolve) => link.client.once("end", resolve));
      link.client.disconnect(false);
      await ended;
      expect(link.isUp).toBe(false);
      await link.waitUntilUp(5000);
      expect(await link.client.ping()).toBe("PONG");
      expect(link.state).toBe("up");
    } finally {
      await link.close();
      await redis.close();
    }
    expect(link.state).toBe("closed");
  });

  it("does not block start when Redis is absent, and says why in lastError", async () => {
    const link = new RedisLink({ url: "redis://127.0.0.1:1", name: "test", logger });
    link.connect();
    await expect(link.waitUntilUp(300)).rejects.toThrow(/not reachable within 300 ms/);
    expect(link.isUp).toBe(false);
    await link.close();
  });
});
