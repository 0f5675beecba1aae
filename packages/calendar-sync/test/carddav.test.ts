import { rmSync } from "node:fs";
import { join } from "node:path";
import { type DavServerKind, fogisMatch } from "@fogis/testing";
import { describe, expect, it } from "vitest";
import {
  davServerPerSuite,
  deleteAsPhone,
  editAsPhone,
  FAST_RETRY,
  putPersonal,
  readAddressBook,
  type ServerCard,
} from "./dav-helpers.js";
import { backendStatus, pushMatches, startTestService, TOKEN } from "./helpers.js";

/**
 * The phonebook pushed into a real CardDAV address book (DESIGN §7, §11) on Radicale and Xandikos:
 * one vCard per referee keyed by referee number, the user's own left out, the referee's own
 * additions kept, personal contacts never touched.
 */

const _auth = { Authorization: `Bearer ${TOKEN}` };
const OWN_NUMBER = "56600";
const UID = (domarnr: string) => `urn:fogis-realtime:referee:${domarnr}`;

const me = { domareid: 6600, role: "Dom" as const, name: "Anna Andersson" }; // domarnr 56600
const bertil = { domareid: 10_773, role: "AD1" as const, name: "Bertil Berg", mobile: "070-111 22 33" };
const cecilia = { domareid: 32_062, role: "AD2" as const, name: "Cecilia Ek" };
const david = { domareid: 44_100, role: "AD2" as const, name: "David Nord" };

const PERSONAL_CARD = [
  "BEGIN:VCARD",
  "VERSION:3.0",
  "UID:mamma@phone",
  "FN:Mamma",
  "N:;Mamma;;;",
  "TEL;TYPE=cell:070-999 99 99",
  "END:VCARD",
  "",
].join("\r\n");

