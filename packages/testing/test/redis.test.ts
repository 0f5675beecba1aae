import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { plainRedisClient, type RedisHandle, startRedis } from "../src/index.js";

const quiet = {
  lazyConnect: true,
  maxRetriesPerRequest: 0,
  retryStrategy: () => 50,
  enableOfflineQueue: false,
};

describe("the test Redis helper", () => {
  let redis: RedisHandle;
  beforeAll(async () => {
    redis = await startRedis({ owned: true });
  });
  afterAll(async () => {
    await redis?.close();
  });

  it("gives a real Redis that carries PUBLISH to a SUBSCRIBE", async () => {
    const sub = plainRedisClient(redis.url, quiet);
    const pub = plainRedisClient(redis.url, quiet);
    try {
      await Promise.all([sub.connect(), pub.connect()]);
      const received = new Promise<string>((resolve) =>
        sub.on("message", (_channel, message) => resolve(message)),
      );
      await sub.subscribe("helper:test");
      expect(await pub.publish("helper:test", "hello")).toBe(1);
      expect(await received).toBe("hello");
    } finally {
      sub.disconnect();
      pub.disconnect();
    }
  });

  it("stops, restarts on the same port, and freezes", async () => {
    const client = plainRedisClient(redis.url, quiet);
    try {
      await client.connect();
      expect(await client.ping()).toBe("PONG");
      await redis.stop();
      await expect(client.ping()).rejects.toThrow();
      await redis.start();
      await expect.poll(() => client.ping().catch(() => "down"), { timeout: 5000 }).toBe("PONG");

      await redis.pause();
      const frozen = await Promise.race([
        client.ping().then(() => "answered"),
        new Promise((resolve) => setTimeout(() => resolve("no answer"), 300)),
      ]);
      expect(frozen).toBe("no answer");
      await redis.resume();
      await expect.poll(() => client.ping().catch(() => "down"), { timeout: 5000 }).toBe("PONG");

      await redis.kill();
      await expect(client.ping()).rejects.toThrow();
      await redis.start();
      await expect.poll(() => client.ping().catch(() => "down"), { timeout: 5000 }).toBe("PONG");
    } finally {
      client.disconnect();
    }
  });

  it("starts a password-protected Redis whose URL carries the password", async () => {
    const secured = await startRedis({ owned: true, password: "s3cret/with:chars" });
    const anonymous = plainRedisClient(`redis://127.0.0.1:${secured.port}`, quiet);
    anonymous.on("error", () => {});
    const authed = plainRedisClient(secured.url, quiet);
    try {
      await authed.connect();
      expect(await authed.ping()).toBe("PONG");
      await anonymous.connect().catch(() => {});
      await expect(anonymous.get("x")).rejects.toThrow(/NOAUTH|Stream isn't writeable/);
    } finally {
      anonymous.disconnect();
      authed.disconnect();
      await secured.close();
    }
  });
});
