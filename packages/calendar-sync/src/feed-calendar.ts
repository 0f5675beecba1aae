import { join } from "node:path";
import { readJsonFile, writeJsonAtomic } from "@fogis/runtime";
import type { Logger } from "pino";
import { z } from "zod";
import {
  type CalendarBackend,
  type CalendarChanges,
  isPlayed,
  type StateLoadReport,
  type StoredCalendarEvent,
  sequenceAt,
} from "./calendar-backend.js";
import { renderIcs, renderVevent } from "./ics.js";
import type { CalendarEvent } from "./match-event.js";

/**
 * The built-in calendar: events kept in `DATA_DIR/calendar.json` (written atomically, so a crash
 * leaves the old or the new calendar, never half), served as an iCalendar feed. The rendered feed
 * is cached until the next change, so clients polling it cost nothing.
 */

export interface FeedCalendarOptions {
  dataDir: string;
  logger: Logger;
  /** X-WR-CALNAME of the feed. */
  calendarName: string;
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

  constructor(options: FeedCalendarOptions) {
    this.statePath = join(options.dataDir, STATE_FILE);
    this.logger = options.logger;
    this.calendarName = options.calendarName;
  }

  async load(): Promise<StateLoadReport> {
    const read = await readJsonFile(this.statePath);
    if (read.state === "missing") return read;
    let reason: string;
    if (read.state === "ok") {
      const parsed = StateSchema.safeParse(read.value);
      if (parsed.success) {
        this.replace(new Map(parsed.data.events.map((event) => [event.uid, event])));
        return { state: "ok", count: this.events.size };
      }
      reason = `unexpected content (${parsed.error.issues[0]?.path.join(".") || "root"}: ${parsed.error.issues[0]?.message})`;
    } else {
      reason = read.reason;
    }
    this.logger.error(
      { event: "state_corrupt", file: this.statePath, reason },
      "calendar state file is corrupt; starting empty, the next resync rebuilds it",
    );
    this.replace(new Map());
    return { state: "corrupt", reason };
  }

  async apply(desired: readonly CalendarEvent[], now: Date): Promise<CalendarChanges> {
    const changes: CalendarChanges = { created: [], updated: [], removed: [], unchanged: 0, history: 0 };
    const stamp = now.toISOString();
    const next = new Map<string, StoredCalendarEvent>();
    // One event per uid; should a snapshot list a match twice, its last entry counts.
    const wanted = new Map(desired.map((event) => [event.uid, event]));
    for (const event of wanted.values()) {
      const existing = this.events.get(event.uid);
      if (!existing) {
        next.set(event.uid, { ...event, sequence: sequenceAt(now), created: stamp, lastModified: stamp });
        changes.created.push(event.matchid);
      } else if (existing.contentHash === event.contentHash) {
        next.set(event.uid, existing);
        changes.unchanged += 1;
      } else {
        next.set(event.uid, {
          ...event,
          sequence: Math.max(existing.sequence + 1, sequenceAt(now)),
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
    if (changes.created.length || changes.updated.length || changes.removed.length) {
      // Written before it is shown: a failed write leaves the calendar as it was, and the apply
      // fails, so the sender (or the next resync) delivers the snapshot again.
      await writeJsonAtomic(this.statePath, { version: STATE_VERSION, events: [...next.values()] });
      this.replace(next);
    }
    return changes;
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
