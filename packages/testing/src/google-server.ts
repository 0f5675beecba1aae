import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { LoopbackServer } from "./loopback-server.js";

/**
 * A local stand-in for Google's OAuth 2.0 endpoints, the Calendar API v3 and the People API v1,
 * for tests: Google has no emulator, and tests never leave 127.0.0.1. It follows Google's
 * documented behaviour, errors included, in the JSON shapes Google sends:
 *
 * OAuth (developers.google.com/identity/protocols/oauth2/native-app)
 * - `GET /o/oauth2/v2/auth`: a Desktop client's consent page. The stand-in "user" consents (or,
 *   with `denyConsent`, refuses) and is redirected to the loopback `redirect_uri` with `code` and
 *   `state` (or `error=access_denied`). Only `http://127.0.0.1:<port>` / `localhost` redirects and
 *   `code_challenge_method=S256` are accepted.
 * - `POST /token`: `authorization_code` (checks the redirect URI and the PKCE verifier) and
 *   `refresh_token` grants; a revoked or unknown refresh token answers 400 `invalid_grant`
 *   ("Token has been expired or revoked."), a wrong client 401 `invalid_client`. Access tokens
 *   expire after `accessTokenSeconds`; a refresh never returns a new refresh token.
 *
 * Every API call needs a live access token (else 401 `authError`) with the API's scope (else 403
 * `insufficientPermissions` / ACCESS_TOKEN_SCOPE_INSUFFICIENT).
 *
 * Calendar API v3 (developers.google.com/calendar/api: events, guides/version-resources,
 * guides/sync, guides/errors)
 * - `calendars.get`; `primary` is the account's own calendar; unknown calendars are 404 notFound.
 * - `events.insert` with a client-chosen `id`: base32hex (a-v, 0-9), 5-1024 characters, else 400;
 *   an id already taken, also by a deleted event, is 409 `duplicate` ("The requested identifier
 *   already exists.").
 * - Every event has an `etag` that changes with every write; `events.patch`/`update`/`delete` with
 *   `If-Match` answer 412 `conditionNotMet` when it differs. `patch` merges nested objects
 *   (`extendedProperties.private` keys) and replaces arrays.
 * - A deleted event keeps its id with `status: "cancelled"`: `events.get` still returns it,
 *   `events.list` shows it only with `showDeleted=true` or in an incremental sync, deleting it again
 *   is 410 `deleted`, and a patch/update with `status: "confirmed"` brings it back.
 * - `events.list`: `privateExtendedProperty` / `sharedExtendedProperty` filters (`key=value`, all
 *   must match), `maxResults` (<= 2500) with `pageToken`, `nextSyncToken` on the last page;
 *   `syncToken` returns what changed since (deleted events included), refuses the filters Google
 *   refuses with it (400) and `showDeleted=false`, and answers 410 `fullSyncRequired` for a token
 *   it no longer knows (`expireSyncTokens()`).
 * - Errors as the errors guide has them: 429 `rateLimitExceeded`, 403 `userRateLimitExceeded` /
 *   `rateLimitExceeded`, 503 `backendError`, with `Retry-After` when a fault sets one.
 *
 * People API v1 (developers.google.com/people/api/rest/v1: people, people.connections,
 * contactGroups, contactGroups.members)
 * - `people.createContact`, `people.get` (personFields required), `people.deleteContact`,
 *   `people.connections.list` (people/me; personFields required; pageSize <= 1000; sync tokens,
 *   an expired one is 400 FAILED_PRECONDITION EXPIRED_SYNC_TOKEN).
 * - `people.updateContact`: `updatePersonFields` required; the body must carry `etag` (or
 *   `metadata.sources[].etag`), else 400; an etag that is not the contact's current one is 400
 *   FAILED_PRECONDITION ("failedPrecondition": the contact changed since it was read); the listed
 *   fields are replaced whole; singleton fields (names, biographies, birthdays, genders) take one
 *   value; a deleted contact is 404 NOT_FOUND.
 * - `contactGroups.list` (the system groups and the user's), `contactGroups.create` (a name in
 *   use is 409 ALREADY_EXISTS), `contactGroups.members.modify` (adds/removes memberships; unknown
 *   people are listed in `notFoundResourceNames`).
 *
 * Test controls: seed data as another app (the Python service) or the user left it, edit and
 * delete as the user does in the web UI (new etags), inject faults (`failNext`), revoke grants,
 * expire access tokens, and read the request log to count calls.
 */

export interface GoogleStandInOptions {
  clientId?: string;
  clientSecret?: string;
  /** Lifetime of issued access tokens. */
  accessTokenSeconds?: number;
  /** The account's primary calendar id (its e-mail address). */
  account?: string;
}

export interface LoggedRequest {
  method: string;
  /** Path without the query. */
  path: string;
  api: "oauth" | "calendar" | "people" | "other";
  status: number;
  /** When it was answered (epoch ms). */
  at: number;
}

