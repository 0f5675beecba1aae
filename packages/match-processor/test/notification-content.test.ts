import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Match } from "@fogis/message-schema";
import { fogisMatch, type MatchInput } from "@fogis/testing";
import { afterEach, describe, expect, it } from "vitest";
import { detectChanges } from "../src/change-detector.js";
import {
  DISCORD_LIMITS,
  discordMessages,
  jsonNotification,
  slackMessages,
} from "../src/notifications/chat-bodies.js";
import { detectWebhookFormat } from "../src/notifications/config.js";
import { buildNotices, type MatchNotice, notificationView } from "../src/notifications/notices.js";
import { SecretRedactor, urlSecrets } from "../src/notifications/redact.js";
import {
  encodeHeaderValue,
  NtfyTarget,
  parseRetryAfter,
  WebhookTarget,
} from "../src/notifications/targets.js";
import { changeLine, htmlMessage, messageTitle, plainText } from "../src/notifications/wording.js";
import { DiscordExecuteWebhookBody, SlackIncomingWebhookBody } from "./chat-schemas.js";
import { decodeEncodedWords } from "./notification-receivers.js";

/** A date well before the matches below: nothing is "today", nothing is played. */
const NOW = new Date("2027-09-01T10:00:00Z");

/** A match known only by its kick-off instant (`tid`): the local time must come from the zone rules. */
function tidOnly(input: MatchInput): Match {
  const match = fogisMatch(input);
  delete match.speldatum;
  delete match.avsparkstid;
  return match;
}

function notices(
  before: Match[],
  after: Match[],
  minPriority: "critical" | "high" | "medium" | "low" = "high",
) {
  const previous = before.map(notificationView);
  const current = after.map(notificationView);
  const { changes } = detectChanges(previous, current, { now: NOW });
  return buildNotices(previous, current, changes, minPriority);
}

