import { join } from "node:path";
import { readStateFile, StateFileWriter, type StatusIssue } from "@fogis/runtime";
import type { Logger } from "pino";
import { z } from "zod";
import {
  type CalendarBackend,
  type CalendarChanges,
  isPlayed,
  type Staged,
  type StateFileReport,
  StateFileStatus,
  type StateLoadReport,
  type StoredCalendarEvent,
} from "./calendar-backend.js";
import { renderIcs, renderVevent } from "./ics.js";
import type { CalendarEvent } from "./match-event.js";

/**
 * The built-in calendar: events kept in `DATA_DIR/calendar.json` (written atomically, so a crash
 * leaves the old or the new calendar, never half), served as an iCalendar feed. The rendered feed
 * is cached until the next change, so clients polling it cost nothing. Each write keeps the
 * generation before it (`calendar.json.previous`): a file found corrupt at start costs one
 * generation, and the played matches' history survives it.
 */

export interface FeedCalendarOptions {
  dataDir: string;
  logger: Logger;
  /** X-WR-CALNAME of the feed. */
  calendarName: string;
  /** Writes the state file (and tells when it cannot); a fresh one by default. */
  writer?: StateFileWriter;
}

const STATE_FILE = "calendar.json";
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
  status: z.enum(["CONFIRMED", "CANCELLED"]),
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

export class FeedCalendarBackend implements CalendarBackend {
  readonly kind = "ics-feed";
  readonly statePath: string;
  private events = new Map<string, StoredCalendarEvent>();
  private sorted: StoredCalendarEvent[] | undefined;
  private feed: string | undefined;
  /** Rendered VEVENT text by uid; valid while the stored event is the same object (unchanged). */
  private readonly rendered = new Map<string, { event: StoredCalendarEvent; text: string }>();
  private readonly logger: Logger;
  private readonly calendarName: string;
  private readonly writer: StateFileWriter;
  /** How the state loaded when it was not right (corrupt, restored), until the next snapshot applied. */
  private damaged: Exclude<StateLoadReport, { state: "ok" | "missing" }> | undefined;
  private readonly file = new StateFileStatus();

  constructor(options: FeedCalendarOptions) {
    this.statePath = join(options.dataDir, STATE_FILE);
    this.logger = options.logger;
    this.calendarName = options.calendarName;
    this.writer = options.writer ?? new StateFileWriter(options.logger);
  }

  async load(): Promise<StateLoadReport> {
    return this.file.loaded(await this.read());
  }

  /** calendar.json now (for /health). */
  stateFile(): StateFileReport {
    return this.file.report();
  }

  private async read(): Promise<StateLoadReport> {
    const read = await readStateFile(this.statePath, (value) => {
      const parsed = StateSchema.safeParse(value);
      return parsed.success
        ? { ok: true, value: parsed.data.events }
        : {
            ok: false,
            reason: `unexpected content (${parsed.error.issues[0]?.path.join(".") || "root"}: ${parsed.error.issues[0]?.message})`,
          };
    });
    if (read.state === "missing") return read;
    if (read.state === "ok") {
      this.replace(new Map(read.value.map((event) => [event.uid, event])));
      return { state: "ok", count: this.events.size };
    }
    if (read.state === "restored") {
      this.replace(new Map(read.value.map((event) => [event.uid, event])));
      this.damaged = { state: "restored", reason: read.reason, count: this.events.size };
      this.logger.error(
        { event: "state_restored", file: this.statePath, reason: read.reason, events: this.events.size },
        "calendar state file is corrupt; serving the previous generation until the next snapshot",
      );
      // The corrupt file must not become the "previous" generation of the next write.
      await this.writer.writeJson(this.statePath, this.stateOf(this.events)).catch(() => {});
      return this.damaged;
    }
    this.logger.error(
      { event: "state_corrupt", file: this.statePath, reason: read.reason },
      "calendar state file is corrupt and no previous generation is usable; starting empty, the next resync rebuilds it",
    );
    this.replace(new Map());
    this.damaged = { state: "corrupt", reason: read.reason };
    return this.damaged;
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
          ? `${this.statePath} was corrupt at start (${damaged.reason}): serving the previous generation (${damaged.count} events), which may miss the last change, until the next snapshot arrives`
          : `${this.statePath} was corrupt at start (${damaged.reason}) and no previous generation was usable: the calendar started empty until the next snapshot arrives (played matches no longer listed by FOGIS are gone)`,
    };
  }

  async stage(desired: readonly CalendarEvent[], now: Date): Promise<Staged<CalendarChanges>> {
    const changes: CalendarChanges = { created: [], updated: [], removed: [], unchanged: 0, history: 0 };
    const stamp = now.toISOString();
    const next = new Map<string, StoredCalendarEvent>();
    // One event per uid; should a snapshot list a match twice, its last entry counts.
    const wanted = new Map(desired.map((event) => [event.uid, event]));
    for (const event of wanted.values()) {
      const existing = this.events.get(event.uid);
      if (!existing) {
        next.set(event.uid, { ...event, sequence: 0, created: stamp, lastModified: stamp });
        changes.created.push(event.matchid);
      } else if (existing.contentHash === event.contentHash) {
        next.set(event.uid, existing);
        changes.unchanged += 1;
      } else {
        next.set(event.uid, {
          ...event,
          sequence: existing.sequence + 1,
          created: existing.created,
          lastModified: stamp,
        });
        changes.updated.push(event.matchid);
      }
    }
    for (const [uid, event] of this.events) {
      if (next.has(uid)) continue;
      if (isPlayed(event.end, now)) {
        next.set(uid, event);
        changes.history += 1;
      } else {
        changes.removed.push(event.matchid);
      }
    }
    if (!(changes.created.length || changes.updated.length || changes.removed.length || this.damaged)) {
      return { changes, show: () => {} };
    }
    // Written before it is shown: a failed write leaves the calendar as it was, and the apply
    // fails, so the sender (or the next resync) delivers the snapshot again. After a corrupt start
    // the file on disk may be the corrupt one: never keep that as the previous generation.
    await this.writer.writeJson(this.statePath, this.stateOf(next), {
      keepPrevious: this.damaged === undefined,
    });
    return {
      changes,
      show: () => {
        this.replace(next);
        this.file.saved(now, next.size);
        this.damaged = undefined;
      },
    };
  }

  private stateOf(events: Map<string, StoredCalendarEvent>): unknown {
    return { version: STATE_VERSION, events: [...events.values()] };
  }

  list(): readonly StoredCalendarEvent[] {
    this.sorted ??= [...this.events.values()].sort(
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

  private replace(events: Map<string, StoredCalendarEvent>): void {
    for (const uid of this.rendered.keys()) if (!events.has(uid)) this.rendered.delete(uid);
    this.events = events;
    this.sorted = undefined;
    this.feed = undefined;
  }
}
