import { resolveChannels } from "@fogis/message-schema";
import { parseEnvBoolean } from "@fogis/runtime";
import { PreconditionError } from "./errors.js";
import {
  type AppService,
  type PhaseNumber,
  phaseOfSettings,
  type ServiceName,
  type StackSettings,
} from "./phases.js";
import type { ChannelProbe, ContainerInfo, ExecResult, Runtime } from "./runtime.js";

/**
 * The FOGIS stack as the rollout sees it: its three containers (found by compose labels) and the
 * services' HTTP endpoints (DESIGN §8) on their published loopback ports. Tokens and passwords are
 * read from the containers' own environment, so the tool uses exactly what the services use, and
 * never prints them.
 */

const APP_PORTS: Record<AppService, number> = { "match-processor": 8000, "calendar-sync": 5003 };

/**
 * A service container's REDIS_PUBSUB_ENABLED, read exactly as the service's own config loader reads
 * it (unset or blank: on); undefined when it is neither true nor false.
 */
export function pubsubSetting(env: Record<string, string>): boolean | undefined {
  return parseEnvBoolean(env.REDIS_PUBSUB_ENABLED, true);
}

/** The pub/sub switch of a running service; a value the service itself would refuse stops the tool. */
function runningPubsub(service: AppService, container: ContainerInfo): boolean {
  const setting = pubsubSetting(container.env);
  if (setting === undefined) {
    throw new PreconditionError(
      `${service} runs with REDIS_PUBSUB_ENABLED="${container.env.REDIS_PUBSUB_ENABLED}", which is neither true nor false: set it to true or false (compose file or .env) and recreate ${service}`,
    );
  }
  return setting;
}

export interface Observation {
  containers: Partial<Record<ServiceName, ContainerInfo>>;
  /** null when match-processor or calendar-sync is not running. */
  settings: StackSettings | null;
  /** The phase the settings match (3 for 3 and 4), or null. */
  settingsPhase: Exclude<PhaseNumber, 4> | null;
  /** No container of the project exists at all. */
  empty: boolean;
}

export interface ServiceAnswer<T = unknown> {
  status: number;
  body: T | undefined;
  text: string;
}

/** `/redis-status` (DESIGN §8): the Python fields plus `status` and `delivery_path`. */
export interface RedisStatusReport {
  success?: boolean;
  status?: "pass" | "warn" | "fail";
  delivery_path?: "redis" | "http" | "none";
  redis_status?: { enabled?: boolean; connected?: boolean; subscribed?: boolean; redis_available?: boolean };
  [key: string]: unknown;
}

export interface CycleAnswer {
  success?: boolean;
  cycle?: number;
  outcome?: string;
  publish_reason?: string | null;
  delivery?: {
    route?: string;
    confirmed?: boolean;
    receivers?: number;
    sequence?: number | null;
    message_id?: string | null;
    errors?: string[];
  };
  error?: string;
}

export class StackError extends Error {
  override name = "StackError";
  constructor(
    message: string,
    readonly service?: ServiceName,
  ) {
    super(message);
  }
}

export function isRunning(container: ContainerInfo | undefined): container is ContainerInfo {
  return container?.state === "running";
}

export class Stack {
  constructor(
    readonly runtime: Runtime,
    private readonly requestTimeoutMs = 10_000,
  ) {}

  async observe(): Promise<Observation> {
    const list = await this.runtime.engine.containers();
    const containers: Observation["containers"] = {};
    for (const container of list) containers[container.service] = container;
    const processor = containers["match-processor"];
    const calendar = containers["calendar-sync"];
    const redis = containers.redis;
    const settings =
      isRunning(processor) && isRunning(calendar)
        ? {
            redisRunning: redis?.state === "running" || redis?.state === "paused",
            processorPubsub: runningPubsub("match-processor", processor),
            calendarPubsub: runningPubsub("calendar-sync", calendar),
          }
        : null;
    return {
      containers,
      settings,
      settingsPhase: settings ? phaseOfSettings(settings) : null,
      empty: list.length === 0,
    };
  }

  async container(service: ServiceName): Promise<ContainerInfo | undefined> {
    return (await this.observe()).containers[service];
  }

  async requireContainer(service: ServiceName): Promise<ContainerInfo> {
    const container = await this.container(service);
    if (!container) throw new StackError(`no ${service} container in the project`, service);
    return container;
  }

  /** Names of the channels the processor publishes on (its env, else the Python defaults). */
  async channels() {
    const processor = await this.container("match-processor");
    return resolveChannels(processor?.env ?? {});
  }

  async url(service: AppService): Promise<string> {
    const container = await this.requireContainer(service);
    const port = Number(container.env.PORT) || APP_PORTS[service];
    const binding = container.ports[`${port}/tcp`];
    if (!binding) {
      throw new StackError(
        `${service}'s port ${port} is not published on the host; the deploy tool talks to it over 127.0.0.1 (compose ports: "127.0.0.1:<host port>:${port}")`,
        service,
      );
    }
    const host =
      binding.hostIp && binding.hostIp !== "0.0.0.0" && binding.hostIp !== "::"
        ? binding.hostIp
        : "127.0.0.1";
    return `http://${host.includes(":") ? `[${host}]` : host}:${binding.hostPort}`;
  }

