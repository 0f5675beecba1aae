import type { Logger } from "pino";
import type { PushStateStore } from "../push-state-store.js";
import { type DavConnection, type DavMember, pathOf } from "./dav-connection.js";
import type { DavFlavor, DavItem } from "./dav-flavor.js";
import type { DavState } from "./dav-state.js";

/**
 * What changed in a DAV collection since the last pass, read before the backend writes: the
 * referee's edits (an ETag that moved: the next update re-reads and merges) and deletions (left
 * deleted until FOGIS changes the item), and our items the state does not know (a lost state file,
 * a pass that crashed, the feed imported by hand), which are adopted instead of written twice.
 * sync-collection (RFC 6578) tells it in one request; a token the server forgot means one full
 * listing, then deltas again.
 */

export interface DavServerChangesOptions {
  connection: DavConnection;
  flavor: DavFlavor;
  store: PushStateStore<DavState>;
  /** Server copies learned this pass (from sync-collection or multiget), by item key; the writes use them. */
  serverCopies: Map<string, DavMember>;
  /** The collection is gone from the server: the backend starts over (throws). */
  collectionGone: () => never;
  logger: Logger;
}

export class DavServerChanges {
  private readonly options: DavServerChangesOptions;
  private readonly connection: DavConnection;
  private readonly logger: Logger;
  private readonly serverCopies: Map<string, DavMember>;
  /**
   * Resources not at our names, by path, with the ETag at which we last looked inside them for our
   * UIDs (someone may have imported the feed or the phonebook into this collection).
   */
  private readonly foreignSeen = new Map<string, string>();

  constructor(options: DavServerChangesOptions) {
    this.options = options;
    this.connection = options.connection;
    this.logger = options.logger;
    this.serverCopies = options.serverCopies;
  }

  private get state(): DavState {
    return this.options.store.state;
  }

  private collectionUrl(): string {
    if (!this.state.collectionUrl) throw new Error("no collection yet");
    return this.state.collectionUrl;
  }

  /**
   * Learns what changed on the server since the last pass: the referee's edits and deletions of
   * our items, and (when the state was lost) our items already there.
   */
  async refresh(desired: Map<string, DavItem>): Promise<void> {
    const url = this.collectionUrl();
    const byPath = new Map(Object.entries(this.state.items).map(([key, item]) => [item.href, key]));
    const collectionPath = pathOf(url, url);
    /** A resource at one of our names, directly in the collection, is ours even without state. */
    const ourName = (path: string) => {
      if (!path.startsWith(collectionPath)) return undefined;
      const name = path.slice(collectionPath.length);
      return name.includes("/") ? undefined : this.options.flavor.keyForName(name);
    };
    let changed: DavMember[];
    let deleted: string[] = [];
    // Without a token the answer lists everything, so whatever it leaves out is gone.
    let complete = this.state.syncToken === null;
    let outcome = await this.connection.syncCollection(
      url,
      this.state.syncToken,
      this.state.syncToken !== null,
    );
    if (outcome.kind === "invalid-token") {
      this.logger.info(
        { event: "push_sync_token_invalid" },
        "the server no longer knows our sync token; listing the collection once",
      );
      outcome = await this.connection.syncCollection(url, null, false);
      complete = true;
    }
    if (outcome.kind === "gone") this.options.collectionGone();
    if (outcome.kind === "ok") {
      changed = outcome.changed;
      deleted = outcome.deleted;
      this.state.syncToken = outcome.token;
    } else {
      changed = await this.connection.members(url);
      complete = true;
      this.state.syncToken = null;
    }

    const present = new Set<string>();
    const foreign: DavMember[] = [];
    for (const member of changed) {
      present.add(member.path);
      const key = byPath.get(member.path) ?? ourName(member.path);
      if (key === undefined) {
        if (this.foreignSeen.get(member.path) !== (member.etag ?? "")) foreign.push(member);
        continue;
      }
      const known = this.state.items[key];
      if (!known) {
        // Ours by name, not in the state (lost, or written by a pass that crashed): adopt it.
        // If FOGIS no longer has it, the plan removes it like any other item of ours.
        this.adopt(key, member);
      } else if (known.deleted || known.etag !== member.etag) {
        if (known.deleted) {
          this.logger.info({ event: "push_item_restored", key }, "an item deleted on the server is back");
        }
        known.etag = member.etag;
        known.pristine = false;
        known.deleted = false;
      } else {
        continue;
      }
      if (member.data !== undefined) this.serverCopies.set(key, member);
    }
    const gone = new Set(deleted);
    if (complete) {
      for (const item of Object.values(this.state.items)) if (!present.has(item.href)) gone.add(item.href);
      for (const path of this.foreignSeen.keys()) if (!present.has(path)) this.foreignSeen.delete(path);
    }
    for (const path of gone) {
      this.foreignSeen.delete(path);
      const key = byPath.get(path);
      const known = key === undefined ? undefined : this.state.items[key];
      if (!known || known.deleted) continue;
      known.deleted = true;
      known.etag = null;
      this.logger.info(
        { event: "push_item_deleted_by_user", key },
        "the referee deleted one of our items; it stays deleted until FOGIS changes it",
      );
    }
    await this.lookInside(foreign);
    await this.checkAdopted(desired);
  }

