import { redactUrl } from "@fogis/runtime";
import { people, type people_v1 } from "@googleapis/people";
import type { Logger } from "pino";
import { z } from "zod";
import type { PushCounts, PushSnapshot } from "../push-backend.js";
import { PushError } from "../push-backend.js";
import { PushStateStore } from "../push-state-store.js";
import { MAX_WRITE_ATTEMPTS, StatefulPushBackend } from "../stateful-push-backend.js";
import {
  type DesiredContact,
  desiredContacts,
  EXTERNAL_ID_PREFIX,
  fingerprint,
  ownedFingerprints,
  PERSON_FIELDS,
  type Person,
  personFor,
  SHARED_FIELDS,
  theirValues,
  UPDATE_FIELDS,
} from "./google-person.js";
import { GoogleApiError, type GoogleBackendOptions, GoogleRequests } from "./google-requests.js";

/**
 * The phonebook in the referee's Google Contacts (People API v1), a drop-in for the Python
 * service: one contact per co-referee, known by the external id `FogisId=DomarNr=<domarnr>`
 * (type `account`), in the contact group GOOGLE_CONTACTS_GROUP ("Referees", the Python service's).
 *
 * - Adoption: contacts have no client-chosen ids, so the first sync (and any sync after a create
 *   whose answer was lost) lists the connections once and takes over every contact carrying our
 *   external id, the Python service's included, instead of creating a duplicate. A create is
 *   recorded in the state file before it is sent, so a crash in between is noticed.
 * - Updates carry the etag last seen (the People API's conditional update): a contact the referee
 *   has not touched costs one call; one they edited answers 400 FAILED_PRECONDITION and is read,
 *   merged and written again. Only the fields FOGIS fills are in `updatePersonFields`; the
 *   referee's photo, birthday, nickname, relations, notes in other fields, are never sent. In the
 *   lists we share (phone numbers, e-mail addresses, addresses, organizations, external ids) only
 *   the values we wrote are replaced; the referee's own values are kept.
 * - A contact the referee deleted stays deleted until FOGIS changes that referee's details (then
 *   the update meets a 404 and the contact is created anew).
 * - New contacts are created straight into the group (`memberships`), one call each; a
 *   members:modify afterwards would cost a call and change every new contact's etag.
 */

export interface GooglePeopleBackendOptions extends GoogleBackendOptions {
  /** GOOGLE_CONTACTS_GROUP: the contact group's name. */
  group: string;
}

/** A shared-list value as the referee left it (Google's output-only metadata stripped). */
const ValueSchema = z.record(z.string(), z.unknown());

const ItemSchema = z.object({
  /** people/c…; null while a create is in flight (then the next sync looks for it first). */
  resourceName: z.string().nullable(),
  etag: z.string().nullable(),
  hash: z.string().nullable(),
  /** Fingerprints of the shared-list values we wrote (replaced on the next write). */
  owned: z.array(z.string()),
  /** The referee's own values in the shared lists, as last seen (sent back with every write). */
  theirs: z.record(z.string(), z.array(ValueSchema)),
});

const StateSchema = z.object({
  version: z.literal(1),
  target: z.string(),
  groupResourceName: z.string().nullable(),
  /** The one-time listing of connections (adoption) is done. */
  scanned: z.boolean(),
  items: z.record(z.string(), ItemSchema),
});

type State = z.infer<typeof StateSchema>;

type DesiredContacts = Map<string, DesiredContact>;

export class GooglePeopleBackend extends StatefulPushBackend<State, DesiredContacts> {
  readonly name = "google-people";
  readonly kind = "google-people";
  protected readonly store: PushStateStore<State>;
  protected readonly transport: GoogleRequests;
  private readonly options: GooglePeopleBackendOptions;
  private readonly logger: Logger;
  private readonly api: people_v1.People;
  private checked = false;
  private readonly serverCopies = new Map<string, Person>();

  constructor(options: GooglePeopleBackendOptions) {
    super();
    this.options = options;
    this.logger = options.logger.child({ backend: this.name });
    const scopeFix =
      "the saved sign-in lacks access to Google Contacts; run `pnpm google-auth` (it asks for calendar and contacts access) and copy the token.json it writes to GOOGLE_TOKEN_FILE, or set GOOGLE_CONTACTS_GROUP empty for no contacts";
    this.transport = new GoogleRequests({ ...options, service: "Google Contacts", scopeFix });
    this.api = people({ version: "v1", ...this.transport.clientOptions(options.apiBaseUrl) });
    this.store = new PushStateStore({
      name: this.name,
      dataDir: options.dataDir,
      schema: StateSchema,
      target: ["google-people", options.group, options.auth.client._clientId ?? ""],
      empty: (target) => ({ version: 1, target, groupResourceName: null, scanned: false, items: {} }),
      logger: this.logger,
      recovery: "the next sync finds our contacts again",
    });
  }

