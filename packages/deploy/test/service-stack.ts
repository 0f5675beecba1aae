import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCalendarSyncService, loadCalendarSyncConfig } from "@fogis/calendar-sync";
import { createMatchProcessorService, loadProcessorConfig } from "@fogis/match-processor";
import { closeServer, createLogger, listen } from "@fogis/runtime";
import { fogisMatchList, freePort, plainRedisClient, type RedisHandle, startRedis } from "@fogis/testing";
import type { Redis } from "ioredis";
import { ComposeError } from "../src/errors.js";
import { fetchHttpClient } from "../src/http.js";
import { type AppService, type ComposeAction, PUBSUB_VARIABLES, type ServiceName } from "../src/phases.js";
import { PlainProgress } from "../src/progress.js";
import type {
  ChannelMessage,
  ChannelProbe,
  ContainerInfo,
  Engine,
  EngineEvent,
  ExecResult,
  Runtime,
} from "../src/runtime.js";
import type { PhaseStore, RecordedPhase } from "../src/state-file.js";

/**
 * The FOGIS stack for the rollout's tests: the real services (`createMatchProcessorService`,
 * `createCalendarSyncService`, built from an environment by their own config loaders) on loopback
 * ports in this process, and a real Redis the test owns. Only Docker is stood in for: "compose"
 * creates, recreates and stops these services with the environment the compose file gives them,
 * and the "engine" lists them as containers, runs redis-cli commands, holds a probe subscription,
 * pauses Redis and hands out each service's own log lines. Service names resolve the way compose's
 * network resolves them (`http://calendar-sync:5003` is calendar-sync, wherever it listens).
 */

const TOKEN = "deploy-test-token-0123456789abcdef";
const CONTAINER_PORTS: Record<AppService, number> = { "match-processor": 8000, "calendar-sync": 5003 };

export interface StackKnobs {
  /** Redis's `appendonly` as the compose file's command line sets it at every start (ours: yes). */
  appendonly: "yes" | "no";
  /** calendar-sync gets a Redis address where nothing answers (like CALENDAR_SYNC_REDIS_PORT=6390). */
  calendarRedisUnreachable: boolean;
  /** Compose fails for actions this returns true for. */
  composeFails: (action: ComposeAction) => boolean;
}

interface RunningService {
  stop(): Promise<void>;
}

interface Container extends ContainerInfo {
  pubsub: boolean;
  running?: RunningService;
  logLines: string[];
}

export interface StackSettings {
  redis: boolean;
  processor: boolean;
  calendar: boolean;
}

export class ServiceStack {
  readonly knobs: StackKnobs = {
    appendonly: "yes",
    calendarRedisUnreachable: false,
    composeFails: () => false,
  };
  readonly composeLog: string[] = [];
  private readonly containers = new Map<ServiceName, Container>();
  private readonly events: EngineEvent[] = [];
  private readonly probes = new Set<Redis>();
  private nextId = 1;
  private readonly dir = mkdtempSync(join(tmpdir(), "fogis-deploy-stack-"));

  private constructor(
    private readonly redis: RedisHandle,
    private readonly unreachableRedisUrl: string,
  ) {
    writeFileSync(join(this.dir, "matches.json"), JSON.stringify(fogisMatchList(3, 6_100_000, "2030-05-01")));
  }

  /** A stack as a previous run left it: `null` is a project with no containers at all. */
  static async at(settings: StackSettings | null): Promise<ServiceStack> {
    const redis = await startRedis({
      owned: true,
      password: "redis-password-of-the-stack",
      args: ["--appendonly", "yes"],
    });
    const stack = new ServiceStack(redis, `redis://:x@127.0.0.1:${await freePort()}`);
    if (settings) {
      stack.create("redis", false);
      await stack.applyRedisCommandLine();
      if (!settings.redis) await stack.stopContainer("redis");
      await stack.createService("match-processor", settings.processor);
      await stack.createService("calendar-sync", settings.calendar);
    } else {
      // No redis container yet: the server waits, stopped, for compose to create one.
      await redis.stop();
    }
    return stack;
  }

  runtime(): Runtime {
    return {
      compose: {
        executable: "docker-compose",
        commandLine: (action) => describeCompose(action),
        run: (action) => this.compose(action),
      },
      engine: this.engine(),
      http: fetchHttpClient,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      now: () => performance.now(),
    };
  }

  /** Whether the container is up with pub/sub on. */
  pubsub(service: AppService): boolean | undefined {
    return this.containers.get(service)?.pubsub;
  }

  state(service: ServiceName): string | undefined {
    return this.containers.get(service)?.state;
  }

