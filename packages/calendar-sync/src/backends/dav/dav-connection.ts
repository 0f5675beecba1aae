import { DAVClient, type DAVResponse } from "tsdav";
import { PushError } from "../push-backend.js";

/**
 * One CalDAV or CardDAV account, spoken through tsdav's `DAVClient`: discovery (well-known URL,
 * principal, home set), collections, sync-collection (RFC 6578), multiget, and conditional
 * PUT/DELETE. It adds what a long-running pusher needs around the library: a timeout on every
 * request, a request count, abort on stop, and errors that say what happened and what to fix,
 * without ever carrying the password.
 */

export type DavAccountType = "caldav" | "carddav";

export interface DavConnectionOptions {
  url: string;
  username: string | undefined;
  password: string | undefined;
  accountType: DavAccountType;
  /** Every request goes through it. */
  fetch?: typeof fetch;
  /** Per request; default 20 s. */
  requestTimeoutMs?: number;
}

export interface DavCollectionInfo {
  url: string;
  displayName: string;
  /** resourcetype element names, e.g. ["collection", "calendar"]. */
  types: string[];
}

export interface DavMember {
  /** Path of the resource, decoded (`/user/calendar/x.ics`). */
  path: string;
  etag: string | null;
  /** Present when the server sent the data along. */
  data?: string;
}

export type SyncOutcome =
  | { kind: "ok"; token: string | null; changed: DavMember[]; deleted: string[] }
  /** The server no longer knows the token (Radicale 403, Xandikos 500, RFC 6578 valid-sync-token). */
  | { kind: "invalid-token" }
  /** The collection does not support sync-collection at all. */
  | { kind: "unsupported" }
  /** The collection itself is gone (deleted by the user). */
  | { kind: "gone" };

export type PutCondition = { ifNoneMatch: true } | { ifMatch: string };

export type PutOutcome =
  | { kind: "ok"; etag: string | null }
  /** The condition failed: the resource exists (create) or changed or is gone (update). */
  | { kind: "precondition-failed" }
  /** Another resource in the collection already has this UID (Radicale 409, Xandikos 207 + 412). */
  | { kind: "uid-conflict" }
  /** The collection itself is gone. */
  | { kind: "not-found" };

const NAMESPACES = {
  "xmlns:d": "DAV:",
  "xmlns:c": "urn:ietf:params:xml:ns:caldav",
  "xmlns:card": "urn:ietf:params:xml:ns:carddav",
};

export class DavConnection {
  readonly accountType: DavAccountType;
  readonly url: string;
  /** Requests made so far. */
  requests = 0;
  private readonly client: DAVClient;
  private readonly password: string | undefined;
  private readonly timeoutMs: number;
  private readonly baseFetch: typeof fetch;
  private signal: AbortSignal | undefined;
  private homeUrl: string | undefined;
  /** Statuses seen during discovery, to tell a wrong password from a wrong URL. */
  private discoveryStatuses: number[] = [];

  constructor(options: DavConnectionOptions) {
    this.accountType = options.accountType;
    this.url = options.url;
    this.password = options.password;
    this.timeoutMs = options.requestTimeoutMs ?? 20_000;
    this.baseFetch = options.fetch ?? fetch;
    const { username, password } = options;
    // Basic auth in UTF-8 (RFC 7617), so a Swedish password with å, ä or ö works; tsdav's own
    // Basic encoder takes Latin-1 only. A server without authentication gets no header.
    const authorization: Record<string, string> =
      username === undefined
        ? {}
        : { authorization: `Basic ${Buffer.from(`${username}:${password ?? ""}`).toString("base64")}` };
    this.client = new DAVClient({
      serverUrl: options.url,
      credentials: {},
      authMethod: "Custom",
      authFunction: async () => authorization,
      defaultAccountType: options.accountType,
      fetch: (input, init) => this.request(input, init),
    });
  }

  /** Requests made from here on abort with this signal (the service stopping). */
  useSignal(signal: AbortSignal): void {
    this.signal = signal;
  }

  /** The calendar or address-book home of the account, found once per connection. */
  async home(): Promise<string> {
    if (this.homeUrl) return this.homeUrl;
    this.discoveryStatuses = [];
    try {
      await this.client.login();
    } catch (error) {
      throw this.discoveryError(error);
    }
    const home = this.client.account?.homeUrl;
    if (!home) throw this.discoveryError(new Error("no home set"));
    this.homeUrl = home;
    return home;
  }

