import { describe, expect, it } from "vitest";
import { buildRedisStatus, httpStatusFor } from "../src/index.js";

const now = new Date("2026-11-22T10:00:00Z");

describe("buildRedisStatus", () => {
  it("passes when Redis carries updates, keeping the Python fields", () => {
    const report = buildRedisStatus(
      { enabled: true, connected: true, subscribed: true, fallbackAvailable: true },
      now,
    );
    expect(report).toMatchObject({
      success: true,
      timestamp: "2026-11-22T10:00:00.000Z",
      status: "pass",
      redis_status: { enabled: true, connected: true, subscribed: true, redis_available: true },
      delivery_path: "redis",
    });
  });

  it("warns, not fails, when Redis is down but the HTTP fallback works", () => {
    const report = buildRedisStatus({ enabled: true, connected: false, fallbackAvailable: true }, now);
    expect(report.status).toBe("warn");
    expect(report.delivery_path).toBe("http");
    expect(httpStatusFor(report.status)).toBe(200);
  });

  it("warns when connected but not subscribed", () => {
    expect(
      buildRedisStatus({ enabled: true, connected: true, subscribed: false, fallbackAvailable: true }).status,
    ).toBe("warn");
  });

  it("fails, with 503, when no path carries updates", () => {
    const report = buildRedisStatus({ enabled: true, connected: false, fallbackAvailable: false }, now);
    expect(report.status).toBe("fail");
    expect(report.success).toBe(false);
    expect(httpStatusFor(report.status)).toBe(503);
  });

  it("passes on HTTP alone when pub/sub is switched off on purpose", () => {
    const report = buildRedisStatus({ enabled: false, connected: true, fallbackAvailable: true }, now);
    expect(report.status).toBe("pass");
    expect(report.redis_status.connected).toBe(false);
    expect(report.delivery_path).toBe("http");
  });

  it("says warn and http while Redis is connected but does not carry updates", () => {
    const report = buildRedisStatus(
      { enabled: true, connected: true, fallbackAvailable: true, redisCarriesUpdates: false },
      now,
    );
    expect(report).toMatchObject({ status: "warn", delivery_path: "http", success: true });
    expect(report.redis_status.connected).toBe(true);
  });

  it("takes the worst of the path and the issues, and lists the issues", () => {
    const issue = { status: "fail" as const, code: "state_write_failed", message: "disk full" };
    const report = buildRedisStatus(
      { enabled: true, connected: true, subscribed: true, fallbackAvailable: true, issues: [issue] },
      now,
    );
    expect(report).toMatchObject({ status: "fail", success: false, delivery_path: "redis", issues: [issue] });
    expect(httpStatusFor(report.status)).toBe(503);
    const warned = buildRedisStatus({
      enabled: true,
      connected: false,
      fallbackAvailable: true,
      issues: [{ status: "warn", code: "x", message: "y" }],
    });
    expect(warned.status).toBe("warn");
  });
});