export interface Fault {
  status: 429 | 403 | 500 | 503;
  /** Google's reason (defaults: 429 rateLimitExceeded, 403 userRateLimitExceeded, 503 backendError). */
  reason?: string;
  /** Sent as Retry-After (seconds). */
  retryAfterSeconds?: number;
  /** Which requests it hits; default every API request (not the OAuth endpoints). */
  api?: "calendar" | "people" | "oauth";
}

type Json = Record<string, unknown>;
/** Every handler ends in exactly one answer. */
const HANDLED = Symbol("handled");
type Handled = typeof HANDLED;
type Reply = (status: number, payload?: unknown, headers?: Record<string, string>) => Handled;

interface Grant {
  refreshToken: string;
  scopes: string[];
  revoked: boolean;
}

export interface StoredEvent extends Json {
  id: string;
  etag: string;
  status: string;
  updated: string;
}

interface CalendarStore {
  id: string;
  summary: string;
  events: Map<string, StoredEvent>;
  /** Change sequence per event id, for sync tokens. */
  changed: Map<string, number>;
}

export interface StoredPerson extends Json {
  resourceName: string;
  etag: string;
}

const CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar";
const CONTACTS_SCOPE = "https://www.googleapis.com/auth/contacts";
const EVENT_ID = /^[a-v0-9]{5,1024}$/;
const SYNC_RESTRICTIONS = [
  "iCalUID",
  "orderBy",
  "privateExtendedProperty",
  "q",
  "sharedExtendedProperty",
  "timeMin",
  "timeMax",
  "updatedMin",
];
const SINGLETON_FIELDS = ["names", "biographies", "birthdays", "genders"];
const SYSTEM_GROUPS = ["myContacts", "starred", "friends", "family", "coworkers"];

export class GoogleStandIn {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly account: string;
  /** Every request, in order. */
  readonly requests: LoggedRequest[] = [];
  /** Refuse the next consent (the user clicks "Cancel"). */
  denyConsent = false;
  private readonly accessTokenSeconds: number;
  private readonly http = new LoopbackServer();
  private readonly grants = new Map<string, Grant>();
  private readonly accessTokens = new Map<string, { grant: Grant; expiresAt: number }>();
  /** Every refresh and access token ever handed out, revoked or expired ones included. */
  private readonly issuedTokens: string[] = [];
  private readonly codes = new Map<
    string,
    { grant: Grant; redirectUri: string; challenge: string; clientId: string }
  >();
  private readonly calendars = new Map<string, CalendarStore>();
  private readonly people = new Map<string, StoredPerson>();
  private readonly deletedPeople = new Set<string>();
  private readonly groups = new Map<string, Json>();
  private readonly faults: Fault[] = [];
  private sequence = 0;
  /** Sync tokens of an earlier generation are forgotten (410 / EXPIRED_SYNC_TOKEN). */
  private syncGeneration = 0;

  constructor(options: GoogleStandInOptions = {}) {
    this.clientId = options.clientId ?? "123456789-fogis.apps.googleusercontent.com";
    this.clientSecret = options.clientSecret ?? `GOCSPX-${randomBytes(12).toString("hex")}`;
    this.accessTokenSeconds = options.accessTokenSeconds ?? 3599;
    this.account = options.account ?? "domare@example.com";
    this.addCalendar(this.account, this.account);
    for (const name of SYSTEM_GROUPS) {
      this.groups.set(`contactGroups/${name}`, {
        resourceName: `contactGroups/${name}`,
        etag: this.etag(),
        groupType: "SYSTEM_CONTACT_GROUP",
        name,
        formattedName: name,
      });
    }
  }

  /** Base URL of the APIs (GOOGLE_API_BASE_URL). */
  get url(): string {
    if (!this.http.listening) throw new Error("the Google stand-in is not started");
    return `http://127.0.0.1:${this.http.port}/`;
  }

  /** GOOGLE_OAUTH_TOKEN_URL. */
  get tokenUrl(): string {
    return `${this.url}token`;
  }

  /** The consent page (Google's https://accounts.google.com/o/oauth2/v2/auth). */
  get authUrl(): string {
    return `${this.url}o/oauth2/v2/auth`;
  }