  describe(): Record<string, unknown> {
    return {
      contact_group: this.options.group,
      api: redactUrl(this.options.apiBaseUrl ?? "https://people.googleapis.com/"),
    };
  }

  protected override passScoped(): ReadonlyArray<{ clear(): void }> {
    return [this.serverCopies];
  }

  protected desired(snapshot: PushSnapshot): DesiredContacts {
    return desiredContacts(snapshot);
  }

  protected work(desired: DesiredContacts): number {
    return this.plan(desired).work;
  }

  protected accountChecked(): boolean {
    return this.checked;
  }

  protected async checkAccount(): Promise<void> {
    await this.ensureGroup();
    this.checked = true;
  }

  protected async reconcile(desired: DesiredContacts, counts: PushCounts): Promise<void> {
    const inFlight = Object.values(this.state.items).some((item) => item.resourceName === null);
    if (!this.state.scanned || inFlight) await this.adopt(desired);
    await this.write(desired, counts);
  }

  private plan(desired: DesiredContacts): {
    work: number;
    create: DesiredContact[];
    update: DesiredContact[];
    remove: string[];
  } {
    const create: DesiredContact[] = [];
    const update: DesiredContact[] = [];
    for (const contact of desired.values()) {
      const known = this.state.items[contact.key];
      if (!known || known.resourceName === null) create.push(contact);
      else if (known.hash !== contact.hash) update.push(contact);
    }
    const remove = Object.keys(this.state.items).filter((key) => !desired.has(key));
    return { work: create.length + update.length + remove.length, create, update, remove };
  }

  /** Finds the contact group by name, or creates it (once; its resource name is kept). */
  private async ensureGroup(): Promise<string> {
    if (this.state.groupResourceName && this.checked) return this.state.groupResourceName;
    const listed = await this.transport.call("list the contact groups", () =>
      this.api.contactGroups.list({ pageSize: 1000 }),
    );
    const found = (listed.contactGroups ?? []).find(
      (group) => group.groupType === "USER_CONTACT_GROUP" && group.name === this.options.group,
    );
    let resourceName = found?.resourceName ?? undefined;
    if (!resourceName) {
      const created = await this.transport.call("create the contact group", () =>
        this.api.contactGroups.create({ requestBody: { contactGroup: { name: this.options.group } } }),
      );
      resourceName = created.resourceName ?? undefined;
      if (!resourceName)
        throw new PushError("Google Contacts created the group without a name", { kind: "transient" });
      this.logger.info(
        { event: "push_collection_created" },
        `created the contact group "${this.options.group}"`,
      );
    }
    this.state.groupResourceName = resourceName;
    return resourceName;
  }

  /** Lists the connections once and takes over every contact carrying our external id. */
  private async adopt(desired: DesiredContacts): Promise<void> {
    const byNumber = new Map<string, Person>();
    const listing = this.transport.pages("list the contacts", (pageToken) =>
      this.api.people.connections.list({
        resourceName: "people/me",
        personFields: PERSON_FIELDS,
        pageSize: 1000,
        pageToken,
      }),
    );
    for await (const page of listing) {
      for (const person of page.connections ?? []) {
        for (const id of person.externalIds ?? []) {
          const value = id.value ?? "";
          if (!value.startsWith(EXTERNAL_ID_PREFIX)) continue;
          const number = value.slice(EXTERNAL_ID_PREFIX.length);
          if (byNumber.has(number)) {
            this.logger.warn(
              { event: "push_duplicate_left_alone", referee: number },
              "more than one contact carries this referee's FOGIS id; adopting one, leaving the others alone",
            );
          } else byNumber.set(number, person);
        }
      }
    }
    let adopted = 0;
    for (const contact of desired.values()) {
      const known = this.state.items[contact.key];
      if (known?.resourceName) continue;
      const person = byNumber.get(contact.key);
      if (!person?.resourceName) {
        if (known) delete this.state.items[contact.key]; // the create never happened
        continue;
      }
      // Adopted: the shared-list values that are there were written by a FOGIS sync (the Python
      // service replaced them on every update too), so they are ours to replace.
      this.state.items[contact.key] = {
        resourceName: person.resourceName,
        etag: person.etag ?? null,
        hash: null,
        owned: SHARED_FIELDS.flatMap((field) =>
          field === "organizations" ? [] : (person[field] ?? []).map((value) => fingerprint(field, value)),
        ),
        theirs: {},
      };
      this.serverCopies.set(contact.key, person);
      adopted += 1;
    }
    this.state.scanned = true;
    if (adopted) {
      this.logger.info(
        { event: "push_items_adopted", found: adopted },
        `took over ${adopted} referee contacts already in Google Contacts (the Python service's, or ours)`,
      );
    }
  }

