import { createHash } from "node:crypto";
import { renderVcard, type VcardContact } from "../../vcard.js";
import { DavBackend, type DavBackendOptions } from "./dav-backend.js";
import type { DavFlavor, DavItem } from "./dav-flavor.js";
import { cardFingerprint, cardValueFingerprints, mergeCard, parseContent } from "./merge.js";

/**
 * The phonebook in the referee's address book on a CardDAV server: one vCard per referee,
 * `fogis-referee-<domarnr>.vcf`, keyed by the referee number (the user's own left out, as in
 * `/contacts.vcf`). Written as vCard 3.0, which every CardDAV server accepts (RFC 6352 §5.1).
 */

export function createCardDavBackend(options: Omit<DavBackendOptions, "flavor" | "name">): DavBackend {
  return new DavBackend({ ...options, name: "carddav", flavor: addressBookFlavor });
}

const NAME = /^fogis-referee-([A-Za-z0-9_-]+)\.vcf$/;
const UID = /^urn:fogis-realtime:referee:(.+)$/;

export const addressBookFlavor: DavFlavor = {
  kind: "carddav",
  label: "address book",
  collectionType: "addressbook",
  collectionVariable: "CARDDAV_ADDRESSBOOK",
  items: (snapshot) => snapshot.contacts.map(cardItem),
  keyForName(name) {
    const match = NAME.exec(name);
    return match?.[1] === undefined ? undefined : fromFileName(match[1]);
  },
  keysIn: (data) =>
    parseContent(data).flatMap((card) =>
      card.name === "VCARD"
        ? card.children.flatMap((line) => {
            const key = line.kind === "line" && line.name === "UID" ? UID.exec(line.value)?.[1] : undefined;
            return key === undefined ? [] : [key];
          })
        : [],
    ),
};

function cardItem(contact: VcardContact): DavItem {
  const ours = renderVcard(contact, { version: "3.0" });
  return {
    key: contact.refereeNumber,
    name: `fogis-referee-${toFileName(contact.refereeNumber)}.vcf`,
    hash: createHash("sha256").update(ours).digest("hex"),
    render(previous, server) {
      const body =
        server === undefined ? ours : mergeCard(server, ours, { previouslyWritten: previous?.owned ?? [] });
      return { body, extra: { owned: cardValueFingerprints(ours) } };
    },
    shows: (server) => cardFingerprint(server, ours) === cardFingerprint(ours, ours),
  };
}

/** Referee numbers are digits; anything else is written as _XX so the name stays a plain file name. */
function toFileName(refereeNumber: string): string {
  return refereeNumber.replace(/[^A-Za-z0-9-]/g, (c) =>
    [...Buffer.from(c)].map((byte) => `_${byte.toString(16).padStart(2, "0")}`).join(""),
  );
}

function fromFileName(name: string): string {
  return Buffer.from(
    name.replace(/_([0-9a-f]{2})|[^_]/g, (whole, hex: string | undefined) =>
      hex ? String.fromCharCode(Number.parseInt(hex, 16)) : whole,
    ),
    "latin1",
  ).toString("utf8");
}
