import { redactUrl } from "@fogis/runtime";
import type { Logger } from "pino";
import type { PushCounts, PushSnapshot } from "../push-backend.js";
import { PushError } from "../push-backend.js";
import { PushStateStore } from "../push-state-store.js";
import { MAX_WRITE_ATTEMPTS, StatefulPushBackend } from "../stateful-push-backend.js";
import { DavConnection, type DavMember, DavStatusError, pathOf } from "./dav-connection.js";
import type { DavFlavor, DavItem } from "./dav-flavor.js";
import { DavServerChanges } from "./dav-server-changes.js";
import { type DavState, DavStateSchema } from "./dav-state.js";

/**
 * The rules of DESIGN §11 for one CalDAV calendar or CardDAV address book; what an item is (an
 * event, a card) comes from a `DavFlavor` (dav-flavor.ts), what changed on the server from
 * `DavServerChanges` (dav-server-changes.ts).
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

export class DavBackend extends StatefulPushBackend<DavState, Map<string, DavItem>> {
  readonly name: string;
  readonly kind: string;
  protected readonly store: PushStateStore<DavState>;
  private readonly flavor: DavFlavor;
  private readonly options: DavBackendOptions;
  private readonly logger: Logger;
  private readonly connection: DavConnection;
  private readonly serverChanges: DavServerChanges;
  /** Server copies learned this pass (from sync-collection or multiget), by item key. */
  private readonly serverCopies = new Map<string, DavMember>();

  constructor(options: DavBackendOptions) {
    super();
    const { flavor } = options;
    this.flavor = flavor;
    this.options = options;
    this.name = options.name;
    this.kind = flavor.kind;
    this.logger = options.logger.child({ backend: options.name });
    this.connection = new DavConnection({
      url: options.url,
      username: options.username,
      password: options.password,
      accountType: flavor.kind,
      fetch: options.fetch,
      requestTimeoutMs: options.requestTimeoutMs,
    });
    this.store = new PushStateStore({
      name: options.name,
      dataDir: options.dataDir,
      schema: DavStateSchema,
      target: [flavor.kind, options.url, options.username ?? "", options.collection],
      empty: (target) => ({ version: 1, target, collectionUrl: null, syncToken: null, items: {} }),
      logger: this.logger,
      targetChangedMessage: `the ${flavor.label} settings changed; starting fresh in the new ${flavor.label}`,
      recovery: "the next sync finds our items on the server again",
      writeFailedRecovery: "the next sync re-reads the server",
    });
    this.serverChanges = new DavServerChanges({
      connection: this.connection,
      flavor,
      store: this.store,
      serverCopies: this.serverCopies,
      collectionGone: () => this.collectionVanished(),
      logger: this.logger,
    });
  }

  protected get transport(): DavConnection {
    return this.connection;
  }

  protected override passScoped(): ReadonlyArray<{ clear(): void }> {
    return [this.serverCopies];
  }

  describe(): Record<string, unknown> {
    return {
      url: redactUrl(this.options.url),
      username: this.options.username ?? null,
      [this.flavor.collectionType === "calendar" ? "calendar" : "address_book"]: this.options.collection,
      collection_url: this.state.collectionUrl ? redactUrl(this.state.collectionUrl) : null,
    };
  }

  protected desired(snapshot: PushSnapshot): Map<string, DavItem> {
    return new Map(this.flavor.items(snapshot).map((item) => [item.key, item]));
  }

  protected work(desired: Map<string, DavItem>): number {
    return this.plan([...desired.values()]).work;
  }

  protected accountChecked(): boolean {
    return this.connection.discovered;
  }

  protected async reconcile(desired: Map<string, DavItem>, counts: PushCounts): Promise<void> {
    await this.serverChanges.refresh(desired);
    await this.write(desired, counts);
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

  /** Discovers the account, and finds or creates the collection (once; its URL is kept in the state). */
  protected async checkAccount(): Promise<void> {
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
    this.store.reset().collectionUrl = url;
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
      if (done % 25 === 0) await this.store.save();
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
      const found = await this.serverChanges.findByKey(item.key);
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
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt += 1) {
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
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt += 1) {
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

  /** The collection is gone (the referee deleted the whole calendar): find or create it again. */
  private collectionVanished(): never {
    this.logger.warn(
      { event: "push_collection_gone" },
      `the ${this.flavor.label} is gone from the server; creating it again`,
    );
    this.store.reset();
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
