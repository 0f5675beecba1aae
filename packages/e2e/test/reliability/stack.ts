import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DeliveryCounters } from "@fogis/match-processor";
import {
  freePort,
  type RedisHandle,
  type SentinelGroup,
  type SentinelGroupOptions,
  type StartRedisOptions,
  startRedis,
  startSentinelGroup,
} from "@fogis/testing";
import { afterEach, expect } from "vitest";
import { calendarDifferences, parseFeed, wrongMatchIds } from "./calendar.js";
import { type MatchChange, MatchScript } from "./match-script.js";
import { type FaultRow, recordFault } from "./report.js";
import { builtMain, ServiceProcess } from "./service-process.js";

/**
 * The whole stack for a fault test: a redis-server the test owns (it kills, restarts and freezes
 * it), match-processor and calendar-sync as real processes, and a match list in a temp file the
 * test rewrites. Cycles run only when the test asks (`SERVICE_INTERVAL=0`, `POST /process`), so
 * every run makes the same changes at the same moments.
 *
 * With `sentinel`, Redis is a Sentinel deployment (master, replica, sentinels) that both services
 * reach through REDIS_SENTINELS; with `calendars`, several calendar-sync replicas subscribe, and
 * the processor's HTTP fallback reaches only the first.
 */

export const API_TOKEN = "reliability-api-token-5f0c9e2d41";

export interface StackOptions {
  /** Options for the owned redis-server (password, extra args). */
  redis?: Omit<StartRedisOptions, "owned" | "kind">;
  /** Redis Sentinel instead of one redis-server: `redis` is then the first master. */
  sentinel?: SentinelGroupOptions;
  /** Another stack's redis-server instead of one of its own (two stacks on one Redis); not closed with this stack. */
  sharedRedis?: RedisHandle;
  /** calendar-sync replicas (default 1); the first is the processor's fallback target. */
  calendars?: number;
  /** REDIS_URL for both services; defaults to the owned server's URL. */
  redisUrl?: (redis: RedisHandle) => string;
  processorEnv?: Record<string, string>;
  calendarEnv?: Record<string, string>;
  /** Options for the processor's node (e.g. `--inspect=127.0.0.1:0`). */
  processorNodeArgs?: string[];
  /** Environment for both service processes (e.g. NODE_EXTRA_CA_CERTS). */
  commonEnv?: Record<string, string>;
  script?: MatchScript;
  apiToken?: string;
  /** Write the match list and start the services (default true). */
  start?: boolean;
}

/** The processor's own counter contract: the suite checks the fields the service publishes. */
export type { DeliveryCounters };

export interface CycleResult {
  success: boolean;
  outcome: string;
  publish_reason: string | null;
  delivery: { route: string; confirmed: boolean; sequence: number | null; errors: string[] };
  [key: string]: unknown;
}

export interface RedisStatus {
  success: boolean;
  status: "pass" | "warn" | "fail";
  delivery_path: string;
  redis_status: { enabled: boolean; connected: boolean; subscribed: boolean; redis_available: boolean };
  delivery?: DeliveryCounters;
  [key: string]: unknown;
}

export class Stack {
  readonly dir: string;
  readonly matchFile: string;
  readonly processorDataDir: string;
  readonly calendarDataDir: string;
  readonly apiToken: string;
  /** The first calendar-sync (the processor's HTTP fallback target). */
  readonly calendar: ServiceProcess;

  private constructor(
    readonly redis: RedisHandle,
    readonly processor: ServiceProcess,
    /** Every calendar-sync replica, the fallback target first. */
    readonly calendars: ServiceProcess[],
    readonly script: MatchScript,
    dirs: { dir: string; apiToken: string },
    /** Set when Redis is a Sentinel deployment. */
    readonly sentinel: SentinelGroup | undefined,
    /** False when the stack uses another stack's Redis (`sharedRedis`): closing leaves it running. */
    private readonly ownsRedis: boolean,
  ) {
    this.calendar = calendars[0] as ServiceProcess;
    this.dir = dirs.dir;
    this.apiToken = dirs.apiToken;
    this.matchFile = join(this.dir, "matches.json");
    this.processorDataDir = join(this.dir, "processor-data");
    this.calendarDataDir = join(this.dir, "calendar-data");
  }

