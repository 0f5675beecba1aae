import { type SentinelGroup, startSentinelGroup } from "@fogis/testing";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger, RedisLink } from "../src/index.js";

/** RedisLink against real redis-server and redis-sentinel processes (DESIGN §14). */

const logger = createLogger({ name: "test", level: "silent" });
const PASSWORD = "data-node-password-7d1e";
const SENTINEL_PASSWORD = "sentinel-password-52ab";

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

async function group(): Promise<SentinelGroup> {
  // One sentinel (quorum 1) is enough to follow a failover, and starts in a second.
  const g = await startSentinelGroup({
    sentinels: 1,
    downAfterMs: 500,
    failoverTimeoutMs: 2000,
    password: PASSWORD,
    sentinelPassword: SENTINEL_PASSWORD,
  });
  cleanup.push(() => g.close());
  return g;
}

function sentinelLink(g: SentinelGroup, db = 0): RedisLink {
  const link = new RedisLink({
    url: `redis://:${PASSWORD}@unused-host:6379/${db}`,
    sentinel: {
      sentinels: g.sentinels.map(({ host, port }) => ({ host, port })),
      name: g.name,
      password: SENTINEL_PASSWORD,
    },
    name: "test",
    logger,
    maxBackoffMs: 200,
  });
  cleanup.push(() => link.close());
  return link;
}

describe("RedisLink with Sentinel", () => {
  it("finds the master through the sentinels with REDIS_URL's password and db, and follows a failover to the promoted replica", async () => {
    const g = await group();
    const firstMaster = await g.masterPort();
    const link = sentinelLink(g, 3);
    const events: string[] = [];
    link.on("up", () => events.push(`up ${link.master}`));
    link.on("down", () => events.push("down"));
    link.connect();
    await link.waitUntilUp(5000);
    expect(link.connectionInfo()).toMatchObject({
      mode: "sentinel",
      url: "redis://:***@unused-host:6379/3",
      sentinels: [`127.0.0.1:${g.sentinels[0]?.port}`],
      sentinel_name: "fogis",
      master: `127.0.0.1:${firstMaster}`,
      connected: true,
      failovers_seen: 0,
      last_failover: null,
    });
    await link.client.set("where", "db3");
    // Replication is asynchronous: make sure the replica has it before the master dies.
    expect(await link.client.call("WAIT", "1", "5000")).toBe(1);
    const direct = new Redis({ port: firstMaster, password: PASSWORD, db: 3, lazyConnect: true });
    cleanup.push(async () => direct.disconnect());
    expect(await direct.get("where")).toBe("db3");
    direct.disconnect();

    await g.node(firstMaster).kill();
    await expect.poll(() => link.isUp, { timeout: 3000 }).toBe(false);
    const newMaster = await g.waitForFailover(firstMaster, 20_000);
    await expect.poll(() => link.master, { timeout: 10_000 }).toBe(`127.0.0.1:${newMaster}`);
    // The link may come up on the promoted replica before the sentinels announce the end of the
    // failover (+switch-master), which drops it once more: wait for commands to work, not for "up".
    const answer = (command: () => Promise<unknown>) => command().catch((error: Error) => error.message);
    // The replica was promoted with the data it had replicated.
    await expect.poll(() => answer(() => link.client.get("where")), { timeout: 10_000 }).toBe("db3");
    await expect
      .poll(() => answer(() => link.client.set("after", "failover")), { timeout: 10_000 })
      .toBe("OK");
    const info = link.connectionInfo();
    expect(info).toMatchObject({
      master: `127.0.0.1:${newMaster}`,
      connected: true,
      failovers_seen: 1,
      last_failover: { from: `127.0.0.1:${firstMaster}`, to: `127.0.0.1:${newMaster}` },
    });

    // The old master's return as a replica (about 10 s of Sentinel's INFO period) is part of
    // the reliability suite's failover row. The link can find the new master a moment before the
    // sentinel's +switch-master reaches it, which then reconnects it to that same master once more
    // (seen under load): a second hop to the new master, never to another address.
    expect(events.slice(0, 3)).toEqual([`up 127.0.0.1:${firstMaster}`, "down", `up 127.0.0.1:${newMaster}`]);
    const again = events.slice(3);
    expect(again).toEqual(again.map((_, i) => (i % 2 === 0 ? "down" : `up 127.0.0.1:${newMaster}`)));
    expect(again.length % 2).toBe(0);
  });

  it("says which master it waits for when no sentinel answers, and connects once one does", async () => {
    const g = await group();
    const sentinel = g.sentinels[0];
    await sentinel?.kill();
    const link = sentinelLink(g);
    link.connect();
    await expect(link.waitUntilUp(500)).rejects.toThrow(
      `Redis at the master "fogis" of sentinels 127.0.0.1:${sentinel?.port} not reachable within 500 ms`,
    );
    expect(link.isUp).toBe(false);
    expect(link.lastError).toMatch(/sentinel/i);
    await sentinel?.start();
    await link.waitUntilUp(10_000);
    expect(link.master).toBe(`127.0.0.1:${await g.masterPort()}`);
  });
});

describe("RedisLink with Sentinel and a master demoted behind its back", () => {
  it("a write refused with READONLY takes the link down; it never comes up on a replica, and is back once the sentinels' master is a master again", async () => {
    const g = await group();
    const masterPort = await g.masterPort();
    const replicaPort = (g.nodes.find((node) => node.port !== masterPort) as { port: number }).port;
    const link = sentinelLink(g);
    const reasons: string[] = [];
    link.on("down", (reason) => reasons.push(reason));
    link.connect();
    await link.waitUntilUp(5000);
    expect(link.master).toBe(`127.0.0.1:${masterPort}`);

    // Swap the roles without telling the sentinels (and without the CLIENT KILL a failover sends):
    // the sentinels still name the old master, which is a replica now.
    const admin = (port: number) => {
      const client = new Redis({ port, password: PASSWORD, lazyConnect: true });
      cleanup.push(async () => client.disconnect());
      return client;
    };
    const [master, replica] = [admin(masterPort), admin(replicaPort)];
    await replica.call("REPLICAOF", "NO", "ONE");
    await master.call("REPLICAOF", "127.0.0.1", String(replicaPort));
    await expect(link.client.multi().set("k", "v").publish("c", "m").exec()).rejects.toThrow(/EXECABORT/);
    await expect.poll(() => reasons, { timeout: 3000 }).toEqual([expect.stringMatching(/READONLY/)]);
    // Reconnects find the named master still a replica (ioredis checks the ROLE): no "up".
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(link.isUp).toBe(false);
    expect(await master.exists("k")).toBe(0);

    await master.call("REPLICAOF", "NO", "ONE");
    await replica.call("REPLICAOF", "127.0.0.1", String(masterPort));
    await link.waitUntilUp(5000);
    await link.client.set("k", "v");
    expect(await master.get("k")).toBe("v");
  });
});