  /** Whether the account has been found (and the credentials accepted) since start. */
  get discovered(): boolean {
    return this.homeUrl !== undefined;
  }

  /** Forget the home, e.g. after the collection vanished, so the next call discovers again. */
  forgetHome(): void {
    this.homeUrl = undefined;
  }

  /** The calendars or address books in the home. */
  async collections(home: string): Promise<DavCollectionInfo[]> {
    const responses = await this.client.propfind({
      url: home,
      props: { "d:displayname": {}, "d:resourcetype": {} },
      depth: "1",
    });
    this.throwIfFailed(responses, "list the collections in", home);
    return responses
      .filter((response) => response.ok && response.href)
      .map((response) => ({
        url: new URL(String(response.href), home).href,
        displayName: textOf(response.props?.displayname) ?? "",
        types: Object.keys(response.props?.resourcetype ?? {}),
      }));
  }

  /** Creates a calendar (MKCALENDAR) or an address book (extended MKCOL, RFC 5689). */
  async createCollection(url: string, displayName: string): Promise<void> {
    const responses =
      this.accountType === "caldav"
        ? await this.client.makeCalendar({
            url,
            props: {
              "d:displayname": displayName,
              "c:supported-calendar-component-set": { "c:comp": { _attributes: { name: "VEVENT" } } },
            },
          })
        : await this.client.makeCollection({
            url,
            props: {
              "d:resourcetype": { "d:collection": {}, "card:addressbook": {} },
              "d:displayname": displayName,
            },
          });
    const failed = responses.find((response) => !response.ok);
    if (failed) throw new DavStatusError(failed.status, "MKCOL", url);
  }

  /**
   * sync-collection (RFC 6578): what changed since `token` (everything when null). Asks for the
   * data too; servers that do not send it along (Xandikos) give the ETag only.
   */
  async syncCollection(url: string, token: string | null, withData: boolean): Promise<SyncOutcome> {
    const dataProp = this.accountType === "caldav" ? "c:calendar-data" : "card:address-data";
    const responses = await this.client.syncCollection({
      url,
      props: withData ? { "d:getetag": {}, [dataProp]: {} } : { "d:getetag": {} },
      syncLevel: 1,
      syncToken: token ?? "",
    });
    const whole = httpFailure(responses);
    if (whole) {
      const raw = typeof whole.raw === "string" ? whole.raw : JSON.stringify(whole.raw ?? "");
      if (token !== null && (whole.status === 403 || whole.status === 409 || /valid-sync-token/.test(raw))) {
        return { kind: "invalid-token" };
      }
      // Xandikos answers a token it does not know with a bare 500.
      if (token !== null && whole.status === 500) return { kind: "invalid-token" };
      if (whole.status === 404 || whole.status === 410) return { kind: "gone" };
      if (whole.status === 400 || whole.status === 403 || whole.status === 405 || whole.status === 501) {
        return { kind: "unsupported" };
      }
      throw new DavStatusError(whole.status, "REPORT sync-collection", url);
    }
    const newToken = textOf(responses[0]?.raw?.multistatus?.syncToken) ?? null;
    const changed: DavMember[] = [];
    const deleted: string[] = [];
    for (const response of responses) {
      if (!response.href) continue;
      const path = pathOf(String(response.href), url);
      if (path === pathOf(url, url)) continue; // the collection itself
      if (response.status === 404) deleted.push(path);
      else changed.push(this.member(response, path));
    }
    return { kind: "ok", token: newToken, changed, deleted };
  }

  /** Every member with its ETag (PROPFIND Depth 1), for servers without sync-collection. */
  async members(url: string): Promise<DavMember[]> {
    const responses = await this.client.propfind({ url, props: { "d:getetag": {} }, depth: "1" });
    this.throwIfFailed(responses, "list", url);
    const self = pathOf(url, url);
    return responses
      .filter((response) => response.ok && response.href && pathOf(String(response.href), url) !== self)
      .map((response) => this.member(response, pathOf(String(response.href), url)));
  }