  private async write(desired: DesiredContacts, counts: PushCounts): Promise<void> {
    const plan = this.plan(desired);
    // Every create is on disk before it is sent, so a crash in between is found by the next listing.
    for (const contact of plan.create) {
      this.state.items[contact.key] ??= { resourceName: null, etag: null, hash: null, owned: [], theirs: {} };
    }
    if (plan.create.length) await this.store.save();
    for (const contact of plan.create) await this.create(contact, counts);
    for (const contact of plan.update) await this.update(contact, counts);
    for (const key of plan.remove) await this.remove(key, counts);
  }

  private async create(contact: DesiredContact, counts: PushCounts): Promise<void> {
    const body = personFor(contact, {});
    // Created straight into the group: no members:modify afterwards, which would change the etag.
    const group = this.state.groupResourceName;
    const memberships = group ? [{ contactGroupMembership: { contactGroupResourceName: group } }] : [];
    let person: Person;
    try {
      person = await this.transport.call(`create the contact of referee ${contact.key}`, () =>
        this.api.people.createContact({ personFields: "metadata", requestBody: { ...body, memberships } }),
      );
    } catch (error) {
      if (group && error instanceof GoogleApiError && (error.status === 400 || error.status === 404)) {
        // Most likely the referee deleted the group: found or made again at the next sync.
        this.state.groupResourceName = null;
        this.checked = false;
        throw new PushError(
          `Google Contacts refused a contact for the group "${this.options.group}" (${error.message})`,
          {
            kind: "transient",
            cause: error,
          },
        );
      }
      throw error;
    }
    if (!person.resourceName)
      throw new PushError("Google Contacts created a contact without a name", { kind: "transient" });
    this.state.items[contact.key] = {
      resourceName: person.resourceName,
      etag: person.etag ?? null,
      hash: contact.hash,
      owned: ownedFingerprints(body),
      theirs: {},
    };
    counts.created += 1;
  }

  private async update(contact: DesiredContact, counts: PushCounts): Promise<void> {
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt += 1) {
      const known = this.state.items[contact.key];
      if (!known?.resourceName) return;
      const resourceName = known.resourceName;
      let server = this.serverCopies.get(contact.key);
      this.serverCopies.delete(contact.key);
      if (!server && known.etag === null) {
        server = await this.read(resourceName);
        if (!server) return this.recreate(contact, counts);
      }
      const owned = new Set(known.owned);
      const theirs = server ? theirValues(server, owned) : known.theirs;
      const body = personFor(contact, theirs);
      const etag = server?.etag ?? known.etag;
      try {
        const written = await this.transport.call(`update the contact of referee ${contact.key}`, () =>
          this.api.people.updateContact({
            resourceName,
            updatePersonFields: UPDATE_FIELDS,
            personFields: "metadata",
            requestBody: { ...body, etag },
          }),
        );
        Object.assign(known, {
          etag: written.etag ?? null,
          hash: contact.hash,
          owned: ownedFingerprints(personFor(contact, {})),
          theirs,
        });
        counts.updated += 1;
        return;
      } catch (error) {
        if (!(error instanceof GoogleApiError)) throw error;
        // Deleted by the referee, and FOGIS has changed this referee since: a new contact.
        if (error.status === 404) return this.recreate(contact, counts);
        const stale = error.status === 400 && /FAILED_PRECONDITION|failedPrecondition/.test(error.reason);
        if (!stale && error.status !== 412) throw error;
      }
      counts.conflicts += 1;
      known.etag = null;
    }
    throw new PushError(`the contact of referee ${contact.key} kept changing while we wrote it`, {
      kind: "transient",
    });
  }

  private async recreate(contact: DesiredContact, counts: PushCounts): Promise<void> {
    this.logger.info(
      { event: "push_item_restored", referee: contact.key },
      "FOGIS changed a referee whose contact was deleted; it is back",
    );
    this.state.items[contact.key] = { resourceName: null, etag: null, hash: null, owned: [], theirs: {} };
    await this.store.save();
    await this.create(contact, counts);
  }

  private async remove(key: string, counts: PushCounts): Promise<void> {
    const known = this.state.items[key];
    if (!known?.resourceName) {
      delete this.state.items[key];
      return;
    }
    const resourceName = known.resourceName;
    try {
      await this.transport.call("delete the contact of a referee no longer in the phonebook", () =>
        this.api.people.deleteContact({ resourceName }),
      );
      counts.removed += 1;
    } catch (error) {
      if (!(error instanceof GoogleApiError && error.status === 404)) throw error;
    }
    delete this.state.items[key];
  }

  /** One contact; undefined when the referee deleted it. */
  private read(resourceName: string): Promise<Person | undefined> {
    const request = { resourceName, personFields: PERSON_FIELDS };
    return this.transport.callUnlessGone("read a contact", () => this.api.people.get(request), [404]);
  }
}
