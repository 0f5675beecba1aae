import type { StateLoadReport } from "../calendar-backend.js";
import {
  type PushBackend,
  type PushContext,
  type PushCounts,
  PushError,
  type PushSnapshot,
} from "./push-backend.js";
import type { PushState, PushStateStore } from "./push-state-store.js";

/**
 * What every push backend with a state file does the same way (CalDAV, CardDAV, Google Calendar,
 * Google Contacts), so that each says only what is its own: what it wants from a snapshot, how much
 * work that is, how it checks its account, and how it writes.
 *
 * One sync pass: nothing to write costs nothing, except once per start: the account is checked
 * then (and the calendar, address book or group found), so a wrong password, a dead sign-in or a
 * wrong calendar shows at once, not at the next change in FOGIS. Requests abort when the service
 * stops and are counted into the pass's counts, an error reaches the runner without a credential
 * in it, and the state is saved however the pass ends (what was finished stays done).
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

/** `S`: the state file's content; `D`: what a snapshot asks of the backend (its items by key). */
export abstract class StatefulPushBackend<S extends PushState, D> implements PushBackend {
  abstract readonly name: string;
  abstract readonly kind: string;
  /** The backend's state file. */
  protected abstract readonly store: PushStateStore<S>;
  protected abstract readonly transport: PushTransport;

  abstract describe(): Record<string, unknown>;
  /** What the snapshot asks of this backend. */
  protected abstract desired(snapshot: PushSnapshot): D;
  /** How many items of `desired` are to be created, updated or removed; no I/O. */
  protected abstract work(desired: D): number;
  /** The account was checked (and the calendar or group found) since start. */
  protected abstract accountChecked(): boolean;
  /** Checks the account and finds (or makes) the calendar, address book or group. */
  protected abstract checkAccount(): Promise<void>;
  /** Makes the server side equal to `desired`, counting what it does. */
  protected abstract reconcile(desired: D, counts: PushCounts): Promise<void>;

  /** What the backend keeps for one pass only (server copies read): emptied when a pass starts and ends. */
  protected passScoped(): ReadonlyArray<{ clear(): void }> {
    return [];
  }

  /** The state as loaded and changed in place (replaced only by the store). */
  protected get state(): S {
    return this.store.state;
  }

  load(): Promise<StateLoadReport> {
    return this.store.load();
  }

  pending(snapshot: PushSnapshot): number {
    return this.work(this.desired(snapshot));
  }

  async sync(snapshot: PushSnapshot, context: PushContext): Promise<void> {
    const desired = this.desired(snapshot);
    const work = this.work(desired);
    if (work === 0 && this.accountChecked()) return;
    this.transport.useSignal(context.signal);
    const before = this.transport.requests;
    for (const scoped of this.passScoped()) scoped.clear();
    try {
      await this.checkAccount();
      if (work > 0) await this.reconcile(desired, context.counts);
    } catch (error) {
      if (error instanceof PushError) {
        throw new PushError(this.transport.scrub(error.message), {
          kind: error.kind,
          fix: error.fix,
          retryAfterMs: error.retryAfterMs,
          cause: error,
        });
      }
      throw error;
    } finally {
      context.counts.requests += this.transport.requests - before;
      for (const scoped of this.passScoped()) scoped.clear();
      await this.store.save();
    }
  }
}
