import type { Channels } from "@fogis/message-schema";
import { resolveChannels } from "@fogis/message-schema";
import type { Logger } from "@fogis/runtime";
import type { RedisHandle } from "@fogis/testing";
import type { Profile } from "./profile.js";

/** What every benchmark is handed. */
export interface BenchContext {
  profile: Profile;
  /** The bench's own redis-server, on a free loopback port. */
  redis: RedisHandle;
  /** Scratch space for DATA_DIRs and match files; removed at the end. */
  workDir: string;
  /** The services' loggers at their default level (info), writing to /dev/null, as in production minus the terminal. */
  processorLogger: Logger;
  calendarLogger: Logger;
  apiToken: string;
  /** Progress for the person running the bench. */
  log: (line: string) => void;
}

let channelCount = 0;

/** Channel names no other benchmark (or service) in the run uses. */
export function benchChannels(): Channels {
  channelCount += 1;
  const prefix = `bench:${process.pid}:${channelCount}`;
  return resolveChannels({
    REDIS_MATCH_UPDATES_CHANNEL: `${prefix}:matches:updates`,
    REDIS_PROCESSOR_STATUS_CHANNEL: `${prefix}:processor:status`,
    REDIS_SYSTEM_ALERTS_CHANNEL: `${prefix}:system:alerts`,
  });
}

/** Collects garbage between rounds when node runs with --expose-gc, so one round's garbage does not land in the next. */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}
