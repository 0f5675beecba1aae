import { ContentLines, cleanText } from "./content-lines.js";

/**
 * vCard 4.0 (RFC 6350) for the phonebook. 4.0 because it is UTF-8 by definition (Swedish names
 * need no CHARSET guessing). TEL is written as a text value with TYPE=cell, which RFC 6350 allows
 * for compatibility and which Apple, Google and Thunderbird all import as a mobile number
 * (a `tel:` URI shows up verbatim in some of them). Written here because vcard4, the maintained
 * 4.0 generator on npm, escapes `:` and `;` in text values (`\:`, `\;`), which RFC 6350 does not
 * define and readers then show; the tests parse every card back with ical.js, and fuzz it.
 */

export interface VcardContact {
  /** The FOGIS referee number (`domarnr`): the contact's identity. */
  refereeNumber: string;
  name: string;
  mobile?: string;
  phone?: string;
  email?: string;
  address?: { street?: string; postalCode?: string; city?: string; country?: string };
  /** TITLE: the contact's roles in the phonebook's matches, e.g. "Assisterande 1, Huvuddomare". */
  title?: string;
  note?: string;
}

/**
 * The card's UID: a URN with the referee number percent-encoded, so whatever FOGIS puts in
 * `domarnr` stays one URI inside one line (61318 stays 61318).
 */
export function vcardUid(refereeNumber: string): string {
  return `urn:fogis-realtime:referee:${encodeURIComponent(cleanText(refereeNumber))}`;
}

export function renderVcards(contacts: readonly VcardContact[]): string {
  return contacts.map((contact) => renderVcard(contact)).join("");
}

/**
 * vCard 3.0 (RFC 2426) is what every CardDAV server must accept (RFC 6352 §5.1; iCloud takes
 * nothing else), so the CardDAV backend writes 3.0: the same card without KIND, and with
 * semicolons escaped in all text, as 3.0 has it.
 */
export type VcardVersion = "3.0" | "4.0";

export function renderVcard(
  contact: VcardContact,
  { version = "4.0" }: { version?: VcardVersion } = {},
): string {
  const v3 = version === "3.0";
  const { family, given } = splitName(contact.name);
  const out = new ContentLines(v3 ? "vcard-3.0" : "vcard-4.0")
    .token("BEGIN", "VCARD")
    .token("VERSION", version);
  if (!v3) out.token("KIND", "individual");
  out
    .uri("UID", vcardUid(contact.refereeNumber))
    .text("FN", contact.name)
    .structured("N", [family, given, "", "", ""]);
  if (present(contact.mobile)) out.phone("TEL", contact.mobile, ";TYPE=cell");
  if (present(contact.phone) && contact.phone !== contact.mobile)
    out.phone("TEL", contact.phone, ";TYPE=voice");
  if (present(contact.email)) out.text("EMAIL", contact.email);
  const address = contact.address;
  if (address && [address.street, address.postalCode, address.city, address.country].some(present)) {
    // ADR: post office box; extended address; street; locality; region; postal code; country.
    out.structured(
      "ADR",
      ["", "", address.street, address.city, "", address.postalCode, address.country],
      ";TYPE=home",
    );
  }
  if (present(contact.title)) out.text("TITLE", contact.title);
  out.textList("CATEGORIES", ["FOGIS", "Domare"]);
  if (present(contact.note)) out.text("NOTE", contact.note);
  out.token("END", "VCARD");
  return out.toString();
}

function present(value: string | undefined): value is string {
  return value !== undefined && cleanText(value).trim() !== "";
}

/** FOGIS gives one name; the last word is taken as the family name. */
function splitName(name: string): { family: string; given: string } {
  const words = name.trim().split(/\s+/).filter(Boolean);
  if (words.length < 2) return { family: words[0] ?? "", given: "" };
  return { family: words.at(-1) ?? "", given: words.slice(0, -1).join(" ") };
}
