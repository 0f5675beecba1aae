import { execFile } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, rmSync, truncateSync, writeSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Redis } from "ioredis";

/**
 * Real faults for the reliability suite, each made the way it happens on a user's machine: a full
 * Redis, a clock that is wrong, a full disk. No mocks: the services see the real error.
 */

const run = promisify(execFile);
/** How far below what is stored fillRedis puts maxmemory: more than a connection's buffers free. */
const FULL_MARGIN_BYTES = 256 * 1024;

/**
 * Fills a Redis started with `--maxmemory` and `noeviction` until it refuses writes; answers the
 * keys written (delete them to make room again). Ever smaller values, so what is left is too little
 * for even a small envelope; then the limit is put below what is stored, because a Redis that
 * refused one write is only just full: a connection that closes or a query buffer that empties frees
 * a few kB, and the next snapshot fitted (a flake under load).
 */
export async function fillRedis(client: Redis): Promise<string[]> {
  const keys: string[] = [];
  for (const size of [64 * 1024, 4096, 256]) {
    const value = "x".repeat(size);
    for (;;) {
      if (keys.length > 10_000) {
        throw new Error("Redis never refused a write: is it started with --maxmemory and noeviction?");
      }
      const key = `filler:${keys.length}`;
      try {
        await client.set(key, value);
        keys.push(key);
      } catch (error) {
        if (/OOM/.test((error as Error).message)) break;
        throw error;
      }
    }
  }
  const used = Number(/used_memory:(\d+)/.exec(await client.info("memory"))?.[1]);
  if (!Number.isFinite(used)) throw new Error("Redis INFO memory has no used_memory");
  await client.config("SET", "maxmemory", String(used - FULL_MARGIN_BYTES));
  return keys;
}

/**
 * The environment that runs a process with its clock shifted by `offset`, e.g. "+1d" (libfaketime,
 * Debian package faketime). LD_PRELOAD rather than the `faketime` program: that one forks, so a
 * signal to it would not reach the service.
 */
export function skewedClock(offset: string): Record<string, string> {
  const arch = process.arch === "arm64" ? "aarch64" : "x86_64";
  const library = `/usr/lib/${arch}-linux-gnu/faketime/libfaketime.so.1`;
  if (!existsSync(library)) {
    throw new Error(
      `${library} is missing: this test skews a clock with libfaketime (apt-get install faketime).`,
    );
  }
  return { LD_PRELOAD: library, FAKETIME: offset };
}

/**
 * A disk that fills up under a service's DATA_DIR, and frees space again. Where the suite may mount
 * (root, as in CI), `dir` becomes a small tmpfs filled with a file, so writes fail with ENOSPC as on
 * a full disk. Elsewhere the service's file-size limit (RLIMIT_FSIZE, set on the running process
 * with prlimit) is lowered, so writes fail with EFBIG.
 */
export class FullDisk {
  private fillerPath: string;
  private filled = 0;

  private constructor(
    readonly dir: string,
    readonly mechanism: "tmpfs" | "rlimit",
  ) {
    this.fillerPath = join(dir, "filler.bin");
  }

  /** Prepares `dir` (before the service starts): a tmpfs of `sizeBytes` where mounting works. */
  static async prepare(dir: string, sizeBytes = 4 * 1024 * 1024): Promise<FullDisk> {
    mkdirSync(dir, { recursive: true });
    try {
      await run("mount", ["-t", "tmpfs", "-o", `size=${sizeBytes},mode=0700`, "tmpfs", dir]);
      return new FullDisk(dir, "tmpfs");
    } catch {
      await run("prlimit", ["--version"]).catch(() => {
        throw new Error("neither a tmpfs mount nor prlimit (util-linux) is available to fill a disk");
      });
      return new FullDisk(dir, "rlimit");
    }
  }

  /** No more room: the tmpfs filled to the last byte, or the process may write no file over 1 KB. */
  async fill(pid: number): Promise<void> {
    if (this.mechanism === "rlimit") {
      await this.limit(pid, 1024);
      return;
    }
    const fd = openSync(this.fillerPath, "a");
    try {
      for (const size of [256 * 1024, 4096, 1]) {
        const chunk = Buffer.alloc(size, 1);
        for (;;) {
          try {
            writeSync(fd, chunk);
            this.filled += size;
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === "ENOSPC") break;
            throw error;
          }
        }
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Frees `bytes` (tmpfs) or allows files of up to `bytes` (rlimit): some room, maybe not enough. */
  async free(pid: number, bytes: number): Promise<void> {
    if (this.mechanism === "rlimit") {
      await this.limit(pid, bytes);
      return;
    }
    this.filled = Math.max(0, this.filled - bytes);
    truncateSync(this.fillerPath, this.filled);
  }

  /** All the room back. */
  async freeAll(pid: number): Promise<void> {
    if (this.mechanism === "rlimit") {
      await run("prlimit", ["--pid", String(pid), "--fsize=unlimited:"]);
      return;
    }
    rmSync(this.fillerPath, { force: true });
    this.filled = 0;
  }

  /** Unmounts the tmpfs (its content goes with it). */
  async close(): Promise<void> {
    if (this.mechanism === "tmpfs") await run("umount", [this.dir]).catch(() => undefined);
  }

  private async limit(pid: number, bytes: number): Promise<void> {
    await run("prlimit", ["--pid", String(pid), `--fsize=${bytes}:`]);
  }
}
