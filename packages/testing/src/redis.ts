import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis, type RedisOptions } from "ioredis";

/**
 * One way for every test to get a real Redis (STYLE.md: one Redis helper for tests).
 *
 * Resolution order: `REDIS_URL` if set (a server someone else owns: it cannot be stopped), then
 * testcontainers when a container engine answers and the image `REDIS_IMAGE` is available, then a
 * `redis-server` binary on PATH started on a free loopback port. `FOGIS_TEST_REDIS=server|container`
 * forces one of the owned kinds. Owned servers can be stopped, killed, frozen and restarted on the
 * same port, which the fault tests rely on.
 */

export type RedisKind = "external" | "container" | "server";

export interface RedisHandle {
  readonly kind: RedisKind;
  /** Connection URL, including the password when one was set. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly password: string | undefined;
  /** PID of the redis-server process (kind "server" only). */
  readonly pid: number | undefined;
  /** Graceful shutdown (SIGTERM / docker stop). */
  stop(): Promise<void>;
  /** Abrupt death (SIGKILL / docker kill). */
  kill(): Promise<void>;
  /** Starts it again on the same port and waits until it answers. */
  start(): Promise<void>;
  /** Freezes it (SIGSTOP / docker pause): connections stay open, nothing answers. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Stops it for good and removes what the helper created. */
  close(): Promise<void>;
}

export interface StartRedisOptions {
  /** The test stops/restarts/freezes Redis, so an external `REDIS_URL` will not do. */
  owned?: boolean;
  /** Force a kind; defaults to `FOGIS_TEST_REDIS` or automatic resolution. */
  kind?: "server" | "container";
  /** Start with `requirepass`. */
  password?: string;
  /** Extra redis-server arguments, e.g. `["--appendonly", "yes"]`. */
  args?: string[];
}

export const NO_REDIS_HELP = [
  "No Redis available for the tests. Any one of these fixes it:",
  "  1. point the tests at a running Redis:      REDIS_URL=redis://127.0.0.1:6379 pnpm test",
  "  2. start a Docker engine (testcontainers uses REDIS_IMAGE, default redis:7-alpine; build a local one with scripts/docker/build-local-images.sh)",
  "  3. install redis-server on PATH:             apt-get install -y redis-server",
].join("\n");

export async function startRedis(options: StartRedisOptions = {}): Promise<RedisHandle> {
  const forced = options.kind ?? parseForcedKind(process.env.FOGIS_TEST_REDIS);
  const externalUrl = process.env.REDIS_URL?.trim();
  if (!forced && !options.owned && externalUrl && !options.password && !options.args?.length) {
    return externalRedis(externalUrl);
  }
  if (forced === "server") return startServer(options);
  if (forced === "container") return startContainer(options, { mayPull: true });
  const container = await tryContainer(options);
  if (container) return container;
  if (hasRedisServerBinary()) return startServer(options);
  throw new Error(NO_REDIS_HELP);
}

function parseForcedKind(value: string | undefined): "server" | "container" | undefined {
  if (!value) return undefined;
  if (value === "server" || value === "container") return value;
  throw new Error(`FOGIS_TEST_REDIS must be "server" or "container", got "${value}"`);
}

function externalRedis(url: string): RedisHandle {
  const parsed = new URL(url);
  const refuse = async () => {
    throw new Error(
      "This test needs a Redis it owns (it stops or freezes it), but REDIS_URL points at an external server. Call startRedis({ owned: true }).",
    );
  };
  return {
    kind: "external",
    url,
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    pid: undefined,
    stop: refuse,
    kill: refuse,
    start: refuse,
    pause: refuse,
    resume: refuse,
    close: async () => {},
  };
}

let redisServerBinary: boolean | undefined;
function hasRedisServerBinary(): boolean {
  redisServerBinary ??= spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status === 0;
  return redisServerBinary;
}

/**
 * A plain ioredis client, as a third party (or the Python services) would use Redis: to publish,
 * subscribe or look at keys from a test. Tests stop, kill and freeze Redis, so connection errors are
 * expected: they are handled here instead of being printed as "[ioredis] Unhandled error event".
 */
export function plainRedisClient(url: string, options: RedisOptions = {}): Redis {
  const client = new Redis(url, options);
  client.on("error", () => {});
  return client;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject()));
    });
  });
}

function urlFor(port: number, password: string | undefined): string {
  return password
    ? `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}`
    : `redis://127.0.0.1:${port}`;
}

