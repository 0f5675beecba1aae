import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { type Channels, latestEnvelopeKey, resolveChannels } from "@fogis/message-schema";
import {
  ConfigError,
  checkSentinelEnv,
  describeRedisTarget,
  envInteger,
  envUrl,
  type LOG_LEVELS,
  loadConfig,
  redactUrl,
  redisTargetFrom,
  type SentinelConfig,
  sharedEnv,
  type TrustProxy,
} from "@fogis/runtime";
import { z } from "zod";
import {
  GOOGLE_TOKEN_URL,
  type GoogleCredentials,
  GoogleFileError,
  readGoogleCredentials,
} from "./backends/google/google-token-file.js";

/** calendar-sync's environment (DESIGN §9): the shared variables plus its own. One loader, validated at start. */

const MB = 1024 * 1024;
export const DEFAULT_CALDAV_CALENDAR = "FOGIS domaruppdrag";
export const DEFAULT_CARDDAV_ADDRESSBOOK = "FOGIS domare";
/** The Python service's contact group. */
export const DEFAULT_GOOGLE_CONTACTS_GROUP = "Referees";

/**
 * A CalDAV/CardDAV server URL. Credentials go in CALDAV_USERNAME/CALDAV_PASSWORD, never in the URL
 * (URLs are shown and logged). Basic auth sends the password with every request, so plain http is
 * only accepted for servers on this machine or the home network.
 */
function davUrl(protocol: string, example: string) {
  return z.string().superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: "custom", message: `expected the ${protocol} server's URL, e.g. ${example}` });
      return;
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      ctx.addIssue({ code: "custom", message: `expected an https:// URL, e.g. ${example}` });
    } else if (url.username || url.password) {
      ctx.addIssue({
        code: "custom",
        message: "must not contain a user name or password; set CALDAV_USERNAME and CALDAV_PASSWORD instead",
      });
    } else if (url.protocol === "http:" && !isLocalNetworkHost(url.hostname)) {
      ctx.addIssue({
        code: "custom",
        message:
          "http:// would send your password unencrypted over the internet; use https:// (plain http is accepted for servers on this machine or your LAN)",
      });
    }
  });
}

/**
 * A Google endpoint: https, or http on this machine or the LAN (a test stand-in), since access
 * tokens and the client secret travel to it.
 */
function googleUrl(example: string) {
  return z.string().superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: "custom", message: `expected a URL, e.g. ${example}` });
      return;
    }
    if (url.username || url.password) {
      ctx.addIssue({ code: "custom", message: "must not contain a user name or password" });
    } else if (url.protocol !== "https:" && !(url.protocol === "http:" && isLocalNetworkHost(url.hostname))) {
      ctx.addIssue({
        code: "custom",
        message: `expected an https:// URL (http:// only on this machine or your LAN), e.g. ${example}`,
      });
    }
  });
}

/** Loopback, private and link-local addresses, and names that only resolve at home or in Docker. */
export function isLocalNetworkHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (isIP(host) === 4) {
    const [a = 0, b = 0] = host.split(".").map(Number);
    return (
      a === 127 ||
      a === 10 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 169 && b === 254) ||
      (a === 100 && b >= 64 && b <= 127) // carrier-grade NAT, e.g. Tailscale
    );
  }
  if (isIP(host) === 6) return host === "::1" || /^f[cd]/.test(host) || /^fe[89ab]/.test(host);
  if (!host.includes(".")) return true; // localhost, a Docker service name, a NAS's bare name
  return /\.(localhost|local|lan|home|home\.arpa|internal|localdomain)$/.test(host);
}

