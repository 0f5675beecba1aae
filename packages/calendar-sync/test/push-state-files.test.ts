import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createCalDavBackend } from "../src/backends/dav/caldav.js";
import { createCardDavBackend } from "../src/backends/dav/carddav.js";
import { GoogleAuthorization } from "../src/backends/google/google-auth.js";
import { GoogleCalendarBackend } from "../src/backends/google/google-calendar.js";
import { GooglePeopleBackend } from "../src/backends/google/google-people.js";
import { readGoogleCredentials } from "../src/backends/google/google-token-file.js";
import type { PushBackend } from "../src/backends/push-backend.js";
import { capturingLogger } from "./helpers.js";

/**
 * The push backends' state files as users have them on disk, written by the release before the
 * backends shared one state store: each must load unchanged after an upgrade, or the backend would
 * start empty and re-read (or, for Google Contacts, re-list) everything. The targets below are the
 * digests that release wrote for these settings; a changed digest would read as "settings changed".
 */

const DAV_URL = "http://127.0.0.1:5232/";
const CLIENT_ID = "fogis-test-client.apps.googleusercontent.com";
const EMPTY = { events: [], contacts: [], appliedAt: new Date("2026-05-01T10:00:00Z") };

const files = {
  caldav: {
    version: 1,
    target: "1b2590542f1f86a2",
    collectionUrl: `${DAV_URL}anna/fogis/`,
    syncToken: "http://radicale.org/ns/sync/0f3c",
    items: {
      "fogis-match-6143017@fogis-realtime": {
        href: "/anna/fogis/fogis-match-6143017.ics",
        etag: '"a1"',
        hash: "h1",
        pristine: true,
        deleted: false,
        sequence: 2,
      },
      "fogis-match-6143018@fogis-realtime": {
        href: "/anna/fogis/fogis-match-6143018.ics",
        etag: null,
        hash: "h2",
        pristine: false,
        deleted: true,
      },
    },
  },
  carddav: {
    version: 1,
    target: "f1779319cc9d351d",
    collectionUrl: `${DAV_URL}anna/domare/`,
    syncToken: null,
    items: {
      "10773": {
        href: "/anna/domare/fogis-referee-10773.vcf",
        etag: '"c1"',
        hash: "h3",
        pristine: false,
        deleted: false,
        owned: ["tel:+46701234567"],
      },
    },
  },
  "google-calendar": {
    version: 1,
    target: "ec8dfc5b269a52d6",
    adoptionScanned: true,
    items: {
      "fogis-match-6143017@fogis-realtime": {
        eventId: "fogismatch6143017",
        etag: '"3456"',
        hash: "h1",
        deleted: false,
        theirReminders: [{ method: "email", minutes: 60 }],
      },
      "fogis-match-6143018@fogis-realtime": {
        eventId: "fogismatch6143018",
        etag: null,
        hash: null,
        deleted: false,
        theirReminders: "default",
      },
      "fogis-match-6143019@fogis-realtime": {
        eventId: "fogismatch6143019",
        etag: '"1"',
        hash: "h9",
        deleted: true,
        theirReminders: [],
      },
    },
  },
  "google-people": {
    version: 1,
    target: "334de38b3c1440b6",
    groupResourceName: "contactGroups/5a1b",
    scanned: true,
    items: {
      "10773": {
        resourceName: "people/c1",
        etag: "%EgU",
        hash: "h4",
        owned: ["tel:+46701234567", "id:fogisid=domarnr=10773"],
        theirs: { emailAddresses: [{ value: "bertil@example.se", type: "home" }] },
      },
      "32062": { resourceName: null, etag: null, hash: null, owned: [], theirs: {} },
    },
  },
};