/** Resolves once something on the port answers a RESP PING (PONG, or NOAUTH when a password is set). */
export async function waitForRedis(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pingOnce(port)) return;
    if (Date.now() > deadline)
      throw new Error(`Redis on 127.0.0.1:${port} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("*1\r\n$4\r\nPING\r\n"));
    socket.on("data", (chunk) => {
      const text = chunk.toString();
      done(text.startsWith("+PONG") || text.startsWith("-NOAUTH"));
    });
  });
}

const liveServers = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of liveServers) child.kill("SIGKILL");
});

async function startServer(options: StartRedisOptions): Promise<RedisHandle> {
  if (!hasRedisServerBinary()) throw new Error(NO_REDIS_HELP);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "fogis-redis-"));
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    "no",
    ...(options.password ? ["--requirepass", options.password] : []),
    ...(options.args ?? []),
  ];
  let child: ChildProcess | undefined;

  const spawnServer = async () => {
    const proc = spawn("redis-server", args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    proc.stderr?.on("data", (chunk) => {
      stderr += chunk;
    });
    liveServers.add(proc);
    proc.once("exit", () => liveServers.delete(proc));
    child = proc;
    try {
      await waitForRedis(port);
    } catch (error) {
      proc.kill("SIGKILL");
      throw new Error(`${(error as Error).message}. redis-server said: ${stderr.slice(0, 500)}`);
    }
  };

  const terminate = async (signal: NodeJS.Signals) => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill("SIGCONT"); // a frozen server cannot act on SIGTERM
    proc.kill(signal);
    await exited;
  };

  await spawnServer();
  return {
    kind: "server",
    url: urlFor(port, options.password),
    host: "127.0.0.1",
    port,
    password: options.password,
    get pid() {
      return child?.pid;
    },
    stop: () => terminate("SIGTERM"),
    kill: () => terminate("SIGKILL"),
    start: async () => {
      if (child && child.exitCode === null && child.signalCode === null) return;
      await spawnServer();
    },
    pause: async () => {
      child?.kill("SIGSTOP");
    },
    resume: async () => {
      child?.kill("SIGCONT");
    },
    close: async () => {
      await terminate("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function tryContainer(options: StartRedisOptions): Promise<RedisHandle | undefined> {
  try {
    return await startContainer(options, { mayPull: false });
  } catch (error) {
    if (error instanceof ContainerUnavailable) return undefined;
    throw error;
  }
}

class ContainerUnavailable extends Error {}

async function startContainer(
  options: StartRedisOptions,
  { mayPull }: { mayPull: boolean },
): Promise<RedisHandle> {
  // Ryuk's image cannot be pulled here, and the gateway lookup would try to pull alpine.
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true";
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= "127.0.0.1";
  const image = process.env.REDIS_IMAGE?.trim() || "redis:7-alpine";
  const tc = await import("testcontainers");
  const { RedisContainer } = await import("@testcontainers/redis");
  let client: Awaited<ReturnType<typeof tc.getContainerRuntimeClient>>;
  try {
    client = await tc.getContainerRuntimeClient();
  } catch (error) {
    if (mayPull)
      throw new Error(`No container engine answered (${(error as Error).message}).\n${NO_REDIS_HELP}`);
    throw new ContainerUnavailable();
  }
  if (!mayPull && !(await client.image.exists(tc.ImageName.fromString(image)))) {
    throw new ContainerUnavailable();
  }

  const port = await freePort();
  class LoopbackRedisContainer extends RedisContainer {
    /** testcontainers publishes on 0.0.0.0; tests stay on loopback. */
    onLoopback(): this {
      for (const bindings of Object.values(this.hostConfig.PortBindings ?? {})) {
        for (const binding of bindings as Array<{ HostIp?: string }>) binding.HostIp = "127.0.0.1";
      }
      return this;
    }
  }
  let builder = new LoopbackRedisContainer(image).withExposedPorts({ container: 6379, host: port });
  if (options.password) builder = builder.withPassword(options.password);
  if (options.args?.length) builder = builder.withCommand(["redis-server", ...options.args]);
  const started = await builder.onLoopback().start();
  const container = client.container.getById(started.getId());

  return {
    kind: "container",
    url: urlFor(port, options.password),
    host: "127.0.0.1",
    port,
    password: options.password,
    pid: undefined,
    stop: async () => {
      await container.stop({ t: 5 }).catch(ignoreNotRunning);
    },
    kill: async () => {
      await container.kill().catch(ignoreNotRunning);
    },
    start: async () => {
      const state = await container.inspect();
      if (state.State.Paused) await container.unpause();
      if (!state.State.Running) await container.start();
      await waitForRedis(port);
    },
    pause: async () => {
      await container.pause();
    },
    resume: async () => {
      await container.unpause();
    },
    close: async () => {
      await container.remove({ force: true, v: true }).catch(() => {});
    },
  };
}

function ignoreNotRunning(error: { statusCode?: number }): void {
  // 304: already stopped; 409: not running.
  if (error.statusCode === 304 || error.statusCode === 409) return;
  throw error;
}
