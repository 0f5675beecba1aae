import { randomUUID } from "node:crypto";
import type { ChangePriority, Match } from "@fogis/message-schema";
import type { HealthStatus, Logger } from "@fogis/runtime";
import { Counter, Gauge, type Registry } from "prom-client";
import { detectChanges } from "../change-detector.js";
import type { NotifyLanguage } from "./config.js";
import { NotificationLedger, type OutboxEntry, type TargetProgress } from "./ledger.js";
import { buildNotices, type MatchNotice, notificationView } from "./notices.js";
import type { SecretRedactor } from "./redact.js";
import {
  type NotificationBatch,
  NotificationError,
  type NotificationTarget,
  type TargetKind,
  type TargetName,
} from "./targets.js";

/**
 * Tells the referee about changes (DESIGN §12). Each cycle the processor hands over the list it
 * fetched (`observe`); the notifier compares it with the last list it took in, turns the changes
 * that matter into one batch per cycle, and records batch and new baseline in one atomic write
 * before anything is sent. Each target then gets the batch in the background, in order, with
 * bounded retries; a cycle never waits for a target and no target waits for another.
 *
 * What "the same change" is: a match's move from one value to another (kick-off 17:00 -> 18:30,
 * cancelled, a new assignment) against the notifier's own baseline. Once queued, the baseline
 * holds the new value, so a resent snapshot, a heartbeat, a restart, a Redis outage or a failed
 * and repeated delivery finds nothing new; a later move back (18:30 -> 17:00) is a new change and
 * is told. A match that left the list untold (a removal is low priority) and comes back is
 * compared with what it was, so FOGIS leaving a match out for a while is no new assignment.
 * The baseline is independent of the snapshot's delivery: a referee hears of a moved
 * kick-off even while calendar-sync is down.
 */

export interface ChangeNotifierOptions {
  targets: NotificationTarget[];
  dataDir: string;
  language: NotifyLanguage;
  minPriority: ChangePriority;
  logger: Logger;
  registry: Registry;
  redactor: SecretRedactor;
  /** Waits before the 2nd, 3rd, … attempt of a batch on one target; their count bounds the attempts. */
  retryDelaysMs?: number[];
  /** A Retry-After longer than this is cut to it. Default 1 h. */
  maxRetryAfterMs?: number;
  /** Batches kept per target while it is down; older ones are given up first. Default 100. */
  maxPendingPerTarget?: number;
  now?: () => Date;
}

export interface ObserveInput {
  matches: readonly Match[];
  /** `snapshotHash(matches)`: an unchanged list is recognised without comparing. */
  snapshotHash: string;
  now: Date;
  /**
   * The processor's last delivered list, or null when it never delivered one. Where the notifier
   * starts when it has no record of its own (first enabled, or its file lost).
   */
  deliveredBaseline: readonly Match[] | null;
}

export interface ObserveResult {
  /** Matches told about in this batch (0: nothing new that matters). */
  notices: number;
  batchId: string | null;
  /** The first list ever: taken in silently. */
  firstList: boolean;
}

export interface NotificationTargetStatus {
  name: TargetName;
  kind: TargetKind;
  /** pass: delivering; warn: retrying after a failure; fail: gave a notification up. */
  status: HealthStatus;
  lastSuccess: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  destination: string;
  pending: number;
}

/** 5 s, 30 s, 2 min, 10 min, 30 min, 1 h: a target down for under two hours misses nothing. */
export const DEFAULT_RETRY_DELAYS_MS = [5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000];

type Outcome = "sent" | "retried" | "failed";

/** How long a match that left the list untold is remembered, should it be listed again. */
const DEPARTED_KEEP_MS = 30 * 86_400_000;

