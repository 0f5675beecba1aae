import { spawn, spawnSync } from "node:child_process";
import { type BenchContext, benchChannels } from "./context.js";
import { type Figure, figure } from "./figures.js";

/**
 * Redis's own ceiling for PUBLISH on this machine: `redis-benchmark` (50 clients, no pipelining)
 * publishing a 300 B message to a channel nobody subscribes to. Skipped when the binary is missing.
 */
export async function benchRedisPublish(ctx: BenchContext): Promise<Figure[]> {
  if (spawnSync("redis-benchmark", ["--version"], { stdio: "ignore" }).status !== 0) {
    ctx.log("redis-benchmark not found (apt-get install -y redis-tools): skipped");
    return [];
  }
  const { profile } = ctx;
  const args = [
    "-h",
    ctx.redis.host,
    "-p",
    String(ctx.redis.port),
    ...(ctx.redis.password ? ["-a", ctx.redis.password] : []),
    "-c",
    "50",
    "-n",
    String(profile.redisBenchmarkRequests),
    "-q",
    "--csv",
    "PUBLISH",
    benchChannels().processorStatus,
    "x".repeat(300),
  ];
  ctx.log(`redis-benchmark PUBLISH: ${profile.redisBenchmarkRequests} requests a round`);
  const measured: number[] = [];
  for (let round = 0; round < profile.redisBenchmarkRounds; round++) {
    measured.push(parseRps(await run("redis-benchmark", args)));
  }
  return [
    figure({
      name: "redis_benchmark_publish",
      unit: "msg/s",
      description: `redis-benchmark -c 50 -n ${profile.redisBenchmarkRequests} PUBLISH <300 B> with no subscriber: what Redis itself takes on this machine, for context`,
      measured,
    }),
  ];
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    child.stderr.on("data", (chunk) => {
      out += chunk;
    });
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${command} exited ${code}: ${out}`)),
    );
  });
}

/** `--csv` prints a header, then `"<command>","<rps>",...`. */
function parseRps(output: string): number {
  const row = output
    .trim()
    .split("\n")
    .find((line) => line.startsWith('"PUBLISH'));
  const rps = Number(row?.split('","')[1]);
  if (!Number.isFinite(rps) || rps <= 0)
    throw new Error(`cannot read redis-benchmark's output: ${output.slice(0, 300)}`);
  return rps;
}
