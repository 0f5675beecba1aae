import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import jsQRModule from "jsqr";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type PageStack, startPageStack } from "./status-page-stack.js";

/**
 * The status page in a real browser (Debian's Chromium driven by playwright-core), against the
 * real stack: an owned redis-server, the real match-processor and calendar-sync. One browser for
 * the file. Every request any page makes is recorded; none may leave the service's origin.
 * Screenshots go to artifacts/screenshots/ (CI keeps them; the folder is gitignored).
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];
const SCREENSHOTS = fileURLToPath(new URL("../../../artifacts/screenshots/", import.meta.url));
const FEED_TOKEN = "browser-test-feed-token-0123";
const require = createRequire(import.meta.url);

/**
 * The browser globals the page-side callbacks (page.evaluate) use. They run in Chromium; this
 * project compiles without the DOM library, so each callback casts globalThis to this.
 */
interface BrowserWindow {
  innerWidth: number;
  notReloaded?: boolean;
  axe: {
    run(): Promise<{ violations: Array<{ id: string; help: string; nodes: Array<{ target: unknown }> }> }>;
  };
  document: {
    documentElement: { scrollWidth: number };
    createElement(tag: "canvas"): {
      width: number;
      height: number;
      getContext(kind: "2d"): {
        drawImage(image: unknown, x: number, y: number): void;
        getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> };
      } | null;
    };
  };
  Image: new () => { src: string; naturalWidth: number; naturalHeight: number; decode(): Promise<void> };
}
// jsqr is CommonJS: its module.exports is the function its types call `default`.
const jsQR = jsQRModule as unknown as typeof jsQRModule.default;

let browser: Browser;
let stack: PageStack;
const requests: string[] = [];
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `No browser at ${CHROMIUM}: these tests drive Debian's Chromium. Install it with \`apt-get install -y chromium\` (or set CHROMIUM_PATH); never a downloaded browser.`,
    );
  }
  mkdirSync(SCREENSHOTS, { recursive: true });
  [browser, stack] = await Promise.all([
    chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
    startPageStack({ feedToken: FEED_TOKEN, refreshSeconds: 1 }),
  ]);
});

// Each open page refreshes itself every second: close them as each test ends.
afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close();
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

/** A page in a fresh context whose every request is recorded. */
async function openPage(
  options: { width?: number; locale?: string; javaScript?: boolean; path?: string; pixelRatio?: number } = {},
): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: 900 },
    locale: options.locale ?? "en-GB",
    javaScriptEnabled: options.javaScript ?? true,
    deviceScaleFactor: options.pixelRatio ?? 1,
  });
  contexts.push(context);
  context.on("request", (request) => requests.push(request.url()));
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  await page.goto(`${stack.url}${options.path ?? `/?token=${FEED_TOKEN}`}`);
  (page as Page & { errors: string[] }).errors = errors;
  return page;
}

const verdict = (page: Page) => page.locator("#verdict-heading");
/** The machine may be shared and loaded: a condition gets this long to become true. */
const WAIT = { timeout: 15_000, interval: 100 };