export const calendarSyncEnv = z
  .object({
    ...sharedEnv,
    PORT: envInteger(5003, { min: 0, max: 65_535 }),
    PROCESSOR_URL: envUrl(
      ["http:", "https:"],
      "expected http(s)://host:port of the match-processor, e.g. http://match-processor:8000",
    ).default("http://127.0.0.1:8000"),
    USER_REFEREE_NUMBER: z
      .string()
      .regex(/^\s*\S+\s*$/, "expected your FOGIS referee number (domarnr), e.g. 61318")
      .optional(),
    MAX_BODY_BYTES: envInteger(25 * MB, { min: 1024, max: 1024 * MB }),
    PROCESSOR_POLL_SECONDS: envInteger(0, { max: 86_400 }),
    HEARTBEAT_INTERVAL_MS: envInteger(2500, { min: 100, max: 60_000 }),
    HEARTBEAT_TIMEOUT_MS: envInteger(1000, { min: 50, max: 30_000 }),
    CALENDAR_NAME: z.string().default("FOGIS domaruppdrag"),
    /** Played matches stay in the calendar and the phonebook this many days after they ended. */
    HISTORY_DAYS: envInteger(365, { min: 0, max: 3650 }),
    PAGE_REFRESH_SECONDS: envInteger(5, { min: 1, max: 300 }),
    FEED_TOKEN: z
      .string()
      .min(16, "must be at least 16 characters (generate one: openssl rand -hex 24)")
      .optional(),
    // The referee's own calendar and address book (DESIGN §11).
    CALDAV_URL: davUrl("CalDAV", "https://cloud.example.com/remote.php/dav").optional(),
    CALDAV_USERNAME: z.string().optional(),
    CALDAV_PASSWORD: z.string().optional(),
    CALDAV_PASSWORD_FILE: z.string().optional(),
    CALDAV_CALENDAR: z.string().default(DEFAULT_CALDAV_CALENDAR),
    CARDDAV_URL: davUrl("CardDAV", "https://cloud.example.com/remote.php/dav").optional(),
    CARDDAV_ADDRESSBOOK: z.string().default(DEFAULT_CARDDAV_ADDRESSBOOK),
    GOOGLE_TOKEN_FILE: z.string().optional(),
    GOOGLE_CREDENTIALS_FILE: z.string().optional(),
    GOOGLE_CALENDAR_ID: z.string().default("primary"),
    GOOGLE_CONTACTS_GROUP: z.string().default(DEFAULT_GOOGLE_CONTACTS_GROUP),
    GOOGLE_API_BASE_URL: googleUrl("https://www.googleapis.com/").optional(),
    GOOGLE_OAUTH_TOKEN_URL: googleUrl(GOOGLE_TOKEN_URL).default(GOOGLE_TOKEN_URL),
  })
  .superRefine(checkSentinelEnv);

export interface CalendarSyncConfig {
  port: number;
  host: string;
  logLevel: (typeof LOG_LEVELS)[number];
  dataDir: string;
  apiToken: string;
  redis: {
    enabled: boolean;
    url: string;
    /** REDIS_SENTINELS + REDIS_SENTINEL_NAME: the master is the one the sentinels name. */
    sentinel: SentinelConfig | undefined;
    channels: Channels;
    heartbeatIntervalMs: number;
    heartbeatTimeoutMs: number;
    connectTimeoutMs: number;
    commandTimeoutMs: number;
  };
  /** Where the latest envelope comes from when Redis cannot give it. */
  processorUrl: string;
  /** Also resync from the processor every this many seconds; 0 = only on (re)subscribe and gaps. */
  processorPollSeconds: number;
  /** USER_REFEREE_NUMBER: left out of the phonebook. */
  ownRefereeNumber: string | undefined;
  /** Largest accepted message, over HTTP (413 beyond) and from Redis (rejected as too_large). */
  maxBodyBytes: number;
  calendarName: string;
  /** HISTORY_DAYS: how long played matches stay in the calendar and the phonebook. */
  historyDays: number;
  /** TRUST_PROXY: how the client address is found behind a reverse proxy. */
  trustProxy: TrustProxy;
  /** When set, /calendar.ics and /contacts.vcf need `?token=<FEED_TOKEN>`, and the status page too. */
  feedToken: string | undefined;
  /** How often the open status page refreshes itself. */
  pageRefreshSeconds: number;
  /** The referee's calendar on a CalDAV server; absent without CALDAV_URL. */
  caldav: DavTarget | undefined;
  /** The referee's address book on a CardDAV server; absent without a URL or with CARDDAV_ADDRESSBOOK empty. */
  carddav: DavTarget | undefined;
  /** The referee's Google Calendar and Contacts; absent without GOOGLE_TOKEN_FILE. */
  google: GoogleTarget | undefined;
}

export interface GoogleTarget {
  tokenFile: string;
  clientFile: string | undefined;
  /** Read and checked at start. Holds the tokens: never logged or shown. */
  credentials: GoogleCredentials;
  calendarId: string;
  /** The contact group; undefined = no contacts push (GOOGLE_CONTACTS_GROUP set empty). */
  contactsGroup: string | undefined;
  /** GOOGLE_API_BASE_URL: both APIs' root; undefined = Google's own (one per API). */
  apiBaseUrl: string | undefined;
  tokenUrl: string;
}

export interface DavTarget {
  url: string;
  username: string | undefined;
  /** From CALDAV_PASSWORD or the file CALDAV_PASSWORD_FILE names. Never logged or shown. */
  password: string | undefined;
  /** Display name of the calendar or address book. */
  collection: string;
}

