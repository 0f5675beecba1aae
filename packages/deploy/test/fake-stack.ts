import {
  createMatchUpdatesEnvelope,
  createProcessingStatusEnvelope,
  DEFAULT_CHANNELS,
  type Match,
} from "@fogis/message-schema";
import { fogisMatchList } from "@fogis/testing";
import { ComposeError } from "../src/errors.js";
import type { ComposeAction, ServiceName } from "../src/phases.js";
import { PlainProgress } from "../src/progress.js";
import type {
  ChannelMessage,
  ChannelProbe,
  ContainerInfo,
  Engine,
  EventWatch,
  ExecResult,
  HttpResponse,
  Runtime,
} from "../src/runtime.js";
import type { PhaseStore, RecordedPhase } from "../src/state-file.js";

/**
 * An in-memory FOGIS stack that behaves like the real one where the rollout looks: compose
 * recreates containers with the pub/sub switch it is given, redis-cli answers PING / CONFIG GET /
 * PUBSUB NUMSUB, and the two services answer their endpoints the way DESIGN §8 says, including
 * the processor's route choice (Redis when a PUBLISH has receivers, else HTTP). Knobs break parts
 * of it on purpose. Time is virtual: `sleep` advances the clock at once.
 */

const PROCESSOR_PORT = 18_000;
const CALENDAR_PORT = 15_003;

export interface FakeKnobs {
  /** calendar-sync with pub/sub on never subscribes (an unreachable Redis URL). */
  calendarRedisUnreachable: boolean;
  appendonly: "yes" | "no";
  /** Compose fails for actions this returns true for. */
  composeFails: (action: ComposeAction) => boolean;
}

interface FakeContainer extends ContainerInfo {
  pubsub: boolean;
}

export class FakeStack {
  readonly knobs: FakeKnobs = {
    calendarRedisUnreachable: false,
    appendonly: "yes",
    composeFails: () => false,
  };
  readonly composeLog: string[] = [];
  readonly containers = new Map<ServiceName, FakeContainer>();
  clock = 0;
  private nextId = 1;
  private probes: Array<{ channels: string[]; messages: ChannelMessage[] }> = [];
  matches: Match[] = fogisMatchList(3, 6_100_000, "2030-05-01");
  private sequence = 0;
  private confirmedHash: string | null = null;
  private confirmedRoute: "redis" | "http" | null = null;
  private cycle = 0;
  private readonly processor = {
    delivered_via_redis: 0,
    delivered_via_http: 0,
    delivery_failures: 0,
    zero_receiver_publishes: 0,
  };
  private readonly calendar = {
    processed: 0,
    received: { redis: 0, http: 0, resync: 0 },
    failed: 0,
    lastSequence: null as number | null,
  };
  private calendarMatchIds: number[] = [];
  private latest: ReturnType<typeof createMatchUpdatesEnvelope> | null = null;

  /** Puts the stack at a phase's settings directly (the state a previous run left). */
  static at(settings: { redis: boolean; processor: boolean; calendar: boolean } | null): FakeStack {
    const stack = new FakeStack();
    if (settings) {
      stack.create("redis", false);
      if (!settings.redis) (stack.containers.get("redis") as FakeContainer).state = "exited";
      stack.create("match-processor", settings.processor);
      stack.create("calendar-sync", settings.calendar);
      stack.calendarMatchIds = stack.matches.map((match) => match.matchid);
    }
    return stack;
  }

  runtime(): Runtime {
    return {
      compose: {
        executable: "docker-compose",
        commandLine: (action) => describeCompose(action),
        run: async (action) => this.compose(action),
      },
      engine: this.engine(),
      http: { request: async (url, init) => this.http(url, init.method ?? "GET", init.body) },
      sleep: async (ms) => {
        this.clock += ms;
        await Promise.resolve();
      },
      now: () => this.clock,
    };
  }

  /** Whether the container is up with pub/sub on. */
  pubsub(service: "match-processor" | "calendar-sync"): boolean | undefined {
    return this.containers.get(service)?.pubsub;
  }

  state(service: ServiceName): string | undefined {
    return this.containers.get(service)?.state;
  }

  private create(service: ServiceName, pubsub: boolean): void {
    const port = service === "match-processor" ? 8000 : service === "calendar-sync" ? 5003 : 6379;
    const hostPort =
      service === "match-processor" ? PROCESSOR_PORT : service === "calendar-sync" ? CALENDAR_PORT : 16_379;
    this.containers.set(service, {
      service,
      id: `${service}-${this.nextId++}`,
      name: `fake_${service}_1`,
      state: "running",
      health: "healthy",
      env: {
        ...(service === "redis" ? { REDISCLI_AUTH: "secret" } : { API_TOKEN: "token-0123456789abcdef" }),
        ...(service === "redis" ? {} : { REDIS_PUBSUB_ENABLED: String(pubsub), PORT: String(port) }),
      },
      ports: { [`${port}/tcp`]: { hostIp: "127.0.0.1", hostPort } },
      startedAt: new Date(0).toISOString(),
      pubsub,
    });
  }

