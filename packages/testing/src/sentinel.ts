import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort, type RedisHandle, startRedis, waitForRedis } from "./redis.js";

/**
 * A Redis Sentinel deployment of real processes on loopback (DESIGN §14): one master, its
 * replicas, and sentinels watching them, each on a free port. Tests kill the master and watch the
 * sentinels promote a replica, exactly as in production, only with short timeouts
 * (`down-after-milliseconds`, `failover-timeout`) so a failover takes seconds.
 *
 * Needs `redis-server` and `redis-sentinel` on PATH (Debian: apt-get install redis-server
 * redis-sentinel); without them it fails and says so.
 */

export interface SentinelGroupOptions {
  /** The master group name the sentinels monitor. Default "fogis". */
  name?: string;
  /** Replicas of the master. Default 1. */
  replicas?: number;
  /** Sentinels. Default 3. */
  sentinels?: number;
  /** Sentinels that must agree the master is down. Default: a majority. */
  quorum?: number;
  /** `sentinel down-after-milliseconds`: silence before a sentinel calls the master down. Default 1000. */
  downAfterMs?: number;
  /** `sentinel failover-timeout`. Default 3000. */
  failoverTimeoutMs?: number;
  /** requirepass (and masterauth) of every data node; the sentinels get it as auth-pass. */
  password?: string;
  /** requirepass of the sentinels themselves (and sentinel-pass between them). */
  sentinelPassword?: string;
}

/** One redis-sentinel process; it keeps its config file (where it saves what it learned) across restarts. */
export interface SentinelHandle {
  readonly host: string;
  readonly port: number;
  readonly pid: number | undefined;
  /** Abrupt death (SIGKILL). */
  kill(): Promise<void>;
  /** Starts it again with its saved config and waits until it answers. */
  start(): Promise<void>;
}

export interface SentinelGroup {
  readonly name: string;
  /** The data nodes, the initial master first. Each can be killed and started again with its first arguments. */
  readonly nodes: RedisHandle[];
  readonly sentinels: SentinelHandle[];
  /** REDIS_SENTINELS for a service: `127.0.0.1:port,...`. */
  readonly sentinelList: string;
  /** REDIS_URL for a service: the password; its host is not used in Sentinel mode. */
  readonly url: string;
  /** REDIS_URL, REDIS_SENTINELS, REDIS_SENTINEL_NAME (and REDIS_SENTINEL_PASSWORD) for a service. */
  env(): Record<string, string>;
  /** The data node listening on `port`. */
  node(port: number): RedisHandle;
  /** The master's port as the sentinels report it (they must agree). */
  masterPort(): Promise<number>;
  /** Waits until every sentinel names a master other than the one on `fromPort` and has finished the failover; answers its port. */
  waitForFailover(fromPort: number, timeoutMs?: number): Promise<number>;
  /** Waits until the node on `port` is a replica of the master on `masterPort` with its link up. */
  waitForReplica(port: number, masterPort: number, timeoutMs?: number): Promise<void>;
  /** The role the node on `port` reports (`master` or `slave`). */
  role(port: number): Promise<string>;
  /** Stops every process and removes what the helper created. */
  close(): Promise<void>;
}

export const NO_SENTINEL_HELP =
  "redis-sentinel is not on PATH: the Sentinel tests run real sentinels next to real redis-servers. Install it: apt-get install -y redis-sentinel";

let sentinelBinary: boolean | undefined;
function hasSentinelBinary(): boolean {
  sentinelBinary ??= spawnSync("redis-sentinel", ["--version"], { stdio: "ignore" }).status === 0;
  return sentinelBinary;
}

