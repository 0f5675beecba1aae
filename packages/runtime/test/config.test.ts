import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  ConfigError,
  checkSentinelEnv,
  describeRedisTarget,
  envInteger,
  loadConfig,
  parseEnvBoolean,
  redactUrl,
  redisTargetFrom,
  sharedEnv,
} from "../src/index.js";

const schema = z
  .object({ ...sharedEnv, PORT: envInteger(5003, { min: 1, max: 65_535 }) })
  .superRefine(checkSentinelEnv);
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

  it("reads a yes/no value the same way outside a loader: blank is the default, a typo is no answer", () => {
    expect([" ON ", "1", "yes"].map((value) => parseEnvBoolean(value, false))).toEqual([true, true, true]);
    expect(["off", "0", "No"].map((value) => parseEnvBoolean(value, true))).toEqual([false, false, false]);
    expect([undefined, "", "  "].map((value) => parseEnvBoolean(value, true))).toEqual([true, true, true]);
    expect(parseEnvBoolean("ture", true)).toBeUndefined();
  });
});

describe("Redis Sentinel settings", () => {
  function problems(env: Record<string, string>): string {
    try {
      loadConfig("svc", schema, { API_TOKEN: token, ...env });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error("expected a ConfigError");
  }

  it("reads the sentinels and the master name, and keeps REDIS_URL for password, TLS and db", () => {
    const config = loadConfig("svc", schema, {
      API_TOKEN: token,
      REDIS_URL: "rediss://:pw@ignored:6379/2",
      REDIS_SENTINELS: " sentinel-1:26379, 10.0.0.7:26380 ,[fd00::7]:26381",
      REDIS_SENTINEL_NAME: "fogis",
      REDIS_SENTINEL_PASSWORD: "sentinel-secret",
    });
    const target = redisTargetFrom(config);
    expect(target).toEqual({
      url: "rediss://:pw@ignored:6379/2",
      sentinel: {
        sentinels: [
          { host: "sentinel-1", port: 26379 },
          { host: "10.0.0.7", port: 26380 },
          { host: "fd00::7", port: 26381 },
        ],
        name: "fogis",
        password: "sentinel-secret",
      },
    });
    const shown = describeRedisTarget(target);
    expect(shown).toEqual({
      mode: "sentinel",
      url: "rediss://:***@ignored:6379/2",
      sentinels: ["sentinel-1:26379", "10.0.0.7:26380", "[fd00::7]:26381"],
      sentinel_name: "fogis",
      sentinel_password: "***",
    });
    expect(JSON.stringify(shown)).not.toMatch(/sentinel-secret|:pw@/);
  });

  it("without them, REDIS_URL alone names the Redis", () => {
    const config = loadConfig("svc", schema, { API_TOKEN: token, REDIS_URL: "redis://:pw@redis:6379" });
    expect(redisTargetFrom(config)).toEqual({ url: "redis://:pw@redis:6379" });
    expect(describeRedisTarget(redisTargetFrom(config))).toEqual({
      mode: "standalone",
      url: "redis://:***@redis:6379",
    });
  });

  it("wants the list and the name together, and the sentinel password only with them", () => {
    expect(problems({ REDIS_SENTINELS: "s1:26379" })).toMatch(
      /REDIS_SENTINEL_NAME: is required with REDIS_SENTINELS: the master group name the sentinels monitor/,
    );
    expect(problems({ REDIS_SENTINEL_NAME: "fogis" })).toMatch(
      /REDIS_SENTINELS: is required with REDIS_SENTINEL_NAME: .*e\.g\. sentinel-1:26379,sentinel-2:26379/,
    );
    const password = problems({ REDIS_SENTINEL_PASSWORD: "hunter2-sentinel" });
    expect(password).toMatch(
      /REDIS_SENTINEL_PASSWORD: is only used with REDIS_SENTINELS and REDIS_SENTINEL_NAME/,
    );
    expect(password).not.toContain("hunter2");
  });

  it("names a bad entry by its position, never by its text (it may hold a password)", () => {
    const message = problems({
      REDIS_SENTINELS: "s1:26379,redis://:hunter2@s2:26379,s3,s4:0,s1:26379",
      REDIS_SENTINEL_NAME: "fogis",
    });
    expect(message).toContain("REDIS_SENTINELS: entry 2 of 5 is not host:port");
    expect(message).toContain("REDIS_SENTINELS: entry 3 of 5 is not host:port");
    expect(message).toContain("REDIS_SENTINELS: entry 4 of 5 is not host:port (port 1-65535");
    expect(message).toContain("REDIS_SENTINELS: entry 5 of 5 repeats entry 1");
    expect(message).not.toContain("hunter2");
    expect(problems({ REDIS_SENTINELS: "s1:26379", REDIS_SENTINEL_NAME: "my master" })).toContain(
      "REDIS_SENTINEL_NAME: expected the master group name the sentinels monitor, without spaces",
    );
    expect(problems({ REDIS_SENTINELS: ",", REDIS_SENTINEL_NAME: "fogis" })).toContain(
      "REDIS_SENTINELS: entry 1 of 2 is not host:port",
    );
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
