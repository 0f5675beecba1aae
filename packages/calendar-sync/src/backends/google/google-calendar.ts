import { redactUrl } from "@fogis/runtime";
import { calendar, type calendar_v3 } from "@googleapis/calendar";
import type { Logger } from "pino";
import { z } from "zod";
import type { StoredCalendarEvent } from "../../calendar-backend.js";
import type { PushCounts, PushSnapshot } from "../push-backend.js";
import { PushError } from "../push-backend.js";
import { PushStateStore } from "../push-state-store.js";
import { MAX_WRITE_ATTEMPTS, StatefulPushBackend } from "../stateful-push-backend.js";
import {
  type GoogleEvent,
  googleEvent,
  HASH_PROPERTY,
  PYTHON_SYNC_TAG,
  ReminderSchema,
  theirReminders,
} from "./google-calendar-event.js";
import { GoogleApiError, type GoogleBackendOptions, GoogleRequests } from "./google-requests.js";

/**
 * The referee's Google Calendar (Calendar API v3), a drop-in for the Python
 * fogis-calendar-phonebook-sync: one event per match in GOOGLE_CALENDAR_ID, carrying the same
 * private extended properties the Python service set (`matchId`, `syncTag: FOGIS_CALENDAR_SYNC`),
 * so either service finds the other's events.
 *
 * - Adoption: the first sync lists the events tagged `syncTag=FOGIS_CALENDAR_SYNC` once and takes
 *   over those of current matches (the Python service's, or ours after a lost state file) instead of
 *   creating duplicates.
 * - New events get a deterministic id (`fogismatch<matchid>`, base32hex), so a retry, a crash
 *   after the insert or a lost state file can never make a second event: Google answers 409 when
 *   the id is taken, also by a deleted event, and the event is then read and adopted (or, when the
 *   referee had deleted it and FOGIS has not changed the match since, left deleted).
 * - Updates are PATCHes with If-Match: an event the referee has not touched costs exactly one
 *   call; one they edited answers 412 and is read, merged and written again. A PATCH only sends
 *   what FOGIS owns, so the referee's colour, guests, attachments, extra properties and the like
 *   are never overwritten; reminders are one list, so theirs are merged with our 48-hour popup.
 * - An event the referee deleted stays deleted until FOGIS changes the match (then the PATCH,
 *   which carries `status`, brings it back); the deletion is noticed when the next change is
 *   written, so nothing has to be polled.
 * - Removed matches are deleted with If-Match; a 404/410 (already gone) is fine.
 * - An unchanged snapshot makes no call at all; at start one `calendars.get` checks the account.
 */

export function googleEventId(matchid: number): string {
  return `fogismatch${matchid}`;
}

export interface GoogleCalendarBackendOptions extends GoogleBackendOptions {
  /** GOOGLE_CALENDAR_ID: "primary" or a calendar's id. */
  calendarId: string;
}

const ItemSchema = z.object({
  eventId: z.string(),
  /** The etag last seen; null when unknown (then the event is read before a write). */
  etag: z.string().nullable(),
  /** Content hash of what we last wrote or found current; null: not known (adopted). */
  hash: z.string().nullable(),
  /** The referee deleted it; left alone until FOGIS changes the match. */
  deleted: z.boolean(),
  /** The referee's own reminders as last seen, or "default" when they chose the calendar's. */
  theirReminders: z.union([z.literal("default"), z.array(ReminderSchema)]),
});

const StateSchema = z.object({
  version: z.literal(1),
  /** Which calendar (and OAuth client) the items live in. */
  target: z.string(),
  /** The one-time listing of tagged events (adoption) is done. */
  adoptionScanned: z.boolean(),
  items: z.record(z.string(), ItemSchema),
});

type State = z.infer<typeof StateSchema>;

type DesiredEvents = Map<string, StoredCalendarEvent>;

export class GoogleCalendarBackend extends StatefulPushBackend<State, DesiredEvents> {
  readonly name = "google-calendar";
  readonly kind = "google-calendar";
  protected readonly store: PushStateStore<State>;
  protected readonly transport: GoogleRequests;
  private readonly options: GoogleCalendarBackendOptions;
  private readonly logger: Logger;
  private readonly api: calendar_v3.Calendar;
  /** The calendar was reached (and the sign-in accepted) since start. */
  private checked = false;
  /** Server copies read during this pass, by UID. */
  private readonly serverCopies = new Map<string, GoogleEvent>();
  /** Events created anew this pass after they vanished. */
  private readonly recreated = new Set<string>();