describe("push backend state files written by the previous release", () => {
  let dir: string;
  let log: ReturnType<typeof capturingLogger>;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "push-state-"));
    log = capturingLogger("info");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function write(name: keyof typeof files, content: unknown = files[name]): void {
    // As writeJsonAtomic writes them: one line of JSON and a newline.
    writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(content)}\n`);
  }

  function backends(
    collections = { calendar: "FOGIS", addressBook: "Domare", calendarId: "primary", group: "Referees" },
  ) {
    const dav = { url: DAV_URL, username: "anna", password: "secret", dataDir: dir, logger: log.logger };
    const tokenFile = join(dir, "token.json");
    writeFileSync(
      tokenFile,
      JSON.stringify({
        token: "access",
        refresh_token: "refresh",
        token_uri: "https://oauth2.googleapis.com/token",
        client_id: CLIENT_ID,
        client_secret: "client-secret",
        scopes: [],
        expiry: "2026-05-01T11:00:00.000000Z",
      }),
    );
    const auth = new GoogleAuthorization({
      tokenFile,
      tokenUrl: "http://127.0.0.1:9/token",
      credentials: readGoogleCredentials(tokenFile),
      logger: log.logger,
    });
    const google = { auth, apiBaseUrl: "http://127.0.0.1:9/", dataDir: dir, logger: log.logger };
    return {
      caldav: createCalDavBackend({ ...dav, collection: collections.calendar }),
      carddav: createCardDavBackend({ ...dav, collection: collections.addressBook }),
      "google-calendar": new GoogleCalendarBackend({ ...google, calendarId: collections.calendarId }),
      "google-people": new GooglePeopleBackend({ ...google, group: collections.group }),
    } satisfies Record<keyof typeof files, PushBackend>;
  }

  function events(): Array<Record<string, unknown>> {
    return log.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  it("load with every item, and each backend goes on from them (no request made to load)", async () => {
    for (const name of Object.keys(files) as Array<keyof typeof files>) write(name);
    const loaded = backends();
    expect(await loaded.caldav.load()).toEqual({ state: "ok", count: 2 });
    expect(await loaded.carddav.load()).toEqual({ state: "ok", count: 1 });
    expect(await loaded["google-calendar"].load()).toEqual({ state: "ok", count: 3 });
    expect(await loaded["google-people"].load()).toEqual({ state: "ok", count: 2 });
    // The items are the backend's own again: with FOGIS empty, every live one is to be removed,
    // and an item the referee deleted is not.
    expect(loaded.caldav.pending(EMPTY)).toBe(1);
    expect(loaded.carddav.pending(EMPTY)).toBe(1);
    expect(loaded["google-calendar"].pending(EMPTY)).toBe(2);
    expect(loaded["google-people"].pending(EMPTY)).toBe(2);
    // The collection found before is shown, and not looked for again.
    expect(loaded.caldav.describe()).toMatchObject({
      calendar: "FOGIS",
      collection_url: `${DAV_URL}anna/fogis/`,
    });
    expect(loaded.carddav.describe()).toMatchObject({
      address_book: "Domare",
      collection_url: `${DAV_URL}anna/domare/`,
    });
    expect(events().filter((line) => String(line.event).startsWith("state_"))).toEqual([]);
  });

  it("start fresh when the settings name another calendar, and say so", async () => {
    for (const name of Object.keys(files) as Array<keyof typeof files>) write(name);
    const moved = backends({
      calendar: "Matcher",
      addressBook: "Kollegor",
      calendarId: "work@group.calendar",
      group: "Domare",
    });
    for (const backend of Object.values(moved)) {
      expect(await backend.load()).toEqual({ state: "ok", count: 0 });
      expect(backend.pending(EMPTY)).toBe(0);
    }
    expect(moved.caldav.describe()).toMatchObject({ collection_url: null });
    const changed = events().filter((line) => line.event === "push_target_changed");
    expect(changed.map((line) => line.backend)).toEqual(["caldav", "carddav", "google-calendar"]);
  });

  it("read a damaged file as empty, logged as state_corrupt with the file's path", async () => {
    write("caldav", { ...files.caldav, version: 2 });
    writeFileSync(join(dir, "google-people.json"), '{"version":1,"target":');
    const loaded = backends();
    expect(await loaded.caldav.load()).toEqual({ state: "corrupt", reason: "unexpected content" });
    expect(await loaded["google-people"].load()).toMatchObject({ state: "corrupt" });
    expect(await loaded.carddav.load()).toEqual({ state: "missing" });
    expect(loaded.caldav.pending(EMPTY)).toBe(0);
    const corrupt = events().filter((line) => line.event === "state_corrupt");
    expect(corrupt.map((line) => [line.backend, line.file])).toEqual([
      ["caldav", join(dir, "caldav.json")],
      ["google-people", join(dir, "google-people.json")],
    ]);
  });
});
