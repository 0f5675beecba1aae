import { request } from "node:http";
import { plainRedisClient } from "@fogis/testing";
import { describe, expect, it } from "vitest";
import { recordFault } from "./reliability/report.js";
import { isPass, notPass, type Stack, type StatusWatcher, stackPerTest } from "./reliability/stack.js";
import { makeThrowawayTls, redisSupportsTls } from "./reliability/throwaway-tls.js";

/**
 * Hostile callers and secrets (DESIGN §8): every POST needs the bearer token, a caller that keeps
 * guessing is answered 429 (without locking out anyone else), no password or token shows up in any
 * answer or log line, and the services work against a Redis with requirepass, an ACL user, and TLS.
 */

const stacks = stackPerTest();

/**
 * Both services on Redis (`what`), one change delivered over it and in the calendar; answers
 * Redis's CLIENT LIST then, to tell how the services are connected.
 */
async function deliveredOverRedisThenClients(
  s: Stack,
  watcher: StatusWatcher,
  what: string,
): Promise<string> {
  await watcher.both(0, isPass, 10_000, what);
  await s.change();
  expect((await s.cycle()).delivery.route).toBe("redis");
  await s.waitConverged();
  const admin = plainRedisClient(s.redis.url);
  const clients = String(await admin.client("LIST"));
  admin.disconnect();
  return clients;
}

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** An HTTP request from a chosen loopback address (127.0.0.2 plays the attacker, 127.0.0.1 the processor). */
function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; from?: string },
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? "POST",
        headers: { "content-type": "application/json", ...options.headers },
        localAddress: options.from ?? "127.0.0.1",
        timeout: 10_000,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

