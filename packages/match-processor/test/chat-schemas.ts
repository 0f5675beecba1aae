import { z } from "zod";

/**
 * The request bodies Discord and Slack document, written from their documentation (not from our
 * builders), so a test can tell whether the bodies we send would be accepted.
 *
 * Discord, "Execute Webhook" (developers/resources/webhook) and the embed object and its limits
 * (developers/resources/message): content up to 2000 characters; up to 10 embeds; at least one of
 * content, embeds, file or poll; title 256, description 4096, up to 25 fields, field name 256 and
 * value 1024, footer text 2048, author name 256; at most 6000 characters over the title,
 * description, field names and values, footer text and author name of all embeds; a webhook
 * embed cannot set type (other than rich), provider or video.
 */

const discordText = (max: number) => z.string().max(max);

const DiscordEmbedField = z.strictObject({
  name: z.string().min(1).max(256),
  value: z.string().min(1).max(1024),
  inline: z.boolean().optional(),
});

const DiscordMedia = z.strictObject({ url: z.string() });

const DiscordEmbed = z.strictObject({
  title: discordText(256).optional(),
  type: z.literal("rich").optional(),
  description: discordText(4096).optional(),
  url: z.url().optional(),
  timestamp: z.iso.datetime({ offset: true }).optional(),
  color: z.number().int().min(0).max(0xffffff).optional(),
  footer: z.strictObject({ text: discordText(2048), icon_url: z.string().optional() }).optional(),
  image: DiscordMedia.optional(),
  thumbnail: DiscordMedia.optional(),
  author: z
    .strictObject({ name: discordText(256), url: z.string().optional(), icon_url: z.string().optional() })
    .optional(),
  fields: z.array(DiscordEmbedField).max(25).optional(),
});

function embedCharacters(embed: z.infer<typeof DiscordEmbed>): number {
  const trimmed = (text: string | undefined) => (text ?? "").trim().length;
  return (
    trimmed(embed.title) +
    trimmed(embed.description) +
    trimmed(embed.footer?.text) +
    trimmed(embed.author?.name) +
    (embed.fields ?? []).reduce((sum, field) => sum + trimmed(field.name) + trimmed(field.value), 0)
  );
}

export const DiscordExecuteWebhookBody = z
  .strictObject({
    content: z.string().max(2000).optional(),
    username: z.string().min(1).max(80).optional(),
    avatar_url: z.string().optional(),
    tts: z.boolean().optional(),
    embeds: z.array(DiscordEmbed).max(10).optional(),
    allowed_mentions: z
      .strictObject({
        parse: z.array(z.enum(["roles", "users", "everyone"])).optional(),
        roles: z.array(z.string()).max(100).optional(),
        users: z.array(z.string()).max(100).optional(),
        replied_user: z.boolean().optional(),
      })
      .optional(),
    flags: z.number().int().optional(),
    thread_name: z.string().optional(),
  })
  .refine((body) => Boolean(body.content?.trim()) || (body.embeds?.length ?? 0) > 0, {
    message: "one of content, embeds, file or poll is required",
  })
  .refine((body) => (body.embeds ?? []).reduce((sum, embed) => sum + embedCharacters(embed), 0) <= 6000, {
    message: "the embeds of a message hold more than 6000 characters",
  });

/**
 * Slack, incoming webhooks (messaging/sending-messages-using-incoming-webhooks) and Block Kit
 * (reference/block-kit/blocks, composition objects): the body is a message payload with `text`
 * (the notification fallback when `blocks` are given) and up to 50 `blocks`. Header: plain_text up
 * to 150 characters. Section: `text` up to 3000 characters and/or up to 10 `fields` of up to 2000
 * each. Context: 1 to 10 elements. block_id up to 255. A text object is plain_text or mrkdwn.
 */

const SlackPlainText = z.strictObject({
  type: z.literal("plain_text"),
  text: z.string().min(1),
  emoji: z.boolean().optional(),
});
const SlackMrkdwn = z.strictObject({
  type: z.literal("mrkdwn"),
  text: z.string().min(1),
  verbatim: z.boolean().optional(),
});
const SlackTextObject = z.union([SlackPlainText, SlackMrkdwn]);
const blockId = z.string().max(255).optional();
const maxText = (max: number) =>
  SlackTextObject.refine((t) => t.text.length <= max, `text over ${max} characters`);

const SlackBlock = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("header"),
    text: SlackPlainText.refine((t) => t.text.length <= 150, "header text over 150 characters"),
    block_id: blockId,
  }),
  z
    .strictObject({
      type: z.literal("section"),
      text: maxText(3000).optional(),
      fields: z.array(maxText(2000)).min(1).max(10).optional(),
      block_id: blockId,
    })
    .refine(
      (block) => block.text !== undefined || block.fields !== undefined,
      "a section needs text or fields",
    ),
  z.strictObject({
    type: z.literal("context"),
    elements: z.array(SlackTextObject).min(1).max(10),
    block_id: blockId,
  }),
  z.strictObject({ type: z.literal("divider"), block_id: blockId }),
]);

export const SlackIncomingWebhookBody = z.strictObject({
  text: z.string().min(1),
  blocks: z.array(SlackBlock).max(50).optional(),
  mrkdwn: z.boolean().optional(),
  unfurl_links: z.boolean().optional(),
  unfurl_media: z.boolean().optional(),
  thread_ts: z.string().optional(),
});
