import type { Logger } from "@fogis/runtime";

/**
 * When the processor's cycles run: now, after the running one (cycles never overlap; requests made
 * while one runs share one follow-up cycle), and every interval after the previous one ends; and
 * how they stop: the running cycle may finish within a grace period, after which its slow fetch or
 * delivery is abandoned through `signal`.
 */

export class ProcessorStoppedError extends Error {
  constructor() {
    super("the processor is shutting down");
    this.name = "ProcessorStoppedError";
  }
}

export interface CycleSchedulerOptions<T> {
  /** One cycle; never called while another runs. */
  cycle: (trigger: string) => Promise<T>;
  logger: Logger;
}

export class CycleScheduler<T> {
  private running: Promise<T> | null = null;
  private followUp: Promise<T> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Aborts a cycle's slow fetch or delivery when a shutdown's grace period is over. */
  private readonly shutdown = new AbortController();

  constructor(private readonly options: CycleSchedulerOptions<T>) {}

  /** Aborted when `stop`'s grace period is over. */
  get signal(): AbortSignal {
    return this.shutdown.signal;
  }

  /** Runs a cycle now, or right after the running one. */
  run(trigger: string): Promise<T> {
    if (this.stopped) return Promise.reject(new ProcessorStoppedError());
    if (!this.running) return this.begin(trigger);
    this.followUp ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.followUp = null;
        if (this.stopped) throw new ProcessorStoppedError();
        return this.begin(trigger);
      });
    return this.followUp;
  }

  /** Runs a cycle now and then every `intervalMs` after the previous one ends; 0 disables. */
  start(intervalMs: number): void {
    if (intervalMs <= 0 || this.stopped) return;
    const tick = () => {
      this.timer = null;
      this.run("interval")
        .catch((error: unknown) => {
          if (!(error instanceof ProcessorStoppedError)) {
            this.options.logger.error({ event: "cycle_crashed", err: error }, "cycle crashed");
          }
        })
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, intervalMs);
        });
    };
    tick();
  }

  /** Stops the schedule and waits for the running cycle, abandoning it after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const cycles = Promise.allSettled([this.running, this.followUp].filter(Boolean));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    if ((await Promise.race([cycles, graceOver])) === "timeout") {
      this.options.logger.warn(
        { event: "cycle_abandoned", graceMs },
        "cycle still running at shutdown; abandoning it",
      );
      this.shutdown.abort();
      await cycles;
    }
    clearTimeout(timer);
  }

  private begin(trigger: string): Promise<T> {
    const cycle = this.options.cycle(trigger).finally(() => {
      if (this.running === cycle) this.running = null;
    });
    this.running = cycle;
    return cycle;
  }
}