  static async create(options: StackOptions = {}): Promise<Stack> {
    builtMain("match-processor");
    builtMain("calendar-sync");
    const sentinel = options.sentinel ? await startSentinelGroup(options.sentinel) : undefined;
    const redis = sentinel
      ? (sentinel.nodes[0] as RedisHandle)
      : (options.sharedRedis ?? (await startRedis({ ...options.redis, owned: true, kind: "server" })));
    const dir = mkdtempSync(join(tmpdir(), "fogis-reliability-"));
    const apiToken = options.apiToken ?? API_TOKEN;
    const calendarCount = options.calendars ?? 1;
    const processorPort = await freePort();
    const calendarPorts: number[] = [];
    for (let i = 0; i < calendarCount; i++) calendarPorts.push(await freePort());
    const redisEnv = sentinel ? sentinel.env() : { REDIS_URL: options.redisUrl?.(redis) ?? redis.url };
    const common = { API_TOKEN: apiToken, ...redisEnv, LOG_LEVEL: "info", ...options.commonEnv };
    const processor = new ServiceProcess({
      service: "match-processor",
      port: processorPort,
      env: {
        ...common,
        DATA_DIR: join(dir, "processor-data"),
        MATCH_SOURCE_FILE: join(dir, "matches.json"),
        SERVICE_INTERVAL: "0",
        CALENDAR_SYNC_URL: `http://127.0.0.1:${calendarPorts[0]}`,
        ...options.processorEnv,
      },
      nodeArgs: options.processorNodeArgs,
    });
    const calendars = calendarPorts.map(
      (port, index) =>
        new ServiceProcess({
          service: "calendar-sync",
          port,
          env: {
            ...common,
            DATA_DIR: join(dir, index === 0 ? "calendar-data" : `calendar-data-${index + 1}`),
            PROCESSOR_URL: `http://127.0.0.1:${processorPort}`,
            ...options.calendarEnv,
          },
        }),
    );
    const stack = new Stack(
      redis,
      processor,
      calendars,
      options.script ?? new MatchScript(),
      { dir, apiToken },
      sentinel,
      options.sharedRedis === undefined,
    );
    if (options.start !== false) {
      try {
        await stack.writeMatches();
        await Promise.all([...calendars.map((calendar) => calendar.start()), processor.start()]);
      } catch (error) {
        // The test never gets the stack to close: leave no redis-server or service behind.
        await stack.close();
        throw error;
      }
    }
    return stack;
  }

  async writeMatches(): Promise<void> {
    await this.script.write(this.matchFile);
  }

  /** Makes `count` changes to the match list and writes it. */
  async change(count = 1): Promise<void> {
    for (let i = 0; i < count; i++) this.script.change();
    await this.writeMatches();
  }

  /** `POST /process`: one cycle now; answers its result (a failed delivery is a 502 with a body). */
  async cycle(): Promise<CycleResult> {
    const { status, body } = await this.processor.post<CycleResult>("/process", { token: this.apiToken });
    if (status !== 200 && status !== 502) {
      throw new Error(`POST /process answered ${status}: ${JSON.stringify(body).slice(0, 300)}`);
    }
    return body;
  }

  /** Waits until every calendar-sync is subscribed: before that, a PUBLISH reaches nobody and goes over HTTP. */
  async subscribed(timeoutMs = 15_000): Promise<void> {
    await timeUntil(
      "calendar-sync subscribed",
      async () => {
        for (const calendar of this.calendars) {
          if (!(await this.calendarStatus(calendar)).redis_status.subscribed) return false;
        }
        return true;
      },
      timeoutMs,
    );
  }

  async processorStatus(): Promise<RedisStatus> {
    return (await this.processor.getJson<RedisStatus>("/redis-status")).body;
  }

  async calendarStatus(calendar = this.calendar): Promise<RedisStatus> {
    return (await calendar.getJson<RedisStatus>("/redis-status")).body;
  }

  async counters(): Promise<DeliveryCounters> {
    const status = await this.processorStatus();
    if (!status.delivery) throw new Error("/redis-status of the processor has no delivery counters");
    return status.delivery;
  }

