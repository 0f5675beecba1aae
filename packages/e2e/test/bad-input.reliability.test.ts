import { decodeEnvelope, decodeSyncRequest, KnownMatches, type RejectionCode } from "@fogis/message-schema";
import { plainRedisClient } from "@fogis/testing";
import fc from "fast-check";
import type { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { envelopeText, hostileBodies } from "./reliability/hostile-input.js";
import { MatchScript } from "./reliability/match-script.js";
import { recordFault } from "./reliability/report.js";
import { Stack, sleep } from "./reliability/stack.js";

/**
 * Bad input never costs an update: whatever arrives — random bytes, truncated or mistyped JSON,
 * deep nesting, `__proto__` keys, huge strings, oversized bodies, foreign messages, a flood of
 * them — is rejected and counted with its reason, the service keeps answering, and the next valid
 * snapshot is applied.
 */

const LIMIT = 256 * 1024;
const CODES: RejectionCode[] = [
  "too_large",
  "not_json",
  "not_an_object",
  "missing_type",
  "unknown_type",
  "invalid_envelope",
];
/** fast-check runs the same cases every time; FOGIS_RELIABILITY_SEED replays another set. */
// docker-compose.yml's service healthchecks: timeout 3 s, interval 5 s, retries 5.
const COMPOSE_HEALTHCHECK_TIMEOUT_MS = 3000;
const COMPOSE_UNHEALTHY_AFTER_MS = 4 * 5000;
const SEED = Number(process.env.FOGIS_RELIABILITY_SEED ?? 20_261_122);

let stack: Stack | undefined;
let publisher: Redis | undefined;
afterEach(async () => {
  publisher?.disconnect();
  await stack?.close();
  stack = publisher = undefined;
});

function invalidByReason(stats: Record<string, unknown>): Record<string, number> {
  return { ...(stats.invalid_by_reason as Record<string, number>) };
}

function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of new Set([...Object.keys(after), ...Object.keys(before)])) {
    const d = (after[key] ?? 0) - (before[key] ?? 0);
    if (d !== 0) out[key] = d;
  }
  return out;
}

const bump = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

describe("the decoder under hostile input (fast-check)", () => {
  it("never throws, answers an envelope or a rejection with a known code, and never touches Object.prototype", () => {
    const matches = new MatchScript({ initial: 3 }).matches;
    // As calendar-sync decodes: with the previous snapshot's matches remembered.
    const known = new KnownMatches();
    fc.assert(
      fc.property(hostileBodies(matches, LIMIT), ({ body }) => {
        for (const decoded of [
          decodeEnvelope(body, { maxBytes: LIMIT }),
          decodeEnvelope(body, { maxBytes: LIMIT, knownMatches: known }),
        ]) {
          if (!decoded.ok) {
            expect(CODES).toContain(decoded.code);
            expect(decoded.reason).not.toBe("");
          }
        }
        const text = typeof body === "string" ? body : Buffer.from(body).toString("utf8");
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch {
          return;
        }
        const request = decodeSyncRequest(value);
        if (!request.ok) expect(CODES).toContain(request.code);
        expect(Object.prototype).not.toHaveProperty("polluted");
        expect(Object.prototype).not.toHaveProperty("installd");
      }),
      { numRuns: 1000, seed: SEED },
    );
  });
});

