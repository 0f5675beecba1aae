import type { ChangePriority } from "@fogis/message-schema";
import type { NotifyLanguage } from "./config.js";
import type { MatchNotice } from "./notices.js";
import {
  changeLine,
  detailText,
  formatDate,
  messageTitle,
  noticeHeadline,
  plainText,
  teams,
  whenText,
} from "./wording.js";

/**
 * The JSON bodies of the webhook target: Discord's execute-webhook body (content + embeds),
 * Slack's incoming-webhook body (text + blocks), and our own documented JSON for anything else.
 * Discord and Slack reject a body over their documented limits with a 400, so every text is cut
 * to its limit and a long batch is split into several messages.
 */

/** Clips to `max` UTF-16 units (never inside a surrogate pair), marking the cut with "…". */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, max - 1);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** Splits items into consecutive groups of at most `size` items whose weight stays within `budget`. */
function pack<T>(items: readonly T[], size: number, budget: number, weight: (item: T) => number): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  let used = 0;
  for (const item of items) {
    const w = weight(item);
    if (group.length > 0 && (group.length >= size || used + w > budget)) {
      groups.push(group);
      group = [];
      used = 0;
    }
    group.push(item);
    used += w;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

const partSuffix = (index: number, count: number) => (count > 1 ? ` (${index + 1}/${count})` : "");

// --- Discord: POST /webhooks/{id}/{token} (developers/resources/webhook#execute-webhook) ---

export const DISCORD_LIMITS = {
  content: 2000,
  embeds: 10,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  /** title + description + field names and values + footer text, over all embeds of a message. */
  embedTotal: 6000,
} as const;

export interface DiscordEmbed {
  title: string;
  url: string;
  description: string;
  color: number;
  fields: Array<{ name: string; value: string; inline: boolean }>;
  footer: { text: string };
  timestamp: string;
}

export interface DiscordMessage {
  content: string;
  embeds: DiscordEmbed[];
  /** Nothing in a team or referee name may ping anyone. */
  allowed_mentions: { parse: [] };
}

const PRIORITY_COLORS: Record<ChangePriority, number> = {
  critical: 0xd32f2f,
  high: 0xf57c00,
  medium: 0x1976d2,
  low: 0x757575,
};

/** Discord markdown would turn `_` and `*` in a name into formatting. */
const discordEscape = (text: string) => text.replace(/([\\*_~`|>])/g, "\\$1");

const FIELD_NAMES: Record<NotifyLanguage, { when: string; venue: string; competition: string }> = {
  sv: { when: "Avspark", venue: "Arena", competition: "Tävling" },
  en: { when: "Kick-off", venue: "Venue", competition: "Competition" },
};

function discordEmbed(notice: MatchNotice, language: NotifyLanguage, sentAt: Date): DiscordEmbed {
  const names = FIELD_NAMES[language];
  const fields = [
    { name: names.when, value: whenText(notice, language) },
    { name: names.venue, value: notice.venue },
    { name: names.competition, value: notice.competition },
  ]
    .filter((field): field is { name: string; value: string } => Boolean(field.value?.trim()))
    .map((field) => ({
      name: field.name,
      value: clip(discordEscape(field.value), DISCORD_LIMITS.fieldValue),
      inline: true,
    }));
  return {
    title: clip(`${noticeHeadline(notice, language)}: ${teams(notice)}`, DISCORD_LIMITS.title),
    url: notice.url,
    description: clip(
      notice.changes.map((change) => `• ${discordEscape(changeLine(change, language))}`).join("\n"),
      DISCORD_LIMITS.description,
    ),
    color: PRIORITY_COLORS[notice.priority],
    fields,
    footer: {
      text: clip(`FOGIS Realtime${notice.matchNr ? ` · ${notice.matchNr}` : ""}`, DISCORD_LIMITS.footer),
    },
    timestamp: sentAt.toISOString(),
  };
}

export function discordEmbedLength(embed: DiscordEmbed): number {
  return (
    embed.title.length +
    embed.description.length +
    embed.footer.text.length +
    embed.fields.reduce((sum, field) => sum + field.name.length + field.value.length, 0)
  );
}

export function discordMessages(
  notices: readonly MatchNotice[],
  language: NotifyLanguage,
  sentAt: Date,
): DiscordMessage[] {
  const embeds = notices.map((notice) => discordEmbed(notice, language, sentAt));
  const groups = pack(embeds, DISCORD_LIMITS.embeds, DISCORD_LIMITS.embedTotal, discordEmbedLength);
  const title = discordEscape(messageTitle(notices, language));
  return groups.map((group, index) => ({
    content: clip(`**${title}${partSuffix(index, groups.length)}**`, DISCORD_LIMITS.content),
    embeds: group,
    allowed_mentions: { parse: [] },
  }));
}

// --- Slack: incoming webhooks, Block Kit (text is the notification fallback) ---

export const SLACK_LIMITS = {
  blocks: 50,
  headerText: 150,
  sectionText: 3000,
  fields: 10,
  fieldText: 2000,
  contextElements: 10,
  /** Slack advises keeping the top-level text under 4,000 characters. */
  text: 4000,
} as const;

export type SlackBlock =
  | { type: "header"; text: { type: "plain_text"; text: string; emoji: boolean } }
  | {
      type: "section";
      text: { type: "mrkdwn"; text: string };
      fields?: Array<{ type: "mrkdwn"; text: string }>;
    }
  | { type: "context"; elements: Array<{ type: "mrkdwn"; text: string }> }
  | { type: "divider" };

export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

/** Slack reads `&`, `<` and `>` as markup (`<!channel>` would notify everyone). */
const slackEscape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Header, then per match a section, a context line and a divider: 10 matches stay within 50 blocks. */
const SLACK_NOTICES_PER_MESSAGE = 10;

function slackBlocks(notice: MatchNotice, language: NotifyLanguage): SlackBlock[] {
  const names = FIELD_NAMES[language];
  const lines = [
    `*<${notice.url}|${slackEscape(teams(notice))}>*`,
    ...notice.changes.map((change) => `• ${slackEscape(changeLine(change, language))}`),
  ];
  const fields = [
    [names.when, whenText(notice, language)],
    [names.venue, notice.venue],
  ]
    .filter((pair): pair is [string, string] => Boolean(pair[1]))
    .map(([name, value]) => ({
      type: "mrkdwn" as const,
      text: clip(`*${name}*\n${slackEscape(value)}`, SLACK_LIMITS.fieldText),
    }));
  const detail = detailText(notice, language);
  return [
    {
      type: "section",
      text: { type: "mrkdwn", text: clip(lines.join("\n"), SLACK_LIMITS.sectionText) },
      ...(fields.length ? { fields } : {}),
    },
    ...(detail
      ? [
          {
            type: "context" as const,
            elements: [
              { type: "mrkdwn" as const, text: clip(slackEscape(detail), SLACK_LIMITS.sectionText) },
            ],
          },
        ]
      : []),
    { type: "divider" },
  ];
}

export function slackMessages(notices: readonly MatchNotice[], language: NotifyLanguage): SlackMessage[] {
  const groups = pack(notices, SLACK_NOTICES_PER_MESSAGE, Number.POSITIVE_INFINITY, () => 1);
  const title = messageTitle(notices, language);
  return groups.map((group, index) => {
    const heading = `${title}${partSuffix(index, groups.length)}`;
    const blocks: SlackBlock[] = [
      {
        type: "header",
        text: { type: "plain_text", text: clip(heading, SLACK_LIMITS.headerText), emoji: true },
      },
      ...group.flatMap((notice) => slackBlocks(notice, language)),
    ];
    return {
      text: clip(slackEscape(`${heading}\n\n${plainText(group, language)}`), SLACK_LIMITS.text),
      blocks,
    };
  });
}

// --- Our own JSON, for any other webhook (documented in the README) ---

export interface JsonNotification {
  /** The same on every retry of this notification: receivers can drop a repeat by it. */
  id: string;
  source: "fogis-realtime";
  type: "match_changes";
  version: 1;
  created_at: string;
  language: NotifyLanguage;
  title: string;
  text: string;
  matches: Array<{
    match_id: number;
    match_nr: string | null;
    home_team: string;
    away_team: string;
    competition: string | null;
    kickoff_utc: string | null;
    date: string | null;
    time: string | null;
    time_zone: "Europe/Stockholm";
    date_text: string | null;
    venue: string | null;
    status: { cancelled: boolean; postponed: boolean; interrupted: boolean };
    priority: ChangePriority;
    headline: string;
    url: string;
    changes: Array<{
      category: string;
      priority: ChangePriority;
      field: string | null;
      from: string | boolean | null;
      to: string | boolean | null;
      added?: string[];
      removed?: string[];
      text: string;
    }>;
  }>;
}

export function jsonNotification(
  batch: { id: string; createdAt: string; notices: readonly MatchNotice[] },
  language: NotifyLanguage,
): JsonNotification {
  return {
    id: batch.id,
    source: "fogis-realtime",
    type: "match_changes",
    version: 1,
    created_at: batch.createdAt,
    language,
    title: messageTitle(batch.notices, language),
    text: plainText(batch.notices, language),
    matches: batch.notices.map((notice) => ({
      match_id: notice.matchId,
      match_nr: notice.matchNr,
      home_team: notice.homeTeam,
      away_team: notice.awayTeam,
      competition: notice.competition,
      kickoff_utc: notice.kickoffUtc,
      date: notice.date,
      time: notice.time,
      time_zone: "Europe/Stockholm",
      date_text: notice.date ? formatDate(notice.date, language) : null,
      venue: notice.venue,
      status: { cancelled: notice.cancelled, postponed: notice.postponed, interrupted: notice.interrupted },
      priority: notice.priority,
      headline: noticeHeadline(notice, language),
      url: notice.url,
      changes: notice.changes.map((change) => ({
        category: change.category,
        priority: change.priority,
        field: change.field,
        from: change.from,
        to: change.to,
        ...(change.added ? { added: change.added } : {}),
        ...(change.removed ? { removed: change.removed } : {}),
        text: changeLine(change, language),
      })),
    })),
  };
}
