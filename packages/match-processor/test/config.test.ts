import { ConfigError } from "@fogis/runtime";
import { describe, expect, it } from "vitest";
import { loadProcessorConfig } from "../src/index.js";
import { TOKEN } from "./helpers.js";

function problems(env: Record<string, string>): string {
  try {
    loadProcessorConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("loadProcessorConfig", () => {
  it("runs out of the box with only API_TOKEN: demo list, Redis on localhost, calendar-sync on 5003", () => {
    const config = loadProcessorConfig({ API_TOKEN: TOKEN });
    expect(config).toMatchObject({
      port: 8000,
      redisUrl: "redis://127.0.0.1:6379",
      pubsubEnabled: true,
      source: { kind: "demo" },
      intervalSeconds: 300,
      calendarSyncUrl: "http://127.0.0.1:5003",
      channels: { matchUpdates: "fogis:matches:updates" },
    });
  });

  it("reads the sources, the interval (0 = only on POST /process) and the channel overrides", () => {
    expect(loadProcessorConfig({ API_TOKEN: TOKEN, MATCH_SOURCE_FILE: "/data/m.json" }).source).toEqual({
      kind: "file",
      path: "/data/m.json",
      maxBytes: 25 * 1024 * 1024,
    });
    const http = loadProcessorConfig({
      API_TOKEN: TOKEN,
      FOGIS_API_CLIENT_URL: "http://fogis-api-client-service:8080",
      SERVICE_INTERVAL: "0",
      REDIS_MATCH_UPDATES_CHANNEL: "x:updates",
      REDIS_PUBSUB_ENABLED: "false",
    });
    expect(http.source).toMatchObject({ kind: "http", url: "http://fogis-api-client-service:8080" });
    expect(http.intervalSeconds).toBe(0);
    expect(http.channels.matchUpdates).toBe("x:updates");
    expect(http.pubsubEnabled).toBe(false);
  });

  it("names a bad PORT and a missing API_TOKEN, without echoing values", () => {
    const message = problems({ PORT: "abc", REDIS_URL: "http://secret:pw@x" });
    expect(message).toContain("PORT: expected a whole number from 0 to 65535");
    expect(message).toContain("API_TOKEN: is required");
    expect(message).toContain("REDIS_URL");
    expect(message).not.toContain("secret");
  });

  it("refuses two match sources at once, and URLs that are not http(s)", () => {
    expect(
      problems({ API_TOKEN: TOKEN, MATCH_SOURCE_FILE: "/a.json", FOGIS_API_CLIENT_URL: "http://x" }),
    ).toContain("MATCH_SOURCE_FILE: set either MATCH_SOURCE_FILE or FOGIS_API_CLIENT_URL, not both");
    expect(problems({ API_TOKEN: TOKEN, CALENDAR_SYNC_URL: "calendar-sync:5003" })).toContain(
      "CALENDAR_SYNC_URL",
    );
    expect(problems({ API_TOKEN: TOKEN, SERVICE_INTERVAL: "-5" })).toContain("SERVICE_INTERVAL");
  });

  it("caps the match list at MAX_SOURCE_BYTES (25 MiB unless set), for the file and the HTTP source", () => {
    const http = loadProcessorConfig({
      API_TOKEN: TOKEN,
      FOGIS_API_CLIENT_URL: "http://x:8080",
      MAX_SOURCE_BYTES: "1048576",
    });
    expect(http.source).toMatchObject({ kind: "http", maxBytes: 1_048_576 });
    expect(problems({ API_TOKEN: TOKEN, MAX_SOURCE_BYTES: "lots" })).toContain(
      "MAX_SOURCE_BYTES: expected a whole number from 1024 to 1073741824",
    );
  });
});