  /**
   * The processor's counters account for every envelope: `created` made, each delivered by the
   * route `routes` counted for it, none superseded or still pending. Answers the counters.
   */
  async expectEveryEnvelopeDelivered(
    created: number,
    routes: Record<string, number>,
  ): Promise<DeliveryCounters> {
    const counters = await this.counters();
    expect(accountingProblems(counters)).toEqual([]);
    expect(counters).toMatchObject({
      envelopes_created: created,
      delivered_via_redis: routes.redis ?? 0,
      delivered_via_http: routes.http ?? 0,
      superseded: 0,
      pending: 0,
    });
    return counters;
  }

  /** A counter or gauge from the processor's `/metrics` (Prometheus text), summed over matching series. */
  async processorMetric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const { text } = await this.processor.getText("/metrics");
    let total = 0;
    let found = false;
    for (const line of text.split("\n")) {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
      if (!match || match[1] !== name) continue;
      const series = Object.fromEntries(
        [...(match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]] as [string, string]),
      );
      if (Object.entries(labels).every(([key, value]) => series[key] === value)) {
        total += Number(match[3]);
        found = true;
      }
    }
    if (!found) throw new Error(`no ${name} ${JSON.stringify(labels)} in /metrics`);
    return total;
  }

  async calendarStats(calendar = this.calendar): Promise<Record<string, unknown>> {
    const { body } = await calendar.getJson<{ stats: Record<string, unknown> }>("/redis-stats");
    return body.stats;
  }

  async events(calendar = this.calendar) {
    const feedToken = calendar.env.FEED_TOKEN;
    const path = feedToken ? `/calendar.ics?token=${encodeURIComponent(feedToken)}` : "/calendar.ics";
    const { status, text } = await calendar.getText(path);
    if (status !== 200) throw new Error(`/calendar.ics answered ${status}`);
    return parseFeed(text);
  }

  /** How the calendars differ from the current match list (empty: every replica equals it). */
  async differences(): Promise<string[]> {
    const problems: string[] = [];
    for (const [index, calendar] of this.calendars.entries()) {
      const found = calendarDifferences(
        await this.events(calendar),
        this.script.matches,
        this.script.history,
      );
      problems.push(
        ...(this.calendars.length > 1 ? found.map((p) => `calendar-sync ${index + 1}: ${p}`) : found),
      );
    }
    return problems;
  }

  /** Waits until every calendar equals the current list; answers how long that took (ms). */
  async waitConverged(timeoutMs = 15_000): Promise<number> {
    const started = performance.now();
    let last: string[] = [];
    while (performance.now() - started < timeoutMs) {
      try {
        last = await this.differences();
        if (last.length === 0) return performance.now() - started;
      } catch (error) {
        last = [(error as Error).message];
      }
      await sleep(50);
    }
    throw new Error(`calendar did not converge within ${timeoutMs} ms:\n  ${last.slice(0, 10).join("\n  ")}`);
  }

  /**
   * Of `changes`, how many every calendar shows (a change to a match whose event differs from the
   * list, in any replica, is lost).
   */
  async reached(changes: readonly MatchChange[]): Promise<number> {
    const wrong = new Set<number>();
    for (const calendar of this.calendars) {
      const events = await this.events(calendar);
      for (const id of wrongMatchIds(events, this.script.matches, this.script.history)) wrong.add(id);
    }
    return changes.filter((change) => !wrong.has(change.matchid)).length;
  }

  /**
   * Every change the script made since `step` reached every calendar: records the fault's row of
   * the reliability table (changes made, changes reached) and asserts that none was lost.
   */
  async expectEveryChangeReached(step: number, row: Omit<FaultRow, "changes" | "reached">): Promise<void> {
    const changes = this.script.changesBetween(step);
    const reached = await this.reached(changes);
    const { fault, ...measured } = row;
    recordFault({ fault, changes: changes.length, reached, ...measured });
    expect(reached).toBe(changes.length);
  }

  async close(): Promise<void> {
    await Promise.all([this.processor, ...this.calendars].map((service) => service.stop("SIGKILL")));
    if (this.ownsRedis) await (this.sentinel ?? this.redis).close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The accounting invariant (DESIGN §5): every envelope created is in exactly one bucket. */
export function accountingProblems(counters: DeliveryCounters): string[] {
  const problems: string[] = [];
  const accounted =
    counters.delivered_via_redis + counters.delivered_via_http + counters.superseded + counters.pending;
  if (counters.envelopes_created !== accounted) {
    problems.push(
      `envelopes_created ${counters.envelopes_created} != delivered_via_redis ${counters.delivered_via_redis} + delivered_via_http ${counters.delivered_via_http} + superseded ${counters.superseded} + pending ${counters.pending}`,
    );
  }
  if (counters.pending !== 0 && counters.pending !== 1) problems.push(`pending is ${counters.pending}`);
  return problems;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it answers true; answers the time it took (ms) or throws after `timeoutMs`. */
export async function timeUntil(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<number> {
  const started = performance.now();
  for (;;) {
    try {
      if (await probe()) return performance.now() - started;
    } catch {
      // Not yet: the service may be restarting.
    }
    if (performance.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

/** Verdicts a test waits for with `StatusWatcher`: on Redis, or anything short of that. */
export const isPass = (status: string): boolean => status === "pass";
export const notPass = (status: string): boolean => status !== "pass";

/** A service the watcher samples: the processor, the first calendar-sync, or replica n (from 2). */
export type WatchedService = "processor" | "calendar" | `calendar-${number}`;

/**
 * Polls every service's `/redis-status` in the background (every 50 ms) and remembers when each
 * one's verdict changed, so a test can time detection and recovery while it goes on making changes.
 */
export class StatusWatcher {
  private readonly samples: Array<{ at: number; service: WatchedService; status: string }> = [];
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(private readonly stack: Stack) {
    this.loop = this.run();
  }

  /** Every service watched: the processor and each calendar-sync replica. */
  get services(): WatchedService[] {
    return [
      "processor",
      ...this.stack.calendars.map((_, i): WatchedService => (i === 0 ? "calendar" : `calendar-${i + 1}`)),
    ];
  }

  /** First moment at or after `since` when `service` answered `status` (or, with `not`, anything else). */
  firstAfter(service: WatchedService, since: number, match: (status: string) => boolean): number | undefined {
    return this.samples.find((s) => s.service === service && s.at >= since && match(s.status))?.at;
  }

  /** Verdicts of `service` sampled at or after `since`. */
  statusesSince(service: WatchedService, since: number): string[] {
    return this.samples.filter((s) => s.service === service && s.at >= since).map((s) => s.status);
  }

  /** Waits until both services answered a verdict matching `match` after `since`; answers the later moment. */
  async both(
    since: number,
    match: (status: string) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<number> {
    return this.each(["processor", "calendar"], since, match, timeoutMs, what);
  }

  /** `both`, for every service: the processor and each calendar-sync replica. */
  async all(
    since: number,
    match: (status: string) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<number> {
    return this.each(this.services, since, match, timeoutMs, what);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async each(
    services: WatchedService[],
    since: number,
    match: (status: string) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const moments = services.map((service) => this.firstAfter(service, since, match));
      if (moments.every((at) => at !== undefined)) return Math.max(...(moments as number[]));
      if (performance.now() > deadline) {
        const seen = services.map((service, i) => `${service} ${moments[i] === undefined ? "no" : "yes"}`);
        throw new Error(`${what}: ${seen.join(", ")} within ${timeoutMs} ms`);
      }
      await sleep(25);
    }
  }

  private async run(): Promise<void> {
    const services = this.services;
    while (!this.stopped) {
      const sample = async (service: WatchedService, index: number) => {
        let status = "unreachable";
        try {
          status = (
            service === "processor"
              ? await this.stack.processorStatus()
              : await this.stack.calendarStatus(this.stack.calendars[index - 1])
          ).status;
        } catch {
          // A stopped service: keep "unreachable".
        }
        this.samples.push({ at: performance.now(), service, status });
      };
      await Promise.all(services.map(sample));
      await sleep(50);
    }
  }
}

/**
 * One stack (and its status watcher) per test, stopped after each test whether it passed or not:
 * the set-up every fault test file shares. Call once at the top of a test file.
 */
export function stackPerTest(): {
  create(options?: StackOptions): Promise<Stack>;
  watch(stack: Stack): StatusWatcher;
} {
  let stack: Stack | undefined;
  let watcher: StatusWatcher | undefined;
  afterEach(async () => {
    await watcher?.stop();
    await stack?.close();
    stack = watcher = undefined;
  });
  return {
    async create(options) {
      stack = await Stack.create(options);
      return stack;
    },
    watch(s) {
      watcher = new StatusWatcher(s);
      return watcher;
    },
  };
}