describe("bearer token on every POST", () => {
  it("rejects a missing or wrong token on every POST of both services, and answers 429 to a caller that keeps failing", async () => {
    const s = await stacks.create();
    await s.cycle();
    await s.waitConverged();
    const token = s.apiToken;
    const wrongAuthorizations: Array<Record<string, string>> = [
      {},
      { authorization: "Bearer wrong-token-0123456789" },
      { authorization: `Bearer ${token}x` },
      { authorization: `Bearer ${token.slice(0, -1)}` },
      { authorization: `Basic ${Buffer.from(`user:${token}`).toString("base64")}` },
      { authorization: token },
      { authorization: "Bearer" },
    ];
    const posts = [
      { service: s.processor, path: "/process" },
      { service: s.calendar, path: "/manual-sync" },
      { service: s.calendar, path: "/redis-test" },
      { service: s.calendar, path: "/redis-restart" },
    ];
    const attacker = "127.0.0.2";
    // An empty list: were it accepted, the calendar would be emptied.
    const body = JSON.stringify({ matches: [] });
    const failures = new Map<string, number>();
    for (const { service, path } of posts) {
      for (const headers of wrongAuthorizations.slice(0, 2)) {
        const answer = await rawRequest(`${service.baseUrl}${path}`, { headers, body, from: attacker });
        failures.set(service.service, (failures.get(service.service) ?? 0) + 1);
        expect(answer.status, `${service.service} POST ${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(answer.headers["www-authenticate"]).toMatch(/^Bearer/);
      }
    }
    // The other wrong forms, until each service has seen 10 failures from the attacker.
    for (const service of [s.processor, s.calendar]) {
      const path = service === s.processor ? "/process" : "/manual-sync";
      let i = 2;
      while ((failures.get(service.service) ?? 0) < 10) {
        const headers = wrongAuthorizations[i % wrongAuthorizations.length] as Record<string, string>;
        i++;
        const answer = await rawRequest(`${service.baseUrl}${path}`, { headers, body, from: attacker });
        expect(answer.status, `${service.service} ${JSON.stringify(headers)}`).toBe(401);
        failures.set(service.service, (failures.get(service.service) ?? 0) + 1);
      }
      // The 11th wrong try is slowed down and refused with 429.
      const started = performance.now();
      const limited = await rawRequest(`${service.baseUrl}${path}`, { body, from: attacker });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
      expect(performance.now() - started).toBeGreaterThanOrEqual(900);
      // The owner's token still passes from that address: behind docker-proxy every local caller
      // shares one, and a stale script must not lock out pnpm deploy's gates. (/redis-test: a
      // right-token /manual-sync with the empty list would empty the calendar.)
      const rightPath = service === s.processor ? "/process" : "/redis-test";
      const right = await rawRequest(`${service.baseUrl}${rightPath}`, {
        headers: { authorization: `Bearer ${token}` },
        body: "{}",
        from: attacker,
      });
      expect(right.status, `${service.service} POST ${rightPath} with the right token`).toBe(200);
    }
    // Other methods need the token too.
    for (const method of ["PUT", "PATCH", "DELETE"]) {
      const answer = await rawRequest(`${s.calendar.baseUrl}/manual-sync`, {
        method,
        body,
        from: "127.0.0.3",
      });
      expect([401, 404, 405], method).toContain(answer.status);
      expect(answer.status, method).not.toBe(200);
    }

    // None of it touched the calendar, and the processor (another address) is not locked out.
    expect(await s.differences()).toEqual([]);
    await s.change(2);
    const result = await s.cycle();
    expect(result.delivery.confirmed).toBe(true);
    await s.waitConverged();
    const viaHttp = await rawRequest(`${s.calendar.baseUrl}/manual-sync`, {
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ matches: s.script.matches }),
    });
    expect(viaHttp.status).toBe(200);
    const authFailures = s.calendar.logEvents().filter((event) => event.event === "auth_failed");
    expect(authFailures.length).toBeGreaterThanOrEqual(10);
  });
});

describe("secrets stay secret", () => {
  it("no password or token appears in any answer or any log line of a full run (Redis with requirepass and an ACL user, LOG_LEVEL=trace)", async () => {
    const secrets = {
      redisPassword: "rds-Pw-7c1e4b9a2f6d8e03",
      aclPassword: "acl-Pw-3b8d0f2e9a7c6b51",
      apiToken: "api-Tok-5e9c2a7d1f3b8e64a0",
      feedToken: "feed-Tok-8a2f6c0e4b9d7135",
    };
    const s = await stacks.create({
      apiToken: secrets.apiToken,
      redis: {
        password: secrets.redisPassword,
        args: ["--user", "fogis", "on", `>${secrets.aclPassword}`, "~*", "&*", "+@all"],
      },
      // The processor as the ACL user, calendar-sync as the default user with requirepass.
      processorEnv: { LOG_LEVEL: "trace" },
      calendarEnv: { LOG_LEVEL: "trace", FEED_TOKEN: secrets.feedToken },
      redisUrl: (redis) => `redis://fogis:${secrets.aclPassword}@127.0.0.1:${redis.port}`,
    });
    // calendar-sync gets the default user's URL.
    expect(s.calendar.env.REDIS_URL).toContain("fogis:");
    await s.calendar.stop();
    s.calendar.env.REDIS_URL = s.redis.url;
    await s.calendar.start();
    const watcher = stacks.watch(s);
    await watcher.both(0, isPass, 10_000, "both on the password-protected Redis");

    const answers: string[] = [];
    const firstStep = s.script.currentStep;
    const keep = async (
      what: string,
      promise: Promise<{ status: number; text?: string; body?: unknown }>,
    ) => {
      const answer = await promise;
      answers.push(`${what}: ${answer.status} ${answer.text ?? JSON.stringify(answer.body)}`);
      return answer;
    };
    await s.change();
    await keep("POST /process", s.processor.post("/process", { token: s.apiToken }));
    await s.waitConverged();
    for (const path of ["/health", "/redis-status", "/matches/latest", "/metrics", "/nope"]) {
      await keep(`processor GET ${path}`, s.processor.getText(path));
    }
    for (const path of [
      "/health",
      "/redis-status",
      "/redis-stats",
      "/redis-config",
      "/metrics",
      `/calendar.ics?token=${secrets.feedToken}`,
      `/contacts.vcf?token=${secrets.feedToken}`,
      "/calendar.ics?token=wrong-feed-token-000",
      "/calendar.ics",
    ]) {
      await keep(
        `calendar-sync GET ${path.replace(secrets.feedToken, "<feed token>")}`,
        s.calendar.getText(path),
      );
    }
    for (const path of ["/redis-test", "/redis-restart", "/manual-sync"]) {
      await keep(
        `calendar-sync POST ${path}`,
        s.calendar.post(path, { token: s.apiToken, body: { matches: s.script.matches } }),
      );
      await keep(
        `calendar-sync POST ${path} (wrong token)`,
        s.calendar.post(path, { token: "wrong-token-0123456789" }),
      );
    }
    await keep("processor POST /process (no token)", s.processor.post("/process", { token: null }));
    // Failures log the most: Redis dies and comes back, and a bad body is refused.
    await s.redis.kill();
    await s.change();
    await keep("POST /process (Redis down)", s.processor.post("/process", { token: s.apiToken }));
    await keep("calendar-sync GET /redis-status (Redis down)", s.calendar.getText("/redis-status"));
    await keep("processor GET /redis-status (Redis down)", s.processor.getText("/redis-status"));
    await s.redis.start();
    await watcher.both(performance.now(), isPass, 15_000, "both back on Redis");
    await keep("bad body", s.calendar.post("/manual-sync", { token: s.apiToken, body: "{not json" }));
    await s.change();
    expect((await keep("POST /process", s.processor.post("/process", { token: s.apiToken }))).status).toBe(
      200,
    );
    const redisConfig = await keep("GET /redis-config", s.calendar.getJson("/redis-config"));
    expect(JSON.stringify(redisConfig.body)).toContain("***");
    await s.waitConverged();
    const changes = s.script.changesBetween(firstStep);
    const reached = await s.reached(changes);
    await s.processor.stop("SIGTERM");
    await s.calendar.stop("SIGTERM");

    const logs = `${s.processor.logs}\n${s.calendar.logs}`;
    // The scan reads what it should: request lines of the feed (token redacted) and Redis errors.
    expect(logs).toContain("/calendar.ics?token=[redacted]");
    expect(logs).toMatch(/"event":"redis_(error|down)"/);
    const haystacks = { logs, answers: answers.join("\n") };
    const leaks: string[] = [];
    for (const [where, text] of Object.entries(haystacks)) {
      for (const [name, secret] of Object.entries(secrets)) {
        for (const form of new Set([
          secret,
          encodeURIComponent(secret),
          Buffer.from(secret).toString("base64"),
        ])) {
          const at = text.indexOf(form);
          if (at >= 0) leaks.push(`${name} in ${where}: …${text.slice(Math.max(0, at - 200), at + 40)}…`);
        }
      }
    }
    expect(leaks).toEqual([]);
    recordFault({
      fault: "secret scan: every endpoint, Redis restart, LOG_LEVEL=trace",
      changes: changes.length,
      reached,
      detectionMs: null,
      recoveryMs: null,
      notes: `${logs.split("\n").length} log lines and ${answers.length} answers searched for 4 secrets: 0 found`,
    });
  });
});

describe("Redis with credentials and TLS through REDIS_URL", () => {
  it("an ACL user (redis://fogis:pw@…) works for both services", async () => {
    const password = "acl-only-pw-0d9e8f7a";
    const s = await stacks.create({
      redis: {
        password: "default-user-pw-1a2b3c",
        args: ["--user", "fogis", "on", `>${password}`, "~*", "&*", "+@all"],
      },
      redisUrl: (redis) => `redis://fogis:${password}@127.0.0.1:${redis.port}`,
    });
    const watcher = stacks.watch(s);
    const clients = await deliveredOverRedisThenClients(s, watcher, "both on Redis as the ACL user");
    // The connections really are the ACL user's.
    expect(clients).toMatch(/name=match-processor .*user=fogis/);
    expect(clients).toMatch(/name=calendar-sync-subscriber .*user=fogis/);
  });

  it("rediss:// with a throwaway CA (NODE_EXTRA_CA_CERTS) works for both services, and survives a Redis restart", async () => {
    const support = redisSupportsTls();
    expect(support.why).toBe("");
    const tls = makeThrowawayTls();
    const { freePort } = await import("@fogis/testing");
    const tlsPort = await freePort();
    const password = "tls-redis-pw-6f5e4d3c";
    const s = await stacks.create({
      redis: {
        password,
        args: [
          "--tls-port",
          String(tlsPort),
          "--tls-cert-file",
          tls.serverCert,
          "--tls-key-file",
          tls.serverKey,
          "--tls-ca-cert-file",
          tls.caCert,
          "--tls-auth-clients",
          "no",
        ],
      },
      redisUrl: () => `rediss://:${password}@127.0.0.1:${tlsPort}`,
      commonEnv: { NODE_EXTRA_CA_CERTS: tls.caCert },
    });
    const watcher = stacks.watch(s);
    const clients = await deliveredOverRedisThenClients(s, watcher, "both on Redis over TLS");
    // Every service connection came in on the TLS port (plain-port clients show no "tls" flags
    // in CLIENT LIST, so check the local address instead).
    for (const name of ["match-processor", "calendar-sync-subscriber", "calendar-sync"]) {
      expect(clients).toMatch(new RegExp(`laddr=127\\.0\\.0\\.1:${tlsPort} .*name=${name} `));
    }
    const killedAt = performance.now();
    await s.redis.kill();
    await watcher.both(killedAt, notPass, 10_000, "both notice Redis is gone");
    const restartedAt = performance.now();
    await s.redis.start();
    await watcher.both(restartedAt, isPass, 15_000, "both back over TLS");
    await s.change();
    expect((await s.cycle()).delivery.route).toBe("redis");
    await s.waitConverged();
  });
});
