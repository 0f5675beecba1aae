import { fileURLToPath } from "node:url";
import type { Match } from "@fogis/message-schema";
import { sameSecret } from "@fogis/runtime";
import express, { type Request, type Response, Router } from "express";
import type { StoredCalendarEvent } from "../calendar-backend.js";
import type { RecentChange } from "../recent-changes.js";
import { negotiateLanguage } from "./i18n.js";
import { buildPipeline, type PipelineInput, type TargetStatus } from "./pipeline.js";
import type { ProcessorStatusReader } from "./processor-status.js";
import { renderLockedPage, renderStatusPage } from "./render.js";
import { buildStatusView, type StatusView, type SubscribeLinks } from "./view-model.js";

/**
 * `GET /` (the status page), `GET /status.json` (the same view as data) and the page's two
 * assets. Served entirely by calendar-sync: no CDN, no fonts, no third-party script; the Content
 * Security Policy allows only this origin, so the browser could not reach elsewhere if a bug tried.
 */

export interface StatusPageDeps {
  /** When set, the page needs the token too: `?token=` (which sets a cookie) or that cookie. */
  feedToken?: string;
  now: () => Date;
  /** Seconds between the page's own refreshes. */
  refreshSeconds?: number;
  processor: Pick<ProcessorStatusReader, "read">;
  subscriber: () => PipelineInput["subscriber"];
  calendarSync: () => PipelineInput["calendarSync"];
  /** Push backends' statuses (DESIGN §11); empty while only the feed is configured. */
  backends: () => TargetStatus[];
  events: () => readonly StoredCalendarEvent[];
  matches: () => ReadonlyMap<number, Match>;
  recentChanges: () => readonly RecentChange[];
  lastSynced: () => Date | undefined;
  feedLastFetched: () => Date | undefined;
}

export const TOKEN_COOKIE = "fogis_feed_token";
const ASSETS_DIR = fileURLToPath(new URL("../../assets/", import.meta.url));
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

export function statusPageRouter(deps: StatusPageDeps): Router {
  const router = Router();
  const refreshSeconds = deps.refreshSeconds ?? 5;

  router.use("/assets", express.static(ASSETS_DIR, { index: false, setHeaders: pageHeaders }));

  router.get("/", async (req, res) => {
    const language = negotiateLanguage(req.get("accept-language"), req.query.lang);
    pageHeaders(res);
    const access = checkAccess(req, res, deps.feedToken);
    if (access !== "ok") {
      res
        .status(401)
        .type("html")
        .send(renderLockedPage(language, access === "wrong"));
      return;
    }
    const view = await buildView(req, deps, language);
    res.type("html").send(renderStatusPage(view, { refreshSeconds }));
  });

  router.get("/status.json", async (req, res) => {
    pageHeaders(res);
    if (checkAccess(req, res, deps.feedToken) !== "ok") {
      res
        .status(401)
        .json({ success: false, error: "add ?token=<FEED_TOKEN> (or open the page with it first)" });
      return;
    }
    const language = negotiateLanguage(req.get("accept-language"), req.query.lang);
    res.json(await buildView(req, deps, language));
  });

  return router;
}

async function buildView(req: Request, deps: StatusPageDeps, language: "sv" | "en"): Promise<StatusView> {
  const processor = await deps.processor.read();
  const now = deps.now();
  const steps = buildPipeline({
    now,
    processor,
    subscriber: deps.subscriber(),
    calendarSync: deps.calendarSync(),
    backends: deps.backends(),
  });
  return buildStatusView({
    now,
    language,
    steps,
    events: deps.events(),
    matches: deps.matches(),
    recentChanges: deps.recentChanges(),
    lastSynced: deps.lastSynced(),
    links: subscribeLinks(req, deps.feedToken),
    feedLastFetched: deps.feedLastFetched(),
  });
}

/**
 * Links as the browser reached us: the Host it used, and the scheme a TLS-terminating reverse
 * proxy says it used (X-Forwarded-Proto). Both come from the request and only shape the links
 * shown back to that same requester, so they are taken as given, like the Host header.
 */
export function subscribeLinks(req: Request, feedToken: string | undefined): SubscribeLinks {
  const base = `${requestScheme(req)}://${req.host}`;
  const query = feedToken ? `?token=${encodeURIComponent(feedToken)}` : "";
  const feed = `${base}/calendar.ics${query}`;
  return {
    feed,
    webcal: feed.replace(/^https?:/, "webcal:"),
    vcard: `${base}/contacts.vcf${query}`,
  };
}

/** `ok`, `missing` (no token given) or `wrong`. A valid `?token=` also sets the cookie. */
function checkAccess(req: Request, res: Response, feedToken: string | undefined): "ok" | "missing" | "wrong" {
  if (!feedToken) return "ok";
  const fromQuery = typeof req.query.token === "string" ? req.query.token : undefined;
  if (fromQuery !== undefined) {
    if (!sameSecret(fromQuery, feedToken)) return "wrong";
    res.cookie(TOKEN_COOKIE, feedToken, {
      httpOnly: true,
      sameSite: "strict",
      secure: requestScheme(req) === "https",
      maxAge: 400 * 24 * 3600 * 1000,
    });
    return "ok";
  }
  const fromCookie = readCookie(req.get("cookie"), TOKEN_COOKIE);
  if (fromCookie === undefined) return "missing";
  return sameSecret(fromCookie, feedToken) ? "ok" : "wrong";
}

function requestScheme(req: Request): "http" | "https" {
  const forwarded = req.get("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase();
  if (forwarded === "https" || forwarded === "http") return forwarded;
  return req.protocol === "https" ? "https" : "http";
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) {
      try {
        return decodeURIComponent(value.join("="));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function pageHeaders(res: Response): void {
  res.setHeader("Content-Security-Policy", CONTENT_SECURITY_POLICY);
  res.setHeader("X-Content-Type-Options", "nosniff");
  // The feed links carry the token: never send the page's address anywhere.
  res.setHeader("Referrer-Policy", "no-referrer");
  // Revalidated every time (the ETag makes an unchanged page a 304); no shared cache keeps it.
  res.setHeader("Cache-Control", "private, no-cache");
  res.vary("Accept-Language").vary("Cookie");
}
