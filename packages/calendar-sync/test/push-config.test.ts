import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "@fogis/runtime";
import { type DavServerHandle, fogisMatch, freePort, startRadicale } from "@fogis/testing";
import request from "supertest";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { BackendStatus } from "../src/backends/push-backend.js";
import { loadCalendarSyncConfig, publicConfig } from "../src/config.js";
import {
  capturingLogger,
  eventually,
  manualSync,
  startTestService,
  type TestService,
  TOKEN,
} from "./helpers.js";

/**
 * CalDAV/CardDAV configuration (DESIGN §11): a bad value stops the service at start with a message
 * naming the fix; a wrong password, a wrong URL or a refused calendar is a `fail` status and a log
 * line naming the fix, never a crash loop; the password never shows anywhere.
 */

const PASSWORD = "hemligt-lösen-Å1";

function configError(env: Record<string, string>): string {
  try {
    loadCalendarSyncConfig({ API_TOKEN: TOKEN, ...env });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("CalDAV/CardDAV configuration", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("defaults: no push without CALDAV_URL; the documented names; CardDAV on the CalDAV URL", () => {
    expect(loadCalendarSyncConfig({ API_TOKEN: TOKEN })).toMatchObject({
      caldav: undefined,
      carddav: undefined,
    });
    const config = loadCalendarSyncConfig({
      API_TOKEN: TOKEN,
      CALDAV_URL: "https://cloud.example.com/remote.php/dav",
      CALDAV_USERNAME: "domare@example.com",
      CALDAV_PASSWORD: PASSWORD,
    });
    expect(config.caldav).toEqual({
      url: "https://cloud.example.com/remote.php/dav",
      username: "domare@example.com",
      password: PASSWORD,
      collection: "FOGIS domaruppdrag",
    });
    expect(config.carddav).toMatchObject({
      url: "https://cloud.example.com/remote.php/dav",
      collection: "FOGIS domare",
    });
    const shown = JSON.stringify(publicConfig(config));
    expect(shown).not.toContain(PASSWORD);
    expect(publicConfig(config).push_backends).toMatchObject({
      caldav: {
        url: "https://cloud.example.com/remote.php/dav",
        password: "set",
        calendar: "FOGIS domaruppdrag",
      },
    });
  });

  it("an empty CARDDAV_ADDRESSBOOK turns the contacts push off; CARDDAV_URL alone pushes contacts only", () => {
    const off = loadCalendarSyncConfig({
      API_TOKEN: TOKEN,
      CALDAV_URL: "http://192.168.1.10:5232/",
      CARDDAV_ADDRESSBOOK: "",
    });
    expect(off.caldav?.url).toBe("http://192.168.1.10:5232/");
    expect(off.carddav).toBeUndefined();
    const contactsOnly = loadCalendarSyncConfig({
      API_TOKEN: TOKEN,
      CARDDAV_URL: "https://carddav.fastmail.com/dav/",
      CALDAV_USERNAME: "domare@fastmail.com",
      CALDAV_PASSWORD: PASSWORD,
      CARDDAV_ADDRESSBOOK: "Domare",
    });
    expect(contactsOnly.caldav).toBeUndefined();
    expect(contactsOnly.carddav).toMatchObject({
      url: "https://carddav.fastmail.com/dav/",
      collection: "Domare",
    });
  });

  it("reads the password from CALDAV_PASSWORD_FILE (a Docker secret), without its final newline", () => {
    const dir = mkdtempSync(join(tmpdir(), "caldav-secret-"));
    dirs.push(dir);
    const file = join(dir, "caldav_password");
    writeFileSync(file, `${PASSWORD}\n`);
    const config = loadCalendarSyncConfig({
      API_TOKEN: TOKEN,
      CALDAV_URL: "https://caldav.icloud.com",
      CALDAV_USERNAME: "domare@icloud.com",
      CALDAV_PASSWORD_FILE: file,
    });
    expect(config.caldav?.password).toBe(PASSWORD);
    const missing = configError({
      CALDAV_URL: "https://caldav.icloud.com",
      CALDAV_USERNAME: "domare@icloud.com",
      CALDAV_PASSWORD_FILE: join(dir, "nope"),
    });
    expect(missing).toMatch(/CALDAV_PASSWORD_FILE: cannot read .*nope \(ENOENT\)/);
  });

  it("stops at start with the fix for each bad combination, never showing the password", () => {
    const message = configError({
      CALDAV_URL: `https://domare:${PASSWORD}@cloud.example.com/dav`,
      CARDDAV_URL: "ftp://cloud.example.com",
    });
    expect(message).toMatch(/CALDAV_URL: must not contain a user name or password; set CALDAV_USERNAME/);
    expect(message).toMatch(/CARDDAV_URL: expected an https:\/\/ URL/);
    expect(message).not.toContain(PASSWORD);

    expect(
      configError({ CALDAV_URL: "http://cloud.example.com/dav", CALDAV_USERNAME: "d", CALDAV_PASSWORD: "p" }),
    ).toMatch(/CALDAV_URL: http:\/\/ would send your password unencrypted over the internet; use https:\/\//);
    expect(
      configError({
        CALDAV_URL: "https://x.example",
        CALDAV_USERNAME: "d",
        CALDAV_PASSWORD: "p",
        CALDAV_PASSWORD_FILE: "/f",
      }),
    ).toMatch(/set either CALDAV_PASSWORD or CALDAV_PASSWORD_FILE, not both/);
    expect(configError({ CALDAV_USERNAME: "d", CALDAV_PASSWORD: PASSWORD })).toMatch(
      /CALDAV_URL: is required when CALDAV_USERNAME or a password is set/,
    );
    expect(configError({ CALDAV_URL: "https://x.example", CALDAV_PASSWORD: PASSWORD })).toMatch(
      /CALDAV_USERNAME: is required with a CalDAV password/,
    );
    // Plain http is fine at home: loopback, LAN addresses, bare and .local names.
    for (const url of [
      "http://127.0.0.1:5232/",
      "http://10.0.0.5/",
      "http://radicale:5232/",
      "http://nas.local/dav",
    ]) {
      expect(loadCalendarSyncConfig({ API_TOKEN: TOKEN, CALDAV_URL: url }).caldav?.url).toBe(url);
    }
  });
});

describe("CalDAV problems the user must fix", () => {
  let radicale: DavServerHandle;
  let notDav: Server;
  const services: TestService[] = [];
  beforeAll(async () => {
    radicale = await startRadicale({ password: PASSWORD });
    notDav = createServer((_req, res) => {
      res.statusCode = 404;
      res.end("Not Found");
    });
    await new Promise<void>((resolve) => notDav.listen(0, "127.0.0.1", resolve));
  });
  afterAll(async () => {
    await radicale?.close();
    await new Promise((resolve) => notDav?.close(resolve));
  });
  afterEach(async () => {
    for (const service of services.splice(0)) await service.close();
  });

  async function serviceWith(env: Record<string, string>) {
    const { logger, lines } = capturingLogger("info", "calendar-sync");
    const service = await startTestService({
      logger,
      pushRetry: { initialMs: 100, maxMs: 300, permanentMs: 300, failAfterMs: 60_000 },
      env: { CARDDAV_ADDRESSBOOK: "", ...env },
    });
    services.push(service);
    const push = await manualSync(service, { matches: [fogisMatch({ matchid: 8001 })] });
    // The feed takes the snapshot whatever the calendar server says.
    expect(push.body).toMatchObject({ success: true, status: "applied", created: 1 });
    return { service, lines };
  }

  const caldav = (service: TestService): BackendStatus => {
    const found = service.service.backends.statuses().find((status) => status.name === "caldav");
    if (!found) throw new Error("no caldav backend");
    return found;
  };

  async function everythingShown(service: TestService, lines: string[]): Promise<string> {
    const app = service.service.app;
    const shown = await Promise.all(
      ["/health", "/redis-status", "/redis-config", "/redis-stats", "/metrics"].map(
        async (path) => (await request(app).get(path)).text,
      ),
    );
    return [...shown, ...lines].join("\n");
  }

  it("a wrong password: fail, with the fix in the status and the log, and the password nowhere", async () => {
    const { service, lines } = await serviceWith({
      CALDAV_URL: radicale.url,
      CALDAV_USERNAME: radicale.username,
      CALDAV_PASSWORD: `${PASSWORD}-old`,
    });
    await eventually(() =>
      expect(caldav(service)).toMatchObject({
        status: "fail",
        pending: 1,
        lastError: expect.stringMatching(
          /refused the user name or password \(401.*Fix: check CALDAV_USERNAME and CALDAV_PASSWORD/,
        ),
      }),
    );
    await eventually(() => expect(caldav(service).counters.failures).toBeGreaterThanOrEqual(2));
    expect(lines.join("")).toMatch(/"event":"push_failed".*check CALDAV_USERNAME and CALDAV_PASSWORD/);
    const everything = await everythingShown(service, lines);
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain(Buffer.from(`${radicale.username}:${PASSWORD}-old`).toString("base64"));
    expect((await request(service.service.app).get("/health")).status).toBe(200);
  });

  it("checks the account at start, so a password changed since shows before FOGIS changes anything", async () => {
    const env = { CALDAV_URL: radicale.url, CALDAV_USERNAME: radicale.username, CARDDAV_ADDRESSBOOK: "" };
    const { service: first } = await serviceWith({ ...env, CALDAV_PASSWORD: PASSWORD });
    await first.service.backends.whenSynced();
    await first.service.stop();

    const restarted = await startTestService({
      dataDir: first.dataDir,
      pushRetry: { initialMs: 100, maxMs: 300, permanentMs: 300, failAfterMs: 60_000 },
      env: { ...env, CALDAV_PASSWORD: "an-old-password" },
    });
    services.push(restarted);
    await eventually(() =>
      expect(caldav(restarted)).toMatchObject({
        status: "fail",
        pending: 0,
        lastError: expect.stringMatching(/401/),
      }),
    );
  });

  it("a URL with no CalDAV server behind it: fail, naming CALDAV_URL and its usual forms", async () => {
    const { port } = notDav.address() as AddressInfo;
    const { service, lines } = await serviceWith({
      CALDAV_URL: `http://127.0.0.1:${port}/remote.php/dav`,
      CALDAV_USERNAME: "domare",
      CALDAV_PASSWORD: PASSWORD,
    });
    await eventually(() =>
      expect(caldav(service)).toMatchObject({
        status: "fail",
        lastError: expect.stringMatching(/found no CalDAV account at .*Fix: check CALDAV_URL/),
      }),
    );
    expect(await everythingShown(service, lines)).not.toContain(PASSWORD);
  });

  it("a server that is not running: warn while retrying, the feed unaffected", async () => {
    const port = await freePort();
    const { service } = await serviceWith({
      CALDAV_URL: `http://127.0.0.1:${port}/`,
      CALDAV_USERNAME: "d",
      CALDAV_PASSWORD: PASSWORD,
    });
    await eventually(() =>
      expect(caldav(service)).toMatchObject({
        status: "warn",
        lastError: expect.stringMatching(/cannot reach 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/),
        nextRetry: expect.any(String),
      }),
    );
    expect((await request(service.service.app).get("/calendar.ics")).text).toContain(
      "fogis-match-8001@fogis-realtime",
    );
  });

  it("a calendar the server will not create (as some providers refuse): fail, saying to create it by hand", async () => {
    // Radicale with rights that let the user read but not create collections.
    const locked = await startRadicale({
      password: PASSWORD,
      rights: ["[all]", "user: .+", "collection: .*", "permissions: Rr", ""].join("\n"),
    });
    try {
      const { service } = await serviceWith({
        CALDAV_URL: locked.url,
        CALDAV_USERNAME: locked.username,
        CALDAV_PASSWORD: PASSWORD,
        CALDAV_CALENDAR: "Domaruppdrag",
      });
      await eventually(() =>
        expect(caldav(service)).toMatchObject({
          status: "fail",
          lastError: expect.stringMatching(
            /the calendar "Domaruppdrag" does not exist and the server refused to create it \(403\).*Fix: create a calendar named "Domaruppdrag" in your calendar app, or set CALDAV_CALENDAR/,
          ),
        }),
      );
    } finally {
      await locked.close();
    }
  });
});
