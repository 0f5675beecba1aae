/** Redis channel names (DESIGN §4), each overridable by its environment variable. */
export interface Channels {
  matchUpdates: string;
  processorStatus: string;
  systemAlerts: string;
}

export const DEFAULT_CHANNELS: Readonly<Channels> = Object.freeze({
  matchUpdates: "fogis:matches:updates",
  processorStatus: "fogis:processor:status",
  systemAlerts: "fogis:system:alerts",
});

export const CHANNEL_ENV_VARS: Readonly<Record<keyof Channels, string>> = Object.freeze({
  matchUpdates: "REDIS_MATCH_UPDATES_CHANNEL",
  processorStatus: "REDIS_PROCESSOR_STATUS_CHANNEL",
  systemAlerts: "REDIS_SYSTEM_ALERTS_CHANNEL",
});

/** Channel names from an environment (empty values count as unset). */
export function resolveChannels(env: Record<string, string | undefined> = {}): Channels {
  const pick = (name: keyof Channels) => {
    const value = env[CHANNEL_ENV_VARS[name]]?.trim();
    return value ? value : DEFAULT_CHANNELS[name];
  };
  return {
    matchUpdates: pick("matchUpdates"),
    processorStatus: pick("processorStatus"),
    systemAlerts: pick("systemAlerts"),
  };
}

/**
 * The Redis key that holds the latest match-updates envelope, written atomically with each
 * PUBLISH so a subscriber that missed messages can resync. It follows the channel name, so two
 * stacks on one Redis with different channels do not share it.
 */
export function latestEnvelopeKey(channels: Pick<Channels, "matchUpdates">): string {
  return `${channels.matchUpdates}:latest`;
}

/**
 * The Redis key where the processor that published last leaves its epoch (in the same MULTI as the
 * PUBLISH): a processor that finds another epoch there after its own publish knows a second
 * processor publishes on the same channel.
 */
export function publisherKey(channels: Pick<Channels, "matchUpdates">): string {
  return `${channels.matchUpdates}:publisher`;
}
