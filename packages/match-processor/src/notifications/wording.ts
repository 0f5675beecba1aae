import type { ChangeCategory } from "@fogis/message-schema";
import type { NotifyLanguage } from "./config.js";
import type { MatchNotice, NoticeChange } from "./notices.js";

/**
 * The words of a notification, in Swedish (the default) or English, as plain text and as a
 * small HTML part. Every target builds on these, so a phone, a chat and an inbox say the same.
 */

interface Words {
  locale: string;
  headline: Record<ChangeCategory, string>;
  /** A headline for a status flag that was cleared (reinstated, no longer postponed, …). */
  cleared: Partial<Record<ChangeCategory, string>>;
  kickoffMoved: string;
  dateMoved: string;
  venueChanged: string;
  homeTeamChanged: string;
  awayTeamChanged: string;
  competitionChanged: string;
  refereesChanged: string;
  newAssignment: string;
  removed: string;
  several: (count: number) => string;
  at: (date: string, time: string) => string;
  matchNumber: string;
  none: string;
}

const WORDS: Record<NotifyLanguage, Words> = {
  sv: {
    locale: "sv-SE",
    headline: {
      cancellation: "Inställd match",
      new_assignment: "Nytt uppdrag",
      removed: "Uppdrag borttaget",
      postponement: "Uppskjuten match",
      interruption: "Avbruten match",
      date_change: "Nytt datum",
      time_change: "Ny avsparkstid",
      venue_change: "Ny arena",
      referee_change: "Ändrat domarteam",
      team_change: "Ändrat lag",
      competition_change: "Ändrad tävling",
    },
    cleared: {
      cancellation: "Matchen är inte längre inställd",
      postponement: "Matchen är inte längre uppskjuten",
      interruption: "Matchen är inte längre avbruten",
    },
    kickoffMoved: "Avspark flyttad",
    dateMoved: "Datum flyttat",
    venueChanged: "Arena ändrad",
    homeTeamChanged: "Hemmalag ändrat",
    awayTeamChanged: "Bortalag ändrat",
    competitionChanged: "Tävling ändrad",
    refereesChanged: "Domarteamet ändrat",
    newAssignment: "Nytt uppdrag",
    removed: "Borttagen från din uppdragslista",
    several: (count) => `FOGIS: ${count} matcher ändrade`,
    at: (date, time) => `${date} kl. ${time}`,
    matchNumber: "match",
    none: "(ingen)",
  },
  en: {
    locale: "en-GB",
    headline: {
      cancellation: "Match cancelled",
      new_assignment: "New assignment",
      removed: "Assignment removed",
      postponement: "Match postponed",
      interruption: "Match interrupted",
      date_change: "New date",
      time_change: "New kick-off time",
      venue_change: "New venue",
      referee_change: "Referee team changed",
      team_change: "Team changed",
      competition_change: "Competition changed",
    },
    cleared: {
      cancellation: "Match no longer cancelled",
      postponement: "Match no longer postponed",
      interruption: "Match no longer marked as interrupted",
    },
    kickoffMoved: "Kick-off moved",
    dateMoved: "Date moved",
    venueChanged: "Venue changed",
    homeTeamChanged: "Home team changed",
    awayTeamChanged: "Away team changed",
    competitionChanged: "Competition changed",
    refereesChanged: "Referee team changed",
    newAssignment: "New assignment",
    removed: "Removed from your assignment list",
    several: (count) => `FOGIS: ${count} matches changed`,
    at: (date, time) => `${date}, ${time} (Swedish time)`,
    matchNumber: "match",
    none: "(none)",
  },
};

const dateFormats = new Map<NotifyLanguage, Intl.DateTimeFormat>();

/** A Stockholm calendar date (`YYYY-MM-DD`) the way people write it: "lör 30 okt. 2027". */
export function formatDate(date: string, language: NotifyLanguage): string {
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  if (!y || !m || !d) return date;
  let format = dateFormats.get(language);
  if (!format) {
    // The date is already Stockholm's: format it as a plain calendar day, in UTC, at noon.
    format = new Intl.DateTimeFormat(WORDS[language].locale, {
      timeZone: "UTC",
      weekday: "short",
      day: "numeric",
      month: "short",
      year: "numeric",
    });
    dateFormats.set(language, format);
  }
  return format.format(Date.UTC(y, m - 1, d, 12));
}

const isCleared = (change: NoticeChange) => change.to === false;

/** The short headline of a notice: its most telling change. */
export function noticeHeadline(notice: MatchNotice, language: NotifyLanguage): string {
  const first = notice.changes[0] as NoticeChange;
  const words = WORDS[language];
  return (isCleared(first) && words.cleared[first.category]) || words.headline[first.category];
}

