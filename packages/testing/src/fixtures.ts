import {
  formatTid,
  type Match,
  type Referee,
  stockholmLocalToUtc,
  type TeamContact,
} from "@fogis/message-schema";

/**
 * FOGIS-shaped test data, written for this project in the shape of a real referee match list
 * (DESIGN §3): every field the services use plus a realistic share of the ones they only pass on.
 */

export interface RefereeInput {
  domareid: number;
  domarnr?: string;
  role?: "Dom" | "AD1" | "AD2" | "4D";
  name?: string;
  mobile?: string;
}

const ROLES = {
  Dom: { domarrollid: 1, domarrollnamn: "Huvuddomare" },
  AD1: { domarrollid: 2, domarrollnamn: "Assisterande 1" },
  AD2: { domarrollid: 3, domarrollnamn: "Assisterande 2" },
  "4D": { domarrollid: 4, domarrollnamn: "Fjärdedomare" },
} as const;

export function fogisReferee(input: RefereeInput, matchid = 0): Referee {
  const role = input.role ?? "Dom";
  const name = input.name ?? `Referee ${input.domareid}`;
  const [first = name, last = ""] = name.split(" ");
  return {
    domaruppdragid: 7_000_000 + input.domareid,
    matchid,
    matchnr: String(matchid).padStart(9, "0"),
    ...ROLES[role],
    domarrollkortnamn: role,
    domareid: input.domareid,
    domarnr: input.domarnr ?? String(50_000 + input.domareid),
    personid: 900_000 + input.domareid,
    domaruppdragstatusid: 5,
    domaruppdragstatusnamn: "Tilldelat",
    personnamn: name,
    telefon: "",
    mobiltelefon: input.mobile ?? `070-${String(input.domareid).padStart(7, "0")}`,
    telefonarbete: "",
    adress: `${last || first}vägen ${input.domareid % 90}`,
    coadress: "",
    epostadress: `${first.toLowerCase()}.${(last || "ref").toLowerCase()}@example.org`,
    land: "Sverige",
    namn: name,
    postnr: "411 01",
    postort: "Göteborg",
  };
}

export function fogisContact(
  lagid: number,
  lagnamn: string,
  personnamn: string,
  reserv = false,
): TeamContact {
  return {
    lagid,
    lagnamn,
    personid: 800_000 + lagid,
    personnamn,
    telefon: "",
    mobiltelefon: "073-1234567",
    telefonarbete: "",
    adress: "Klubbstugan 1",
    coadress: "",
    epostadress: `kansli${lagid}@example.org`,
    land: "Sverige",
    postnr: "412 02",
    postort: "Göteborg",
    reserv,
    foreningId: 10_000 + lagid,
  };
}

export interface MatchInput {
  matchid: number;
  /** Stockholm local date and time of kick-off. */
  date?: string;
  time?: string;
  home?: string;
  away?: string;
  venue?: string;
  venueId?: number;
  competition?: string;
  referees?: RefereeInput[];
  cancelled?: boolean;
  postponed?: boolean;
  interrupted?: boolean;
  /** Extra or overriding raw fields. */
  extra?: Record<string, unknown>;
}

