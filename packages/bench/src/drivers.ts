/**
 * The two ways small messages are driven, shared by the baseline and the project's path so both
 * are measured by the same code: as fast as possible (throughput), and paced (latency).
 */

/** A way for a small message to get from a publisher to a handler, e.g. plain ioredis. */
export interface MessagePath {
  readonly label: string;
  /** Publishes one message; resolves once the publisher's call has returned. */
  send(): Promise<void>;
  /** Set by a driver: called once per message fully handled by the receiver, in publish order. */
  handled: () => void;
}

export interface DriveOptions {
  /** Give up (and fail the run) when the last message has not been handled by then. */
  timeoutMs: number;
}

/**
 * Publishes `count` messages, at most `window` unanswered at a time, and answers messages per
 * second from the first publish to the last message handled.
 */
export async function driveThroughput(
  path: MessagePath,
  count: number,
  window: number,
  options: DriveOptions,
): Promise<number> {
  let handled = 0;
  const allHandled = new Promise<void>((resolve) => {
    path.handled = () => {
      handled += 1;
      if (handled === count) resolve();
    };
  });
  const started = performance.now();
  let inFlight: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    inFlight.push(path.send());
    if (inFlight.length >= window) {
      await Promise.all(inFlight);
      inFlight = [];
    }
  }
  await Promise.all(inFlight);
  await deadline(
    allHandled,
    options.timeoutMs,
    () => `${path.label}: ${handled} of ${count} messages handled`,
  );
  return count / ((performance.now() - started) / 1000);
}

/**
 * Publishes at a steady `ratePerSecond` for `durationMs` and answers each message's latency in ms,
 * from just before its publish call to the end of its handling. A late timer sends the messages it
 * owes at once rather than dropping them, so the rate holds on average.
 */
export async function drivePacedLatency(
  path: MessagePath,
  ratePerSecond: number,
  durationMs: number,
  options: DriveOptions,
): Promise<Float64Array> {
  const count = Math.max(1, Math.round((ratePerSecond * durationMs) / 1000));
  const intervalMs = 1000 / ratePerSecond;
  const sentAt = new Float64Array(count);
  const latencies = new Float64Array(count);
  let handled = 0;
  const allHandled = new Promise<void>((resolve) => {
    path.handled = () => {
      if (handled < count) latencies[handled] = performance.now() - (sentAt[handled] as number);
      handled += 1;
      if (handled === count) resolve();
    };
  });
  let failure: unknown;
  const started = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(count, Math.floor((performance.now() - started) / intervalMs) + 1);
      while (sent < due) {
        sentAt[sent] = performance.now();
        path.send().catch((error: unknown) => {
          failure ??= error;
        });
        sent += 1;
      }
      if (sent < count) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  await deadline(
    allHandled,
    options.timeoutMs,
    () => `${path.label}: ${handled} of ${count} messages handled`,
  );
  if (failure) throw failure;
  return latencies;
}

/** Rejects with `describe()` when `promise` has not settled within `ms`. */
export async function deadline<T>(promise: Promise<T>, ms: number, describe: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${describe()}`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
