import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type GoogleStandIn, startGoogleStandIn } from "@fogis/testing";
import request from "supertest";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { googleEventId } from "../src/backends/google/google-calendar.js";
import type { BackendStatus } from "../src/backends/push-backend.js";
import {
  contactsOf,
  eventsOfMatch,
  match,
  OWN_NUMBER,
  pythonContact,
  pythonEvent,
  referees,
  startGoogleService,
  writePythonTokenFile,
} from "./google-helpers.js";
import { backendStatus, capturingLogger, eventually, pushMatches, type TestService } from "./helpers.js";

/**
 * The Google Calendar and Google Contacts backends against a local stand-in that follows Google's
 * documented behaviour (@fogis/testing `GoogleStandIn`), seeded as an account the Python
 * fogis-calendar-phonebook-sync left behind. What is checked is what the referee's Google account
 * holds afterwards, read from the stand-in.
 */

type Private = Record<string, string>;
const privateOf = (event: Record<string, unknown>) =>
  ((event.extendedProperties as { private?: Private } | undefined)?.private ?? {}) as Private;
const overrides = (event: Record<string, unknown>) =>
  (
    (event.reminders as { overrides?: Array<{ method: string; minutes: number }> } | undefined)?.overrides ??
    []
  )
    .map((r) => `${r.method}:${r.minutes}`)
    .sort();