describe("POST /manual-sync under hostile input (fast-check, against the running service)", () => {
  it("answers 400 or 413 with the reason, counts each by reason, stays up, and applies the next valid snapshot", async () => {
    stack = await Stack.create({ calendarEnv: { MAX_BODY_BYTES: String(LIMIT) } });
    const s = stack;
    await s.cycle();
    await s.waitConverged();
    const pid = s.calendar.pid;
    const before = invalidByReason(await s.calendarStats());
    const expected: Record<string, number> = {};
    const byKind: Record<string, Record<string, number>> = {};

    await fc.assert(
      fc.asyncProperty(hostileBodies(s.script.matches, LIMIT), async ({ kind, body }) => {
        const { status, body: answer } = await s.calendar.post<{ code?: string; error?: string }>(
          "/manual-sync",
          { token: s.apiToken, body },
        );
        expect([200, 400, 413], `${kind}: ${status} ${JSON.stringify(answer).slice(0, 200)}`).toContain(
          status,
        );
        const outcome =
          status === 413 ? "too_large" : status === 400 ? (answer.code ?? "not_json") : "accepted";
        if (status !== 200) {
          expect(answer.error, kind).toBeTruthy();
          bump(expected, outcome);
        }
        byKind[kind] ??= {};
        bump(byKind[kind] as Record<string, number>, String(outcome));
      }),
      { numRuns: 300, seed: SEED },
    );

    expect(s.calendar.pid).toBe(pid);
    expect((await s.calendar.getJson("/health")).status).toBe(200);
    expect(delta(invalidByReason(await s.calendarStats()), before)).toEqual(expected);
    // Every kind was tried, and none was accepted by accident except where it is a valid snapshot.
    for (const kind of [
      "random bytes",
      "truncated JSON",
      "wrong types",
      "deep nesting",
      "over the size limit",
    ]) {
      expect(Object.keys(byKind), kind).toContain(kind);
    }
    expect(byKind["over the size limit"]).toEqual({ too_large: expect.any(Number) });

    // A "__proto__" member is data, never a prototype: a match without `installd` and
    // `anlaggningnamn` must not borrow them from one.
    const [first, ...rest] = s.script.matches;
    const { installd: _installd, anlaggningnamn: _venue, ...bare } = first as Record<string, unknown>;
    const poisoned = `{"matches":[${JSON.stringify(bare).replace(
      /^\{/,
      '{"__proto__":{"installd":true,"anlaggningnamn":"Hijacked"},',
    )},${rest.map((match) => JSON.stringify(match)).join(",")}]}`;
    expect((await s.calendar.post("/manual-sync", { token: s.apiToken, body: poisoned })).status).toBe(200);
    const shown = (await s.events()).find((event) => event.uid.includes(String(bare.matchid)));
    expect(shown).toMatchObject({ status: "CONFIRMED", location: "" });

    // The calendar follows the next valid snapshot, from the processor as from a direct POST.
    const step = s.script.currentStep;
    await s.change(3);
    expect((await s.cycle()).delivery.confirmed).toBe(true);
    await s.waitConverged();
    await s.change();
    const direct = await s.calendar.post("/manual-sync", {
      token: s.apiToken,
      body: envelopeText(s.script.matches),
    });
    expect(direct.status).toBe(200);
    await s.waitConverged();
    const changes = s.script.changesBetween(step);
    recordFault({
      fault: "300 hostile POST /manual-sync bodies (fast-check)",
      changes: changes.length,
      reached: await s.reached(changes),
      detectionMs: null,
      recoveryMs: null,
      notes: Object.entries(expected)
        .map(([code, n]) => `${code} ${n}`)
        .join(", "),
    });
  });
});

