import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fogisMatch, type GoogleStandIn, type MatchInput } from "@fogis/testing";
import {
  CALENDAR_SCOPE,
  CONTACTS_SCOPE,
  formatPythonExpiry,
} from "../src/backends/google/google-token-file.js";
import { startTestService, type TestService, type TestServiceOptions } from "./helpers.js";

/** Shared set-up of the Google backend tests: a token file as the Python service wrote it, a service pointed at the stand-in. */

export const FAST_RETRY = { initialMs: 50, maxMs: 200, permanentMs: 300, failAfterMs: 60_000 };
export const FAST_GOOGLE_RETRY = { attempts: 4, baseMs: 5, maxMs: 40 };
export const OWN_NUMBER = "56600"; // Anna Andersson, the user: left out of the phonebook

export const referees = {
  anna: { domareid: 6600, role: "Dom" as const, name: "Anna Andersson" },
  bertil: { domareid: 10_773, role: "AD1" as const, name: "Bertil Berg" },
  cecilia: { domareid: 32_062, role: "AD2" as const, name: "Cecilia Ek" },
  david: { domareid: 44_100, role: "AD2" as const, name: "David Nord" },
};

export function match(matchid: number, input: Omit<MatchInput, "matchid"> = {}) {
  return fogisMatch({ matchid, referees: [referees.anna, referees.bertil, referees.cecilia], ...input });
}

/**
 * `token.json` exactly as google-auth's `Credentials.to_json()` writes it for the Python service:
 * one line, these keys in this order, the expiry naive UTC with microseconds and a `Z`.
 */
export function writePythonTokenFile(
  dir: string,
  google: GoogleStandIn,
  options: { expired?: boolean; scopes?: string[]; name?: string } = {},
): { path: string; refreshToken: string; accessToken: string } {
  const scopes = options.scopes ?? [CALENDAR_SCOPE, CONTACTS_SCOPE];
  const grant = google.issueGrant(scopes);
  const expiry = options.expired ? Date.now() - 3_600_000 : grant.expiresAt;
  const path = join(dir, options.name ?? "token.json");
  const file = {
    token: grant.accessToken,
    refresh_token: grant.refreshToken,
    token_uri: "https://oauth2.googleapis.com/token",
    client_id: google.clientId,
    client_secret: google.clientSecret,
    scopes,
    universe_domain: "googleapis.com",
    account: "",
    expiry: formatPythonExpiry(expiry),
  };
  writeFileSync(path, JSON.stringify(file));
  return { path, refreshToken: grant.refreshToken, accessToken: grant.accessToken };
}

export function googleEnv(google: GoogleStandIn, tokenFile: string, extra: Record<string, string> = {}) {
  return {
    GOOGLE_TOKEN_FILE: tokenFile,
    GOOGLE_API_BASE_URL: google.url,
    GOOGLE_OAUTH_TOKEN_URL: google.tokenUrl,
    USER_REFEREE_NUMBER: OWN_NUMBER,
    ...extra,
  };
}

export async function startGoogleService(
  google: GoogleStandIn,
  tokenFile: string,
  options: TestServiceOptions & { extraEnv?: Record<string, string> } = {},
): Promise<TestService> {
  return startTestService({
    pushRetry: FAST_RETRY,
    googleRetry: FAST_GOOGLE_RETRY,
    ...options,
    env: { ...googleEnv(google, tokenFile, options.extraEnv), ...options.env },
  });
}

/** The stand-in's events carrying this match id (deleted ones only when asked). */
export function eventsOfMatch(google: GoogleStandIn, matchid: number, showDeleted = false) {
  return google
    .events(undefined, { showDeleted })
    .filter(
      (event) =>
        (event.extendedProperties as { private?: Record<string, string> } | undefined)?.private?.matchId ===
        String(matchid),
    );
}

export function contactsOf(google: GoogleStandIn, domarnr: string) {
  return google
    .contacts()
    .filter((person) =>
      ((person.externalIds as Array<{ value?: string }> | undefined) ?? []).some(
        (id) => id.value === `FogisId=DomarNr=${domarnr}`,
      ),
    );
}

/** An event as the Python service inserted it (server-chosen id). */
export function pythonEvent(google: GoogleStandIn, matchid: number, extra: Record<string, unknown> = {}) {
  const start = new Date(Date.UTC(2026, 11, 5, 14, 0));
  return google.seedEvent({
    summary: `Python ${matchid}`,
    location: "Gamla arenan",
    description: `${matchid}\nDivision 2\n`,
    start: { dateTime: start.toISOString().replace(".000Z", "+00:00"), timeZone: "UTC" },
    end: {
      dateTime: new Date(start.getTime() + 7_200_000).toISOString().replace(".000Z", "+00:00"),
      timeZone: "UTC",
    },
    extendedProperties: {
      private: { matchId: String(matchid), syncTag: "FOGIS_CALENDAR_SYNC", calendarHash: "a1b2c3" },
    },
    reminders: { useDefault: false, overrides: [{ method: "popup", minutes: 2880 }] },
    ...extra,
  });
}

/** A contact as the Python service created it for a referee. */
export function pythonContact(
  google: GoogleStandIn,
  domarnr: string,
  name: string,
  group: string,
  extra: Record<string, unknown> = {},
) {
  const [given = name] = name.split(" ");
  return google.seedContact({
    names: [{ displayName: name, givenName: given, familyName: name.split(" ").at(-1) }],
    phoneNumbers: [{ value: "070-0000000", type: "mobile" }],
    emailAddresses: [{ value: "old@example.org", type: "work" }],
    addresses: [
      {
        formattedValue: "Gamla vägen 1, 411 01 Göteborg, Sverige",
        streetAddress: "Gamla vägen 1",
        postalCode: "411 01",
        city: "Göteborg",
        country: "Sverige",
        type: "home",
      },
    ],
    externalIds: [{ value: `FogisId=DomarNr=${domarnr}`, type: "account" }],
    memberships: [
      { contactGroupMembership: { contactGroupResourceName: "contactGroups/myContacts" } },
      { contactGroupMembership: { contactGroupResourceName: group } },
    ],
    ...extra,
  });
}