  async start(): Promise<this> {
    await this.http.start((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        res.statusCode = 500;
        res.end(String(error));
      });
    });
    return this;
  }

  async close(): Promise<void> {
    await this.http.stop();
  }

  // ---- OAuth controls ------------------------------------------------------------------------

  /** A grant as a finished consent leaves it: a refresh token and a live access token. */
  issueGrant(scopes: string[] = [CALENDAR_SCOPE, CONTACTS_SCOPE]): {
    refreshToken: string;
    accessToken: string;
    expiresAt: number;
  } {
    const grant: Grant = {
      refreshToken: `1//${randomBytes(24).toString("base64url")}`,
      scopes,
      revoked: false,
    };
    this.grants.set(grant.refreshToken, grant);
    this.issuedTokens.push(grant.refreshToken);
    const { token, expiresAt } = this.issueAccessToken(grant);
    return { refreshToken: grant.refreshToken, accessToken: token, expiresAt };
  }

  /** The user removes the app's access, or a Testing-mode app's 7 days run out. */
  revokeGrant(refreshToken?: string): void {
    for (const grant of this.grants.values()) {
      if (refreshToken === undefined || grant.refreshToken === refreshToken) grant.revoked = true;
    }
    for (const [token, entry] of this.accessTokens) if (entry.grant.revoked) this.accessTokens.delete(token);
  }

  /** What must never be shown or logged: the client secret and every token issued so far. */
  secrets(): string[] {
    return [this.clientSecret, ...this.issuedTokens];
  }

  /** Every access token issued so far expires now. */
  expireAccessTokens(): void {
    for (const entry of this.accessTokens.values()) entry.expiresAt = 0;
  }

  // ---- fault controls ------------------------------------------------------------------------

  /** The next `count` matching requests get this error instead of an answer. */
  failNext(count: number, fault: Fault): void {
    for (let i = 0; i < count; i += 1) this.faults.push(fault);
  }

  /** Sync tokens issued so far are forgotten (Google: 410 fullSyncRequired). */
  expireSyncTokens(): void {
    this.syncGeneration += 1;
  }

  /** Requests to one API (optionally one method), to count calls. */
  count(api: LoggedRequest["api"], method?: string): number {
    return this.requests.filter((r) => r.api === api && (method === undefined || r.method === method)).length;
  }

  // ---- Calendar data -------------------------------------------------------------------------

  addCalendar(id: string, summary = id): void {
    this.calendars.set(id, { id, summary, events: new Map(), changed: new Map() });
  }

  /** An event as another app left it (the Python service: a server-chosen id). */
  seedEvent(event: Json, calendarId = this.account): StoredEvent {
    const store = this.calendar(calendarId);
    const id = typeof event.id === "string" ? event.id : this.eventId();
    const stored = this.newEvent(store, { ...event, id });
    return structuredClone(stored);
  }

  /** The events of a calendar, deleted ones only when asked. */
  events(calendarId = this.account, options: { showDeleted?: boolean } = {}): StoredEvent[] {
    return [...this.calendar(calendarId).events.values()]
      .filter((event) => options.showDeleted || event.status !== "cancelled")
      .map((event) => structuredClone(event));
  }

  event(id: string, calendarId = this.account): StoredEvent | undefined {
    const found = this.calendar(calendarId).events.get(id);
    return found && structuredClone(found);
  }

  /** The user edits an event in Google Calendar (a PATCH: nested objects merged). */
  editEvent(id: string, patch: Json, calendarId = this.account): StoredEvent {
    const store = this.calendar(calendarId);
    const found = store.events.get(id);
    if (!found) throw new Error(`no event ${id}`);
    this.writeEvent(store, mergePatch(found, patch) as StoredEvent);
    return structuredClone(store.events.get(id) as StoredEvent);
  }

  /** The user deletes an event in Google Calendar. */
  deleteEventAsUser(id: string, calendarId = this.account): void {
    const store = this.calendar(calendarId);
    const found = store.events.get(id);
    if (!found) throw new Error(`no event ${id}`);
    this.writeEvent(store, { ...found, status: "cancelled" });
  }

  // ---- People data ---------------------------------------------------------------------------

  /** A contact as another app or the user left it. */
  seedContact(person: Json): StoredPerson {
    return structuredClone(this.newPerson(person));
  }

  contacts(): StoredPerson[] {
    return [...this.people.values()].map((person) => structuredClone(person));
  }

  contact(resourceName: string): StoredPerson | undefined {
    const found = this.people.get(resourceName);
    return found && structuredClone(found);
  }

  /** The user edits a contact (fields replaced whole). */
  editContact(resourceName: string, fields: Json): StoredPerson {
    const found = this.people.get(resourceName);
    if (!found) throw new Error(`no contact ${resourceName}`);
    Object.assign(found, structuredClone(fields));
    this.touchPerson(found);
    return structuredClone(found);
  }

  deleteContactAsUser(resourceName: string): void {
    if (!this.people.delete(resourceName)) throw new Error(`no contact ${resourceName}`);
    this.deletedPeople.add(resourceName);
  }

  /** A user contact group (as the Python service created "Referees"). */
  seedGroup(name: string): Json {
    return structuredClone(this.newGroup(name));
  }

  contactGroups(): Json[] {
    return [...this.groups.values()].map((group) => structuredClone(group));
  }

  /** The resource names of a group's members. */
  members(groupResourceName: string): string[] {
    return [...this.people.values()]
      .filter((person) =>
        ((person.memberships as Json[] | undefined) ?? []).some(
          (m) =>
            (m.contactGroupMembership as Json | undefined)?.contactGroupResourceName === groupResourceName,
        ),
      )
      .map((person) => person.resourceName);
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<Handled> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const method = req.method ?? "GET";
    const path = url.pathname;
    const api: LoggedRequest["api"] =
      path === "/token" || path.startsWith("/o/oauth2/")
        ? "oauth"
        : path.startsWith("/calendar/v3/")
          ? "calendar"
          : path.startsWith("/v1/")
            ? "people"
            : "other";
    const body = await readBody(req);
    const answer: Reply = (status, payload, headers = {}) => {
      this.requests.push({ method, path, api, status, at: Date.now() });
      res.writeHead(status, {
        ...(payload === undefined ? {} : { "Content-Type": "application/json; charset=UTF-8" }),
        ...headers,
      });
      res.end(payload === undefined ? undefined : JSON.stringify(payload));
      return HANDLED;
    };
    const fault = this.takeFault(api);
    if (fault) {
      const reason =
        fault.reason ??
        (fault.status === 429
          ? "rateLimitExceeded"
          : fault.status === 403
            ? "userRateLimitExceeded"
            : "backendError");
      const message = fault.status >= 500 ? "Backend Error" : "Rate Limit Exceeded";
      return answer(
        fault.status,
        googleError(fault.status, reason, message, fault.status >= 500 ? "global" : "usageLimits"),
        fault.retryAfterSeconds === undefined ? {} : { "Retry-After": String(fault.retryAfterSeconds) },
      );
    }
    if (api === "oauth") return this.oauth(method, path, url, body, answer, res);
    if (api === "other") return answer(404, googleError(404, "notFound", "Not Found"));
    const auth = this.authorize(req, api === "calendar" ? CALENDAR_SCOPE : CONTACTS_SCOPE);
    if (auth) return answer(auth.status, auth.body);
    const json = parseJson(body);
    if (api === "calendar") return this.calendarApi(method, path, url, json, req, answer);
    return this.peopleApi(method, path, url, json, answer);
  }

  private takeFault(api: LoggedRequest["api"]): Fault | undefined {
    const at = this.faults.findIndex((fault) =>
      fault.api === undefined ? api !== "oauth" && api !== "other" : fault.api === api,
    );
    return at < 0 ? undefined : this.faults.splice(at, 1)[0];
  }

  private authorize(req: IncomingMessage, scope: string): { status: number; body: unknown } | undefined {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const entry = token ? this.accessTokens.get(token) : undefined;
    if (!entry || entry.expiresAt <= Date.now() || entry.grant.revoked) {
      return {
        status: 401,
        body: {
          error: {
            code: 401,
            message:
              "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            errors: [
              {
                message: "Invalid Credentials",
                domain: "global",
                reason: "authError",
                location: "Authorization",
                locationType: "header",
              },
            ],
            status: "UNAUTHENTICATED",
          },
        },
      };
    }
    if (!entry.grant.scopes.includes(scope)) {
      return {
        status: 403,
        body: {
          error: {
            code: 403,
            message: "Request had insufficient authentication scopes.",
            errors: [
              { message: "Insufficient Permission", domain: "global", reason: "insufficientPermissions" },
            ],
            status: "PERMISSION_DENIED",
            details: [
              {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                reason: "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
              },
            ],
          },
        },
      };
    }
    return undefined;
  }

  // ---- OAuth ---------------------------------------------------------------------------------

  private oauth(
    method: string,
    path: string,
    url: URL,
    body: string,
    answer: Reply,
    res: ServerResponse,
  ): Handled {
    if (method === "GET" && path === "/o/oauth2/v2/auth") {
      const q = url.searchParams;
      const redirectUri = q.get("redirect_uri") ?? "";
      const loopback = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/.*)?$/.test(redirectUri);
      if (q.get("client_id") !== this.clientId)
        return answer(400, { error: "invalid_client", error_description: "The OAuth client was not found." });
      if (!loopback)
        return answer(400, {
          error: "redirect_uri_mismatch",
          error_description: "Desktop clients redirect to a loopback address.",
        });
      if (q.get("response_type") !== "code" || !q.get("scope"))
        return answer(400, {
          error: "invalid_request",
          error_description: "Required parameter is missing: response_type or scope",
        });
      if (q.get("code_challenge_method") !== "S256" || !q.get("code_challenge"))
        return answer(400, {
          error: "invalid_request",
          error_description: "Missing PKCE code_challenge (S256)",
        });
      const target = new URL(redirectUri);
      const state = q.get("state");
      if (state) target.searchParams.set("state", state);
      if (this.denyConsent) {
        target.searchParams.set("error", "access_denied");
      } else {
        const scopes = (q.get("scope") ?? "").split(" ").filter(Boolean);
        const grant: Grant = {
          refreshToken: `1//${randomBytes(24).toString("base64url")}`,
          scopes,
          revoked: false,
        };
        const code = `4/${randomBytes(18).toString("base64url")}`;
        this.codes.set(code, {
          grant,
          redirectUri,
          challenge: q.get("code_challenge") ?? "",
          clientId: this.clientId,
        });
        target.searchParams.set("code", code);
        target.searchParams.set("scope", scopes.join(" "));
      }
      this.requests.push({ method, path, api: "oauth", status: 302, at: Date.now() });
      res.writeHead(302, { Location: target.toString() });
      res.end();
      return HANDLED;
    }
    if (method !== "POST" || path !== "/token") return answer(404, { error: "not_found" });
    const form = new URLSearchParams(body);
    if (form.get("client_id") !== this.clientId || form.get("client_secret") !== this.clientSecret) {
      return answer(401, { error: "invalid_client", error_description: "Unauthorized" });
    }
    const grantType = form.get("grant_type");
    if (grantType === "refresh_token") {
      const grant = this.grants.get(form.get("refresh_token") ?? "");
      if (!grant || grant.revoked) {
        return answer(400, {
          error: "invalid_grant",
          error_description: "Token has been expired or revoked.",
        });
      }
      const { token } = this.issueAccessToken(grant);
      return answer(200, {
        access_token: token,
        expires_in: this.accessTokenSeconds,
        scope: grant.scopes.join(" "),
        token_type: "Bearer",
      });
    }
    if (grantType === "authorization_code") {
      const code = this.codes.get(form.get("code") ?? "");
      this.codes.delete(form.get("code") ?? "");
      if (!code || code.redirectUri !== form.get("redirect_uri")) {
        return answer(400, { error: "invalid_grant", error_description: "Bad Request" });
      }
      const verifier = form.get("code_verifier") ?? "";
      const challenge = createHash("sha256").update(verifier).digest("base64url");
      if (challenge !== code.challenge) {
        return answer(400, { error: "invalid_grant", error_description: "Invalid code verifier." });
      }
      this.grants.set(code.grant.refreshToken, code.grant);
      this.issuedTokens.push(code.grant.refreshToken);
      const { token } = this.issueAccessToken(code.grant);
      return answer(200, {
        access_token: token,
        expires_in: this.accessTokenSeconds,
        refresh_token: code.grant.refreshToken,
        scope: code.grant.scopes.join(" "),
        token_type: "Bearer",
      });
    }
    return answer(400, {
      error: "unsupported_grant_type",
      error_description: `Invalid grant_type: ${grantType}`,
    });
  }

  private issueAccessToken(grant: Grant): { token: string; expiresAt: number } {
    const token = `ya29.${randomBytes(24).toString("base64url")}`;
    const expiresAt = Date.now() + this.accessTokenSeconds * 1000;
    this.accessTokens.set(token, { grant, expiresAt });
    this.issuedTokens.push(token);
    return { token, expiresAt };
  }

  // ---- Calendar API --------------------------------------------------------------------------

  private calendarApi(
    method: string,
    path: string,
    url: URL,
    body: Json | undefined,
    req: IncomingMessage,
    answer: Reply,
  ): Handled {
    const parts = path.split("/").slice(3).map(decodeURIComponent); // ["calendars", id, "events", eventId]
    if (parts[0] !== "calendars" || !parts[1]) return answer(404, googleError(404, "notFound", "Not Found"));
    const calendarId = parts[1] === "primary" ? this.account : parts[1];
    const store = this.calendars.get(calendarId);
    if (!store) return answer(404, googleError(404, "notFound", "Not Found"));
    if (parts.length === 2 && method === "GET") {
      return answer(200, {
        kind: "calendar#calendar",
        etag: `"${this.sequence}"`,
        id: store.id,
        summary: store.summary,
        timeZone: "Europe/Stockholm",
      });
    }
    if (parts[2] !== "events") return answer(404, googleError(404, "notFound", "Not Found"));
    const eventId = parts[3];
    if (eventId === undefined) {
      if (method === "GET") return this.listEvents(store, url.searchParams, answer);
      if (method === "POST") return this.insertEvent(store, body ?? {}, answer);
      return answer(405, googleError(405, "httpMethodNotAllowed", "Method Not Allowed"));
    }
    const found = store.events.get(eventId);
    if (!found) return answer(404, googleError(404, "notFound", "Not Found"));
    const ifMatch = req.headers["if-match"];
    if (ifMatch !== undefined && ifMatch !== "*" && ifMatch !== found.etag && method !== "GET") {
      return answer(
        412,
        googleError(412, "conditionNotMet", "Precondition Failed", "global", {
          locationType: "header",
          location: "If-Match",
        }),
      );
    }
    if (method === "GET") return answer(200, found);
    if (method === "DELETE") {
      if (found.status === "cancelled")
        return answer(410, googleError(410, "deleted", "Resource has been deleted"));
      this.writeEvent(store, { ...found, status: "cancelled" });
      return answer(204);
    }
    if (method === "PATCH" || method === "PUT") {
      const next =
        method === "PATCH"
          ? (mergePatch(found, body ?? {}) as StoredEvent)
          : ({
              ...pick(found, ["kind", "id", "created", "iCalUID", "creator", "organizer", "htmlLink"]),
              status: "confirmed",
              ...(body ?? {}),
              id: found.id,
            } as StoredEvent);
      const invalid = checkEventTimes(next);
      if (invalid) return answer(400, googleError(400, "required", invalid));
      this.writeEvent(store, { ...next, sequence: Number(found.sequence ?? 0) + 1 });
      return answer(200, store.events.get(eventId));
    }
    return answer(405, googleError(405, "httpMethodNotAllowed", "Method Not Allowed"));
  }

  private listEvents(store: CalendarStore, q: URLSearchParams, answer: Reply): Handled {
    const syncToken = q.get("syncToken");
    const showDeleted = q.get("showDeleted") === "true";
    const maxResults = Math.min(Number(q.get("maxResults") ?? 250) || 250, 2500);
    let since = -1;
    if (syncToken !== null) {
      if (SYNC_RESTRICTIONS.some((name) => q.has(name))) {
        return answer(
          400,
          googleError(400, "invalid", "Sync token cannot be used with other request restrictions."),
        );
      }
      if (q.get("showDeleted") === "false") {
        return answer(400, googleError(400, "invalid", "showDeleted cannot be false with a sync token."));
      }
      since = this.decodeSyncToken(syncToken);
      if (Number.isNaN(since)) {
        return answer(
          410,
          googleError(
            410,
            "fullSyncRequired",
            "Sync token is no longer valid, a full sync is required.",
            "calendar",
          ),
        );
      }
    }
    const filters = [
      ...q.getAll("privateExtendedProperty").map((f) => ["private", f] as const),
      ...q.getAll("sharedExtendedProperty").map((f) => ["shared", f] as const),
    ];
    const matches = [...store.events.values()]
      .filter((event) =>
        syncToken === null
          ? showDeleted || event.status !== "cancelled"
          : (store.changed.get(event.id) ?? 0) > since,
      )
      .filter((event) =>
        filters.every(([scope, filter]) => {
          const at = filter.indexOf("=");
          const props = ((event.extendedProperties as Json | undefined)?.[scope] ?? {}) as Record<
            string,
            string
          >;
          return at > 0 && props[filter.slice(0, at)] === filter.slice(at + 1);
        }),
      )
      .sort((a, b) => (store.changed.get(a.id) ?? 0) - (store.changed.get(b.id) ?? 0));
    const offset = Number(q.get("pageToken") ?? 0) || 0;
    const page = matches.slice(offset, offset + maxResults);
    const last = offset + maxResults >= matches.length;
    // Deleted events in a listing are only guaranteed to carry their id (and status).
    const items = page.map((event) =>
      event.status === "cancelled"
        ? {
            kind: "calendar#event",
            etag: event.etag,
            id: event.id,
            status: "cancelled",
            updated: event.updated,
          }
        : event,
    );
    return answer(200, {
      kind: "calendar#events",
      summary: store.summary,
      timeZone: "Europe/Stockholm",
      items,
      ...(last ? { nextSyncToken: this.encodeSyncToken() } : { nextPageToken: String(offset + maxResults) }),
    });
  }

  private insertEvent(store: CalendarStore, body: Json, answer: Reply): Handled {
    const id = body.id;
    if (id !== undefined && (typeof id !== "string" || !EVENT_ID.test(id))) {
      return answer(400, googleError(400, "invalid", "Invalid resource id value."));
    }
    if (typeof id === "string" && store.events.has(id)) {
      return answer(409, googleError(409, "duplicate", "The requested identifier already exists."));
    }
    const invalid = checkEventTimes(body);
    if (invalid) return answer(400, googleError(400, "required", invalid));
    return answer(200, this.newEvent(store, { ...body, id: typeof id === "string" ? id : this.eventId() }));
  }

  private newEvent(store: CalendarStore, body: Json & { id: string }): StoredEvent {
    const now = new Date().toISOString();
    const event = {
      kind: "calendar#event",
      htmlLink: `https://calendar.google.com/calendar/event?eid=${body.id}`,
      created: now,
      iCalUID: `${body.id}@google.com`,
      sequence: 0,
      creator: { email: this.account, self: true },
      organizer: { email: this.account, self: true },
      reminders: { useDefault: true },
      eventType: "default",
      status: "confirmed",
      ...structuredClone(body),
    } as unknown as StoredEvent;
    this.writeEvent(store, event);
    return store.events.get(event.id) as StoredEvent;
  }

  private writeEvent(store: CalendarStore, event: StoredEvent): void {
    this.sequence += 1;
    store.events.set(event.id, {
      ...event,
      etag: `"${3_180_000_000_000_000 + this.sequence}"`,
      updated: new Date().toISOString(),
    });
    store.changed.set(event.id, this.sequence);
  }

  private calendar(id: string): CalendarStore {
    const store = this.calendars.get(id === "primary" ? this.account : id);
    if (!store) throw new Error(`no calendar ${id}`);
    return store;
  }

  private eventId(): string {
    const alphabet = "0123456789abcdefghijklmnopqrstuv";
    return [...randomBytes(26)].map((byte) => alphabet[byte % 32]).join("");
  }

  // ---- People API ----------------------------------------------------------------------------

  private peopleApi(method: string, path: string, url: URL, body: Json | undefined, answer: Reply): Handled {
    const q = url.searchParams;
    const resource = path.slice("/v1/".length);
    if (method === "GET" && resource === "people/me/connections") return this.listConnections(q, answer);
    if (method === "POST" && resource === "people:createContact") {
      const unknown = ((body?.memberships as Json[] | undefined) ?? [])
        .map((m) => String((m.contactGroupMembership as Json | undefined)?.contactGroupResourceName ?? ""))
        .find((group) => !this.groups.has(group));
      if (unknown !== undefined) {
        return answer(400, peopleError(400, "INVALID_ARGUMENT", `Contact group ${unknown} not found.`));
      }
      const person = this.newPerson(body ?? {});
      return answer(200, fieldsOf(person, q.get("personFields")));
    }
    if (method === "GET" && resource === "contactGroups") {
      const groups = [...this.groups.values()];
      return answer(200, { contactGroups: groups, totalItems: groups.length });
    }
    if (method === "POST" && resource === "contactGroups") {
      const name = ((body?.contactGroup as Json | undefined)?.name as string | undefined)?.trim();
      if (!name) return answer(400, peopleError(400, "INVALID_ARGUMENT", "contactGroup.name is required"));
      if ([...this.groups.values()].some((group) => group.name === name)) {
        return answer(409, peopleError(409, "ALREADY_EXISTS", "Contact group name already exists."));
      }
      return answer(200, this.newGroup(name));
    }
    const members = /^(contactGroups\/[^/]+)\/members:modify$/.exec(resource);
    if (method === "POST" && members?.[1]) {
      const group = this.groups.get(members[1]);
      if (!group) return answer(404, peopleError(404, "NOT_FOUND", "Requested entity was not found."));
      const notFound: string[] = [];
      for (const name of (body?.resourceNamesToAdd as string[] | undefined) ?? []) {
        const person = this.people.get(name);
        if (!person) {
          notFound.push(name);
          continue;
        }
        const memberships = ((person.memberships as Json[] | undefined) ?? []).filter(
          (m) => (m.contactGroupMembership as Json | undefined)?.contactGroupResourceName !== members[1],
        );
        memberships.push(membership(members[1]));
        person.memberships = memberships;
        this.touchPerson(person);
      }
      for (const name of (body?.resourceNamesToRemove as string[] | undefined) ?? []) {
        const person = this.people.get(name);
        if (!person) continue;
        person.memberships = ((person.memberships as Json[] | undefined) ?? []).filter(
          (m) => (m.contactGroupMembership as Json | undefined)?.contactGroupResourceName !== members[1],
        );
        this.touchPerson(person);
      }
      return answer(200, notFound.length ? { notFoundResourceNames: notFound } : {});
    }
    const contact = /^(people\/[^/:]+)(?::(updateContact|deleteContact))?$/.exec(resource);
    if (!contact?.[1]) return answer(404, peopleError(404, "NOT_FOUND", "Requested entity was not found."));
    const person = this.people.get(contact[1]);
    if (!person) return answer(404, peopleError(404, "NOT_FOUND", "Requested entity was not found."));
    if (method === "GET" && !contact[2]) {
      if (!q.get("personFields"))
        return answer(
          400,
          peopleError(
            400,
            "INVALID_ARGUMENT",
            "personFields mask is required. Please specify one or more valid paths.",
          ),
        );
      return answer(200, fieldsOf(person, q.get("personFields")));
    }
    if (method === "DELETE" && contact[2] === "deleteContact") {
      this.people.delete(contact[1]);
      this.deletedPeople.add(contact[1]);
      return answer(200, {});
    }
    if (method === "PATCH" && contact[2] === "updateContact") {
      const fields = (q.get("updatePersonFields") ?? "").split(",").filter(Boolean);
      if (!fields.length)
        return answer(
          400,
          peopleError(
            400,
            "INVALID_ARGUMENT",
            "updatePersonFields mask is required. Please specify one or more valid paths.",
          ),
        );
      const sources = ((body?.metadata as Json | undefined)?.sources as Json[] | undefined) ?? [];
      const etag =
        (body?.etag as string | undefined) ?? (sources.find((s) => s.etag)?.etag as string | undefined);
      if (!etag)
        return answer(
          400,
          peopleError(
            400,
            "INVALID_ARGUMENT",
            "Request must set person.etag or person.metadata.sources.etag for the source that is being updated.",
          ),
        );
      if (etag !== person.etag) {
        return answer(
          400,
          peopleError(
            400,
            "FAILED_PRECONDITION",
            "person.etag is different than the contact's etag: the contact has changed since it was read.",
            "failedPrecondition",
          ),
        );
      }
      for (const field of fields) {
        const value = body?.[field];
        if (SINGLETON_FIELDS.includes(field) && Array.isArray(value) && value.length > 1) {
          return answer(
            400,
            peopleError(400, "INVALID_ARGUMENT", `Only one ${field} field is allowed per contact source.`),
          );
        }
      }
      for (const field of fields) person[field] = structuredClone(body?.[field] ?? []);
      this.touchPerson(person);
      return answer(200, fieldsOf(person, q.get("personFields")));
    }
    return answer(405, peopleError(405, "UNIMPLEMENTED", "Method not allowed"));
  }

  private listConnections(q: URLSearchParams, answer: Reply): Handled {
    const personFields = q.get("personFields");
    if (!personFields)
      return answer(
        400,
        peopleError(
          400,
          "INVALID_ARGUMENT",
          "personFields mask is required. Please specify one or more valid paths.",
        ),
      );
    const pageSize = Math.min(Number(q.get("pageSize") ?? 100) || 100, 1000);
    const syncToken = q.get("syncToken");
    let since = -1;
    if (syncToken) {
      since = this.decodeSyncToken(syncToken);
      if (Number.isNaN(since)) {
        return answer(
          400,
          peopleError(
            400,
            "FAILED_PRECONDITION",
            "Sync token is expired. Clear local cache and retry call without the sync token.",
            "EXPIRED_SYNC_TOKEN",
          ),
        );
      }
    }
    const all = [...this.people.values()]
      .filter((person) => since < 0 || Number(person.changedAt ?? 0) > since)
      .sort((a, b) => a.resourceName.localeCompare(b.resourceName));
    const offset = Number(q.get("pageToken") ?? 0) || 0;
    const page = all.slice(offset, offset + pageSize);
    const last = offset + pageSize >= all.length;
    return answer(200, {
      connections: page.map((person) => fieldsOf(person, personFields)),
      totalPeople: all.length,
      totalItems: all.length,
      ...(last ? {} : { nextPageToken: String(offset + pageSize) }),
      ...(last && (q.get("requestSyncToken") === "true" || syncToken)
        ? { nextSyncToken: this.encodeSyncToken() }
        : {}),
    });
  }

  private newPerson(fields: Json): StoredPerson {
    const id = `c${randomBytes(8).readBigUInt64BE() % 10n ** 18n}`;
    const person: StoredPerson = {
      ...structuredClone(fields),
      resourceName: `people/${id}`,
      etag: "",
      // Every contact is in "My Contacts", and in the groups it was created with.
      memberships: [
        membership("contactGroups/myContacts"),
        ...((fields.memberships as Json[] | undefined) ?? []).filter(
          (m) =>
            (m.contactGroupMembership as Json | undefined)?.contactGroupResourceName !==
            "contactGroups/myContacts",
        ),
      ],
    };
    delete person.metadata;
    this.touchPerson(person);
    this.people.set(person.resourceName, person);
    return person;
  }

  private touchPerson(person: StoredPerson): void {
    this.sequence += 1;
    person.etag = `%${randomBytes(12).toString("base64")}`;
    person.changedAt = this.sequence;
    person.metadata = {
      sources: [
        {
          type: "CONTACT",
          id: person.resourceName.slice("people/".length),
          etag: person.etag,
          updateTime: new Date().toISOString(),
        },
      ],
      objectType: "PERSON",
    };
  }

  private newGroup(name: string): Json {
    const group = {
      resourceName: `contactGroups/${randomBytes(6).toString("hex")}`,
      etag: this.etag(),
      groupType: "USER_CONTACT_GROUP",
      name,
      formattedName: name,
    };
    this.groups.set(group.resourceName, group);
    return group;
  }

  private encodeSyncToken(): string {
    return Buffer.from(`sync:${this.syncGeneration}:${this.sequence}`).toString("base64url");
  }

  /** The sequence a sync token was issued at; NaN when it is unknown or of an expired generation. */
  private decodeSyncToken(token: string): number {
    const [tag, generation, sequence] = Buffer.from(token, "base64url").toString().split(":");
    return tag === "sync" && Number(generation) === this.syncGeneration ? Number(sequence) : Number.NaN;
  }

  private etag(): string {
    return randomBytes(9).toString("base64");
  }
}

