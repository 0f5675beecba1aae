import { formatTid, stockholmLocalToUtc, toStockholmLocal } from "@fogis/message-schema";
import type { LoadedState } from "./state-store.js";

/**
 * A demo match list in FOGIS shape, so `pnpm start` and `docker compose up` show a working
 * calendar without FOGIS credentials. All people, phone numbers and addresses are made up.
 *
 * Kick-offs are placed relative to the Monday of the current Stockholm week (next week and the
 * one after), so every match is upcoming whatever the day, and the list is the same all week:
 * restarting the service does not turn the demo into a stream of date changes.
 */

interface DemoReferee {
  domareid: number;
  domarnr: string;
  personid: number;
  name: string;
  mobile: string;
  email: string;
  address: string;
  postnr: string;
  postort: string;
}

/** Demo referee `n`: the numbers, phone and mail follow from `n` and the name's mailbox. */
function demoReferee(
  n: number,
  name: string,
  mailbox: string,
  address: string,
  postnr: string,
  postort: string,
) {
  return {
    domareid: 90_000 + n,
    domarnr: String(70_000 + n),
    personid: 1_900_000 + n,
    name,
    mobile: `070-000000${n}`,
    email: `${mailbox}@example.org`,
    address,
    postnr,
    postort,
  } satisfies DemoReferee;
}

const REFEREES = {
  you: demoReferee(1, "Demo Domare", "demo.domare", "Exempelgatan 1", "411 01", "Göteborg"),
  karin: demoReferee(2, "Karin Exempel", "karin.exempel", "Provvägen 2", "412 02", "Göteborg"),
  omar: demoReferee(3, "Omar Testsson", "omar.testsson", "Demogatan 3", "431 30", "Mölndal"),
  lisa: demoReferee(4, "Lisa Prov", "lisa.prov", "Fiktivstigen 4", "442 31", "Kungälv"),
};

const ROLES = {
  Dom: { domarrollid: 1, domarrollnamn: "Huvuddomare" },
  AD1: { domarrollid: 2, domarrollnamn: "Assisterande 1" },
  AD2: { domarrollid: 3, domarrollnamn: "Assisterande 2" },
} as const;

const TEAMS = {
  demo: [390_001, "Demo IF"],
  exempel: [390_002, "Exempel BK"],
  prov: [390_003, "Prov FF"],
  test: [390_004, "Test United"],
  fiktiva: [390_005, "Fiktiva SK"],
  exempelIk: [390_006, "Exempel IK"],
  norra: [390_007, "Demo Norra FC"],
} satisfies Record<string, [lagid: number, name: string]>;

const VENUES = {
  vallen: [29_001, "Demovallen 1", 57.7089, 11.9746],
  arena: [29_002, "Exempelarena konstgräs", 57.6561, 12.0144],
  planen: [29_003, "Provplanen", 57.8712, 11.9804],
  testvallen: [29_004, "Testvallen B", 57.7211, 12.9401],
} satisfies Record<string, [id: number, name: string, lat: number, long: number]>;

const COMPETITIONS = {
  div2: [129_001, "Division 2 Demo Västra", "Division 2"],
  div3: [129_002, "Division 3 Demo Mellersta", "Division 3"],
  cup: [129_003, "Demo-cupen", "Cup"],
} satisfies Record<string, [id: number, name: string, category: string]>;

type RefereeKey = keyof typeof REFEREES;
type RoleKey = keyof typeof ROLES;

interface DemoTemplate {
  matchid: number;
  /** Days after the Monday of the current week. */
  dayOffset: number;
  time: string;
  home: [lagid: number, name: string];
  away: [lagid: number, name: string];
  venue: [id: number, name: string, lat: number, long: number];
  competition: [id: number, name: string, category: string];
  referees: Array<[RefereeKey, RoleKey]>;
}

/** One row of the table below; `crew` is `referee:role`, head referee first. */
function row(
  matchid: number,
  dayOffset: number,
  time: string,
  [home, away]: [keyof typeof TEAMS, keyof typeof TEAMS],
  venue: keyof typeof VENUES,
  competition: keyof typeof COMPETITIONS,
  crew: Array<`${RefereeKey}:${RoleKey}`>,
): DemoTemplate {
  return {
    matchid,
    dayOffset,
    time,
    home: TEAMS[home],
    away: TEAMS[away],
    venue: VENUES[venue],
    competition: COMPETITIONS[competition],
    referees: crew.map((pair) => pair.split(":") as [RefereeKey, RoleKey]),
  };
}

// matchid, days after Monday, kick-off, [home, away], venue, competition, crew
const TEMPLATES: DemoTemplate[] = [
  row(9_900_001, 8, "19:00", ["demo", "exempel"], "vallen", "div2", ["you:Dom", "karin:AD1", "omar:AD2"]),
  row(9_900_002, 12, "15:00", ["prov", "test"], "arena", "div3", ["omar:Dom", "you:AD1", "lisa:AD2"]),
  row(9_900_003, 13, "13:30", ["fiktiva", "demo"], "planen", "div2", ["you:Dom"]),
  row(9_900_004, 16, "18:30", ["exempelIk", "norra"], "vallen", "cup", ["karin:Dom", "you:AD1", "lisa:AD2"]),
  row(9_900_005, 20, "14:00", ["test", "prov"], "testvallen", "div3", ["you:Dom", "lisa:AD1", "karin:AD2"]),
];