  private async compose(action: ComposeAction): Promise<void> {
    this.composeLog.push(describeCompose(action));
    if (this.knobs.composeFails(action))
      throw new ComposeError(`compose ${action.kind} failed`, "fake compose output");
    for (const service of action.services) {
      const existing = this.containers.get(service);
      if (action.kind === "stop") {
        if (existing) existing.state = "exited";
        continue;
      }
      const pubsub =
        service === "match-processor"
          ? action.env.MATCH_PROCESSOR_REDIS_PUBSUB_ENABLED === "true"
          : action.env.CALENDAR_SYNC_REDIS_PUBSUB_ENABLED === "true";
      const changed = service !== "redis" && existing?.pubsub !== pubsub;
      if (!existing || action.recreate || changed) this.create(service, pubsub);
      else existing.state = "running";
    }
  }

  private redisUp(): boolean {
    return this.containers.get("redis")?.state === "running";
  }

  private calendarSubscribed(): boolean {
    return Boolean(this.pubsub("calendar-sync")) && this.redisUp() && !this.knobs.calendarRedisUnreachable;
  }

  private engine(): Engine {
    return {
      endpoint: "fake://engine",
      ping: async () => undefined,
      containers: async () =>
        [...this.containers.values()].map(({ pubsub: _pubsub, ...info }) => ({ ...info })),
      exec: async (_id, cmd) => this.redisCli(cmd),
      subscribe: async (_id, channels): Promise<ChannelProbe> => {
        const probe = { channels, messages: [] as ChannelMessage[] };
        this.probes.push(probe);
        return {
          messages: probe.messages,
          ready: Promise.resolve(),
          close: async () => {
            this.probes = this.probes.filter((p) => p !== probe);
          },
        };
      },
      logs: async (id, tail) => [`log of ${id}: last line`, `(${tail} asked)`],
      pause: async () => {
        (this.containers.get("redis") as FakeContainer).state = "paused";
      },
      unpause: async () => {
        (this.containers.get("redis") as FakeContainer).state = "running";
      },
      watchEvents: async (): Promise<EventWatch> => ({ events: [], stop: () => undefined }),
    };
  }

  private redisCli(cmd: string[]): ExecResult {
    const args = cmd.filter((arg) => arg !== "redis-cli" && arg !== "--raw");
    if (!this.redisUp()) return { exitCode: 1, stdout: "", stderr: "Could not connect to Redis" };
    const ok = (stdout: string): ExecResult => ({ exitCode: 0, stdout, stderr: "" });
    if (args[0] === "PING") return ok("PONG\n");
    if (args[0] === "CONFIG") return ok(`appendonly\n${this.knobs.appendonly}\n`);
    if (args[0] === "PUBSUB") {
      const subscribers =
        (this.calendarSubscribed() ? 1 : 0) +
        this.probes.filter((p) => p.channels.includes(args[2] as string)).length;
      return ok(`${args[2]}\n${subscribers}\n`);
    }
    if (cmd[0] === "sh") return ok("");
    return { exitCode: 1, stdout: "", stderr: `unknown command ${args.join(" ")}` };
  }

  /** PUBLISH as Redis does it: to every subscriber of the channel; answers the receiver count. */
  private publish(channel: string, payload: string, calendarOrigin: boolean): number {
    let receivers = 0;
    for (const probe of this.probes) {
      if (probe.channels.includes(channel)) {
        probe.messages.push({ channel, payload });
        receivers++;
      }
    }
    if (calendarOrigin && this.calendarSubscribed()) {
      this.calendar.received.redis++;
      this.calendar.processed++;
      receivers++;
    }
    return receivers;
  }

  private applyToCalendar(envelope: ReturnType<typeof createMatchUpdatesEnvelope>): void {
    this.calendarMatchIds = envelope.payload.matches.map((match) => match.matchid);
    this.calendar.lastSequence = envelope.payload.metadata?.sequence ?? this.calendar.lastSequence;
  }

  private runCycle(resend = false): Record<string, unknown> {
    const cycle = ++this.cycle;
    const processorRedis = Boolean(this.pubsub("match-processor")) && this.redisUp();
    const status = (state: string) =>
      processorRedis &&
      this.publish(
        DEFAULT_CHANNELS.processorStatus,
        JSON.stringify(
          createProcessingStatusEnvelope({ source: "match-processor", status: state, details: { cycle } }),
        ),
        true,
      );
    status("started");
    const hash = JSON.stringify(this.matches);
    const recovered = processorRedis && this.confirmedRoute === "http";
    const reason =
      hash !== this.confirmedHash ? "changes" : recovered ? "redis_recovered" : resend ? "resend" : null;
    let delivery: Record<string, unknown> = {
      route: "none",
      confirmed: false,
      receivers: 0,
      sequence: null,
      message_id: null,
      errors: [],
    };
    if (reason) {
      const envelope = createMatchUpdatesEnvelope({
        source: "match-processor",
        matches: this.matches,
        sequence: ++this.sequence,
      });
      this.latest = envelope;
      const body = JSON.stringify(envelope);
      let receivers = 0;
      let route: "redis" | "http" = "http";
      if (processorRedis) {
        receivers = this.publish(DEFAULT_CHANNELS.matchUpdates, body, true);
        if (receivers > 0) route = "redis";
        else this.processor.zero_receiver_publishes++;
      }
      if (route === "http") {
        this.calendar.received.http++;
        this.calendar.processed++;
      }
      if (route === "http" || this.calendarSubscribed()) this.applyToCalendar(envelope);
      this.processor[route === "redis" ? "delivered_via_redis" : "delivered_via_http"]++;
      this.confirmedHash = hash;
      this.confirmedRoute = route;
      delivery = {
        route,
        confirmed: true,
        receivers,
        sequence: envelope.payload.metadata?.sequence,
        message_id: envelope.message_id,
        errors: [],
      };
    }
    status("completed");
    return {
      success: true,
      cycle,
      outcome: reason ? "delivered" : "unchanged",
      publish_reason: reason,
      delivery,
    };
  }

