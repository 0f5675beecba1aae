#!/usr/bin/env node
// `pnpm start`: the whole stack on this machine without Docker. Builds (pnpm build), runs
// match-processor and calendar-sync with the demo match list and one shared API token, uses
// Redis at REDIS_URL when it answers and HTTP alone when it does not, and stops both on Ctrl-C.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createConnection } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const env = process.env;
const processorPort = Number(env.PROCESSOR_PORT ?? 8000);
const calendarPort = Number(env.CALENDAR_SYNC_PORT ?? 5003);
const redisUrl = env.REDIS_URL ?? "redis://127.0.0.1:6379";
const apiToken = env.API_TOKEN ?? randomBytes(24).toString("hex");
const dataDir = env.DATA_DIR ?? join(root, ".data");
const color = process.stdout.isTTY && !env.NO_COLOR;
const paint = (code, text) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);

const services = [
  { name: "calendar-sync", pkg: "calendar-sync", port: calendarPort, tint: 36 },
  { name: "match-processor", pkg: "match-processor", port: processorPort, tint: 35 },
];

function say(text) {
  console.log(`${paint(1, "fogis")}  ${text}`);
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
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
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

async function waitForHealth(port, child, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return false;
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      if (response.ok) return true;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

async function main() {
  // The one build step everything uses (tsc -b: only what changed, quick when nothing did).
  const build = spawnSync("pnpm", ["build"], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  if (build.status !== 0) {
    say("the build failed; fix the errors above and run pnpm start again");
    process.exit(1);
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
    say(
      `Redis answers at ${redisUrl.replace(/\/\/[^@]*@/, "//***@")}: updates go over Redis pub/sub, HTTP is the fallback`,
    );
  } else {
    say(
      `no Redis at ${redisUrl.replace(/\/\/[^@]*@/, "//***@")}: running on HTTP alone (start redis-server, or set REDIS_URL, for pub/sub)`,
    );
  }

  const shared = {
    ...env,
    API_TOKEN: apiToken,
    REDIS_URL: redisUrl,
    REDIS_PUBSUB_ENABLED: redisUp ? "true" : "false",
    HOST: "127.0.0.1",
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

  for (const service of services) {
    const child = spawn(process.execPath, [join(root, "packages", service.pkg, "dist", "main.js")], {
      cwd: root,
      env: { ...shared, ...perService[service.name] },
      stdio: ["ignore", "pipe", "pipe"],
    });
    pipeLines(child.stdout, service, (line) => console.log(line));
    pipeLines(child.stderr, service, (line) => console.error(line));
    const exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    exited.then((code) => {
      if (!stopping) {
        say(`${service.name} exited with code ${code}; stopping the stack`);
        stopAll(1);
      }
    });
    children.push({ service, child, exited });
    if (!(await waitForHealth(service.port, child))) {
      say(`${service.name} did not become healthy on port ${service.port}; see its log lines above`);
      stopAll(1);
      return;
    }
  }

  // The processor runs its first cycle at start; wait until the calendar shows it.
  let events = 0;
  for (let i = 0; i < 50 && events === 0; i++) {
    const feed = await fetch(`http://127.0.0.1:${calendarPort}/calendar.ics`)
      .then((r) => (r.ok ? r.text() : ""))
      .catch(() => "");
    events = feed.split("BEGIN:VEVENT").length - 1;
    if (events === 0) await new Promise((r) => setTimeout(r, 200));
  }
  const status = await fetch(`http://127.0.0.1:${processorPort}/redis-status`)
    .then((r) => r.json())
    .catch(() => ({}));
  const route = status.delivery_path ?? "unknown";

  console.log(`
${paint(1, "FOGIS Realtime is running")}: demo match list, ${events} matches in the calendar, delivery via ${route}

  calendar feed   http://localhost:${calendarPort}/calendar.ics
  phonebook       http://localhost:${calendarPort}/contacts.vcf
  status          http://localhost:${calendarPort}/redis-status   http://localhost:${processorPort}/redis-status
  latest snapshot http://localhost:${processorPort}/matches/latest
  run a cycle     curl -X POST -H "Authorization: Bearer ${env.API_TOKEN ? "$API_TOKEN" : apiToken}" http://localhost:${processorPort}/process

Ctrl-C stops both services.
`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