export function fogisMatch(input: MatchInput): Match {
  const date = input.date ?? "2026-12-05";
  const time = input.time ?? "15:00";
  const [y, mo, d] = date.split("-").map(Number) as [number, number, number];
  const [h, mi] = time.split(":").map(Number) as [number, number];
  const kickoff = stockholmLocalToUtc(y, mo, d, h, mi) ?? new Date(0);
  const home = input.home ?? `Hemmalag ${input.matchid % 1000}`;
  const away = input.away ?? `Bortalag ${input.matchid % 1000}`;
  const competition = input.competition ?? "Division 2 Västra Götaland";
  const matchnr = String(input.matchid).padStart(9, "0");
  const lag1lagid = 300_000 + (input.matchid % 997);
  const lag2lagid = 400_000 + (input.matchid % 991);
  const referees = input.referees ?? [
    { domareid: 6600, role: "Dom" as const, name: "Anna Andersson" },
    { domareid: 10_773, role: "AD1" as const, name: "Bertil Berg" },
    { domareid: 32_062, role: "AD2" as const, name: "Cecilia Ek" },
  ];
  return {
    __type: "Svenskfotboll.Fogis.Web.FogisMobilDomarKlient.MatchJSON",
    value: matchnr,
    label: `${matchnr}: ${home} - ${away} (${competition}), ${date} ${time}`,
    matchid: input.matchid,
    matchnr,
    fotbollstypid: 1,
    lag1lagid,
    lag1foreningid: 11_000 + (input.matchid % 97),
    lag1namn: home,
    lag2lagid,
    lag2foreningid: 12_000 + (input.matchid % 89),
    lag2namn: away,
    anlaggningid: input.venueId ?? 22_000 + (input.matchid % 50),
    anlaggningnamn: input.venue ?? `Arena ${input.matchid % 50}`,
    anlaggningLatitud: 57.7,
    anlaggningLongitud: 11.97,
    tid: formatTid(kickoff),
    speldatum: date,
    avsparkstid: time,
    tidsangivelse: `${date}, ${time}`,
    tavlingid: 125_000 + (input.matchid % 13),
    tavlingnr: "000402",
    tavlingnamn: competition,
    tavlingskategorinamn: "Division 2",
    matchlag1mal: 0,
    matchlag2mal: 0,
    arslutresultat: false,
    wo: false,
    uppskjuten: input.postponed ?? false,
    avbruten: input.interrupted ?? false,
    installd: input.cancelled ?? false,
    antalhalvlekar: 2,
    tidperhalvlek: 45,
    liverapporteringTillaten: false,
    domaruppdraglista: referees.map((r) => fogisReferee(r, input.matchid)),
    noteringfrandomare: "",
    kontaktpersoner: [
      fogisContact(lag1lagid, home, `Lagledare ${home}`),
      fogisContact(lag2lagid, away, `Lagledare ${away}`, true),
    ],
    matchlag1OffentliggorMatchtruppDatumTid: formatTid(new Date(kickoff.getTime() - 3_600_000)),
    domareArHuvuddomare: true,
    ...input.extra,
  };
}

/** `count` distinct matches, one a day from `firstDate`, for load and snapshot tests. */
export function fogisMatchList(count: number, firstMatchId = 6_100_000, firstDate = "2026-12-01"): Match[] {
  const start = Date.parse(`${firstDate}T12:00:00Z`);
  return Array.from({ length: count }, (_, i) => {
    const date = new Date(start + Math.floor(i / 4) * 86_400_000).toISOString().slice(0, 10);
    const time = ["11:00", "13:30", "15:00", "19:00"][i % 4] ?? "15:00";
    return fogisMatch({
      matchid: firstMatchId + i,
      date,
      time,
      referees: [
        { domareid: 1000 + (i % 40), role: "Dom", name: `Domare ${i % 40} Nilsson` },
        { domareid: 2000 + (i % 60), role: "AD1", name: `Assistent ${i % 60} Holm` },
        { domareid: 3000 + (i % 60), role: "AD2", name: `Assistent ${i % 60} Lind` },
      ],
    });
  });
}

export interface PythonEnvelopeOptions {
  messageId?: string;
  /**
   * The matches its change detector reports as new. Default: every match, as in its first list.
   * Each gets the eleven detailed changes the real code writes for a new match.
   */
  newMatches?: readonly Match[];
  /** `payload` (the live processor, the default) or `top` (older processors). */
  schemaVersionAt?: "payload" | "top";
  /** The processor's clock. Default 2026-11-20T08:00:00Z. */
  now?: Date;
}

/**
 * A match_updates envelope in the shape the live Python match-list-processor publishes (its own
 * publisher, formatter and change detector; shared/reference/README.md), not the shape its type
 * hints promise: `detailed_changes[].match_id` is the integer matchid, a new match gets eleven
 * detailed changes (categories of its own among them: `status_change`), their timestamps end in
 * `+00:00` with microseconds, `schema_version` sits in the payload, `has_changes` is always true
 * and `change_summary` is `{}`.
 */
