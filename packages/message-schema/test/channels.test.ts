import { describe, expect, it } from "vitest";
import { DEFAULT_CHANNELS, latestEnvelopeKey, resolveChannels } from "../src/index.js";

describe("channels", () => {
  it("default to the names the Python services use", () => {
    expect(resolveChannels({})).toEqual({
      matchUpdates: "fogis:matches:updates",
      processorStatus: "fogis:processor:status",
      systemAlerts: "fogis:system:alerts",
    });
    expect(latestEnvelopeKey(DEFAULT_CHANNELS)).toBe("fogis:matches:updates:latest");
  });

  it("follow their environment overrides, ignoring blank values", () => {
    const channels = resolveChannels({
      REDIS_MATCH_UPDATES_CHANNEL: "test:updates",
      REDIS_PROCESSOR_STATUS_CHANNEL: " ",
      REDIS_SYSTEM_ALERTS_CHANNEL: "test:alerts",
    });
    expect(channels).toEqual({
      matchUpdates: "test:updates",
      processorStatus: "fogis:processor:status",
      systemAlerts: "test:alerts",
    });
    expect(latestEnvelopeKey(channels)).toBe("test:updates:latest");
  });
});
