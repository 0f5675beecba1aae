import { Writable } from "node:stream";
import request from "supertest";
import { describe, expect, it } from "vitest";
import {
  closeServer,
  createBaseApp,
  createLogger,
  jsonErrorHandler,
  listen,
  sameSecret,
  type TrustProxy,
} from "../src/index.js";

const TOKEN = "a-very-secret-token-1234";

function appWithLogs(
  options: { maxFailures?: number; lockoutDelayMs?: number; now?: () => number } = {},
  trustProxy?: TrustProxy,
) {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ name: "test", level: "debug" }, sink);
  const app = createBaseApp({ logger, bodyLimit: "1kb", apiToken: TOKEN, authLimits: options, trustProxy });
  app.post("/action", (req, res) => {
    res.json({ ok: true, got: req.body });
  });
  app.use(jsonErrorHandler(logger));
  return { app, lines };
}

describe("bearer auth", () => {
  it("rejects a missing or wrong token with 401 and accepts the right one", async () => {
    const { app } = appWithLogs();
    await request(app).post("/action").send({}).expect(401);
    await request(app).post("/action").set("Authorization", "Bearer nope").send({}).expect(401);
    await request(app).post("/action").set("Authorization", `Basic ${TOKEN}`).send({}).expect(401);
    const ok = await request(app)
      .post("/action")
      .set("Authorization", `Bearer ${TOKEN}`)
      .send({ a: 1 })
      .expect(200);
    expect(ok.body).toEqual({ ok: true, got: { a: 1 } });
  });

  it("slows a client that keeps sending wrong tokens with 429 and Retry-After, until its window passes", async () => {
    let clock = 1_000_000;
    const { app } = appWithLogs({ maxFailures: 3, lockoutDelayMs: 0, now: () => clock });
    for (let i = 0; i < 3; i++)
      await request(app).post("/action").set("Authorization", "Bearer x").expect(401);
    const limited = await request(app).post("/action").set("Authorization", "Bearer x").expect(429);
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    await request(app).post("/action").expect(429);
    clock += 61_000;
    await request(app).post("/action").set("Authorization", "Bearer x").expect(401);
  });

  it("lets the owner's valid token through from an address that a stale script has locked out", async () => {
    // Behind docker-proxy every local caller shares one address: pnpm deploy's gates must pass.
    const { app } = appWithLogs({ maxFailures: 3, lockoutDelayMs: 0 });
    for (let i = 0; i < 20; i++) await request(app).post("/action").set("Authorization", "Bearer stale");
    await request(app).post("/action").set("Authorization", "Bearer stale").expect(429);
    const ok = await request(app).post("/action").set("Authorization", `Bearer ${TOKEN}`).send({ a: 1 });
    expect(ok.status).toBe(200);
    // The owner's success does not reset the count for the script sharing the address.
    await request(app).post("/action").set("Authorization", "Bearer stale").expect(429);
  });

  it("answers a locked-out wrong token only after a delay, so a looping script is slowed down", async () => {
    const { app } = appWithLogs({ maxFailures: 2, lockoutDelayMs: 600 });
    for (let i = 0; i < 2; i++)
      await request(app).post("/action").set("Authorization", "Bearer x").expect(401);
    const started = performance.now();
    await request(app).post("/action").set("Authorization", "Bearer x").expect(429);
    expect(performance.now() - started).toBeGreaterThanOrEqual(590);
    const quick = performance.now();
    await request(app).post("/action").set("Authorization", `Bearer ${TOKEN}`).expect(200);
    expect(performance.now() - quick).toBeLessThan(590);
  });

  it("counts failures per client address from X-Forwarded-For only with TRUST_PROXY", async () => {
    const wrong = (app: ReturnType<typeof appWithLogs>["app"], from: string) =>
      request(app).post("/action").set("X-Forwarded-For", from).set("Authorization", "Bearer x");

    const proxied = appWithLogs({ maxFailures: 2, lockoutDelayMs: 0 }, ["loopback"]).app;
    for (let i = 0; i < 3; i++) await wrong(proxied, "203.0.113.9");
    await wrong(proxied, "203.0.113.9").expect(429);
    await wrong(proxied, "198.51.100.7").expect(401);

    // Without it the header is the caller's word: ignored, so it cannot escape its own count.
    const direct = appWithLogs({ maxFailures: 2, lockoutDelayMs: 0 }).app;
    for (let i = 0; i < 3; i++) await wrong(direct, "203.0.113.9");
    await wrong(direct, "198.51.100.7").expect(429);
  });

  it("never writes the token or the Authorization header to the logs", async () => {
    const { app, lines } = appWithLogs();
    await request(app).post("/action").set("Authorization", `Bearer ${TOKEN}`).send({}).expect(200);
    await request(app).post("/action").set("Authorization", `Bearer ${TOKEN}x`).send({}).expect(401);
    const logs = lines.join("");
    expect(logs).toContain("auth_failed");
    expect(logs).not.toContain(TOKEN);
  });

  it("never writes a ?token= query value to the request log", async () => {
    const { app, lines } = appWithLogs();
    await request(app).get(`/feed.ics?x=1&token=${TOKEN}`).expect(404);
    const logs = lines.join("");
    expect(logs).toContain("/feed.ics?x=1&token=[redacted]");
    expect(logs).not.toContain(TOKEN);
  });
});

