import { statSync } from "node:fs";
import { decodeSyncRequest } from "@fogis/message-schema";
import { fogisMatch, pythonMatchUpdatesEnvelope } from "@fogis/testing";
import ICAL from "ical.js";
import request from "supertest";
import { afterEach, describe, expect, it } from "vitest";
import { renderVcard } from "../src/vcard.js";
import { manualSync, startTestService, type TestService } from "./helpers.js";

/** The phonebook a referee imports: one card per co-referee, readable by any vCard 4.0 client. */

interface Card {
  uid: string;
  fn: string;
  n: string[];
  tel: Array<{ value: string; type: unknown }>;
  email: string;
  adr: string[];
  title: string;
  note: string;
}

function parseCards(text: string): Card[] {
  const parsed = ICAL.parse(text);
  // ical.js answers one component for a single card and a list for several.
  const list = (Array.isArray(parsed[0]) ? parsed : [parsed]) as unknown[];
  return list.map((jcard) => {
    const card = new ICAL.Component(jcard as never);
    const value = (name: string) => String(card.getFirstPropertyValue(name) ?? "");
    expect(value("version")).toBe("4.0");
    return {
      uid: value("uid"),
      fn: value("fn"),
      n: card.getFirstPropertyValue("n") as unknown as string[],
      tel: card
        .getAllProperties("tel")
        .map((tel) => ({ value: String(tel.getFirstValue()), type: tel.getParameter("type") })),
      email: value("email"),
      adr: card.getFirstPropertyValue("adr") as unknown as string[],
      title: value("title"),
      note: value("note"),
    };
  });
}