describe("what a notice says", () => {
  it("a kick-off moved across the end of summer time shows the new Stockholm time, not UTC or the old offset", () => {
    // Sat 30 Oct 2027 17:00 CEST (15:00Z) -> Sat 6 Nov 2027 18:30 CET (17:30Z); summer time ends Sun 31 Oct.
    const before = tidOnly({
      matchid: 6_143_017,
      date: "2027-10-30",
      time: "17:00",
      home: "Örgryte IS",
      away: "BK Häcken",
      venue: "Valhalla IP",
    });
    const after = tidOnly({
      matchid: 6_143_017,
      date: "2027-11-06",
      time: "18:30",
      home: "Örgryte IS",
      away: "BK Häcken",
      venue: "Valhalla IP",
    });
    // What FOGIS would send: the instants in UTC.
    expect(before.tid).toBe(`/Date(${Date.parse("2027-10-30T15:00:00Z")})/`);
    expect(after.tid).toBe(`/Date(${Date.parse("2027-11-06T17:30:00Z")})/`);

    const [notice, ...others] = notices([before], [after]);
    expect(others).toEqual([]);
    expect(notice).toMatchObject({
      matchId: 6_143_017,
      homeTeam: "Örgryte IS",
      awayTeam: "BK Häcken",
      date: "2027-11-06",
      time: "18:30",
      kickoffUtc: "2027-11-06T17:30:00.000Z",
      venue: "Valhalla IP",
      priority: "high",
      url: "https://www.svenskfotboll.se/matchfakta/6143017/",
    });
    const text = plainText([notice as MatchNotice], "sv");
    expect(text).toContain("Avspark flyttad 17:00 -> 18:30");
    expect(text).toContain("Datum flyttat lör 30 okt. 2027 -> lör 6 nov. 2027");
    expect(text).toContain("lör 6 nov. 2027 kl. 18:30 · Valhalla IP");
    expect(text).toContain("https://www.svenskfotboll.se/matchfakta/6143017/");
    expect(messageTitle([notice as MatchNotice], "sv")).toBe("Nytt datum: Örgryte IS - BK Häcken");

    const english = plainText([notice as MatchNotice], "en");
    expect(english).toContain("Kick-off moved 17:00 -> 18:30");
    expect(english).toContain("Sat, 6 Nov 2027, 18:30 (Swedish time)");
  });

  it("the spring change too: a match moved into summer time keeps its printed kick-off", () => {
    // Sat 20 Mar 2027 15:00 CET (14:00Z) -> Sat 3 Apr 2027 15:00 CEST (13:00Z): only the date moved.
    const before = tidOnly({ matchid: 501, date: "2027-03-20", time: "15:00" });
    const after = tidOnly({ matchid: 501, date: "2027-04-03", time: "15:00" });
    const [notice] = notices([before], [after]);
    expect(notice?.changes.map((c) => c.category)).toEqual(["date_change"]);
    expect(notice).toMatchObject({
      date: "2027-04-03",
      time: "15:00",
      kickoffUtc: "2027-04-03T13:00:00.000Z",
    });
  });

  it("a match without a kick-off time (FOGIS: no avsparkstid, tid at midnight) gives its date, never 00:00", () => {
    const midnight = `/Date(${Date.parse("2027-10-15T22:00:00Z")})/`; // 16 Oct 2027 00:00 in Stockholm
    const unset = fogisMatch({
      matchid: 502,
      date: "2027-10-16",
      extra: { avsparkstid: null, tid: midnight },
    });
    const [assigned] = notices([], [unset]);
    expect(assigned).toMatchObject({ date: "2027-10-16", time: null });
    expect(plainText([assigned as MatchNotice], "sv")).not.toContain("00:00");

    const set = fogisMatch({ matchid: 502, date: "2027-10-16", time: "18:30" });
    const [timed] = notices([unset], [set]);
    expect(timed?.time).toBe("18:30");
    const line = timed?.changes.find((change) => change.category === "time_change");
    expect(line && changeLine(line, "sv")).toBe("Avspark flyttad (ingen) -> 18:30");
  });

  it("tells what matters by default (high): not a new venue alone, but a new venue with a new time", () => {
    const base = fogisMatch({ matchid: 11, date: "2027-10-02", time: "13:00", venue: "Heden" });
    const venueOnly = fogisMatch({
      matchid: 11,
      date: "2027-10-02",
      time: "13:00",
      venue: "Slottsskogsvallen",
      venueId: 99,
    });
    expect(notices([base], [venueOnly])).toEqual([]);
    expect(notices([base], [venueOnly], "medium")).toHaveLength(1);

    const both = fogisMatch({
      matchid: 11,
      date: "2027-10-02",
      time: "14:30",
      venue: "Slottsskogsvallen",
      venueId: 99,
    });
    const [notice] = notices([base], [both]);
    expect(notice?.changes.map((c) => changeLine(c, "sv"))).toEqual([
      "Avspark flyttad 13:00 -> 14:30",
      "Arena ändrad: Heden -> Slottsskogsvallen",
    ]);
  });

  it("a cancellation is critical; a reinstatement says so", () => {
    const on = fogisMatch({ matchid: 12, date: "2027-10-09" });
    const off = fogisMatch({ matchid: 12, date: "2027-10-09", cancelled: true });
    const [cancelled] = notices([on], [off]);
    expect(cancelled).toMatchObject({ priority: "critical", cancelled: true });
    expect(messageTitle([cancelled as MatchNotice], "sv")).toBe("Inställd match: Hemmalag 12 - Bortalag 12");
    expect(changeLine(cancelled?.changes[0] as MatchNotice["changes"][number], "en")).toBe("Match cancelled");
    const [reinstated] = notices([off], [on]);
    expect(changeLine(reinstated?.changes[0] as MatchNotice["changes"][number], "sv")).toBe(
      "Matchen är inte längre inställd",
    );
  });

  it("a new assignment and a changed crew name the referees; a removal is low priority unless widened", () => {
    const first = fogisMatch({ matchid: 13, date: "2027-10-16" });
    const [assigned] = notices([], [first]);
    expect(messageTitle([assigned as MatchNotice], "sv")).toBe("Nytt uppdrag: Hemmalag 13 - Bortalag 13");

    const crew = fogisMatch({
      matchid: 13,
      date: "2027-10-16",
      referees: [
        { domareid: 6600, role: "Dom", name: "Anna Andersson" },
        { domareid: 777, role: "AD1", name: "Dennis Dahl" },
        { domareid: 32_062, role: "AD2", name: "Cecilia Ek" },
      ],
    });
    const [changed] = notices([first], [crew]);
    expect(changeLine(changed?.changes[0] as MatchNotice["changes"][number], "sv")).toBe(
      "Domarteamet ändrat: +Dennis Dahl (AD1), -Bertil Berg (AD1)",
    );

    expect(notices([first], [])).toEqual([]);
    const [removed] = notices([first], [], "low");
    expect(changeLine(removed?.changes[0] as MatchNotice["changes"][number], "sv")).toBe(
      "Borttagen från din uppdragslista",
    );
  });

  it("anything on match day is critical, also a new venue", () => {
    const today = "2027-09-01";
    const before = fogisMatch({ matchid: 14, date: today, time: "19:00", venue: "Heden" });
    const after = fogisMatch({ matchid: 14, date: today, time: "19:00", venue: "Ullevi", venueId: 5 });
    expect(notices([before], [after])[0]?.priority).toBe("critical");
  });

  it("keeps only what it compares and shows of a match: no phone numbers, no team contacts", () => {
    const view = notificationView(fogisMatch({ matchid: 15 }));
    expect(Object.keys(view)).not.toContain("kontaktpersoner");
    expect(view.domaruppdraglista?.[0]).toEqual({
      domareid: 6600,
      domarrollid: 1,
      domarrollnamn: "Huvuddomare",
      domarrollkortnamn: "Dom",
      personnamn: "Anna Andersson",
    });
  });

  it("the HTML part escapes names", () => {
    const match = fogisMatch({ matchid: 16, home: "<script>x</script>", away: "A & B" });
    const html = htmlMessage(notices([], [match]), "sv");
    expect(html).toContain("&lt;script&gt;x&lt;/script&gt; - A &amp; B");
    expect(html).not.toContain("<script>");
  });
});

