import { join } from "node:path";
import { StateFileWriter, type StatusIssue } from "@fogis/runtime";
import type { Logger } from "pino";
import { z } from "zod";
import {
  type CalendarBackend,
  type CalendarChanges,
  type HistoryPolicy,
  type Staged,
  type StateFileReport,
  StateFileStatus,
  type StateLoadReport,
  type StoredCalendarEvent,
  sequenceAt,
} from "./calendar-backend.js";
import { renderIcs, renderVevent } from "./ics.js";
import { type KeyedStateRead, readKeyedStateFile, readKeyedStatePair } from "./keyed-state-file.js";
import type { CalendarEvent } from "./match-event.js";

/**
 * The built-in calendar, served as an iCalendar feed. The events of the latest snapshot are kept in
 * `DATA_DIR/calendar.json`, those of played matches that left the list (history) in
 * `DATA_DIR/calendar-history.json`: a change to an upcoming match rewrites the first file only, and
 * the history file is written only when history itself changes (a match joins it or expires after
 * HISTORY_DAYS). Both are written atomically, history first, so a crash between them leaves an event
 * in both (read once) rather than in neither. Each write keeps the generation before it
 * (`<file>.previous`): a file found corrupt at start costs one generation, not the history. The
 * rendered feed is cached until the next change, so clients polling it cost nothing.
 */

export interface FeedCalendarOptions {
  dataDir: string;
  logger: Logger;
  /** X-WR-CALNAME of the feed. */
  calendarName: string;
  /** HISTORY_DAYS: played matches stay this many days after they ended. */
  history: HistoryPolicy;
  /** Writes the state files (and tells when it cannot); a fresh one by default. */
  writer?: StateFileWriter;
}

const STATE_FILE = "calendar.json";
const HISTORY_FILE = "calendar-history.json";
const STATE_VERSION = 1;

const StoredEventSchema = z.object({
  uid: z.string(),
  matchid: z.number().int(),
  summary: z.string(),
  location: z.string(),
  description: z.string(),
  url: z.string(),
  start: z.iso.datetime(),
  end: z.iso.datetime(),
  allDay: z.boolean().default(false),
  status: z.enum(["CONFIRMED", "TENTATIVE", "CANCELLED"]),
  alarmMinutesBefore: z.number().int().nullable(),
  contentHash: z.string(),
  sequence: z.number().int().nonnegative(),
  created: z.iso.datetime(),
  lastModified: z.iso.datetime(),
});

const StateSchema = z.object({
  version: z.literal(STATE_VERSION),
  events: z.array(StoredEventSchema),
});

type Events = Map<string, StoredCalendarEvent>;

export class FeedCalendarBackend implements CalendarBackend {
  readonly kind = "ics-feed";
  readonly statePath: string;
  readonly historyPath: string;
  /** The events of the latest snapshot applied. */
  private current: Events = new Map();
  /** Played matches no longer in the list. */
  private history: Events = new Map();
  private sorted: StoredCalendarEvent[] | undefined;
  private feed: string | undefined;
  /** Rendered VEVENT text by uid; valid while the stored event is the same object (unchanged). */
  private readonly rendered = new Map<string, { event: StoredCalendarEvent; text: string }>();
  private readonly logger: Logger;
  private readonly calendarName: string;
  private readonly policy: HistoryPolicy;
  private readonly writer: StateFileWriter;
  /** How the state loaded when it was not right (corrupt, restored), until the next snapshot applied. */
  private damaged: Exclude<StateLoadReport, { state: "ok" | "missing" }> | undefined;
  private readonly file = new StateFileStatus();

  constructor(options: FeedCalendarOptions) {
    this.statePath = join(options.dataDir, STATE_FILE);
    this.historyPath = join(options.dataDir, HISTORY_FILE);
    this.logger = options.logger;
    this.calendarName = options.calendarName;
    this.policy = options.history;
    this.writer = options.writer ?? new StateFileWriter(options.logger);
  }

  /**
   * Reads both files. A calendar.json from before the history file existed holds the history
   * too; the next apply moves it. A corrupt file is reported and read as empty.
   */
  async load(): Promise<StateLoadReport> {
    return this.file.loaded(await this.readFiles());
  }

  /** The calendar's state files now (for /health). */
  stateFile(): StateFileReport {
    return this.file.report();
  }

  private async readFiles(): Promise<StateLoadReport> {
    const read = await readKeyedStatePair({ current: this.statePath, history: this.historyPath }, (path) =>
      this.read(path),
    );
    this.replace(read.current, read.history);
    const count = this.current.size + this.history.size;
    if (read.state === "missing") return { state: "missing" };
    if (read.state === "ok") return { state: "ok", count };
    this.damaged =
      read.state === "corrupt"
        ? { state: "corrupt", reason: read.reason }
        : { state: "restored", reason: read.reason, count };
    // A restored file is written back at once: the corrupt one must not become the previous generation.
    if (read.restored.includes("current")) {
      await this.writer.writeJson(this.statePath, stateOf(this.current)).catch(() => {});
    }
    if (read.restored.includes("history")) {
      await this.writer.writeJson(this.historyPath, stateOf(this.history)).catch(() => {});
    }
    return this.damaged;
  }

