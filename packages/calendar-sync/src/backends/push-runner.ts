import type { Logger } from "pino";
import type { BackendMetrics } from "./backend-metrics.js";
import {
  type BackendStatus,
  emptyPushCounts,
  type PushBackend,
  PushError,
  type PushErrorKind,
  type PushSnapshot,
  zeroBackendCounters,
} from "./push-backend.js";

/**
 * Runs one push backend: hands it the latest snapshot, one sync at a time, retries with backoff
 * when it fails, and keeps its status. Latest wins: a snapshot offered while a sync runs (or while
 * a retry waits) replaces the one before it, which the backend then never needs to write. A retry
 * needs no new snapshot, so a backend whose server comes back catches up by itself.
 */

export interface RetryPolicy {
  /** First wait after a transient failure; doubles on each further one. */
  initialMs: number;
  /** Longest wait between transient retries. */
  maxMs: number;
  /** Wait after a failure only the user can fix (wrong password, ...). */
  permanentMs: number;
  /** A transient failure that lasts this long turns the status from warn to fail. */
  failAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  initialMs: 1000,
  maxMs: 60_000,
  permanentMs: 5 * 60_000,
  failAfterMs: 10 * 60_000,
};

export interface PushRunnerOptions {
  backend: PushBackend;
  logger: Logger;
  metrics: BackendMetrics;
  retry?: Partial<RetryPolicy>;
  clock?: () => Date;
}

interface Failure {
  kind: PushErrorKind;
  message: string;
  since: Date;
  attempts: number;
}

