import type { Logger } from "pino";
import type { CalendarSyncConfig } from "../config.js";
import { createCalDavBackend } from "./dav/caldav.js";
import { createCardDavBackend } from "./dav/carddav.js";
import { GoogleAuthorization } from "./google/google-auth.js";
import { GoogleCalendarBackend } from "./google/google-calendar.js";
import { GooglePeopleBackend } from "./google/google-people.js";
import type { GoogleRetryPolicy } from "./google/google-requests.js";
import type { PushBackend } from "./push-backend.js";

/**
 * The push backends the configuration asks for, in the order their statuses are listed. Each
 * backend's variables come from `loadCalendarSyncConfig`; a backend whose variables are unset is
 * not created.
 */

export interface PushBackendDeps {
  config: CalendarSyncConfig;
  logger: Logger;
  /** Every HTTP request a backend makes goes through this (tests count and disturb them). */
  fetch?: typeof fetch;
  /** The Google backends' in-sync retry (tests shorten it). */
  googleRetry?: Partial<GoogleRetryPolicy>;
}

export function createPushBackends({ config, logger, fetch, googleRetry }: PushBackendDeps): PushBackend[] {
  const backends: PushBackend[] = [];
  const shared = { dataDir: config.dataDir, logger, fetch };
  if (config.caldav) backends.push(createCalDavBackend({ ...config.caldav, ...shared }));
  if (config.carddav) backends.push(createCardDavBackend({ ...config.carddav, ...shared }));
  const google = config.google;
  if (google) {
    // One sign-in for both: a refresh happens once and is written back once.
    const auth = new GoogleAuthorization({
      tokenFile: google.tokenFile,
      clientFile: google.clientFile,
      tokenUrl: google.tokenUrl,
      credentials: google.credentials,
      logger,
      fetch,
    });
    const api = { auth, apiBaseUrl: google.apiBaseUrl, retry: googleRetry, ...shared };
    backends.push(new GoogleCalendarBackend({ ...api, calendarId: google.calendarId }));
    if (google.contactsGroup) backends.push(new GooglePeopleBackend({ ...api, group: google.contactsGroup }));
  }
  return backends;
}
