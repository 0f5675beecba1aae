import { readFile } from "node:fs/promises";
import { type Match, MatchSchema } from "@fogis/message-schema";
import { redactUrl } from "@fogis/runtime";
import type { MatchSourceConfig } from "./config.js";
import { demoMatchList } from "./demo-matches.js";
import type { SourceKind } from "./state-store.js";

/**
 * Where the referee's match list comes from: a JSON file, fogis-api-client-service over HTTP, or
 * the built-in demo list. Every source answers the complete, validated list or throws a
 * `MatchSourceError`; it never answers an empty list because something went wrong, since an empty
 * list would read as "all matches removed".
 */

export type MatchSourceErrorCode =
  | "aborted"
  | "missing_file"
  | "unreadable"
  | "unreachable"
  | "timeout"
  | "http_status"
  | "not_json"
  | "bad_shape"
  | "invalid_match"
  | "duplicate_matchid"
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
  /** `signal` aborts a slow fetch when the service shuts down. */
  fetchMatches(signal?: AbortSignal): Promise<Match[]>;
}

const MAX_PROBLEMS_SHOWN = 3;

/**
 * Validates a match list in any of the shapes FOGIS tooling produces: a JSON array,
 * `{matchlista: [...]}`, or the raw FOGIS answer `{d: {matchlista: [...]}}` where `d` may itself be
 * a JSON string. One invalid match fails the whole list: dropping it would make the match look
 * removed and take it out of the referee's calendar.
 */
export function parseMatchList(value: unknown, origin: string): Match[] {
  const list = extractMatchArray(value, origin);
  const matches: Match[] = [];
  const problems: string[] = [];
  const seen = new Map<number, number>();
  let invalid = 0;
  list.forEach((item, index) => {
    const result = MatchSchema.safeParse(item);
    if (!result.success) {
      invalid++;
      if (problems.length < MAX_PROBLEMS_SHOWN) {
        const id = (item as { matchid?: unknown } | null)?.matchid;
        const issue = result.error.issues[0];
        const path = issue?.path.length ? issue.path.map(String).join(".") : "(match)";
        problems.push(
          `match ${typeof id === "number" ? id : "?"} (index ${index}): ${path}: ${issue?.message ?? "invalid"}`,
        );
      }
      return;
    }
    const first = seen.get(result.data.matchid);
    if (first !== undefined) {
      throw new MatchSourceError(
        "duplicate_matchid",
        `${origin}: matchid ${result.data.matchid} appears twice (index ${first} and ${index})`,
      );
    }
    seen.set(result.data.matchid, index);
    // The parsed match, not zod's copy (MatchSchema only checks): the copy is three times the
    // size, and the list is kept as the baseline until the next cycle.
    matches.push(item as Match);
  });
  if (invalid > 0) {
    const more = invalid > problems.length ? ` (+${invalid - problems.length} more)` : "";
    throw new MatchSourceError(
      "invalid_match",
      `${origin}: ${invalid} of ${list.length} matches are invalid, so the list is not used: ${problems.join("; ")}${more}`,
    );
  }
  return matches;
}

function extractMatchArray(value: unknown, origin: string): unknown[] {
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

function parseJsonText(text: string, origin: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new MatchSourceError(
      "not_json",
      `${origin}: not valid JSON (${(error as Error).message.slice(0, 120)})`,
    );
  }
}

/** `MATCH_SOURCE_FILE`: read on every cycle, so editing the file is picked up by the next one. */
export class FileMatchSource implements MatchSource {
  readonly kind = "file";
  readonly description: string;

  constructor(private readonly path: string) {
    this.description = `file ${path}`;
  }

  async fetchMatches(): Promise<Match[]> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") {
        throw new MatchSourceError(
          "missing_file",
          `MATCH_SOURCE_FILE ${this.path} does not exist (check the path and the volume mount)`,
        );
      }
      throw new MatchSourceError("unreadable", `cannot read ${this.path}: ${(error as Error).message}`);
    }
    return parseMatchList(parseJsonText(text, this.path), this.path);
  }
}

export interface HttpMatchSourceOptions {
  /** Base URL of fogis-api-client-service; the list is at `{url}/matches`. */
  url: string;
  timeoutMs: number;
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

  async fetchMatches(signal?: AbortSignal): Promise<Match[]> {
    let text: string;
    try {
      const timeout = AbortSignal.timeout(this.options.timeoutMs);
      const response = await this.fetchImpl(this.endpoint, {
        headers: { accept: "application/json" },
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      text = await response.text();
      if (!response.ok) {
        throw new MatchSourceError(
          "http_status",
          `${this.description} answered ${response.status} ${response.statusText}`.trim(),
        );
      }
    } catch (error) {
      if (error instanceof MatchSourceError) throw error;
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
    return parseMatchList(parseJsonText(text, this.description), this.description);
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
    this.matches = parseMatchList(demoMatchList(now), "demo match list");
  }

  async fetchMatches(): Promise<Match[]> {
    return structuredClone(this.matches);
  }
}

export function createMatchSource(config: MatchSourceConfig, now: Date = new Date()): MatchSource {
  switch (config.kind) {
    case "file":
      return new FileMatchSource(config.path);
    case "http":
      return new HttpMatchSource({ url: config.url, timeoutMs: config.timeoutMs });
    case "demo":
      return new DemoMatchSource(now);
  }
}
