#!/usr/bin/env node
// `pnpm start`: the whole stack on this machine without Docker. Builds (pnpm build), checks the
// settings with the services' own config loaders, runs calendar-sync and match-processor with one
// shared API token (Redis at REDIS_URL when it answers, HTTP alone when it does not), prints what
// is really running (the match list's source and size, the calendar's events), and stops both on
// Ctrl-C. Its own settings: CALENDAR_SYNC_PORT (5003) and PROCESSOR_PORT (8000).
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createConnection, createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const env = process.env;
// Relative paths are the user's: pnpm runs root scripts in the root and passes the folder as INIT_CWD.
const userDir = env.INIT_CWD || process.cwd();
const redisUrl = env.REDIS_URL ?? "redis://127.0.0.1:6379";
const apiToken = env.API_TOKEN ?? randomBytes(24).toString("hex");
const dataDir = resolve(userDir, env.DATA_DIR ?? join(root, ".data"));
const color = process.stdout.isTTY && !env.NO_COLOR;
const paint = (code, text) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);

function say(text) {
  console.log(`${paint(1, "fogis")}  ${text}`);
}

/** Stops before anything started, with what to change. */
function stop(lines) {
  for (const line of lines) console.error(`${paint(1, "fogis")}  ${paint(31, line)}`);
  process.exit(1);
}

/** CALENDAR_SYNC_PORT / PROCESSOR_PORT: a port number, or the default. */
function portSetting(name, fallback, problems) {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 65_535) {
    problems.push(`${name}=${raw} is not a port: set it to a number from 1 to 65535 (default ${fallback})`);
    return fallback;
  }
  return Number(raw);
}

const redact = (url) => url.replace(/\/\/[^@]*@/, "//***@");

/** Resolves once nothing listens on 127.0.0.1:port (answers false when something does). */
function portFree(port) {
  return new Promise((resolvePort) => {
    const probe = createServer();
    probe.once("error", () => resolvePort(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolvePort(true)));
  });
}

/** True when something at the Redis URL accepts a connection and answers PING (or asks for AUTH). */
function redisAnswers(url, timeoutMs = 700) {
  let host;
  let port;
  try {
    const parsed = new URL(url);
    host = parsed.hostname || "127.0.0.1";
    port = Number(parsed.port || 6379);
    if (parsed.protocol === "rediss:") return Promise.resolve(true); // TLS: let the services judge
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolveProbe) => {
    const socket = createConnection({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolveProbe(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("*1\r\n$4\r\nPING\r\n"));
    socket.on("data", (chunk) => done(/^(\+PONG|-NOAUTH)/.test(String(chunk))));
  });
}

const LEVELS = { 10: "TRACE", 20: "DEBUG", 30: "INFO ", 40: "WARN ", 50: "ERROR", 60: "FATAL" };
const LEVEL_TINT = { 40: 33, 50: 31, 60: 31 };
const HIDDEN = new Set([
  "level",
  "time",
  "pid",
  "hostname",
  "name",
  "service",
  "msg",
  "req",
  "res",
  "responseTime",
]);

/** pino JSON -> one readable line: time, service, level, message, the interesting fields. */
function pretty(service, line) {
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    return `${paint(service.tint, service.name.padEnd(15))} ${line}`;
  }
  const time =
    typeof entry.time === "string" ? entry.time.slice(11, 19) : new Date().toISOString().slice(11, 19);
  const level = LEVELS[entry.level] ?? "INFO ";
  const extras = Object.entries(entry)
    .filter(([key]) => !HIDDEN.has(key))
    .map(([key, value]) => `${key}=${typeof value === "object" ? JSON.stringify(value) : value}`)
    .join(" ");
  const request = entry.req ? ` ${entry.req.method} ${entry.req.url} -> ${entry.res?.statusCode}` : "";
  return `${paint(90, time)} ${paint(service.tint, service.name.padEnd(15))} ${paint(LEVEL_TINT[entry.level] ?? 0, level)} ${entry.msg ?? ""}${request} ${paint(90, extras)}`;
}

function pipeLines(stream, service, write) {
  let buffer = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk) => {
    buffer += chunk;
    let index = buffer.indexOf("\n");
    while (index >= 0) {
      const line = buffer.slice(0, index);
      buffer = buffer.slice(index + 1);
      if (line.trim()) write(pretty(service, line));
      index = buffer.indexOf("\n");
    }
  });
}

const getJson = (url) =>
  fetch(url)
    .then((response) => response.json())
    .catch(() => ({}));

