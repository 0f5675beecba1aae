import { createHash } from "node:crypto";
import { join } from "node:path";
import { readJsonFile, redactUrl, writeJsonAtomic } from "@fogis/runtime";
import type { Logger } from "pino";
import { z } from "zod";
import type { StateLoadReport } from "../../calendar-backend.js";
import type { PushBackend, PushContext, PushCounts, PushSnapshot } from "../push-backend.js";
import { PushError } from "../push-backend.js";
import { DavConnection, type DavMember, DavStatusError, pathOf } from "./dav-connection.js";

/**
 * The rules of DESIGN §11 for one CalDAV calendar or CardDAV address book; what an item is (an
 * event, a card) comes from a `DavFlavor`.
 *
 * - One resource per item, named deterministically (`fogis-match-<matchid>.ics`), created with
 *   If-None-Match: * and updated or deleted with If-Match, so retries, restarts and a lost state
 *   file never make a duplicate: a create that finds the name taken adopts what is there.
 * - Before writing, sync-collection (RFC 6578) tells what changed on the server since the last
 *   pass, in one request: an ETag that moved means the referee edited the item (the next update
 *   re-reads it and merges), a 404 means they deleted it (it stays deleted until FOGIS changes that
 *   match). A token the server forgot means one full listing, then deltas again.
 * - A 412 on a write means it changed meanwhile: re-read, merge, write again.
 * - Only items in the state file, or at our own resource names, or carrying our UID, are touched.
 * - A snapshot that changes nothing costs no request.
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

export interface DavBackendOptions {
  flavor: DavFlavor;
  /** Status entry, metric label and state file name. */
  name: string;
  url: string;
  username: string | undefined;
  password: string | undefined;
  /** Display name of the calendar or address book. */
  collection: string;
  dataDir: string;
  logger: Logger;
  fetch?: typeof fetch;
  requestTimeoutMs?: number;
  /** Writes in flight at once. */
  concurrency?: number;
}

const ItemStateSchema = z.object({
  /** Path of the resource on the server. */
  href: z.string(),
  /** The server's ETag as last seen; null when unknown (then it is read before a write). */
  etag: z.string().nullable(),
  /** Hash of what FOGIS showed when we last wrote it (or found it current); null: not known yet. */
  hash: z.string().nullable(),
  /** The server copy is exactly what we rendered, with nothing of the referee's to keep. */
  pristine: z.boolean(),
  /** The referee deleted it; left alone until the hash changes. */
  deleted: z.boolean(),
  sequence: z.number().int().optional(),
  owned: z.array(z.string()).optional(),
});

const StateSchema = z.object({
  version: z.literal(1),
  /** Which server, account and collection the items live in. */
  target: z.string(),
  collectionUrl: z.string().nullable(),
  syncToken: z.string().nullable(),
  items: z.record(z.string(), ItemStateSchema),
});

export type DavItemState = z.infer<typeof ItemStateSchema>;
type DavState = z.infer<typeof StateSchema>;

/** Attempts at one item when it keeps changing under us (each a 412, re-read and merge). */
const MAX_ATTEMPTS = 4;

export class DavBackend implements PushBackend {
  readonly name: string;
  readonly kind: string;
  private readonly flavor: DavFlavor;
  private readonly options: DavBackendOptions;
  private readonly logger: Logger;
  private readonly connection: DavConnection;
  private readonly statePath: string;
  private readonly target: string;
  private state: DavState;
  /** Server copies learned this pass (from sync-collection or multiget), by item key. */
  private serverCopies = new Map<string, DavMember>();
  private saving: Promise<void> = Promise.resolve();
  /**
   * Resources not at our names, by path, with the ETag at which we last looked inside them for our
   * UIDs (someone may have imported the feed or the phonebook into this collection).
   */
  private readonly foreignSeen = new Map<string, string>();

  constructor(options: DavBackendOptions) {
    this.flavor = options.flavor;
    this.options = options;
    this.name = options.name;
    this.kind = options.flavor.kind;
    this.logger = options.logger.child({ backend: options.name });
    this.connection = new DavConnection({
      url: options.url,
      username: options.username,
      password: options.password,
      accountType: options.flavor.kind,
      fetch: options.fetch,
      requestTimeoutMs: options.requestTimeoutMs,
    });
    this.statePath = join(options.dataDir, `${options.name}.json`);
    this.target = createHash("sha256")
      .update(JSON.stringify([options.flavor.kind, options.url, options.username ?? "", options.collection]))
      .digest("hex")
      .slice(0, 16);
    this.state = this.emptyState();
  }

