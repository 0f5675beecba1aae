import { CHANGE_PRIORITIES, type ChangePriority } from "@fogis/message-schema";
import { envUrl } from "@fogis/runtime";
import { z } from "zod";

/**
 * The NOTIFY_* variables (DESIGN §12). They are part of the processor's one config loader
 * (`loadProcessorConfig` spreads `notificationEnv` into its schema and calls
 * `checkNotificationEnv` from its refinement); this module only says what they mean.
 */

export const NOTIFY_LANGUAGES = ["sv", "en"] as const;
export type NotifyLanguage = (typeof NOTIFY_LANGUAGES)[number];

export const WEBHOOK_FORMATS = ["auto", "discord", "slack", "json"] as const;
export type WebhookFormat = Exclude<(typeof WEBHOOK_FORMATS)[number], "auto">;

export interface NotificationConfig {
  language: NotifyLanguage;
  /** Changes of this priority or higher are told. */
  minPriority: ChangePriority;
  webhook: { url: string; format: WebhookFormat } | null;
  ntfy: { url: string; token: string | null } | null;
  email: { smtpUrl: string; to: string[]; from: string } | null;
}

const EMAIL = z.email();
/** `Name <address>` or a bare address. */
const NAMED_ADDRESS = /^\s*(?:[^<>]*<([^<>\s]+)>|([^<>\s]+))\s*$/;

function isMailbox(value: string): boolean {
  const match = NAMED_ADDRESS.exec(value);
  const address = match?.[1] ?? match?.[2];
  return address !== undefined && EMAIL.safeParse(address).success;
}

function isNtfyTopicUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return ["http:", "https:"].includes(url.protocol) && url.pathname.replace(/\/+$/, "").length > 1;
  } catch {
    return false;
  }
}

export const notificationEnv = {
  NOTIFY_WEBHOOK_URL: envUrl(
    ["http:", "https:"],
    "expected the http(s) URL of a webhook: a Discord or Slack webhook URL, or any endpoint that takes JSON",
  ).optional(),
  NOTIFY_WEBHOOK_FORMAT: z
    .enum(WEBHOOK_FORMATS, {
      message: `expected one of ${WEBHOOK_FORMATS.join(", ")} (default auto: Discord and Slack URLs are recognised)`,
    })
    .default("auto"),
  NOTIFY_NTFY_URL: z
    .string()
    .refine(isNtfyTopicUrl, "expected an ntfy topic URL such as https://ntfy.sh/<your-secret-topic>")
    .optional(),
  NOTIFY_NTFY_TOKEN: z.string().optional(),
  NOTIFY_SMTP_URL: envUrl(
    ["smtp:", "smtps:"],
    "expected smtp://[user:password@]host[:port] (STARTTLS when offered) or smtps://… (TLS, port 465)",
  ).optional(),
  NOTIFY_EMAIL_TO: z
    .string()
    .refine(
      (value) => value.split(",").every((part) => EMAIL.safeParse(part.trim()).success),
      "expected one or more e-mail addresses separated by commas",
    )
    .optional(),
  NOTIFY_EMAIL_FROM: z
    .string()
    .refine(isMailbox, 'expected an e-mail address or "Name <address>"')
    .optional(),
  NOTIFY_LANGUAGE: z
    .enum(NOTIFY_LANGUAGES, { message: "expected sv (Swedish, the default) or en (English)" })
    .default("sv"),
  NOTIFY_MIN_PRIORITY: z
    .enum(CHANGE_PRIORITIES, {
      message: `expected one of ${CHANGE_PRIORITIES.join(", ")} (default high: new assignments, cancellations, time, date and referee changes, anything on match day)`,
    })
    .default("high"),
};

type NotificationEnv = z.output<z.ZodObject<typeof notificationEnv>>;

/** Variables that mean nothing without another: [set, needs, why]. */
const NEEDS: ReadonlyArray<[keyof NotificationEnv, keyof NotificationEnv, string]> = [
  ["NOTIFY_NTFY_TOKEN", "NOTIFY_NTFY_URL", "the token is for that topic"],
  ["NOTIFY_SMTP_URL", "NOTIFY_EMAIL_TO", "who gets the e-mail"],
  ["NOTIFY_EMAIL_TO", "NOTIFY_SMTP_URL", "the server that sends it"],
  ["NOTIFY_EMAIL_FROM", "NOTIFY_SMTP_URL", "the server that sends it"],
];

/** Rules between the variables; called from the processor schema's superRefine. */
export function checkNotificationEnv(env: NotificationEnv, ctx: z.RefinementCtx): void {
  for (const [name, other, why] of NEEDS) {
    if (env[name] && !env[other]) {
      ctx.addIssue({ code: "custom", path: [name], message: `set ${other} too (${why})` });
    }
  }
}

/** The typed notification config of validated variables. */
export function notificationConfigFrom(env: NotificationEnv): NotificationConfig {
  const webhookUrl = env.NOTIFY_WEBHOOK_URL;
  const to = env.NOTIFY_EMAIL_TO?.split(",").map((part) => part.trim()) ?? [];
  return {
    language: env.NOTIFY_LANGUAGE,
    minPriority: env.NOTIFY_MIN_PRIORITY,
    webhook: webhookUrl
      ? {
          url: webhookUrl,
          format:
            env.NOTIFY_WEBHOOK_FORMAT === "auto"
              ? detectWebhookFormat(webhookUrl)
              : env.NOTIFY_WEBHOOK_FORMAT,
        }
      : null,
    ntfy: env.NOTIFY_NTFY_URL ? { url: env.NOTIFY_NTFY_URL, token: env.NOTIFY_NTFY_TOKEN ?? null } : null,
    email:
      env.NOTIFY_SMTP_URL && to.length > 0
        ? {
            smtpUrl: env.NOTIFY_SMTP_URL,
            to,
            from: env.NOTIFY_EMAIL_FROM ?? defaultSender(env.NOTIFY_SMTP_URL, to),
          }
        : null,
  };
}

const DISCORD_HOSTS = /^(?:(?:ptb|canary)\.)?discord(?:app)?\.com$/i;
const DISCORD_PATH = /^\/api(?:\/v\d+)?\/webhooks\/\d+\/[^/]+\/?$/;

/** Discord's and Slack's webhook URLs get their own bodies; anything else the generic JSON. */
export function detectWebhookFormat(url: string): WebhookFormat {
  const parsed = new URL(url);
  if (DISCORD_HOSTS.test(parsed.hostname) && DISCORD_PATH.test(parsed.pathname)) return "discord";
  if (parsed.hostname.toLowerCase() === "hooks.slack.com" && parsed.pathname.startsWith("/services/"))
    return "slack";
  return "json";
}

/** The SMTP login when it is an address (most providers require sending as it), else the first recipient. */
function defaultSender(smtpUrl: string, to: string[]): string {
  const user = decodeURIComponent(new URL(smtpUrl).username);
  const address = EMAIL.safeParse(user).success ? user : (to[0] as string);
  return `FOGIS Realtime <${address}>`;
}

export function hasNotificationTargets(config: NotificationConfig): boolean {
  return Boolean(config.webhook || config.ntfy || config.email);
}
