import { PassThrough } from "node:stream";
import Docker from "dockerode";
import { EngineUnavailableError } from "./errors.js";
import { SERVICES, type ServiceName } from "./phases.js";
import type {
  ChannelMessage,
  ChannelProbe,
  ContainerInfo,
  Engine,
  EngineEvent,
  EventWatch,
  ExecResult,
  HealthState,
} from "./runtime.js";

/**
 * Everything the rollout observes and probes goes through the Docker engine API (dockerode):
 * containers found by their compose labels, health, `redis-cli` exec, logs of a failing
 * container, pause/unpause for the fallback drill, and events.
 */

const PROJECT_LABEL = "com.docker.compose.project";
const SERVICE_LABEL = "com.docker.compose.service";
const ONEOFF_LABEL = "com.docker.compose.oneoff";
const PING_TIMEOUT_MS = 5000;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Splits the engine's multiplexed stdout/stderr frames (non-TTY logs) into lines. */
export function demuxLines(buffer: Buffer): string[] {
  const parts: string[] = [];
  let offset = 0;
  const framed = buffer.length >= 8 && (buffer[0] === 1 || buffer[0] === 2) && buffer[1] === 0;
  if (!framed) return buffer.toString("utf8").split("\n").filter(Boolean);
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    parts.push(buffer.subarray(offset + 8, offset + 8 + size).toString("utf8"));
    offset += 8 + size;
  }
  return parts.join("").split("\n").filter(Boolean);
}