describe("wrong and foreign messages on the Redis channels", () => {
  it("counts each with its reason and keeps applying valid snapshots", async () => {
    stack = await Stack.create({
      calendarEnv: { MAX_BODY_BYTES: String(LIMIT) },
      // Tens of MB of junk outrun the default pub/sub output buffer (32 MB), and Redis would drop
      // the subscriber (and the junk with it): a different fault, which resync covers. Here every
      // message must arrive, to be counted.
      redis: { args: ["--client-output-buffer-limit", "pubsub", "512mb", "256mb", "60"] },
    });
    const s = stack;
    await s.cycle();
    await s.waitConverged();
    publisher = plainRedisClient(s.redis.url);
    const before = invalidByReason(await s.calendarStats());
    const expected: Record<string, number> = {};
    const samples = fc.sample(hostileBodies(s.script.matches, LIMIT), { numRuns: 200, seed: SEED });
    const foreign = [
      "ping",
      "",
      '{"hello":"world"}',
      '{"type":"match_update","payload":{}}',
      '{"type":42}',
      JSON.stringify({ type: "system_alert", payload: "nope" }),
      JSON.stringify([{ type: "match_updates" }]),
    ];
    for (const body of [...samples.map((sample) => sample.body), ...foreign]) {
      const decoded = decodeEnvelope(body, { maxBytes: LIMIT });
      const raw = typeof body === "string" ? body : Buffer.from(body);
      if (decoded.ok) {
        await publisher.publish("fogis:matches:updates", raw);
        continue;
      }
      // Invalid: on every channel the subscriber listens to, each rejection counted.
      for (const channel of ["fogis:matches:updates", "fogis:processor:status", "fogis:system:alerts"]) {
        await publisher.publish(channel, raw);
        bump(expected, decoded.code);
      }
    }
    await s.change(2);
    const result = await s.cycle();
    // On failure, say why, with calendar-sync's last words (it may have died on a message).
    const lastWords = s.calendar.logs
      .split("\n")
      .filter((line) => !line.includes("message_invalid"))
      .slice(-12)
      .join("\n");
    expect(result.delivery.route, `${result.delivery.errors.join("; ")}\n${lastWords}`).toBe("redis");
    await s.waitConverged();
    // The valid snapshot may be applied while rejections of the other channels are still counted.
    await expect
      .poll(async () => delta(invalidByReason(await s.calendarStats()), before), {
        timeout: 30_000,
        interval: 200,
      })
      .toEqual(expected);
  });

  it("a subscriber flooded with 10,000 invalid messages keeps answering /health and applies the next valid snapshot", async () => {
    stack = await Stack.create();
    const s = stack;
    await s.cycle();
    await s.waitConverged();
    publisher = plainRedisClient(s.redis.url);
    const statsBefore = await s.calendarStats();
    // Small ones (under 4 kB): 10,000 large ones would overrun Redis's pub/sub output buffer
    // (32 MB), and Redis would drop the subscriber, a different fault.
    const junk = fc.sample(hostileBodies(s.script.matches, 64 * 1024), { numRuns: 400, seed: SEED });
    const invalid = junk
      .map((sample) => sample.body)
      .filter((body) => body.length < 4096 && !decodeEnvelope(body).ok)
      .concat(["ping", '{"type":"nope"}', '{"hello":"world"}']);

    let worstHealthMs = 0;
    let healthChecks = 0;
    let flooding = true;
    const healthFailures: string[] = [];
    // Compose's healthcheck fails a check slower than 3 s and calls the container unhealthy after
    // 5 failed checks in a row, 5 s apart: every answer slow for 20 s. Track the longest such stretch.
    let slowSince: number | undefined;
    let longestSlowStretchMs = 0;
    const probe = (async () => {
      while (flooding) {
        const started = performance.now();
        try {
          const { status } = await s.calendar.getJson("/health");
          if (status !== 200) healthFailures.push(`status ${status}`);
        } catch (error) {
          healthFailures.push(`${(error as Error).message}: ${String((error as { cause?: unknown }).cause)}`);
        }
        const finished = performance.now();
        const tookMs = finished - started;
        worstHealthMs = Math.max(worstHealthMs, tookMs);
        if (tookMs > COMPOSE_HEALTHCHECK_TIMEOUT_MS) slowSince ??= started;
        else slowSince = undefined;
        if (slowSince !== undefined)
          longestSlowStretchMs = Math.max(longestSlowStretchMs, finished - slowSince);
        healthChecks++;
        await sleep(20);
      }
    })();
    const floodStarted = performance.now();
    let step: number;
    let convergedMs: number;
    try {
      for (let sent = 0; sent < 10_000; sent += 500) {
        const pipeline = publisher.pipeline();
        for (let i = 0; i < 500; i++) {
          pipeline.publish("fogis:matches:updates", invalid[(sent + i) % invalid.length] as string);
        }
        await pipeline.exec();
      }
      // The next valid snapshot, right behind the flood.
      step = s.script.currentStep;
      await s.change(2);
      expect((await s.cycle()).delivery.route).toBe("redis");
      convergedMs = await s.waitConverged(30_000);
    } finally {
      flooding = false;
      await probe;
    }
    const stats = await s.calendarStats();
    expect((stats.messages_failed as number) - (statsBefore.messages_failed as number)).toBe(10_000);
    expect(healthFailures).toEqual([]);
    // Slow at worst while it works through the backlog, never for so long that docker-compose's
    // healthcheck would call the container unhealthy (and a restart policy restart it).
    expect(longestSlowStretchMs, `slowest answer ${Math.round(worstHealthMs)} ms`).toBeLessThan(
      COMPOSE_UNHEALTHY_AFTER_MS,
    );
    const changes = s.script.changesBetween(step);
    recordFault({
      fault: "10,000 invalid messages flooding the channel",
      changes: changes.length,
      reached: await s.reached(changes),
      detectionMs: null,
      recoveryMs: performance.now() - floodStarted,
      notes: `/health answered ${healthChecks}× during the flood, slowest ${Math.round(worstHealthMs)} ms; valid snapshot applied ${Math.round(convergedMs)} ms after its cycle`,
    });
  });
});