  describe(): Record<string, unknown> {
    return {
      url: redactUrl(this.options.url),
      username: this.options.username ?? null,
      [this.flavor.collectionType === "calendar" ? "calendar" : "address_book"]: this.options.collection,
      collection_url: this.state.collectionUrl ? redactUrl(this.state.collectionUrl) : null,
    };
  }

  async load(): Promise<StateLoadReport> {
    const read = await readJsonFile(this.statePath);
    if (read.state === "missing") return read;
    const parsed = read.state === "ok" ? StateSchema.safeParse(read.value) : undefined;
    if (parsed?.success) {
      if (parsed.data.target !== this.target) {
        // Another server, account or collection name: start over there; the old one is left as it is.
        this.logger.info(
          { event: "push_target_changed", file: this.statePath },
          `the ${this.flavor.label} settings changed; starting fresh in the new ${this.flavor.label}`,
        );
        return { state: "ok", count: 0 };
      }
      this.state = parsed.data;
      return { state: "ok", count: Object.keys(parsed.data.items).length };
    }
    const reason = read.state === "corrupt" ? read.reason : "unexpected content";
    this.logger.error(
      { event: "state_corrupt", file: this.statePath, reason },
      `${this.name} state file is corrupt; starting empty: the next sync finds our items on the server again`,
    );
    return { state: "corrupt", reason };
  }

  pending(snapshot: PushSnapshot): number {
    return this.plan(this.flavor.items(snapshot)).work;
  }

  async sync(snapshot: PushSnapshot, context: PushContext): Promise<void> {
    const desired = new Map(this.flavor.items(snapshot).map((item) => [item.key, item]));
    const work = this.plan([...desired.values()]).work;
    // Nothing to write costs nothing, except once per start: the account is checked then, so a
    // wrong password or URL shows at once, not at the next change in FOGIS.
    if (work === 0 && this.connection.discovered) return;
    this.connection.useSignal(context.signal);
    const before = this.connection.requests;
    this.serverCopies = new Map();
    try {
      await this.ensureCollection();
      if (work === 0) return;
      await this.refresh(desired);
      await this.write(desired, context.counts);
    } catch (error) {
      if (error instanceof PushError) {
        throw new PushError(this.connection.scrub(error.message), {
          kind: error.kind,
          fix: error.fix,
          retryAfterMs: error.retryAfterMs,
          cause: error,
        });
      }
      throw error;
    } finally {
      context.counts.requests += this.connection.requests - before;
      this.serverCopies = new Map();
      await this.save();
    }
  }

  /** What the items need: creates, updates and removals, and those the referee deleted. */
  private plan(items: readonly DavItem[]): {
    work: number;
    create: DavItem[];
    update: DavItem[];
    remove: string[];
    keptDeleted: number;
  } {
    const create: DavItem[] = [];
    const update: DavItem[] = [];
    const wanted = new Set<string>();
    let keptDeleted = 0;
    for (const item of items) {
      wanted.add(item.key);
      const known = this.state.items[item.key];
      if (!known) create.push(item);
      else if (known.hash === item.hash) {
        if (known.deleted) keptDeleted += 1;
      } else if (known.deleted) create.push(item);
      else update.push(item);
    }
    const remove = Object.entries(this.state.items)
      .filter(([key, known]) => !wanted.has(key) && !known.deleted)
      .map(([key]) => key);
    return { work: create.length + update.length + remove.length, create, update, remove, keptDeleted };
  }

  private async ensureCollection(): Promise<void> {
    const home = await this.connection.home();
    if (this.state.collectionUrl) return;
    const { label, collectionType, collectionVariable } = this.flavor;
    const name = this.options.collection;
    const collections = await this.connection.collections(home);
    const same = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();
    const found = collections.find(
      (collection) => collection.types.includes(collectionType) && same(collection.displayName, name),
    );
    let url = found?.url;
    if (!url) {
      const taken = new Set(collections.map((collection) => collection.url));
      const slug = slugify(name) || collectionType;
      url = new URL(`${slug}/`, home).href;
      for (let n = 2; taken.has(url); n += 1) url = new URL(`${slug}-${n}/`, home).href;
      try {
        await this.connection.createCollection(url, name);
      } catch (error) {
        if (error instanceof DavStatusError && error.kind === "permanent") {
          throw new PushError(
            `the ${label} "${name}" does not exist and the server refused to create it (${error.status})`,
            {
              kind: "permanent",
              fix: `create a ${label} named "${name}" in your ${label} app, or set ${collectionVariable} to the name of one that exists`,
              cause: error,
            },
          );
        }
        throw error;
      }
      this.logger.info(
        { event: "push_collection_created", url: redactUrl(url) },
        `created the ${label} "${name}"`,
      );
    }
    // A new collection, or ours found again after the state was lost: what is in it is read below.
    this.state = { ...this.emptyState(), collectionUrl: url };
  }