function envMap(entries: string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of entries ?? []) {
    const at = entry.indexOf("=");
    if (at > 0) env[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return env;
}

export class DockerEngine implements Engine {
  readonly endpoint: string;
  private readonly docker: Docker;

  constructor(
    private readonly project: string,
    docker: Docker = new Docker(),
  ) {
    this.docker = docker;
    const modem = docker.modem as {
      socketPath?: string;
      host?: string;
      port?: string | number;
      protocol?: string;
    };
    this.endpoint = modem.socketPath
      ? `unix://${modem.socketPath}`
      : `${modem.protocol ?? "http"}://${modem.host}:${modem.port ?? ""}`;
  }

  async ping(): Promise<void> {
    try {
      await withTimeout(this.docker.ping(), PING_TIMEOUT_MS, `the Docker engine at ${this.endpoint}`);
    } catch (error) {
      throw new EngineUnavailableError(
        `no Docker engine answered at ${this.endpoint} (${(error as Error).message}). ` +
          "Start one (bash scripts/docker/ensure-engine.sh, or your Docker Desktop) or point DOCKER_HOST at it.",
      );
    }
  }

  async containers(): Promise<ContainerInfo[]> {
    const listed = await this.docker.listContainers({
      all: true,
      filters: { label: [`${PROJECT_LABEL}=${this.project}`] },
    });
    const newest = new Map<ServiceName, Docker.ContainerInfo>();
    for (const summary of listed) {
      const service = summary.Labels[SERVICE_LABEL] as ServiceName | undefined;
      if (!service || !SERVICES.includes(service)) continue;
      if (summary.Labels[ONEOFF_LABEL]?.toLowerCase() === "true") continue;
      const seen = newest.get(service);
      if (!seen || summary.Created > seen.Created) newest.set(service, summary);
    }
    return Promise.all(
      [...newest.entries()].map(async ([service, summary]) => {
        const inspected = await this.docker.getContainer(summary.Id).inspect();
        const ports: ContainerInfo["ports"] = {};
        for (const [port, bindings] of Object.entries(inspected.NetworkSettings.Ports ?? {})) {
          const binding = bindings?.[0];
          if (binding?.HostPort) ports[port] = { hostIp: binding.HostIp, hostPort: Number(binding.HostPort) };
        }
        return {
          service,
          id: inspected.Id,
          name: inspected.Name.replace(/^\//, ""),
          state: inspected.State.Status,
          health: (inspected.State.Health?.Status as HealthState | undefined) ?? "none",
          env: envMap(inspected.Config.Env),
          ports,
          startedAt: inspected.State.StartedAt,
        };
      }),
    );
  }

  async exec(containerId: string, cmd: string[], { timeoutMs = 10_000 } = {}): Promise<ExecResult> {
    const exec = await this.docker.getContainer(containerId).exec({
      Cmd: cmd,
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await exec.start({ hijack: true, stdin: false });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const out = new PassThrough().on("data", (chunk: Buffer) => stdout.push(chunk));
    const err = new PassThrough().on("data", (chunk: Buffer) => stderr.push(chunk));
    this.docker.modem.demuxStream(stream, out, err);
    const ended = new Promise<void>((resolve, reject) => {
      stream.on("end", resolve);
      stream.on("close", resolve);
      stream.on("error", reject);
    });
    try {
      await withTimeout(ended, timeoutMs, `\`${cmd.join(" ")}\``);
    } catch (error) {
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      throw error;
    }
    // The exit code can lag the end of the stream by a moment.
    let inspected = await exec.inspect();
    for (let i = 0; inspected.Running && i < 50; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      inspected = await exec.inspect();
    }
    return {
      exitCode: inspected.ExitCode ?? -1,
      stdout: Buffer.concat(stdout).toString("utf8"),
      stderr: Buffer.concat(stderr).toString("utf8"),
    };
  }

  /**
   * `redis-cli --raw SUBSCRIBE` as an exec in the redis container. Its first line is the shell's PID
   * (which `exec` hands to redis-cli), so `close()` can end exactly this subscriber; `timeout`
   * ends it anyway if this process dies first, so it never lingers as a receiver.
   */
  async subscribe(
    containerId: string,
    channels: string[],
    { maxSeconds = 300, redisCliArgs = [] as string[] } = {},
  ): Promise<ChannelProbe> {
    const quote = (value: string) => `'${value.replace(/'/g, "'\\''")}'`;
    const cli = `redis-cli ${[...redisCliArgs, "--raw", "SUBSCRIBE", ...channels].map(quote).join(" ")}`;
    const script =
      `echo "probe-pid $$"; ` +
      `if command -v timeout >/dev/null 2>&1; then exec timeout ${Math.ceil(maxSeconds)} ${cli}; else exec ${cli}; fi`;
    const exec = await this.docker.getContainer(containerId).exec({
      Cmd: ["sh", "-c", script],
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await exec.start({ hijack: true, stdin: false });
    const out = new PassThrough();
    const err = new PassThrough();
    this.docker.modem.demuxStream(stream, out, err);

    const messages: ChannelMessage[] = [];
    let pid: string | undefined;
    let pending = "";
    const lines: string[] = [];
    let subscribed = 0;
    let errorText = "";
    let settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
    });
    // Handled by whoever awaits it; no unhandled rejection when nobody does.
    ready.catch(() => undefined);

    const consume = () => {
      // --raw prints each reply element on its own line: kind, channel, then count or payload.
      while (lines.length >= 3) {
        const [kind, channel, value] = lines.splice(0, 3) as [string, string, string];
        if (kind === "subscribe") {
          subscribed = Number(value);
          if (subscribed >= channels.length) settle?.resolve();
        } else if (kind === "message") {
          messages.push({ channel, payload: value });
        }
      }
    };
    out.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      let newline = pending.indexOf("\n");
      while (newline >= 0) {
        const line = pending.slice(0, newline).replace(/\r$/, "");
        pending = pending.slice(newline + 1);
        if (pid === undefined && line.startsWith("probe-pid ")) pid = line.slice("probe-pid ".length).trim();
        else lines.push(line);
        newline = pending.indexOf("\n");
      }
      consume();
    });
    err.on("data", (chunk: Buffer) => {
      errorText += chunk.toString("utf8");
    });
    stream.on("end", () =>
      settle?.reject(
        new Error(`the probe subscriber exited: ${errorText.trim() || lines.join(" ") || "no output"}`),
      ),
    );

    return {
      messages,
      ready,
      close: async () => {
        if (pid)
          await this.exec(containerId, ["sh", "-c", `kill ${pid} 2>/dev/null || true`]).catch(
            () => undefined,
          );
        (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      },
    };
  }

  async logs(containerId: string, tail: number): Promise<string[]> {
    const buffer = await this.docker
      .getContainer(containerId)
      .logs({ stdout: true, stderr: true, tail, follow: false });
    return demuxLines(buffer).slice(-tail);
  }

  async pause(containerId: string): Promise<void> {
    await this.docker.getContainer(containerId).pause();
  }

  async unpause(containerId: string): Promise<void> {
    await this.docker.getContainer(containerId).unpause();
  }

  async watchEvents(): Promise<EventWatch> {
    const stream = (await this.docker.getEvents({
      filters: { type: ["container"], label: [`${PROJECT_LABEL}=${this.project}`] },
    })) as NodeJS.ReadableStream & { destroy?: () => void };
    const events: EngineEvent[] = [];
    let pending = "";
    stream.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      let newline = pending.indexOf("\n");
      while (newline >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        newline = pending.indexOf("\n");
        try {
          const event = JSON.parse(line) as {
            time?: number;
            timeNano?: number;
            Action?: string;
            status?: string;
            Actor?: { ID?: string; Attributes?: Record<string, string> };
          };
          const action = event.Action ?? event.status ?? "?";
          // exec_* events are the healthchecks' and this tool's own redis-cli calls: noise here.
          if (action.startsWith("exec_")) continue;
          const attributes = event.Actor?.Attributes ?? {};
          events.push({
            time: new Date(event.timeNano ? event.timeNano / 1e6 : (event.time ?? 0) * 1000).toISOString(),
            service: attributes[SERVICE_LABEL] ?? "?",
            container: attributes.name ?? event.Actor?.ID?.slice(0, 12) ?? "?",
            action,
          });
        } catch {
          // Not an event line (the engine sends one JSON object per line); nothing to record.
        }
      }
    });
    stream.on("error", () => undefined);
    return { events, stop: () => stream.destroy?.() };
  }
}
