import type { PushSnapshot } from "../push-backend.js";
import type { DavItemState } from "./dav-state.js";

/**
 * What the DAV backend writes, one kind at a time: a `DavFlavor` (CalDAV's events in caldav.ts,
 * CardDAV's cards in carddav.ts) says what a snapshot's items are, how each renders and merges,
 * and how the flavor's resource names and UIDs tell our items apart.
 */

export interface DavItem {
  /** State key: the event UID, the referee number. */
  key: string;
  /** Resource name in the collection, e.g. `fogis-match-6143017.ics`. */
  name: string;
  /** Covers everything FOGIS shows in the item; a new hash means the item must be written. */
  hash: string;
  /**
   * The body to write: ours alone, or merged into the server's copy when there is one. `extra`
   * is kept in the item's state for the next merge.
   */
  render(
    previous: DavItemState | undefined,
    server: string | undefined,
  ): { body: string; extra: DavItemExtra };
  /** Whether a server copy already shows what we would write (after a lost state file). */
  shows(server: string): boolean;
}

export interface DavItemExtra {
  sequence?: number;
  owned?: string[];
}

export interface DavFlavor {
  kind: "caldav" | "carddav";
  /** "calendar" or "address book", for messages. */
  label: string;
  /** The resourcetype element of the collection. */
  collectionType: "calendar" | "addressbook";
  /** The variable that names the collection, for messages. */
  collectionVariable: string;
  items(snapshot: PushSnapshot): DavItem[];
  /** The item key a resource name of ours stands for (`fogis-match-1.ics` -> its UID); else undefined. */
  keyForName(name: string): string | undefined;
  /** The keys of our items a resource holds, by their UIDs (to find ours under another name). */
  keysIn(data: string): string[];
}