/** Many long-named matches: the bodies must stay within the documented limits and lose no match. */
function crowd(count: number): MatchNotice[] {
  const long = "Föreningen med det mycket långa namnet ".repeat(8);
  return notices(
    [],
    Array.from({ length: count }, (_, i) =>
      fogisMatch({
        matchid: 1000 + i,
        date: "2027-10-23",
        home: `${long}${i}`,
        away: `<!channel> & *bort* ${i}`,
        venue: long,
      }),
    ),
  );
}

describe("Discord and Slack bodies follow what those services document", () => {
  it("Discord: content and embeds within the limits, split over messages of up to 10 embeds", () => {
    const one = discordMessages(notices([], [fogisMatch({ matchid: 20, date: "2027-10-23" })]), "sv", NOW);
    expect(one).toHaveLength(1);
    expect(DiscordExecuteWebhookBody.parse(one[0])).toBeTruthy();
    expect(one[0]?.embeds[0]).toMatchObject({
      title: "Nytt uppdrag: Hemmalag 20 - Bortalag 20",
      url: "https://www.svenskfotboll.se/matchfakta/20/",
    });
    expect(one[0]?.allowed_mentions).toEqual({ parse: [] });

    const many = crowd(25);
    const messages = discordMessages(many, "en", NOW);
    expect(messages.length).toBeGreaterThanOrEqual(3);
    for (const message of messages) {
      const checked = DiscordExecuteWebhookBody.safeParse(message);
      expect(checked.success, JSON.stringify(checked.error?.issues)).toBe(true);
      expect(message.embeds.length).toBeLessThanOrEqual(DISCORD_LIMITS.embeds);
    }
    expect(messages.flatMap((m) => m.embeds.map((e) => e.url))).toEqual(many.map((n) => n.url));
    expect(messages[0]?.content).toBe(`**FOGIS: 25 matches changed (1/${messages.length})**`);
  });

  it("Discord: an oversized text is cut at its limit, never rejected", () => {
    const [notice] = crowd(1);
    const huge = { ...(notice as MatchNotice), homeTeam: "X".repeat(5000), venue: "V".repeat(3000) };
    const [message] = discordMessages([huge], "sv", NOW);
    expect(DiscordExecuteWebhookBody.safeParse(message).success).toBe(true);
    expect(message?.embeds[0]?.title.length).toBe(256);
    expect(message?.content.length).toBeLessThanOrEqual(2000);
  });

  it("Slack: text plus blocks within the limits, at most 50 blocks a message, markup escaped", () => {
    const one = slackMessages(notices([], [fogisMatch({ matchid: 21, date: "2027-10-23" })]), "sv");
    expect(SlackIncomingWebhookBody.parse(one[0])).toBeTruthy();
    expect(one[0]?.blocks[0]).toEqual({
      type: "header",
      text: { type: "plain_text", text: "Nytt uppdrag: Hemmalag 21 - Bortalag 21", emoji: true },
    });

    const many = crowd(25);
    const messages = slackMessages(many, "sv");
    expect(messages.length).toBe(3);
    for (const message of messages) {
      const checked = SlackIncomingWebhookBody.safeParse(message);
      expect(checked.success, JSON.stringify(checked.error?.issues)).toBe(true);
    }
    const all = JSON.stringify(messages);
    for (const notice of many) expect(all).toContain(`<${notice.url}|`);
    // `<!channel>` in a team name would notify a whole channel.
    expect(all).not.toContain("<!channel>");
    expect(all).toContain("&lt;!channel&gt; &amp; *bort*");
  });

  it("the generic JSON names each match, its local kick-off and each change with its text", () => {
    const before = fogisMatch({ matchid: 22, date: "2027-10-23", time: "17:00" });
    const after = fogisMatch({ matchid: 22, date: "2027-10-23", time: "18:30" });
    const body = jsonNotification(
      { id: "b-1", createdAt: NOW.toISOString(), notices: notices([before], [after]) },
      "sv",
    );
    expect(body).toMatchObject({
      id: "b-1",
      type: "match_changes",
      version: 1,
      language: "sv",
      title: "Ny avsparkstid: Hemmalag 22 - Bortalag 22",
      matches: [
        {
          match_id: 22,
          date: "2027-10-23",
          time: "18:30",
          time_zone: "Europe/Stockholm",
          url: "https://www.svenskfotboll.se/matchfakta/22/",
          changes: [
            { category: "time_change", from: "17:00", to: "18:30", text: "Avspark flyttad 17:00 -> 18:30" },
          ],
        },
      ],
    });
  });

  it("recognises Discord and Slack webhook URLs, and sends anything else the generic JSON", () => {
    expect(detectWebhookFormat("https://discord.com/api/webhooks/123456789012345678/abc-DEF_ghi")).toBe(
      "discord",
    );
    expect(detectWebhookFormat("https://discordapp.com/api/v10/webhooks/1/tok")).toBe("discord");
    expect(detectWebhookFormat("https://hooks.slack.com/services/T000/B000/XXXX")).toBe("slack");
    expect(detectWebhookFormat("https://discord.com/channels/1/2")).toBe("json");
    expect(detectWebhookFormat("https://example.org/hooks/discord.com")).toBe("json");
  });
});

