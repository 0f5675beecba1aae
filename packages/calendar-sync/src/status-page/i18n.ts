import { STOCKHOLM_TIME_ZONE } from "@fogis/message-schema";
import type { ChangeAspect, MatchState } from "../recent-changes.js";
import type { PipelineStep, StepReason, StepState, Verdict } from "./pipeline.js";

/**
 * The page's two languages. Swedish by default (the users are Swedish referees), English when the
 * browser prefers it (`Accept-Language`) or `?lang=en` asks for it. Dates and times are always
 * Stockholm local time, whatever the server's or the browser's zone.
 */

export type Language = "sv" | "en";
export const LANGUAGES: readonly Language[] = ["sv", "en"];

/** `?lang=` wins; otherwise the highest-weighted of sv/en in Accept-Language; otherwise Swedish. */
export function negotiateLanguage(acceptLanguage: string | undefined, override?: unknown): Language {
  if (override === "sv" || override === "en") return override;
  let best: { language: Language; q: number } | undefined;
  for (const part of (acceptLanguage ?? "").split(",")) {
    const [tag = "", ...params] = part.trim().toLowerCase().split(";");
    const primary = tag.split("-")[0];
    if (primary !== "sv" && primary !== "en") continue;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    if (!Number.isFinite(q) || q <= 0) continue;
    if (!best || q > best.q) best = { language: primary, q };
  }
  return best?.language ?? "sv";
}

export interface Texts {
  lang: Language;
  title: string;
  skipToContent: string;
  otherLanguage: { lang: Language; label: string };
  verdict: Record<Verdict, { headline: string; explanation: string }>;
  calendarSummary(events: number, updated: string | null): string;
  sections: { pipeline: string; matches: string; changes: string; subscribe: string };
  state: Record<StepState, string>;
  stepName(step: PipelineStep): string;
  lastWorked(relative: string | null): string;
  reason(reason: StepReason): string;
  matchState: Record<MatchState, string>;
  kickoff: string;
  /** In place of the time of a match FOGIS has no kick-off time for. */
  timeNotSet: string;
  venue: string;
  referees: string;
  noMatches: string;
  moreMatches(count: number): string;
  changedRecently(relative: string): string;
  noChanges: string;
  changeKind: { created: string; removed: string; updated: string };
  aspect(aspect: ChangeAspect, formatKickoff: (iso: string, allDay?: boolean) => string): string;
  reachedCalendar(relative: string, origin: string): string;
  origin: { redis: string; http: string; resync: string };
  subscribe: {
    intro: string;
    webcal: string;
    feed: string;
    vcard: string;
    vcardHint: string;
    qrCaption: string;
    qrLabel: string;
    feedFetched(relative: string | null): string;
  };
  liveNote: string;
  offline: string;
  locked: { headline: string; explanation: string; label: string; submit: string; wrong: string };
  relative(iso: string, now: Date): string;
  /** "lör 5 dec." / "Sat 5 Dec" */
  date(iso: string): string;
  /** "17:30" */
  time(iso: string): string;
  /** Date and time, for tooltips and changes. */
  dateTime(iso: string): string;
}

/** Product names for the kinds of backends and notification targets (DESIGN §11, §12). */
const KIND_NAMES: Record<string, string> = {
  caldav: "CalDAV",
  carddav: "CardDAV",
  "google-calendar": "Google Calendar",
  "google-people": "Google Contacts",
  ntfy: "ntfy",
  json: "Webhook",
  discord: "Discord",
  slack: "Slack",
  email: "E-mail",
};

