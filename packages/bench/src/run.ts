import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { createLogger } from "@fogis/runtime";
import { startRedis } from "@fogis/testing";
import { pino } from "pino";
import { benchCalDavPush } from "./caldav.js";
import { benchChangeDetection } from "./change-detection.js";
import type { BenchContext } from "./context.js";
import { benchHttpFallback } from "./fallback.js";
import type { Figure } from "./figures.js";
import { benchGooglePush } from "./google.js";
import { benchServiceMemory } from "./memory.js";
import type { Profile } from "./profile.js";
import { benchRedisPublish } from "./redis-benchmark.js";
import { type Machine, type Results, writeResults } from "./report.js";
import { benchSmallMessages } from "./small-messages.js";
import { benchLargeSnapshot } from "./snapshot.js";

export interface RunOptions {
  profile: Profile;
  /** Where results.json, results.md and latency.svg go. */
  outDir: string;
  /** How the run was started, recorded in the results. */
  command: string;
  log?: (line: string) => void;
  /** Run only these benchmarks (names of BENCHMARKS); all by default. */
  only?: string[];
}

/** Every benchmark, by the name `--only` takes. */
export const BENCHMARKS: Readonly<Record<string, (ctx: BenchContext) => Promise<Figure[]>>> = {
  small: benchSmallMessages,
  snapshot: benchLargeSnapshot,
  detection: benchChangeDetection,
  fallback: benchHttpFallback,
  memory: benchServiceMemory,
  "redis-benchmark": benchRedisPublish,
  caldav: benchCalDavPush,
  google: benchGooglePush,
};

/** Runs every benchmark against a redis-server of its own and writes the results. Throws if one crashes. */
export async function runBench(options: RunOptions): Promise<{ results: Results; files: string[] }> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const unknown = options.only?.filter((name) => !(name in BENCHMARKS)) ?? [];
  if (unknown.length) {
    throw new Error(
      `unknown benchmark ${unknown.join(", ")}; choose from ${Object.keys(BENCHMARKS).join(", ")}`,
    );
  }
  const started = performance.now();
  const loadAtStart = loadavg();
  const workDir = mkdtempSync(join(tmpdir(), "fogis-bench-"));
  const redis = await startRedis({ owned: true, kind: "server" });
  log(`redis-server pid ${redis.pid} on 127.0.0.1:${redis.port}; scratch in ${workDir}`);
  const devNull = pino.destination({ dest: "/dev/null", sync: true });
  const ctx: BenchContext = {
    profile: options.profile,
    redis,
    workDir,
    processorLogger: createLogger({ name: "match-processor" }, devNull),
    calendarLogger: createLogger({ name: "calendar-sync" }, devNull),
    apiToken: "bench-token-0123456789abcdef",
    log,
  };
  const figures: Figure[] = [];
  try {
    for (const [name, bench] of Object.entries(BENCHMARKS)) {
      if (!options.only || options.only.includes(name)) figures.push(...(await bench(ctx)));
    }
  } finally {
    await redis.close();
    rmSync(workDir, { recursive: true, force: true });
  }
  const results: Results = {
    command: options.command,
    profile: options.profile.name,
    date: new Date().toISOString(),
    duration_s: Math.round((performance.now() - started) / 1000),
    machine: machine(loadAtStart),
    figures,
  };
  mkdirSync(options.outDir, { recursive: true });
  return { results, files: writeResults(options.outDir, results) };
}

function machine(loadAtStart: number[]): Machine {
  const version = spawnSync("redis-server", ["--version"], { encoding: "utf8" }).stdout ?? "";
  const load = (values: number[]) => values.map((n) => Math.round(n * 100) / 100);
  return {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model.trim() ?? "unknown",
    node: process.version,
    redis: /v=(\S+)/.exec(version)?.[1] ?? "unknown",
    platform: `${process.platform} ${process.arch}`,
    memory_gb: Math.round(totalmem() / 2 ** 30),
    load_average_at_start: load(loadAtStart),
    load_average_at_end: load(loadavg()),
  };
}
