import { createHash } from "node:crypto";
import { join } from "node:path";
import { type Match, matchKickoff, matchReferees, toStockholmLocal } from "@fogis/message-schema";
import { readStateFile, StateFileWriter } from "@fogis/runtime";
import type { Logger } from "pino";
import { z } from "zod";
import {
  isPlayed,
  type Staged,
  type StateFileReport,
  StateFileStatus,
  type StateLoadReport,
} from "./calendar-backend.js";
import { MATCH_DURATION_MS } from "./match-event.js";
import { renderVcards, type VcardContact } from "./vcard.js";

/**
 * The phonebook (DESIGN §7): one contact per referee, keyed by `domarnr`, from the referees of the
 * matches in the calendar. It follows the calendar's rules: a match that leaves the list before it
 * was played takes its referees with it; played matches stay as history. A referee's details come
 * from their most recent match. The user's own referee number is left out.
 */

export interface PhonebookOptions {
  dataDir: string;
  logger: Logger;
  /** USER_REFEREE_NUMBER: the user's own `domarnr`, left out of the phonebook. */
  ownRefereeNumber?: string;
  /** Writes the state file (and tells when it cannot); a fresh one by default. */
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
  kickoff: z.iso.datetime(),
  end: z.iso.datetime(),
  summary: z.string(),
  referees: z.array(RefereeEntrySchema),
});

const StateSchema = z.object({ version: z.literal(1), matches: z.array(MatchEntrySchema) });

type RefereeEntry = z.infer<typeof RefereeEntrySchema>;
type MatchEntry = z.infer<typeof MatchEntrySchema>;

const STATE_FILE = "contacts.json";

export class Phonebook {
  readonly statePath: string;
  private entries = new Map<number, MatchEntry>();
  private hash = "";
  private vcf: string | undefined;
  private contactList: VcardContact[] | undefined;
  private readonly logger: Logger;
  private readonly ownRefereeNumber: string | undefined;
  private readonly writer: StateFileWriter;
  /** Loaded from a corrupt file: the next apply writes it whatever changed. */
  private rewrite = false;
  private readonly file = new StateFileStatus();
  /** An unchanged match decodes to the same object (KnownMatches), so its entry is kept by it. */
  private readonly entryByMatch = new WeakMap<Match, MatchEntry | null>();

  constructor(options: PhonebookOptions) {
    this.statePath = join(options.dataDir, STATE_FILE);
    this.logger = options.logger;
    this.ownRefereeNumber = options.ownRefereeNumber?.trim() || undefined;
    this.writer = options.writer ?? new StateFileWriter(options.logger);
  }

  async load(): Promise<StateLoadReport> {
    return this.file.loaded(await this.read());
  }

  /** contacts.json now (for /health). */
  stateFile(): StateFileReport {
    return this.file.report();
  }

  private async read(): Promise<StateLoadReport> {
    const read = await readStateFile(this.statePath, (value) => {
      const parsed = StateSchema.safeParse(value);
      return parsed.success
        ? { ok: true, value: parsed.data.matches }
        : { ok: false, reason: "unexpected content" };
    });
    if (read.state === "missing") return read;
    if (read.state === "ok") {
      this.replace(new Map(read.value.map((entry) => [entry.matchid, entry])));
      return { state: "ok", count: this.contacts().length };
    }
    this.rewrite = true;
    if (read.state === "restored") {
      this.replace(new Map(read.value.map((entry) => [entry.matchid, entry])));
      this.logger.error(
        { event: "state_restored", file: this.statePath, reason: read.reason },
        "phonebook state file is corrupt; serving the previous generation until the next snapshot",
      );
      return { state: "restored", reason: read.reason, count: this.contacts().length };
    }
    this.logger.error(
      { event: "state_corrupt", file: this.statePath, reason: read.reason },
      "phonebook state file is corrupt and no previous generation is usable; starting empty, the next resync rebuilds it",
    );
    this.replace(new Map());
    return { state: "corrupt", reason: read.reason };
  }