/** Reads and validates the environment; throws a `ConfigError` naming every bad variable. */
export function loadCalendarSyncConfig(env: Record<string, string | undefined>): CalendarSyncConfig {
  const raw = loadConfig("calendar-sync", calendarSyncEnv, env);
  const { caldav, carddav } = davTargets(raw, env);
  const google = googleTarget(raw, env);
  return {
    port: raw.PORT,
    host: raw.HOST,
    logLevel: raw.LOG_LEVEL,
    dataDir: raw.DATA_DIR,
    apiToken: raw.API_TOKEN,
    redis: {
      enabled: raw.REDIS_PUBSUB_ENABLED,
      url: raw.REDIS_URL,
      sentinel: redisTargetFrom(raw).sentinel,
      channels: resolveChannels({
        REDIS_MATCH_UPDATES_CHANNEL: raw.REDIS_MATCH_UPDATES_CHANNEL,
        REDIS_PROCESSOR_STATUS_CHANNEL: raw.REDIS_PROCESSOR_STATUS_CHANNEL,
        REDIS_SYSTEM_ALERTS_CHANNEL: raw.REDIS_SYSTEM_ALERTS_CHANNEL,
      }),
      heartbeatIntervalMs: raw.HEARTBEAT_INTERVAL_MS,
      heartbeatTimeoutMs: raw.HEARTBEAT_TIMEOUT_MS,
      // Fail fast rather than hang (DESIGN §5.4): the HTTP paths carry updates meanwhile.
      connectTimeoutMs: 1000,
      commandTimeoutMs: 1000,
    },
    processorUrl: raw.PROCESSOR_URL,
    processorPollSeconds: raw.PROCESSOR_POLL_SECONDS,
    ownRefereeNumber: raw.USER_REFEREE_NUMBER?.trim(),
    maxBodyBytes: raw.MAX_BODY_BYTES,
    calendarName: raw.CALENDAR_NAME,
    historyDays: raw.HISTORY_DAYS,
    feedToken: raw.FEED_TOKEN,
    trustProxy: raw.TRUST_PROXY,
    pageRefreshSeconds: raw.PAGE_REFRESH_SECONDS,
    caldav,
    carddav,
    google,
  };
}

/**
 * The token file is read and checked at start, like CALDAV_PASSWORD_FILE: a missing, unreadable
 * or malformed file is a setup mistake the user must see at once, with the fix, rather than a
 * backend that fails later. (A file that goes bad while running is a `fail` status instead; the
 * service keeps the tokens it read.)
 */
function googleTarget(
  raw: z.output<typeof calendarSyncEnv>,
  env: Record<string, string | undefined>,
): GoogleTarget | undefined {
  if (raw.GOOGLE_TOKEN_FILE === undefined) {
    if (raw.GOOGLE_CREDENTIALS_FILE !== undefined) {
      throw new ConfigError("calendar-sync", [
        "GOOGLE_TOKEN_FILE: is required with GOOGLE_CREDENTIALS_FILE (create the token with pnpm google-auth)",
      ]);
    }
    return undefined;
  }
  let credentials: GoogleCredentials;
  try {
    credentials = readGoogleCredentials(raw.GOOGLE_TOKEN_FILE, raw.GOOGLE_CREDENTIALS_FILE);
  } catch (error) {
    if (!(error instanceof GoogleFileError)) throw error;
    const variable = error.message.includes("OAuth client") ? "GOOGLE_CREDENTIALS_FILE" : "GOOGLE_TOKEN_FILE";
    throw new ConfigError("calendar-sync", [`${variable}: ${error.message}`]);
  }
  // As for the address book: explicitly empty turns the contacts push off.
  const contactsOff = env.GOOGLE_CONTACTS_GROUP !== undefined && env.GOOGLE_CONTACTS_GROUP.trim() === "";
  return {
    tokenFile: raw.GOOGLE_TOKEN_FILE,
    clientFile: raw.GOOGLE_CREDENTIALS_FILE,
    credentials,
    calendarId: raw.GOOGLE_CALENDAR_ID.trim(),
    contactsGroup: contactsOff ? undefined : raw.GOOGLE_CONTACTS_GROUP.trim(),
    apiBaseUrl: raw.GOOGLE_API_BASE_URL,
    tokenUrl: raw.GOOGLE_OAUTH_TOKEN_URL,
  };
}