describe("ntfy, Retry-After and secrets", () => {
  it("ntfy pushes carry title, priority, tags and the click URL; long batches are split under 4 KB", () => {
    const target = new NtfyTarget("http://127.0.0.1:1/topic", null, "sv");
    const cancelled = notices(
      [fogisMatch({ matchid: 30, date: "2027-10-23", home: "Örgryte" })],
      [fogisMatch({ matchid: 30, date: "2027-10-23", home: "Örgryte", cancelled: true })],
    );
    const [push] = target.render({ id: "x", createdAt: NOW.toISOString(), notices: cancelled });
    expect(push).toMatchObject({
      title: "Inställd match: Örgryte - Bortalag 30",
      priority: "5",
      tags: "soccer,x",
      click: "https://www.svenskfotboll.se/matchfakta/30/",
    });
    expect(decodeEncodedWords(encodeHeaderValue(push?.title ?? ""))).toBe(
      "Inställd match: Örgryte - Bortalag 30",
    );
    expect(encodeHeaderValue("plain ascii")).toBe("plain ascii");

    const parts = target.render({ id: "y", createdAt: NOW.toISOString(), notices: crowd(30) });
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) expect(Buffer.byteLength(part.body)).toBeLessThanOrEqual(4096);
    expect(parts.map((p) => p.title)).toContain(`FOGIS: 30 matcher ändrade (2/${parts.length})`);
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    expect(parseRetryAfter("7", NOW)).toBe(7000);
    expect(parseRetryAfter(new Date(NOW.getTime() + 90_000).toUTCString(), NOW)).toBe(90_000);
    expect(parseRetryAfter("soon", NOW)).toBeNull();
    expect(parseRetryAfter(null, NOW)).toBeNull();
  });

  it("redacts webhook tokens, ntfy topics and SMTP passwords, also percent-encoded", () => {
    const redactor = new SecretRedactor([
      ...urlSecrets("https://discord.com/api/webhooks/123/SeCrEtToKeN-xyz"),
      ...urlSecrets("https://ntfy.sh/fogis-topic-7d3f"),
      ...urlSecrets("smtp://ref%40example.org:p%C3%A5ss-w0rd@smtp.example.org:587"),
      "tk_ntfytoken123",
    ]);
    const text = redactor.redact(
      "POST https://discord.com/api/webhooks/123/SeCrEtToKeN-xyz failed; topic fogis-topic-7d3f; pass påss-w0rd / p%C3%A5ss-w0rd; Bearer tk_ntfytoken123",
    );
    for (const secret of ["SeCrEtToKeN", "fogis-topic-7d3f", "påss-w0rd", "p%C3%A5ss", "tk_ntfytoken123"]) {
      expect(text).not.toContain(secret);
    }
  });
});

