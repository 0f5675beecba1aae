import { stat } from "node:fs/promises";
import { writeJsonAtomic } from "@fogis/runtime";
import { OAuth2Client } from "google-auth-library";
import type { Logger } from "pino";
import { PushError } from "../push-backend.js";
import {
  CONTACTS_SCOPE,
  type GoogleCredentials,
  GoogleFileError,
  readGoogleCredentials,
  refreshedTokenFile,
} from "./google-token-file.js";

/**
 * The one Google sign-in both Google backends share: an `OAuth2Client` (google-auth-library)
 * holding the token file's access and refresh token. The library refreshes an expired access
 * token by itself; each refresh is written back to GOOGLE_TOKEN_FILE atomically, in the format the
 * Python service reads, so the file stays usable by either service.
 *
 * A grant Google no longer honours (`invalid_grant`: revoked, the password changed, or a Testing-
 * mode app's refresh token past its 7 days) is one clear `fail` naming the command that fixes it.
 * Until the token file changes, every later sync fails at once with the same message without
 * asking Google again, so a dead grant never becomes a retry storm; a new file (from
 * `pnpm google-auth`) is picked up at the next retry without a restart.
 */

export const RECONNECT_FIX =
  "reconnect Google: run `pnpm google-auth` on a computer with a browser and copy the token.json it writes to GOOGLE_TOKEN_FILE (calendar-sync picks it up within 5 minutes, no restart needed). If this happens every 7 days, publish your OAuth app (Google Cloud console -> Google Auth Platform -> Audience -> Publish app) and connect once more";

export interface GoogleAuthorizationOptions {
  tokenFile: string;
  /** GOOGLE_CREDENTIALS_FILE, when the token file lacks the client id and secret. */
  clientFile?: string;
  /** The token endpoint (GOOGLE_OAUTH_TOKEN_URL). */
  tokenUrl: string;
  /** Read at start by the config loader. */
  credentials: GoogleCredentials;
  logger: Logger;
  /** Used for the token endpoint. */
  fetch?: typeof fetch;
}

export class GoogleAuthorization {
  readonly client: OAuth2Client;
  private credentials: GoogleCredentials;
  private readonly options: GoogleAuthorizationOptions;
  private readonly logger: Logger;
  /** Set when Google refused the grant: the failure, and the token file as it was then. */
  private dead: { error: PushError; fileStamp: string } | undefined;
  private saving: Promise<void> = Promise.resolve();
  /** Token refreshes since start. */
  refreshes = 0;

  constructor(options: GoogleAuthorizationOptions) {
    this.options = options;
    this.logger = options.logger.child({ component: "google-auth" });
    this.credentials = options.credentials;
    this.client = new OAuth2Client({
      clientId: options.credentials.client.clientId,
      clientSecret: options.credentials.client.clientSecret,
      endpoints: { oauth2TokenUrl: options.tokenUrl },
      ...(options.fetch ? { transporterOptions: { fetchImplementation: options.fetch } } : {}),
    });
    this.useCredentials(options.credentials);
    this.client.on("tokens", (tokens) => {
      if (!tokens.access_token) return;
      this.refreshes += 1;
      this.save(tokens.access_token, tokens.expiry_date ?? Date.now() + 3600_000, tokens.refresh_token);
    });
  }

  /** Whether the grant includes the contacts scope (an old token may have the calendar alone). */
  get hasContactsScope(): boolean {
    return this.credentials.scopes.length === 0 || this.credentials.scopes.includes(CONTACTS_SCOPE);
  }

  /**
   * Call before a sync. While the grant is known to be dead this throws its error without a
   * network call, unless the token file changed since: then the new file is read and used.
   */
  async ready(): Promise<void> {
    if (!this.dead) return;
    const stamp = await this.fileStamp();
    if (stamp === this.dead.fileStamp) throw this.dead.error;
    let next: GoogleCredentials;
    try {
      next = readGoogleCredentials(this.options.tokenFile, this.options.clientFile);
    } catch (error) {
      const message = error instanceof GoogleFileError ? error.message : "the token file cannot be read";
      this.dead = {
        fileStamp: stamp,
        error: new PushError(message, { kind: "permanent", fix: RECONNECT_FIX }),
      };
      throw this.dead.error;
    }
    this.logger.info({ event: "google_token_file_changed" }, "read the new Google token file");
    this.credentials = next;
    this.useCredentials(next);
    this.dead = undefined;
  }