describe("Google Calendar and Google Contacts push", () => {
  let google: GoogleStandIn;
  let dir: string;
  const services: TestService[] = [];

  beforeEach(async () => {
    google = await startGoogleStandIn();
    dir = mkdtempSync(join(tmpdir(), "google-push-"));
  });
  afterEach(async () => {
    for (const service of services.splice(0)) await service.close();
    await google.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(tokenFile: string, options: Parameters<typeof startGoogleService>[2] = {}) {
    const service = await startGoogleService(google, tokenFile, options);
    services.push(service);
    return service;
  }

  it("takes over what the Python service left: no duplicate event or contact, the referee's own additions kept, nothing else touched", async () => {
    const referees_ = google.seedGroup("Referees");
    const group = String(referees_.resourceName);
    // The Python service's event for 7001, which the referee coloured and gave a reminder of their own.
    const python = pythonEvent(google, 7001, {
      colorId: "11",
      reminders: {
        useDefault: false,
        overrides: [
          { method: "popup", minutes: 2880 },
          { method: "popup", minutes: 30 },
        ],
      },
    });
    // Its event of a match long gone from FOGIS (history), and the referee's own appointment.
    const history = pythonEvent(google, 6001);
    const dentist = google.seedEvent({
      summary: "Tandläkare",
      start: { dateTime: "2026-12-07T09:00:00Z" },
      end: { dateTime: "2026-12-07T10:00:00Z" },
    });
    // Bertil's contact from the Python service, with a birthday the referee added; the referee's mother.
    const bertil = pythonContact(google, "60773", "Bertil Berg", group, {
      birthdays: [{ date: { year: 1980, month: 4, day: 2 } }],
    });
    const mother = google.seedContact({
      names: [{ givenName: "Mamma" }],
      phoneNumbers: [{ value: "070-1111111" }],
    });

    const token = writePythonTokenFile(dir, google);
    const service = await start(token.path);
    await pushMatches(service, [
      match(7001, { time: "15:00" }),
      match(7002, { date: "2026-12-12", time: "13:00" }),
    ]);

    // One event per match: the Python one adopted (same id), a new one with our id.
    const adopted = eventsOfMatch(google, 7001);
    expect(adopted).toHaveLength(1);
    expect(adopted[0]?.id).toBe(python.id);
    expect(adopted[0]).toMatchObject({
      summary: "Hemmalag 1 - Bortalag 1",
      colorId: "11",
      start: { dateTime: "2026-12-05T14:00:00.000Z", timeZone: "Europe/Stockholm" },
    });
    expect(String(adopted[0]?.description)).toContain(
      "Matchfakta: https://www.svenskfotboll.se/matchfakta/7001/",
    );
    expect(overrides(adopted[0] ?? {})).toEqual(["popup:2880", "popup:30"]);
    expect(privateOf(adopted[0] ?? {})).toMatchObject({ matchId: "7001", syncTag: "FOGIS_CALENDAR_SYNC" });
    const created = eventsOfMatch(google, 7002);
    expect(created.map((event) => event.id)).toEqual([googleEventId(7002)]);
    // Nothing else touched.
    expect(google.event(history.id)?.etag).toBe(history.etag);
    expect(google.event(dentist.id)?.etag).toBe(dentist.etag);

    // Contacts: Bertil adopted (his birthday kept), Cecilia new and in "Referees", Anna (the user) left out.
    expect(contactsOf(google, "60773").map((person) => person.resourceName)).toEqual([bertil.resourceName]);
    const bertilNow = google.contact(bertil.resourceName);
    expect(bertilNow?.birthdays).toEqual([{ date: { year: 1980, month: 4, day: 2 } }]);
    expect(bertilNow?.phoneNumbers).toEqual([{ value: "070-0010773", type: "mobile" }]);
    expect(String((bertilNow?.biographies as Array<{ value: string }> | undefined)?.[0]?.value)).toContain(
      "Hemmalag 1 - Bortalag 1",
    );
    const cecilia = contactsOf(google, "82062");
    expect(cecilia).toHaveLength(1);
    expect(google.members(group).sort()).toEqual([bertil.resourceName, cecilia[0]?.resourceName].sort());
    expect(contactsOf(google, OWN_NUMBER)).toEqual([]);
    expect(google.contact(mother.resourceName)?.etag).toBe(mother.etag);
    expect(google.contacts()).toHaveLength(3);
    expect(backendStatus(service, "google-calendar").status).toBe("pass");
    expect(backendStatus(service, "google-people").status).toBe("pass");

    // The same list again through the backends: not one call to Google.
    const before = google.requests.length;
    service.service.backends.offer({
      events: service.service.calendar.list(),
      contacts: service.service.phonebook.contacts(),
      appliedAt: new Date(),
    });
    await service.service.backends.whenSynced();
    expect(google.requests.length).toBe(before);
  });

  it("keeps the referee's edits through a kick-off change, merging on 412; an untouched event costs one call", async () => {
    const token = writePythonTokenFile(dir, google);
    const service = await start(token.path, { extraEnv: { GOOGLE_CONTACTS_GROUP: "" } });
    await pushMatches(service, [match(7101, { time: "15:00" }), match(7102, { time: "17:00" })]);
    const id = googleEventId(7101);
    // In Google Calendar the referee colours the event, adds a reminder and a private note of their own.
    google.editEvent(id, {
      colorId: "5",
      reminders: {
        useDefault: false,
        overrides: [
          { method: "popup", minutes: 2880 },
          { method: "email", minutes: 120 },
        ],
      },
      extendedProperties: { private: { refereeNote: "ta med flaggor" } },
    });

    let before = google.count("calendar");
    await pushMatches(service, [match(7101, { time: "18:30" }), match(7102, { time: "17:00" })]);
    // PATCH (412), GET, PATCH.
    expect(google.count("calendar") - before).toBe(3);
    const edited = google.event(id);
    expect(edited?.start).toEqual({ dateTime: "2026-12-05T17:30:00.000Z", timeZone: "Europe/Stockholm" });
    expect(edited?.colorId).toBe("5");
    expect(overrides(edited ?? {})).toEqual(["email:120", "popup:2880"]);
    expect(privateOf(edited ?? {}).refereeNote).toBe("ta med flaggor");
    expect(backendStatus(service, "google-calendar").counters.conflicts).toBe(1);

    before = google.count("calendar");
    await pushMatches(service, [match(7101, { time: "18:30" }), match(7102, { time: "19:00" })]);
    expect(google.count("calendar") - before).toBe(1);
    expect(google.event(googleEventId(7102))?.start).toMatchObject({ dateTime: "2026-12-05T18:00:00.000Z" });
  });

  it("cancels, removes before kick-off, and leaves an event the referee deleted deleted until FOGIS changes it", async () => {
    const token = writePythonTokenFile(dir, google);
    const service = await start(token.path, { extraEnv: { GOOGLE_CONTACTS_GROUP: "" } });
    await pushMatches(service, [match(7201), match(7202), match(7203)]);
    google.editEvent(googleEventId(7201), {
      reminders: {
        useDefault: false,
        overrides: [
          { method: "popup", minutes: 2880 },
          { method: "popup", minutes: 15 },
        ],
      },
    });
    google.deleteEventAsUser(googleEventId(7203));

    // 7201 cancelled, 7202 taken off the list before kick-off, 7203 unchanged.
    await pushMatches(service, [match(7201, { cancelled: true }), match(7203)]);
    const cancelled = google.event(googleEventId(7201));
    expect(cancelled).toMatchObject({
      status: "confirmed",
      transparency: "transparent",
      summary: "INSTÄLLD: Hemmalag 201 - Bortalag 201",
    });
    expect(String(cancelled?.description).split("\n")[0]).toBe("INSTÄLLD");
    expect(overrides(cancelled ?? {})).toEqual(["popup:15"]); // ours gone, theirs kept
    expect(google.event(googleEventId(7202))?.status).toBe("cancelled");
    expect(eventsOfMatch(google, 7202)).toEqual([]);
    expect(google.event(googleEventId(7203))?.status).toBe("cancelled");

    // Another match changes: 7203 stays deleted.
    await pushMatches(service, [match(7201, { cancelled: true }), match(7203), match(7204)]);
    expect(google.event(googleEventId(7203))?.status).toBe("cancelled");
    // FOGIS moves 7203: it is back, with the new time.
    await pushMatches(service, [
      match(7201, { cancelled: true }),
      match(7203, { time: "19:00" }),
      match(7204),
    ]);
    expect(google.event(googleEventId(7203))).toMatchObject({
      status: "confirmed",
      start: { dateTime: "2026-12-05T18:00:00.000Z" },
    });
    expect(eventsOfMatch(google, 7203)).toHaveLength(1);
  });

  it("shows postponed and interrupted matches as the feed does, keeps a played match as history, and lets it go after HISTORY_DAYS", async () => {
    const token = writePythonTokenFile(dir, google);
    const service = await start(token.path, {
      now: "2026-11-20T12:00:00Z",
      extraEnv: { HISTORY_DAYS: "30" },
    });
    const played = match(7801, { date: "2026-11-14", referees: [referees.anna, referees.david] });
    await pushMatches(service, [played, match(7802), match(7803)]);
    expect(overrides(google.event(googleEventId(7802)) ?? {})).toEqual(["popup:2880"]);

    // 7802 postponed: tentative, the title says so, no alarm; 7803 interrupted: same time, the title says so.
    await pushMatches(service, [
      played,
      match(7802, { postponed: true }),
      match(7803, { interrupted: true }),
    ]);
    expect(google.event(googleEventId(7802))).toMatchObject({
      status: "tentative",
      summary: "UPPSKJUTEN: Hemmalag 802 - Bortalag 802",
    });
    expect(overrides(google.event(googleEventId(7802)) ?? {})).toEqual([]);
    expect(google.event(googleEventId(7803))).toMatchObject({
      status: "confirmed",
      summary: "AVBRUTEN: Hemmalag 803 - Bortalag 803",
      start: { dateTime: "2026-12-05T14:00:00.000Z" },
    });
    expect(overrides(google.event(googleEventId(7803)) ?? {})).toEqual(["popup:2880"]);

    // FOGIS's list moves on: the played match leaves it and stays in Google as history, David too.
    service.setNow("2026-11-23T12:00:00Z");
    const upcoming = [match(7802, { postponed: true }), match(7803, { interrupted: true })];
    await pushMatches(service, upcoming);
    expect(google.event(googleEventId(7801))?.status).toBe("confirmed");
    expect(contactsOf(google, "94100")).toHaveLength(1);

    // 31 days after it ended: its event and David, met only there, leave Google too.
    service.setNow("2026-12-15T16:00:00Z");
    await pushMatches(service, upcoming);
    expect(google.event(googleEventId(7801))?.status).toBe("cancelled");
    expect(contactsOf(google, "94100")).toEqual([]);
    expect(eventsOfMatch(google, 7802)).toHaveLength(1);
  });

  it("after a lost state file finds its events and contacts again: no duplicate, a deleted event stays deleted", async () => {
    const token = writePythonTokenFile(dir, google);
    const dataDir = join(dir, "data");
    let service = await start(token.path, { dataDir });
    const list = [match(7301), match(7302, { referees: [referees.anna, referees.david] })];
    await pushMatches(service, list);
    google.deleteEventAsUser(googleEventId(7302));
    await service.close();
    services.splice(services.indexOf(service), 1);
    for (const name of ["google-calendar.json", "google-people.json"]) rmSync(join(dataDir, name));
    const events = google.events(undefined, { showDeleted: true }).length;
    const contacts = google.contacts().length;

    service = await start(token.path, { dataDir });
    // The saved calendar is offered at start; the next FOGIS change is written too.
    await pushMatches(service, [match(7301, { time: "16:00" }), list[1]]);
    expect(google.events(undefined, { showDeleted: true })).toHaveLength(events);
    expect(google.contacts()).toHaveLength(contacts);
    expect(eventsOfMatch(google, 7301)).toHaveLength(1);
    expect(google.event(googleEventId(7301))?.start).toMatchObject({ dateTime: "2026-12-05T15:00:00.000Z" });
    expect(google.event(googleEventId(7302))?.status).toBe("cancelled");
  });

  it("recovers from a burst of 429s and rate-limit 403s with backoff, and says so in the status meanwhile", async () => {
    const token = writePythonTokenFile(dir, google);
    const service = await start(token.path, { extraEnv: { GOOGLE_CONTACTS_GROUP: "" } });
    await pushMatches(service, [match(7401)]);

    // A short burst is absorbed within the sync.
    google.failNext(2, { status: 429, retryAfterSeconds: 0, api: "calendar" });
    google.failNext(1, { status: 403, reason: "rateLimitExceeded", api: "calendar" });
    await pushMatches(service, [match(7401, { time: "16:00" })]);
    expect(google.event(googleEventId(7401))?.start).toMatchObject({ dateTime: "2026-12-05T15:00:00.000Z" });
    expect(backendStatus(service, "google-calendar").status).toBe("pass");

    // A longer one stops the sync (warn) and the runner comes back after the backoff.
    google.failNext(6, { status: 503, api: "calendar" });
    google.failNext(2, { status: 403, reason: "userRateLimitExceeded", api: "calendar" });
    const response = await request(service.service.app)
      .post("/manual-sync")
      .set({ Authorization: "Bearer test-token-0123456789abcdef" })
      .send({ matches: [match(7401, { time: "17:00" })] });
    expect(response.status).toBe(200);
    await eventually(() =>
      expect(backendStatus(service, "google-calendar").counters.failures).toBeGreaterThan(0),
    );
    await service.service.backends.whenSynced();
    expect(google.event(googleEventId(7401))?.start).toMatchObject({ dateTime: "2026-12-05T16:00:00.000Z" });
    const status = backendStatus(service, "google-calendar");
    expect(status.status).toBe("pass");
    expect(status.lastError).toBeNull();
    // Exactly one successful PATCH for that change, whatever the burst cost.
    expect(
      google.requests.filter((r) => r.api === "calendar" && r.method === "PATCH" && r.status === 200),
    ).toHaveLength(2);
  });

  it("waits at least as long as Google's Retry-After asks before calling again", async () => {
    const token = writePythonTokenFile(dir, google);
    const service = await start(token.path, { extraEnv: { GOOGLE_CONTACTS_GROUP: "" } });
    await pushMatches(service, [match(7451)]);
    const from = google.requests.length;
    // Longer than a wait inside the sync may be (40 ms here): the runner takes it over.
    google.failNext(1, { status: 429, retryAfterSeconds: 2, api: "calendar" });
    await request(service.service.app)
      .post("/manual-sync")
      .set({ Authorization: "Bearer test-token-0123456789abcdef" })
      .send({ matches: [match(7451, { time: "16:00" })] })
      .expect(200);
    await eventually(() => expect(backendStatus(service, "google-calendar").lastError).toMatch(/429/));
    await service.service.backends.whenSynced();
    expect(google.event(googleEventId(7451))?.start).toMatchObject({ dateTime: "2026-12-05T15:00:00.000Z" });
    const calls = google.requests.slice(from).filter((r) => r.api === "calendar");
    expect(calls.map((r) => `${r.method} ${r.status}`)).toEqual(["PATCH 429", "PATCH 200"]);
    expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(2000);
    expect(backendStatus(service, "google-calendar").status).toBe("pass");
  });

  it("refreshes an expired access token once for both backends and writes it back as the Python service reads it", async () => {
    const token = writePythonTokenFile(dir, google, { expired: true });
    const before = JSON.parse(readFileSync(token.path, "utf8"));
    const service = await start(token.path);
    await pushMatches(service, [match(7501)]);
    expect(google.count("oauth", "POST")).toBe(1);
    await eventually(() => expect(JSON.parse(readFileSync(token.path, "utf8")).token).not.toBe(before.token));
    const after = JSON.parse(readFileSync(token.path, "utf8"));
    expect(Object.keys(after)).toEqual(Object.keys(before));
    expect(after).toMatchObject({
      refresh_token: before.refresh_token,
      client_id: before.client_id,
      client_secret: before.client_secret,
      token_uri: before.token_uri,
      scopes: before.scopes,
      universe_domain: "googleapis.com",
      account: "",
    });
    expect(after.expiry).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(Date.parse(after.expiry) - Date.now()).toBeGreaterThan(50 * 60_000);
    expect(statSync(token.path).mode & 0o777).toBe(0o600);
    // google-auth's own reader (from_authorized_user_info): the keys it needs, the expiry as it parses it.
    const python = readPythonToken(token.path);
    expect(python).toEqual({ ok: true, expiry: after.expiry.split(".")[0] });
    expect(backendStatus(service, "google-calendar").status).toBe("pass");
    expect(backendStatus(service, "google-people").status).toBe("pass");
  });

  it("a revoked grant is one fail status naming the reconnect command, with no retry storm; a new token file brings it back", async () => {
    const { logger, lines } = capturingLogger("debug");
    const token = writePythonTokenFile(dir, google, { expired: true });
    const service = await start(token.path, { logger });
    await pushMatches(service, [match(7601)]);
    google.revokeGrant();
    google.expireAccessTokens();
    const tokenCalls = google.count("oauth", "POST");

    await request(service.service.app)
      .post("/manual-sync")
      .set({ Authorization: "Bearer test-token-0123456789abcdef" })
      .send({ matches: [match(7601, { time: "18:00" })] })
      .expect(200);
    await eventually(() => expect(backendStatus(service, "google-calendar").status).toBe("fail"));
    const status = backendStatus(service, "google-calendar");
    expect(status.lastError).toMatch(/invalid_grant/);
    expect(status.lastError).toMatch(/reconnect Google: run `pnpm google-auth`/);
    // Several retries (every 300 ms here): still the one refusal from Google, no new attempt.
    await eventually(() =>
      expect(backendStatus(service, "google-calendar").counters.failures).toBeGreaterThanOrEqual(3),
    );
    expect(google.count("oauth", "POST") - tokenCalls).toBe(1);

    // The referee runs pnpm google-auth and copies the new token.json over the old one.
    const renewed = writePythonTokenFile(dir, google, { name: "new-token.json" });
    writeFileSync(token.path, readFileSync(renewed.path));
    await eventually(() => expect(backendStatus(service, "google-calendar").status).toBe("pass"));
    expect(google.event(googleEventId(7601))?.start).toMatchObject({ dateTime: "2026-12-05T17:00:00.000Z" });

    // No token or secret anywhere the user or a log can see.
    const secrets = [
      token.refreshToken,
      token.accessToken,
      renewed.refreshToken,
      renewed.accessToken,
      google.clientSecret,
    ];
    const config = await request(service.service.app).get("/redis-config");
    const health = await request(service.service.app).get("/health");
    const page = await request(service.service.app).get("/");
    const shown = [lines.join(""), JSON.stringify(config.body), JSON.stringify(health.body), page.text];
    for (const secret of secrets) for (const text of shown) expect(text).not.toContain(secret);
    expect(config.body.config ?? config.body).toBeDefined();
    expect(JSON.stringify(config.body)).toContain(token.path);
  });

  it("shows Google Calendar and Google Contacts like every backend on /health, /redis-status, /metrics and the page, and no token or client secret anywhere", async () => {
    const { logger, lines } = capturingLogger("debug");
    // An expired access token: the first push refreshes it, so a fresh token exists too.
    const token = writePythonTokenFile(dir, google, { expired: true });
    const service = await start(token.path, { logger });
    await pushMatches(service, [match(7701)]);
    const app = service.service.app;

    const names = (backends: BackendStatus[]) => backends.map((b) => [b.name, b.kind, b.status]);
    const health = (await request(app).get("/health")).body;
    expect(names(health.backends)).toEqual([
      ["feed", "ics-feed", "pass"],
      ["google-calendar", "google-calendar", "pass"],
      ["google-people", "google-people", "pass"],
    ]);
    const redisStatus = (await request(app).get("/redis-status")).body;
    expect(redisStatus.backends.map((b: BackendStatus) => b.name)).toEqual([
      "feed",
      "google-calendar",
      "google-people",
    ]);
    const metrics = (await request(app).get("/metrics")).text;
    for (const kind of ["google-calendar", "google-people"]) {
      expect(metrics).toMatch(
        new RegExp(
          `fogis_calendar_backend_status\\{backend="${kind}",kind="${kind}",status="pass"[^}]*\\} 1`,
        ),
      );
    }
    expect(metrics).toMatch(
      /fogis_calendar_backend_writes_total\{backend="google-calendar",kind="google-calendar",operation="create"[^}]*\} 1/,
    );
    const page = await request(app).get("/?lang=en");
    expect(page.text).toContain("Google Calendar");
    expect(page.text).toContain("Google Contacts");

    // Then the grant is revoked: the failure is shown everywhere, still without a secret.
    google.revokeGrant();
    google.expireAccessTokens();
    await request(app)
      .post("/manual-sync")
      .set({ Authorization: "Bearer test-token-0123456789abcdef" })
      .send({ matches: [match(7701, { time: "19:00" })] })
      .expect(200);
    await eventually(() => expect(backendStatus(service, "google-calendar").status).toBe("fail"));
    await eventually(() => expect(backendStatus(service, "google-people").status).toBe("fail"));

    const secrets = google.secrets();
    // The client secret, the refresh token, the access token in the file and the refreshed one.
    expect(secrets.length).toBeGreaterThanOrEqual(4);
    const shown: Record<string, string> = { log: lines.join("") };
    for (const path of [
      "/health",
      "/redis-status",
      "/redis-stats",
      "/redis-config",
      "/metrics",
      "/",
      "/status.json",
    ]) {
      shown[path] = (await request(app).get(path)).text;
    }
    expect(shown["/status.json"]).toContain("reconnect Google");
    expect(shown["/"]).toContain("pnpm google-auth");
    for (const [where, text] of Object.entries(shown)) {
      for (const secret of secrets) expect(text.includes(secret), `a secret in ${where}`).toBe(false);
    }
  });

  it("stops at start with the fix when the token file is missing or not a token file", async () => {
    const { loadCalendarSyncConfig } = await import("../src/index.js");
    const base = { API_TOKEN: "test-token-0123456789abcdef", DATA_DIR: dir };
    expect(() => loadCalendarSyncConfig({ ...base, GOOGLE_TOKEN_FILE: join(dir, "nope.json") })).toThrow(
      /GOOGLE_TOKEN_FILE: cannot read the Google token file .*nope\.json \(ENOENT\)/,
    );
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ token: "x", client_id: "y" }));
    expect(() => loadCalendarSyncConfig({ ...base, GOOGLE_TOKEN_FILE: bad })).toThrow(
      /refresh_token missing or invalid; create it with pnpm google-auth/,
    );
    const noClient = join(dir, "no-client.json");
    writeFileSync(noClient, JSON.stringify({ token: "x", refresh_token: "1//secret-refresh" }));
    expect(() => loadCalendarSyncConfig({ ...base, GOOGLE_TOKEN_FILE: noClient })).toThrow(
      /set GOOGLE_CREDENTIALS_FILE/,
    );
    try {
      loadCalendarSyncConfig({ ...base, GOOGLE_TOKEN_FILE: noClient });
    } catch (error) {
      expect(String(error)).not.toContain("1//secret-refresh");
    }
    const client = join(dir, "credentials.json");
    writeFileSync(client, JSON.stringify({ installed: { client_id: "y", client_secret: "GOCSPX-s" } }));
    const config = loadCalendarSyncConfig({
      ...base,
      GOOGLE_TOKEN_FILE: noClient,
      GOOGLE_CREDENTIALS_FILE: client,
    });
    expect(config.google?.credentials.client).toEqual({ clientId: "y", clientSecret: "GOCSPX-s" });
    expect(config.google?.contactsGroup).toBe("Referees");
    expect(config.google?.calendarId).toBe("primary");
    expect(() =>
      loadCalendarSyncConfig({
        ...base,
        GOOGLE_TOKEN_FILE: noClient,
        GOOGLE_CREDENTIALS_FILE: client,
        GOOGLE_API_BASE_URL: "http://google.example.com/",
      }),
    ).toThrow(/GOOGLE_API_BASE_URL.*https/);
  });
});

/** What google-auth's `from_authorized_user_info` checks, run by Python itself. */
function readPythonToken(path: string): { ok: boolean; expiry?: string; error?: string } {
  const script = [
    "import json, sys",
    "from datetime import datetime",
    "info = json.load(open(sys.argv[1]))",
    "missing = {'refresh_token', 'client_id', 'client_secret'} - set(info)",
    "assert not missing, missing",
    "expiry = datetime.strptime(info['expiry'].rstrip('Z').split('.')[0], '%Y-%m-%dT%H:%M:%S')",
    "print(json.dumps({'ok': True, 'expiry': expiry.isoformat()}))",
  ].join("\n");
  const result = spawnSync("python3", ["-c", script, path], { encoding: "utf8" });
  if (result.error)
    throw new Error(`python3 is needed for this check (apt-get install -y python3): ${result.error.message}`);
  if (result.status !== 0) return { ok: false, error: result.stderr };
  return JSON.parse(result.stdout) as { ok: boolean; expiry?: string };
}