  /**
   * Resources at names that are not ours may still hold our items (the feed or the phonebook
   * imported into this collection, a card a phone re-saved under its own name): found by UID,
   * they are adopted, so we update them instead of writing a duplicate next to them. Each is read
   * once per ETag.
   */
  private async lookInside(foreign: DavMember[]): Promise<void> {
    if (!foreign.length) return;
    const unread = foreign.filter((member) => member.data === undefined).map((member) => member.path);
    const fetched = unread.length ? await this.connection.multiget(this.collectionUrl(), unread) : new Map();
    for (const member of foreign) {
      const copy = member.data === undefined ? fetched.get(member.path) : member;
      this.foreignSeen.set(member.path, member.etag ?? "");
      if (!copy?.data) continue;
      for (const key of this.options.flavor.keysIn(copy.data)) {
        const known = this.state.items[key];
        if (known && !known.deleted) {
          this.logger.warn(
            { event: "push_duplicate_left_alone", key, path: member.path },
            "a resource not made by us carries the UID of one of our items; leaving it alone",
          );
          continue;
        }
        this.logger.info(
          { event: "push_item_adopted", key, path: member.path },
          "found one of our items under another name",
        );
        this.adopt(key, copy);
        this.serverCopies.set(key, copy);
        this.foreignSeen.delete(member.path);
      }
    }
  }

  private adopt(key: string, member: DavMember): void {
    this.state.items[key] = {
      href: member.path,
      etag: member.etag,
      hash: null,
      pristine: false,
      deleted: false,
    };
  }

  /** Adopted items whose server copy already shows what we would write need no write. */
  private async checkAdopted(desired: Map<string, DavItem>): Promise<void> {
    const adopted = Object.entries(this.state.items).filter(
      ([key, item]) => item.hash === null && !item.deleted && desired.has(key),
    );
    if (!adopted.length) return;
    const missing = adopted.filter(([key]) => !this.serverCopies.has(key)).map(([, item]) => item.href);
    const fetched = missing.length
      ? await this.connection.multiget(this.collectionUrl(), missing)
      : new Map();
    let current = 0;
    for (const [key, item] of adopted) {
      const copy = this.serverCopies.get(key) ?? fetched.get(item.href);
      if (!copy?.data) continue;
      this.serverCopies.set(key, copy);
      item.etag = copy.etag ?? item.etag;
      const wanted = desired.get(key);
      if (wanted?.shows(copy.data)) {
        item.hash = wanted.hash;
        current += 1;
      }
    }
    this.logger.info(
      { event: "push_items_adopted", found: adopted.length, current },
      `found ${adopted.length} of our items already in the ${this.options.flavor.label}; ${current} already current`,
    );
  }

  /** Our item under a resource name that is not ours (made by another tool, moved by an app). */
  async findByKey(key: string): Promise<DavMember | undefined> {
    const url = this.collectionUrl();
    const listed = await this.connection.syncCollection(url, null, false);
    const members = listed.kind === "ok" ? listed.changed : await this.connection.members(url);
    const known = new Set(Object.values(this.state.items).map((item) => item.href));
    const candidates = members.map((member) => member.path).filter((path) => !known.has(path));
    const copies = await this.connection.multiget(url, candidates);
    for (const copy of copies.values())
      if (copy.data && this.options.flavor.keysIn(copy.data).includes(key)) return copy;
    return undefined;
  }
}