/** The title of a whole message: one match names it, several are counted. */
export function messageTitle(notices: readonly MatchNotice[], language: NotifyLanguage): string {
  if (notices.length === 1) {
    const notice = notices[0] as MatchNotice;
    return `${noticeHeadline(notice, language)}: ${teams(notice)}`;
  }
  return WORDS[language].several(notices.length);
}

export const teams = (notice: MatchNotice) => `${notice.homeTeam} - ${notice.awayTeam}`;

/** One line per change: "Avspark flyttad 17:00 -> 18:30". */
export function changeLine(change: NoticeChange, language: NotifyLanguage): string {
  const words = WORDS[language];
  const shown = (value: NoticeChange["from"]) =>
    value === null || value === "" ? words.none : String(value);
  const moved = (label: string, from = change.from, to = change.to) =>
    `${label} ${shown(from)} -> ${shown(to)}`;
  switch (change.category) {
    case "time_change":
      return moved(words.kickoffMoved);
    case "date_change":
      return moved(
        words.dateMoved,
        typeof change.from === "string" ? formatDate(change.from, language) : change.from,
        typeof change.to === "string" ? formatDate(change.to, language) : change.to,
      );
    case "venue_change":
      return moved(`${words.venueChanged}:`);
    case "team_change":
      return moved(
        `${(change.field ?? "").startsWith("lag2") ? words.awayTeamChanged : words.homeTeamChanged}:`,
      );
    case "competition_change":
      return moved(`${words.competitionChanged}:`);
    case "referee_change": {
      const parts = [
        ...(change.added ?? []).map((r) => `+${r}`),
        ...(change.removed ?? []).map((r) => `-${r}`),
      ];
      return parts.length ? `${words.refereesChanged}: ${parts.join(", ")}` : words.refereesChanged;
    }
    case "new_assignment":
      return words.newAssignment;
    case "removed":
      return words.removed;
    default:
      // cancellation, postponement, interruption: set or cleared.
      return (isCleared(change) && words.cleared[change.category]) || words.headline[change.category];
  }
}

/** "lör 30 okt. 2027 kl. 18:30" (the new local kick-off), or the date alone. */
export function whenText(notice: MatchNotice, language: NotifyLanguage): string | null {
  if (!notice.date) return null;
  const date = formatDate(notice.date, language);
  return notice.time ? WORDS[language].at(date, notice.time) : date;
}

/** Competition and match number: "Division 2 · match 000012345". */
export function detailText(notice: MatchNotice, language: NotifyLanguage): string | null {
  const parts = [
    notice.competition,
    notice.matchNr ? `${WORDS[language].matchNumber} ${notice.matchNr}` : null,
  ];
  const shown = parts.filter(Boolean);
  return shown.length ? shown.join(" · ") : null;
}

/** A notice as plain text lines: teams, the changes, when and where, the link. */
export function noticeLines(notice: MatchNotice, language: NotifyLanguage): string[] {
  const whenWhere = [whenText(notice, language), notice.venue].filter(Boolean).join(" · ");
  return [
    teams(notice),
    ...notice.changes.map((change) => changeLine(change, language)),
    ...(whenWhere ? [whenWhere] : []),
    ...[detailText(notice, language)].filter((line): line is string => line !== null),
    notice.url,
  ];
}

/** The whole message as plain text (e-mail text part, chat fallback). */
export function plainText(notices: readonly MatchNotice[], language: NotifyLanguage): string {
  return notices.map((notice) => noticeLines(notice, language).join("\n")).join("\n\n");
}

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};
export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);

/** The small HTML part of the e-mail: a heading per match, its changes, when and where. */
export function htmlMessage(notices: readonly MatchNotice[], language: NotifyLanguage): string {
  const sections = notices.map((notice) => {
    const whenWhere = [whenText(notice, language), notice.venue].filter(Boolean).join(" · ");
    const detail = detailText(notice, language);
    return [
      `<h2 style="font-size:1.1em;margin:1em 0 .3em"><a href="${escapeHtml(notice.url)}">${escapeHtml(teams(notice))}</a></h2>`,
      `<ul style="margin:.2em 0">${notice.changes.map((c) => `<li><strong>${escapeHtml(changeLine(c, language))}</strong></li>`).join("")}</ul>`,
      whenWhere ? `<p style="margin:.2em 0">${escapeHtml(whenWhere)}</p>` : "",
      detail ? `<p style="margin:.2em 0;color:#666">${escapeHtml(detail)}</p>` : "",
    ].join("");
  });
  return `<!doctype html><html lang="${language}"><body style="font-family:sans-serif">${sections.join("")}</body></html>`;
}