  /** The access token is no longer accepted (a 401): the next request refreshes it first. */
  expireAccessToken(): void {
    this.client.setCredentials({ ...this.client.credentials, expiry_date: 1 });
  }

  /**
   * The PushError for a failure of the sign-in itself (the token endpoint refused the refresh),
   * or undefined when the error is about something else.
   */
  async authFailure(error: unknown): Promise<PushError | undefined> {
    const response = (error as { response?: { status?: number; data?: unknown; config?: { url?: unknown } } })
      .response;
    const url = String(response?.config?.url ?? "");
    const data = response?.data as { error?: unknown; error_description?: unknown } | undefined;
    const code = typeof data?.error === "string" ? data.error : undefined;
    const fromTokenEndpoint = url.startsWith(this.options.tokenUrl) || code !== undefined;
    if (!response || !fromTokenEndpoint) return undefined;
    if (code === "invalid_grant" || code === "invalid_client" || code === "unauthorized_client") {
      const why =
        code === "invalid_grant"
          ? "Google no longer accepts the saved sign-in (invalid_grant: revoked, expired, or a Testing-mode app's 7-day limit)"
          : `Google refused the OAuth client (${code}): it was deleted or its secret changed`;
      const failure = new PushError(why, { kind: "permanent", fix: RECONNECT_FIX });
      this.dead = { error: failure, fileStamp: await this.fileStamp() };
      this.logger.error({ event: "google_grant_refused", reason: code }, `${why}. Fix: ${RECONNECT_FIX}`);
      return failure;
    }
    const status = response.status ?? 0;
    return new PushError(`the Google token endpoint answered ${status}${code ? ` (${code})` : ""}`, {
      kind: status >= 500 || status === 429 ? "transient" : "permanent",
      fix: status >= 500 || status === 429 ? undefined : RECONNECT_FIX,
    });
  }

  /** Takes every token and secret out of a text, should a library have put one in. */
  scrub(text: string): string {
    const secrets = [
      this.credentials.file.refresh_token,
      this.credentials.client.clientSecret,
      this.credentials.file.token,
      this.client.credentials.access_token,
      this.client.credentials.refresh_token,
    ].filter((secret): secret is string => typeof secret === "string" && secret.length >= 6);
    let out = text;
    for (const secret of secrets) out = out.split(secret).join("***");
    return out;
  }

  /** Resolves once the last refreshed token is on disk (tests). */
  saved(): Promise<void> {
    return this.saving;
  }

  private useCredentials(credentials: GoogleCredentials): void {
    this.client.setCredentials({
      access_token: credentials.file.token ?? undefined,
      refresh_token: credentials.file.refresh_token,
      // No expiry in the file: treat the access token as expired, as google-auth does.
      expiry_date: credentials.expiresAt ?? 1,
      token_type: "Bearer",
    });
  }

  private save(accessToken: string, expiresAt: number, refreshToken: string | null | undefined): void {
    const file = refreshedTokenFile(
      this.credentials,
      { accessToken, expiresAt, refreshToken },
      this.options.tokenUrl,
    );
    this.credentials = { ...this.credentials, file, expiresAt };
    const path = this.options.tokenFile;
    this.saving = this.saving.then(() =>
      writeJsonAtomic(path, file).then(
        () =>
          this.logger.info({ event: "google_token_refreshed" }, "refreshed the Google access token; saved"),
        (error: NodeJS.ErrnoException) =>
          this.logger.warn(
            { event: "google_token_save_failed", code: error.code },
            `refreshed the Google access token but cannot save it to ${path} (${error.code ?? "error"}); it is kept in memory. Mount the token file's folder writable (a single-file bind mount cannot be replaced)`,
          ),
      ),
    );
  }

  private async fileStamp(): Promise<string> {
    try {
      const info = await stat(this.options.tokenFile);
      return `${info.mtimeMs}:${info.size}:${info.ino}`;
    } catch (error) {
      return `missing:${(error as NodeJS.ErrnoException).code ?? ""}`;
    }
  }
}