/** Polls until `probe` answers something truthy, or the time is up (then answers undefined). */
async function waitFor(probe, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value || Date.now() > deadline) return value || undefined;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main() {
  // The one build step everything uses (tsc -b: only what changed, quick when nothing did).
  const build = spawnSync("pnpm", ["build"], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  if (build.status !== 0) stop(["the build failed; fix the errors above and run pnpm start again"]);

  const problems = [];
  const calendarPort = portSetting("CALENDAR_SYNC_PORT", 5003, problems);
  const processorPort = portSetting("PROCESSOR_PORT", 8000, problems);
  if (calendarPort === processorPort) {
    problems.push(`CALENDAR_SYNC_PORT and PROCESSOR_PORT are both ${calendarPort}: give each its own port`);
  }
  if (problems.length) stop(problems);
  if (env.PORT !== undefined) {
    say(
      paint(
        33,
        `PORT=${env.PORT} is not read by pnpm start, which runs two services: the calendar feed listens on CALENDAR_SYNC_PORT (now ${calendarPort}), the processor on PROCESSOR_PORT (now ${processorPort})`,
      ),
    );
  }

  const services = [
    { name: "calendar-sync", port: calendarPort, portSetting: "CALENDAR_SYNC_PORT", tint: 36 },
    { name: "match-processor", port: processorPort, portSetting: "PROCESSOR_PORT", tint: 35 },
  ];
  const shared = {
    ...env,
    API_TOKEN: apiToken,
    REDIS_URL: redisUrl,
    HOST: "127.0.0.1",
    ...(env.MATCH_SOURCE_FILE ? { MATCH_SOURCE_FILE: resolve(userDir, env.MATCH_SOURCE_FILE) } : {}),
  };
  const perService = {
    "calendar-sync": {
      PORT: String(calendarPort),
      DATA_DIR: join(dataDir, "calendar-sync"),
      PROCESSOR_URL: `http://127.0.0.1:${processorPort}`,
    },
    "match-processor": {
      PORT: String(processorPort),
      DATA_DIR: join(dataDir, "match-processor"),
      CALENDAR_SYNC_URL: `http://127.0.0.1:${calendarPort}`,
      SERVICE_INTERVAL: env.SERVICE_INTERVAL ?? "60",
    },
  };

  // Each service's own config loader, before anything starts: a bad setting (REDIS_URL=notaurl)
  // is reported first, with the same message the service would print.
  const loaders = {
    "calendar-sync": (await import(pathToFileURL(join(root, "packages/calendar-sync/dist/index.js")).href))
      .loadCalendarSyncConfig,
    "match-processor": (
      await import(pathToFileURL(join(root, "packages/match-processor/dist/index.js")).href)
    ).loadProcessorConfig,
  };
  for (const service of services) {
    try {
      loaders[service.name]({ ...shared, ...perService[service.name] });
    } catch (error) {
      if (error?.name !== "ConfigError") throw error;
      stop(String(error.message).split("\n"));
    }
  }
  for (const service of services) {
    if (!(await portFree(service.port))) {
      stop([
        `port ${service.port} (${service.name}) is already in use on 127.0.0.1: stop what listens there, or choose another port: ${service.portSetting}=<port> pnpm start`,
      ]);
    }
  }

  // With Sentinel, REDIS_URL's host is not used: the services ask the sentinels for the master.
  const viaSentinels = Boolean(env.REDIS_SENTINELS && env.REDIS_SENTINEL_NAME);
  const redisUp =
    env.REDIS_PUBSUB_ENABLED === "false" ? false : viaSentinels || (await redisAnswers(redisUrl));
  if (env.REDIS_PUBSUB_ENABLED === "false") {
    say("REDIS_PUBSUB_ENABLED=false: the services talk over HTTP alone");
  } else if (viaSentinels) {
    say(
      `Redis master "${env.REDIS_SENTINEL_NAME}" through the sentinels ${env.REDIS_SENTINELS}: updates go over Redis pub/sub, HTTP is the fallback`,
    );
  } else if (redisUp) {
    say(`Redis answers at ${redact(redisUrl)}: updates go over Redis pub/sub, HTTP is the fallback`);
  } else {
    say(
      `no Redis at ${redact(redisUrl)}: running on HTTP alone (start redis-server, or set REDIS_URL, for pub/sub)`,
    );
  }
  shared.REDIS_PUBSUB_ENABLED = redisUp ? "true" : "false";

  const children = [];
  let stopping = false;
  const stopAll = (code) => {
    if (stopping) return;
    stopping = true;
    say("stopping ...");
    for (const { child } of children) if (child.exitCode === null) child.kill("SIGTERM");
    const force = setTimeout(() => {
      for (const { child } of children) if (child.exitCode === null) child.kill("SIGKILL");
    }, 10_000);
    force.unref();
    Promise.all(children.map(({ exited }) => exited)).then(() => {
      say("stopped");
      process.exit(code);
    });
  };
  process.on("SIGINT", () => stopAll(0));
  process.on("SIGTERM", () => stopAll(0));

  // How every way of running the services spawns them and waits for /health (with the flags of
  // packages/runtime/node-flags), from the build that just finished.
  const { spawnService, waitUntilServing } = await import(
    pathToFileURL(join(root, "packages/runtime/dist/index.js")).href
  );
  // calendar-sync first: the processor's first cycle delivers to it.
  for (const service of services) {
    const entry = join(root, "packages", service.name, "dist", "main.js");
    const child = spawnService(entry, { cwd: root, env: { ...shared, ...perService[service.name] } });
    pipeLines(child.stdout, service, (line) => console.log(line));
    pipeLines(child.stderr, service, (line) => console.error(line));
    const exited = new Promise((resolveExit) => child.once("exit", (code) => resolveExit(code)));
    exited.then((code) => {
      if (!stopping) {
        say(`${service.name} exited with code ${code} (its last lines above say why); stopping the stack`);
        stopAll(1);
      }
    });
    children.push({ service, child, exited });
    const verdict = await waitUntilServing(child, {
      baseUrl: `http://127.0.0.1:${service.port}`,
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    if (verdict !== "serving") {
      say(`${service.name} did not become healthy on port ${service.port}; see its log lines above`);
      stopAll(1);
      return;
    }
  }

  const processor = `http://127.0.0.1:${processorPort}`;
  const calendar = `http://127.0.0.1:${calendarPort}`;
  // What the processor really read: its first cycle runs at start (unless SERVICE_INTERVAL=0).
  const firstCycle =
    perService["match-processor"].SERVICE_INTERVAL === "0"
      ? undefined
      : await waitFor(async () => (await getJson(`${processor}/redis-status`)).last_cycle, 60_000);
  const status = await getJson(`${processor}/redis-status`);
  const sequence = firstCycle?.outcome === "delivered" ? firstCycle.sequence : undefined;
  if (sequence !== undefined) {
    // Delivered means calendar-sync took it; over Redis it applies a moment later.
    await waitFor(async () => {
      const applied = (await getJson(`${calendar}/redis-stats`)).stats?.last_applied?.sequence;
      return typeof applied === "number" && applied >= sequence;
    }, 30_000);
  }
  const feed = await fetch(`${calendar}/calendar.ics`)
    .then((r) => (r.ok ? r.text() : ""))
    .catch(() => "");
  const events = feed.split("BEGIN:VEVENT").length - 1;
  const source = status.source ?? "the match list";
  const route = status.delivery_path ?? "unknown";
  const token = env.API_TOKEN ? "$API_TOKEN" : apiToken;

  let headline;
  if (!firstCycle) {
    headline = `${paint(1, "FOGIS Realtime is running")}: no cycle yet (SERVICE_INTERVAL=0: run one with the POST /process below); ${events} events in the calendar, delivery via ${route}`;
  } else if (firstCycle.outcome === "source_failed") {
    headline = [
      `${paint(1, "FOGIS Realtime is running")}, but ${paint(31, "it has no match list")}: ${firstCycle.error}`,
      `  Fix: ${env.MATCH_SOURCE_FILE ? "point MATCH_SOURCE_FILE at a readable JSON match list" : "check FOGIS_API_CLIENT_URL"}; it is read again every cycle (SERVICE_INTERVAL=${perService["match-processor"].SERVICE_INTERVAL} s).`,
      events > 0
        ? `  The calendar keeps the ${events} events it had (${join(dataDir, "calendar-sync")}) until then.`
        : "  The calendar stays empty until then.",
    ].join("\n");
  } else {
    headline = `${paint(1, "FOGIS Realtime is running")}: ${firstCycle.total_matches} matches from ${source}; ${events} events in the calendar, delivery via ${route}`;
  }

  console.log(`
${headline}

  status page     http://localhost:${calendarPort}/
  calendar feed   http://localhost:${calendarPort}/calendar.ics
  phonebook       http://localhost:${calendarPort}/contacts.vcf
  status          http://localhost:${calendarPort}/redis-status   http://localhost:${processorPort}/redis-status
  latest snapshot http://localhost:${processorPort}/matches/latest
  run a cycle     curl -X POST -H "Authorization: Bearer ${token}" http://localhost:${processorPort}/process

Ctrl-C stops both services.
`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
