import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { PushError } from "../push-backend.js";
import type { GoogleAuthorization } from "./google-auth.js";

/**
 * How one Google backend makes its calls: every request counted, aborted when the service stops,
 * and the failures Google documents as temporary (429, 500/502/503/504, and a 403 whose reason is
 * `rateLimitExceeded` or `userRateLimitExceeded`) retried with exponential backoff and full jitter,
 * at least as long as a `Retry-After` asks. When the retries run out the sync stops with a
 * transient `PushError` whose `retryAfterMs` carries the next jittered wait to the runner, so a
 * burst of 429s slows the whole backend down instead of hammering on. The client libraries' own
 * retry is off: it has no jitter and does not know Google's rate-limit 403.
 */

export interface GoogleRetryPolicy {
  /** Tries of one call (the first included) before the sync gives up for now. */
  attempts: number;
  /** First backoff; doubles per retry, each wait drawn at random from 0 up to it (full jitter). */
  baseMs: number;
  /** Longest single wait inside a sync; a longer Retry-After is left to the runner. */
  maxMs: number;
}

export const DEFAULT_GOOGLE_RETRY: GoogleRetryPolicy = { attempts: 4, baseMs: 1000, maxMs: 32_000 };

const RATE_LIMIT_REASONS = new Set(["rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"]);
const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

/** A Google API answer the caller may handle (404, 409, 410, 412, a 400 FAILED_PRECONDITION ...). */
export class GoogleApiError extends PushError {
  constructor(
    readonly status: number,
    /** Google's reason: `errors[0].reason` (Calendar) or `status` / ErrorInfo reason (People). */
    readonly reason: string,
    message: string,
    options: { kind: "transient" | "permanent"; fix?: string; retryAfterMs?: number },
  ) {
    super(message, options);
  }
}

/** What each Google backend is built from; `configured.ts` hands both the same sign-in. */
export interface GoogleBackendOptions {
  auth: GoogleAuthorization;
  /** GOOGLE_API_BASE_URL: the client's rootUrl; undefined = Google's. */
  apiBaseUrl: string | undefined;
  dataDir: string;
  logger: Logger;
  fetch?: typeof fetch;
  retry?: Partial<GoogleRetryPolicy>;
  random?: () => number;
}

export interface GoogleRequestsOptions
  extends Pick<GoogleBackendOptions, "auth" | "fetch" | "retry" | "random"> {
  /** Which API, for messages ("Google Calendar", "Google Contacts"). */
  service: string;
  /** The scope this API needs, named in the fix when it is missing. */
  scopeFix: string;
}

export class GoogleRequests {
  /** Requests made since start (every attempt counts). */
  requests = 0;
  private signal: AbortSignal | undefined;
  private readonly baseFetch: typeof fetch;
  private readonly retry: GoogleRetryPolicy;
  private readonly random: () => number;
  private readonly options: GoogleRequestsOptions;

  constructor(options: GoogleRequestsOptions) {
    this.options = options;
    this.baseFetch = options.fetch ?? fetch;
    this.retry = { ...DEFAULT_GOOGLE_RETRY, ...options.retry };
    this.random = options.random ?? Math.random;
  }

  /** The fetch to hand the client library: counted, and aborted with the sync. */
  readonly fetch = (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    this.requests += 1;
    const signals = [AbortSignal.timeout(30_000)];
    if (this.signal) signals.push(this.signal);
    if (init?.signal) signals.push(init.signal);
    return this.baseFetch(input, { ...init, signal: AbortSignal.any(signals) });
  };

  /** Requests from here on abort with this signal (the service stopping). */
  useSignal(signal: AbortSignal): void {
    this.signal = signal;
  }

  /** A text with every token and secret of the sign-in taken out. */
  scrub(text: string): string {
    return this.options.auth.scrub(text);
  }

  /** The options of a googleapis client (Calendar, People) whose calls go through these requests. */
  clientOptions(apiBaseUrl: string | undefined) {
    return {
      auth: this.options.auth.client,
      ...(apiBaseUrl ? { rootUrl: apiBaseUrl.endsWith("/") ? apiBaseUrl : `${apiBaseUrl}/` } : {}),
      fetchImplementation: this.fetch,
      // Retried here instead: see the comment at the top.
      retry: false,
    };
  }

  /**
   * Runs one API call, retrying what Google says is temporary. Resolves with the response data;
   * rejects with a `GoogleApiError` (an HTTP answer), or a `PushError` for the sign-in or network.
   */
  async call<T>(what: string, run: () => Promise<{ data: T }>): Promise<T> {
    let refreshedAfter401 = false;
    for (let attempt = 1; ; attempt += 1) {
      await this.options.auth.ready();
      let failure: PushError;
      try {
        return (await run()).data;
      } catch (error) {
        if (this.signal?.aborted) throw error;
        const auth = await this.options.auth.authFailure(error);
        if (auth) throw auth;
        failure = this.describe(what, error);
      }
      if (failure instanceof GoogleApiError && failure.status === 401 && !refreshedAfter401) {
        // The access token was refused before its expiry: refresh it once and try again.
        refreshedAfter401 = true;
        this.options.auth.expireAccessToken();
        attempt -= 1;
        continue;
      }
      const retryable = failure.kind === "transient";
      if (!retryable) throw failure;
      const backoff = this.backoff(attempt);
      const wait = Math.max(backoff, failure.retryAfterMs ?? 0);
      if (attempt >= this.retry.attempts || wait > this.retry.maxMs) {
        // Leave the rest to the runner, which waits at least this long before the next sync.
        throw new PushError(failure.message, {
          kind: "transient",
          fix: failure.fix,
          retryAfterMs: Math.max(this.backoff(attempt + 1), failure.retryAfterMs ?? 0),
          cause: failure,
        });
      }
      await sleep(wait, undefined, { signal: this.signal });
    }
  }

