import { createHash } from "node:crypto";
import { join } from "node:path";
import { type Match, matchReferees, toStockholmLocal } from "@fogis/message-schema";
import { StateFileWriter } from "@fogis/runtime";
import type { Logger } from "pino";
import { z } from "zod";
import {
  type HistoryPolicy,
  type Staged,
  type StateFileReport,
  StateFileStatus,
  type StateLoadReport,
} from "./calendar-backend.js";
import { type KeyedStateRead, readKeyedStateFile, readKeyedStatePair } from "./keyed-state-file.js";
import { matchEventSpan } from "./match-event.js";
import { renderVcards, type VcardContact } from "./vcard.js";

/**
 * The phonebook (DESIGN §7): one contact per referee, keyed by `domarnr`, from the referees of the
 * matches in the calendar. It follows the calendar's rules (`HistoryPolicy`): a match that leaves
 * the list before it was played, or cancelled or postponed, takes its referees with it; played
 * matches stay as history for HISTORY_DAYS, so a referee met only in older matches leaves. A
 * referee's details come from their most recent match; the title lists every role they have in
 * those matches. The user's own referee number is left out.
 * Like the calendar, the entries of the latest snapshot (`contacts.json`) and the history
 * (`contacts-history.json`) are separate files, so a change does not rewrite the history.
 */

export interface PhonebookOptions {
  dataDir: string;
  logger: Logger;
  /** HISTORY_DAYS: referees of played matches stay this many days after the match ended. */
  history: HistoryPolicy;
  /** USER_REFEREE_NUMBER: the user's own `domarnr`, left out of the phonebook. */
  ownRefereeNumber?: string;
  /** Writes the state files (and tells when it cannot); a fresh one by default. */
  writer?: StateFileWriter;
}

export interface PhonebookChanges {
  changed: boolean;
  contacts: number;
}

const RefereeEntrySchema = z.object({
  refereeNumber: z.string(),
  name: z.string(),
  role: z.string(),
  roleShort: z.string(),
  mobile: z.string(),
  phone: z.string(),
  email: z.string(),
  street: z.string(),
  postalCode: z.string(),
  city: z.string(),
  country: z.string(),
});

const MatchEntrySchema = z.object({
  matchid: z.number().int(),
  /** The event's start and end: kick-off and kick-off + 2 h, or the whole day when the time is unknown. */
  kickoff: z.iso.datetime(),
  end: z.iso.datetime(),
  allDay: z.boolean().default(false),
  /** Cancelled or postponed: never kept as history once it leaves the list. */
  calledOff: z.boolean().default(false),
  summary: z.string(),
  referees: z.array(RefereeEntrySchema),
});

const StateSchema = z.object({ version: z.literal(1), matches: z.array(MatchEntrySchema) });

type RefereeEntry = z.infer<typeof RefereeEntrySchema>;
type MatchEntry = z.infer<typeof MatchEntrySchema>;

const STATE_FILE = "contacts.json";
const HISTORY_FILE = "contacts-history.json";

type Entries = Map<number, MatchEntry>;

export class Phonebook {
  readonly statePath: string;
  readonly historyPath: string;
  /** The matches of the latest snapshot. */
  private current: Entries = new Map();
  /** Played matches no longer in the list, until HISTORY_DAYS after they ended. */
  private history: Entries = new Map();
  private hash = "";
  private vcf: string | undefined;
  private contactList: VcardContact[] | undefined;
  private readonly logger: Logger;
  private readonly ownRefereeNumber: string | undefined;
  private readonly policy: HistoryPolicy;
  private readonly writer: StateFileWriter;
  /** Loaded from a corrupt file: the next apply writes both files whatever changed. */
  private rewrite = false;
  private readonly file = new StateFileStatus();
  /** An unchanged match decodes to the same object (KnownMatches), so its entry is kept by it. */
  private readonly entryByMatch = new WeakMap<Match, MatchEntry | null>();

  constructor(options: PhonebookOptions) {
    this.statePath = join(options.dataDir, STATE_FILE);
    this.historyPath = join(options.dataDir, HISTORY_FILE);
    this.logger = options.logger;
    this.policy = options.history;
    this.ownRefereeNumber = options.ownRefereeNumber?.trim() || undefined;
    this.writer = options.writer ?? new StateFileWriter(options.logger);
  }

