import { BodyTooLargeError, readResponseBody, redactUrl } from "@fogis/runtime";
import { z } from "zod";

/**
 * The match-processor's state as the status page needs it, read server-side from the processor's
 * own `GET /redis-status` (so the browser talks to one origin). Short timeout, answers cached
 * briefly and shared by concurrent requests, so a page polling every few seconds costs the
 * processor one small request per cache period, and an unreachable processor costs the page at
 * most the timeout.
 */

/** A report is a few KB; an answer this large is not one, and reading stops there. */
export const MAX_REPORT_BYTES = 256 * 1024;

const state = z.enum(["pass", "warn", "fail"]);
const text = z.string().nullish().catch(undefined);

/** Parsed leniently: a field we cannot read is left out, never a reason to reject the report. */
export const ProcessorReportSchema = z.looseObject({
  status: state.catch("fail"),
  delivery_path: z.enum(["redis", "http", "none"]).optional().catch(undefined),
  redis_status: z
    .looseObject({ enabled: z.boolean().optional(), connected: z.boolean().optional() })
    .optional()
    .catch(undefined),
  fallback: z
    .looseObject({ configured: z.boolean().optional(), lastError: text })
    .optional()
    .catch(undefined),
  last_confirmed_delivery: z
    .looseObject({
      sequence: z.number().nullish().catch(undefined),
      route: text,
      delivered_at: text,
      snapshot_hash: text,
    })
    .nullish()
    .catch(undefined),
  last_cycle: z
    .looseObject({
      status: text,
      outcome: text,
      started_at: text,
      duration_ms: z.number().nullish().catch(undefined),
      error: text,
    })
    .nullish()
    .catch(undefined),
  last_successful_fetch: text,
  /** The newest envelope, delivered or not. */
  latest_snapshot: z
    .looseObject({
      sequence: z.number().nullish().catch(undefined),
      snapshot_hash: text,
      created_at: text,
    })
    .nullish()
    .catch(undefined),
  source: text,
  /** Notification targets (DESIGN §12), each with its own state. */
  notifications: z
    .array(
      z.looseObject({
        name: z.string(),
        kind: text,
        status: state.catch("warn"),
        lastSuccess: text,
        lastError: text,
        pending: z.number().nullish().catch(undefined),
      }),
    )
    .optional()
    .catch(undefined),
  /**
   * What else makes the processor's status less than pass (a second publisher, a match list held
   * back, a state file that cannot be written): each with a stable code and a message to show.
   */
  issues: z
    .array(z.looseObject({ status: z.enum(["warn", "fail"]), code: z.string(), message: z.string() }))
    .optional()
    .catch(undefined),
});

export type ProcessorReport = z.infer<typeof ProcessorReportSchema>;

export type ProcessorReading =
  | { reachable: true; report: ProcessorReport; at: Date }
  | {
      reachable: false;
      /** Why it could not be read; contains no credentials. */
      error: string;
      at: Date;
      /** The last report read, and when: what the page can still say about the steps behind it. */
      lastReport?: ProcessorReport;
      lastReachable?: Date;
    };

export interface ProcessorStatusReaderOptions {
  /** e.g. http://match-processor:8000 */
  processorUrl: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
  /** How long an answer is reused. */
  cacheMs?: number;
  now?: () => Date;
}

export class ProcessorStatusReader {
  private readonly url: string;
  private readonly shownUrl: string;
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;
  private readonly cacheMs: number;
  private readonly now: () => Date;
  private cached: ProcessorReading | undefined;
  private inFlight: Promise<ProcessorReading> | undefined;
  private lastGood: { report: ProcessorReport; at: Date } | undefined;

  constructor(options: ProcessorStatusReaderOptions) {
    const base = options.processorUrl.replace(/\/+$/, "");
    this.url = `${base}/redis-status`;
    // URL parsing adds a "/" to a bare origin; the messages add their own path.
    this.shownUrl = redactUrl(base).replace(/\/+$/, "");
    this.fetch = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? 1500;
    this.cacheMs = options.cacheMs ?? 2000;
    this.now = options.now ?? (() => new Date());
  }

  read(): Promise<ProcessorReading> {
    if (this.cached && this.now().getTime() - this.cached.at.getTime() < this.cacheMs) {
      return Promise.resolve(this.cached);
    }
    this.inFlight ??= this.fetchReport().then((reading) => {
      this.cached = reading;
      this.inFlight = undefined;
      return reading;
    });
    return this.inFlight;
  }

  private async fetchReport(): Promise<ProcessorReading> {
    let error: string;
    try {
      const response = await this.fetch(this.url, {
        signal: AbortSignal.timeout(this.timeoutMs),
        headers: { accept: "application/json" },
      });
      // 503 carries the report too (status "fail"): read the body whatever the code.
      const body = await readReport(response);
      const parsed = ProcessorReportSchema.safeParse(body);
      if (parsed.success) {
        const at = this.now();
        this.lastGood = { report: parsed.data, at };
        return { reachable: true, report: parsed.data, at };
      }
      error = `${this.shownUrl}/redis-status answered HTTP ${response.status} without a status report`;
    } catch (cause) {
      error =
        cause instanceof BodyTooLargeError
          ? `${this.shownUrl}/redis-status answered more than ${MAX_REPORT_BYTES} bytes, not a status report`
          : `no answer from ${this.shownUrl}: ${describeFetchError(cause, this.timeoutMs)}`;
    }
    return {
      reachable: false,
      error,
      at: this.now(),
      lastReport: this.lastGood?.report,
      lastReachable: this.lastGood?.at,
    };
  }
}

/** The answer as JSON, read with a size limit; undefined when it is not JSON. */
async function readReport(response: Response): Promise<unknown> {
  const bytes = await readResponseBody(response, MAX_REPORT_BYTES).catch((error: unknown) => {
    if (error instanceof BodyTooLargeError) throw error;
    return undefined;
  });
  if (!bytes) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
}

function describeFetchError(cause: unknown, timeoutMs: number): string {
  const error = cause as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (error.name === "TimeoutError" || error.name === "AbortError") return `no answer within ${timeoutMs} ms`;
  return error.cause?.code ?? error.cause?.message ?? error.message ?? String(cause);
}
