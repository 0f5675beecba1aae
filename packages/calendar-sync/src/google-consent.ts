import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { writeJsonAtomic } from "@fogis/runtime";
import { OAuth2Client } from "google-auth-library";
import {
  CALENDAR_SCOPE,
  CONTACTS_SCOPE,
  formatPythonExpiry,
  GOOGLE_AUTH_URL,
  GOOGLE_TOKEN_URL,
  readOAuthClientFile,
} from "./backends/google/google-token-file.js";

/**
 * The one-time consent that makes a token file (`pnpm google-auth`): Google's flow for installed
 * apps (a Desktop OAuth client, a loopback redirect to a port of our own on 127.0.0.1, PKCE with
 * S256, offline access so Google hands out a refresh token). The browser must run on the same
 * computer as the command, so it is run on a laptop and the file copied to the server (or over an
 * SSH tunnel to the server's port). The file is written as the Python service writes its
 * `token.json`, so either service can use it.
 */

export interface ConsentOptions {
  /** The OAuth client JSON (a Desktop client) from the Google Cloud console. */
  clientFile: string;
  /** Where the token file is written. */
  outFile: string;
  /** Loopback port for the redirect; 0 = any free one. */
  port?: number;
  /** Google's consent page and token endpoint (tests point them at a stand-in). */
  authUrl?: string;
  tokenUrl?: string;
  /** Shows the consent URL to the user (printed, and opened in a browser when possible). */
  open: (url: string) => void;
  /** Progress lines for the user. */
  log: (line: string) => void;
  /** How long to wait for the browser. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface ConsentResult {
  file: string;
  scopes: string[];
  /** The contacts scope was not granted (the box left unticked): no contacts push with this token. */
  contactsMissing: boolean;
}

export class ConsentError extends Error {
  override name = "ConsentError";
}

export async function runGoogleConsent(options: ConsentOptions): Promise<ConsentResult> {
  const client = readOAuthClientFile(options.clientFile);
  if (client.type !== "installed") {
    throw new ConsentError(
      `${options.clientFile} is a "Web application" client; create an OAuth client of type "Desktop app" (Google Cloud console -> Google Auth Platform -> Clients -> Create client) and download its JSON`,
    );
  }
  const tokenUrl = options.tokenUrl ?? GOOGLE_TOKEN_URL;
  const state = randomBytes(16).toString("hex");
  const { server, redirectUri, callback } = await listenForRedirect(options.port ?? 0, state);
  try {
    const oauth = new OAuth2Client({
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      redirectUri,
      endpoints: { oauth2AuthBaseUrl: options.authUrl ?? GOOGLE_AUTH_URL, oauth2TokenUrl: tokenUrl },
      ...(options.fetch ? { transporterOptions: { fetchImplementation: options.fetch } } : {}),
    });
    const { codeVerifier, codeChallenge } = await oauth.generateCodeVerifierAsync();
    const url = oauth.generateAuthUrl({
      access_type: "offline",
      // Always show the consent screen, so Google always hands out a refresh token.
      prompt: "consent",
      scope: [CALENDAR_SCOPE, CONTACTS_SCOPE],
      include_granted_scopes: true,
      state,
      code_challenge: codeChallenge,
      code_challenge_method: "S256" as never,
    });
    options.log(`Waiting for Google on ${redirectUri} ...`);
    options.open(url);
    const code = await withTimeout(callback, options.timeoutMs ?? 5 * 60_000);
    const { tokens } = await oauth.getToken({ code, codeVerifier, redirect_uri: redirectUri });
    if (!tokens.refresh_token || !tokens.access_token) {
      throw new ConsentError("Google sent no refresh token; run pnpm google-auth again");
    }
    const scopes = (tokens.scope ?? "").split(" ").filter(Boolean);
    const file = {
      token: tokens.access_token,
      refresh_token: tokens.refresh_token,
      token_uri: tokenUrl,
      client_id: client.clientId,
      client_secret: client.clientSecret,
      scopes,
      universe_domain: "googleapis.com",
      account: "",
      expiry: formatPythonExpiry(tokens.expiry_date ?? Date.now() + 3_600_000),
    };
    await writeJsonAtomic(options.outFile, file);
    if (!scopes.includes(CALENDAR_SCOPE)) {
      throw new ConsentError(
        `the calendar access was not granted; run pnpm google-auth again and tick "See, edit, share and permanently delete all the calendars"`,
      );
    }
    return { file: options.outFile, scopes, contactsMissing: !scopes.includes(CONTACTS_SCOPE) };
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A one-shot loopback server: resolves with the authorization code Google redirects back with. */
async function listenForRedirect(
  port: number,
  state: string,
): Promise<{ server: Server; redirectUri: string; callback: Promise<string> }> {
  let settle: { resolve: (code: string) => void; reject: (error: Error) => void } | undefined;
  const callback = new Promise<string>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname !== "/" || (!url.searchParams.has("code") && !url.searchParams.has("error"))) {
      res.writeHead(404).end();
      return;
    }
    const page = (title: string, text: string) =>
      `<!doctype html><html lang="en"><meta charset="utf-8"><title>${title}</title><body style="font-family:system-ui;margin:3em"><h1>${title}</h1><p>${text}</p></body></html>`;
    if (url.searchParams.get("state") !== state) {
      res.writeHead(400, { "Content-Type": "text/html; charset=utf-8" });
      res.end(
        page("Not this request", "This answer belongs to another sign-in. Start pnpm google-auth again."),
      );
      settle?.reject(
        new ConsentError(
          "the answer from Google did not match this request (state); run pnpm google-auth again",
        ),
      );
      return;
    }
    const error = url.searchParams.get("error");
    if (error) {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      res.end(page("Not connected", "Google was not given access. You can close this tab."));
      settle?.reject(new ConsentError(`Google answered ${error}: access was not granted`));
      return;
    }
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(
      page(
        "Connected",
        "FOGIS Realtime may now use your Google Calendar and Contacts. You can close this tab.",
      ),
    );
    settle?.resolve(url.searchParams.get("code") ?? "");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const { port: actual } = server.address() as AddressInfo;
  return { server, redirectUri: `http://127.0.0.1:${actual}/`, callback };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ConsentError(
            `no answer from the browser within ${Math.round(ms / 1000)} s; run pnpm google-auth again`,
          ),
        ),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
