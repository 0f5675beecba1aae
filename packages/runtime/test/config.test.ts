import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, envInteger, loadConfig, redactUrl, sharedEnv } from "../src/index.js";

const schema = z.object({ ...sharedEnv, PORT: envInteger(5003, { min: 1, max: 65_535 }) });
const token = "0123456789abcdef0123";

describe("loadConfig", () => {
  it("applies the documented defaults, treating blank variables as unset", () => {
    const config = loadConfig("svc", schema, { API_TOKEN: token, PORT: "", REDIS_URL: " " });
    expect(config).toMatchObject({
      REDIS_URL: "redis://127.0.0.1:6379",
      REDIS_PUBSUB_ENABLED: true,
      PORT: 5003,
      LOG_LEVEL: "info",
      DATA_DIR: "./data",
    });
  });

  it("names every bad variable and what it should be, without echoing values", () => {
    let error: unknown;
    try {
      loadConfig("calendar-sync", schema, {
        PORT: "abc",
        REDIS_URL: "http://user:hunter2@x",
        REDIS_PUBSUB_ENABLED: "maybe",
        LOG_LEVEL: "loud",
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain("calendar-sync: invalid configuration");
    expect(message).toMatch(/PORT: expected a whole number from 1 to 65535/);
    expect(message).toMatch(/REDIS_URL: expected redis:\/\//);
    expect(message).toMatch(/REDIS_PUBSUB_ENABLED: expected true or false/);
    expect(message).toMatch(/API_TOKEN: is required/);
    expect(message).toMatch(/LOG_LEVEL: expected one of/);
    expect(message).not.toContain("hunter2");
  });

  it("reads false in its usual spellings", () => {
    for (const value of ["false", "0", "no", "off", "FALSE"]) {
      expect(
        loadConfig("svc", schema, { API_TOKEN: token, REDIS_PUBSUB_ENABLED: value }).REDIS_PUBSUB_ENABLED,
      ).toBe(false);
    }
  });
});

describe("redactUrl", () => {
  it("hides the password but keeps host, port and user", () => {
    expect(redactUrl("redis://fogis:s3cret@redis:6379/0")).toBe("redis://fogis:***@redis:6379/0");
    expect(redactUrl("redis://:s3cret@127.0.0.1:6380")).toBe("redis://:***@127.0.0.1:6380");
    expect(redactUrl("redis://127.0.0.1:6379")).toBe("redis://127.0.0.1:6379");
  });
});

describe("TRUST_PROXY", () => {
  const trust = (value: string | undefined) =>
    loadConfig("svc", schema, { API_TOKEN: token, TRUST_PROXY: value }).TRUST_PROXY;

  it("is off unless set, and reads a hop count or the proxies' addresses", () => {
    expect(trust(undefined)).toBe(false);
    expect(trust("false")).toBe(false);
    expect(trust("1")).toBe(1);
    expect(trust("loopback, 172.16.0.0/12,::1")).toEqual(["loopback", "172.16.0.0/12", "::1"]);
  });

  it.each(["true", "yes", "10.0.0.0/33", "proxy.example", "1,2"])(
    "refuses %s with a message that says what to write instead",
    (value) => {
      expect(() => trust(value)).toThrow(
        /TRUST_PROXY: expected false, the number of reverse proxies in front \(e\.g\. 1\), or their addresses/,
      );
    },
  );
});