  constructor(options: GoogleCalendarBackendOptions) {
    super();
    this.options = options;
    this.logger = options.logger.child({ backend: this.name });
    const scopeFix = `the saved sign-in lacks access to Google Calendar; ${reconnectHint()}`;
    this.transport = new GoogleRequests({ ...options, service: "Google Calendar", scopeFix });
    this.api = calendar({ version: "v3", ...this.transport.clientOptions(options.apiBaseUrl) });
    this.store = new PushStateStore({
      name: this.name,
      dataDir: options.dataDir,
      schema: StateSchema,
      target: ["google-calendar", options.calendarId, options.auth.client._clientId ?? ""],
      empty: (target) => ({ version: 1, target, adoptionScanned: false, items: {} }),
      logger: this.logger,
      targetChangedMessage:
        "GOOGLE_CALENDAR_ID (or the OAuth client) changed; starting fresh in that calendar",
      recovery: "the next sync finds our events in the calendar again",
      writeFailedRecovery: "the next sync finds our events again",
    });
  }

  describe(): Record<string, unknown> {
    return {
      calendar_id: this.options.calendarId,
      api: redactUrl(this.options.apiBaseUrl ?? "https://www.googleapis.com/"),
    };
  }

  protected override passScoped(): ReadonlyArray<{ clear(): void }> {
    return [this.serverCopies, this.recreated];
  }

  protected desired(snapshot: PushSnapshot): DesiredEvents {
    return new Map(snapshot.events.map((event) => [event.uid, event]));
  }

  protected work(desired: DesiredEvents): number {
    return this.plan(desired).work;
  }

  protected accountChecked(): boolean {
    return this.checked;
  }

  protected async reconcile(desired: DesiredEvents, counts: PushCounts): Promise<void> {
    if (!this.state.adoptionScanned) await this.adopt(desired);
    await this.write(desired, counts);
  }

  private plan(desired: DesiredEvents): {
    work: number;
    create: StoredCalendarEvent[];
    update: StoredCalendarEvent[];
    remove: string[];
    keptDeleted: number;
  } {
    const create: StoredCalendarEvent[] = [];
    const update: StoredCalendarEvent[] = [];
    let keptDeleted = 0;
    for (const event of desired.values()) {
      const known = this.state.items[event.uid];
      if (!known) create.push(event);
      else if (known.hash === event.contentHash) {
        if (known.deleted) keptDeleted += 1;
      } else update.push(event); // also brings back an event the referee deleted
    }
    const remove = Object.entries(this.state.items)
      .filter(([uid, known]) => !desired.has(uid) && !known.deleted)
      .map(([uid]) => uid);
    return { work: create.length + update.length + remove.length, create, update, remove, keptDeleted };
  }

  protected async checkAccount(): Promise<void> {
    if (this.checked) return;
    const { calendarId } = this.options;
    try {
      await this.transport.call("read the calendar", () => this.api.calendars.get({ calendarId }));
    } catch (error) {
      if (error instanceof GoogleApiError && (error.status === 404 || error.status === 400)) {
        throw new PushError(`Google Calendar has no calendar "${calendarId}" this account can see`, {
          kind: "permanent",
          fix: 'set GOOGLE_CALENDAR_ID to "primary" or to a calendar id from Google Calendar -> Settings -> (the calendar) -> Integrate calendar -> Calendar ID',
          cause: error,
        });
      }
      throw error;
    }
    this.checked = true;
  }