export class PushRunner {
  readonly backend: PushBackend;
  private readonly logger: Logger;
  private readonly metrics: BackendMetrics;
  private readonly retry: RetryPolicy;
  private readonly clock: () => Date;
  private latest: PushSnapshot | undefined;
  /** The latest snapshot has not been synced yet. */
  private dirty = false;
  private running: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private nextRetry: Date | undefined;
  private readonly abort = new AbortController();
  private failure: Failure | undefined;
  private lastSuccess: Date | undefined;
  private lastAttempt: Date | undefined;
  private readonly totals = zeroBackendCounters();
  private syncedWaiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];

  constructor(options: PushRunnerOptions) {
    this.backend = options.backend;
    this.logger = options.logger.child({ backend: options.backend.name });
    this.metrics = options.metrics;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.clock = options.clock ?? (() => new Date());
  }

  /** Hands over the latest snapshot. Returns at once; the sync runs in the background. */
  offer(snapshot: PushSnapshot): void {
    if (this.abort.signal.aborted) return;
    this.latest = snapshot;
    this.dirty = true;
    this.observe();
    // While a retry waits, the timer picks the new snapshot up: a server that is down is not
    // asked again sooner because FOGIS changed something.
    if (!this.retryTimer) this.kick();
  }

  /** Resolves once the latest offered snapshot is synced (for tests and the benchmark). */
  whenSynced(): Promise<void> {
    if (!this.dirty && !this.running && this.latest && !this.failure) return Promise.resolve();
    return new Promise((resolve, reject) => this.syncedWaiters.push({ resolve, reject }));
  }

  status(): BackendStatus {
    const failure = this.failure;
    let status: BackendStatus["status"] = "pass";
    if (failure) {
      const long = this.clock().getTime() - failure.since.getTime() >= this.retry.failAfterMs;
      status = failure.kind === "permanent" || long ? "fail" : "warn";
    } else if (!this.lastSuccess) {
      status = "warn"; // not synced yet since start
    }
    return {
      name: this.backend.name,
      kind: this.backend.kind,
      status,
      lastSuccess: this.lastSuccess?.toISOString() ?? null,
      lastAttempt: this.lastAttempt?.toISOString() ?? null,
      lastError: failure?.message ?? null,
      pending: this.latest ? this.backend.pending(this.latest) : 0,
      nextRetry: this.nextRetry?.toISOString() ?? null,
      target: this.backend.describe(),
      counters: { ...this.totals },
    };
  }

  /** Stops retrying, aborts a sync in progress and waits for it to wind down. */
  async stop(): Promise<void> {
    this.abort.abort();
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.running;
    for (const waiter of this.syncedWaiters.splice(0)) waiter.reject(new Error("push backend stopped"));
  }

  private kick(): void {
    this.running ??= this.loop().finally(() => {
      this.running = undefined;
      this.observe();
    });
  }

  private async loop(): Promise<void> {
    while (this.dirty && this.latest && !this.abort.signal.aborted) {
      this.dirty = false;
      const snapshot = this.latest;
      const counts = emptyPushCounts();
      const started = performance.now();
      this.lastAttempt = this.clock();
      try {
        await this.backend.sync(snapshot, { signal: this.abort.signal, counts });
      } catch (error) {
        this.dirty = true; // the snapshot is still to be synced
        this.count("failed", counts);
        if (this.abort.signal.aborted) return;
        this.failed(error, counts);
        return;
      }
      this.count("ok", counts);
      this.succeeded(counts, performance.now() - started, snapshot);
    }
    if (!this.dirty) for (const waiter of this.syncedWaiters.splice(0)) waiter.resolve();
  }

  private succeeded(counts: ReturnType<typeof emptyPushCounts>, ms: number, snapshot: PushSnapshot): void {
    const recovered = this.failure;
    this.failure = undefined;
    this.nextRetry = undefined;
    this.lastSuccess = this.clock();
    const wrote = counts.created + counts.updated + counts.removed;
    const fields = {
      event: "push_synced",
      ...counts,
      ms: Math.round(ms),
      // How long after the feed had the snapshot this backend had it too.
      behind_feed_ms: this.lastSuccess.getTime() - snapshot.appliedAt.getTime(),
    };
    if (recovered) {
      this.logger.info(
        { ...fields, failed_attempts: recovered.attempts },
        `${this.backend.name} is back and up to date`,
      );
    } else if (wrote) {
      this.logger.info(fields, `${this.backend.name} updated`);
    } else {
      this.logger.debug(fields, `${this.backend.name} already up to date`);
    }
  }

  private failed(error: unknown, counts: ReturnType<typeof emptyPushCounts>): void {
    const pushError = error instanceof PushError ? error : undefined;
    const kind = pushError?.kind ?? "transient";
    const message = describeFailure(error);
    const now = this.clock();
    const attempts = (this.failure?.attempts ?? 0) + 1;
    this.failure = {
      kind,
      message,
      // A failure of a new kind starts a new episode; the same kind keeps its start time.
      since: this.failure?.kind === kind ? this.failure.since : now,
      attempts,
    };
    const backoff =
      kind === "permanent"
        ? this.retry.permanentMs
        : Math.min(this.retry.maxMs, this.retry.initialMs * 2 ** Math.min(attempts - 1, 20));
    const wait = Math.max(backoff, pushError?.retryAfterMs ?? 0);
    this.nextRetry = new Date(now.getTime() + wait);
    const fields = {
      event: "push_failed",
      kind,
      err: message,
      attempt: attempts,
      retry_in_ms: wait,
      ...counts,
    };
    if (kind === "permanent") this.logger.error(fields, `${this.backend.name} needs attention: ${message}`);
    else this.logger.warn(fields, `${this.backend.name} could not sync; retrying`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.nextRetry = undefined;
      this.dirty = true;
      this.kick();
    }, wait);
    this.retryTimer.unref();
  }

  private count(outcome: "ok" | "failed", counts: ReturnType<typeof emptyPushCounts>): void {
    this.totals.syncs += 1;
    if (outcome === "failed") this.totals.failures += 1;
    this.totals.created += counts.created;
    this.totals.updated += counts.updated;
    this.totals.removed += counts.removed;
    this.totals.conflicts += counts.conflicts;
    this.totals.requests += counts.requests;
    this.metrics.synced({ backend: this.backend.name, kind: this.backend.kind }, outcome, counts);
  }

  private observe(): void {
    this.metrics.observe(this.status());
  }
}

/** The error as the status shows it: the message and, when the user must act, the fix. No stack. */
function describeFailure(error: unknown): string {
  const message = scrubCredentials(error instanceof Error ? error.message : String(error));
  const fix = error instanceof PushError ? error.fix : undefined;
  return fix ? `${message}. Fix: ${fix}` : message;
}

/** A safety net: whatever a library puts in an error, a URL's user:password never reaches a status or log. */
export function scrubCredentials(text: string): string {
  return text.replace(/\/\/[^/\s:@]*:[^/\s@]*@/g, "//***@");
}