describe("sameSecret (bearer and feed tokens)", () => {
  it("accepts only the very secret: not a prefix, a longer one, another of the same length, or nothing", () => {
    expect(sameSecret(TOKEN, TOKEN)).toBe(true);
    expect(sameSecret(TOKEN.slice(0, -1), TOKEN)).toBe(false);
    expect(sameSecret(`${TOKEN}x`, TOKEN)).toBe(false);
    expect(sameSecret(TOKEN.replace("a", "b"), TOKEN)).toBe(false);
    expect(sameSecret("", TOKEN)).toBe(false);
  });
});

describe("auth comes before the body", () => {
  it("answers an unauthenticated oversized body 401 without reading it, and lets GETs through", async () => {
    const { app } = appWithLogs();
    app.get("/open", (_req, res) => {
      res.json({ open: true });
    });
    await request(app)
      .post("/action")
      .send({ blob: "x".repeat(5000) })
      .expect(401);
    await request(app).post("/not-a-route").send({}).expect(401);
    await request(app).get("/open").expect(200);
  });
});

describe("JSON errors", () => {
  it("answers 400 for unparseable JSON and 413 over the size limit", async () => {
    const { app } = appWithLogs();
    const bad = await request(app)
      .post("/action")
      .set("Authorization", `Bearer ${TOKEN}`)
      .set("Content-Type", "application/json")
      .send("{not json")
      .expect(400);
    expect(bad.body.error).toMatch(/not valid JSON/);
    const big = await request(app)
      .post("/action")
      .set("Authorization", `Bearer ${TOKEN}`)
      .send({ blob: "x".repeat(5000) })
      .expect(413);
    expect(big.body.error).toMatch(/size limit/);
  });
});

describe("listen", () => {
  it("names the port and the variable to change when the port is taken", async () => {
    const { app } = appWithLogs();
    const first = await listen(app, 0, "127.0.0.1");
    try {
      const second = listen(appWithLogs().app, first.port, "127.0.0.1");
      await expect(second).rejects.toThrow(
        `port ${first.port} is already in use (127.0.0.1:${first.port}): stop what listens there, or set PORT to a free port (0 picks any)`,
      );
    } finally {
      await closeServer(first.server);
    }
  });
});

describe("request log", () => {
  it("logs a status endpoint answering 503 as a warning without a stack, and a failing POST as an error", async () => {
    const { app, lines } = appWithLogs();
    app.get("/status", (_req, res) => {
      res.status(503).json({ status: "fail" });
    });
    app.post("/broken", (_req, res) => {
      res.status(500).json({ error: "disk full" });
    });
    await request(app).get("/status").expect(503);
    await request(app).post("/broken").set("Authorization", `Bearer ${TOKEN}`).send({}).expect(500);
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const status = entries.find((entry) => (entry.req as { url?: string } | undefined)?.url === "/status");
    const broken = entries.find((entry) => (entry.req as { url?: string } | undefined)?.url === "/broken");
    expect(status).toMatchObject({ level: 40, res: { statusCode: 503 } });
    expect(JSON.stringify(status)).not.toContain("stack");
    expect(broken).toMatchObject({ level: 50, res: { statusCode: 500 } });
  });
});
