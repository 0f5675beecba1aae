import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Match } from "@fogis/message-schema";
import { createLogger, createMetricsRegistry } from "@fogis/runtime";
import { fogisMatch, type MatchInput, type RedisHandle, startRedis } from "@fogis/testing";
import type { Registry } from "prom-client";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/app.js";
import type { NotificationConfig } from "../src/notifications/config.js";
import { createChangeNotifier } from "../src/notifications/index.js";
import { NOTIFICATION_STATE_FILE } from "../src/notifications/ledger.js";
import type { ChangeNotifier } from "../src/notifications/notifier.js";
import {
  cleanupAfterEach,
  ListSource,
  processorRig,
  type Rig,
  Subscriber,
  SyncReceiver,
  subscriberCount,
  TOKEN,
  tempDir,
} from "./helpers.js";
import {
  decodeEncodedWords,
  HttpReceiver,
  type ReceivedMail,
  SmtpReceiver,
} from "./notification-receivers.js";

/**
 * The notifier wired after change detection in a real processor, against real receivers on
 * loopback: an HTTP webhook, an HTTP server in ntfy's place, and aiosmtpd for e-mail. "Nothing
 * more arrived" is proven with a barrier: a later, different change must arrive as the very next
 * message on every target.
 */

/** Before every match below: nothing is "today", nothing is played. The clock runs from there. */
const NOW = new Date("2027-09-01T10:00:00Z");
const clock = () => new Date(NOW.getTime() + performance.now());
const WEBHOOK_SECRET = "hook-SECRET-TOKEN-123";
const NTFY_TOPIC = "fogis-secret-topic-9f2";
const NTFY_TOKEN = "tk_secret_token_4711";
const SMTP_PASSWORD = "smtp-pass-word-0815";

let smtp: SmtpReceiver;
let redis: RedisHandle;
beforeAll(async () => {
  smtp = await new SmtpReceiver().start();
  redis = await startRedis({ owned: true });
});
afterAll(async () => {
  await smtp?.close();
  await redis?.close();
});

const cleanup = cleanupAfterEach();

let mailboxes = 0;

/** A referee's three targets, each a real receiver, and what they got. */
async function targets() {
  const webhook = await new HttpReceiver().start();
  const ntfy = await new HttpReceiver().start();
  cleanup.push(
    () => webhook.stop(),
    () => ntfy.stop(),
  );
  const to = `referee${++mailboxes}-${Date.now()}@example.org`;
  const config: NotificationConfig = {
    language: "sv",
    minPriority: "high",
    webhook: { url: webhook.url(`/hooks/${WEBHOOK_SECRET}`), format: "json" },
    ntfy: { url: ntfy.url(`/${NTFY_TOPIC}`), token: NTFY_TOKEN },
    email: {
      smtpUrl: smtp.url(`referee:${SMTP_PASSWORD}@`),
      to: [to],
      from: "FOGIS Realtime <fogis@example.org>",
    },
  };
  const mails = async (): Promise<ReceivedMail[]> =>
    (await smtp.messages()).filter((mail) => mail.to.includes(to));
  const counts = async () => ({
    webhook: webhook.delivered().length,
    ntfy: ntfy.delivered().length,
    email: (await mails()).length,
  });
  return { webhook, ntfy, config, mails, counts, to };
}

interface Wired {
  notifier: ChangeNotifier;
  registry: Registry;
  logs: string[];
}

function wireNotifier(
  config: NotificationConfig,
  dataDir: string,
  tuning: { retryDelaysMs?: number[]; timeoutMs?: number } = {},
): Wired {
  const logs: string[] = [];
  const logger = createLogger(
    { name: "test", level: "debug" },
    { write: (line: string) => void logs.push(line) },
  );
  const registry = createMetricsRegistry("test", { processMetrics: false });
  const notifier = createChangeNotifier(config, {
    dataDir,
    logger,
    registry,
    retryDelaysMs: tuning.retryDelaysMs ?? [50, 100, 200],
    timeoutMs: tuning.timeoutMs ?? 5000,
  });
  if (!notifier) throw new Error("expected a notifier");
  cleanup.push(() => notifier.stop({ graceMs: 100 }));
  return { notifier, registry, logs };
}

