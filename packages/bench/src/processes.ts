import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnService, waitUntilServing } from "@fogis/runtime";

/**
 * The services as users run them: `node <the services' flags> packages/<service>/dist/main.js`,
 * configured through the environment, each its own process, so their memory can be read from /proc.
 */

const packagesDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export const SERVICE_ENTRY = {
  "match-processor": join(packagesDir, "match-processor", "dist", "main.js"),
  "calendar-sync": join(packagesDir, "calendar-sync", "dist", "main.js"),
  /** A bare Node process for comparison: see baseline-service.ts. */
  baseline: join(packagesDir, "bench", "dist", "baseline-service.js"),
} as const;

export type ServiceName = keyof typeof SERVICE_ENTRY;

export class ServiceProcess {
  private output = "";
  readonly exited: Promise<number | null>;

  private constructor(
    readonly name: ServiceName,
    readonly child: ChildProcess,
    readonly baseUrl: string,
  ) {
    const keep = (chunk: Buffer) => {
      // Only the tail matters, for the error message of a crash.
      this.output = (this.output + chunk.toString()).slice(-4000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  /** Starts the service and waits until `GET /health` answers. */
  static async start(name: ServiceName, env: Record<string, string>): Promise<ServiceProcess> {
    const entry = SERVICE_ENTRY[name];
    if (!existsSync(entry)) {
      throw new Error(`${entry} is missing: run \`pnpm bench\` (it builds first) or \`pnpm build\``);
    }
    // The bare baseline process gets the same V8 flags: the floor is plain Node, tuned alike.
    const child = spawnService(entry, { env: { HOST: "127.0.0.1", ...env } });
    const service = new ServiceProcess(name, child, `http://127.0.0.1:${env.PORT}`);
    const verdict = await waitUntilServing(child, { baseUrl: service.baseUrl, timeoutMs: 15_000 });
    if (verdict === "exited") throw new Error(`${name} exited at start:\n${service.output}`);
    if (verdict === "timed-out") {
      await service.stop();
      throw new Error(`${name} did not answer /health within 15 s:\n${service.output}`);
    }
    return service;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /**
   * Resident memory in MB from /proc/<pid>/status: all of it now and at its peak, and the part that
   * is the process's own (anonymous: heap, buffers) rather than file pages of the node binary,
   * which every Node process maps and the kernel shares between them.
   */
  memory(): { rssMb: number; peakMb: number; anonMb: number } {
    if (this.child.exitCode !== null) throw new Error(`${this.name} has exited:\n${this.output}`);
    const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
    const kb = (field: string) => {
      const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
      if (!match) throw new Error(`no ${field} in /proc/${this.pid}/status`);
      return Number(match[1]);
    };
    return { rssMb: kb("VmRSS") / 1024, peakMb: kb("VmHWM") / 1024, anonMb: kb("RssAnon") / 1024 };
  }

  async getJson(path: string): Promise<Record<string, unknown>> {
    const response = await fetch(`${this.baseUrl}${path}`);
    if (!response.ok) throw new Error(`${this.name} GET ${path} answered ${response.status}`);
    return (await response.json()) as Record<string, unknown>;
  }

  async getText(path: string): Promise<string> {
    const response = await fetch(`${this.baseUrl}${path}`);
    if (!response.ok) throw new Error(`${this.name} GET ${path} answered ${response.status}`);
    return response.text();
  }

  async post(path: string, token: string): Promise<Record<string, unknown>> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    const body = (await response.json()) as Record<string, unknown>;
    if (!response.ok)
      throw new Error(
        `${this.name} POST ${path} answered ${response.status}: ${JSON.stringify(body).slice(0, 300)}`,
      );
    return body;
  }

  /** SIGTERM, then SIGKILL after 5 s: this process only, by its PID. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Polls `check` until it answers true. */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
