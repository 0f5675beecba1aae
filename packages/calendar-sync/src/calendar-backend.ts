import type { CalendarEvent } from "./match-event.js";

/**
 * Where the calendar lives. The built-in backend is an iCalendar feed kept in DATA_DIR
 * (`FeedCalendarBackend`); a CalDAV or Google Calendar backend can implement the same interface.
 * A backend is handed the complete desired set of events and works out the difference itself.
 */
export interface CalendarBackend {
  /** Shown in /health and logs, e.g. "ics-feed". */
  readonly kind: string;
  /** Loads saved state. A corrupt state is reported and treated as empty; the next resync rebuilds it. */
  load(): Promise<StateLoadReport>;
  /**
   * Works out how to make the calendar equal the desired events: creates new ones, updates those
   * whose content hash changed (bumping SEQUENCE), removes events of matches that left the list
   * before they were played (or were cancelled or postponed), keeps events of played matches as
   * history, and drops events that ended more than HISTORY_DAYS ago. The result is saved when the
   * promise resolves, and shown only by `show()`. Staging the same set twice changes nothing.
   */
  stage(desired: readonly CalendarEvent[], now: Date): Promise<Staged<CalendarChanges>>;
  /** When the next event passes HISTORY_DAYS (epoch ms), or null when none will; a stage then drops it. */
  nextExpiry(): number | null;
  /** The events as stored, ordered by start. */
  list(): readonly StoredCalendarEvent[];
}

export interface StoredCalendarEvent extends CalendarEvent {
  /** RFC 5545 SEQUENCE, from `sequenceAt` the time of the content change; never goes down. */
  sequence: number;
  /** ISO-8601 UTC. */
  created: string;
  lastModified: string;
}

/**
 * A change already saved but not yet visible. A snapshot changes the calendar and the phonebook;
 * both are saved first and then shown in the same tick, so nobody reads one snapshot's calendar
 * beside another snapshot's phonebook (and a failed save shows neither).
 */
export interface Staged<T> {
  readonly changes: T;
  /** Makes the saved change visible; synchronous. */
  show(): void;
}

/** What an apply changed, by matchid. */
export interface CalendarChanges {
  created: number[];
  updated: number[];
  removed: number[];
  unchanged: number;
  /** Events of played matches that are no longer in the list, kept as history. */
  history: number;
  /** Events of matches that ended more than HISTORY_DAYS ago, dropped. */
  expired: number[];
}

export type StateLoadReport =
  | { state: "ok"; count: number }
  | { state: "missing" }
  /** The file was corrupt; the previous generation (`count` entries) is served until the next snapshot. */
  | { state: "restored"; reason: string; count: number }
  | { state: "corrupt"; reason: string };

/** 2025-01-01T00:00:00Z: SEQUENCE counts seconds from here, fitting a 32-bit integer until 2093. */
const SEQUENCE_EPOCH_MS = Date.UTC(2025, 0, 1);

/**
 * The SEQUENCE of an event whose content changes at `now`: the seconds since 2025-01-01 UTC.
 * Derived from the time of the change rather than counted, so it never goes backwards, also when
 * calendar-sync loses its state and rebuilds the calendar (a counter would restart at 0, and
 * clients may ignore an update whose SEQUENCE is not higher). An update within the same second
 * as the previous one takes the previous SEQUENCE + 1 instead.
 */
export function sequenceAt(now: Date): number {
  return Math.max(0, Math.floor((now.getTime() - SEQUENCE_EPOCH_MS) / 1000));
}

/** A state file as `/health` shows it: as it is now, and how it loaded at start when that was not ok. */
export type StateFileReport = (StateLoadReport | { state: "ok"; count?: number; saved_at: string }) & {
  at_start?: StateLoadReport;
};

/**
 * The state of one state file over the service's life: "missing" or "corrupt" at start turns
 * "ok" once the file is saved, so /health reports the file as it is, not as it was at start.
 */
export class StateFileStatus {
  private atStart: StateLoadReport = { state: "missing" };
  private current: StateFileReport = { state: "missing" };

  loaded(report: StateLoadReport): StateLoadReport {
    this.atStart = report;
    this.current = report;
    return report;
  }

  /** The file was written at `at`, holding `count` items when the owner knows it. */
  saved(at: Date, count?: number): void {
    this.current = {
      state: "ok",
      ...(count === undefined ? {} : { count }),
      saved_at: at.toISOString(),
      ...(this.atStart.state === "ok" ? {} : { at_start: this.atStart }),
    };
  }

  report(): StateFileReport {
    return this.current;
  }
}

export function countChanges(changes: CalendarChanges): number {
  return changes.created.length + changes.updated.length + changes.removed.length + changes.expired.length;
}

const DAY_MS = 86_400_000;

/**
 * What stays in the calendar and the phonebook once a match has been played: HISTORY_DAYS after
 * its end, a match (history or still listed by FOGIS) leaves both. A match that left the list is
 * history only when it was played: not when it was cancelled or postponed, which is a match that
 * did not happen then.
 */
export class HistoryPolicy {
  private readonly keepMs: number;

  constructor(historyDays: number) {
    this.keepMs = historyDays * DAY_MS;
  }

  /** Ended more than HISTORY_DAYS ago. */
  expired(end: string, now: Date): boolean {
    return Date.parse(end) + this.keepMs < now.getTime();
  }

  /** When the first of `entries` expires (epoch ms), or null when there is none. */
  firstExpiry(entries: Iterable<{ end: string }>): number | null {
    let first: number | null = null;
    for (const entry of entries) {
      const at = Date.parse(entry.end) + this.keepMs;
      if (first === null || at < first) first = at;
    }
    return first;
  }

  /** Whether an entry that left the list stays as history. */
  keeps(entry: { end: string; calledOff: boolean }, now: Date): boolean {
    return !entry.calledOff && isPlayed(entry.end, now) && !this.expired(entry.end, now);
  }
}

/**
 * A match is played once the end of its event has passed (message-schema's `isMatchPlayed`, read
 * from a stored event, whose end is the match's span end). Its event then stays as history
 * when the match leaves FOGIS's list (which only reaches 7 days back); before that, leaving the
 * list means it was taken off the referee's schedule.
 */
export function isPlayed(end: string, now: Date): boolean {
  return Date.parse(end) <= now.getTime();
}
