import { readFileSync } from "node:fs";
import { z } from "zod";

/**
 * The Google OAuth files, exactly as the Python fogis-calendar-phonebook-sync reads and writes
 * them (google-auth's `Credentials.to_json()` / `from_authorized_user_file()`), so one `token.json`
 * serves both: the old service's file works here unchanged, and a file refreshed here still works
 * there.
 *
 * - The token file ("authorized user"): `token` (access token), `refresh_token`, `token_uri`,
 *   `client_id`, `client_secret`, `scopes`, `expiry` (naive UTC, `2026-11-20T12:00:00.123456Z`),
 *   and whatever else google-auth put there (`universe_domain`, `account`, `rapt_token`), kept as is.
 * - The OAuth client file (`credentials.json`, downloaded from the Google Cloud console):
 *   `{"installed": {...}}` for a Desktop client or `{"web": {...}}`, with `client_id` and
 *   `client_secret`. Only needed when the token file lacks them (or for `pnpm google-auth`).
 *
 * Nothing here ever puts a token or secret into an error message.
 */

export const CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar";
export const CONTACTS_SCOPE = "https://www.googleapis.com/auth/contacts";
export const GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token";
export const GOOGLE_AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth";

const AuthorizedUserSchema = z.looseObject({
  token: z.string().nullish(),
  refresh_token: z.string().min(1, "refresh_token is empty"),
  token_uri: z.string().nullish(),
  client_id: z.string().min(1).nullish(),
  client_secret: z.string().min(1).nullish(),
  scopes: z.union([z.array(z.string()), z.string()]).nullish(),
  expiry: z.string().nullish(),
});

export type AuthorizedUserFile = z.infer<typeof AuthorizedUserSchema>;

const ClientEntrySchema = z.looseObject({
  client_id: z.string().min(1),
  client_secret: z.string().min(1),
  auth_uri: z.string().optional(),
  token_uri: z.string().optional(),
  redirect_uris: z.array(z.string()).optional(),
});

const ClientFileSchema = z.union([
  z.object({ installed: ClientEntrySchema }),
  z.object({ web: ClientEntrySchema }),
]);

export interface OAuthClient {
  clientId: string;
  clientSecret: string;
  /** "installed" (a Desktop client: loopback redirects allowed) or "web". */
  type: "installed" | "web";
}

/** The token file and the client it belongs to, ready to use. */
export interface GoogleCredentials {
  /** The file as read, every field kept, for writing it back. */
  file: AuthorizedUserFile;
  client: Omit<OAuthClient, "type">;
  /** The access token's expiry (epoch ms); undefined when the file has none (then it is refreshed first). */
  expiresAt: number | undefined;
  scopes: string[];
}

/** A problem with one of the files, worded for the user, without any of its content. */
export class GoogleFileError extends Error {
  override name = "GoogleFileError";
}

/** Reads and checks the OAuth client file; throws a `GoogleFileError` naming the fix. */
export function readOAuthClientFile(path: string): OAuthClient {
  const parsed = ClientFileSchema.safeParse(readJson(path, "the OAuth client file"));
  if (!parsed.success) {
    throw new GoogleFileError(
      `${path} is not an OAuth client file: expected {"installed": {"client_id", "client_secret", ...}} (a Desktop client) or {"web": {...}}; download it again from Google Cloud console -> APIs & Services -> Credentials`,
    );
  }
  const data = parsed.data;
  const entry = "installed" in data ? data.installed : data.web;
  return {
    clientId: entry.client_id,
    clientSecret: entry.client_secret,
    type: "installed" in data ? "installed" : "web",
  };
}

/**
 * Reads the token file (and the client file when given); throws a `GoogleFileError` naming the
 * fix when either cannot be read or lacks what a refresh needs (a refresh token, the client id and
 * secret: the same fields google-auth insists on).
 */
export function readGoogleCredentials(tokenFile: string, clientFile?: string): GoogleCredentials {
  const raw = readJson(tokenFile, "the Google token file");
  const parsed = AuthorizedUserSchema.safeParse(raw);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((issue) => String(issue.path[0] ?? "(file)")))];
    throw new GoogleFileError(
      `${tokenFile} is not a Google token file (authorized user JSON): ${fields.join(", ")} missing or invalid; create it with pnpm google-auth, or point GOOGLE_TOKEN_FILE at the token.json the Python service wrote`,
    );
  }
  // The file as it was, key order included (google-auth's order), checked but not rebuilt.
  const file = raw as AuthorizedUserFile;
  const client = clientFile ? readOAuthClientFile(clientFile) : undefined;
  const clientId = file.client_id ?? client?.clientId;
  const clientSecret = file.client_secret ?? client?.clientSecret;
  if (!clientId || !clientSecret) {
    throw new GoogleFileError(
      `${tokenFile} has no client_id/client_secret; set GOOGLE_CREDENTIALS_FILE to the OAuth client JSON it was made with`,
    );
  }
  if (client && file.client_id && client.clientId !== file.client_id) {
    throw new GoogleFileError(
      `${tokenFile} was made with another OAuth client than ${clientFile}; leave GOOGLE_CREDENTIALS_FILE unset, or run pnpm google-auth with that client`,
    );
  }
  const scopes = typeof file.scopes === "string" ? file.scopes.split(" ") : (file.scopes ?? []);
  return {
    file,
    client: { clientId, clientSecret },
    expiresAt: parsePythonExpiry(file.expiry),
    scopes: scopes.filter(Boolean),
  };
}

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
    if (code === "EISDIR") {
      throw new GoogleFileError(
        `${path} is a directory, not ${what} (Docker creates one when the file to mount is missing); put the file there`,
      );
    }
    throw new GoogleFileError(
      `cannot read ${what} ${path} (${code}); fix the path (in Docker: mount the file there)`,
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new GoogleFileError(`${path} is not valid JSON; it should be ${what}`);
  }
}

/**
 * google-auth writes `expiry` as a naive UTC datetime with a `Z` appended
 * (`datetime.isoformat() + "Z"`, microseconds when non-zero) and reads back only up to the
 * seconds. Both forms, with or without the fraction, are read here.
 */
export function parsePythonExpiry(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  const seconds = value.replace(/Z$/, "").split(".")[0] ?? "";
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(seconds)) return undefined;
  const fraction = /\.(\d+)/.exec(value)?.[1] ?? "";
  const ms = fraction ? Number(fraction.slice(0, 3).padEnd(3, "0")) : 0;
  const at = Date.parse(`${seconds}Z`);
  return Number.isNaN(at) ? undefined : at + ms;
}

/** The expiry as google-auth writes it: `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
export function formatPythonExpiry(epochMs: number): string {
  const iso = new Date(epochMs).toISOString(); // 2026-11-20T12:00:00.123Z
  const [seconds = "", fraction = "000Z"] = iso.split(".");
  return `${seconds}.${fraction.replace("Z", "").padEnd(6, "0")}Z`;
}

/** The token file after a refresh: the new access token and expiry, every other field as it was. */
export function refreshedTokenFile(
  credentials: GoogleCredentials,
  refreshed: { accessToken: string; expiresAt: number; refreshToken?: string | null },
  tokenUrl: string,
): AuthorizedUserFile {
  const { file } = credentials;
  return {
    ...file,
    token: refreshed.accessToken,
    refresh_token: refreshed.refreshToken || file.refresh_token,
    token_uri: file.token_uri ?? tokenUrl,
    client_id: credentials.client.clientId,
    client_secret: credentials.client.clientSecret,
    scopes: file.scopes ?? credentials.scopes,
    expiry: formatPythonExpiry(refreshed.expiresAt),
  };
}