interface Setup extends Wired {
  rig: Rig;
  source: ListSource;
  calendar: SyncReceiver;
  dataDir: string;
}

/** A processor delivering to a real calendar-sync stand-in over HTTP, with the notifier after its change detection. */
async function processorWith(
  config: NotificationConfig,
  matches: Match[],
  options: {
    dataDir?: string;
    redisUrl?: string | null;
    retryDelaysMs?: number[];
    timeoutMs?: number;
    heartbeatMs?: number;
  } = {},
): Promise<Setup> {
  const dataDir = options.dataDir ?? tempDir();
  const calendar = await new SyncReceiver().start();
  cleanup.push(() => calendar.stop());
  const source = new ListSource(matches);
  const wired = wireNotifier(config, dataDir, options);
  const rig = await processorRig({
    redisUrl: options.redisUrl ?? null,
    fallbackUrl: calendar.url,
    source,
    dataDir,
    delivery: { retryDelaysMs: [10, 10] },
    processor: {
      notifier: wired.notifier,
      registry: wired.registry,
      now: clock,
      ...(options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {}),
    },
  });
  cleanup.push(() => rig.close());
  return { ...wired, rig, source, calendar, dataDir };
}

const match = (input: MatchInput) => fogisMatch({ date: "2027-10-16", time: "15:00", ...input });

/** Known to FOGIS by its kick-off instant only: the local time must come from the zone rules. */
function tidOnly(input: MatchInput): Match {
  const m = match(input);
  delete m.speldatum;
  delete m.avsparkstid;
  return m;
}

const SAT_BEFORE_DST_END = { date: "2027-10-30", time: "17:00" }; // CEST, 15:00Z
const SAT_AFTER_DST_END = { date: "2027-11-06", time: "18:30" }; // CET, 17:30Z

function firstList(): Match[] {
  return [
    tidOnly({
      matchid: 6_143_017,
      home: "Örgryte IS",
      away: "BK Häcken",
      venue: "Valhalla IP",
      ...SAT_BEFORE_DST_END,
    }),
    match({ matchid: 6_143_018, home: "GAIS", away: "Qviding FIF", venue: "Gamla Ullevi" }),
    match({ matchid: 6_143_019, home: "Utsikten", away: "Oddevold", date: "2027-10-23" }),
  ];
}

/** A time change across the end of summer time, a cancellation and a new assignment. */
function changedList(): Match[] {
  const [moved, cancelled, unchanged] = firstList() as [Match, Match, Match];
  return [
    tidOnly({
      matchid: 6_143_017,
      home: "Örgryte IS",
      away: "BK Häcken",
      venue: "Valhalla IP",
      ...SAT_AFTER_DST_END,
    }),
    { ...cancelled, installd: true },
    unchanged,
    match({
      matchid: 6_143_020,
      home: "Ljungskile SK",
      away: "IK Oddevold",
      venue: "Skarsjövallen",
      date: "2027-10-09",
      time: "13:00",
    }),
  ].filter((m) => m !== moved);
}

/** The barrier: one more kick-off change, which must be the next message everywhere. */
function withBarrier(list: Match[], time = "19:45"): Match[] {
  return list.map((m) =>
    m.matchid === 6_143_019
      ? match({ matchid: 6_143_019, home: "Utsikten", away: "Oddevold", date: "2027-10-23", time })
      : m,
  );
}

/** The value of one Prometheus sample, whatever the order of its labels. */
async function sample(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<number | null> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = (
    metric?.values as Array<{ labels: Record<string, string>; value: number }> | undefined
  )?.find((v) => Object.entries(labels).every(([key, expected]) => String(v.labels[key]) === expected));
  return value ? value.value : null;
}

/** `fogis_processor_notifications_total` of one target and outcome. */
function notificationsTotal(
  setup: { registry: Registry },
  target: string,
  outcome: string,
): Promise<number | null> {
  return sample(setup.registry, "fogis_processor_notifications_total", { target, outcome });
}

type Targets = Awaited<ReturnType<typeof targets>>;

