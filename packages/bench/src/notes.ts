/**
 * The prose of bench/results.md that does not come from the figures: how the cases were chosen,
 * and, per figure, what profiling showed when its target is missed.
 */

export const METHOD_NOTES: string[] = [
  "## How the cases were chosen",
  "",
  "- **The small message** is the processor's end-of-cycle `processing_status` envelope (~300 B), the one small " +
    "message the project really sends. On the project's path it is built with `createProcessingStatusEnvelope`, " +
    "published by the processor's `SnapshotDelivery.publishEvent`, received by calendar-sync's `MatchSubscriber` " +
    "and decoded, validated (zod), counted and logged by its `SnapshotHandler`: everything calendar-sync does with " +
    "it. The baseline publishes the same bytes with plain ioredis and `JSON.parse`s them. A `match_updates` " +
    "envelope is never small (one real-shaped match with its referees and contacts is ~3 KB), so snapshots are " +
    "measured at their real size instead.",
  "- **The large snapshot** is 1,000 real-shaped matches (`@fogis/testing`'s `fogisMatchList`: 3 referees with " +
    "contact details and 2 team contacts each). The clock starts when the processor's `deliverSnapshot()` is " +
    "called (it encodes, then SETs the latest key and PUBLISHes in one MULTI) and stops when calendar-sync's " +
    "handler has decoded, validated and applied it to the calendar and phonebook files (written atomically, with " +
    "fsync). The headline case is a calendar that already holds the previous snapshot with one match changed, as " +
    "after every cycle with a change; an empty calendar (first start) is recorded too. The baseline PUBLISHes the " +
    "same bytes and `JSON.parse`s them, nothing more.",
  "- **The services' memory** is read from `/proc/<pid>/status` of `node packages/<service>/dist/main.js` child " +
    "processes, configured through the environment as users run them; a bare Node process (ioredis + node:http) " +
    "that receives and keeps the same snapshot is the floor.",
  "- **Logging** runs at the services' default level (info) into /dev/null, so its cost is counted as in production.",
  "- All in one process for the pub/sub cases (publisher, subscriber and handler share one Node event loop, for " +
    "the baseline as for the project); Redis is the bench's own `redis-server` on a free loopback port.",
];

/** Why a target was missed, from profiling (`node --cpu-prof`); shown only when it is missed. */
export const MISSED_TARGET_NOTES: Record<string, string> = {};
