import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type GoogleStandIn, startGoogleStandIn } from "@fogis/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { googleEventId } from "../src/backends/google/google-calendar.js";
import { CALENDAR_SCOPE, CONTACTS_SCOPE } from "../src/backends/google/google-token-file.js";
import { loadCalendarSyncConfig } from "../src/config.js";
import { ConsentError, runGoogleConsent } from "../src/google-consent.js";
import { match, startGoogleService } from "./google-helpers.js";
import { pushMatches } from "./helpers.js";

/**
 * The one-time consent (`pnpm google-auth`): Google's installed-app flow with a loopback redirect
 * and PKCE, against the stand-in's consent page and token endpoint. The "browser" is a plain
 * fetch that follows Google's redirect back to the command's loopback port, as a browser does.
 */

describe("pnpm google-auth", () => {
  let google: GoogleStandIn;
  let dir: string;

  beforeEach(async () => {
    google = await startGoogleStandIn();
    dir = mkdtempSync(join(tmpdir(), "google-auth-"));
  });
  afterEach(async () => {
    await google.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function clientFile(type: "installed" | "web" = "installed"): string {
    const path = join(dir, "credentials.json");
    const entry = {
      client_id: google.clientId,
      project_id: "fogis-realtime",
      auth_uri: "https://accounts.google.com/o/oauth2/auth",
      token_uri: "https://oauth2.googleapis.com/token",
      client_secret: google.clientSecret,
      redirect_uris: ["http://localhost"],
    };
    writeFileSync(path, JSON.stringify({ [type]: entry }));
    return path;
  }

  /** The browser: follows Google's redirect to the loopback address. */
  const browser = (url: string) => {
    void fetch(url).then((response) => response.text());
  };

  it("connects with a loopback redirect and PKCE, and writes a token file calendar-sync uses", async () => {
    const outFile = join(dir, "token.json");
    let consentUrl = "";
    const result = await runGoogleConsent({
      clientFile: clientFile(),
      outFile,
      authUrl: google.authUrl,
      tokenUrl: google.tokenUrl,
      log: () => {},
      open(url) {
        consentUrl = url;
        browser(url);
      },
    });
    const asked = new URL(consentUrl);
    expect(asked.searchParams.get("code_challenge_method")).toBe("S256");
    expect(asked.searchParams.get("access_type")).toBe("offline");
    expect(asked.searchParams.get("redirect_uri")).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(asked.searchParams.get("scope")?.split(" ")).toEqual([CALENDAR_SCOPE, CONTACTS_SCOPE]);
    expect(result).toEqual({
      file: outFile,
      scopes: [CALENDAR_SCOPE, CONTACTS_SCOPE],
      contactsMissing: false,
    });
    const file = JSON.parse(readFileSync(outFile, "utf8"));
    expect(Object.keys(file)).toEqual([
      "token",
      "refresh_token",
      "token_uri",
      "client_id",
      "client_secret",
      "scopes",
      "universe_domain",
      "account",
      "expiry",
    ]);
    expect(statSync(outFile).mode & 0o777).toBe(0o600);

    // The file works: calendar-sync writes a match with it.
    const service = await startGoogleService(google, outFile);
    try {
      await pushMatches(service, [match(7701)]);
      expect(google.event(googleEventId(7701))?.status).toBe("confirmed");
    } finally {
      await service.close();
    }
  });

  it("says so and writes nothing when the user refuses, or the client is not a Desktop client", async () => {
    google.denyConsent = true;
    const outFile = join(dir, "token.json");
    const run = runGoogleConsent({
      clientFile: clientFile(),
      outFile,
      authUrl: google.authUrl,
      tokenUrl: google.tokenUrl,
      log: () => {},
      open: browser,
    });
    await expect(run).rejects.toThrow(ConsentError);
    await expect(run).rejects.toThrow(/access_denied/);
    expect(existsSync(outFile)).toBe(false);
    await expect(
      runGoogleConsent({ clientFile: clientFile("web"), outFile, log: () => {}, open: browser }),
    ).rejects.toThrow(/"Desktop app"/);
  });

  it("runs as the command: prints the address, takes Google's answer, saves the file and exits 0", async () => {
    const outFile = join(dir, "token.json");
    const child = spawn(
      process.execPath,
      [
        "dist/google-auth-cli.js",
        "--credentials",
        clientFile(),
        "--out",
        outFile,
        "--no-browser",
        "--auth-url",
        google.authUrl,
        "--token-url",
        google.tokenUrl,
      ],
      {
        cwd: join(import.meta.dirname, ".."),
        env: { ...process.env, INIT_CWD: dir },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += String(chunk);
    });
    child.stderr.on("data", (chunk) => {
      stderr += String(chunk);
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    await expect.poll(() => /^\s+(http\S+)$/m.exec(stdout)?.[1]).toBeDefined();
    browser(/^\s+(http\S+)$/m.exec(stdout)?.[1] ?? "");
    expect(await exited, stderr).toBe(0);
    expect(stdout).toContain(`Saved ${outFile}`);
    expect(stdout).not.toContain(google.clientSecret);
    const config = loadCalendarSyncConfig({
      API_TOKEN: "test-token-0123456789abcdef",
      DATA_DIR: dir,
      GOOGLE_TOKEN_FILE: outFile,
    });
    expect(config.google?.credentials.client.clientId).toBe(google.clientId);
  });
});