function davTargets(
  raw: z.output<typeof calendarSyncEnv>,
  env: Record<string, string | undefined>,
): { caldav: DavTarget | undefined; carddav: DavTarget | undefined } {
  const problems: string[] = [];
  const cardUrl = raw.CARDDAV_URL ?? raw.CALDAV_URL;
  const anyUrl = raw.CALDAV_URL ?? raw.CARDDAV_URL;
  if (raw.CALDAV_PASSWORD !== undefined && raw.CALDAV_PASSWORD_FILE !== undefined) {
    problems.push("CALDAV_PASSWORD_FILE: set either CALDAV_PASSWORD or CALDAV_PASSWORD_FILE, not both");
  }
  let password = raw.CALDAV_PASSWORD;
  if (raw.CALDAV_PASSWORD_FILE !== undefined && raw.CALDAV_PASSWORD === undefined) {
    try {
      // A secret file usually ends in a newline that is not part of the password.
      password = readFileSync(raw.CALDAV_PASSWORD_FILE, "utf8").replace(/\r?\n$/, "");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
      problems.push(
        `CALDAV_PASSWORD_FILE: cannot read ${raw.CALDAV_PASSWORD_FILE} (${code}); mount the secret there or fix the path`,
      );
    }
    if (password === "") problems.push(`CALDAV_PASSWORD_FILE: ${raw.CALDAV_PASSWORD_FILE} is empty`);
  }
  if (password !== undefined && raw.CALDAV_USERNAME === undefined) {
    problems.push("CALDAV_USERNAME: is required with a CalDAV password");
  }
  if (anyUrl === undefined && (raw.CALDAV_USERNAME !== undefined || password !== undefined)) {
    problems.push("CALDAV_URL: is required when CALDAV_USERNAME or a password is set");
  }
  if (problems.length) throw new ConfigError("calendar-sync", problems);
  const credentials = { username: raw.CALDAV_USERNAME, password };
  // Blank means "the default" for every other variable; here an explicitly empty value turns
  // the contacts push off, as DESIGN §11 has it.
  const contactsOff = env.CARDDAV_ADDRESSBOOK !== undefined && env.CARDDAV_ADDRESSBOOK.trim() === "";
  return {
    caldav: raw.CALDAV_URL
      ? { url: raw.CALDAV_URL, ...credentials, collection: raw.CALDAV_CALENDAR }
      : undefined,
    carddav:
      cardUrl && !contactsOff
        ? { url: cardUrl, ...credentials, collection: raw.CARDDAV_ADDRESSBOOK }
        : undefined,
  };
}

/** What `GET /redis-config` and the start-up log show: no secrets, URLs redacted. */
export function publicConfig(config: CalendarSyncConfig): Record<string, unknown> {
  return {
    enabled: config.redis.enabled,
    // mode, url (redacted) and, with Sentinel, the sentinels, the master name and "***" for a password.
    ...describeRedisTarget({ url: config.redis.url, sentinel: config.redis.sentinel }),
    channels: config.redis.channels,
    latest_envelope_key: latestEnvelopeKey(config.redis.channels),
    heartbeat_interval_ms: config.redis.heartbeatIntervalMs,
    heartbeat_timeout_ms: config.redis.heartbeatTimeoutMs,
    connect_timeout_ms: config.redis.connectTimeoutMs,
    command_timeout_ms: config.redis.commandTimeoutMs,
    processor_url: redactUrl(config.processorUrl),
    processor_poll_seconds: config.processorPollSeconds,
    max_message_bytes: config.maxBodyBytes,
    push_backends: {
      caldav: config.caldav ? publicDavTarget(config.caldav, "calendar") : null,
      carddav: config.carddav ? publicDavTarget(config.carddav, "address_book") : null,
      google: config.google ? publicGoogleTarget(config.google) : null,
    },
  };
}

function publicDavTarget(target: DavTarget, collection: string): Record<string, unknown> {
  return {
    url: redactUrl(target.url),
    username: target.username ?? null,
    password: target.password === undefined ? "not set" : "set",
    [collection]: target.collection,
  };
}

/** File paths and ids only; the tokens and the client secret never leave the process. */
function publicGoogleTarget(target: GoogleTarget): Record<string, unknown> {
  return {
    token_file: target.tokenFile,
    credentials_file: target.clientFile ?? null,
    calendar_id: target.calendarId,
    contacts_group: target.contactsGroup ?? null,
    api_base_url: target.apiBaseUrl ? redactUrl(target.apiBaseUrl) : "Google's",
    token_url: redactUrl(target.tokenUrl),
  };
}
