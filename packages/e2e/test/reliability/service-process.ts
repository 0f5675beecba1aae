import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnService, waitUntilServing } from "@fogis/runtime";

/**
 * One of the two services as a real process, the way compose runs it: `node <the services' flags>
 * packages/<svc>/dist/main.js` with an environment, stopped with SIGTERM or SIGKILL, restarted on the
 * same port and data dir.
 * Everything it prints (stdout and stderr) is kept, across restarts, so tests can search the logs.
 */

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "../../../..");

export type ServiceName = "match-processor" | "calendar-sync";

/** Every service log line and stderr chunk of this test file, for the secret scan. */
const allOutput: string[] = [];
export function capturedOutput(): string {
  return allOutput.join("");
}

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** dist/main.js of a service; fails with the fix when it is missing. */
export function builtMain(service: ServiceName): string {
  const main = join(repoRoot, "packages", service, "dist", "main.js");
  if (!existsSync(main)) {
    throw new Error(`${main} is missing: run \`pnpm build\` first (pnpm test:reliability does).`);
  }
  return main;
}

export interface ServiceProcessOptions {
  service: ServiceName;
  port: number;
  env: Record<string, string>;
  /** Options for node itself, e.g. `--inspect=127.0.0.1:0` for `liveHeapBytes()`. */
  nodeArgs?: string[];
}

export class ServiceProcess {
  readonly service: ServiceName;
  readonly port: number;
  readonly baseUrl: string;
  readonly env: Record<string, string>;
  private readonly nodeArgs: string[];
  private readonly main: string;
  private child: ChildProcess | undefined;
  private exitedPromise: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  private output: string[] = [];

  constructor(options: ServiceProcessOptions) {
    this.service = options.service;
    this.port = options.port;
    this.baseUrl = `http://127.0.0.1:${options.port}`;
    this.env = options.env;
    this.nodeArgs = options.nodeArgs ?? [];
    this.main = builtMain(options.service);
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** stdout + stderr of every run so far. */
  get logs(): string {
    return this.output.join("");
  }

  /** Log lines (pino JSON) of every run so far, parsed; non-JSON lines are skipped. */
  logEvents(): Array<Record<string, unknown>> {
    const events: Array<Record<string, unknown>> = [];
    for (const line of this.logs.split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        events.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // A line cut by SIGKILL.
      }
    }
    return events;
  }

  /**
   * Spawns the process and resolves once it answers `GET /health` at all: 200, or 503 when it is up
   * but cannot save its state (a full disk), which is the test's to judge. It fails at once when the
   * process exits; `timeoutMs` only bounds a process that runs but never listens (on a loaded
   * machine a start can take tens of seconds, so it is generous).
   */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.running) return;
    const child = spawnService(this.main, {
      cwd: repoRoot,
      env: { ...this.env, PORT: String(this.port), HOST: "127.0.0.1" },
      nodeArgs: this.nodeArgs,
    });
    const keep = (chunk: Buffer) => {
      const text = chunk.toString();
      this.output.push(text);
      allOutput.push(text);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.exitedPromise = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        live.delete(child);
        resolve({ code, signal });
      }),
    );
    live.add(child);
    this.child = child;
    // Any answer counts: 503 (up, but cannot save its state) is the test's to judge.
    const verdict = await waitUntilServing(child, {
      baseUrl: this.baseUrl,
      timeoutMs,
      intervalMs: 25,
      accept: () => true,
    });
    if (verdict === "exited") {
      throw new Error(`${this.service} exited during start-up:\n${this.logs.slice(-2000)}`);
    }
    if (verdict === "timed-out") {
      throw new Error(
        `${this.service} did not answer /health within ${timeoutMs} ms:\n${this.logs.slice(-2000)}`,
      );
    }
  }

  /** SIGTERM (graceful) or SIGKILL (crash); resolves with how it exited. */
  async stop(
    signal: "SIGTERM" | "SIGKILL" = "SIGTERM",
  ): Promise<{ code: number | null; signal: string | null }> {
    const child = this.child;
    if (!child || !this.exitedPromise) return { code: null, signal: null };
    if (this.running) child.kill(signal);
    return this.exitedPromise;
  }

  async restart(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    await this.stop(signal);
    await this.start();
  }

  /** Resident set size in bytes, from /proc (Linux). */
  rssBytes(): number {
    const pid = this.pid;
    if (!pid) throw new Error(`${this.service} is not running`);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
    if (!kb) throw new Error(`no VmRSS in /proc/${pid}/status`);
    return Number(kb) * 1024;
  }

  /**
   * Bytes of live JavaScript heap: V8's heap in use right after a full garbage collection, asked
   * through the inspector (start the process with `nodeArgs: ["--inspect=127.0.0.1:0"]`). The
   * heap-used figure of /metrics also counts garbage not collected yet, so it rises and falls with
   * V8's collection schedule rather than with what the process keeps.
   */
  async liveHeapBytes(): Promise<number> {
    const urls = [...this.logs.matchAll(/Debugger listening on (ws:\/\/\S+)/g)];
    const url = urls.at(-1)?.[1];
    if (!url)
      throw new Error(`${this.service} has no inspector: start it with nodeArgs ["--inspect=127.0.0.1:0"]`);
    const socket = new WebSocket(url);
    const pending = new Map<number, (result: Record<string, unknown>) => void>();
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: Record<string, unknown> };
      if (message.id !== undefined) pending.get(message.id)?.(message.result ?? {});
    });
    let nextId = 0;
    const call = (method: string) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const id = ++nextId;
        const timer = setTimeout(() => reject(new Error(`inspector: no answer to ${method}`)), 10_000);
        pending.set(id, (result) => {
          clearTimeout(timer);
          resolve(result);
        });
        socket.send(JSON.stringify({ id, method }));
      });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.addEventListener("open", () => resolve(), { once: true });
        socket.addEventListener("error", () => reject(new Error(`inspector: cannot connect to ${url}`)), {
          once: true,
        });
      });
      await call("HeapProfiler.collectGarbage");
      return Number((await call("Runtime.getHeapUsage")).usedSize);
    } finally {
      socket.close();
    }
  }

  async getJson<T = Record<string, unknown>>(path: string): Promise<{ status: number; body: T }> {
    const response = await fetch(`${this.baseUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : {}) as T };
  }

  async getText(path: string): Promise<{ status: number; text: string }> {
    const response = await fetch(`${this.baseUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
    return { status: response.status, text: await response.text() };
  }

  /** POST with `Authorization: Bearer <token>` (none when `token` is null); a string body is sent as is. */
  async post<T = Record<string, unknown>>(
    path: string,
    options: { token: string | null; body?: unknown; contentType?: string; timeoutMs?: number },
  ): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = { "content-type": options.contentType ?? "application/json" };
    if (options.token !== null) headers.authorization = `Bearer ${options.token}`;
    const body =
      options.body === undefined
        ? undefined
        : typeof options.body === "string" || options.body instanceof Uint8Array
          ? options.body
          : JSON.stringify(options.body);
    const response = await fetch(`${this.baseUrl}${path}`, {
      method: "POST",
      headers,
      body,
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
    const text = await response.text();
    let parsed: unknown = {};
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = { text };
    }
    return { status: response.status, body: parsed as T };
  }
}