  /**
   * Lists the events tagged `syncTag=FOGIS_CALENDAR_SYNC` once (the Python service's, and ours
   * when the state file was lost) and adopts those of current matches.
   */
  private async adopt(desired: DesiredEvents): Promise<void> {
    const byMatch = new Map<string, GoogleEvent[]>();
    const listing = this.transport.pages("list the FOGIS events", (pageToken) =>
      this.api.events.list({
        calendarId: this.options.calendarId,
        privateExtendedProperty: [`syncTag=${PYTHON_SYNC_TAG}`],
        showDeleted: false,
        maxResults: 2500,
        pageToken,
      }),
    );
    for await (const page of listing) {
      for (const item of page.items ?? []) {
        const matchId = item.extendedProperties?.private?.matchId;
        if (!matchId || !item.id || item.status === "cancelled") continue;
        byMatch.set(matchId, [...(byMatch.get(matchId) ?? []), item]);
      }
    }
    let adopted = 0;
    let current = 0;
    for (const event of desired.values()) {
      const found = byMatch.get(String(event.matchid));
      if (!found?.length || this.state.items[event.uid]) continue;
      // Ours first, else the one edited last; other copies the Python service left are not touched.
      const ours = found.find((item) => item.id === googleEventId(event.matchid));
      const chosen =
        ours ?? [...found].sort((a, b) => String(b.updated ?? "").localeCompare(String(a.updated ?? "")))[0];
      if (!chosen?.id) continue;
      if (found.length > 1) {
        this.logger.warn(
          { event: "push_duplicate_left_alone", matchid: event.matchid, copies: found.length },
          "the calendar holds more than one FOGIS event for this match; adopting one, leaving the others alone",
        );
      }
      const isCurrent = chosen.extendedProperties?.private?.[HASH_PROPERTY] === event.contentHash;
      this.state.items[event.uid] = {
        eventId: chosen.id,
        etag: chosen.etag ?? null,
        hash: isCurrent ? event.contentHash : null,
        deleted: false,
        theirReminders: theirReminders(chosen),
      };
      this.serverCopies.set(event.uid, chosen);
      adopted += 1;
      if (isCurrent) current += 1;
    }
    this.state.adoptionScanned = true;
    if (adopted) {
      this.logger.info(
        { event: "push_items_adopted", found: adopted, current },
        `took over ${adopted} FOGIS events already in the calendar (the Python service's, or ours); ${current} already current`,
      );
    }
  }

  private async write(desired: DesiredEvents, counts: PushCounts): Promise<void> {
    const plan = this.plan(desired);
    counts.keptDeleted += plan.keptDeleted;
    // Deleted by the referee and gone from FOGIS too: nothing left to keep track of.
    for (const [uid, item] of Object.entries(this.state.items)) {
      if (item.deleted && !desired.has(uid)) delete this.state.items[uid];
    }
    const jobs = [
      ...plan.create.map((event) => () => this.create(event, counts)),
      ...plan.update.map((event) => () => this.update(event, counts)),
      ...plan.remove.map((uid) => () => this.remove(uid, counts)),
    ];
    // One at a time: Google asks for sequential writes per user, and a first fill saves as it goes.
    let done = 0;
    for (const job of jobs) {
      await job();
      done += 1;
      if (done % 25 === 0) await this.store.save();
    }
  }

  private async create(event: StoredCalendarEvent, counts: PushCounts): Promise<void> {
    const eventId = googleEventId(event.matchid);
    try {
      const created = await this.transport.call(`create the event of match ${event.matchid}`, () =>
        this.api.events.insert({
          calendarId: this.options.calendarId,
          requestBody: { id: eventId, ...googleEvent(event, []) },
        }),
      );
      this.state.items[event.uid] = {
        eventId,
        etag: created.etag ?? null,
        hash: event.contentHash,
        deleted: false,
        theirReminders: [],
      };
      counts.created += 1;
      return;
    } catch (error) {
      if (!(error instanceof GoogleApiError && error.status === 409)) throw error;
    }
    // The id is taken: by our own event (a retry after a lost answer, a lost state file), live or
    // deleted. Google keeps a deleted event's id taken, so it is read and taken over.
    const server = await this.read(eventId);
    if (!server) {
      throw new PushError(`Google Calendar says the event id ${eventId} is taken but has no such event`, {
        kind: "transient",
      });
    }
    const deleted = server.status === "cancelled";
    if (deleted && server.extendedProperties?.private?.[HASH_PROPERTY] === event.contentHash) {
      // The referee deleted it and FOGIS has not changed the match since: it stays deleted.
      this.state.items[event.uid] = {
        eventId,
        etag: server.etag ?? null,
        hash: event.contentHash,
        deleted: true,
        theirReminders: theirReminders(server),
      };
      counts.keptDeleted += 1;
      return;
    }
    this.logger.info(
      { event: "push_item_adopted", matchid: event.matchid, deleted },
      deleted
        ? "our event was deleted and FOGIS has changed the match since; bringing it back"
        : "found our event already in the calendar; using it",
    );
    this.state.items[event.uid] = {
      eventId,
      etag: server.etag ?? null,
      hash: null,
      deleted,
      theirReminders: theirReminders(server),
    };
    this.serverCopies.set(event.uid, server);
    await this.update(event, counts);
  }

