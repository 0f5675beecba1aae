import type { Logger } from "pino";
import type { CalendarSyncConfig } from "../config.js";
import { createCalDavBackend } from "./dav/caldav.js";
import { createCardDavBackend } from "./dav/carddav.js";
import type { PushBackend } from "./push-backend.js";

/**
 * The push backends the configuration asks for, in the order their statuses are listed. Each
 * backend's variables come from `loadCalendarSyncConfig`; a backend whose variables are unset is
 * not created.
 */

export interface PushBackendDeps {
  config: CalendarSyncConfig;
  logger: Logger;
  /** Every HTTP request a backend makes goes through this (tests count and disturb them). */
  fetch?: typeof fetch;
}

export function createPushBackends({ config, logger, fetch }: PushBackendDeps): PushBackend[] {
  const backends: PushBackend[] = [];
  const shared = { dataDir: config.dataDir, logger, fetch };
  if (config.caldav) backends.push(createCalDavBackend({ ...config.caldav, ...shared }));
  if (config.carddav) backends.push(createCardDavBackend({ ...config.carddav, ...shared }));
  return backends;
}