  /**
   * Learns what changed on the server since the last pass: the referee's edits and deletions of
   * our items, and (when the state was lost) our items already there.
   */
  private async refresh(desired: Map<string, DavItem>): Promise<void> {
    const url = this.collectionUrl();
    const byPath = new Map(Object.entries(this.state.items).map(([key, item]) => [item.href, key]));
    const collectionPath = pathOf(url, url);
    /** A resource at one of our names, directly in the collection, is ours even without state. */
    const ourName = (path: string) => {
      if (!path.startsWith(collectionPath)) return undefined;
      const name = path.slice(collectionPath.length);
      return name.includes("/") ? undefined : this.flavor.keyForName(name);
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
    if (outcome.kind === "gone") this.collectionVanished();
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
      for (const key of this.flavor.keysIn(copy.data)) {
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
      `found ${adopted.length} of our items already in the ${this.flavor.label}; ${current} already current`,
    );
  }

  private async write(desired: Map<string, DavItem>, counts: PushCounts): Promise<void> {
    const plan = this.plan([...desired.values()]);
    counts.keptDeleted += plan.keptDeleted;
    // Deleted by the referee and gone from FOGIS too: nothing left to keep track of.
    for (const [key, item] of Object.entries(this.state.items)) {
      if (item.deleted && !desired.has(key)) delete this.state.items[key];
    }
    const jobs: Array<() => Promise<void>> = [
      ...plan.create.map((item) => () => this.create(item, counts)),
      ...plan.update.map((item) => () => this.update(item, counts)),
      ...plan.remove.map((key) => () => this.remove(key, counts)),
    ];
    let done = 0;
    await runAll(jobs, this.options.concurrency ?? 4, async () => {
      done += 1;
      // A first fill of hundreds of items saves as it goes, so a crash halfway redoes little.
      if (done % 25 === 0) await this.save();
    });
  }

  private async create(item: DavItem, counts: PushCounts): Promise<void> {
    const previous = this.state.items[item.key];
    const href = previous?.href ?? pathOf(item.name, this.collectionUrl());
    const { body, extra } = item.render(previous, undefined);
    const outcome = await this.connection.put(this.resourceUrl(href), body, { ifNoneMatch: true });
    if (outcome.kind === "ok") {
      this.state.items[item.key] = {
        href,
        etag: outcome.etag,
        hash: item.hash,
        pristine: true,
        deleted: false,
        ...extra,
      };
      counts.created += 1;
      return;
    }
    if (outcome.kind === "precondition-failed") {
      // Already there (a crash before the state was saved, another device): ours by name, so merge into it.
      this.state.items[item.key] = { href, etag: null, hash: null, pristine: false, deleted: false };
      await this.update(item, counts);
      return;
    }
    if (outcome.kind === "uid-conflict") {
      const found = await this.findByKey(item.key);
      if (!found)
        throw new PushError(`the server reports a UID conflict for ${item.name} but holds no such UID`, {
          kind: "transient",
        });
      this.logger.info(
        { event: "push_item_adopted", key: item.key },
        "found our item under another name; using it",
      );
      this.state.items[item.key] = {
        href: found.path,
        etag: found.etag,
        hash: null,
        pristine: false,
        deleted: false,
      };
      this.serverCopies.set(item.key, found);
      await this.update(item, counts);
      return;
    }
    this.collectionVanished();
  }

  private async update(item: DavItem, counts: PushCounts): Promise<void> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
      const known = this.state.items[item.key];
      if (!known) return;
      const url = this.resourceUrl(known.href);
      let server = this.serverCopies.get(item.key);
      this.serverCopies.delete(item.key);
      if ((!known.pristine || !known.etag) && !server) {
        const read = await this.connection.get(url);
        if (!read) {
          // Deleted on the server, and FOGIS has changed the match since: it comes back.
          known.deleted = true;
          await this.create(item, counts);
          return;
        }
        server = { path: known.href, etag: read.etag, data: read.data };
      }
      const etag = server ? server.etag : known.etag;
      if (!etag) throw new PushError(`the server sent no ETag for ${known.href}`, { kind: "transient" });
      const fresh = item.render(known, undefined);
      const { body, extra } = server?.data === undefined ? fresh : item.render(known, server.data);
      const outcome = await this.connection.put(url, body, { ifMatch: etag });
      if (outcome.kind === "ok") {
        Object.assign(known, {
          etag: outcome.etag,
          hash: item.hash,
          // Next time our rendering alone will do, unless the referee's lines were merged in.
          pristine: body === fresh.body,
          deleted: false,
          ...extra,
        });
        counts.updated += 1;
        return;
      }
      if (outcome.kind === "not-found") {
        known.deleted = true;
        await this.create(item, counts);
        return;
      }
      if (outcome.kind === "uid-conflict") {
        throw new PushError(`the server reports a UID conflict when updating ${known.href}`, {
          kind: "transient",
        });
      }
      // 412: changed since we read it; read again and merge.
      counts.conflicts += 1;
      known.pristine = false;
      known.etag = null;
    }
    throw new PushError(`${item.name} kept changing on the server while we wrote it`, { kind: "transient" });
  }

  private async remove(key: string, counts: PushCounts): Promise<void> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
      const known = this.state.items[key];
      if (!known) return;
      const url = this.resourceUrl(known.href);
      let etag = known.etag;
      if (!etag) {
        const read = await this.connection.get(url);
        etag = read?.etag ?? null;
        if (!read || !etag) {
          delete this.state.items[key];
          return;
        }
      }
      const outcome = await this.connection.delete(url, etag);
      if (outcome !== "precondition-failed") {
        delete this.state.items[key];
        if (outcome === "ok") counts.removed += 1;
        return;
      }
      // The referee changed it meanwhile; the match is gone from FOGIS all the same.
      counts.conflicts += 1;
      known.etag = null;
    }
    throw new PushError(`${key} kept changing on the server while we deleted it`, { kind: "transient" });
  }

  /** Our item under a resource name that is not ours (made by another tool, moved by an app). */
  private async findByKey(key: string): Promise<DavMember | undefined> {
    const url = this.collectionUrl();
    const listed = await this.connection.syncCollection(url, null, false);
    const members = listed.kind === "ok" ? listed.changed : await this.connection.members(url);
    const known = new Set(Object.values(this.state.items).map((item) => item.href));
    const candidates = members.map((member) => member.path).filter((path) => !known.has(path));
    const copies = await this.connection.multiget(url, candidates);
    for (const copy of copies.values())
      if (copy.data && this.flavor.keysIn(copy.data).includes(key)) return copy;
    return undefined;
  }

  /** The collection is gone (the referee deleted the whole calendar): find or create it again. */
  private collectionVanished(): never {
    this.logger.warn(
      { event: "push_collection_gone" },
      `the ${this.flavor.label} is gone from the server; creating it again`,
    );
    this.state = this.emptyState();
    this.connection.forgetHome();
    throw new PushError(`the ${this.flavor.label} "${this.options.collection}" was deleted on the server`, {
      kind: "transient",
    });
  }

  private collectionUrl(): string {
    if (!this.state.collectionUrl) throw new Error("no collection yet");
    return this.state.collectionUrl;
  }

  private resourceUrl(path: string): string {
    return new URL(
      path
        .split("/")
        .map((segment) => encodeURIComponent(segment))
        .join("/"),
      this.collectionUrl(),
    ).href;
  }

  private emptyState(): DavState {
    return { version: 1, target: this.target, collectionUrl: null, syncToken: null, items: {} };
  }

  /** Saves are chained, so an older state never lands after a newer one. */
  private save(): Promise<void> {
    this.saving = this.saving.then(() =>
      writeJsonAtomic(this.statePath, this.state).catch((error: Error) => {
        this.logger.warn(
          { event: "state_write_failed", file: this.statePath, err: error.message },
          "could not save the push state; the next sync re-reads the server",
        );
      }),
    );
    return this.saving;
  }
}

/**
 * Runs jobs `limit` at a time. A transient failure (the server went away) stops taking new jobs;
 * a permanent one (this item refused) lets the others go on. Resolves when all that started have
 * finished; then throws the first failure.
 */
async function runAll(
  jobs: ReadonlyArray<() => Promise<void>>,
  limit: number,
  afterEach: () => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: unknown;
  let stop = false;
  const worker = async () => {
    while (!stop && next < jobs.length) {
      const job = jobs[next];
      next += 1;
      try {
        await job?.();
        await afterEach();
      } catch (error) {
        failure ??= error;
        if (!(error instanceof PushError) || error.kind === "transient") stop = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  if (failure !== undefined) throw failure;
}

function slugify(name: string): string {
  return name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}
