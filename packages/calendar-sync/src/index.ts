export { type AppDeps, createApp, type RedisControl } from "./app.js";
export * from "./backends/index.js";
export {
  type CalendarBackend,
  type CalendarChanges,
  countChanges,
  isPlayed,
  type Staged,
  type StateFileReport,
  StateFileStatus,
  type StateLoadReport,
  type StoredCalendarEvent,
  sequenceAt,
} from "./calendar-backend.js";
export {
  type CalendarSyncConfig,
  calendarSyncEnv,
  type GoogleTarget,
  loadCalendarSyncConfig,
  publicConfig,
} from "./config.js";
export { FeedCalendarBackend, type FeedCalendarOptions } from "./feed-calendar.js";
export { type IcsOptions, renderIcs } from "./ics.js";
export {
  type CalendarEvent,
  describeMatch,
  eventSummary,
  matchEventSpan,
  matchEventUid,
  matchFactsUrl,
  matchToCalendarEvent,
} from "./match-event.js";
export { Phonebook, type PhonebookChanges, type PhonebookOptions } from "./phonebook.js";
export {
  fetchLatestEnvelopes,
  type LatestEnvelopes,
  type LatestFromOnePlace,
  Resynchronizer,
  type ResyncResult,
} from "./resync.js";
export {
  type CalendarSyncService,
  type CalendarSyncServiceOptions,
  createCalendarSyncService,
} from "./service.js";
export {
  type ApplyOutcome,
  type MessageResult,
  SnapshotHandler,
  type SnapshotHandlerOptions,
} from "./snapshot-handler.js";
export {
  type Candidate,
  type Choice,
  type ForeignPublisher,
  type OrderVerdict,
  type PersistedOrder,
  SnapshotOrder,
} from "./snapshot-order.js";
export { SyncStats } from "./stats.js";
export { MatchSubscriber, type MatchSubscriberOptions, RedisUnavailableError } from "./subscriber.js";
export { renderVcard, renderVcards, type VcardContact, type VcardVersion } from "./vcard.js";