  async close(): Promise<void> {
    for (const probe of this.probes) probe.disconnect();
    for (const container of this.containers.values()) await container.running?.stop();
    await this.redis.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  // --- compose ----------------------------------------------------------------------------------

  private async compose(action: ComposeAction): Promise<void> {
    this.composeLog.push(describeCompose(action));
    if (this.knobs.composeFails(action))
      throw new ComposeError(`compose ${action.kind} failed`, "compose output of the stand-in");
    for (const service of action.services) {
      const existing = this.containers.get(service);
      if (action.kind === "stop") {
        if (existing) await this.stopContainer(service);
        continue;
      }
      if (service === "redis") {
        if (!existing) {
          // The first redis container: its server has waited, stopped, since the stack was made.
          await this.redis.start();
          this.create("redis", false);
          await this.applyRedisCommandLine();
        } else if (existing.state !== "running") await this.startRedis();
        continue;
      }
      const pubsub = action.env[PUBSUB_VARIABLES[service]] === "true";
      if (!existing || action.recreate || existing.pubsub !== pubsub) {
        if (existing) await this.stopContainer(service);
        await this.createService(service, pubsub);
      } else if (existing.state !== "running") {
        await this.createService(service, existing.pubsub);
      }
    }
  }

  private create(service: ServiceName, pubsub: boolean, env: Record<string, string> = {}): Container {
    const containerPort = service === "redis" ? 6379 : CONTAINER_PORTS[service];
    const container: Container = {
      service,
      id: `${service}-${this.nextId++}`,
      name: `stack_${service}_1`,
      state: "running",
      health: "healthy",
      env: service === "redis" ? { REDISCLI_AUTH: this.redis.password ?? "" } : env,
      ports: {
        [`${containerPort}/tcp`]: {
          hostIp: "127.0.0.1",
          hostPort: service === "redis" ? this.redis.port : 0,
        },
      },
      startedAt: new Date().toISOString(),
      pubsub,
      logLines: [],
    };
    this.containers.set(service, container);
    this.event(container, "create");
    this.event(container, "start");
    return container;
  }

  private async createService(service: AppService, pubsub: boolean): Promise<void> {
    const env = this.serviceEnv(service, pubsub);
    const container = this.create(service, pubsub, env);
    const logger = createLogger(
      { name: service, level: "info" },
      { write: (line: string) => void container.logLines.push(line.trimEnd()) },
    );
    const options = { logger, fetch: this.network() };
    const built =
      service === "match-processor"
        ? await createMatchProcessorService({ ...options, config: loadProcessorConfig(env) })
        : await createCalendarSyncService({ ...options, config: loadCalendarSyncConfig(env) });
    const { server, port } = await listen(built.app, 0, "127.0.0.1");
    (container.ports[`${CONTAINER_PORTS[service]}/tcp`] as { hostPort: number }).hostPort = port;
    container.running = {
      stop: async () => {
        await closeServer(server as Server);
        await built.stop();
      },
    };
    await built.start();
  }

  /** What the compose file gives each service, with this stack's Redis, data folder and match file. */
  private serviceEnv(service: AppService, pubsub: boolean): Record<string, string> {
    const common = {
      API_TOKEN: TOKEN,
      REDIS_URL:
        service === "calendar-sync" && this.knobs.calendarRedisUnreachable
          ? this.unreachableRedisUrl
          : this.redis.url,
      REDIS_PUBSUB_ENABLED: String(pubsub),
      PORT: String(CONTAINER_PORTS[service]),
      DATA_DIR: join(this.dir, service),
      LOG_LEVEL: "info",
    };
    return service === "match-processor"
      ? {
          ...common,
          CALENDAR_SYNC_URL: "http://calendar-sync:5003",
          MATCH_SOURCE_FILE: join(this.dir, "matches.json"),
          SERVICE_INTERVAL: "0",
        }
      : // The services' own heartbeat defaults, as in the compose file: the soak counts a missed
        // heartbeat as a Redis error, and two services sharing one busy test process must not miss
        // one by a slow event loop.
        { ...common, PROCESSOR_URL: "http://match-processor:8000" };
  }

  private async stopContainer(service: ServiceName): Promise<void> {
    const container = this.containers.get(service);
    if (!container || container.state === "exited") return;
    if (service === "redis") {
      if (container.state === "paused") await this.redis.resume();
      await this.redis.stop();
    } else {
      await container.running?.stop();
      container.running = undefined;
    }
    container.state = "exited";
    this.event(container, "die");
    this.event(container, "stop");
  }

  private async startRedis(): Promise<void> {
    await this.redis.start();
    await this.applyRedisCommandLine();
    const container = this.containers.get("redis") as Container;
    container.state = "running";
    this.event(container, "start");
  }

  /** HTTP between the services: their compose names resolve to where they listen now. */
  private network(): typeof fetch {
    return (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const service = url.hostname as AppService;
      if (service in CONTAINER_PORTS) {
        const container = this.containers.get(service);
        const port = container?.ports[`${CONTAINER_PORTS[service]}/tcp`]?.hostPort;
        if (container?.state !== "running" || !port) {
          return Promise.reject(
            new TypeError("fetch failed", { cause: new Error(`ECONNREFUSED ${url.host}`) }),
          );
        }
        url.hostname = "127.0.0.1";
        url.port = String(port);
      }
      return fetch(url, init);
    };
  }

  // --- the engine -------------------------------------------------------------------------------

  private engine(): Engine {
    return {
      endpoint: "in-process stand-in for the Docker engine",
      ping: async () => undefined,
      containers: async () =>
        [...this.containers.values()].map(({ pubsub: _p, running: _r, logLines: _l, ...info }) => ({
          ...info,
          env: { ...info.env },
          ports: structuredClone(info.ports),
        })),
      exec: async (_id, cmd) => this.redisCli(cmd),
      subscribe: async (_id, channels) => this.probe(channels),
      logs: async (id, tail) => {
        const container = [...this.containers.values()].find((c) => c.id === id);
        return container ? container.logLines.slice(-tail) : [];
      },
      pause: async () => {
        await this.redis.pause();
        const redis = this.containers.get("redis") as Container;
        redis.state = "paused";
        this.event(redis, "pause");
      },
      unpause: async () => {
        await this.redis.resume();
        const redis = this.containers.get("redis") as Container;
        redis.state = "running";
        this.event(redis, "unpause");
      },
      watchEvents: async () => {
        const all = this.events;
        const from = all.length;
        let until: number | undefined;
        return {
          get events() {
            return all.slice(from, until);
          },
          stop: () => {
            until ??= all.length;
          },
        };
      },
    };
  }

  private event(container: Container, action: string): void {
    this.events.push({
      time: new Date().toISOString(),
      service: container.service,
      container: container.name,
      action,
    });
  }

  /**
   * A compose file whose `redis-server` command line turns persistence off. The server starts with
   * it on (turning it on at run time starts a rewrite during which Redis refuses to shut down).
   */
  private async applyRedisCommandLine(): Promise<void> {
    if (this.knobs.appendonly === "no") await this.redisCommand(["CONFIG", "SET", "appendonly", "no"]);
  }

  /** One command on a connection of its own, as redis-cli runs it. */
  private async redisCommand(args: string[]): Promise<unknown> {
    const client = plainRedisClient(this.redis.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false });
    try {
      await new Promise((resolve, reject) => client.once("ready", resolve).once("error", reject));
      return await client.call(...(args as [string, ...string[]]));
    } finally {
      client.disconnect();
    }
  }

