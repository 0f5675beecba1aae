/**
 * calendar-sync's public face: the service factory (what main.ts, tests and the bench build), its
 * config, and what a message did (the bench reads it). The Google bench writes a token file as
 * the Python service does and edits an event by its id, with the two helpers below.
 */
export { googleEventId } from "./backends/google/google-calendar.js";
export { formatPythonExpiry } from "./backends/google/google-token-file.js";
export { type CalendarSyncConfig, loadCalendarSyncConfig } from "./config.js";
export {
  type CalendarSyncService,
  type CalendarSyncServiceOptions,
  createCalendarSyncService,
} from "./service.js";
export type { MessageResult } from "./snapshot-handler.js";