async function expectCounts(t: Targets, expected: number): Promise<void> {
  await expect
    .poll(() => t.counts(), { timeout: 15_000, interval: 50 })
    .toEqual({ webhook: expected, ntfy: expected, email: expected });
}

/** The last message of each target mentions only the barrier match. */
async function expectBarrierLast(t: Targets, total: number): Promise<void> {
  await expectCounts(t, total);
  const hook = JSON.parse(t.webhook.delivered().at(-1)?.text ?? "{}");
  expect(hook.matches.map((m: { match_id: number }) => m.match_id)).toEqual([6_143_019]);
  expect(t.ntfy.delivered().at(-1)?.text).toContain("Avspark flyttad");
  expect(t.ntfy.delivered().at(-1)?.text).toContain("Utsikten - Oddevold");
  expect((await t.mails()).at(-1)?.subject).toBe("Ny avsparkstid: Utsikten - Oddevold");
}

describe("notifications after change detection", () => {
  it("first list silent; a time change across DST, a cancellation and a new assignment arrive once on every target", async () => {
    const t = await targets();
    const setup = await processorWith(t.config, firstList());

    expect(await setup.rig.processor.runCycle("test")).toMatchObject({ outcome: "delivered" });
    setup.source.matches = changedList();
    expect(await setup.rig.processor.runCycle("test")).toMatchObject({ outcome: "delivered" });
    await expectCounts(t, 1);

    // The webhook: our JSON, with each change, the new local kick-off and the link.
    const [hook] = t.webhook.delivered();
    expect(hook?.headers["content-type"]).toBe("application/json");
    const body = JSON.parse(hook?.text ?? "{}");
    expect(hook?.headers["idempotency-key"]).toBe(body.id);
    expect(body.title).toBe("FOGIS: 3 matcher ändrade");
    const byId = Object.fromEntries(body.matches.map((m: { match_id: number }) => [m.match_id, m]));
    expect(byId[6_143_017]).toMatchObject({
      date: "2027-11-06",
      time: "18:30",
      kickoff_utc: "2027-11-06T17:30:00.000Z",
      venue: "Valhalla IP",
      url: "https://www.svenskfotboll.se/matchfakta/6143017/",
    });
    expect(byId[6_143_017].changes.map((c: { text: string }) => c.text)).toEqual([
      "Datum flyttat lör 30 okt. 2027 -> lör 6 nov. 2027",
      "Avspark flyttad 17:00 -> 18:30",
    ]);
    expect(byId[6_143_018]).toMatchObject({
      status: { cancelled: true },
      priority: "critical",
      headline: "Inställd match",
    });
    expect(byId[6_143_020]).toMatchObject({
      headline: "Nytt uppdrag",
      date: "2027-10-09",
      time: "13:00",
      venue: "Skarsjövallen",
    });
    expect(Object.keys(byId)).toHaveLength(3);
    // Most urgent first, then by kick-off.
    expect(body.matches.map((m: { match_id: number }) => m.match_id)).toEqual([
      6_143_018, 6_143_020, 6_143_017,
    ]);

    // ntfy: title (RFC 2047 for å, ä, ö), priority, tags, click URL, bearer token; text in the body.
    const [push] = t.ntfy.delivered();
    expect(push?.path).toBe(`/${NTFY_TOPIC}`);
    expect(decodeEncodedWords(String(push?.headers.title))).toBe("FOGIS: 3 matcher ändrade");
    expect(push?.headers).toMatchObject({
      priority: "5",
      tags: "soccer,x,new,calendar",
      click: "https://www.svenskfotboll.se/matchfakta/6143018/",
      authorization: `Bearer ${NTFY_TOKEN}`,
    });
    expect(push?.text).toContain(
      "Örgryte IS - BK Häcken\nDatum flyttat lör 30 okt. 2027 -> lör 6 nov. 2027\nAvspark flyttad 17:00 -> 18:30\nlör 6 nov. 2027 kl. 18:30 · Valhalla IP",
    );
    expect(push?.text).toContain("GAIS - Qviding FIF\nInställd match");
    expect(push?.text).toContain(
      "Ljungskile SK - IK Oddevold\nNytt uppdrag\nlör 9 okt. 2027 kl. 13:00 · Skarsjövallen",
    );

    // E-mail: subject, plain text and the HTML part, through a real SMTP server.
    const [mail] = await t.mails();
    expect(mail).toMatchObject({
      subject: "FOGIS: 3 matcher ändrade",
      from: '"FOGIS Realtime" <fogis@example.org>',
    });
    expect(mail?.text).toContain("Avspark flyttad 17:00 -> 18:30");
    expect(mail?.text).toContain("https://www.svenskfotboll.se/matchfakta/6143020/");
    expect(mail?.html).toContain(
      '<a href="https://www.svenskfotboll.se/matchfakta/6143017/">Örgryte IS - BK Häcken</a>',
    );
    expect(mail?.html).toContain("<strong>Avspark flyttad 17:00 -&gt; 18:30</strong>");

    // A resend, a heartbeat and a restart add nothing: the barrier change is the next message.
    setup.rig.processor.requestResend();
    expect(await setup.rig.processor.runCycle("test")).toMatchObject({ publish_reason: "resend" });
    await setup.rig.close();
    await setup.notifier.stop();
    const restarted = await processorWith(t.config, changedList(), {
      dataDir: setup.dataDir,
      heartbeatMs: 1,
    });
    expect(await restarted.rig.processor.runCycle("test")).toMatchObject({ publish_reason: "heartbeat" });
    restarted.source.matches = withBarrier(changedList());
    await restarted.rig.processor.runCycle("test");
    await expectBarrierLast(t, 2);
  });

  it("a Redis outage and Redis coming back add nothing", async () => {
    const t = await targets();
    const setup = await processorWith(t.config, firstList(), { redisUrl: redis.url });
    const subscriber = await Subscriber.start(redis.url, setup.rig.channels);
    cleanup.push(() => subscriber.close());
    expect(await setup.rig.processor.runCycle("test")).toMatchObject({ delivery: { route: "redis" } });
    setup.source.matches = changedList();
    await setup.rig.processor.runCycle("test");
    await expectCounts(t, 1);

    await redis.stop();
    await expect.poll(() => setup.rig.delivery.redisConnected).toBe(false);
    setup.rig.processor.requestResend();
    expect(await setup.rig.processor.runCycle("test")).toMatchObject({ delivery: { route: "http" } });
    await redis.start();
    await expect.poll(() => setup.rig.delivery.redisConnected, { timeout: 10_000 }).toBe(true);
    const link = setup.rig.link?.client;
    if (!link) throw new Error("expected a Redis link");
    await expect
      .poll(() => subscriberCount(link, setup.rig.channels.matchUpdates), { timeout: 10_000 })
      .toBe(1);
    expect(await setup.rig.processor.runCycle("test")).toMatchObject({
      publish_reason: "redis_recovered",
      delivery: { route: "redis" },
    });

    setup.source.matches = withBarrier(changedList());
    await setup.rig.processor.runCycle("test");
    await expectBarrierLast(t, 2);
  });

  it("a change whose snapshot delivery failed is told once, not again when the delivery is retried; moving back is news", async () => {
    const t = await targets();
    const setup = await processorWith(t.config, firstList());
    await setup.rig.processor.runCycle("test");

    setup.calendar.status = 503;
    setup.source.matches = changedList();
    expect(await setup.rig.processor.runCycle("test")).toMatchObject({ outcome: "delivery_failed" });
    await expectCounts(t, 1);

    setup.calendar.status = 200;
    // The processor detects the same changes again (its baseline did not move): they are not news.
    expect(await setup.rig.processor.runCycle("test")).toMatchObject({
      outcome: "delivered",
      changes: { new: 1, updated: 2 },
    });

    // While deliveries fail, the kick-off moves back: that is a new change for the referee.
    setup.calendar.status = 503;
    setup.source.matches = firstList().concat(changedList().filter((m) => m.matchid === 6_143_020));
    setup.source.matches = (setup.source.matches as Match[]).map((m) =>
      m.matchid === 6_143_018 ? { ...m, installd: true } : m,
    );
    expect(await setup.rig.processor.runCycle("test")).toMatchObject({ outcome: "delivery_failed" });
    await expectCounts(t, 2);
    const back = JSON.parse(t.webhook.delivered()[1]?.text ?? "{}");
    expect(back.matches.map((m: { match_id: number }) => m.match_id)).toEqual([6_143_017]);
    expect(back.matches[0].changes.map((c: { text: string }) => c.text)).toContain(
      "Avspark flyttad 18:30 -> 17:00",
    );

    setup.calendar.status = 200;
    await setup.rig.processor.runCycle("test");
    setup.source.matches = withBarrier(setup.source.matches as Match[]);
    await setup.rig.processor.runCycle("test");
    await expectBarrierLast(t, 3);
  });

  it("a match FOGIS leaves out for a while is no new assignment when it is back; with priority low both moves are told", async () => {
    const t = await targets();
    const setup = await processorWith(t.config, firstList());
    await setup.rig.processor.runCycle("test");
    const [moved, , utsikten] = firstList() as [Match, Match, Match];
    setup.source.matches = [moved, utsikten];
    await setup.rig.processor.runCycle("test"); // a removal is low priority: not told
    setup.source.matches = [
      moved,
      match({ matchid: 6_143_018, home: "GAIS", away: "Qviding FIF", venue: "Gamla Ullevi", time: "16:15" }),
      utsikten,
    ];
    await setup.rig.processor.runCycle("test");
    await expectCounts(t, 1);
    const [push] = t.ntfy.delivered();
    expect(decodeEncodedWords(String(push?.headers.title))).toBe("Ny avsparkstid: GAIS - Qviding FIF");
    expect(push?.text).toContain("Avspark flyttad 15:00 -> 16:15");
    expect(push?.text).not.toContain("Nytt uppdrag");

    const all = await targets();
    const everything = await processorWith({ ...all.config, minPriority: "low" }, firstList());
    await everything.rig.processor.runCycle("test");
    everything.source.matches = [moved, utsikten];
    await everything.rig.processor.runCycle("test");
    await expectCounts(all, 1);
    everything.source.matches = firstList();
    await everything.rig.processor.runCycle("test");
    await expectCounts(all, 2);
    expect(all.ntfy.delivered().map((p) => decodeEncodedWords(String(p.headers.title)))).toEqual([
      "Uppdrag borttaget: GAIS - Qviding FIF",
      "Nytt uppdrag: GAIS - Qviding FIF",
    ]);
  });

  it("a target answering 503 (slowly) delays no cycle and no other target; it gets the notification once back, after its Retry-After", async () => {
    const t = await targets();
    t.webhook.reply = () => ({
      status: 503,
      delayMs: 5000,
      headers: { "retry-after": "1" },
      body: "down for maintenance",
    });
    const setup = await processorWith(t.config, firstList(), {
      retryDelaysMs: [50, 50, 50, 50],
      timeoutMs: 10_000,
    });
    await setup.rig.processor.runCycle("test");

    setup.source.matches = changedList();
    const result = await setup.rig.processor.runCycle("test");
    expect(result.outcome).toBe("delivered");
    // Measured: the cycle did not wait for the 5 s answer (a cycle here takes tens of milliseconds).
    expect(result.duration_ms).toBeLessThan(2500);
    // ntfy and e-mail arrive while the webhook is still answering its 503.
    await expect
      .poll(async () => ({ ...(await t.counts()), webhookAttempts: t.webhook.received.length }), {
        timeout: 10_000,
      })
      .toEqual({ webhook: 0, ntfy: 1, email: 1, webhookAttempts: 1 });
    const status = () => setup.notifier.status.find((s) => s.name === "webhook");
    await expect.poll(() => status()?.status, { timeout: 10_000 }).toBe("warn");
    expect(status()).toMatchObject({
      lastSuccess: null,
      lastError: "HTTP 503: down for maintenance",
      pending: 1,
    });

    t.webhook.reply = () => ({ status: 204 });
    await expect.poll(() => t.webhook.delivered().length, { timeout: 15_000 }).toBe(1);
    const [failed, ok] = t.webhook.received;
    // Retry-After: 1 wins over the 50 ms backoff (the 503 itself took 5 s to come).
    expect((ok?.at ?? 0) - (failed?.at ?? 0)).toBeGreaterThanOrEqual(5950);
    expect(ok?.text).toBe(failed?.text);
    await expect.poll(() => status()?.status).toBe("pass");
    expect(status()).toMatchObject({ pending: 0, lastError: "HTTP 503: down for maintenance" });
    expect(status()?.lastSuccess).toMatch(/^\d{4}-/);
    expect(await notificationsTotal(setup, "webhook", "retried")).toBe(1);
    expect(await notificationsTotal(setup, "webhook", "sent")).toBe(1);
    expect(await notificationsTotal(setup, "ntfy", "sent")).toBe(1);
    expect(await sample(setup.registry, "fogis_processor_notifications_pending", { target: "webhook" })).toBe(
      0,
    );
  });

  it("a target that never answers costs a cycle nothing (measured)", async () => {
    const t = await targets();
    t.webhook.reply = () => ({ hang: true });
    t.ntfy.reply = () => ({ hang: true });
    const setup = await processorWith(t.config, firstList(), { timeoutMs: 10_000 });
    const quiet = await setup.rig.processor.runCycle("test");
    setup.source.matches = changedList();
    const busy = await setup.rig.processor.runCycle("test");
    expect(busy.outcome).toBe("delivered");
    await expect.poll(() => t.webhook.received.length + t.ntfy.received.length).toBe(2);
    // The next cycle runs while both requests hang.
    setup.source.matches = withBarrier(changedList());
    const during = await setup.rig.processor.runCycle("test");
    // Measured: waiting for either target would cost 10 s (the request timeout).
    for (const cycle of [quiet, busy, during]) expect(cycle.duration_ms).toBeLessThan(2500);
    // E-mail is not held up by the hanging HTTP targets.
    await expect.poll(async () => (await t.mails()).length, { timeout: 10_000 }).toBe(2);
  });

  it("gives up after the bounded attempts, or at once when the receiver refuses the request", async () => {
    const t = await targets();
    t.webhook.reply = () => ({ status: 500 });
    t.ntfy.reply = () => ({ status: 403, body: '{"code":40301,"http":403,"error":"forbidden"}' });
    const setup = await processorWith(t.config, firstList(), { retryDelaysMs: [20, 20] });
    await setup.rig.processor.runCycle("test");
    setup.source.matches = changedList();
    await setup.rig.processor.runCycle("test");

    await expect
      .poll(() => setup.notifier.status.map((s) => [s.name, s.status, s.pending]), { timeout: 10_000 })
      .toEqual([
        ["webhook", "fail", 0],
        ["ntfy", "fail", 0],
        ["email", "pass", 0],
      ]);
    expect(t.webhook.received).toHaveLength(3);
    expect(t.ntfy.received).toHaveLength(1);
    expect(setup.notifier.status[1]?.lastError).toContain("not retried: the receiver refused it: HTTP 403");
    expect(await notificationsTotal(setup, "webhook", "failed")).toBe(1);
    expect(await notificationsTotal(setup, "webhook", "retried")).toBe(2);
    expect(await notificationsTotal(setup, "ntfy", "failed")).toBe(1);
  });

  it("what a down target did not get survives a restart and goes out once, with the same id", async () => {
    const t = await targets();
    t.webhook.reply = () => ({ status: 502 });
    const setup = await processorWith(t.config, firstList(), { retryDelaysMs: [60_000] });
    await setup.rig.processor.runCycle("test");
    setup.source.matches = changedList();
    await setup.rig.processor.runCycle("test");
    await expect.poll(() => t.webhook.received.length).toBe(1);
    await setup.rig.close();
    await setup.notifier.stop();
    const record = JSON.parse(readFileSync(join(setup.dataDir, NOTIFICATION_STATE_FILE), "utf8"));
    expect(record.outbox).toHaveLength(1);
    expect(Object.keys(record.outbox[0].targets)).toEqual(["webhook"]);

    // After a restart (the record says when to try next), the webhook is back.
    record.outbox[0].targets.webhook.next_attempt_at = null;
    writeFileSync(join(setup.dataDir, NOTIFICATION_STATE_FILE), JSON.stringify(record));
    t.webhook.reply = () => ({ status: 200 });
    const restarted = wireNotifier(t.config, setup.dataDir);
    expect(restarted.notifier.status[0]).toMatchObject({ name: "webhook", pending: 0 });
    await restarted.notifier.load();
    await expect.poll(() => t.webhook.delivered().length).toBe(1);
    const [first, second] = t.webhook.received;
    expect(second?.headers["idempotency-key"]).toBe(first?.headers["idempotency-key"]);
    expect(await t.counts()).toEqual({ webhook: 1, ntfy: 1, email: 1 });
  });

  it("a lost or unreadable record: it starts from the last delivered list, so changes since are told", async () => {
    const t = await targets();
    const setup = await processorWith(t.config, firstList());
    await setup.rig.processor.runCycle("test");
    await setup.rig.close();
    await setup.notifier.stop();

    // The record is lost (or notifications were switched on just now): the processor's delivered list is the start.
    writeFileSync(join(setup.dataDir, NOTIFICATION_STATE_FILE), "{ not json");
    const again = await processorWith(t.config, changedList(), { dataDir: setup.dataDir });
    await again.rig.processor.runCycle("test");
    await expectCounts(t, 1);
    expect(again.logs.join("")).toContain("notification_state_corrupt");
  });

  it("/redis-status lists each target without secrets, a failing target never fails the status, /metrics counts", async () => {
    const t = await targets();
    // A server that echoes the request line: the token must still never be shown.
    t.webhook.reply = (req) => ({
      status: 500,
      body: `cannot POST /hooks/${req.path.split("/").at(-1)} (${req.headers.authorization ?? ""})`,
    });
    t.ntfy.reply = (req) => ({
      status: 503,
      body: `topic ${req.path} busy; token ${req.headers.authorization}`,
    });
    const setup = await processorWith(
      {
        ...t.config,
        email: {
          smtpUrl: `smtp://referee:${SMTP_PASSWORD}@127.0.0.1:1`,
          to: [t.to],
          from: "fogis@example.org",
        },
      },
      firstList(),
      {
        retryDelaysMs: [20],
      },
    );
    await setup.rig.processor.runCycle("test");
    setup.source.matches = changedList();
    await setup.rig.processor.runCycle("test");
    await expect
      .poll(() => setup.notifier.status.map((s) => s.status), { timeout: 15_000 })
      .toEqual(["fail", "fail", "fail"]);

    const app = createApp({
      processor: setup.rig.processor,
      delivery: setup.rig.delivery,
      apiToken: TOKEN,
      logger: createLogger({ name: "t", level: "silent" }),
      notifier: setup.notifier,
    });
    const status = await request(app).get("/redis-status").expect(200);
    expect(status.body.status).toBe("pass");
    expect(status.body.notifications).toEqual([
      expect.objectContaining({
        name: "webhook",
        kind: "json",
        status: "fail",
        lastSuccess: null,
        destination: t.webhook.url("").replace(/\/$/, ""),
      }),
      expect.objectContaining({ name: "ntfy", kind: "ntfy", status: "fail", lastSuccess: null }),
      expect.objectContaining({
        name: "email",
        kind: "email",
        status: "fail",
        lastSuccess: null,
        destination: "smtp://127.0.0.1:1",
      }),
    ]);
    expect(status.body.notifications[0].lastError).toBe(
      "gave up after 2 attempts: HTTP 500: cannot POST /*** ()",
    );
    expect(status.body.notifications[2].lastError).toContain("ECONNREFUSED");
    const metrics = (await request(app).get("/metrics").expect(200)).text;
    expect(metrics).toMatch(
      /^fogis_processor_notifications_total\{target="email",outcome="failed"[^}]*\} 1$/m,
    );

    const everything = [JSON.stringify(status.body), metrics, setup.logs.join("")].join("\n");
    for (const secret of [WEBHOOK_SECRET, NTFY_TOPIC, NTFY_TOKEN, SMTP_PASSWORD])
      expect(everything).not.toContain(secret);
  });
});