describe.each<DavServerKind>(["radicale", "xandikos"])("CardDAV push into %s", (kind) => {
  const dav = davServerPerSuite(kind);
  let books = 0;

  async function startPushing(options: { book?: string; dataDir?: string } = {}) {
    books += 1;
    const book = options.book ?? `FOGIS domare ${books}`;
    const service = await startTestService({
      dataDir: options.dataDir,
      pushRetry: FAST_RETRY,
      env: {
        // Contacts only: CARDDAV_URL without CALDAV_URL.
        CARDDAV_URL: dav.server.url,
        CALDAV_USERNAME: dav.server.username,
        CALDAV_PASSWORD: dav.server.password,
        CARDDAV_ADDRESSBOOK: book,
        USER_REFEREE_NUMBER: OWN_NUMBER,
      },
    });
    dav.services.push(service);
    return { service, book };
  }

  const names = (cards: ServerCard[]) => cards.map((card) => card.fn);

  it("creates the address book with one card per co-referee, and follows swaps, changes and removals", async () => {
    const { service, book } = await startPushing();
    await pushMatches(service, [
      fogisMatch({ matchid: 9001, referees: [me, bertil, cecilia] }),
      fogisMatch({ matchid: 9002, date: "2026-12-12", referees: [me, bertil] }),
    ]);
    let cards = await readAddressBook(dav.server, book);
    expect(names(cards)).toEqual(["Bertil Berg", "Cecilia Ek"]);
    const bertilCard = cards[0] as ServerCard;
    expect(bertilCard).toMatchObject({ uid: UID("60773"), tels: ["070-111 22 33"] });
    expect(bertilCard.href).toMatch(/\/fogis-referee-60773\.vcf$/);
    expect(bertilCard.properties).toContain("VERSION:3.0");
    expect(bertilCard.note).toContain("2026-12-12");

    const collection = bertilCard.href.slice(0, bertilCard.href.lastIndexOf("/") + 1);
    const personal = await putPersonal(dav.server, collection, "mamma.vcf", PERSONAL_CARD);
    const personalEtag = (await readAddressBook(dav.server, book)).find(
      (card) => card.href === personal,
    )?.etag;
    expect(personalEtag).toBeTruthy();

    // Cecilia swapped for David in the first match; Bertil has a new number.
    const newBertil = { ...bertil, mobile: "073-444 55 66" };
    await pushMatches(service, [
      fogisMatch({ matchid: 9001, referees: [me, newBertil, david] }),
      fogisMatch({ matchid: 9002, date: "2026-12-12", referees: [me, newBertil] }),
    ]);
    cards = await readAddressBook(dav.server, book);
    expect(names(cards)).toEqual(["Bertil Berg", "David Nord", "Mamma"]);
    expect(cards[0]?.tels).toEqual(["073-444 55 66"]);

    // The second match taken off the list before it was played: its note line goes.
    await pushMatches(service, [fogisMatch({ matchid: 9001, referees: [me, newBertil, david] })]);
    cards = await readAddressBook(dav.server, book);
    expect(cards[0]?.note).not.toContain("2026-12-12");

    // The last match removed: its referees leave the phonebook; the personal contact stays as it was.
    await pushMatches(service, []);
    cards = await readAddressBook(dav.server, book);
    expect(names(cards)).toEqual(["Mamma"]);
    expect(cards[0]?.etag).toBe(personalEtag);
    expect(backendStatus(service, "carddav")).toMatchObject({ status: "pass", pending: 0 });
  });

  it("keeps what the referee added to a card, and leaves a card they deleted deleted until FOGIS changes it", async () => {
    const { service, book } = await startPushing();
    await pushMatches(service, [fogisMatch({ matchid: 9101, referees: [me, bertil, cecilia] })]);
    const [bertilCard, ceciliaCard] = await readAddressBook(dav.server, book);
    if (!bertilCard || !ceciliaCard) throw new Error("cards missing");

    // On the phone: a work number, a birthday and a labelled e-mail for Bertil; Cecilia deleted.
    await editAsPhone(dav.server, bertilCard.href, (text) =>
      text.replace(
        "END:VCARD",
        [
          "TEL;TYPE=work:031-12 34 56",
          "BDAY:1985-04-02",
          "item1.EMAIL;TYPE=INTERNET:bertil.privat@example.net",
          "item1.X-ABLabel:privat",
          "END:VCARD",
        ].join("\r\n"),
      ),
    );
    await deleteAsPhone(dav.server, ceciliaCard.href);

    // FOGIS: Bertil's mobile changes; nothing about Cecilia changes.
    const newBertil = { ...bertil, mobile: "073-444 55 66" };
    await pushMatches(service, [fogisMatch({ matchid: 9101, referees: [me, newBertil, cecilia] })]);
    let cards = await readAddressBook(dav.server, book);
    expect(names(cards)).toEqual(["Bertil Berg"]);
    expect(cards[0]?.tels.sort()).toEqual(["031-12 34 56", "073-444 55 66"]);
    expect(cards[0]?.emails).toContain("bertil.privat@example.net");
    expect(cards[0]?.properties).toContain("BDAY:1985-04-02");
    expect(cards[0]?.properties.some((line) => /^item1\.X-ABLabel:privat$/i.test(line))).toBe(true);

    // Cecilia gets a new match: FOGIS changed her card, so it comes back.
    await pushMatches(service, [
      fogisMatch({ matchid: 9101, referees: [me, newBertil, cecilia] }),
      fogisMatch({ matchid: 9102, date: "2026-12-19", referees: [me, cecilia] }),
    ]);
    cards = await readAddressBook(dav.server, book);
    expect(names(cards)).toEqual(["Bertil Berg", "Cecilia Ek"]);
  });

  it("finds its cards again after a lost state file, and adopts one of ours under another name, without duplicates", async () => {
    const { service, book } = await startPushing();
    await pushMatches(service, [fogisMatch({ matchid: 9201, referees: [me, bertil] })]);
    const [created] = await readAddressBook(dav.server, book);
    if (!created) throw new Error("no card");
    const collection = created.href.slice(0, created.href.lastIndexOf("/") + 1);

    // A card with our UID for David under a name we would not choose (another tool, an old export).
    const davidNumber = "94100";
    await putPersonal(
      dav.server,
      collection,
      "imported-david.vcf",
      [
        "BEGIN:VCARD",
        "VERSION:3.0",
        `UID:${UID(davidNumber)}`,
        "FN:D. Nord",
        "N:Nord;D.;;;",
        "END:VCARD",
        "",
      ].join("\r\n"),
    );
    await pushMatches(service, [fogisMatch({ matchid: 9201, referees: [me, bertil, david] })]);
    let cards = await readAddressBook(dav.server, book);
    expect(cards.map((card) => [card.fn, card.href.slice(collection.length)])).toEqual([
      ["Bertil Berg", "fogis-referee-60773.vcf"],
      ["David Nord", "imported-david.vcf"],
    ]);

    await service.service.stop();
    rmSync(join(service.dataDir, "carddav.json"));
    const { service: again } = await startPushing({ book, dataDir: service.dataDir });
    await again.service.backends.whenSynced();
    cards = await readAddressBook(dav.server, book);
    expect(cards.map((card) => card.uid).sort()).toEqual([UID("60773"), UID("94100")]);
    expect(backendStatus(again, "carddav").counters).toMatchObject({ created: 0, removed: 0 });
  });
});
