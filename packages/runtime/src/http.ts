import { createHash, timingSafeEqual } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from "express";
import { type Logger, stdSerializers } from "pino";
import { pinoHttp } from "pino-http";
import type { TrustProxy } from "./config.js";

/**
 * HTTP plumbing both services share: an express app with request logging that never prints
 * credentials, bearer-token auth for every POST, readable JSON errors, and listen/close.
 */

export interface BaseAppOptions {
  logger: Logger;
  /** Largest accepted request body, e.g. "25mb". */
  bodyLimit?: string;
  /**
   * Every request that is not a GET/HEAD/OPTIONS must carry `Authorization: Bearer <apiToken>`
   * (DESIGN §8). Checked before the body is read, so an unauthenticated caller cannot make the
   * service parse megabytes, and no POST route can be added without it.
   */
  apiToken: string;
  /** Tuning of the failed-attempt limit (tests shorten the window). */
  authLimits?: Pick<BearerAuthOptions, "maxFailures" | "windowMs" | "lockoutDelayMs" | "now">;
  /** TRUST_PROXY: how the client address is found behind a reverse proxy. Default: the TCP peer. */
  trustProxy?: TrustProxy;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * An express app with request logs (health probes at debug), bearer auth on every unsafe method,
 * JSON parsing behind it, and no x-powered-by.
 */
export function createBaseApp({
  logger,
  bodyLimit = "1mb",
  apiToken,
  authLimits,
  trustProxy = false,
}: BaseAppOptions): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", trustProxy);
  app.use(
    pinoHttp({
      logger,
      customLogLevel: (req, res, error) => {
        // A GET answered 503 is a status endpoint reporting `fail` (Docker and monitors poll it):
        // worth a warning, not an error line with a stack on every poll.
        if (!error && req.method === "GET" && res.statusCode === 503) return "warn";
        if (error || res.statusCode >= 500) return "error";
        if (res.statusCode >= 400) return "warn";
        return req.method === "GET" ? "debug" : "info";
      },
      serializers: {
        // pino-http invents an Error for every 5xx answer; its stack points into pino-http, not at a cause.
        err: (err: Error) =>
          STATUS_CODE_ERROR.test(err.message) ? { message: err.message } : stdSerializers.err(err),
        req: (req: { method: string; url: string }) => ({
          method: req.method,
          url: redactQueryToken(req.url),
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      customSuccessMessage: () => "request completed",
      customErrorMessage: () => "request failed",
    }),
  );
  const auth = requireBearerToken({ ...authLimits, token: apiToken, logger });
  app.use((req, res, next) => (SAFE_METHODS.has(req.method) ? next() : auth(req, res, next)));
  app.use(express.json({ limit: bodyLimit, type: ["application/json", "application/*+json"] }));
  return app;
}

const STATUS_CODE_ERROR = /^failed with status code \d+$/;

/** Feed URLs carry `?token=` (calendar apps cannot send headers); keep it out of the request log. */
function redactQueryToken(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, "$1[redacted]");
}

export interface BearerAuthOptions {
  token: string;
  logger: Logger;
  /** Wrong tokens allowed per client address within `windowMs` before they are answered 429. */
  maxFailures?: number;
  windowMs?: number;
  /** How long a wrong token from a client over the limit waits for its 429. Default 1 s. */
  lockoutDelayMs?: number;
  now?: () => number;
}

/** Slowed answers waiting at once, all clients together; beyond it they are answered at once. */
const MAX_DELAYED_ANSWERS = 100;

/**
 * Requires `Authorization: Bearer <token>`. The comparison takes the same time whatever the
 * guess (both sides are hashed to equal length first). The right token always passes: behind
 * docker-proxy every local caller shares one address, so a stale script's wrong token must never
 * lock out the owner (or `pnpm deploy`'s gates). Wrong tokens are counted per client address;
 * past `maxFailures` within the window they are answered 429 with Retry-After, each after a
 * delay, which slows a guessing or looping client down. A success does not clear the count: it
 * may come from another caller behind the same address.
 */
export function requireBearerToken(options: BearerAuthOptions): RequestHandler {
  const maxFailures = options.maxFailures ?? 10;
  const windowMs = options.windowMs ?? 60_000;
  const lockoutDelayMs = options.lockoutDelayMs ?? 1000;
  const now = options.now ?? Date.now;
  const failures = new Map<string, { count: number; since: number }>();
  let delayedAnswers = 0;

  return (req, res, next) => {
    const header = req.get("authorization") ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (match?.[1] && sameSecret(match[1].trim(), options.token)) {
      next();
      return;
    }
    const client = req.ip ?? req.socket.remoteAddress ?? "unknown";
    const record = failures.get(client);
    if (record && now() - record.since > windowMs) failures.delete(client);
    if (failures.size >= 10_000 && !failures.has(client)) {
      // Bounded memory under a spray of addresses: forget the oldest tenth (Map keeps insertion
      // order), never the whole table, so a client cannot reset its own count that way.
      let drop = 1_000;
      for (const key of failures.keys()) {
        if (drop-- <= 0) break;
        failures.delete(key);
      }
    }
    const entry = failures.get(client) ?? { count: 0, since: now() };
    entry.count += 1;
    failures.set(client, entry);
    const reason = header ? "wrong token" : "missing token";
    if (entry.count > maxFailures) {
      const retryAfter = Math.max(1, Math.ceil((entry.since + windowMs - now()) / 1000));
      const answer = () => {
        res.setHeader("Retry-After", String(retryAfter));
        res
          .status(429)
          .json({ success: false, error: "too many failed authentication attempts; try again later" });
      };
      // Logged once per window, not per attempt: a looping script must not flood the log.
      if (entry.count === maxFailures + 1) {
        options.logger.warn(
          { event: "auth_rate_limited", client, path: req.path, reason, retryAfter },
          "too many requests without a valid bearer token; slowing this client down",
        );
      }
      if (lockoutDelayMs <= 0 || delayedAnswers >= MAX_DELAYED_ANSWERS) {
        answer();
        return;
      }
      delayedAnswers += 1;
      setTimeout(() => {
        delayedAnswers -= 1;
        if (!res.writableEnded && !req.socket.destroyed) answer();
      }, lockoutDelayMs).unref();
      return;
    }
    options.logger.warn(
      { event: "auth_failed", client, path: req.path, reason },
      "rejected a request without a valid bearer token",
    );
    res.setHeader("WWW-Authenticate", 'Bearer realm="fogis-realtime"');
    res.status(401).json({
      success: false,
      error: header ? "invalid bearer token" : "missing Authorization: Bearer <API_TOKEN>",
    });
  };
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

/**
 * The one comparison of a given secret (bearer token, feed token) with the expected one: in
 * constant time, also across lengths (both are hashed first, so the time tells nothing, not even
 * the length).
 */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * Turns body-parser and unexpected errors into JSON answers: 413 over the size limit, 400 for
 * unparseable JSON, 500 (logged) for anything else. Never echoes the request body.
 */
export function jsonErrorHandler(
  logger: Logger,
  onRejectedBody?: (reason: string) => void,
): ErrorRequestHandler {
  return (error, _req, res, _next) => {
    const type = (error as { type?: string }).type;
    if (type === "entity.too.large") {
      const limit = (error as { limit?: number }).limit;
      const reason = `body over the size limit${limit ? ` of ${limit} bytes` : ""}`;
      onRejectedBody?.(reason);
      res.status(413).json({ success: false, error: reason });
      return;
    }
    if (type === "entity.parse.failed" || type === "encoding.unsupported" || type === "charset.unsupported") {
      const reason = `body is not valid JSON (${String((error as Error).message).slice(0, 120)})`;
      onRejectedBody?.(reason);
      res.status(400).json({ success: false, error: reason });
      return;
    }
    logger.error({ event: "http_error", err: error }, "unhandled error in request");
    res.status(500).json({ success: false, error: "internal error" });
  };
}

/**
 * Listens and resolves with the server and the port actually bound (useful with port 0). A port
 * that is taken or not allowed rejects with a message naming the port and the variable to change.
 */
export async function listen(
  app: Express,
  port: number,
  host = "0.0.0.0",
): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const failed = (error: Error) => reject(explainListenError(error, port, host));
    const server = app.listen(port, host, (error?: Error) => {
      if (error) {
        failed(error);
        return;
      }
      resolve({ server, port: (server.address() as AddressInfo).port });
    });
    server.on("error", failed);
  });
}