  private async read(path: string): Promise<KeyedStateRead<string, StoredCalendarEvent>> {
    return readKeyedStateFile(path, {
      parse: (value) => {
        const parsed = StateSchema.safeParse(value);
        return parsed.success
          ? { ok: true, value: parsed.data.events }
          : {
              ok: false,
              reason: `unexpected content (${parsed.error.issues[0]?.path.join(".") || "root"}: ${parsed.error.issues[0]?.message})`,
            };
      },
      key: (event) => event.uid,
      logger: this.logger,
      owner: "calendar",
      restoredFields: (events) => ({ events: events.length }),
    });
  }

  /** `warn` from a corrupt state file at start until a snapshot has been applied. */
  get stateIssue(): StatusIssue | undefined {
    const damaged = this.damaged;
    if (!damaged) return undefined;
    return {
      status: "warn",
      code: damaged.state === "restored" ? "calendar_restored" : "calendar_lost",
      message:
        damaged.state === "restored"
          ? `the calendar's state was corrupt at start (${damaged.reason}): serving the previous generation (${damaged.count} events), which may miss the last change, until the next snapshot arrives`
          : `the calendar's state was corrupt at start (${damaged.reason}) and no previous generation was usable: the calendar started without it until the next snapshot arrives (played matches no longer listed by FOGIS may be gone)`,
    };
  }

  async stage(desired: readonly CalendarEvent[], now: Date): Promise<Staged<CalendarChanges>> {
    const changes: CalendarChanges = {
      created: [],
      updated: [],
      removed: [],
      unchanged: 0,
      history: 0,
      expired: [],
    };
    const stamp = now.toISOString();
    const current: Events = new Map();
    const history: Events = new Map();
    // One event per uid; should a snapshot list a match twice, its last entry counts.
    const wanted = new Map(desired.map((event) => [event.uid, event]));
    for (const event of wanted.values()) {
      const existing = this.current.get(event.uid) ?? this.history.get(event.uid);
      if (this.policy.expired(event.end, now)) {
        // Still listed by FOGIS, but older than HISTORY_DAYS (a short HISTORY_DAYS).
        if (existing) changes.expired.push(event.matchid);
      } else if (!existing) {
        current.set(event.uid, { ...event, sequence: sequenceAt(now), created: stamp, lastModified: stamp });
        changes.created.push(event.matchid);
      } else if (existing.contentHash === event.contentHash) {
        current.set(event.uid, existing);
        changes.unchanged += 1;
      } else {
        current.set(event.uid, {
          ...event,
          sequence: Math.max(existing.sequence + 1, sequenceAt(now)),
          created: existing.created,
          lastModified: stamp,
        });
        changes.updated.push(event.matchid);
      }
    }
    for (const [uid, event] of [...this.current, ...this.history]) {
      if (wanted.has(uid) || history.has(uid)) continue;
      if (this.policy.keeps({ end: event.end, calledOff: event.status !== "CONFIRMED" }, now)) {
        history.set(uid, event);
        changes.history += 1;
      } else if (this.policy.expired(event.end, now)) {
        changes.expired.push(event.matchid);
      } else {
        changes.removed.push(event.matchid);
      }
    }
    const historyChanged = Boolean(this.damaged) || !sameEvents(history, this.history);
    const currentChanged = Boolean(this.damaged) || !sameEvents(current, this.current);
    if (!historyChanged && !currentChanged) return { changes, show: () => {} };
    // Written before it is shown: a failed write leaves the calendar as it was, and the apply
    // fails, so the sender (or the next resync) delivers the snapshot again. After a corrupt start
    // the file on disk may be the corrupt one: never keep that as the previous generation.
    const keepPrevious = this.damaged === undefined;
    if (historyChanged) await this.writer.writeJson(this.historyPath, stateOf(history), { keepPrevious });
    if (currentChanged) await this.writer.writeJson(this.statePath, stateOf(current), { keepPrevious });
    return {
      changes,
      show: () => {
        this.replace(current, history);
        this.file.saved(now, current.size + history.size);
        this.damaged = undefined;
      },
    };
  }

  nextExpiry(): number | null {
    return this.policy.firstExpiry([...this.current.values(), ...this.history.values()]);
  }

  list(): readonly StoredCalendarEvent[] {
    this.sorted ??= [...this.current.values(), ...this.history.values()].sort(
      (a, b) => Date.parse(a.start) - Date.parse(b.start) || a.matchid - b.matchid,
    );
    return this.sorted;
  }

  /** The whole feed as text/calendar. */
  renderIcs(): string {
    this.feed ??= renderIcs(this.list(), { calendarName: this.calendarName }, (event) => {
      const cached = this.rendered.get(event.uid);
      if (cached?.event === event) return cached.text;
      const text = renderVevent(event);
      this.rendered.set(event.uid, { event, text });
      return text;
    });
    return this.feed;
  }

  private replace(current: Events, history: Events): void {
    for (const uid of this.rendered.keys())
      if (!current.has(uid) && !history.has(uid)) this.rendered.delete(uid);
    this.current = current;
    this.history = history;
    this.sorted = undefined;
    this.feed = undefined;
  }
}

function stateOf(events: Events): unknown {
  return { version: STATE_VERSION, events: [...events.values()] };
}

/** The same uids holding the same (unchanged) event objects. */
function sameEvents(a: Events, b: Events): boolean {
  if (a.size !== b.size) return false;
  for (const [uid, event] of a) if (b.get(uid) !== event) return false;
  return true;
}