  /** Several resources at once (calendar-multiget / addressbook-multiget); missing ones are left out. */
  async multiget(url: string, paths: readonly string[]): Promise<Map<string, DavMember>> {
    const found = new Map<string, DavMember>();
    const caldav = this.accountType === "caldav";
    for (let i = 0; i < paths.length; i += 100) {
      const chunk = paths.slice(i, i + 100);
      const responses = await this.client.davRequest({
        url,
        init: {
          method: "REPORT",
          headers: { depth: "1" },
          namespace: caldav ? "c" : "card",
          body: {
            [caldav ? "calendar-multiget" : "addressbook-multiget"]: {
              _attributes: NAMESPACES,
              "d:prop": { "d:getetag": {}, [caldav ? "c:calendar-data" : "card:address-data"]: {} },
              "d:href": chunk.map(encodePath),
            },
          },
        },
      });
      const whole = httpFailure(responses);
      if (whole) throw new DavStatusError(whole.status, "REPORT multiget", url);
      for (const response of responses) {
        if (!response.href || !response.ok) continue;
        const member = this.member(response, pathOf(String(response.href), url));
        if (member.data !== undefined) found.set(member.path, member);
      }
    }
    return found;
  }

  /** GET one resource; null when it is gone. */
  async get(url: string): Promise<{ etag: string | null; data: string } | null> {
    const response = await this.request(url, { method: "GET", headers: this.client.authHeaders });
    if (response.status === 404 || response.status === 410) {
      await response.body?.cancel();
      return null;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new DavStatusError(response.status, "GET", url, response.headers.get("retry-after"));
    }
    return { etag: response.headers.get("etag"), data: await response.text() };
  }

  async put(url: string, body: string, condition: PutCondition): Promise<PutOutcome> {
    const contentType =
      this.accountType === "caldav" ? "text/calendar; charset=utf-8" : "text/vcard; charset=utf-8";
    const headers: Record<string, string> = { "Content-Type": contentType };
    if ("ifNoneMatch" in condition) headers["If-None-Match"] = "*";
    else headers["If-Match"] = condition.ifMatch;
    const response = await this.client.createObject({ url, data: body, headers });
    const text = await response.text();
    if (response.status === 200 || response.status === 201 || response.status === 204) {
      return { kind: "ok", etag: response.headers.get("etag") };
    }
    if (response.status === 412) return { kind: "precondition-failed" };
    if (
      /no-uid-conflict|UID already in use/i.test(text) &&
      (response.status === 409 || response.status === 207)
    ) {
      return { kind: "uid-conflict" };
    }
    if (response.status === 207 && /\b412\b/.test(text)) return { kind: "precondition-failed" };
    // 409 without a UID conflict: the parent collection is missing (RFC 4918 §9.7.1).
    if (response.status === 404 || response.status === 409) return { kind: "not-found" };
    throw new DavStatusError(response.status, "PUT", url, response.headers.get("retry-after"));
  }

  /** DELETE with If-Match; "gone" when it was already deleted. */
  async delete(url: string, etag: string): Promise<"ok" | "gone" | "precondition-failed"> {
    const response = await this.client.deleteObject({ url, etag });
    await response.body?.cancel();
    if (response.ok) return "ok";
    if (response.status === 404 || response.status === 410) return "gone";
    if (response.status === 412) return "precondition-failed";
    throw new DavStatusError(response.status, "DELETE", url, response.headers.get("retry-after"));
  }

  /** The text of an error, with the password taken out should any layer have put it in. */
  scrub(text: string): string {
    return this.password ? text.split(this.password).join("***") : text;
  }

  private member(response: DAVResponse, path: string): DavMember {
    const props = response.props ?? {};
    const data = textOf(this.accountType === "caldav" ? props.calendarData : props.addressData);
    return { path, etag: textOf(props.getetag) ?? null, ...(data === undefined ? {} : { data }) };
  }

  private throwIfFailed(responses: DAVResponse[], doing: string, url: string): void {
    const whole = httpFailure(responses);
    if (whole) throw new DavStatusError(whole.status, `PROPFIND (${doing})`, url);
  }

  private async request(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    this.requests += 1;
    const signals = [AbortSignal.timeout(this.timeoutMs)];
    if (this.signal) signals.push(this.signal);
    if (init.signal) signals.push(init.signal);
    try {
      const response = await this.baseFetch(input, { ...init, signal: AbortSignal.any(signals) });
      if (this.homeUrl === undefined) this.discoveryStatuses.push(response.status);
      return response;
    } catch (error) {
      throw networkError(error, this.url);
    }
  }

