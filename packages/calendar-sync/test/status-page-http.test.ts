import { fogisMatch } from "@fogis/testing";
import request from "supertest";
import { afterEach, describe, expect, it } from "vitest";
import { type PushBackend, PushError } from "../src/backends/push-backend.js";
import type { StateLoadReport } from "../src/calendar-backend.js";
import { eventually, manualSync, startTestService, type TestService, TOKEN } from "./helpers.js";

/**
 * GET / and /status.json over HTTP, without a browser: the server-rendered page (what a reader
 * without JavaScript gets), FEED_TOKEN, the links, the headers that keep the page on one origin.
 * The browser tests (status-page.browser.test.ts) drive the same page in Chromium.
 */

let t: TestService | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const _auth = { Authorization: `Bearer ${TOKEN}` };
const FEED_TOKEN = "feed-token-abcdefghijklmnop";

async function serviceWithMatches(
  env: Record<string, string> = {},
  pushBackends?: PushBackend[],
): Promise<TestService> {
  const service = await startTestService({
    env,
    pushBackends,
    pushRetry: { initialMs: 50, maxMs: 200, permanentMs: 300 },
  });
  await manualSync(service, {
    matches: [
      fogisMatch({
        matchid: 501,
        date: "2026-11-22",
        time: "17:30",
        home: "IFK Göteborg",
        away: "Örgryte IS",
      }),
      fogisMatch({
        matchid: 502,
        date: "2026-11-23",
        time: "13:00",
        home: "Qviding",
        away: "Frölunda",
        cancelled: true,
      }),
    ],
  }).expect(200);
  return service;
}