function explainListenError(error: Error, port: number, host: string): Error {
  const code = (error as NodeJS.ErrnoException).code;
  const where = `${host}:${port}`;
  if (code === "EADDRINUSE") {
    return new Error(
      `port ${port} is already in use (${where}): stop what listens there, or set PORT to a free port (0 picks any)`,
      { cause: error },
    );
  }
  if (code === "EACCES") {
    return new Error(`not allowed to listen on ${where}: set PORT to 1024 or above`, { cause: error });
  }
  if (code === "EADDRNOTAVAIL") {
    return new Error(`${host} is not an address of this machine: set HOST (e.g. 0.0.0.0 or 127.0.0.1)`, {
      cause: error,
    });
  }
  return error;
}

/** Stops accepting connections and closes idle keep-alive sockets so close() does not wait on them. */
export async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 2000).unref();
  });
}

export interface ShutdownOptions {
  logger: Logger;
  /** Everything to stop, in order. */
  stop: () => Promise<void>;
  /** Hard deadline; DESIGN asks for exit within 10 s of SIGTERM. */
  timeoutMs?: number;
  exit?: (code: number) => void;
}

/** SIGTERM/SIGINT: run `stop`, exit 0; exit 1 if it takes longer than the deadline. */
export function exitOnSignals(options: ShutdownOptions): void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    options.logger.info({ event: "shutdown", signal }, "shutting down");
    const deadline = setTimeout(() => {
      options.logger.error({ event: "shutdown_timeout" }, "shutdown took too long; exiting");
      exit(1);
    }, options.timeoutMs ?? 9000);
    deadline.unref();
    options
      .stop()
      .then(() => {
        options.logger.info({ event: "stopped" }, "stopped cleanly");
        exit(0);
      })
      .catch((error: unknown) => {
        options.logger.error({ event: "shutdown_failed", err: error }, "shutdown failed");
        exit(1);
      });
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
}
