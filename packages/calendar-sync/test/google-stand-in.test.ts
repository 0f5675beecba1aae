import { type GoogleStandIn, startGoogleStandIn } from "@fogis/testing";
import { calendar } from "@googleapis/calendar";
import { people } from "@googleapis/people";
import { OAuth2Client } from "google-auth-library";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The Google stand-in answers Google's own client libraries as Google documents (see the header
 * of packages/testing/src/google-server.ts): the behaviours the Google backends rely on, checked
 * here one by one, so a test against the stand-in means something.
 */

describe("Google stand-in, through Google's client libraries", () => {
  let google: GoogleStandIn;
  let cal: ReturnType<typeof calendar>;
  let ppl: ReturnType<typeof people>;

  beforeAll(async () => {
    google = await startGoogleStandIn();
    const grant = google.issueGrant();
    const auth = new OAuth2Client({
      clientId: google.clientId,
      clientSecret: google.clientSecret,
      endpoints: { oauth2TokenUrl: google.tokenUrl },
    });
    auth.setCredentials({
      access_token: grant.accessToken,
      refresh_token: grant.refreshToken,
      expiry_date: grant.expiresAt,
    });
    cal = calendar({ version: "v3", auth, rootUrl: google.url, retry: false });
    ppl = people({ version: "v1", auth, rootUrl: google.url, retry: false });
  });
  afterAll(async () => {
    await google.close();
  });

  const status = async (call: Promise<unknown>) =>
    call.then(
      () => 200,
      (error: { status?: number; response?: { status: number; data: unknown } }) =>
        error.response?.status ?? error.status,
    );
  const reason = async (call: Promise<unknown>) =>
    call.then(
      () => "",
      (error: {
        response?: { data?: { error?: { errors?: Array<{ reason: string }>; status?: string } } };
      }) => error.response?.data?.error?.errors?.[0]?.reason ?? error.response?.data?.error?.status ?? "",
    );
  const times = { start: { dateTime: "2026-12-05T14:00:00Z" }, end: { dateTime: "2026-12-05T16:00:00Z" } };

  it("client-chosen ids: base32hex 5-1024, 409 duplicate when taken, also by a deleted event", async () => {
    expect(
      await status(cal.events.insert({ calendarId: "primary", requestBody: { id: "UPPER-case", ...times } })),
    ).toBe(400);
    expect(
      await status(cal.events.insert({ calendarId: "primary", requestBody: { id: "abcw1", ...times } })),
    ).toBe(400);
    const created = await cal.events.insert({
      calendarId: "primary",
      requestBody: { id: "fogis0001", ...times },
    });
    expect(created.data.id).toBe("fogis0001");
    expect(
      await reason(cal.events.insert({ calendarId: "primary", requestBody: { id: "fogis0001", ...times } })),
    ).toBe("duplicate");
    await cal.events.delete({ calendarId: "primary", eventId: "fogis0001" });
    expect(
      await status(cal.events.insert({ calendarId: "primary", requestBody: { id: "fogis0001", ...times } })),
    ).toBe(409);
    // Deleted: still readable with status cancelled; deleting again is 410; a patch brings it back.
    expect((await cal.events.get({ calendarId: "primary", eventId: "fogis0001" })).data.status).toBe(
      "cancelled",
    );
    expect(await reason(cal.events.delete({ calendarId: "primary", eventId: "fogis0001" }))).toBe("deleted");
    const restored = await cal.events.patch({
      calendarId: "primary",
      eventId: "fogis0001",
      requestBody: { status: "confirmed" },
    });
    expect(restored.data.status).toBe("confirmed");
  });

  it("etags: a write with a stale If-Match is 412 conditionNotMet; patch merges extendedProperties", async () => {
    const created = await cal.events.insert({
      calendarId: "primary",
      requestBody: { ...times, summary: "A", extendedProperties: { private: { matchId: "1", mine: "x" } } },
    });
    const eventId = created.data.id ?? "";
    const etag = created.data.etag ?? "";
    google.editEvent(eventId, { colorId: "4" });
    const stale = cal.events.patch(
      { calendarId: "primary", eventId, requestBody: { summary: "B" } },
      { headers: { "If-Match": etag } },
    );
    expect(await reason(stale)).toBe("conditionNotMet");
    const fresh = (await cal.events.get({ calendarId: "primary", eventId })).data;
    const patched = await cal.events.patch(
      {
        calendarId: "primary",
        eventId,
        requestBody: { summary: "B", extendedProperties: { private: { matchId: "2" } } },
      },
      { headers: { "If-Match": fresh.etag ?? "" } },
    );
    expect(patched.data).toMatchObject({
      summary: "B",
      colorId: "4",
      extendedProperties: { private: { matchId: "2", mine: "x" } },
    });
    expect(patched.data.etag).not.toBe(fresh.etag);
    expect(
      await status(cal.events.delete({ calendarId: "primary", eventId }, { headers: { "If-Match": etag } })),
    ).toBe(412);
  });

  it("lists by private extended property, hides deleted events unless asked, and syncs incrementally until the token expires (410)", async () => {
    google.addCalendar("other@group.calendar.google.com");
    const calendarId = "other@group.calendar.google.com";
    const tag = (n: number) => ({
      ...times,
      extendedProperties: { private: { syncTag: "FOGIS_CALENDAR_SYNC", matchId: String(n) } },
    });
    for (const n of [1, 2, 3]) await cal.events.insert({ calendarId, requestBody: tag(n) });
    await cal.events.insert({ calendarId, requestBody: { ...times, summary: "private" } });
    const tagged = await cal.events.list({
      calendarId,
      privateExtendedProperty: ["syncTag=FOGIS_CALENDAR_SYNC"],
      maxResults: 2,
    });
    expect(tagged.data.items).toHaveLength(2);
    const rest = await cal.events.list({
      calendarId,
      privateExtendedProperty: ["syncTag=FOGIS_CALENDAR_SYNC"],
      maxResults: 2,
      pageToken: tagged.data.nextPageToken ?? "",
    });
    expect(rest.data.items).toHaveLength(1);
    const both = await cal.events.list({
      calendarId,
      privateExtendedProperty: ["syncTag=FOGIS_CALENDAR_SYNC", "matchId=2"],
    });
    expect(both.data.items?.map((e) => e.extendedProperties?.private?.matchId)).toEqual(["2"]);

    const full = await cal.events.list({ calendarId });
    const syncToken = full.data.nextSyncToken ?? "";
    expect(syncToken).not.toBe("");
    const gone = full.data.items?.[0]?.id ?? "";
    google.deleteEventAsUser(gone, calendarId);
    expect((await cal.events.list({ calendarId })).data.items?.some((e) => e.id === gone)).toBe(false);
    expect(
      (await cal.events.list({ calendarId, showDeleted: true })).data.items?.find((e) => e.id === gone)
        ?.status,
    ).toBe("cancelled");
    const delta = await cal.events.list({ calendarId, syncToken });
    expect(delta.data.items?.map((e) => [e.id, e.status])).toEqual([[gone, "cancelled"]]);
    expect(
      await status(cal.events.list({ calendarId, syncToken, privateExtendedProperty: ["matchId=1"] })),
    ).toBe(400);
    google.expireSyncTokens();
    expect(await reason(cal.events.list({ calendarId, syncToken: delta.data.nextSyncToken ?? "" }))).toBe(
      "fullSyncRequired",
    );
  });

  it("answers a 429 with Retry-After, and a revoked grant's refresh with invalid_grant", async () => {
    google.failNext(1, { status: 429, retryAfterSeconds: 7, api: "calendar" });
    const error = await cal.calendars.get({ calendarId: "primary" }).then(
      () => undefined,
      (e: { response?: { status: number; headers: Headers } }) => e.response,
    );
    expect(error?.status).toBe(429);
    expect(error?.headers.get("retry-after")).toBe("7");
    const grant = google.issueGrant();
    google.revokeGrant(grant.refreshToken);
    const response = await fetch(google.tokenUrl, {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: grant.refreshToken,
        client_id: google.clientId,
        client_secret: google.clientSecret,
      }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: "invalid_grant",
      error_description: "Token has been expired or revoked.",
    });
  });

  it("People: updateContact needs the current etag (stale: 400 FAILED_PRECONDITION), groups and members:modify", async () => {
    const created = await ppl.people.createContact({ requestBody: { names: [{ givenName: "Bertil" }] } });
    const resourceName = created.data.resourceName ?? "";
    const etag = created.data.etag ?? "";
    const update = (tag: string | undefined) =>
      ppl.people.updateContact({
        resourceName,
        updatePersonFields: "names",
        requestBody: { etag: tag, names: [{ givenName: "Bertil B" }] },
      });
    expect(await status(update(undefined))).toBe(400);
    google.editContact(resourceName, { birthdays: [{ date: { month: 4, day: 2 } }] });
    expect(await reason(update(etag))).toBe("FAILED_PRECONDITION");
    const current = await ppl.people.get({ resourceName, personFields: "names,birthdays" });
    const updated = await update(current.data.etag ?? "");
    expect(updated.data.names).toEqual([{ givenName: "Bertil B" }]);
    expect(google.contact(resourceName)?.birthdays).toEqual([{ date: { month: 4, day: 2 } }]);

    const group = await ppl.contactGroups.create({ requestBody: { contactGroup: { name: "Referees" } } });
    expect(
      await status(ppl.contactGroups.create({ requestBody: { contactGroup: { name: "Referees" } } })),
    ).toBe(409);
    const modified = await ppl.contactGroups.members.modify({
      resourceName: group.data.resourceName ?? "",
      requestBody: { resourceNamesToAdd: [resourceName, "people/c404"] },
    });
    expect(modified.data.notFoundResourceNames).toEqual(["people/c404"]);
    expect(google.members(group.data.resourceName ?? "")).toEqual([resourceName]);
    const listed = await ppl.contactGroups.list({ pageSize: 1000 });
    expect(listed.data.contactGroups?.find((g) => g.name === "Referees")?.groupType).toBe(
      "USER_CONTACT_GROUP",
    );

    await ppl.people.deleteContact({ resourceName });
    expect(await reason(update(updated.data.etag ?? ""))).toBe("NOT_FOUND");
  });
});