describe("the status page in Chromium", () => {
  it("renders the verdict, the pipeline and the upcoming matches; screenshots at phone and desktop width", async () => {
    for (const [name, width] of [
      ["phone-375", 375],
      ["desktop-1280", 1280],
    ] as const) {
      const page = await openPage({ width });
      await expect.poll(() => verdict(page).textContent(), WAIT).toBe("All good");
      await expect.poll(() => page.locator(".step").count(), WAIT).toBe(4);
      expect(await page.locator(".step__name").allTextContents()).toEqual([
        "FOGIS fetch",
        "match-processor",
        "Redis pub/sub",
        "calendar-sync",
      ]);
      const teams = await page.locator(".match__teams").allTextContents();
      expect(teams).toEqual([
        "IFK Göteborg U19 – Örgryte IS U19",
        "Qviding FIF – Västra Frölunda IF",
        "Ahlafors IF – Lunden ÖBK",
        "Utsiktens BK – Torslanda IK",
      ]);
      await expect
        .poll(() => page.locator(".match").first().locator("time").textContent(), WAIT)
        .toContain("17:30");
      await expect.poll(() => page.locator(".match--cancelled .tag").textContent(), WAIT).toBe("Cancelled");
      await expect.poll(() => page.locator(".match--postponed .tag").textContent(), WAIT).toBe("Postponed");
      // Nothing wider than the phone: no sideways scrolling at 375 px.
      const overflow = await page.evaluate(() => {
        const w = globalThis as unknown as BrowserWindow;
        return w.document.documentElement.scrollWidth - w.innerWidth;
      });
      expect(overflow).toBeLessThanOrEqual(0);
      await page.screenshot({ path: `${SCREENSHOTS}status-page-${name}.png`, fullPage: true });
      expect((page as Page & { errors: string[] }).errors).toEqual([]);
    }
  });

  it("is readable without JavaScript (server-rendered), in Swedish for a Swedish browser", async () => {
    const page = await openPage({ javaScript: false, locale: "sv-SE", width: 375 });
    await expect.poll(() => verdict(page).textContent(), WAIT).toBe("Allt fungerar");
    await expect.poll(() => page.locator("html").getAttribute("lang"), WAIT).toBe("sv");
    await expect
      .poll(() => page.locator(".match__teams").first().textContent(), WAIT)
      .toBe("IFK Göteborg U19 – Örgryte IS U19");
    await expect.poll(() => page.locator(".match--cancelled .tag").textContent(), WAIT).toBe("Inställd");
  });

  it("turns degraded within seconds when Redis stops, and good again when it returns, without a reload", async () => {
    const page = await openPage();
    await expect.poll(() => verdict(page).textContent(), WAIT).toBe("All good");
    // A reload would lose both: a variable on the window and the very element on screen.
    await page.evaluate(() => {
      (globalThis as unknown as BrowserWindow).notReloaded = true;
    });
    const heading = await verdict(page).elementHandle();
    await stack.redis.stop();
    await expect.poll(() => verdict(page).textContent(), WAIT).toBe("Degraded");
    await expect
      .poll(() => page.locator('[data-key="delivery"] .step__name').textContent(), WAIT)
      .toBe("HTTP fallback");
    await expect
      .poll(() => page.locator('[data-key="delivery"] .step__reason').textContent(), WAIT)
      .toContain("Redis unreachable");
    await page.screenshot({ path: `${SCREENSHOTS}status-page-degraded-desktop-1280.png`, fullPage: true });

    await stack.redis.start();
    await expect.poll(() => verdict(page).textContent(), { ...WAIT, timeout: 25_000 }).toBe("All good");
    await expect
      .poll(() => page.locator('[data-key="delivery"] .step__name').textContent(), WAIT)
      .toBe("Redis pub/sub");
    expect(await page.evaluate(() => (globalThis as unknown as BrowserWindow).notReloaded)).toBe(true);
    expect(await heading?.evaluate((element) => element.isConnected)).toBe(true);
  });

  it("shows a change as it reaches the calendar: on the match and under recent changes", async () => {
    const page = await openPage();
    await expect.poll(() => verdict(page).textContent(), WAIT).toBe("All good");
    const card = page.locator('[data-key="match-6200001"]');
    const cardElement = await card.elementHandle();
    const [first, ...rest] = (await import("./status-page-stack.js")).demoMatches();
    if (!first) throw new Error("no demo match");
    await stack.publish([{ ...first, anlaggningnamn: "Nya Ullevi", anlaggningid: 99_001 }, ...rest]);
    await expect.poll(() => card.locator(".match__facts dd").first().textContent(), WAIT).toBe("Nya Ullevi");
    await expect
      .poll(() => card.locator(".match__change").textContent(), WAIT)
      .toContain("Venue Valhalla IP → Nya Ullevi");
    await expect
      .poll(() => page.locator(".change").first().textContent(), WAIT)
      .toContain("IFK Göteborg U19 – Örgryte IS U19");
    await expect
      .poll(() => page.locator(".change").first().textContent(), WAIT)
      .toContain("In the calendar just now, via Redis");
    // Patched in place, not re-created.
    expect(await cardElement?.evaluate((element) => element.isConnected)).toBe(true);
  });

  it("the subscribe links work: feed, webcal and vCard carry the token, and the QR code reads as the feed URL", async () => {
    // A phone's screen has 3 pixels per CSS pixel: the code is read at the sharpness a camera sees it.
    const page = await openPage({ width: 375, pixelRatio: 3 });
    const feed = await page.locator('[data-link="feed"]').getAttribute("href");
    const webcal = await page.locator('[data-link="webcal"]').getAttribute("href");
    const vcard = await page.locator('[data-link="vcard"]').getAttribute("href");
    expect(feed).toBe(`${stack.url}/calendar.ics?token=${FEED_TOKEN}`);
    expect(webcal).toBe(feed?.replace(/^http:/, "webcal:"));
    expect(vcard).toBe(`${stack.url}/contacts.vcf?token=${FEED_TOKEN}`);
    // Read before the feed is fetched below: the page then says so, and the QR code moves down.
    expect(await decodeQr(await page.locator(".qr__code").screenshot())).toBe(feed);

    const calendar = await page.request.get(feed ?? "");
    expect(calendar.status()).toBe(200);
    expect(calendar.headers()["content-type"]).toContain("text/calendar");
    expect(await calendar.text()).toContain("SUMMARY:Utsiktens BK - Torslanda IK");
    const contacts = await page.request.get(vcard ?? "");
    expect(contacts.status()).toBe(200);
    expect(await contacts.text()).toContain("FN:Anna Andersson");
    // The webcal link is the feed under the scheme calendar apps subscribe with.
    const viaWebcal = await page.request.get(webcal?.replace(/^webcal:/, "http:") ?? "");
    expect(viaWebcal.status()).toBe(200);
  });

  it("FEED_TOKEN: without it the page asks for it; typed with the keyboard, it opens the page", async () => {
    const page = await openPage({ path: "/" });
    await expect.poll(() => page.locator("h1").textContent(), WAIT).toBe("This page needs the feed token");
    await expect.poll(() => page.locator("body").textContent(), WAIT).not.toContain("Utsiktens");
    await page.keyboard.press("Tab");
    await expect
      .poll(() =>
        page.locator("#token").evaluate((element) => element === element.ownerDocument.activeElement),
      )
      .toBe(true);
    await page.keyboard.type(FEED_TOKEN);
    await page.keyboard.press("Enter");
    await expect.poll(() => verdict(page).textContent(), WAIT).toBe("All good");
    // The cookie set from the token opens it from now on.
    await page.goto(`${stack.url}/`);
    await expect.poll(() => verdict(page).textContent(), WAIT).toBe("All good");
  });

  it("keyboard: the first Tab reaches the skip link, which leads to the content", async () => {
    const page = await openPage();
    await page.keyboard.press("Tab");
    const skip = page.locator("a.skip");
    await expect
      .poll(() => skip.evaluate((element) => element === element.ownerDocument.activeElement), WAIT)
      .toBe(true);
    expect(await skip.boundingBox()).not.toBeNull();
    await page.keyboard.press("Enter");
    expect(page.url()).toContain("#main");
  });

  it("passes an axe-core accessibility check, in both languages and at phone width", async () => {
    const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
    for (const [locale, width] of [
      ["en-GB", 1280],
      ["sv-SE", 375],
    ] as const) {
      const page = await openPage({ locale, width });
      await expect.poll(() => page.locator(".step").count(), WAIT).toBe(4);
      // Evaluated through the DevTools protocol, so the page's CSP (script-src 'self') needs no exception.
      await page.evaluate(axeSource);
      const violations = await page.evaluate(async () => {
        const result = await (globalThis as unknown as BrowserWindow).axe.run();
        return result.violations.map((v) => ({
          id: v.id,
          help: v.help,
          targets: v.nodes.map((node) => node.target),
        }));
      });
      expect(violations, `${locale} at ${width} px`).toEqual([]);
    }
  });

  it("no request ever left the service's origin", () => {
    const origin = new URL(stack.url).origin;
    expect(requests.length).toBeGreaterThan(10);
    const elsewhere = requests.filter((url) => !url.startsWith("data:") && new URL(url).origin !== origin);
    expect(elsewhere).toEqual([]);
  });
});

