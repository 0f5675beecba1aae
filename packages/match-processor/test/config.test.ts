import { ConfigError } from "@fogis/runtime";
import { describe, expect, it } from "vitest";
import { loadProcessorConfig } from "../src/config.js";
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

describe("loadProcessorConfig: notifications (NOTIFY_*)", () => {
  it("notifies nobody by default; Swedish, priority high and up", () => {
    expect(loadProcessorConfig({ API_TOKEN: TOKEN }).notifications).toEqual({
      language: "sv",
      minPriority: "high",
      webhook: null,
      ntfy: null,
      email: null,
    });
  });

  it("reads every target; a Discord or Slack webhook URL gets its own body, NOTIFY_WEBHOOK_FORMAT overrides", () => {
    const config = loadProcessorConfig({
      API_TOKEN: TOKEN,
      NOTIFY_WEBHOOK_URL: "https://discord.com/api/webhooks/123/abc",
      NOTIFY_NTFY_URL: "https://ntfy.sh/fogis-7d3f9a2c",
      NOTIFY_NTFY_TOKEN: "tk_abc",
      NOTIFY_SMTP_URL: "smtps://referee%40example.org:pw@smtp.example.org",
      NOTIFY_EMAIL_TO: "ref@example.org, coach@example.org",
      NOTIFY_LANGUAGE: "en",
      NOTIFY_MIN_PRIORITY: "medium",
    }).notifications;
    expect(config).toEqual({
      language: "en",
      minPriority: "medium",
      webhook: { url: "https://discord.com/api/webhooks/123/abc", format: "discord" },
      ntfy: { url: "https://ntfy.sh/fogis-7d3f9a2c", token: "tk_abc" },
      email: {
        smtpUrl: "smtps://referee%40example.org:pw@smtp.example.org",
        to: ["ref@example.org", "coach@example.org"],
        // The SMTP login is an address: most providers only send as it.
        from: "FOGIS Realtime <referee@example.org>",
      },
    });
    const slack = loadProcessorConfig({
      API_TOKEN: TOKEN,
      NOTIFY_WEBHOOK_URL: "https://hooks.slack.com/services/T/B/X",
    });
    expect(slack.notifications.webhook?.format).toBe("slack");
    const forced = loadProcessorConfig({
      API_TOKEN: TOKEN,
      NOTIFY_WEBHOOK_URL: "http://127.0.0.1:9/chat",
      NOTIFY_WEBHOOK_FORMAT: "slack",
      NOTIFY_SMTP_URL: "smtp://127.0.0.1:25",
      NOTIFY_EMAIL_TO: "ref@example.org",
      NOTIFY_EMAIL_FROM: "Domare <domare@example.org>",
    }).notifications;
    expect(forced.webhook).toEqual({ url: "http://127.0.0.1:9/chat", format: "slack" });
    expect(forced.email?.from).toBe("Domare <domare@example.org>");
  });

  it("stops on bad values and incomplete targets, naming the variable and the fix, never the secret", () => {
    const message = problems({
      API_TOKEN: TOKEN,
      NOTIFY_WEBHOOK_URL: "discord.com/api/webhooks/1/secret-token",
      NOTIFY_NTFY_URL: "https://ntfy.sh/",
      NOTIFY_SMTP_URL: "smtp://user:smtp-secret@mail.example.org",
      NOTIFY_LANGUAGE: "de",
      NOTIFY_MIN_PRIORITY: "urgent",
      NOTIFY_WEBHOOK_FORMAT: "teams",
    });
    expect(message).toContain("NOTIFY_WEBHOOK_URL: expected the http(s) URL of a webhook");
    expect(message).toContain(
      "NOTIFY_NTFY_URL: expected an ntfy topic URL such as https://ntfy.sh/<your-secret-topic>",
    );
    expect(message).toContain("NOTIFY_LANGUAGE: expected sv (Swedish, the default) or en (English)");
    expect(message).toContain("NOTIFY_MIN_PRIORITY: expected one of critical, high, medium, low");
    expect(message).toContain("NOTIFY_WEBHOOK_FORMAT: expected one of auto, discord, slack, json");
    for (const secret of ["secret-token", "smtp-secret"]) expect(message).not.toContain(secret);
    // Rules between variables are checked once each value is valid.
    const incomplete = problems({
      API_TOKEN: TOKEN,
      NOTIFY_SMTP_URL: "smtp://user:smtp-secret@mail.example.org",
    });
    expect(incomplete).toContain("NOTIFY_SMTP_URL: set NOTIFY_EMAIL_TO too (who gets the e-mail)");
    expect(incomplete).not.toContain("smtp-secret");

    expect(problems({ API_TOKEN: TOKEN, NOTIFY_NTFY_TOKEN: "tk_lonely" })).toBe(
      "match-processor: invalid configuration\n  - NOTIFY_NTFY_TOKEN: set NOTIFY_NTFY_URL too (the token is for that topic)",
    );
    const more = problems({
      API_TOKEN: TOKEN,
      NOTIFY_EMAIL_TO: "not-an-address",
      NOTIFY_EMAIL_FROM: "Nobody <nowhere>",
      NOTIFY_SMTP_URL: "https://mail.example.org",
    });
    expect(more).toContain("NOTIFY_EMAIL_TO: expected one or more e-mail addresses separated by commas");
    expect(more).toContain('NOTIFY_EMAIL_FROM: expected an e-mail address or "Name <address>"');
    expect(more).toContain("NOTIFY_SMTP_URL: expected smtp://[user:password@]host[:port]");
  });
});
