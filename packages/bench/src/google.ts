import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatPythonExpiry, googleEventId } from "@fogis/calendar-sync";
import { encodeEnvelope } from "@fogis/message-schema";
import { type GoogleStandIn, startGoogleStandIn } from "@fogis/testing";
import type { BenchContext } from "./context.js";
import { type Figure, figure, targets } from "./figures.js";
import { processorEnvelope, upcomingMatches, withKickoffMoved } from "./fixtures.js";
import { pushOnlyCalendarSync } from "./pipeline.js";

/**
 * Calls to Google per cycle, the figure Google's quotas care about: calendar-sync with the Google
 * Calendar and Google Contacts backends against the local stand-in (@fogis/testing, Google's
 * documented behaviour), every request counted by the stand-in, by API. Cycles: the first sync of
 * N matches into an empty account, the same snapshot again, one kick-off moved, and one kick-off
 * moved after the referee edited that event in Google Calendar (the 412 path).
 */
export async function benchGooglePush(ctx: BenchContext): Promise<Figure[]> {
  const count = ctx.profile.googleMatches;
  const google = await startGoogleStandIn();
  const dataDir = join(ctx.workDir, "google");
  mkdirSync(dataDir, { recursive: true });
  const grant = google.issueGrant();
  const tokenFile = join(dataDir, "token.json");
  writeFileSync(
    tokenFile,
    JSON.stringify({
      token: grant.accessToken,
      refresh_token: grant.refreshToken,
      token_uri: google.tokenUrl,
      client_id: google.clientId,
      client_secret: google.clientSecret,
      scopes: ["https://www.googleapis.com/auth/calendar", "https://www.googleapis.com/auth/contacts"],
      expiry: formatPythonExpiry(grant.expiresAt),
    }),
  );
  const service = await pushOnlyCalendarSync(ctx, dataDir, {
    GOOGLE_TOKEN_FILE: tokenFile,
    GOOGLE_API_BASE_URL: google.url,
    GOOGLE_OAUTH_TOKEN_URL: google.tokenUrl,
  });
  let sequence = 0;
  let matches = upcomingMatches(count);
  const deliver = async (): Promise<Calls> => {
    const before = snapshotCounts(google);
    const result = await service.handler.handleMessage(
      encodeEnvelope(processorEnvelope(matches, ++sequence)),
      "redis",
    );
    if (!result.accepted) throw new Error(`the snapshot was rejected: ${result.rejection.reason}`);
    await service.backends.whenSynced();
    for (const status of service.backends.statuses()) {
      if (status.status === "fail") throw new Error(`${status.name} failed: ${status.lastError}`);
    }
    const after = snapshotCounts(google);
    return {
      calendar: after.calendar - before.calendar,
      people: after.people - before.people,
      oauth: after.oauth - before.oauth,
    };
  };
  try {
    const first = await deliver();
    if (google.events().length !== count)
      throw new Error(`expected ${count} events, found ${google.events().length}`);
    ctx.log(`google: first sync of ${count} matches: ${describe(first)}`);
    const unchanged: Calls[] = [];
    const changed: Calls[] = [];
    const edited: Calls[] = [];
    for (let round = 0; round < ctx.profile.googleRounds; round++) {
      unchanged.push(await deliver());
      const index = (round * 7) % count;
      matches = withKickoffMoved(matches, index, 30);
      changed.push(await deliver());
      // The referee colours the next event in Google Calendar, then FOGIS moves that match.
      const next = (index + 1) % count;
      google.editEvent(googleEventId(matches[next]?.matchid ?? 0), { colorId: "3" });
      matches = withKickoffMoved(matches, next, 30);
      edited.push(await deliver());
    }
    ctx.log(
      `google: unchanged ${describe(unchanged[0])}, one change ${describe(changed[0])}, after an edit ${describe(edited[0])}`,
    );
    const total = (calls: Calls) => calls.calendar + calls.people + calls.oauth;
    return [
      figure({
        name: `google_first_sync_${count}_calls`,
        unit: "calls",
        description: `${count} matches into an empty Google account (stand-in): Calendar ${first.calendar} (calendars.get, one listing of tagged events for adoption, ${count} inserts), Contacts ${first.people} (groups list and create, one connections listing, a create per referee straight into the group), token ${first.oauth}.`,
        measured: [total(first)],
      }),
      figure({
        name: "google_unchanged_calls",
        unit: "calls",
        description: `The same ${count}-match snapshot again: calls to Google (none).`,
        measured: unchanged.map(total),
        target: targets.below(1, "call"),
      }),
      figure({
        name: "google_change_calendar_calls",
        unit: "calls",
        description: "One kick-off moved: Calendar API calls (one PATCH with If-Match).",
        measured: changed.map((calls) => calls.calendar),
        target: targets.below(2, "calls"),
      }),
      figure({
        name: "google_change_contacts_calls",
        unit: "calls",
        description:
          "The same change: People API calls (one updateContact per referee of that match, since each contact's note lists the match times).",
        measured: changed.map((calls) => calls.people),
      }),
      figure({
        name: "google_change_after_edit_calendar_calls",
        unit: "calls",
        description:
          "One kick-off moved on an event the referee had edited in Google Calendar: PATCH (412), GET, PATCH.",
        measured: edited.map((calls) => calls.calendar),
        target: targets.below(4, "calls"),
      }),
    ];
  } finally {
    await service.stop();
    await google.close();
  }
}

interface Calls {
  calendar: number;
  people: number;
  oauth: number;
}

function snapshotCounts(google: GoogleStandIn): Calls {
  return { calendar: google.count("calendar"), people: google.count("people"), oauth: google.count("oauth") };
}

function describe(calls: Calls | undefined): string {
  return calls ? `${calls.calendar} Calendar + ${calls.people} Contacts + ${calls.oauth} token calls` : "-";
}
