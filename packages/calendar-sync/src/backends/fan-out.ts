import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { type StateFileReport, StateFileStatus, type StateLoadReport } from "../calendar-backend.js";
import { BackendMetrics } from "./backend-metrics.js";
import {
  type BackendStatus,
  type PushBackend,
  type PushSnapshot,
  zeroBackendCounters,
} from "./push-backend.js";
import { PushRunner, type RetryPolicy } from "./push-runner.js";

/**
 * The feed and every configured push backend side by side (DESIGN §11). The feed (calendar.ics and
 * contacts.vcf) is written in the snapshot's apply, which is what acknowledges a snapshot; each push
 * backend then gets the result through its own `PushRunner`, so one that is slow or down never
 * holds up the feed or another backend. `statuses()` is the one list `/health`, `/redis-status`,
 * `/metrics` and the status page show.
 */

export interface BackendFanOutOptions {
  backends: readonly PushBackend[];
  logger: Logger;
  metrics: Registry;
  retry?: Partial<RetryPolicy>;
  clock?: () => Date;
}

export const FEED_BACKEND_NAME = "feed";

/** What an apply changed in the feed: events by count, and whether the phonebook changed. */
export interface FeedApplied {
  created: number;
  updated: number;
  removed: number;
  contactsChanged: boolean;
}

export class BackendFanOut {
  readonly runners: readonly PushRunner[];
  private readonly clock: () => Date;
  private readonly metrics: BackendMetrics;
  private feedSuccess: Date | undefined;
  private feedFailure: { at: Date; message: string } | undefined;
  private feedStateProblem: string | undefined;
  private readonly stateFileStatus = new Map<PushRunner, StateFileStatus>();
  private readonly feedCounters = zeroBackendCounters();

  constructor(options: BackendFanOutOptions) {
    const names = new Set<string>();
    for (const backend of options.backends) {
      if (backend.name === FEED_BACKEND_NAME || names.has(backend.name)) {
        throw new Error(`two push backends are named "${backend.name}"; each needs its own name`);
      }
      names.add(backend.name);
    }
    this.clock = options.clock ?? (() => new Date());
    this.metrics = new BackendMetrics(options.metrics);
    this.runners = options.backends.map(
      (backend) =>
        new PushRunner({
          backend,
          logger: options.logger,
          metrics: this.metrics,
          retry: options.retry,
          clock: this.clock,
        }),
    );
    this.observeFeed();
  }

  /** Loads every push backend's state file, by backend name. */
  async load(): Promise<Record<string, StateLoadReport>> {
    const reports: Record<string, StateLoadReport> = {};
    for (const runner of this.runners) {
      const file = new StateFileStatus();
      this.stateFileStatus.set(runner, file);
      reports[runner.backend.name] = file.loaded(await runner.backend.load());
    }
    return reports;
  }

  /**
   * Every push backend's state file now, by backend name (for /health's `state_files`): a backend
   * saves its state as it syncs, so after a successful sync its file is there whatever it was at start.
   */
  stateFiles(): Record<string, StateFileReport> {
    const reports: Record<string, StateFileReport> = {};
    for (const runner of this.runners) {
      const file = this.stateFileStatus.get(runner);
      if (!file) continue;
      const synced = runner.status().lastSuccess;
      if (synced) file.saved(new Date(synced));
      reports[runner.backend.name] = file.report();
    }
    return reports;
  }

  /** The feed's state file could not be read at start; shown until the next apply rebuilds it. */
  feedStateCorrupt(reason: string): void {
    this.feedStateProblem = `state file unreadable at start (${reason}); rebuilt by the next snapshot`;
    this.observeFeed();
  }

  /**
   * The feed (and phonebook file) took a snapshot. Push backends get the result when anything
   * changed; an unchanged snapshot costs them nothing.
   */
  feedApplied(applied: FeedApplied, snapshot: () => PushSnapshot): void {
    this.feedCounters.syncs += 1;
    this.feedCounters.created += applied.created;
    this.feedCounters.updated += applied.updated;
    this.feedCounters.removed += applied.removed;
    this.feedSuccess = this.clock();
    this.feedFailure = undefined;
    this.feedStateProblem = undefined;
    this.observeFeed();
    if (applied.created + applied.updated + applied.removed > 0 || applied.contactsChanged) {
      this.offer(snapshot());
    }
  }

  feedFailed(message: string): void {
    this.feedCounters.syncs += 1;
    this.feedCounters.failures += 1;
    this.feedFailure = { at: this.clock(), message };
    this.observeFeed();
  }

  /** Hands the snapshot to every push backend; returns at once. */
  offer(snapshot: PushSnapshot): void {
    for (const runner of this.runners) runner.offer(snapshot);
  }

  /** The feed first, then the push backends in configuration order. */
  statuses(): BackendStatus[] {
    return [this.feedStatus(), ...this.runners.map((runner) => runner.status())];
  }

  /** Resolves once every push backend has synced the latest snapshot (tests, benchmark). */
  async whenSynced(): Promise<void> {
    await Promise.all(this.runners.map((runner) => runner.whenSynced()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.runners.map((runner) => runner.stop()));
  }

  private feedStatus(): BackendStatus {
    const failure = this.feedFailure;
    return {
      name: FEED_BACKEND_NAME,
      kind: "ics-feed",
      status: failure ? "fail" : this.feedStateProblem ? "warn" : "pass",
      lastSuccess: this.feedSuccess?.toISOString() ?? null,
      lastAttempt: (failure?.at ?? this.feedSuccess)?.toISOString() ?? null,
      lastError: failure?.message ?? this.feedStateProblem ?? null,
      pending: 0,
      nextRetry: null,
      target: { calendar: "/calendar.ics", contacts: "/contacts.vcf" },
      counters: { ...this.feedCounters },
    };
  }

  private observeFeed(): void {
    this.metrics.observe(this.feedStatus());
  }
}
