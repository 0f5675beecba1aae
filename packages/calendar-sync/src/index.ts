/**
 * calendar-sync's public face: the service factory (what main.ts, tests and the bench build), its
 * config, and what a message did (the bench reads it).
 */
export { type CalendarSyncConfig, loadCalendarSyncConfig } from "./config.js";
export {
  type CalendarSyncService,
  type CalendarSyncServiceOptions,
  createCalendarSyncService,
} from "./service.js";
export type { MessageResult } from "./snapshot-handler.js";