describe("GET / (the status page, server-rendered)", () => {
  it("renders the verdict, the pipeline and the matches as HTML, in the browser's language", async () => {
    t = await serviceWithMatches();
    const en = await request(t.service.app).get("/").set("Accept-Language", "en-GB,en;q=0.9").expect(200);
    expect(en.type).toBe("text/html");
    expect(en.text).toContain('<html lang="en">');
    // The processor is not running in this test: the page says so, and the verdict is broken.
    expect(en.text).toContain("<h1");
    expect(en.text).toMatch(/Broken<\/h1>/);
    expect(en.text).toContain("match-processor does not answer: no answer from http://127.0.0.1:9");
    expect(en.text).toContain("IFK Göteborg – Örgryte IS");
    expect(en.text).toContain("Sun 22 Nov · 17:30");
    expect(en.text).toMatch(/class="tag tag--cancelled">Cancelled</);

    const sv = await request(t.service.app).get("/").set("Accept-Language", "sv-SE,sv;q=0.9").expect(200);
    expect(sv.text).toContain('<html lang="sv">');
    expect(sv.text).toMatch(/Trasigt<\/h1>/);
    expect(sv.text).toContain("sön 22 nov. · 17:30");
    expect(sv.text).toContain("Inställd");
    expect((await request(t.service.app).get("/?lang=en").set("Accept-Language", "sv")).text).toContain(
      'lang="en"',
    );
  });

  it("/status.json answers the same view as data", async () => {
    t = await serviceWithMatches();
    const response = await request(t.service.app)
      .get("/status.json")
      .set("Accept-Language", "en")
      .expect(200);
    expect(response.body.verdict).toMatchObject({ state: "broken", headline: "Broken" });
    expect(response.body.pipeline.map((step: { id: string }) => step.id)).toEqual([
      "source",
      "processor",
      "delivery",
      "calendar-sync",
    ]);
    expect(response.body.matches.items.map((m: { matchid: number }) => m.matchid)).toEqual([501, 502]);
  });

  it("keeps the browser on this origin: a strict Content-Security-Policy and only relative assets", async () => {
    t = await serviceWithMatches();
    const page = await request(t.service.app).get("/").expect(200);
    expect(page.headers["content-security-policy"]).toContain("default-src 'none'");
    expect(page.headers["content-security-policy"]).toContain("connect-src 'self'");
    expect(page.headers["referrer-policy"]).toBe("no-referrer");
    const sources = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] ?? "");
    const external = sources.filter(
      (url) => /^[a-z]+:/i.test(url) && !url.includes("127.0.0.1") && !url.startsWith("webcal://127.0.0.1"),
    );
    expect(external).toEqual([]);
    const css = await request(t.service.app).get("/assets/status-page.css").expect(200);
    expect(css.type).toBe("text/css");
    expect(css.text).not.toMatch(/@import|url\(\s*["']?https?:/);
    const js = await request(t.service.app).get("/assets/status-page.js").expect(200);
    expect(js.type).toBe("text/javascript");
  });

  it("an unchanged page is answered 304 to a conditional request (the open page polls cheaply)", async () => {
    t = await serviceWithMatches();
    // A fixed Host: supertest's ephemeral port would otherwise change the links on each request.
    const host = "calendar.lan:5003";
    const first = await request(t.service.app).get("/").set("Host", host).expect(200);
    expect(first.headers.etag).toBeTruthy();
    await request(t.service.app)
      .get("/")
      .set("Host", host)
      .set("If-None-Match", String(first.headers.etag))
      .expect(304);
  });

  it("links to the feed and the phonebook as the browser reached the service (its Host)", async () => {
    t = await serviceWithMatches();
    const view = (await request(t.service.app).get("/status.json").set("Host", "calendar.lan:5003")).body;
    expect(view.subscribe).toMatchObject({
      feed: "http://calendar.lan:5003/calendar.ics",
      webcal: "webcal://calendar.lan:5003/calendar.ics",
      vcard: "http://calendar.lan:5003/contacts.vcf",
    });
    const page = await request(t.service.app).get("/").set("Host", "calendar.lan:5003");
    expect(page.text).toContain('href="webcal://calendar.lan:5003/calendar.ics"');
    expect(page.text).toMatch(/<svg[^>]+role="img"/);
    // Behind a TLS-terminating reverse proxy, the links say https.
    const proxied = await request(t.service.app)
      .get("/status.json")
      .set("Host", "fogis.example.org")
      .set("X-Forwarded-Proto", "https");
    expect(proxied.body.subscribe).toMatchObject({
      feed: "https://fogis.example.org/calendar.ics",
      webcal: "webcal://fogis.example.org/calendar.ics",
      vcard: "https://fogis.example.org/contacts.vcf",
    });
  });

  it("shows no secret: neither the API token nor a Redis password", async () => {
    t = await serviceWithMatches({
      REDIS_URL: "redis://:s3cret-redis-password@127.0.0.1:1",
      REDIS_PUBSUB_ENABLED: "true",
    });
    const page = await request(t.service.app).get("/").expect(200);
    const json = await request(t.service.app).get("/status.json").expect(200);
    for (const text of [page.text, json.text]) {
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain("s3cret-redis-password");
    }
  });
});

describe("push backends on the page", () => {
  /** A CalDAV server that refuses the password: the user must act, so the step fails with the fix. */
  const refusing: PushBackend = {
    name: "caldav",
    kind: "caldav",
    async load(): Promise<StateLoadReport> {
      return { state: "missing" };
    },
    async sync() {
      throw new PushError("the server refused the user name or password (401)", {
        kind: "permanent",
        fix: "check CALDAV_USERNAME and CALDAV_PASSWORD",
      });
    },
    pending: (snapshot) => snapshot.events.length,
    describe: () => ({ url: "https://dav.example/" }),
  };

  it("each push backend is a step after calendar-sync; a failing one breaks the verdict and says how to fix it", async () => {
    const service = await serviceWithMatches({}, [refusing]);
    t = service;
    const view = await eventually(async () => {
      const body = (await request(service.service.app).get("/status.json").set("Accept-Language", "en")).body;
      expect(body.pipeline.at(-1)).toMatchObject({ id: "backend:caldav", status: "fail" });
      return body;
    });
    expect(view.pipeline.map((step: { id: string }) => step.id)).toEqual([
      "source",
      "processor",
      "delivery",
      "calendar-sync",
      "backend:caldav",
    ]);
    expect(view.pipeline.at(-1)).toMatchObject({
      name: "CalDAV",
      statusLabel: "Failing",
      lastWorkedText: "Has not worked yet",
      reason:
        "the server refused the user name or password (401). Fix: check CALDAV_USERNAME and CALDAV_PASSWORD",
    });
    expect(view.verdict.state).toBe("broken");
  });
});

describe("FEED_TOKEN protects the page like the feed", () => {
  it("without the token: 401 and a form asking for it; a wrong one says so", async () => {
    t = await serviceWithMatches({ FEED_TOKEN });
    const locked = await request(t.service.app).get("/").set("Accept-Language", "en").expect(401);
    expect(locked.type).toBe("text/html");
    expect(locked.text).toContain('name="token"');
    expect(locked.text).not.toContain("IFK Göteborg");
    const wrong = await request(t.service.app)
      .get("/?token=wrong-token-abcdefghijk")
      .set("Accept-Language", "en");
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain("Wrong token.");
    await request(t.service.app).get("/status.json").expect(401);
  });

  it("the token in the query opens it and sets a cookie; the cookie alone opens it later", async () => {
    t = await serviceWithMatches({ FEED_TOKEN });
    const opened = await request(t.service.app).get(`/?token=${FEED_TOKEN}`).expect(200);
    expect(opened.text).toContain("IFK Göteborg");
    const cookie = String(opened.headers["set-cookie"]?.[0] ?? "");
    expect(cookie).toMatch(/^fogis_feed_token=/);
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    const again = await request(t.service.app)
      .get("/")
      .set("Cookie", cookie.split(";")[0] ?? "")
      .expect(200);
    expect(again.text).toContain("IFK Göteborg");
    await request(t.service.app).get("/status.json").set("Cookie", "fogis_feed_token=wrong").expect(401);
  });

  it("the subscribe links carry the token, since calendar apps can only send it in the URL", async () => {
    t = await serviceWithMatches({ FEED_TOKEN });
    const view = (await request(t.service.app).get(`/status.json?token=${FEED_TOKEN}`).set("Host", "cal.lan"))
      .body;
    expect(view.subscribe.feed).toBe(`http://cal.lan/calendar.ics?token=${FEED_TOKEN}`);
    expect(view.subscribe.vcard).toBe(`http://cal.lan/contacts.vcf?token=${FEED_TOKEN}`);
    await request(t.service.app).get(`/calendar.ics?token=${FEED_TOKEN}`).expect(200);
  });
});
