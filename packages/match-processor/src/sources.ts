import type { Match } from "@fogis/message-schema";
import { BodyTooLargeError, readFileLimited, readResponseBody, redactUrl } from "@fogis/runtime";
import { DEFAULT_MAX_SOURCE_BYTES, type MatchSourceConfig } from "./config.js";
import { demoMatchList } from "./demo-matches.js";
import { MatchListValidator } from "./match-list.js";
import type { SourceKind } from "./state-store.js";

/**
 * Where the referee's match list comes from: a JSON file, fogis-api-client-service over HTTP, or
 * the built-in demo list. Every source answers the complete list of entries as sent, or throws a
 * `MatchSourceError` when the list cannot be read at all; it never answers an empty list because
 * something went wrong, since an empty list would read as "all matches removed". The entries are
 * validated one by one by the processor (`MatchListValidator`), which keeps the last good version
 * of a bad one.
 */

export type MatchSourceErrorCode =
  | "aborted"
  | "missing_file"
  | "unreadable"
  | "unreachable"
  | "timeout"
  | "http_status"
  | "too_large"
  | "not_json"
  | "bad_shape"
  | "invalid_match"
  /** The demo list after the state came from a real source (a lost setting, not a fresh install). */
  | "demo_refused";

export class MatchSourceError extends Error {
  constructor(
    readonly code: MatchSourceErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "MatchSourceError";
  }
}

export interface MatchSource {
  /** Saved with the state: a processor whose list came from a real source never falls back to the demo. */
  readonly kind: SourceKind;
  /** Shown in logs and status pages (never a secret). */
  readonly description: string;
  /** The list's entries, not yet validated. `signal` aborts a slow fetch when the service shuts down. */
  fetchMatches(signal?: AbortSignal): Promise<readonly unknown[]>;
}

/**
 * The entries of a match list in any of the shapes FOGIS tooling produces: a JSON array,
 * `{matchlista: [...]}`, or the raw FOGIS answer `{d: {matchlista: [...]}}` where `d` may itself be
 * a JSON string. Anything else is not a list.
 */