  /** Like `CalendarBackend.stage`: the new phonebook is saved when this resolves, shown by `show()`. */
  async stage(matches: readonly Match[], now: Date): Promise<Staged<PhonebookChanges>> {
    const next = new Map<number, MatchEntry>();
    for (const match of matches) {
      let entry = this.entryByMatch.get(match);
      if (entry === undefined) {
        entry = toEntry(match);
        this.entryByMatch.set(match, entry);
      }
      if (entry) next.set(entry.matchid, entry);
    }
    for (const [matchid, entry] of this.entries) {
      if (!next.has(matchid) && isPlayed(entry.end, now)) next.set(matchid, entry);
    }
    const unchanged = { changes: { changed: false, contacts: this.contacts().length }, show: () => {} };
    // Most snapshots change nothing a contact shows: tell that without hashing the whole phonebook.
    if (!this.rewrite && sameEntries(next, this.entries)) return unchanged;
    const nextHash = hashEntries(next);
    if (!this.rewrite && nextHash === this.hash) return unchanged;
    // After a corrupt start the file on disk may be the corrupt one: never keep that as the previous generation.
    await this.writer.writeJson(
      this.statePath,
      { version: 1, matches: [...next.values()] },
      { keepPrevious: !this.rewrite },
    );
    const contacts = buildContacts(next, this.ownRefereeNumber);
    return {
      changes: { changed: true, contacts: contacts.length },
      show: () => {
        this.rewrite = false;
        this.replace(next, nextHash, contacts);
        this.file.saved(now, contacts.length);
      },
    };
  }

  /** One contact per referee number, the user's own left out, ordered by name. */
  contacts(): readonly VcardContact[] {
    this.contactList ??= buildContacts(this.entries, this.ownRefereeNumber);
    return this.contactList;
  }

  renderVcf(): string {
    this.vcf ??= renderVcards(this.contacts());
    return this.vcf;
  }

  private replace(
    entries: Map<number, MatchEntry>,
    hash = hashEntries(entries),
    contacts?: VcardContact[],
  ): void {
    this.entries = entries;
    this.hash = hash;
    this.vcf = undefined;
    this.contactList = contacts;
  }
}

const swedish = new Intl.Collator("sv");

function buildContacts(
  entries: Map<number, MatchEntry>,
  ownRefereeNumber: string | undefined,
): VcardContact[] {
  const byNumber = new Map<string, { latest: RefereeEntry; matches: Array<[MatchEntry, RefereeEntry]> }>();
  const ordered = [...entries.values()].sort(
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
  const kickoff = matchKickoff(match);
  if (!kickoff) return null;
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
    kickoff: kickoff.toISOString(),
    end: new Date(kickoff.getTime() + MATCH_DURATION_MS).toISOString(),
    summary: `${match.lag1namn} - ${match.lag2namn}`,
    referees,
  };
}

function toContact(latest: RefereeEntry, matches: Array<[MatchEntry, RefereeEntry]>): VcardContact {
  const lines = [`Domarnummer: ${latest.refereeNumber}`, "Matcher:"];
  for (const [match, referee] of matches) {
    const local = toStockholmLocal(new Date(match.kickoff));
    const role = referee.roleShort || referee.role;
    lines.push(`${local.date} ${local.time} ${match.summary}${role ? ` (${role})` : ""}`);
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
    title: latest.role,
    note: lines.join("\n"),
  };
}

/** The same matches with the same content; entries that are not the same object are compared as JSON. */
function sameEntries(a: Map<number, MatchEntry>, b: Map<number, MatchEntry>): boolean {
  if (a.size !== b.size) return false;
  for (const [matchid, entry] of a) {
    const other = b.get(matchid);
    if (other !== entry && (other === undefined || JSON.stringify(other) !== JSON.stringify(entry))) {
      return false;
    }
  }
  return true;
}

function hashEntries(entries: Map<number, MatchEntry>): string {
  const ordered = [...entries.values()].sort((a, b) => a.matchid - b.matchid);
  return createHash("sha256").update(JSON.stringify(ordered)).digest("hex");
}
