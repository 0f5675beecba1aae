import type { ComposeAction, ServiceName } from "./phases.js";

/**
 * What the rollout needs from the outside world, as three small interfaces: the compose CLI (the
 * source of truth for service definitions: it brings services up and recreates them), the Docker
 * engine (everything observed and probed: containers by their compose labels, health, exec, logs,
 * pause, events) and HTTP to the services' published ports. The real ones live in compose-cli.ts,
 * engine.ts and http.ts; tests pass fakes.
 */

export interface Runtime {
  compose: Compose;
  engine: Engine;
  http: HttpClient;
  sleep(ms: number): Promise<void>;
  /** Milliseconds, monotonic enough for durations and deadlines. */
  now(): number;
}

export interface Compose {
  /** The executable, e.g. `docker compose` or `docker-compose`. */
  readonly executable: string;
  /** The command line an action runs, for the plan and the report (env assignments first). */
  commandLine(action: ComposeAction): string;
  /** Runs the action; throws `ComposeError` with the CLI's output when it fails. */
  run(action: ComposeAction): Promise<void>;
}

export type HealthState = "healthy" | "unhealthy" | "starting" | "none";

export interface ContainerInfo {
  service: ServiceName;
  id: string;
  name: string;
  /** The engine's state: running, paused, exited, created, restarting, dead. */
  state: string;
  /** From the image or compose healthcheck; "none" when there is none. */
  health: HealthState;
  /** Config.Env as a map. Read for the pub/sub switch, channel names, port, tokens (never printed). */
  env: Record<string, string>;
  /** Published ports: "8000/tcp" -> host port on the host address. */
  ports: Record<string, { hostIp: string; hostPort: number }>;
  startedAt: string;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ChannelMessage {
  channel: string;
  payload: string;
}

/** A subscription held inside the redis container for as long as a gate needs a receiver. */
export interface ChannelProbe {
  /** Everything received so far, in order. */
  readonly messages: readonly ChannelMessage[];
  /** Resolves once every channel is subscribed; rejects if the subscriber exits first. */
  readonly ready: Promise<void>;
  /** Ends the subscriber process (so it never counts as a receiver afterwards). */
  close(): Promise<void>;
}

export interface EngineEvent {
  time: string;
  service: string;
  container: string;
  action: string;
}

export interface EventWatch {
  readonly events: readonly EngineEvent[];
  stop(): void;
}

export interface Engine {
  /** Where the engine is expected, e.g. unix:///var/run/docker.sock. */
  readonly endpoint: string;
  /** Throws `EngineUnavailableError` when no engine answers. */
  ping(): Promise<void>;
  /** The project's containers (compose labels), at most one per service: the newest. */
  containers(): Promise<ContainerInfo[]>;
  exec(containerId: string, cmd: string[], options?: { timeoutMs?: number }): Promise<ExecResult>;
  subscribe(
    containerId: string,
    channels: string[],
    options?: { maxSeconds?: number; redisCliArgs?: string[] },
  ): Promise<ChannelProbe>;
  /** The last `tail` lines of stdout and stderr. */
  logs(containerId: string, tail: number): Promise<string[]>;
  pause(containerId: string): Promise<void>;
  unpause(containerId: string): Promise<void>;
  /** Container events of the project from now on (die, health_status, pause, …). */
  watchEvents(): Promise<EventWatch>;
}

export interface HttpResponse {
  status: number;
  text: string;
}

export interface HttpClient {
  request(
    url: string,
    init: { method?: "GET" | "POST"; headers?: Record<string, string>; body?: string; timeoutMs: number },
  ): Promise<HttpResponse>;
}