export function readMatchEntries(value: unknown, origin: string): unknown[] {
  if (Array.isArray(value)) return value;
  if (isObject(value)) {
    if (Array.isArray(value.matchlista)) return value.matchlista;
    if ("d" in value) {
      let d = value.d;
      if (typeof d === "string") {
        try {
          d = JSON.parse(d);
        } catch {
          throw new MatchSourceError("not_json", `${origin}: 'd' is a string but not valid JSON`);
        }
      }
      if (Array.isArray(d)) return d;
      if (isObject(d) && Array.isArray(d.matchlista)) return d.matchlista;
    }
  }
  throw new MatchSourceError(
    "bad_shape",
    `${origin}: expected a JSON array of matches, {"matchlista": [...]} or {"d": {"matchlista": [...]}}`,
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const utf8 = new TextDecoder("utf-8");

function parseJsonBytes(bytes: Uint8Array, origin: string): unknown {
  try {
    return JSON.parse(utf8.decode(bytes));
  } catch (error) {
    throw new MatchSourceError(
      "not_json",
      `${origin}: not valid JSON (${(error as Error).message.slice(0, 120)})`,
    );
  }
}

function tooLarge(origin: string, maxBytes: number): MatchSourceError {
  return new MatchSourceError(
    "too_large",
    `${origin} is larger than MAX_SOURCE_BYTES (${maxBytes} bytes); the list is not used (raise MAX_SOURCE_BYTES if it is genuine)`,
  );
}

/** `MATCH_SOURCE_FILE`: read on every cycle, so editing the file is picked up by the next one. */
export class FileMatchSource implements MatchSource {
  readonly kind = "file";
  readonly description: string;

  constructor(
    private readonly path: string,
    private readonly maxBytes: number = DEFAULT_MAX_SOURCE_BYTES,
  ) {
    this.description = `file ${path}`;
  }

  async fetchMatches(): Promise<unknown[]> {
    let bytes: Uint8Array;
    try {
      bytes = await readFileLimited(this.path, this.maxBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError) throw tooLarge(this.path, this.maxBytes);
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") {
        throw new MatchSourceError(
          "missing_file",
          `MATCH_SOURCE_FILE ${this.path} does not exist (check the path and the volume mount)`,
        );
      }
      throw new MatchSourceError("unreadable", `cannot read ${this.path}: ${(error as Error).message}`);
    }
    return readMatchEntries(parseJsonBytes(bytes, this.path), this.path);
  }
}

export interface HttpMatchSourceOptions {
  /** Base URL of fogis-api-client-service; the list is at `{url}/matches`. */
  url: string;
  timeoutMs: number;
  /** Larger answers fail the cycle (read as a stream, stopped at the limit). */
  maxBytes?: number;
  fetch?: typeof fetch;
}

/** `FOGIS_API_CLIENT_URL`: `GET {url}/matches` with a timeout. */
export class HttpMatchSource implements MatchSource {
  readonly kind = "http";
  readonly description: string;
  private readonly endpoint: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: HttpMatchSourceOptions) {
    this.endpoint = `${options.url.replace(/\/+$/, "")}/matches`;
    this.description = `GET ${redactUrl(this.endpoint)}`;
    this.fetchImpl = options.fetch ?? fetch;
  }

  async fetchMatches(signal?: AbortSignal): Promise<unknown[]> {
    const maxBytes = this.options.maxBytes ?? DEFAULT_MAX_SOURCE_BYTES;
    let bytes: Uint8Array;
    try {
      const timeout = AbortSignal.timeout(this.options.timeoutMs);
      const response = await this.fetchImpl(this.endpoint, {
        headers: { accept: "application/json" },
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      if (!response.ok) {
        await response.body?.cancel().catch(() => {});
        throw new MatchSourceError(
          "http_status",
          `${this.description} answered ${response.status} ${response.statusText}`.trim(),
        );
      }
      bytes = await readResponseBody(response, maxBytes);
    } catch (error) {
      if (error instanceof MatchSourceError) throw error;
      if (error instanceof BodyTooLargeError) throw tooLarge(`the answer of ${this.description}`, maxBytes);
      if (signal?.aborted) {
        throw new MatchSourceError("aborted", `${this.description} abandoned: the service is shutting down`);
      }
      const name = (error as Error).name;
      if (name === "TimeoutError" || name === "AbortError") {
        throw new MatchSourceError(
          "timeout",
          `${this.description} did not answer within ${this.options.timeoutMs} ms`,
        );
      }
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new MatchSourceError(
        "unreachable",
        `${this.description} failed: ${cause?.code ?? cause?.message ?? (error as Error).message} (is fogis-api-client-service running at FOGIS_API_CLIENT_URL?)`,
      );
    }
    return readMatchEntries(parseJsonBytes(bytes, this.description), this.description);
  }
}

/**
 * The demo list used when no source is configured, so the stack runs out of the box. It is
 * anchored once, at construction, so it stays the same from cycle to cycle.
 */
export class DemoMatchSource implements MatchSource {
  readonly kind = "demo";
  readonly description = "built-in demo match list (set MATCH_SOURCE_FILE or FOGIS_API_CLIENT_URL)";
  private readonly matches: Match[];

  constructor(now: Date = new Date()) {
    const checked = new MatchListValidator().validate(demoMatchList(now));
    if (checked.invalidMatches.length || checked.droppedReferees.length) {
      throw new Error("the built-in demo match list does not validate");
    }
    this.matches = checked.matches;
  }

  async fetchMatches(): Promise<Match[]> {
    return structuredClone(this.matches);
  }
}

export function createMatchSource(config: MatchSourceConfig, now: Date = new Date()): MatchSource {
  switch (config.kind) {
    case "file":
      return new FileMatchSource(config.path, config.maxBytes);
    case "http":
      return new HttpMatchSource({ url: config.url, timeoutMs: config.timeoutMs, maxBytes: config.maxBytes });
    case "demo":
      return new DemoMatchSource(now);
  }
}