  /** `call` for a read: undefined when Google answers that there is no such item (one of `goneStatuses`). */
  async callUnlessGone<T>(
    what: string,
    run: () => Promise<{ data: T }>,
    goneStatuses: readonly number[],
  ): Promise<T | undefined> {
    try {
      return await this.call(what, run);
    } catch (error) {
      if (error instanceof GoogleApiError && goneStatuses.includes(error.status)) return undefined;
      throw error;
    }
  }

  /** Every page of a listing, one `call` each, following `nextPageToken`. */
  async *pages<T extends { nextPageToken?: string | null }>(
    what: string,
    run: (pageToken: string | undefined) => Promise<{ data: T }>,
  ): AsyncGenerator<T> {
    let pageToken: string | undefined;
    do {
      const page: T = await this.call(what, () => run(pageToken));
      yield page;
      pageToken = page.nextPageToken ?? undefined;
    } while (pageToken);
  }

  /** Full jitter: a random wait between 0 and base * 2^(attempt-1), capped. */
  private backoff(attempt: number): number {
    const ceiling = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** (attempt - 1));
    return Math.round(this.random() * ceiling);
  }

  private describe(what: string, error: unknown): PushError {
    if (error instanceof PushError) return error;
    const err = error as {
      status?: number;
      code?: string | number;
      message?: string;
      name?: string;
      response?: { status?: number; data?: unknown; headers?: Headers | Record<string, string> };
      cause?: { code?: string };
    };
    const { service, scopeFix } = this.options;
    const status = err.response?.status ?? (typeof err.status === "number" ? err.status : undefined);
    if (status === undefined) {
      const code = String(err.cause?.code ?? err.code ?? err.name ?? "network error");
      if (err.name === "TimeoutError" || code === "TimeoutError") {
        return new PushError(`${service} did not answer in time (${what})`, { kind: "transient" });
      }
      return new PushError(`cannot reach ${service} (${what}: ${code})`, { kind: "transient" });
    }
    const { reason, message } = googleReason(err.response?.data);
    const retryAfterMs = parseRetryAfter(headerOf(err.response?.headers, "retry-after"));
    const text = `${service} answered ${status}${reason ? ` ${reason}` : ""} to ${what}${message ? `: ${this.options.auth.scrub(message)}` : ""}`;
    if (RETRYABLE_STATUS.has(status) || (status === 403 && RATE_LIMIT_REASONS.has(reason))) {
      return new GoogleApiError(status, reason, text, { kind: "transient", retryAfterMs });
    }
    if (status === 403 && (reason === "quotaExceeded" || reason === "dailyLimitExceeded")) {
      // The daily quota: nothing helps before it resets, so wait long.
      return new GoogleApiError(status, reason, text, { kind: "transient", retryAfterMs: 60 * 60_000 });
    }
    if (status === 401) {
      return new GoogleApiError(status, reason, text, { kind: "permanent", fix: scopeFix });
    }
    if (
      status === 403 &&
      (reason === "insufficientPermissions" ||
        reason === "ACCESS_TOKEN_SCOPE_INSUFFICIENT" ||
        /scope/i.test(message))
    ) {
      return new GoogleApiError(status, reason, text, { kind: "permanent", fix: scopeFix });
    }
    if (status === 403 && (reason === "accessNotConfigured" || reason === "SERVICE_DISABLED")) {
      return new GoogleApiError(status, reason, text, {
        kind: "permanent",
        fix: `enable the ${service === "Google Calendar" ? "Google Calendar API" : "People API"} in the Google Cloud project of your OAuth client (APIs & Services -> Library)`,
      });
    }
    return new GoogleApiError(status, reason, text, { kind: "permanent", retryAfterMs });
  }
}

/**
 * Google's error body: Calendar's `{error: {errors: [{reason}], code, message}}` or the newer
 * `{error: {code, message, status, details: [{reason}]}}` the People API sends.
 */
function googleReason(data: unknown): { reason: string; message: string } {
  const error = (data as { error?: unknown } | undefined)?.error;
  if (typeof error !== "object" || error === null) return { reason: "", message: "" };
  const e = error as {
    errors?: Array<{ reason?: string }>;
    status?: string;
    message?: string;
    details?: Array<{ reason?: string }>;
  };
  const reason =
    e.errors?.[0]?.reason ?? e.details?.find((detail) => detail.reason)?.reason ?? e.status ?? "";
  return { reason, message: typeof e.message === "string" ? e.message.slice(0, 200) : "" };
}

function headerOf(headers: Headers | Record<string, string> | undefined, name: string): string | null {
  if (!headers) return null;
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name);
  const record = headers as Record<string, string>;
  return record[name] ?? record[name.toLowerCase()] ?? null;
}

export function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