  private http(url: string, method: string, body: string | undefined): HttpResponse {
    const { port, pathname, searchParams } = new URL(url);
    const json = (value: unknown, status = 200): HttpResponse => ({ status, text: JSON.stringify(value) });
    const service = Number(port) === PROCESSOR_PORT ? "match-processor" : "calendar-sync";
    if (this.containers.get(service)?.state !== "running") throw new Error("ECONNREFUSED");
    const route = `${method} ${pathname}`;
    if (service === "match-processor") {
      const enabled = Boolean(this.pubsub("match-processor"));
      const connected = enabled && (this.redisUp() || this.state("redis") === "paused");
      switch (route) {
        case "GET /redis-status":
          return json({
            success: true,
            status: !enabled || connected ? "pass" : "warn",
            delivery_path: connected ? "redis" : "http",
            redis_status: { enabled, connected, subscribed: false, redis_available: connected },
            fallback: { configured: true, url: "http://calendar-sync:5003/manual-sync" },
            delivery: { ...this.processor },
          });
        case "POST /process":
          return json(this.runCycle(searchParams.get("resend") === "true"));
        case "GET /matches/latest":
          return this.latest ? json(this.latest) : json({ success: false }, 404);
        case "GET /metrics":
          return {
            status: 200,
            text: `fogis_processor_envelopes_delivered_total{route="redis",service="match-processor"} ${this.processor.delivered_via_redis}\n`,
          };
      }
    } else {
      const enabled = Boolean(this.pubsub("calendar-sync"));
      const subscribed = this.calendarSubscribed();
      switch (route) {
        case "GET /redis-status":
          return json({
            success: true,
            status: !enabled || subscribed ? "pass" : "warn",
            delivery_path: subscribed ? "redis" : "http",
            redis_status: { enabled, connected: subscribed, subscribed, redis_available: subscribed },
          });
        case "GET /redis-stats":
          return json({
            success: true,
            stats: {
              messages_received: this.calendar.received.redis + this.calendar.received.http,
              messages_processed: this.calendar.processed,
              messages_failed: this.calendar.failed,
              last_sequence: this.calendar.lastSequence,
              heartbeat_misses: 0,
              reconnects: 0,
            },
          });
        case "GET /metrics":
          return {
            status: 200,
            text: Object.entries(this.calendar.received)
              .map(
                ([origin, count]) =>
                  `fogis_calendar_messages_received_total{origin="${origin}",service="calendar-sync"} ${count}`,
              )
              .join("\n"),
          };
        case "GET /calendar.ics":
          return {
            status: 200,
            text: [
              "BEGIN:VCALENDAR",
              ...this.calendarMatchIds.map((id) => `UID:fogis-match-${id}@fogis-realtime`),
              "END:VCALENDAR",
            ].join("\r\n"),
          };
        case "POST /manual-sync": {
          const envelope = JSON.parse(body ?? "{}");
          this.calendar.received.http++;
          this.calendar.processed++;
          this.applyToCalendar(envelope);
          return json({ success: true, status: "applied" });
        }
        case "POST /redis-test":
          return subscribed
            ? json({ success: true, latency_ms: 0.4 })
            : json({ success: false, error: "not subscribed" }, 503);
      }
    }
    return json({ success: false, error: `no route for ${route}` }, 404);
  }
}

export function describeCompose(action: ComposeAction): string {
  if (action.kind === "stop") return `stop ${action.services.join(" ")}`;
  const env = Object.entries(action.env).map(([key, value]) => `${key}=${value}`);
  return [
    ...env,
    "up -d --no-deps",
    ...(action.recreate ? ["--force-recreate"] : []),
    ...action.services,
  ].join(" ");
}

export class MemoryPhaseStore implements PhaseStore {
  readonly location = "(memory)";
  constructor(public state: RecordedPhase | null = null) {}

  async read(): Promise<RecordedPhase | null> {
    return this.state;
  }

  async write(state: RecordedPhase): Promise<void> {
    this.state = state;
  }
}

/** Progress that collects the plain lines for assertions. */
export function recordingProgress(): { progress: PlainProgress; output: () => string } {
  let text = "";
  return { progress: new PlainProgress((chunk) => (text += chunk)), output: () => text };
}