  async get<T>(
    service: AppService,
    path: string,
    timeoutMs = this.requestTimeoutMs,
  ): Promise<ServiceAnswer<T>> {
    return this.request<T>(service, "GET", path, undefined, timeoutMs);
  }

  /** POST with the service's own bearer token (API_TOKEN from its container). */
  async post<T>(
    service: AppService,
    path: string,
    body?: string,
    timeoutMs = this.requestTimeoutMs,
  ): Promise<ServiceAnswer<T>> {
    return this.request<T>(service, "POST", path, body, timeoutMs);
  }

  async redisStatus(service: AppService): Promise<RedisStatusReport> {
    const answer = await this.get<RedisStatusReport>(service, "/redis-status");
    if (!answer.body)
      throw new StackError(`${service} /redis-status answered ${answer.status} without JSON`, service);
    return answer.body;
  }

  async calendarStats(): Promise<Record<string, unknown>> {
    const answer = await this.get<{ stats?: Record<string, unknown> }>("calendar-sync", "/redis-stats");
    if (!answer.body?.stats)
      throw new StackError(`calendar-sync /redis-stats answered ${answer.status}`, "calendar-sync");
    return answer.body.stats;
  }

  /** POST /process: one processing cycle now. Cycles may wait for a slow match source. */
  /** `resend`: the processor sends its current snapshot even when the list did not change. */
  async runCycle({ resend = false }: { resend?: boolean } = {}): Promise<ServiceAnswer<CycleAnswer>> {
    return this.post<CycleAnswer>(
      "match-processor",
      resend ? "/process?resend=true" : "/process",
      undefined,
      Math.max(this.requestTimeoutMs, 60_000),
    );
  }

  /** The calendar feed, with `?token=` when calendar-sync has a FEED_TOKEN. */
  async calendarFeed(): Promise<string> {
    const calendar = await this.requireContainer("calendar-sync");
    const token = calendar.env.FEED_TOKEN?.trim();
    const answer = await this.get(
      "calendar-sync",
      token ? `/calendar.ics?token=${encodeURIComponent(token)}` : "/calendar.ics",
    );
    if (answer.status !== 200)
      throw new StackError(`calendar-sync /calendar.ics answered ${answer.status}`, "calendar-sync");
    return answer.text;
  }

  /** `redis-cli <args>` inside the redis container (its REDISCLI_AUTH, or the password in the processor's REDIS_URL). */
  async redisCli(args: string[], timeoutMs = 10_000): Promise<ExecResult> {
    const redis = await this.requireContainer("redis");
    return this.runtime.engine.exec(redis.id, ["redis-cli", ...(await this.authArgs(redis)), ...args], {
      timeoutMs,
    });
  }

  /** Holds a subscription on `channels` inside the redis container: a receiver for a gate. */
  async probeChannels(channels: string[], maxSeconds: number): Promise<ChannelProbe> {
    const redis = await this.requireContainer("redis");
    return this.runtime.engine.subscribe(redis.id, channels, {
      maxSeconds,
      redisCliArgs: await this.authArgs(redis),
    });
  }

  async logs(service: ServiceName, tail: number): Promise<string[]> {
    const container = await this.container(service);
    return container ? this.runtime.engine.logs(container.id, tail) : [`(no ${service} container)`];
  }

  private async authArgs(redis: ContainerInfo): Promise<string[]> {
    if (redis.env.REDISCLI_AUTH) return [];
    const processor = await this.container("match-processor");
    const url = processor?.env.REDIS_URL;
    if (!url) return [];
    try {
      const password = decodeURIComponent(new URL(url).password);
      return password ? ["--no-auth-warning", "-a", password] : [];
    } catch {
      return [];
    }
  }

  private async request<T>(
    service: AppService,
    method: "GET" | "POST",
    path: string,
    body: string | undefined,
    timeoutMs: number,
  ): Promise<ServiceAnswer<T>> {
    const base = await this.url(service);
    const headers: Record<string, string> = {};
    if (method === "POST") {
      const container = await this.requireContainer(service);
      const token = container.env.API_TOKEN;
      if (token) headers.Authorization = `Bearer ${token}`;
      if (body !== undefined) headers["Content-Type"] = "application/json";
    }
    let response: Awaited<ReturnType<Runtime["http"]["request"]>>;
    try {
      response = await this.runtime.http.request(`${base}${path}`, { method, headers, body, timeoutMs });
    } catch (error) {
      throw new StackError(`${method} ${service} ${path}: ${(error as Error).message}`, service);
    }
    let parsed: T | undefined;
    try {
      parsed = JSON.parse(response.text) as T;
    } catch {
      parsed = undefined;
    }
    return { status: response.status, body: parsed, text: response.text };
  }
}