  /** `redis-cli [--raw] [-a password] <command>` in the redis container, answered as redis-cli prints it. */
  private async redisCli(cmd: string[]): Promise<ExecResult> {
    if (this.state("redis") !== "running") {
      return {
        exitCode: 1,
        stdout: "",
        stderr: "Could not connect to Redis at 127.0.0.1:6379: Connection refused",
      };
    }
    try {
      const reply = await this.redisCommand(cmd.slice(1).filter((arg) => !arg.startsWith("--")));
      const lines = Array.isArray(reply) ? reply.map(String) : [String(reply)];
      return { exitCode: 0, stdout: `${lines.join("\n")}\n`, stderr: "" };
    } catch (error) {
      return { exitCode: 1, stdout: "", stderr: (error as Error).message };
    }
  }

  /** A subscription held for a gate, like `redis-cli SUBSCRIBE` exec'd in the redis container. */
  private async probe(channels: string[]): Promise<ChannelProbe> {
    const client = plainRedisClient(this.redis.url, { maxRetriesPerRequest: 0 });
    this.probes.add(client);
    const messages: ChannelMessage[] = [];
    client.on("message", (channel: string, payload: string) => messages.push({ channel, payload }));
    const ready = client.subscribe(...channels).then(() => undefined);
    ready.catch(() => undefined);
    return {
      messages,
      ready,
      close: async () => {
        this.probes.delete(client);
        client.disconnect();
      },
    };
  }
}

/** A compose action as the plan shows it, without the executable and files. */
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
