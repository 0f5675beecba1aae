import { join } from "node:path";
import { type Match, MatchSchema } from "@fogis/message-schema";
import { readJsonFile, writeJsonAtomic } from "@fogis/runtime";
import { z } from "zod";
import { MatchNoticeSchema } from "./notices.js";
import type { NotificationBatch, TargetName } from "./targets.js";

/**
 * The notifier's record in DATA_DIR (`notifications.json`), written atomically:
 * - `baseline`: the last match list the notifier took in (only the fields it compares and shows),
 *   and the snapshot hash of that list. A change is told when it appears against this baseline,
 *   and the baseline moves on in the same write that queues the notice: so a change is queued
 *   exactly once, whatever happens to the snapshot's delivery, a restart or Redis.
 * - `departed`: matches that left the list without the referee being told (a removal is low
 *   priority): if one comes back, it is compared with what it was, so a match that FOGIS drops for
 *   a while and lists again is not told as a new assignment.
 * - `outbox`: notices not yet delivered, per target, with the attempts made. They survive a
 *   restart and go out once the target answers (or the attempts run out).
 */

export const NOTIFICATION_STATE_FILE = "notifications.json";

export interface TargetProgress {
  attempts: number;
  /** Parts of the batch the target already took (a batch may need several messages). */
  partsDone: number;
  /** Epoch ms of the next attempt; 0 = now. */
  nextAttemptAt: number;
  lastError: string | null;
}

export interface DepartedMatch {
  match: Match;
  /** Epoch ms. */
  leftAt: number;
}

export interface OutboxEntry {
  batch: NotificationBatch;
  targets: Map<TargetName, TargetProgress>;
}

const IsoTime = z.iso.datetime({ offset: true });

const OutboxEntrySchema = z.object({
  id: z.string().min(1),
  created_at: IsoTime,
  notices: z.array(MatchNoticeSchema).min(1),
  // Only the targets still waiting for the batch are listed.
  targets: z.partialRecord(
    z.enum(["webhook", "ntfy", "email"]),
    z.object({
      attempts: z.number().int().nonnegative(),
      parts_done: z.number().int().nonnegative(),
      next_attempt_at: IsoTime.nullable(),
      last_error: z.string().nullable(),
    }),
  ),
});

const LedgerFileSchema = z.object({
  version: z.literal(1),
  baseline_hash: z.string().nullable(),
  baseline: z.array(z.unknown()),
  departed: z.array(z.object({ match: z.unknown(), left_at: IsoTime })).default([]),
  outbox: z.array(z.unknown()),
});

export interface LedgerLoad {
  /** False when there was no usable record (missing, or corrupt: see problems). */
  found: boolean;
  problems: string[];
}

export class NotificationLedger {
  readonly path: string;
  /** Null until the notifier took in its first list. */
  baseline: Match[] | null = null;
  baselineHash: string | null = null;
  /** By matchid. */
  readonly departed = new Map<number, DepartedMatch>();
  readonly outbox: OutboxEntry[] = [];
  private writing: Promise<void> = Promise.resolve();
  private version = 0;
  private written = 0;

  constructor(dataDir: string) {
    this.path = join(dataDir, NOTIFICATION_STATE_FILE);
  }

  async load(): Promise<LedgerLoad> {
    const read = await readJsonFile(this.path);
    if (read.state === "missing") return { found: false, problems: [] };
    if (read.state === "corrupt") return { found: false, problems: [`${this.path}: ${read.reason}`] };
    const file = LedgerFileSchema.safeParse(read.value);
    if (!file.success) return { found: false, problems: [`${this.path}: not a notification record`] };

    const problems: string[] = [];
    const baseline: Match[] = [];
    for (const item of file.data.baseline) {
      const parsed = MatchSchema.safeParse(item);
      if (parsed.success) baseline.push(parsed.data);
    }
    if (baseline.length < file.data.baseline.length) {
      problems.push(
        `${this.path}: skipped ${file.data.baseline.length - baseline.length} unreadable matches of the baseline`,
      );
    }
    this.baseline = baseline;
    // A partly read baseline must not be taken for the list it was written from.
    this.baselineHash = baseline.length === file.data.baseline.length ? file.data.baseline_hash : null;
    for (const item of file.data.departed) {
      const parsed = MatchSchema.safeParse(item.match);
      if (parsed.success)
        this.departed.set(parsed.data.matchid, { match: parsed.data, leftAt: Date.parse(item.left_at) });
    }
    for (const item of file.data.outbox) {
      const parsed = OutboxEntrySchema.safeParse(item);
      if (!parsed.success) {
        problems.push(`${this.path}: dropped an unreadable pending notification`);
        continue;
      }
      const targets = new Map<TargetName, TargetProgress>();
      for (const [name, progress] of Object.entries(parsed.data.targets)) {
        if (!progress) continue;
        targets.set(name as TargetName, {
          attempts: progress.attempts,
          partsDone: progress.parts_done,
          nextAttemptAt: progress.next_attempt_at ? Date.parse(progress.next_attempt_at) : 0,
          lastError: progress.last_error,
        });
      }
      this.outbox.push({
        batch: { id: parsed.data.id, createdAt: parsed.data.created_at, notices: parsed.data.notices },
        targets,
      });
    }
    return { found: true, problems };
  }

  /** The oldest entry still waiting for `target`: batches go out to a target in the order they were made. */
  next(target: TargetName): OutboxEntry | undefined {
    return this.outbox.find((entry) => entry.targets.has(target));
  }

  pending(target: TargetName): number {
    return this.outbox.reduce((count, entry) => count + (entry.targets.has(target) ? 1 : 0), 0);
  }

  /** The target is done with the entry (delivered or given up); an entry no target waits for leaves. */
  finish(entry: OutboxEntry, target: TargetName): void {
    entry.targets.delete(target);
    if (entry.targets.size === 0) {
      const index = this.outbox.indexOf(entry);
      if (index >= 0) this.outbox.splice(index, 1);
    }
  }

  /**
   * Writes the record as it is when the write starts. Writes never overlap; calls made while one
   * runs share the next one.
   */
  save(): Promise<void> {
    const wanted = ++this.version;
    const run = this.writing.then(async () => {
      if (this.written >= wanted) return;
      const version = this.version;
      await writeJsonAtomic(this.path, this.toJson());
      this.written = version;
    });
    this.writing = run.catch(() => undefined);
    return run;
  }

  private toJson(): z.input<typeof LedgerFileSchema> {
    return {
      version: 1,
      baseline_hash: this.baselineHash,
      baseline: this.baseline ?? [],
      departed: [...this.departed.values()].map((d) => ({
        match: d.match,
        left_at: new Date(d.leftAt).toISOString(),
      })),
      outbox: this.outbox.map((entry) => ({
        id: entry.batch.id,
        created_at: entry.batch.createdAt,
        notices: entry.batch.notices,
        targets: Object.fromEntries(
          [...entry.targets].map(([name, progress]) => [
            name,
            {
              attempts: progress.attempts,
              parts_done: progress.partsDone,
              next_attempt_at: progress.nextAttemptAt ? new Date(progress.nextAttemptAt).toISOString() : null,
              last_error: progress.lastError,
            },
          ]),
        ),
      })),
    };
  }
}