  async load(): Promise<StateLoadReport> {
    return this.file.loaded(await this.readFiles());
  }

  /** The phonebook's state files now (for /health). */
  stateFile(): StateFileReport {
    return this.file.report();
  }

  /**
   * Reads both files (a contacts.json from before the history file holds history too). A corrupt
   * file falls back to its previous generation (`.previous`), else starts empty.
   */
  private async readFiles(): Promise<StateLoadReport> {
    const read = await readKeyedStatePair({ current: this.statePath, history: this.historyPath }, (path) =>
      this.read(path),
    );
    this.replace(read.current, read.history);
    if (read.state === "missing") return { state: "missing" };
    if (read.state === "ok") return { state: "ok", count: this.contacts().length };
    this.rewrite = true;
    if (read.state === "corrupt") return { state: "corrupt", reason: read.reason };
    return { state: "restored", reason: read.reason, count: this.contacts().length };
  }

  private async read(path: string): Promise<KeyedStateRead<number, MatchEntry>> {
    return readKeyedStateFile(path, {
      parse: (value) => {
        const parsed = StateSchema.safeParse(value);
        return parsed.success
          ? { ok: true, value: parsed.data.matches }
          : { ok: false, reason: "unexpected content" };
      },
      key: (entry) => entry.matchid,
      logger: this.logger,
      owner: "phonebook",
    });
  }

  /** Like `CalendarBackend.stage`: the new phonebook is saved when this resolves, shown by `show()`. */
  async stage(matches: readonly Match[], now: Date): Promise<Staged<PhonebookChanges>> {
    const current: Entries = new Map();
    for (const match of matches) {
      let entry = this.entryByMatch.get(match);
      if (entry === undefined) {
        entry = toEntry(match);
        this.entryByMatch.set(match, entry);
      }
      if (entry && !this.policy.expired(entry.end, now)) current.set(entry.matchid, entry);
    }
    const history: Entries = new Map();
    for (const [matchid, entry] of [...this.current, ...this.history]) {
      if (current.has(matchid) || history.has(matchid)) continue;
      if (this.policy.keeps(entry, now)) history.set(matchid, entry);
    }
    // Most snapshots change nothing a contact shows: tell that without hashing the whole phonebook.
    const historyChanged = this.rewrite || !sameEntries(history, this.history);
    const currentChanged = this.rewrite || !sameEntries(current, this.current);
    if (!historyChanged && !currentChanged) {
      return { changes: { changed: false, contacts: this.contacts().length }, show: () => {} };
    }
    const nextHash = hashEntries(current, history);
    // History first: a crash between the writes leaves an entry in both files, never in neither.
    // After a corrupt start the file on disk may be the corrupt one: never keep it as the previous generation.
    const keepPrevious = !this.rewrite;
    if (historyChanged) {
      await this.writer.writeJson(
        this.historyPath,
        { version: 1, matches: [...history.values()] },
        { keepPrevious },
      );
    }
    if (currentChanged) {
      await this.writer.writeJson(
        this.statePath,
        { version: 1, matches: [...current.values()] },
        { keepPrevious },
      );
    }
    const changed = this.rewrite || nextHash !== this.hash;
    const contacts = changed ? buildContacts(current, history, this.ownRefereeNumber) : this.contacts();
    return {
      changes: { changed, contacts: contacts.length },
      show: () => {
        this.rewrite = false;
        this.replace(current, history, nextHash, contacts as VcardContact[]);
        this.file.saved(now, contacts.length);
      },
    };
  }

  /** When the next match passes HISTORY_DAYS (epoch ms), or null when none will. */
  nextExpiry(): number | null {
    return this.policy.firstExpiry([...this.current.values(), ...this.history.values()]);
  }

  /** One contact per referee number, the user's own left out, ordered by name. */
  contacts(): readonly VcardContact[] {
    this.contactList ??= buildContacts(this.current, this.history, this.ownRefereeNumber);
    return this.contactList;
  }

  renderVcf(): string {
    this.vcf ??= renderVcards(this.contacts());
    return this.vcf;
  }

