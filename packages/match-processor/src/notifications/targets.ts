import type { ChangeCategory, ChangePriority } from "@fogis/message-schema";
import { readResponseBody } from "@fogis/runtime";
import type { Transporter } from "nodemailer";
import { clip, discordMessages, jsonNotification, slackMessages } from "./chat-bodies.js";
import type { NotificationConfig, NotifyLanguage, WebhookFormat } from "./config.js";
import { higherPriority, type MatchNotice } from "./notices.js";
import { describeDestination } from "./redact.js";
import { htmlMessage, messageTitle, noticeLines } from "./wording.js";

/**
 * Where notifications go. A target turns one batch (a cycle's notices) into the requests its
 * service takes (`render`, several parts when a service limits the size) and sends one part
 * (`deliver`), throwing `NotificationError` that says whether trying again later can help.
 * Retries, order and bookkeeping are the notifier's; a target only speaks its protocol.
 */

export interface NotificationBatch {
  /** Stable across retries and restarts. */
  id: string;
  createdAt: string;
  notices: MatchNotice[];
}

export type TargetName = "webhook" | "ntfy" | "email";
export type TargetKind = WebhookFormat | "ntfy" | "email";

export interface NotificationTarget {
  readonly name: TargetName;
  readonly kind: TargetKind;
  /** Scheme, host and port only: safe for logs and endpoints. */
  readonly destination: string;
  render(batch: NotificationBatch): unknown[];
  deliver(part: unknown, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export class NotificationError extends Error {
  constructor(
    message: string,
    /** A later attempt may succeed (network, timeout, 429, 5xx, SMTP 4xx). */
    readonly retryable: boolean,
    /** The receiver asked to wait this long (Retry-After). */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = "NotificationError";
  }
}

export interface TargetDeps {
  fetch?: typeof fetch;
  /** Longest wait for one request. Default 10 s. */
  timeoutMs?: number;
  now?: () => Date;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** What is read of a refusal: enough for its message, never a whole endless or huge body. */
const MAX_ERROR_ANSWER_BYTES = 64 * 1024;

/** `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, now: Date): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now.getTime());
}

/** 408, 425, 429 and 5xx may pass later; any other 4xx will not (a wrong URL, token or body). */
const retryableStatus = (status: number) =>
  status === 408 || status === 425 || status === 429 || status >= 500;

async function postOnce(
  deps: Required<TargetDeps>,
  url: string,
  init: { headers: Record<string, string>; body: string },
  signal: AbortSignal,
): Promise<Response> {
  const timeout = AbortSignal.timeout(deps.timeoutMs);
  let response: Response;
  try {
    response = await deps.fetch(url, { method: "POST", ...init, signal: AbortSignal.any([signal, timeout]) });
  } catch (error) {
    if (signal.aborted) throw new NotificationError("stopped before the receiver answered", true);
    if (timeout.aborted) throw new NotificationError(`no answer within ${deps.timeoutMs / 1000} s`, true);
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new NotificationError(
      `cannot reach the receiver: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
      true,
    );
  }
  if (response.ok) {
    // Nothing in an accepting answer is used: stop it instead of reading what a receiver sends.
    await response.body?.cancel().catch(() => undefined);
    return response;
  }
  const text = await readResponseBody(response, MAX_ERROR_ANSWER_BYTES)
    .then((bytes) => new TextDecoder().decode(bytes))
    .catch(() => "");
  const detail = text.replace(/\s+/g, " ").trim();
  throw new NotificationError(
    `HTTP ${response.status}${detail ? `: ${clip(detail, 200)}` : ""}`,
    retryableStatus(response.status),
    parseRetryAfter(response.headers.get("retry-after"), deps.now()),
  );
}

function withDefaults(deps: TargetDeps): Required<TargetDeps> {
  return {
    fetch: deps.fetch ?? fetch,
    timeoutMs: deps.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    now: deps.now ?? (() => new Date()),
  };
}

/** NOTIFY_WEBHOOK_URL: Discord's body, Slack's body, or our JSON. */
export class WebhookTarget implements NotificationTarget {
  readonly name = "webhook" as const;
  readonly destination: string;
  private readonly deps: Required<TargetDeps>;
  private readonly url: string;

  constructor(
    url: string,
    readonly kind: WebhookFormat,
    private readonly language: NotifyLanguage,
    deps: TargetDeps = {},
  ) {
    this.deps = withDefaults(deps);
    this.destination = describeDestination(url);
    // Discord answers 204 before it has stored the message unless asked to wait for it.
    this.url = kind === "discord" ? withQuery(url, "wait", "true") : url;
  }

  render(batch: NotificationBatch): unknown[] {
    if (this.kind === "discord")
      return discordMessages(batch.notices, this.language, new Date(batch.createdAt));
    if (this.kind === "slack") return slackMessages(batch.notices, this.language);
    return [jsonNotification(batch, this.language)];
  }

  async deliver(part: unknown, signal: AbortSignal): Promise<void> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.kind === "json") headers["idempotency-key"] = (part as { id: string }).id;
    await postOnce(this.deps, this.url, { headers, body: JSON.stringify(part) }, signal);
  }

  async close(): Promise<void> {}
}

function withQuery(url: string, key: string, value: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set(key, value);
  return parsed.toString();
}

/** ntfy's 4,096-byte message limit, less room for a cut marker. */
const NTFY_BODY_BYTES = 3900;

/** ntfy priority 1-5 (min, low, default, high, max). */
const NTFY_PRIORITY: Record<ChangePriority, string> = { critical: "5", high: "4", medium: "3", low: "2" };

/** Tags that ntfy shows as emoji before the title. */
const NTFY_TAGS: Record<ChangeCategory, string> = {
  cancellation: "x",
  new_assignment: "new",
  removed: "wastebasket",
  postponement: "hourglass",
  interruption: "warning",
  date_change: "calendar",
  time_change: "alarm_clock",
  venue_change: "stadium",
  referee_change: "busts_in_silhouette",
  team_change: "shirt",
  competition_change: "trophy",
};

/**
 * HTTP headers carry Latin-1 at best; ntfy decodes RFC 2047 encoded words in any header
 * (docs/publish.md), so "Örgryte" arrives intact.
 */
export function encodeHeaderValue(value: string): string {
  return /^[\x20-\x7e]*$/.test(value)
    ? value
    : `=?UTF-8?B?${Buffer.from(value, "utf8").toString("base64")}?=`;
}

interface NtfyPart {
  title: string;
  priority: string;
  tags: string;
  click: string;
  body: string;
}

/** NOTIFY_NTFY_URL: one push per batch (more when the text is long), title, priority, tags and click URL. */
export class NtfyTarget implements NotificationTarget {
  readonly name = "ntfy" as const;
  readonly kind = "ntfy" as const;
  readonly destination: string;
  private readonly deps: Required<TargetDeps>;

  constructor(
    private readonly url: string,
    private readonly token: string | null,
    private readonly language: NotifyLanguage,
    deps: TargetDeps = {},
  ) {
    this.deps = withDefaults(deps);
    this.destination = describeDestination(url);
  }

  render(batch: NotificationBatch): NtfyPart[] {
    const texts = batch.notices.map((notice) => noticeLines(notice, this.language).join("\n"));
    const groups: MatchNotice[][] = [];
    const bodies: string[] = [];
    batch.notices.forEach((notice, i) => {
      const text = clipBytes(texts[i] as string, NTFY_BODY_BYTES);
      const last = bodies.length - 1;
      if (last >= 0 && Buffer.byteLength(`${bodies[last]}\n\n${text}`) <= NTFY_BODY_BYTES) {
        bodies[last] = `${bodies[last]}\n\n${text}`;
        groups[last]?.push(notice);
      } else {
        bodies.push(text);
        groups.push([notice]);
      }
    });
    const title = messageTitle(batch.notices, this.language);
    return groups.map((group, index) => {
      const first = group[0] as MatchNotice;
      const priority = group.map((n) => n.priority).reduce(higherPriority);
      return {
        title: groups.length > 1 ? `${title} (${index + 1}/${groups.length})` : title,
        priority: NTFY_PRIORITY[priority],
        tags: [
          "soccer",
          ...new Set(group.map((n) => NTFY_TAGS[n.changes[0]?.category ?? "new_assignment"])),
        ].join(","),
        click: first.url,
        body: bodies[index] as string,
      };
    });
  }

  async deliver(part: unknown, signal: AbortSignal): Promise<void> {
    const push = part as NtfyPart;
    const headers: Record<string, string> = {
      "content-type": "text/plain; charset=utf-8",
      Title: encodeHeaderValue(push.title),
      Priority: push.priority,
      Tags: push.tags,
      Click: push.click,
    };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    await postOnce(this.deps, this.url, { headers, body: push.body }, signal);
  }

  async close(): Promise<void> {}
}

function clipBytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let cut = text;
  while (Buffer.byteLength(cut) > maxBytes - 3) cut = cut.slice(0, Math.floor(cut.length * 0.9));
  return `${cut}…`;
}

interface EmailPart {
  subject: string;
  text: string;
  html: string;
}

/** SMTP's 4xx replies are "try again later" (RFC 5321 §4.2.1); 5xx are final. */
function smtpError(error: unknown): NotificationError {
  const e = error as { responseCode?: number; code?: string; message?: string };
  const code = e.responseCode;
  if (code !== undefined) {
    return new NotificationError(
      `SMTP ${code}: ${clip((e.message ?? "").replace(/\s+/g, " "), 200)}`,
      code < 500,
    );
  }
  // Connection, TLS or timeout trouble: the server may be back later. A refused login is final.
  const retryable = e.code !== "EAUTH" && e.code !== "EENVELOPE";
  return new NotificationError(
    `SMTP ${e.code ?? "error"}: ${clip((e.message ?? "").replace(/\s+/g, " "), 200)}`,
    retryable,
  );
}

/** NOTIFY_SMTP_URL + NOTIFY_EMAIL_TO: one e-mail per batch, plain text and a small HTML part. */
export class EmailTarget implements NotificationTarget {
  readonly name = "email" as const;
  readonly kind = "email" as const;
  readonly destination: string;
  /** Made on the first e-mail: a processor without e-mail never loads the mail library. */
  private transport: Promise<Transporter> | null = null;
  private readonly timeoutMs: number;

  constructor(
    private readonly smtpUrl: string,
    private readonly to: string[],
    private readonly from: string,
    private readonly language: NotifyLanguage,
    { timeoutMs = DEFAULT_TIMEOUT_MS }: Pick<TargetDeps, "timeoutMs"> = {},
  ) {
    this.destination = describeDestination(smtpUrl);
    this.timeoutMs = timeoutMs;
  }

  render(batch: NotificationBatch): EmailPart[] {
    const text = batch.notices.map((notice) => noticeLines(notice, this.language).join("\n")).join("\n\n");
    return [
      {
        subject: messageTitle(batch.notices, this.language),
        text,
        html: htmlMessage(batch.notices, this.language),
      },
    ];
  }

  async deliver(part: unknown, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new NotificationError("stopped before sending", true);
    const mail = part as EmailPart;
    // One connection per message, bounded waits: a server that is down costs seconds, not minutes.
    this.transport ??= import("nodemailer").then(({ createTransport }) =>
      createTransport({
        url: this.smtpUrl,
        connectionTimeout: this.timeoutMs,
        greetingTimeout: this.timeoutMs,
        socketTimeout: this.timeoutMs,
      }),
    );
    try {
      const transport = await this.transport;
      await transport.sendMail({
        from: this.from,
        to: this.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
      });
    } catch (error) {
      throw smtpError(error);
    }
  }

  async close(): Promise<void> {
    (await this.transport)?.close();
  }
}

/** The configured targets, in a fixed order. */
export function createTargets(config: NotificationConfig, deps: TargetDeps = {}): NotificationTarget[] {
  const targets: NotificationTarget[] = [];
  if (config.webhook)
    targets.push(new WebhookTarget(config.webhook.url, config.webhook.format, config.language, deps));
  if (config.ntfy) targets.push(new NtfyTarget(config.ntfy.url, config.ntfy.token, config.language, deps));
  if (config.email) {
    targets.push(
      new EmailTarget(config.email.smtpUrl, config.email.to, config.email.from, config.language, deps),
    );
  }
  return targets;
}