export class ChangeNotifier {
  private readonly ledger: NotificationLedger;
  private readonly logger: Logger;
  private readonly runners: TargetRunner[];
  private readonly now: () => Date;
  private loading: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly options: ChangeNotifierOptions) {
    this.ledger = new NotificationLedger(options.dataDir);
    this.logger = options.logger.child({ component: "notifier" });
    this.now = options.now ?? (() => new Date());
    const metrics = new NotificationMetrics(options.registry, options.targets);
    this.runners = options.targets.map(
      (target) =>
        new TargetRunner(target, {
          ledger: this.ledger,
          logger: this.logger,
          metrics,
          redactor: options.redactor,
          retryDelaysMs: options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS,
          maxRetryAfterMs: options.maxRetryAfterMs ?? 3_600_000,
          now: this.now,
        }),
    );
  }

  get stateFile(): string {
    return this.ledger.path;
  }

  get status(): NotificationTargetStatus[] {
    return this.runners.map((runner) => runner.status());
  }

  /** Reads the record once and resumes what was pending; later calls answer the same promise. */
  load(): Promise<void> {
    this.loading ??= this.loadLedger();
    return this.loading;
  }

  /**
   * Takes in a fetched list: queues a batch for the changes that matter and records the list as
   * the new baseline, in one write, before anything is sent. Throws only when that write fails
   * (the batch is still sent; the caller logs it).
   */
  async observe(input: ObserveInput): Promise<ObserveResult> {
    await this.load();
    if (this.ledger.baseline && this.ledger.baselineHash === input.snapshotHash) {
      return { notices: 0, batchId: null, firstList: false };
    }
    const current = input.matches.map(notificationView);
    const previous = this.ledger.baseline ?? input.deliveredBaseline?.map(notificationView) ?? null;
    let notices: MatchNotice[] = [];
    if (previous) {
      // A match that left untold and is listed again is compared with what it was, not told as new.
      const listed = new Set(previous.map((m) => m.matchid));
      const returning = current.flatMap((m) => {
        const departed = listed.has(m.matchid) ? undefined : this.ledger.departed.get(m.matchid);
        return departed ? [departed.match] : [];
      });
      const before = returning.length > 0 ? [...previous, ...returning] : previous;
      const changeSet = detectChanges(before, current, { now: input.now });
      notices = buildNotices(before, current, changeSet.changes, this.options.minPriority);
      this.rememberDeparted(before, returning, changeSet.removedMatchIds, notices, input.now);
    }

    this.ledger.baseline = current;
    this.ledger.baselineHash = input.snapshotHash;
    let batch: NotificationBatch | null = null;
    if (notices.length > 0 && this.runners.length > 0) {
      batch = { id: randomUUID(), createdAt: this.now().toISOString(), notices };
      const targets = new Map<TargetName, TargetProgress>();
      for (const runner of this.runners) {
        targets.set(runner.name, { attempts: 0, partsDone: 0, nextAttemptAt: 0, lastError: null });
      }
      this.ledger.outbox.push({ batch, targets });
      for (const runner of this.runners) runner.trimBacklog(this.options.maxPendingPerTarget ?? 100);
    }
    if (!previous) {
      this.logger.info(
        { event: "notifications_first_list", matches: current.length },
        "first match list taken in silently",
      );
    }
    try {
      await this.ledger.save();
    } finally {
      if (batch) {
        this.logger.info(
          {
            event: "notifications_queued",
            batch: batch.id,
            matches: notices.map((notice) => notice.matchId),
            categories: [...new Set(notices.flatMap((notice) => notice.changes.map((c) => c.category)))],
          },
          `${notices.length} match change(s) to tell`,
        );
        for (const runner of this.runners) runner.kick();
      }
    }
    return { notices: notices.length, batchId: batch?.id ?? null, firstList: !previous };
  }

  /** Keeps untold removals for `DEPARTED_KEEP_MS`; forgets those that came back. */
  private rememberDeparted(
    before: readonly Match[],
    returning: readonly Match[],
    removed: readonly number[],
    notices: readonly MatchNotice[],
    now: Date,
  ): void {
    const departed = this.ledger.departed;
    for (const match of returning) departed.delete(match.matchid);
    const told = new Set(notices.map((notice) => notice.matchId));
    const byId = new Map(before.map((match) => [match.matchid, match]));
    for (const id of removed) {
      const match = byId.get(id);
      if (match && !told.has(id)) departed.set(id, { match, leftAt: now.getTime() });
    }
    for (const [id, entry] of departed) {
      if (now.getTime() - entry.leftAt > DEPARTED_KEEP_MS) departed.delete(id);
    }
  }

  /**
   * Stops sending: timers cleared, requests in flight abandoned after `graceMs`. What was not
   * delivered stays in the record and goes out after the next start.
   */
  async stop({ graceMs = 2000 }: { graceMs?: number } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.runners.map((runner) => runner.stop(graceMs)));
    await Promise.allSettled([this.ledger.save(), ...this.options.targets.map((target) => target.close())]);
  }

  private async loadLedger(): Promise<void> {
    const loaded = await this.ledger.load();
    for (const problem of loaded.problems) {
      this.logger.error(
        { event: "notification_state_corrupt", problem },
        "notification record partly unreadable",
      );
    }
    // Pending notifications for a target that is no longer configured cannot go anywhere.
    const names = new Set(this.runners.map((runner) => runner.name));
    let dropped = 0;
    for (const entry of [...this.ledger.outbox]) {
      for (const name of [...entry.targets.keys()]) {
        if (!names.has(name)) {
          this.ledger.finish(entry, name);
          dropped++;
        }
      }
    }
    if (dropped > 0) {
      this.logger.warn(
        { event: "notifications_dropped", count: dropped },
        "pending notifications for targets no longer configured dropped",
      );
    }
    for (const runner of this.runners) runner.resume();
  }
}