let t: TestService | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe("contacts.vcf", () => {
  it("has one card per referee across matches, keyed by referee number, without the user's own", async () => {
    t = await startTestService({ env: { USER_REFEREE_NUMBER: "61318" } });
    const me = { domareid: 6600, domarnr: "61318", role: "Dom" as const, name: "Anna Andersson" };
    const bertil = {
      domareid: 10_773,
      domarnr: "61438",
      role: "AD1" as const,
      name: "Bertil Berg",
      mobile: "070-2222222",
    };
    const cecilia = { domareid: 32_062, domarnr: "61969", role: "AD2" as const, name: "Cecilia Ek" };
    const matches = [
      fogisMatch({ matchid: 1001, date: "2026-12-05", time: "15:00", referees: [me, bertil, cecilia] }),
      // Bertil again, later, as AD2 with a new number: the latest match wins.
      fogisMatch({
        matchid: 1002,
        date: "2026-12-12",
        time: "13:00",
        referees: [me, { ...bertil, role: "AD2", mobile: "070-9999999" }],
      }),
    ];
    const synced = await manualSync(t, pythonMatchUpdatesEnvelope(matches));
    expect(synced.status).toBe(200);

    const response = await request(t.service.app).get("/contacts.vcf");
    expect(response.status).toBe(200);
    expect(response.headers["content-type"]).toBe("text/vcard; charset=utf-8");
    const cards = parseCards(response.text);
    expect(cards.map((card) => card.fn)).toEqual(["Bertil Berg", "Cecilia Ek"]);

    const [b, c] = cards;
    expect(b?.uid).toContain("61438");
    expect(b?.n).toEqual(["Berg", "Bertil", "", "", ""]);
    expect(b?.tel).toEqual([{ value: "070-9999999", type: "cell" }]);
    expect(b?.email).toBe("bertil.berg@example.org");
    expect(b?.adr).toEqual(["", "", "Bergvägen 63", "Göteborg", "", "411 01", "Sverige"]);
    // Both roles, not the one of whichever match came last.
    expect(b?.title).toBe("Assisterande 1, Assisterande 2");
    expect(c?.title).toBe("Assisterande 2");
    expect(b?.note).toContain("Domarnummer: 61438");
    expect(b?.note).toContain("2026-12-05 15:00 Hemmalag 1 - Bortalag 1 (AD1)");
    expect(b?.note).toContain("2026-12-12 13:00 Hemmalag 2 - Bortalag 2 (AD2)");
    expect(c?.uid).toContain("61969");
    expect(response.text).not.toContain("61318");
  });

  it("drops the referees of a match taken off the list before it was played", async () => {
    t = await startTestService({ now: "2026-11-20T12:00:00Z" });
    const played = fogisMatch({
      matchid: 1001,
      date: "2026-11-15",
      referees: [{ domareid: 1, domarnr: "100", name: "Played Person" }],
    });
    const upcoming = fogisMatch({
      matchid: 1002,
      referees: [{ domareid: 2, domarnr: "200", name: "Removed Person" }],
    });
    const { handler } = t.service;
    await handler.handleDecoded(decodeSyncRequest(pythonMatchUpdatesEnvelope([played, upcoming])));
    await handler.handleDecoded(decodeSyncRequest(pythonMatchUpdatesEnvelope([])));
    const cards = parseCards((await request(t.service.app).get("/contacts.vcf")).text);
    expect(cards.map((card) => card.fn)).toEqual(["Played Person"]);
  });

  it("follows a referee's new number over Redis-style decodes, and leaves contacts.json alone when no contact changed", async () => {
    t = await startTestService();
    const { app, handler, phonebook } = t.service;
    const bertil = { domareid: 10_773, domarnr: "61438", name: "Bertil Berg", mobile: "070-2222222" };
    const snapshot = (mobile: string, venue: string) =>
      JSON.stringify(
        pythonMatchUpdatesEnvelope([
          fogisMatch({ matchid: 1001, referees: [{ ...bertil, mobile }] }),
          fogisMatch({ matchid: 1002, venue }),
        ]),
      );
    const mobiles = async () =>
      parseCards((await request(app).get("/contacts.vcf")).text).flatMap((card) =>
        card.tel.map((tel) => tel.value),
      );
    await handler.handleMessage(snapshot("070-2222222", "Arena 1"));
    expect(await mobiles()).toContain("070-2222222");
    const written = statSync(phonebook.statePath).mtimeMs;

    const venueOnly = await handler.handleMessage(snapshot("070-2222222", "Ny arena"));
    expect(venueOnly).toMatchObject({
      accepted: true,
      outcome: { status: "applied", contacts: { changed: false } },
    });
    expect(statSync(phonebook.statePath).mtimeMs).toBe(written);

    await handler.handleMessage(snapshot("070-3333333", "Ny arena"));
    expect(await mobiles()).toContain("070-3333333");
    expect(await mobiles()).not.toContain("070-2222222");
  });

  it("keeps a referee number with line breaks inside its own line: no injected properties in contacts.vcf", async () => {
    t = await startTestService();
    const attacker = {
      domareid: 555,
      domarnr: "555\r\nEMAIL:attacker@evil.example\r\nFN:Injected\r\nEND:VCARD\r\nBEGIN:VCARD",
      name: "Vanlig Domare",
      mobile: "070-5555555\nTEL:+1 900 evil",
    };
    const synced = await manualSync(
      t,
      pythonMatchUpdatesEnvelope([fogisMatch({ matchid: 1001, referees: [attacker] })]),
    );
    expect(synced.status).toBe(200);

    const text = (await request(t.service.app).get("/contacts.vcf")).text;
    const cards = parseCards(text);
    expect(cards).toHaveLength(1);
    expect(cards[0]?.fn).toBe("Vanlig Domare");
    expect(cards[0]?.email).toBe("vanlig.domare@example.org");
    expect(cards[0]?.uid).toBe(
      "urn:fogis-realtime:referee:555%0AEMAIL%3Aattacker%40evil.example%0AFN%3AInjected%0AEND%3AVCARD%0ABEGIN%3AVCARD",
    );
    // A phone number is one line: the break becomes a space.
    expect(cards[0]?.tel).toEqual([{ value: "070-5555555 TEL:+1 900 evil", type: "cell" }]);
    expect(text.split("\r\n").filter((line) => /^(EMAIL|FN|BEGIN|TEL)[;:]/.test(line))).toEqual([
      "BEGIN:VCARD",
      "FN:Vanlig Domare",
      "TEL;TYPE=cell:070-5555555 TEL:+1 900 evil",
      "EMAIL:vanlig.domare@example.org",
    ]);
  });

  it("escapes names, addresses and notes so they read back unchanged", () => {
    const contact = {
      refereeNumber: "61318",
      name: "Åsa Öberg-Lind, jr; a\\b\\ Test",
      mobile: "+46 70 123 45 67",
      email: "asa@example.org",
      address: {
        street: "Storgatan 1, lgh 1102; 2 tr",
        postalCode: "411 01",
        city: "Göteborg",
        country: "Sverige",
      },
      title: "Huvuddomare",
      note: `Rad ett: kolon, komma; semikolon\nRad två ${"långt ".repeat(30)}`,
    };
    const text = renderVcard(contact);
    for (const line of text.split("\r\n").slice(0, -1))
      expect(Buffer.byteLength(line)).toBeLessThanOrEqual(75);
    const [card] = parseCards(text);
    expect(card?.fn).toBe(contact.name);
    // A backslash is left out of N and ADR parts: ical.js (Thunderbird's reader) would take "\\\\;" for
    // an escaped separator and merge two parts. FN keeps the name exactly.
    expect(card?.n).toEqual(["Test", "Åsa Öberg-Lind, jr; ab", "", "", ""]);
    expect(card?.adr?.[2]).toBe(contact.address.street);
    expect(card?.note).toBe(contact.note);
    expect(card?.tel).toEqual([{ value: contact.mobile, type: "cell" }]);
  });
});