  private discoveryError(error: unknown): Error {
    if (error instanceof PushError) return error;
    const what = this.accountType === "caldav" ? "CalDAV" : "CardDAV";
    const urlVariable = this.accountType === "caldav" ? "CALDAV_URL" : "CARDDAV_URL";
    if (this.discoveryStatuses.includes(401)) {
      return new PushError(`the ${what} server refused the user name or password (401 Unauthorized)`, {
        kind: "permanent",
        fix: "check CALDAV_USERNAME and CALDAV_PASSWORD (iCloud and Fastmail need an app-specific password)",
      });
    }
    if (this.discoveryStatuses.includes(403)) {
      return new PushError(`the ${what} server refused access (403 Forbidden)`, {
        kind: "permanent",
        fix: `check that CALDAV_USERNAME may use ${urlVariable}`,
      });
    }
    const server = this.discoveryStatuses.find((status) => status >= 500 || status === 429);
    if (server !== undefined) {
      return new PushError(`the ${what} server answered ${server} while looking up the account`, {
        kind: "transient",
      });
    }
    return new PushError(
      `found no ${what} account at ${this.url} (${this.scrub((error as Error).message)})`,
      {
        kind: "permanent",
        fix: `check ${urlVariable}: it should be the server's ${what} address, e.g. https://cloud.example.com/remote.php/dav (Nextcloud), https://caldav.icloud.com (iCloud) or https://caldav.fastmail.com/dav/ (Fastmail)`,
        cause: error,
      },
    );
  }
}

/** An HTTP status the protocol has no answer for; mapped to a transient or permanent `PushError`. */
export class DavStatusError extends PushError {
  constructor(
    readonly status: number,
    method: string,
    url: string,
    retryAfter?: string | null,
  ) {
    const transient = status === 408 || status === 425 || status === 429 || status >= 500;
    const fix =
      status === 401
        ? "check CALDAV_USERNAME and CALDAV_PASSWORD (iCloud and Fastmail need an app-specific password)"
        : status === 403
          ? "check that the account may write to this collection"
          : status === 507
            ? "the account is out of storage; free some space"
            : undefined;
    super(`${method} ${new URL(url).pathname} answered ${status}`, {
      kind: transient ? "transient" : "permanent",
      fix,
      retryAfterMs: parseRetryAfter(retryAfter),
    });
  }
}

/** tsdav returns a failed request (no multistatus) as one response without props. */
function httpFailure(responses: DAVResponse[]): DAVResponse | undefined {
  const [only] = responses;
  return responses.length === 1 && only && !only.ok && only.props === undefined ? only : undefined;
}

function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** A failed fetch as the user should read it: which server, and the system's reason. */
function networkError(error: unknown, serverUrl: string): Error {
  if (error instanceof PushError) return error;
  const err = error as Error & { cause?: { code?: string; message?: string } };
  const host = new URL(serverUrl).host;
  if (err.name === "AbortError") return err; // the service is stopping
  if (err.name === "TimeoutError") {
    return new PushError(`${host} did not answer in time`, { kind: "transient", cause: error });
  }
  const code = err.cause?.code ?? "";
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
    return new PushError(`the TLS certificate of ${host} is not trusted (${code})`, {
      kind: "permanent",
      fix: "give the server a valid certificate, or trust its CA with NODE_EXTRA_CA_CERTS",
      cause: error,
    });
  }
  const reason = code || err.cause?.message || err.message;
  return new PushError(`cannot reach ${host} (${reason})`, {
    kind: "transient",
    fix: code === "ENOTFOUND" ? "check the host name in the URL" : undefined,
    cause: error,
  });
}

/** tsdav turns text that looks like a number into one, and CDATA into {_cdata}. */
function textOf(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "object") {
    const inner =
      (value as { _cdata?: unknown; _text?: unknown })._cdata ?? (value as { _text?: unknown })._text;
    return inner === undefined ? undefined : String(inner);
  }
  return String(value);
}

/** The decoded path of an href, resolved against the collection URL. */
export function pathOf(href: string, base: string): string {
  try {
    return decodeURIComponent(new URL(href, base).pathname);
  } catch {
    return href;
  }
}

function encodePath(path: string): string {
  return path
    .split("/")
    .map((segment) => encodeURIComponent(segment))
    .join("/");
}