describe("a receiver's answer", () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  /** A local receiver answering `status` with a body that never ends (up to 256 MiB). */
  async function endlessReceiver(status: number) {
    const seen = { sent: 0, closed: false };
    const server = createServer((req, res: ServerResponse) => {
      req.resume();
      res.writeHead(status, { "content-type": "text/plain" });
      res.on("close", () => {
        seen.closed = true;
      });
      const chunk = Buffer.alloc(64 * 1024, "x");
      const more = () => {
        while (!res.destroyed && seen.sent < 256 * 1024 * 1024) {
          seen.sent += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", more);
        }
      };
      more();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, seen };
  }

  it.each([
    [200, undefined],
    // A refusal over 64 KiB is told by its status alone.
    [503, /^HTTP 503$/],
  ])(
    "answered %i with an endless body: the answer is read no further than needed, the outcome is the status's",
    async (status, refusal) => {
      const { url, seen } = await endlessReceiver(status);
      const target = new WebhookTarget(url, "json", "sv", { timeoutMs: 60_000 });
      const sent = target.deliver({ id: "n-1" }, new AbortController().signal);
      if (refusal) await expect(sent).rejects.toThrow(refusal);
      else await expect(sent).resolves.toBeUndefined();
      await expect.poll(() => seen.closed).toBe(true);
      // Socket buffers aside, nowhere near the 256 MiB on offer (or the 60 s timeout).
      expect(seen.sent).toBeLessThan(32 * 1024 * 1024);
    },
  );
});
