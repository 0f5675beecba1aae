import { type PushContext, PushError } from "./push-backend.js";

/**
 * One sync pass of a push backend, the frame the same for every backend: its requests abort when
 * the service stops and are counted into the pass's counts, an error reaches the runner without a
 * credential in it, and the state is saved however the pass ends (what was finished stays done).
 */

/** Attempts at one item when it keeps changing on the server under us (each a 412, re-read, merged). */
export const MAX_WRITE_ATTEMPTS = 4;

/** How a backend reaches its server (a DAV connection, a Google API's requests). */
export interface PushTransport {
  /** Requests made since start. */
  readonly requests: number;
  /** Requests from here on abort with this signal. */
  useSignal(signal: AbortSignal): void;
  /** A text with every credential of this server taken out. */
  scrub(text: string): string;
}

export interface PushPassOptions {
  context: PushContext;
  transport: PushTransport;
  state: { save(): Promise<void> };
  /** What the backend keeps for one pass only (server copies read): emptied when it starts and ends. */
  passScoped?: ReadonlyArray<{ clear(): void }>;
}

export async function runPushPass(options: PushPassOptions, pass: () => Promise<void>): Promise<void> {
  const { context, transport, passScoped = [] } = options;
  transport.useSignal(context.signal);
  const before = transport.requests;
  for (const scoped of passScoped) scoped.clear();
  try {
    await pass();
  } catch (error) {
    if (error instanceof PushError) {
      throw new PushError(transport.scrub(error.message), {
        kind: error.kind,
        fix: error.fix,
        retryAfterMs: error.retryAfterMs,
        cause: error,
      });
    }
    throw error;
  } finally {
    context.counts.requests += transport.requests - before;
    for (const scoped of passScoped) scoped.clear();
    await options.state.save();
  }
}
