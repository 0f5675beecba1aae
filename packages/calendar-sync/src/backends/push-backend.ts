import type { HealthStatus } from "@fogis/runtime";
import type { StateLoadReport, StoredCalendarEvent } from "../calendar-backend.js";
import type { VcardContact } from "../vcard.js";

/**
 * A push backend writes the calendar and phonebook into a place the referee's phone syncs with
 * (a CalDAV server, Google Calendar, ...), next to the ICS feed, which is always there (DESIGN §11).
 *
 * The contract is deliberately small: the fan-out hands every backend the complete calendar and
 * phonebook as the feed has them (`PushSnapshot`), and the backend makes its side equal to it.
 * Scheduling, retry with backoff, status, counters and metrics live in `PushRunner`, the same for
 * every backend, so a backend only knows its own protocol and its own state file.
 */

/** What the feed and the phonebook file hold after an apply; the desired state of every backend. */
export interface PushSnapshot {
  /** The calendar as `GET /calendar.ics` serves it: current matches plus played ones kept as history. */
  readonly events: readonly StoredCalendarEvent[];
  /** The phonebook as `GET /contacts.vcf` serves it (the user's own referee number left out). */
  readonly contacts: readonly VcardContact[];
  /** When calendar-sync applied the snapshot these come from. */
  readonly appliedAt: Date;
}

export interface PushBackend {
  /** Unique among the configured backends: the status entry, the metric label, the state file (`<name>.json`). */
  readonly name: string;
  /** What kind of place it writes to, e.g. "caldav", "carddav", "google-calendar", "google-people". */
  readonly kind: string;
  /** Loads the backend's own state from DATA_DIR. A corrupt file is reported and treated as empty. */
  load(): Promise<StateLoadReport>;
  /**
   * Makes the remote side equal to the snapshot, counting what it does in `context.counts`. Only
   * items this backend created (or adopted as its own) are ever touched. It throws when it could
   * not finish; whatever it finished stays done (the backend saves its state as it goes), and the
   * runner calls it again later with the latest snapshot. Throw a `PushError` to say how to retry
   * and how the user fixes it. An unchanged snapshot should cost no request.
   */
  sync(snapshot: PushSnapshot, context: PushContext): Promise<void>;
  /** How many items of the snapshot are not yet on the remote side as they should be. No I/O. */
  pending(snapshot: PushSnapshot): number;
  /** Where it writes, for status pages and /redis-config: never a password, token or credential URL. */
  describe(): Record<string, unknown>;
}

export interface PushContext {
  /** Aborts when the service stops. */
  readonly signal: AbortSignal;
  /** Counted as the work is done, so a sync that fails halfway still reports what it did. */
  readonly counts: PushCounts;
}

/** What one `sync` did. */
export interface PushCounts {
  created: number;
  updated: number;
  removed: number;
  /** Items left alone because the referee deleted them and FOGIS has not changed them since. */
  keptDeleted: number;
  /** Conditional writes refused because the item had changed on the server (re-read, merged, written). */
  conflicts: number;
  /** HTTP requests made. */
  requests: number;
}

export function emptyPushCounts(): PushCounts {
  return { created: 0, updated: 0, removed: 0, keptDeleted: 0, conflicts: 0, requests: 0 };
}

/**
 * transient: the server is unreachable, busy or answered 5xx/429; retried with growing backoff.
 * permanent: only the user can fix it (wrong password, wrong URL, calendar cannot be created);
 * retried slowly, and the status is `fail` at once.
 */
export type PushErrorKind = "transient" | "permanent";

export class PushError extends Error {
  readonly kind: PushErrorKind;
  /** What the user should do, e.g. "check CALDAV_USERNAME and CALDAV_PASSWORD". */
  readonly fix: string | undefined;
  /** The server asked for this wait (Retry-After); the runner waits at least this long. */
  readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    options: { kind: PushErrorKind; fix?: string; retryAfterMs?: number; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = "PushError";
    this.kind = options.kind;
    this.fix = options.fix;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * One backend's status, the same shape for the feed and every push backend: `/health`,
 * `/redis-status` (`backends`) and the status page read this list.
 */
export interface BackendStatus {
  name: string;
  kind: string;
  /** pass: up to date; warn: not yet synced, or retrying after a transient error; fail: needs the user, or failing for long. */
  status: HealthStatus;
  /** ISO time the backend last finished a sync. */
  lastSuccess: string | null;
  /** ISO time of the last attempt, successful or not. */
  lastAttempt: string | null;
  /** Why the last attempt failed, and the fix when the user must act; null after a success. No secrets. */
  lastError: string | null;
  /** Changes of the latest snapshot not yet on the remote side. */
  pending: number;
  /** ISO time of the next retry, when one is scheduled. */
  nextRetry: string | null;
  /** Where it writes (no secrets). */
  target: Record<string, unknown>;
  /** Totals since start. */
  counters: {
    syncs: number;
    failures: number;
    created: number;
    updated: number;
    removed: number;
    conflicts: number;
    requests: number;
  };
}

/** A backend's counters before its first sync. */
export function zeroBackendCounters(): BackendStatus["counters"] {
  return { syncs: 0, failures: 0, created: 0, updated: 0, removed: 0, conflicts: 0, requests: 0 };
}