/** The kind's product name, and the configured name too when it says more than the kind. */
function targetName(step: PipelineStep): string {
  const name = step.name ?? "";
  const kind = step.targetKind;
  const label = kind ? (KIND_NAMES[kind] ?? kind) : name;
  const saysMore = name !== "" && name !== kind && !(name in KIND_NAMES) && name !== "webhook";
  return saysMore ? `${label} (${name})` : label;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(locale: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${locale}|${JSON.stringify(options)}`;
  let cached = formatters.get(key);
  if (!cached) {
    cached = new Intl.DateTimeFormat(locale, { timeZone: STOCKHOLM_TIME_ZONE, ...options });
    formatters.set(key, cached);
  }
  return cached;
}

function timeFunctions(language: Language) {
  const locale = language === "sv" ? "sv-SE" : "en-GB";
  const relativeFormat = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  const justNow = language === "sv" ? "just nu" : "just now";
  return {
    relative(iso: string, now: Date): string {
      const seconds = Math.round((Date.parse(iso) - now.getTime()) / 1000);
      const abs = Math.abs(seconds);
      // Coarse on purpose: the page only changes when something a reader would notice changed.
      if (abs < 45) return justNow;
      if (abs < 45 * 60) return relativeFormat.format(Math.round(seconds / 60), "minute");
      if (abs < 22 * 3600) return relativeFormat.format(Math.round(seconds / 3600), "hour");
      return relativeFormat.format(Math.round(seconds / 86_400), "day");
    },
    date: (iso: string) =>
      formatter(locale, { weekday: "short", day: "numeric", month: "short" }).format(new Date(iso)),
    time: (iso: string) =>
      formatter(locale, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(iso)),
    dateTime: (iso: string) =>
      formatter(locale, {
        weekday: "short",
        day: "numeric",
        month: "short",
        hour: "2-digit",
        minute: "2-digit",
        hourCycle: "h23",
      }).format(new Date(iso)),
  };
}

const sv: Texts = {
  lang: "sv",
  title: "FOGIS Realtime – status",
  skipToContent: "Hoppa till innehållet",
  otherLanguage: { lang: "en", label: "In English" },
  verdict: {
    good: {
      headline: "Allt fungerar",
      explanation: "Din kalender är uppdaterad: ändringar i FOGIS når den inom några minuter.",
    },
    degraded: {
      headline: "Begränsad drift",
      explanation: "Ändringar når fortfarande kalendern, men via en reservväg eller med en varning nedan.",
    },
    broken: {
      headline: "Trasigt",
      explanation: "Ändringar når inte din kalender just nu. Se steget med fel nedan.",
    },
  },
  calendarSummary: (events, updated) =>
    `${events} ${events === 1 ? "match" : "matcher"} i kalendern${updated ? `, senast uppdaterad ${updated}` : ""}.`,
  sections: {
    pipeline: "Flödet",
    matches: "Kommande matcher",
    changes: "Senaste ändringar",
    subscribe: "Prenumerera",
  },
  state: { pass: "OK", warn: "Varning", fail: "Fel" },
  stepName(step) {
    switch (step.kind) {
      case "source":
        return "Hämtning från FOGIS";
      case "processor":
        return "match-processor";
      case "delivery":
        return step.via === "redis" ? "Redis pub/sub" : step.via === "http" ? "HTTP-reserv" : "Leverans";
      case "calendar-sync":
        return "calendar-sync";
      case "backend":
        return targetName(step);
      case "notification":
        return `Avisering: ${targetName(step)}`;
    }
  },
  lastWorked: (relative) => (relative ? `Fungerade senast ${relative}` : "Har inte fungerat ännu"),
  reason(reason) {
    const detail = reason.detail ? `: ${reason.detail}` : "";
    switch (reason.code) {
      case "reported":
        return reason.detail ?? "tjänsten rapporterar ett problem";
      case "processor_unreachable":
        return `match-processor svarar inte${detail}`;
      case "unknown_processor_unreachable":
        return "okänt läge: match-processor svarar inte";
      case "no_cycle_yet":
        return "ingen hämtning gjord ännu";
      case "source_failed":
        return `matchlistan kunde inte hämtas${detail}`;
      case "delivery_failed":
        return `senaste ögonblicksbilden kunde inte levereras${detail}`;
      case "no_delivery_path":
        return `varken Redis eller HTTP-reserven fungerar${detail}`;
      case "redis_down_http_fallback":
        return `Redis nås inte; HTTP-reserven levererar ändringarna${detail}`;
      case "redis_down":
        return `Redis nås inte${detail}`;
      case "apply_failed":
        return `senaste ögonblicksbilden kunde inte sparas${detail}`;
      case "no_snapshot_yet":
        return "ingen ögonblicksbild mottagen sedan start";
      case "state_file_unreadable":
        return `sparat läge kunde inte läsas vid start; nästa ögonblicksbild bygger om det${detail}`;
      case "behind_processor":
        return `kalendern saknar processorns senaste ögonblicksbild ${reason.detail ?? ""}`.trim();
      case "backend_pending":
        return `${reason.detail ?? "några"} ändringar väntar på att skickas`;
      case "notification_pending":
        return `${reason.detail ?? "några"} aviseringar väntar på att skickas`;
    }
  },
  matchState: {
    scheduled: "Planerad",
    cancelled: "Inställd",
    postponed: "Uppskjuten",
    interrupted: "Avbruten",
  },
  kickoff: "Avspark",
  timeNotSet: "tid ej fastställd",
  venue: "Arena",
  referees: "Domare",
  noMatches: "Inga kommande matcher i kalendern.",
  moreMatches: (count) => `och ${count} till i kalenderflödet`,
  changedRecently: (relative) => `Ändrad ${relative}`,
  noChanges: "Inga ändringar sedan historiken började.",
  changeKind: { created: "Nytt uppdrag", removed: "Borttagen från din lista", updated: "Ändrad" },
  aspect(aspect, formatKickoff) {
    switch (aspect.field) {
      case "kickoff":
        return `Avspark ${formatKickoff(aspect.from, aspect.fromAllDay)} → ${formatKickoff(aspect.to, aspect.toAllDay)}`;
      case "venue":
        return `Arena ${aspect.from || "–"} → ${aspect.to || "–"}`;
      case "teams":
        return `Lag ${aspect.from} → ${aspect.to}`;
      case "referees":
        return `Domare ${[...aspect.added.map((n) => `+ ${n}`), ...aspect.removed.map((n) => `− ${n}`)].join(", ")}`;
      case "status":
        return `Status ${sv.matchState[aspect.from]} → ${sv.matchState[aspect.to]}`;
      case "competition":
        return `Tävling ${aspect.from || "–"} → ${aspect.to || "–"}`;
      case "details":
        return "Övriga uppgifter ändrade";
    }
  },
  reachedCalendar: (relative, origin) => `I kalendern ${relative}, ${origin}`,
  origin: { redis: "via Redis", http: "via HTTP", resync: "vid omsynkning" },
  subscribe: {
    intro: "Lägg till kalendern i din kalenderapp. Den uppdateras av sig själv när FOGIS ändras.",
    webcal: "Prenumerera i kalenderappen (webcal)",
    feed: "Kalenderflödets adress",
    vcard: "Telefonbok (vCard)",
    vcardHint: "Importera igen efter ändringar: vCard kan inte prenumereras på.",
    qrCaption: "Skanna med telefonen för att öppna kalenderflödets adress.",
    qrLabel: "QR-kod med kalenderflödets adress",
    feedFetched: (relative) =>
      relative
        ? `Flödet hämtades senast av en kalenderapp ${relative}.`
        : "Ingen kalenderapp har hämtat flödet sedan start.",
  },
  liveNote: "Sidan uppdaterar sig själv medan den är öppen.",
  offline: "Tappade kontakten med calendar-sync; visar läget från senaste uppdateringen.",
  locked: {
    headline: "Sidan kräver flödets token",
    explanation: "Ange samma token som i kalenderflödets adress (FEED_TOKEN).",
    label: "Token",
    submit: "Öppna",
    wrong: "Fel token.",
  },
  ...timeFunctions("sv"),
};

const en: Texts = {
  lang: "en",
  title: "FOGIS Realtime – status",
  skipToContent: "Skip to content",
  otherLanguage: { lang: "sv", label: "På svenska" },
  verdict: {
    good: {
      headline: "All good",
      explanation: "Your calendar is up to date: changes in FOGIS reach it within minutes.",
    },
    degraded: {
      headline: "Degraded",
      explanation: "Changes still reach your calendar, but by a fallback path or with a warning below.",
    },
    broken: {
      headline: "Broken",
      explanation: "Changes are not reaching your calendar right now. See the failing step below.",
    },
  },
  calendarSummary: (events, updated) =>
    `${events} ${events === 1 ? "match" : "matches"} in the calendar${updated ? `, last updated ${updated}` : ""}.`,
  sections: {
    pipeline: "Pipeline",
    matches: "Upcoming matches",
    changes: "Recent changes",
    subscribe: "Subscribe",
  },
  state: { pass: "OK", warn: "Warning", fail: "Failing" },
  stepName(step) {
    switch (step.kind) {
      case "source":
        return "FOGIS fetch";
      case "processor":
        return "match-processor";
      case "delivery":
        return step.via === "redis" ? "Redis pub/sub" : step.via === "http" ? "HTTP fallback" : "Delivery";
      case "calendar-sync":
        return "calendar-sync";
      case "backend":
        return targetName(step);
      case "notification":
        return `Notification: ${targetName(step)}`;
    }
  },
  lastWorked: (relative) => (relative ? `Last worked ${relative}` : "Has not worked yet"),
  reason(reason) {
    const detail = reason.detail ? `: ${reason.detail}` : "";
    switch (reason.code) {
      case "reported":
        return reason.detail ?? "the service reports a problem";
      case "processor_unreachable":
        return `match-processor does not answer${detail}`;
      case "unknown_processor_unreachable":
        return "unknown: match-processor does not answer";
      case "no_cycle_yet":
        return "no fetch yet";
      case "source_failed":
        return `the match list could not be fetched${detail}`;
      case "delivery_failed":
        return `the latest snapshot could not be delivered${detail}`;
      case "no_delivery_path":
        return `neither Redis nor the HTTP fallback works${detail}`;
      case "redis_down_http_fallback":
        return `Redis unreachable; the HTTP fallback delivers the changes${detail}`;
      case "redis_down":
        return `Redis unreachable${detail}`;
      case "apply_failed":
        return `the latest snapshot could not be saved${detail}`;
      case "no_snapshot_yet":
        return "no snapshot received since start";
      case "state_file_unreadable":
        return `saved state was unreadable at start; the next snapshot rebuilds it${detail}`;
      case "behind_processor":
        return `the calendar lacks the processor's latest snapshot ${reason.detail ?? ""}`.trim();
      case "backend_pending":
        return `${reason.detail ?? "some"} changes waiting to be pushed`;
      case "notification_pending":
        return `${reason.detail ?? "some"} notifications waiting to be sent`;
    }
  },
  matchState: {
    scheduled: "Scheduled",
    cancelled: "Cancelled",
    postponed: "Postponed",
    interrupted: "Interrupted",
  },
  kickoff: "Kick-off",
  timeNotSet: "time not set",
  venue: "Venue",
  referees: "Referees",
  noMatches: "No upcoming matches in the calendar.",
  moreMatches: (count) => `and ${count} more in the calendar feed`,
  changedRecently: (relative) => `Changed ${relative}`,
  noChanges: "No changes since the history began.",
  changeKind: { created: "New assignment", removed: "Removed from your list", updated: "Changed" },
  aspect(aspect, formatKickoff) {
    switch (aspect.field) {
      case "kickoff":
        return `Kick-off ${formatKickoff(aspect.from, aspect.fromAllDay)} → ${formatKickoff(aspect.to, aspect.toAllDay)}`;
      case "venue":
        return `Venue ${aspect.from || "–"} → ${aspect.to || "–"}`;
      case "teams":
        return `Teams ${aspect.from} → ${aspect.to}`;
      case "referees":
        return `Referees ${[...aspect.added.map((n) => `+ ${n}`), ...aspect.removed.map((n) => `− ${n}`)].join(", ")}`;
      case "status":
        return `Status ${en.matchState[aspect.from]} → ${en.matchState[aspect.to]}`;
      case "competition":
        return `Competition ${aspect.from || "–"} → ${aspect.to || "–"}`;
      case "details":
        return "Other details changed";
    }
  },
  reachedCalendar: (relative, origin) => `In the calendar ${relative}, ${origin}`,
  origin: { redis: "via Redis", http: "via HTTP", resync: "by resync" },
  subscribe: {
    intro: "Add the calendar to your calendar app. It updates itself when FOGIS changes.",
    webcal: "Subscribe in your calendar app (webcal)",
    feed: "Calendar feed address",
    vcard: "Phonebook (vCard)",
    vcardHint: "Import again after changes: vCard has no subscriptions.",
    qrCaption: "Scan with your phone to open the calendar feed's address.",
    qrLabel: "QR code of the calendar feed's address",
    feedFetched: (relative) =>
      relative
        ? `A calendar app last fetched the feed ${relative}.`
        : "No calendar app has fetched the feed since start.",
  },
  liveNote: "This page updates itself while it is open.",
  offline: "Lost contact with calendar-sync; showing the state of the last update.",
  locked: {
    headline: "This page needs the feed token",
    explanation: "Enter the same token as in the calendar feed's address (FEED_TOKEN).",
    label: "Token",
    submit: "Open",
    wrong: "Wrong token.",
  },
  ...timeFunctions("en"),
};

export function texts(language: Language): Texts {
  return language === "en" ? en : sv;
}
