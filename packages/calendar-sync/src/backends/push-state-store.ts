import { createHash } from "node:crypto";
import { join } from "node:path";
import { readJsonFile, writeJsonAtomic } from "@fogis/runtime";
import type { Logger } from "pino";
import type { z } from "zod";
import type { StateLoadReport } from "../calendar-backend.js";

/**
 * A push backend's own state file, `<DATA_DIR>/<name>.json`: what it wrote where, so the next
 * sync (and the next start) writes only what changed. Every backend's file has the same frame —
 * `version`, the `target` digest of the place its items live in, and `items` by key — plus the
 * fields of its own protocol. A file for another target (the settings now name another server,
 * account or calendar) is set aside: the backend starts fresh there and leaves the old place alone.
 */

/** The frame every push backend's state file has. */
export interface PushState {
  version: 1;
  /** Digest of where the items live; see `PushStateStoreOptions.target`. */
  target: string;
  items: Record<string, unknown>;
}

export interface PushStateStoreOptions<S extends PushState> {
  /** The backend's name: the file is `<dataDir>/<name>.json`, and log lines name it. */
  name: string;
  dataDir: string;
  schema: z.ZodType<S>;
  /**
   * What identifies the place the items live in (kind, server, account, collection); digested
   * into the file's `target`. The digest is in users' files: the parts and their order are fixed.
   */
  target: readonly string[];
  /** The state before anything was written to this target. */
  empty: (target: string) => S;
  /** The backend's logger. */
  logger: Logger;
  /** The `push_target_changed` line when the file is for another target; unset: not logged. */
  targetChangedMessage?: string;
  /** What makes up for a lost state, for the log lines: "the next sync finds our contacts again". */
  recovery: string;
  /** The `state_write_failed` line's consequence, when it differs from `recovery`. */
  writeFailedRecovery?: string;
}

export class PushStateStore<S extends PushState> {
  /** The current state; the backend changes it in place and calls `save()`. */
  state: S;
  readonly path: string;
  readonly target: string;
  private readonly options: PushStateStoreOptions<S>;
  private saving: Promise<void> = Promise.resolve();

  constructor(options: PushStateStoreOptions<S>) {
    this.options = options;
    this.path = join(options.dataDir, `${options.name}.json`);
    this.target = createHash("sha256").update(JSON.stringify(options.target)).digest("hex").slice(0, 16);
    this.state = options.empty(this.target);
  }

  /** Reads the file. A corrupt one is logged and reads as empty: the backend finds its items again. */
  async load(): Promise<StateLoadReport> {
    const { logger } = this.options;
    const read = await readJsonFile(this.path);
    if (read.state === "missing") return read;
    const parsed = read.state === "ok" ? this.options.schema.safeParse(read.value) : undefined;
    if (parsed?.success) {
      if (parsed.data.target !== this.target) {
        if (this.options.targetChangedMessage) {
          logger.info({ event: "push_target_changed", file: this.path }, this.options.targetChangedMessage);
        }
        return { state: "ok", count: 0 };
      }
      this.state = parsed.data;
      return { state: "ok", count: Object.keys(parsed.data.items).length };
    }
    const reason = read.state === "corrupt" ? read.reason : "unexpected content";
    logger.error(
      { event: "state_corrupt", file: this.path, reason },
      `${this.options.name} state file is corrupt; starting empty: ${this.options.recovery}`,
    );
    return { state: "corrupt", reason };
  }

  /** Forgets every item (the collection is new, or gone); saved with the next `save()`. */
  reset(): S {
    this.state = this.options.empty(this.target);
    return this.state;
  }

  /** Saves are chained, so an older state never lands after a newer one. A failed save is logged. */
  save(): Promise<void> {
    this.saving = this.saving.then(() =>
      writeJsonAtomic(this.path, this.state).catch((error: Error) => {
        this.options.logger.warn(
          { event: "state_write_failed", file: this.path, err: error.message },
          `could not save the push state; ${this.options.writeFailedRecovery ?? this.options.recovery}`,
        );
      }),
    );
    return this.saving;
  }
}