export function pythonMatchUpdatesEnvelope(matches: Match[], options: PythonEnvelopeOptions = {}) {
  const now = options.now ?? new Date("2026-11-20T08:00:00Z");
  let tick = 0;
  // Python's isoformat(): microseconds, and "+00:00" for an aware UTC time.
  const pythonTime = (zone: "Z" | "+00:00") =>
    `${new Date(now.getTime() + tick++).toISOString().slice(0, 23)}${String(100 + tick).padStart(3, "0")}${zone}`;
  const changes = (options.newMatches ?? matches).flatMap((m) =>
    pythonNewMatchChanges(m, () => pythonTime("+00:00")),
  );
  const schemaVersion = { schema_version: "2.0" };
  return {
    message_id: options.messageId ?? "3f1c2b1e-0000-4000-8000-000000000001",
    timestamp: pythonTime("Z"),
    source: "match-list-processor",
    version: "1.0",
    type: "match_updates",
    ...(options.schemaVersionAt === "top" ? schemaVersion : {}),
    payload: {
      matches,
      ...(options.schemaVersionAt === "top" ? {} : schemaVersion),
      detailed_changes: changes,
      high_priority: changes.some((c) => c.priority === "high" || c.priority === "critical"),
      metadata: {
        total_matches: matches.length,
        has_changes: true,
        change_summary: {},
        processing_timestamp: pythonTime("Z"),
        processor_type: "UnifiedMatchProcessor",
      },
    },
  };
}

/** The detailed changes the Python change detector writes for one new match (previous values None). */
function pythonNewMatchChanges(match: Match, timestamp: () => string) {
  const change = (
    category: string,
    priority: string,
    stakeholders: string[],
    field: string,
    value: unknown,
    text: string,
  ) => ({
    match_id: match.matchid,
    match_nr: match.matchnr ?? null,
    category,
    priority,
    affected_stakeholders: stakeholders,
    field_name: field,
    previous_value: null,
    current_value: value,
    change_description: text,
    timestamp: timestamp(),
  });
  const referees = (match.domaruppdraglista ?? []).map((r) => ({
    id: null,
    name: r.personnamn,
    role: r.domarrollnamn,
  }));
  return [
    change(
      "new_assignment",
      "high",
      ["referees", "coordinators"],
      "domaruppdraglista",
      referees,
      `New referee assignment: ${referees.length} referees assigned`,
    ),
    change(
      "date_change",
      "high",
      ["all"],
      "speldatum",
      match.speldatum,
      `Match date changed from None to ${match.speldatum}`,
    ),
    change(
      "time_change",
      "high",
      ["all"],
      "avsparkstid",
      match.avsparkstid,
      `Match time changed from None to ${match.avsparkstid}`,
    ),
    change(
      "venue_change",
      "medium",
      ["all"],
      "anlaggningnamn",
      match.anlaggningnamn,
      `Venue changed from None to ${match.anlaggningnamn}`,
    ),
    ...(["lag1lagid", "lag1namn", "lag2lagid", "lag2namn"] as const).map((field) =>
      change(
        "team_change",
        "medium",
        ["teams", "coordinators"],
        field,
        match[field],
        `Team information changed: ${field} from None to ${match[field]}`,
      ),
    ),
    ...(["installd", "avbruten", "uppskjuten"] as const).map((field) =>
      change(
        "status_change",
        "medium",
        ["all"],
        field,
        match[field] ?? false,
        `Status changed: ${field} from None to ${match[field] ? "True" : "False"}`,
      ),
    ),
  ];
}

/** A processing_status envelope as the Python processor publishes it. */
export function pythonProcessingStatusEnvelope(cycle = 5, matchesProcessed = 1) {
  return {
    message_id: "9b2e4f7a-1c3d-4e5f-8a9b-0c1d2e3f4a5b",
    timestamp: "2026-11-20T08:00:00.200000Z",
    source: "match-list-processor",
    version: "1.0",
    type: "processing_status",
    payload: {
      status: "completed",
      timestamp: "2026-11-20T08:00:00.200000Z",
      details: { cycle, matches_processed: matchesProcessed },
    },
  };
}
