import { createHash } from "node:crypto";
import type { people_v1 } from "@googleapis/people";
import type { VcardContact } from "../../vcard.js";
import type { PushSnapshot } from "../push-backend.js";

/**
 * A co-referee's contact as the People API holds it: the fields FOGIS fills (the same values
 * /contacts.vcf has), and in the lists the contact shares with the referee (phone numbers, e-mail
 * addresses, addresses, organizations, external ids) which values are ours and which are theirs.
 */

export const PERSON_FIELDS =
  "names,phoneNumbers,emailAddresses,addresses,organizations,biographies,externalIds,memberships,metadata";
export const UPDATE_FIELDS =
  "names,phoneNumbers,emailAddresses,addresses,organizations,biographies,externalIds";
export const EXTERNAL_ID_PREFIX = "FogisId=DomarNr=";
export const SHARED_FIELDS = [
  "phoneNumbers",
  "emailAddresses",
  "addresses",
  "organizations",
  "externalIds",
] as const;
export type Person = people_v1.Schema$Person;
type SharedField = (typeof SHARED_FIELDS)[number];

export function fogisExternalId(refereeNumber: string): string {
  return `${EXTERNAL_ID_PREFIX}${refereeNumber}`;
}

export interface DesiredContact {
  key: string;
  contact: VcardContact;
  hash: string;
}

export function desiredContacts(snapshot: PushSnapshot): Map<string, DesiredContact> {
  return new Map(
    snapshot.contacts.map((contact) => {
      const ours = personFor({ key: contact.refereeNumber, contact }, {});
      const hash = createHash("sha256").update(JSON.stringify(ours)).digest("hex");
      return [contact.refereeNumber, { key: contact.refereeNumber, contact, hash }];
    }),
  );
}

/** FOGIS's fields of the contact (the same values /contacts.vcf has), with the referee's own list values after ours. */
export function personFor(
  desired: Pick<DesiredContact, "key" | "contact">,
  theirs: Record<string, Array<Record<string, unknown>>>,
): Person {
  const { contact } = desired;
  const words = contact.name.trim().split(/\s+/).filter(Boolean);
  const familyName = words.length > 1 ? words.at(-1) : undefined;
  const givenName = words.length > 1 ? words.slice(0, -1).join(" ") : words[0];
  const present = (value: string | undefined): value is string => value !== undefined && value.trim() !== "";
  const phones: people_v1.Schema$PhoneNumber[] = [];
  if (present(contact.mobile)) phones.push({ value: contact.mobile, type: "mobile" });
  if (present(contact.phone) && contact.phone !== contact.mobile)
    phones.push({ value: contact.phone, type: "other" });
  const address = contact.address;
  const addresses: people_v1.Schema$Address[] =
    address && [address.street, address.postalCode, address.city, address.country].some(present)
      ? [
          {
            streetAddress: address.street || undefined,
            postalCode: address.postalCode || undefined,
            city: address.city || undefined,
            country: address.country || undefined,
            type: "home",
          },
        ]
      : [];
  const ours: Required<Pick<Person, SharedField>> = {
    phoneNumbers: phones,
    emailAddresses: present(contact.email) ? [{ value: contact.email, type: "other" }] : [],
    addresses,
    organizations: present(contact.title) ? [{ title: contact.title }] : [],
    externalIds: [{ type: "account", value: fogisExternalId(contact.refereeNumber) }],
  };
  const merged = Object.fromEntries(
    SHARED_FIELDS.map((field) => [field, [...ours[field], ...(theirs[field] ?? [])]]),
  ) as Required<Pick<Person, SharedField>>;
  return {
    names: [{ givenName, familyName, unstructuredName: contact.name }],
    biographies: present(contact.note) ? [{ value: contact.note, contentType: "TEXT_PLAIN" }] : [],
    ...merged,
  };
}

export function ownedFingerprints(person: Person): string[] {
  return SHARED_FIELDS.flatMap((field) => (person[field] ?? []).map((value) => fingerprint(field, value)));
}

/** The referee's own values in the shared lists of a server copy: everything not ours. */
export function theirValues(
  server: Person,
  owned: Set<string>,
): Record<string, Array<Record<string, unknown>>> {
  const theirs: Record<string, Array<Record<string, unknown>>> = {};
  for (const field of SHARED_FIELDS) {
    const values = (server[field] ?? []) as Array<Record<string, unknown>>;
    const kept = values
      .filter((value) => !owned.has(fingerprint(field, value)) && !isOurExternalId(field, value))
      .map(({ metadata: _metadata, ...rest }) => rest);
    if (kept.length) theirs[field] = kept;
  }
  return theirs;
}

function isOurExternalId(field: SharedField, value: Record<string, unknown>): boolean {
  return field === "externalIds" && String(value.value ?? "").startsWith(EXTERNAL_ID_PREFIX);
}

/** What identifies a list value as the same one, whatever Google normalised around it. */
export function fingerprint(field: SharedField, value: object): string {
  const v = value as Record<string, unknown>;
  const text = (key: string) =>
    String(v[key] ?? "")
      .trim()
      .toLowerCase();
  switch (field) {
    case "phoneNumbers":
      return `tel:${text("value").replace(/[^\d+]/g, "")}`;
    case "emailAddresses":
      return `email:${text("value")}`;
    case "addresses":
      return `adr:${["streetAddress", "postalCode", "city", "country"].map(text).join("|")}`;
    case "organizations":
      return `org:${text("title")}|${text("name")}`;
    case "externalIds":
      return `id:${text("value")}`;
  }
}
