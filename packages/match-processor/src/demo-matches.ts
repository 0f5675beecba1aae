import { formatTid, stockholmLocalToUtc, toStockholmLocal } from "@fogis/message-schema";

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

const REFEREES = {
  you: {
    domareid: 90_001,
    domarnr: "70001",
    personid: 1_900_001,
    name: "Demo Domare",
    mobile: "070-0000001",
    email: "demo.domare@example.org",
    address: "Exempelgatan 1",
    postnr: "411 01",
    postort: "Göteborg",
  },
  karin: {
    domareid: 90_002,
    domarnr: "70002",
    personid: 1_900_002,
    name: "Karin Exempel",
    mobile: "070-0000002",
    email: "karin.exempel@example.org",
    address: "Provvägen 2",
    postnr: "412 02",
    postort: "Göteborg",
  },
  omar: {
    domareid: 90_003,
    domarnr: "70003",
    personid: 1_900_003,
    name: "Omar Testsson",
    mobile: "070-0000003",
    email: "omar.testsson@example.org",
    address: "Demogatan 3",
    postnr: "431 30",
    postort: "Mölndal",
  },
  lisa: {
    domareid: 90_004,
    domarnr: "70004",
    personid: 1_900_004,
    name: "Lisa Prov",
    mobile: "070-0000004",
    email: "lisa.prov@example.org",
    address: "Fiktivstigen 4",
    postnr: "442 31",
    postort: "Kungälv",
  },
} satisfies Record<string, DemoReferee>;

const ROLES = {
  Dom: { domarrollid: 1, domarrollnamn: "Huvuddomare" },
  AD1: { domarrollid: 2, domarrollnamn: "Assisterande 1" },
  AD2: { domarrollid: 3, domarrollnamn: "Assisterande 2" },
} as const;

interface DemoTemplate {
  matchid: number;
  /** Days after the Monday of the current week. */
  dayOffset: number;
  time: string;
  home: [lagid: number, name: string];
  away: [lagid: number, name: string];
  venue: [id: number, name: string, lat: number, long: number];
  competition: [id: number, name: string, category: string];
  referees: Array<[keyof typeof REFEREES, keyof typeof ROLES]>;
}

const TEMPLATES: DemoTemplate[] = [
  {
    matchid: 9_900_001,
    dayOffset: 8,
    time: "19:00",
    home: [390_001, "Demo IF"],
    away: [390_002, "Exempel BK"],
    venue: [29_001, "Demovallen 1", 57.7089, 11.9746],
    competition: [129_001, "Division 2 Demo Västra", "Division 2"],
    referees: [
      ["you", "Dom"],
      ["karin", "AD1"],
      ["omar", "AD2"],
    ],
  },
  {
    matchid: 9_900_002,
    dayOffset: 12,
    time: "15:00",
    home: [390_003, "Prov FF"],
    away: [390_004, "Test United"],
    venue: [29_002, "Exempelarena konstgräs", 57.6561, 12.0144],
    competition: [129_002, "Division 3 Demo Mellersta", "Division 3"],
    referees: [
      ["omar", "Dom"],
      ["you", "AD1"],
      ["lisa", "AD2"],
    ],
  },
  {
    matchid: 9_900_003,
    dayOffset: 13,
    time: "13:30",
    home: [390_005, "Fiktiva SK"],
    away: [390_001, "Demo IF"],
    venue: [29_003, "Provplanen", 57.8712, 11.9804],
    competition: [129_001, "Division 2 Demo Västra", "Division 2"],
    referees: [["you", "Dom"]],
  },
  {
    matchid: 9_900_004,
    dayOffset: 16,
    time: "18:30",
    home: [390_006, "Exempel IK"],
    away: [390_007, "Demo Norra FC"],
    venue: [29_001, "Demovallen 1", 57.7089, 11.9746],
    competition: [129_003, "Demo-cupen", "Cup"],
    referees: [
      ["karin", "Dom"],
      ["you", "AD1"],
      ["lisa", "AD2"],
    ],
  },
  {
    matchid: 9_900_005,
    dayOffset: 20,
    time: "14:00",
    home: [390_004, "Test United"],
    away: [390_003, "Prov FF"],
    venue: [29_004, "Testvallen B", 57.7211, 12.9401],
    competition: [129_002, "Division 3 Demo Mellersta", "Division 3"],
    referees: [
      ["you", "Dom"],
      ["lisa", "AD1"],
      ["karin", "AD2"],
    ],
  },
];

/** The matchids of the demo list: a baseline holding any other match came from a real source. */
export const DEMO_MATCH_IDS: ReadonlySet<number> = new Set(TEMPLATES.map((template) => template.matchid));

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