/** Reads a QR code from a PNG the way a phone does from pixels: Chromium decodes the image, jsQR reads it. */
async function decodeQr(png: Buffer): Promise<string | undefined> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const { width, height, pixels } = await page.evaluate(async (base64) => {
      const w = globalThis as unknown as BrowserWindow;
      const image = new w.Image();
      image.src = `data:image/png;base64,${base64}`;
      await image.decode();
      const canvas = w.document.createElement("canvas");
      canvas.width = image.naturalWidth;
      canvas.height = image.naturalHeight;
      const context2d = canvas.getContext("2d");
      if (!context2d) throw new Error("no 2d canvas");
      context2d.drawImage(image, 0, 0);
      // As a latin1 string: an array of numbers this size takes seconds to cross the DevTools protocol.
      const data = context2d.getImageData(0, 0, canvas.width, canvas.height).data;
      let pixels = "";
      for (let i = 0; i < data.length; i += 8192) {
        pixels += String.fromCharCode(...Array.prototype.slice.call(data, i, i + 8192));
      }
      return { width: canvas.width, height: canvas.height, pixels };
    }, png.toString("base64"));
    return jsQR(new Uint8ClampedArray(Buffer.from(pixels, "latin1")), width, height)?.data;
  } finally {
    await context.close();
  }
}
