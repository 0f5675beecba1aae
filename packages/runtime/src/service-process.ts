import { type ChildProcess, spawn } from "node:child_process";
import { serviceNodeFlags } from "./node-flags.js";

/**
 * A built service (`dist/main.js`) as a process of its own, and knowing when it serves: what
 * `pnpm start`, the bench and the tests that run the built services share. Each caller reads the
 * child's output and words its own failure; the spawning and the waiting are the same everywhere.
 */

export interface SpawnServiceOptions {
  /** The service's whole environment but PATH (its configuration). */
  env: Record<string, string | undefined>;
  cwd?: string;
  /** Options for node itself besides the services' flags, e.g. `--inspect=127.0.0.1:0`. */
  nodeArgs?: string[];
}

/** `node <the services' flags> <main>`, stdout and stderr piped for the caller to read. */
export function spawnService(main: string, options: SpawnServiceOptions): ChildProcess {
  return spawn(process.execPath, [...serviceNodeFlags(), ...(options.nodeArgs ?? []), main], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? "", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

export interface WaitUntilServingOptions {
  /** Where the child listens, e.g. `http://127.0.0.1:8000`. */
  baseUrl: string;
  /** Bounds a child that runs but never serves; one that exits ends the wait at once. */
  timeoutMs: number;
  intervalMs?: number;
  /** Which `/health` status means it serves; default 2xx. */
  accept?: (status: number) => boolean;
  /**
   * Whether an answer can be our child's, e.g. it has logged that it listens: a port found free
   * can be taken by another process before our child binds it, and then /health answers for that one.
   */
  ours?: () => boolean;
}

/** How the wait ended: the child serves, it exited, or the time ran out. */
export type ServingVerdict = "serving" | "exited" | "timed-out";

/** Polls `GET /health` until the child serves, exits, or `timeoutMs` has passed. */
export async function waitUntilServing(
  child: ChildProcess,
  options: WaitUntilServingOptions,
): Promise<ServingVerdict> {
  const accept = options.accept ?? ((status: number) => status >= 200 && status < 300);
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) return "exited";
    if (options.ours?.() ?? true) {
      // One attempt is bounded too: a process too busy to answer is asked again.
      const status = await fetch(`${options.baseUrl}/health`, { signal: AbortSignal.timeout(5000) })
        .then(async (response) => {
          await response.body?.cancel();
          return response.status;
        })
        .catch(() => undefined);
      if (status !== undefined && accept(status)) return "serving";
    }
    if (Date.now() > deadline) return "timed-out";
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}