interface RunnerDeps {
  ledger: NotificationLedger;
  logger: Logger;
  metrics: NotificationMetrics;
  redactor: SecretRedactor;
  retryDelaysMs: number[];
  maxRetryAfterMs: number;
  now: () => Date;
}

/** One target's queue: one batch at a time, oldest first, the next attempt on a timer. */
class TargetRunner {
  readonly name: TargetName;
  private lastSuccess: string | null = null;
  private lastError: string | null = null;
  private lastErrorAt: string | null = null;
  private health: HealthStatus = "pass";
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly target: NotificationTarget,
    private readonly deps: RunnerDeps,
  ) {
    this.name = target.name;
  }

  status(): NotificationTargetStatus {
    return {
      name: this.target.name,
      kind: this.target.kind,
      status: this.health,
      lastSuccess: this.lastSuccess,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      destination: this.target.destination,
      pending: this.deps.ledger.pending(this.name),
    };
  }

  /** After a restart: what the record says was failing is shown as such until it is delivered. */
  resume(): void {
    const head = this.deps.ledger.next(this.name)?.targets.get(this.name);
    if (head?.lastError) {
      this.health = "warn";
      this.lastError = head.lastError;
    }
    this.deps.metrics.pending(this.name, this.deps.ledger.pending(this.name));
    this.kick();
  }

  /** Sends what is due now, or sets the timer for when it is. Never waits itself. */
  kick(): void {
    if (this.stopped || this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.drain()
      .catch((error: unknown) => {
        this.deps.logger.error(
          {
            event: "notification_runner_failed",
            target: this.name,
            err: this.deps.redactor.redact(String(error)),
          },
          "notification runner failed",
        );
      })
      .finally(() => {
        this.running = null;
      });
  }

  /** Gives up the oldest batches beyond `max` (a target down for days must not grow the record without bound). */
  trimBacklog(max: number): void {
    while (this.deps.ledger.pending(this.name) > max) {
      const oldest = this.deps.ledger.next(this.name);
      if (!oldest) break;
      this.giveUp(oldest, `more than ${max} notifications waiting; the oldest was given up`);
    }
    this.deps.metrics.pending(this.name, this.deps.ledger.pending(this.name));
  }

  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const running = this.running;
    if (!running) return;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([running, grace]);
    clearTimeout(timer);
    this.abort.abort();
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const entry = this.deps.ledger.next(this.name);
      const progress = entry?.targets.get(this.name);
      if (!entry || !progress) return;
      const wait = progress.nextAttemptAt - this.deps.now().getTime();
      if (wait > 0) {
        this.timer = setTimeout(() => this.kick(), wait);
        this.timer.unref();
        return;
      }
      await this.attempt(entry, progress);
    }
  }

  private async attempt(entry: OutboxEntry, progress: TargetProgress): Promise<void> {
    const { ledger, logger, redactor } = this.deps;
    try {
      const parts = this.target.render(entry.batch);
      for (let index = progress.partsDone; index < parts.length; index++) {
        await this.target.deliver(parts[index], this.abort.signal);
        progress.partsDone = index + 1;
        // A part delivered is never sent again, also not after a restart.
        if (progress.partsDone < parts.length) await ledger.save().catch(() => undefined);
      }
    } catch (error) {
      if (this.stopped) return;
      const failure =
        error instanceof NotificationError
          ? error
          : new NotificationError((error as Error).message ?? String(error), false);
      this.failed(entry, progress, failure, redactor.redact(failure.message));
      return;
    }
    ledger.finish(entry, this.name);
    this.lastSuccess = this.deps.now().toISOString();
    this.health = "pass";
    this.deps.metrics.outcome(this.name, "sent");
    this.deps.metrics.pending(this.name, ledger.pending(this.name));
    logger.info(
      {
        event: "notification_sent",
        target: this.name,
        kind: this.target.kind,
        batch: entry.batch.id,
        matches: entry.batch.notices.length,
        attempts: progress.attempts + 1,
      },
      `notification sent to ${this.name}`,
    );
    await this.save();
  }

  private failed(
    entry: OutboxEntry,
    progress: TargetProgress,
    failure: NotificationError,
    message: string,
  ): void {
    progress.attempts++;
    progress.lastError = message;
    this.lastError = message;
    this.lastErrorAt = this.deps.now().toISOString();
    const delay = this.deps.retryDelaysMs[progress.attempts - 1];
    if (!failure.retryable || delay === undefined) {
      const why = failure.retryable
        ? `gave up after ${progress.attempts} attempts`
        : "not retried: the receiver refused it";
      this.giveUp(entry, `${why}: ${message}`);
      void this.save();
      return;
    }
    const waitMs = Math.max(delay, Math.min(failure.retryAfterMs ?? 0, this.deps.maxRetryAfterMs));
    progress.nextAttemptAt = this.deps.now().getTime() + waitMs;
    this.health = "warn";
    this.deps.metrics.outcome(this.name, "retried");
    this.deps.logger.warn(
      {
        event: "notification_retry",
        target: this.name,
        batch: entry.batch.id,
        attempt: progress.attempts,
        waitMs,
        error: message,
      },
      `notification to ${this.name} failed; retrying in ${Math.round(waitMs / 1000)} s`,
    );
    void this.save();
  }

  private giveUp(entry: OutboxEntry, reason: string): void {
    this.deps.ledger.finish(entry, this.name);
    this.health = "fail";
    this.lastError = reason;
    this.lastErrorAt = this.deps.now().toISOString();
    this.deps.metrics.outcome(this.name, "failed");
    this.deps.metrics.pending(this.name, this.deps.ledger.pending(this.name));
    this.deps.logger.error(
      {
        event: "notification_failed",
        target: this.name,
        batch: entry.batch.id,
        matches: entry.batch.notices.length,
        error: reason,
      },
      `notification to ${this.name} given up`,
    );
  }

  private async save(): Promise<void> {
    try {
      await this.deps.ledger.save();
    } catch (error) {
      this.deps.logger.error(
        {
          event: "notification_state_write_failed",
          file: this.deps.ledger.path,
          err: (error as Error).message,
        },
        "could not save the notification record",
      );
    }
  }
}

/** `/metrics`: notifications by target and outcome, and how many wait per target. */
class NotificationMetrics {
  private readonly total: Counter<"target" | "outcome">;
  private readonly waiting: Gauge<"target">;

  constructor(registry: Registry, targets: readonly NotificationTarget[]) {
    this.total = new Counter({
      name: "fogis_processor_notifications_total",
      help: "Notifications (one per cycle with changes that matter, per target) by target and outcome: sent, retried (an attempt failed, another follows), failed (given up)",
      labelNames: ["target", "outcome"],
      registers: [registry],
    });
    this.waiting = new Gauge({
      name: "fogis_processor_notifications_pending",
      help: "Notifications waiting to be delivered, per target",
      labelNames: ["target"],
      registers: [registry],
    });
    for (const target of targets) {
      for (const outcome of ["sent", "retried", "failed"] as const)
        this.total.inc({ target: target.name, outcome }, 0);
      this.waiting.set({ target: target.name }, 0);
    }
  }

  outcome(target: TargetName, outcome: Outcome): void {
    this.total.inc({ target, outcome });
  }

  pending(target: TargetName, count: number): void {
    this.waiting.set({ target }, count);
  }
}