  private replace(
    current: Entries,
    history: Entries,
    hash = hashEntries(current, history),
    contacts?: VcardContact[],
  ): void {
    this.current = current;
    this.history = history;
    this.hash = hash;
    this.vcf = undefined;
    this.contactList = contacts;
  }
}

const swedish = new Intl.Collator("sv");

function buildContacts(
  current: Entries,
  history: Entries,
  ownRefereeNumber: string | undefined,
): VcardContact[] {
  const byNumber = new Map<string, { latest: RefereeEntry; matches: Array<[MatchEntry, RefereeEntry]> }>();
  const ordered = [...current.values(), ...history.values()].sort(
    (a, b) => Date.parse(a.kickoff) - Date.parse(b.kickoff) || a.matchid - b.matchid,
  );
  for (const match of ordered) {
    for (const referee of match.referees) {
      if (referee.refereeNumber === ownRefereeNumber) continue;
      const found = byNumber.get(referee.refereeNumber);
      if (found) {
        found.latest = referee;
        found.matches.push([match, referee]);
      } else {
        byNumber.set(referee.refereeNumber, { latest: referee, matches: [[match, referee]] });
      }
    }
  }
  return [...byNumber.values()]
    .map(({ latest, matches }) => toContact(latest, matches))
    .sort((a, b) => swedish.compare(a.name, b.name) || a.refereeNumber.localeCompare(b.refereeNumber));
}

function toEntry(match: Match): MatchEntry | null {
  const span = matchEventSpan(match);
  if (!span) return null;
  const referees: RefereeEntry[] = [];
  for (const referee of matchReferees(match)) {
    const refereeNumber = referee.domarnr?.trim();
    if (!refereeNumber) continue;
    referees.push({
      refereeNumber,
      name: (referee.personnamn ?? "").trim() || `Domare ${refereeNumber}`,
      role: referee.domarrollnamn ?? "",
      roleShort: referee.domarrollkortnamn ?? "",
      mobile: referee.mobiltelefon ?? "",
      phone: referee.telefon ?? "",
      email: referee.epostadress ?? "",
      street: referee.adress ?? "",
      postalCode: referee.postnr ?? "",
      city: referee.postort ?? "",
      country: typeof referee.land === "string" ? referee.land : "",
    });
  }
  return {
    matchid: match.matchid,
    kickoff: span.start,
    end: span.end,
    allDay: span.allDay,
    calledOff: match.installd === true || match.uppskjuten === true,
    summary: `${match.lag1namn} - ${match.lag2namn}`,
    referees,
  };
}

function toContact(latest: RefereeEntry, matches: Array<[MatchEntry, RefereeEntry]>): VcardContact {
  const lines = [`Domarnummer: ${latest.refereeNumber}`, "Matcher:"];
  for (const [match, referee] of matches) {
    const local = toStockholmLocal(new Date(match.kickoff));
    const role = referee.roleShort || referee.role;
    const when = match.allDay ? local.date : `${local.date} ${local.time}`;
    lines.push(`${when} ${match.summary}${role ? ` (${role})` : ""}`);
  }
  return {
    refereeNumber: latest.refereeNumber,
    name: latest.name,
    mobile: latest.mobile,
    phone: latest.phone,
    email: latest.email,
    address: {
      street: latest.street,
      postalCode: latest.postalCode,
      city: latest.city,
      country: latest.country,
    },
    // Every role they have in the phonebook's matches, not only the last one's: TITLE is one value
    // per contact, and the matches (with each role) are in the note.
    title: [...new Set(matches.map(([, referee]) => referee.role).filter(Boolean))]
      .sort(swedish.compare)
      .join(", "),
    note: lines.join("\n"),
  };
}

/** The same matches with the same content; entries that are not the same object are compared as JSON. */
function sameEntries(a: Entries, b: Entries): boolean {
  if (a.size !== b.size) return false;
  for (const [matchid, entry] of a) {
    const other = b.get(matchid);
    if (other !== entry && (other === undefined || JSON.stringify(other) !== JSON.stringify(entry))) {
      return false;
    }
  }
  return true;
}

function hashEntries(current: Entries, history: Entries): string {
  const ordered = [...current.values(), ...history.values()].sort((a, b) => a.matchid - b.matchid);
  return createHash("sha256").update(JSON.stringify(ordered)).digest("hex");
}