export async function startSentinelGroup(options: SentinelGroupOptions = {}): Promise<SentinelGroup> {
  if (!hasSentinelBinary()) throw new Error(NO_SENTINEL_HELP);
  const name = options.name ?? "fogis";
  const replicaCount = options.replicas ?? 1;
  const sentinelCount = options.sentinels ?? 3;
  const quorum = options.quorum ?? Math.floor(sentinelCount / 2) + 1;
  const password = options.password;
  // masterauth: any node may replicate from any other after a failover. No diskless-sync delay:
  // Redis otherwise waits 5 s for more replicas before the first full sync.
  const nodeArgs = [...(password ? ["--masterauth", password] : []), "--repl-diskless-sync-delay", "0"];

  const nodes: RedisHandle[] = [];
  const sentinels: SentinelProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), "fogis-sentinel-"));
  const close = async () => {
    await Promise.all(sentinels.map((sentinel) => sentinel.kill()));
    await Promise.all(nodes.map((node) => node.close()));
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const master = await startRedis({ owned: true, kind: "server", password, args: nodeArgs });
    nodes.push(master);
    for (let i = 0; i < replicaCount; i++) {
      nodes.push(
        await startRedis({
          owned: true,
          kind: "server",
          password,
          args: [...nodeArgs, "--replicaof", "127.0.0.1", String(master.port)],
        }),
      );
    }
    // A sentinel learns the replicas from the master's INFO, which it reads at once and then every
    // 10 s: start it only once every replica is attached, or the first failover has no candidate.
    for (const replica of nodes.slice(1)) {
      await waitFor(`replica on ${replica.port} attached to the master`, 15_000, async () => {
        const info = await withClient(replica.port, password, (client) => client.info("replication"));
        return /master_link_status:up/.test(info);
      });
    }

    for (let i = 0; i < sentinelCount; i++) {
      const port = await freePort();
      const home = join(dir, `sentinel-${i + 1}`);
      const lines = [
        `port ${port}`,
        "bind 127.0.0.1",
        `dir ${home}`,
        `sentinel monitor ${name} 127.0.0.1 ${master.port} ${quorum}`,
        `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
        `sentinel failover-timeout ${name} ${options.failoverTimeoutMs ?? 3000}`,
        `sentinel parallel-syncs ${name} 1`,
        ...(password ? [`sentinel auth-pass ${name} ${password}`] : []),
        ...(options.sentinelPassword
          ? [`requirepass ${options.sentinelPassword}`, `sentinel sentinel-pass ${options.sentinelPassword}`]
          : []),
      ];
      const sentinel = new SentinelProcess(port, home, lines.join("\n"));
      sentinels.push(sentinel);
      await sentinel.start();
    }
    // Ready when every sentinel knows the master, every replica and every other sentinel (the
    // sentinels find each other through hello messages on the master, every 2 s).
    for (const sentinel of sentinels) {
      await waitFor(`sentinel on ${sentinel.port} to know the whole group`, 20_000, async () => {
        const master = await sentinelCommand(sentinel.port, options.sentinelPassword, ["master", name]);
        return (
          master.flags === "master" &&
          Number(master["num-slaves"]) === replicaCount &&
          Number(master["num-other-sentinels"]) === sentinelCount - 1
        );
      });
    }
  } catch (error) {
    await close();
    throw error;
  }

  const masterPorts = async () =>
    Promise.all(
      sentinels.map(async (sentinel) => {
        const reply = await withClient(
          sentinel.port,
          options.sentinelPassword,
          (client) => client.call("SENTINEL", "get-master-addr-by-name", name) as Promise<[string, string]>,
        );
        return Number(reply[1]);
      }),
    );
  const sentinelList = sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`).join(",");
  const url = password ? `redis://:${encodeURIComponent(password)}@127.0.0.1:6379` : "redis://127.0.0.1:6379";

  return {
    name,
    nodes,
    sentinels,
    sentinelList,
    url,
    env: () => ({
      REDIS_URL: url,
      REDIS_SENTINELS: sentinelList,
      REDIS_SENTINEL_NAME: name,
      ...(options.sentinelPassword ? { REDIS_SENTINEL_PASSWORD: options.sentinelPassword } : {}),
    }),
    node: (port) => {
      const node = nodes.find((candidate) => candidate.port === port);
      if (!node) throw new Error(`no data node on port ${port}`);
      return node;
    },
    masterPort: async () => {
      const ports = await masterPorts();
      if (new Set(ports).size !== 1)
        throw new Error(`the sentinels disagree on the master: ${ports.join(", ")}`);
      return ports[0] as number;
    },
    waitForFailover: async (fromPort, timeoutMs = 30_000) => {
      let agreed = 0;
      // get-master-addr-by-name names the promoted replica while the failover still runs; its
      // end (+switch-master, which makes clients drop and reconnect) is when no sentinel has the
      // failover in progress any more.
      await waitFor(`the sentinels to promote a new master instead of ${fromPort}`, timeoutMs, async () => {
        const masters = await Promise.all(
          sentinels.map((sentinel) =>
            sentinelCommand(sentinel.port, options.sentinelPassword, ["master", name]),
          ),
        );
        agreed = Number(masters[0]?.port);
        return (
          agreed !== fromPort &&
          masters.every(
            (master) => Number(master.port) === agreed && !master.flags?.includes("failover_in_progress"),
          )
        );
      });
      return agreed;
    },
    waitForReplica: async (port, masterPort, timeoutMs = 30_000) => {
      await waitFor(`node ${port} to replicate from ${masterPort}`, timeoutMs, async () => {
        const info = await withClient(port, password, (client) => client.info("replication"));
        return (
          /role:slave/.test(info) &&
          new RegExp(`master_port:${masterPort}\\b`).test(info) &&
          /master_link_status:up/.test(info)
        );
      });
    },
    role: async (port) => {
      const reply = await withClient(port, password, (client) => client.call("ROLE") as Promise<unknown[]>);
      return String(reply[0]);
    },
    close,
  };
}

class SentinelProcess implements SentinelHandle {
  readonly host = "127.0.0.1";
  private child: ChildProcess | undefined;
  private readonly configFile: string;

  constructor(
    readonly port: number,
    home: string,
    config: string,
  ) {
    // Sentinel insists on a writable config file: it saves the state it learns there.
    mkdirSync(home, { recursive: true });
    this.configFile = join(home, "sentinel.conf");
    writeFileSync(this.configFile, `${config}\n`);
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  private get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const child = spawn("redis-sentinel", [this.configFile], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (chunk) => {
      stderr += chunk;
    });
    liveSentinels.add(child);
    child.once("exit", () => liveSentinels.delete(child));
    this.child = child;
    try {
      await waitForRedis(this.port);
    } catch (error) {
      child.kill("SIGKILL");
      throw new Error(`${(error as Error).message}. redis-sentinel said: ${stderr.slice(0, 500)}`);
    }
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    await exited;
  }
}

const liveSentinels = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of liveSentinels) child.kill("SIGKILL");
});

async function withClient<T>(
  port: number,
  password: string | undefined,
  use: (client: Redis) => Promise<T>,
): Promise<T> {
  const client = new Redis({
    host: "127.0.0.1",
    port,
    password,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    connectTimeout: 1000,
    commandTimeout: 2000,
  });
  client.on("error", () => {});
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}

/** `SENTINEL <args>` answering a field list (e.g. `SENTINEL master <name>`), as a record. */
async function sentinelCommand(
  port: number,
  password: string | undefined,
  args: string[],
): Promise<Record<string, string>> {
  const reply = await withClient(port, password, (client) => client.call("SENTINEL", ...args));
  if (Array.isArray(reply)) {
    const record: Record<string, string> = {};
    for (let i = 0; i + 1 < reply.length; i += 2) record[String(reply[i])] = String(reply[i + 1]);
    return record;
  }
  return Object.fromEntries(Object.entries(reply as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
}

async function waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  for (;;) {
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = ` (last error: ${(error as Error).message})`;
    }
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}${lastError}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