  private async update(event: StoredCalendarEvent, counts: PushCounts): Promise<void> {
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt += 1) {
      const known = this.state.items[event.uid];
      if (!known) return;
      let server = this.serverCopies.get(event.uid);
      this.serverCopies.delete(event.uid);
      if (!server && known.etag === null) {
        server = await this.read(known.eventId);
        if (!server) return this.recreate(event, counts);
      }
      const etag = server?.etag ?? known.etag;
      const theirs = server ? theirReminders(server) : known.theirReminders;
      try {
        const written = await this.transport.call(`update the event of match ${event.matchid}`, () =>
          this.api.events.patch(
            {
              calendarId: this.options.calendarId,
              eventId: known.eventId,
              requestBody: googleEvent(event, theirs),
            },
            etag ? { headers: { "If-Match": etag } } : {},
          ),
        );
        if (known.deleted) {
          this.logger.info(
            { event: "push_item_restored", matchid: event.matchid },
            "FOGIS changed a match whose event the referee had deleted; it is back",
          );
        }
        Object.assign(known, {
          etag: written.etag ?? null,
          hash: event.contentHash,
          deleted: false,
          theirReminders: theirs,
        });
        counts.updated += 1;
        return;
      } catch (error) {
        if (!(error instanceof GoogleApiError)) throw error;
        if (error.status === 404 || error.status === 410) return this.recreate(event, counts);
        if (error.status !== 412) throw error;
      }
      // 412: changed since we last saw it (the referee edited or deleted it); read, merge, write.
      counts.conflicts += 1;
      known.etag = null;
    }
    throw new PushError(`the event of match ${event.matchid} kept changing while we wrote it`, {
      kind: "transient",
    });
  }

  /**
   * Our event is gone from the calendar altogether (purged, moved to another calendar): a new one.
   * Once per event and pass, so a server that keeps contradicting itself cannot loop us.
   */
  private async recreate(event: StoredCalendarEvent, counts: PushCounts): Promise<void> {
    delete this.state.items[event.uid];
    if (this.recreated.has(event.uid)) {
      throw new PushError(`the event of match ${event.matchid} vanished twice while we wrote it`, {
        kind: "transient",
      });
    }
    this.recreated.add(event.uid);
    return this.create(event, counts);
  }

  private async remove(uid: string, counts: PushCounts): Promise<void> {
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt += 1) {
      const known = this.state.items[uid];
      if (!known) return;
      let etag = known.etag;
      if (!etag) {
        const server = await this.read(known.eventId);
        if (!server || server.status === "cancelled") {
          delete this.state.items[uid];
          return;
        }
        etag = server.etag ?? null;
      }
      try {
        await this.transport.call("delete the event of a removed match", () =>
          this.api.events.delete(
            { calendarId: this.options.calendarId, eventId: known.eventId },
            etag ? { headers: { "If-Match": etag } } : {},
          ),
        );
        delete this.state.items[uid];
        counts.removed += 1;
        return;
      } catch (error) {
        if (!(error instanceof GoogleApiError)) throw error;
        if (error.status === 404 || error.status === 410) {
          delete this.state.items[uid]; // already deleted (by the referee)
          return;
        }
        if (error.status !== 412) throw error;
      }
      // The referee changed it meanwhile; the match is gone from FOGIS all the same.
      counts.conflicts += 1;
      known.etag = null;
    }
    throw new PushError("an event of a removed match kept changing while we deleted it", {
      kind: "transient",
    });
  }

  /** One event, also a deleted one (status "cancelled"); undefined when Google has none. */
  private read(eventId: string): Promise<GoogleEvent | undefined> {
    const { calendarId } = this.options;
    return this.transport.callUnlessGone(
      "read an event",
      () => this.api.events.get({ calendarId, eventId }),
      [404, 410],
    );
  }
}

function reconnectHint(): string {
  return "run `pnpm google-auth` (it asks for calendar and contacts access) and copy the token.json it writes to GOOGLE_TOKEN_FILE";
}
