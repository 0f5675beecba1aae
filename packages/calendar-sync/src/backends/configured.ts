import type { Logger } from "pino";
import type { CalendarSyncConfig } from "../config.js";
import type { PushBackend } from "./push-backend.js";

/**
 * The push backends the configuration asks for, in the order their statuses are listed. Each
 * backend's variables come from `loadCalendarSyncConfig`; a backend whose variables are unset is
 * not created. (CalDAV/CardDAV: issue #13; Google Calendar/People: issue #14.)
 */

export interface PushBackendDeps {
  config: CalendarSyncConfig;
  logger: Logger;
  /** Every HTTP request a backend makes goes through this (tests count and disturb them). */
  fetch?: typeof fetch;
}

export function createPushBackends(_deps: PushBackendDeps): PushBackend[] {
  return [];
}