/** The matchids of the demo list: a baseline holding any other match came from a real source. */
export const DEMO_MATCH_IDS: ReadonlySet<number> = new Set(TEMPLATES.map((template) => template.matchid));

/**
 * Why the demo list must not be used, or null. The demo list is for a fresh install: a processor
 * whose delivered list came from FOGIS or a file (an `.env` line lost, a mount gone) must not
 * replace the referee's matches with it.
 */
export function demoListRefusal(
  state: Pick<LoadedState, "previousMatches" | "sourceKind">,
  dataDir: string,
): { message: string; cameFrom: string } | null {
  const realMatches = state.previousMatches.filter((match) => !DEMO_MATCH_IDS.has(match.matchid)).length;
  const cameFrom =
    state.sourceKind === "file" || state.sourceKind === "http"
      ? state.sourceKind === "file"
        ? "a MATCH_SOURCE_FILE"
        : "FOGIS (FOGIS_API_CLIENT_URL)"
      : state.sourceKind === null && realMatches > 0
        ? "a real source"
        : null;
  if (!cameFrom) return null;
  return {
    cameFrom,
    message: `refusing the built-in demo match list: the state in ${dataDir} came from ${cameFrom} (${state.previousMatches.length} matches delivered), so neither MATCH_SOURCE_FILE nor FOGIS_API_CLIENT_URL being set is a lost setting, not a fresh install. Set the source again; the calendar keeps its matches meanwhile (to start over with the demo, empty DATA_DIR)`,
  };
}

/** The demo list for the week that contains `now` (Stockholm time). */
export function demoMatchList(now: Date): Record<string, unknown>[] {
  const today = toStockholmLocal(now);
  const todayUtc = Date.UTC(today.year, today.month - 1, today.day);
  const daysSinceMonday = (new Date(todayUtc).getUTCDay() + 6) % 7;
  const monday = todayUtc - daysSinceMonday * 86_400_000;
  return TEMPLATES.map((template) => {
    const day = new Date(monday + template.dayOffset * 86_400_000);
    const date = day.toISOString().slice(0, 10);
    const [hour, minute] = template.time.split(":").map(Number) as [number, number];
    const kickoff =
      stockholmLocalToUtc(day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate(), hour, minute) ?? day;
    return demoMatch(template, date, kickoff);
  });
}

function demoMatch(template: DemoTemplate, date: string, kickoff: Date): Record<string, unknown> {
  const matchnr = String(template.matchid).padStart(9, "0");
  const [homeId, home] = template.home;
  const [awayId, away] = template.away;
  const [venueId, venue, lat, long] = template.venue;
  const [competitionId, competition, category] = template.competition;
  return {
    __type: "Svenskfotboll.Fogis.Web.FogisMobilDomarKlient.MatchJSON",
    value: matchnr,
    label: `${matchnr}: ${home} - ${away} (${competition}), ${date} ${template.time}`,
    matchid: template.matchid,
    matchnr,
    fotbollstypid: 1,
    lag1lagid: homeId,
    lag1namn: home,
    lag2lagid: awayId,
    lag2namn: away,
    anlaggningid: venueId,
    anlaggningnamn: venue,
    anlaggningLatitud: lat,
    anlaggningLongitud: long,
    tid: formatTid(kickoff),
    speldatum: date,
    avsparkstid: template.time,
    tidsangivelse: `${date}, ${template.time}`,
    tavlingid: competitionId,
    tavlingnamn: competition,
    tavlingskategorinamn: category,
    matchlag1mal: 0,
    matchlag2mal: 0,
    arslutresultat: false,
    wo: false,
    uppskjuten: false,
    avbruten: false,
    installd: false,
    antalhalvlekar: 2,
    tidperhalvlek: 45,
    domaruppdraglista: template.referees.map(([who, role], index) => {
      const referee = REFEREES[who];
      return {
        domaruppdragid: template.matchid * 10 + index,
        matchid: template.matchid,
        matchnr,
        ...ROLES[role],
        domarrollkortnamn: role,
        domareid: referee.domareid,
        domarnr: referee.domarnr,
        personid: referee.personid,
        domaruppdragstatusid: 5,
        domaruppdragstatusnamn: "Tilldelat",
        personnamn: referee.name,
        namn: referee.name,
        telefon: "",
        mobiltelefon: referee.mobile,
        epostadress: referee.email,
        adress: referee.address,
        coadress: "",
        postnr: referee.postnr,
        postort: referee.postort,
        land: "Sverige",
      };
    }),
    kontaktpersoner: [
      teamContact(homeId, home, `Lagledare ${home}`, false),
      teamContact(awayId, away, `Lagledare ${away}`, false),
      teamContact(awayId, away, `Reserv ${away}`, true),
    ],
  };
}

function teamContact(lagid: number, lagnamn: string, personnamn: string, reserv: boolean) {
  return {
    lagid,
    lagnamn,
    personid: 1_800_000 + (lagid % 1000) + (reserv ? 500 : 0),
    personnamn,
    telefon: "",
    mobiltelefon: `073-${String(lagid % 10_000_000).padStart(7, "0")}`,
    epostadress: `kansli.${lagid}@example.org`,
    adress: "Klubbhuset 1",
    postnr: "412 50",
    postort: "Göteborg",
    reserv,
  };
}