/** Starts a Google stand-in on a free loopback port. */
export async function startGoogleStandIn(options: GoogleStandInOptions = {}): Promise<GoogleStandIn> {
  return new GoogleStandIn(options).start();
}

function googleError(
  status: number,
  reason: string,
  message: string,
  domain = "global",
  extra: Json = {},
): Json {
  return { error: { errors: [{ domain, reason, message, ...extra }], code: status, message } };
}

function peopleError(status: number, code: string, message: string, reason?: string): Json {
  return {
    error: {
      code: status,
      message,
      status: code,
      ...(reason ? { details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason }] } : {}),
    },
  };
}

function membership(group: string): Json {
  return {
    contactGroupMembership: {
      contactGroupId: group.slice("contactGroups/".length),
      contactGroupResourceName: group,
    },
  };
}

/** Only the requested person fields (plus resourceName and etag), as Google returns them. */
function fieldsOf(person: StoredPerson, personFields: string | null): Json {
  const { changedAt: _changedAt, ...visible } = person;
  if (!personFields) return structuredClone(visible);
  const wanted = new Set(personFields.split(","));
  return Object.fromEntries(
    Object.entries(visible).filter(([key]) => key === "resourceName" || key === "etag" || wanted.has(key)),
  );
}

/** RFC 7396-like: objects merged key by key, arrays and scalars replaced, null removes. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return structuredClone(patch);
  const base =
    typeof target === "object" && target !== null && !Array.isArray(target) ? { ...(target as Json) } : {};
  for (const [key, value] of Object.entries(patch as Json)) {
    if (value === null) delete base[key];
    else base[key] = mergePatch(base[key], value);
  }
  return base;
}

function pick(source: Json, keys: string[]): Json {
  return Object.fromEntries(keys.filter((key) => key in source).map((key) => [key, source[key]]));
}

function checkEventTimes(event: Json): string | undefined {
  const start = event.start as Json | undefined;
  const end = event.end as Json | undefined;
  if (!start || !(start.dateTime || start.date)) return "Missing start time.";
  if (!end || !(end.dateTime || end.date)) return "Missing end time.";
  return undefined;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function parseJson(text: string): Json | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as Json;
  } catch {
    return undefined;
  }
}
