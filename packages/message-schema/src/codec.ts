import { hash } from "node:crypto";
import { z } from "zod";
import { createMatchUpdatesEnvelope } from "./builders.js";
import {
  ENVELOPE_SCHEMAS,
  type Envelope,
  MATCH_UPDATES_SCHEMA_VERSION,
  type MatchUpdatesEnvelope,
  MESSAGE_TYPES,
  type MessageType,
} from "./envelope.js";
import { type DroppedPart, informational } from "./informational.js";
import { type Match, MatchSchema } from "./match.js";

/**
 * The one envelope codec. `decode*` never throws: it answers a typed envelope or a rejection
 * with a machine-readable code and a human-readable reason. Reasons name paths and expected
 * types, never values, so they can be logged without leaking personal data.
 */

export type RejectionCode =
  | "too_large"
  | "not_json"
  | "not_an_object"
  | "missing_type"
  | "unknown_type"
  | "invalid_envelope";

export interface Rejection {
  ok: false;
  code: RejectionCode;
  reason: string;
}

export interface Accepted<E extends Envelope = Envelope> {
  ok: true;
  envelope: E;
  /** Legacy shapes that were accepted and normalised, e.g. `bare_match_list`. */
  legacy: string[];
  /**
   * Informational parts that were malformed and left out of `envelope` (a detailed change that
   * does not fit, a `high_priority` that is not a boolean, ...). Receivers count and log them.
   */
  dropped: DroppedPart[];
}

export type DecodeResult<E extends Envelope = Envelope> = Accepted<E> | Rejection;

export interface DecodeOptions {
  /** Reject raw input longer than this many bytes before parsing it. */
  maxBytes?: number;
  /** The previous snapshot's matches: those that did not change are not validated again. */
  knownMatches?: KnownMatches;
}

/**
 * The matches of the last snapshot decoded with it, by a SHA-256 of their JSON text. Every envelope
 * carries the complete list and usually only a few matches changed, so a match whose text is
 * unchanged is not validated again and decodes to the very object it did last time, which lets a
 * receiver keep what it derived from it (a calendar event) by object identity. Decoded matches are
 * shared: read-only. Holds one snapshot: each accepted list replaces the previous one. Keyed by the
 * digest rather than the text itself: the texts of 1,000 matches are 3.3 MB, kept between snapshots.
 */
export class KnownMatches {
  private byDigest = new Map<string, Match>();

  /** Validates each match, or takes it from the previous list; issues get their full path. */
  validate(items: readonly unknown[], path: PropertyKey[]): { matches: Match[]; issues: z.core.$ZodIssue[] } {
    const next = new Map<string, Match>();
    const matches: Match[] = [];
    const issues: z.core.$ZodIssue[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      const key = matchKey(item);
      let match = key === undefined ? undefined : (this.byDigest.get(key) ?? next.get(key));
      if (!match) {
        const result = MatchSchema.safeParse(item);
        if (!result.success) {
          for (const issue of result.error.issues) {
            issues.push({ ...issue, path: [...path, i, ...issue.path] });
          }
          continue;
        }
        // The parsed JSON itself, not zod's copy: the schema only checks (no defaults or
        // transforms, see match.ts), and its copy is three times the size, kept for a snapshot.
        match = item as Match;
      }
      if (key !== undefined) next.set(key, match);
      matches.push(match);
    }
    if (issues.length === 0) this.byDigest = next;
    return { matches, issues };
  }
}

/**
 * The cache key of a match (the digest of its JSON text), or undefined when it cannot be
 * serialised: JSON.parse accepts nesting far deeper than JSON.stringify can walk (an unknown field
 * nested 100,000 levels throws a RangeError), and decoding must never throw. Such a match is
 * validated without the cache.
 */
function matchKey(item: unknown): string | undefined {
  let text: string;
  try {
    text = JSON.stringify(item) ?? "";
  } catch {
    return undefined;
  }
  return hash("sha256", text, "base64");
}

const utf8 = new TextDecoder("utf-8");
const MAX_ISSUES_IN_REASON = 3;

export function encodeEnvelope(envelope: Envelope): string {
  return JSON.stringify(envelope);
}

/** Decodes raw text or bytes received from Redis or HTTP. */
export function decodeEnvelope(raw: string | Uint8Array, options: DecodeOptions = {}): DecodeResult {
  const size = typeof raw === "string" ? Buffer.byteLength(raw) : raw.byteLength;
  if (options.maxBytes !== undefined && size > options.maxBytes) {
    return reject("too_large", `message is ${size} bytes, over the limit of ${options.maxBytes}`);
  }
  const parsed = parseJson(typeof raw === "string" ? raw : utf8.decode(raw));
  if (!parsed.ok) return parsed;
  return decodeEnvelopeValue(parsed.value, options);
}

/** Decodes an already-parsed JSON value (for example an HTTP body parsed by the framework). */
export function decodeEnvelopeValue(
  value: unknown,
  options: Pick<DecodeOptions, "knownMatches"> = {},
): DecodeResult {
  if (!isPlainObject(value)) return reject("not_an_object", `expected a JSON object, got ${describe(value)}`);
  const type = value.type;
  if (type === undefined) return reject("missing_type", "missing 'type'");
  if (typeof type !== "string" || !(MESSAGE_TYPES as readonly string[]).includes(type)) {
    return reject(
      "unknown_type",
      `unknown message type ${typeof type === "string" ? `'${type.slice(0, 40)}'` : describe(type)}; expected one of ${MESSAGE_TYPES.join(", ")}`,
    );
  }
  const legacy: string[] = [];
  let candidate: Record<string, unknown> = value;
  if (type === "match_updates" && Array.isArray(value.payload)) {
    // Legacy publishers sent the bare match list as the payload.
    candidate = { ...value, payload: { matches: value.payload } };
    legacy.push("bare_match_list");
  }
  const schema = ENVELOPE_SCHEMAS[type as MessageType] as z.ZodType<Envelope>;
  const payload = candidate.payload;
  if (
    type === "match_updates" &&
    options.knownMatches &&
    isPlainObject(payload) &&
    Array.isArray(payload.matches)
  ) {
    // The envelope around the matches with the same schema, then the matches one by one.
    const outer = parseSalvaging(schema, { ...candidate, payload: { ...payload, matches: [] } });
    const { matches, issues } = options.knownMatches.validate(payload.matches, ["payload", "matches"]);
    if (!outer.ok) issues.unshift(...outer.issues);
    if (issues.length || !outer.ok) return reject("invalid_envelope", formatIssues(issues));
    (outer.data as MatchUpdatesEnvelope).payload.matches = matches;
    return { ok: true, envelope: outer.data, legacy, dropped: outer.dropped };
  }
  const result = parseSalvaging(schema, candidate);
  if (!result.ok) return reject("invalid_envelope", formatIssues(result.issues));
  return { ok: true, envelope: result.data, legacy, dropped: result.dropped };
}

type Salvaged<T> = { ok: true; data: T; dropped: DroppedPart[] } | { ok: false; issues: z.core.$ZodIssue[] };

/**
 * Parses `value` with `schema`. When the only problems lie in informational parts, those parts
 * are left out and the rest is parsed again; a well-formed envelope costs one parse, as before.
 */
function parseSalvaging<T>(schema: z.ZodType<T>, value: Record<string, unknown>): Salvaged<T> {
  const dropped: DroppedPart[] = [];
  let candidate: unknown = value;
  // One round per level of nesting at most; two levels of informational parts exist.
  for (let round = 0; round < 4; round++) {
    const result = schema.safeParse(candidate);
    if (result.success) return { ok: true, data: result.data, dropped };
    const removals: PropertyKey[][] = [];
    const strict: z.core.$ZodIssue[] = [];
    for (const issue of result.error.issues) {
      const depth = informationalDepth(schema, issue.path);
      if (depth === null) {
        strict.push(issue);
        continue;
      }
      const at = issue.path.slice(0, depth);
      const path = at.map(String).join(".");
      if (dropped.some((d) => d.path === path)) continue;
      const inside = issue.path.slice(depth).map(String).join(".");
      dropped.push({
        part: at.filter((key) => typeof key !== "number").join("."),
        path,
        reason: inside ? `${inside}: ${issue.message}` : issue.message,
      });
      removals.push(at);
    }
    if (strict.length) return { ok: false, issues: strict };
    candidate = without(candidate, removals);
  }
  return { ok: false, issues: schema.safeParse(candidate).error?.issues ?? [] };
}

/**
 * How many steps of `path` lead to the deepest informational part on it, or null when the path
 * runs through strict parts only (the problem is then a reason to reject).
 */
function informationalDepth(schema: z.ZodType, path: readonly PropertyKey[]): number | null {
  let node: z.ZodType | undefined = schema;
  let deepest: number | null = null;
  for (let depth = 0; node; depth++) {
    for (let layer: z.ZodType | undefined = node; layer; layer = unwrapped(layer)) {
      if (informational.has(layer)) deepest = depth;
    }
    if (depth === path.length) break;
    node = childSchema(node, path[depth] as PropertyKey);
  }
  return deepest;
}

function unwrapped(schema: z.ZodType): z.ZodType | undefined {
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) return schema.unwrap() as z.ZodType;
  return undefined;
}

function childSchema(schema: z.ZodType, key: PropertyKey): z.ZodType | undefined {
  let inner: z.ZodType | undefined = schema;
  while (inner && !(inner instanceof z.ZodObject) && !(inner instanceof z.ZodArray)) inner = unwrapped(inner);
  if (inner instanceof z.ZodObject && typeof key === "string")
    return inner.shape[key] as z.ZodType | undefined;
  if (inner instanceof z.ZodArray && typeof key === "number") return inner.element as z.ZodType;
  return undefined;
}

type RemovalTree = Map<PropertyKey, RemovalTree | "remove">;

/** A copy of `value` without the parts at `paths`; only the containers on those paths are copied. */
function without(value: unknown, paths: readonly PropertyKey[][]): unknown {
  const tree: RemovalTree = new Map();
  for (const path of paths) {
    let level = tree;
    for (const [i, key] of path.entries()) {
      if (i === path.length - 1) {
        level.set(key, "remove");
        break;
      }
      const next = level.get(key) ?? new Map();
      if (next === "remove") break;
      level.set(key, next);
      level = next;
    }
  }
  return prune(value, tree);
}

function prune(value: unknown, tree: RemovalTree): unknown {
  if (Array.isArray(value)) {
    const kept: unknown[] = [];
    value.forEach((item, index) => {
      const below = tree.get(index);
      if (below === "remove") return;
      kept.push(below ? prune(item, below) : item);
    });
    return kept;
  }
  if (!isPlainObject(value)) return value;
  const copy: Record<string, unknown> = { ...value };
  for (const [key, below] of tree) {
    if (typeof key !== "string" || !Object.hasOwn(copy, key)) continue;
    if (below === "remove") delete copy[key];
    else copy[key] = prune(copy[key], below);
  }
  return copy;
}

/**
 * The body of the HTTP fallback, `POST /manual-sync`: the envelope plus a top-level copy of its
 * matches. Our calendar-sync reads the envelope (sequence, hash and the rest of `payload.metadata`
 * included); the Python calendar service reads only a top-level `matches` (it answers 400
 * "Missing 'matches' in request data" to a bare envelope). The matches are serialised once and
 * written twice.
 */
export function encodeSyncBody(envelope: MatchUpdatesEnvelope): string {
  const { payload, ...head } = envelope as MatchUpdatesEnvelope & { matches?: unknown };
  delete head.matches;
  const { matches, ...rest } = payload;
  const list = JSON.stringify(matches);
  const fields = (object: object) => JSON.stringify(object).slice(1, -1);
  const payloadJson = [`"matches":${list}`, fields(rest)].filter(Boolean).join(",");
  return `{${[`"matches":${list}`, fields(head), `"payload":{${payloadJson}}`].filter(Boolean).join(",")}}`;
}

/**
 * Decodes the body of `POST /manual-sync`: a match-updates envelope (also with the top-level copy
 * of its matches that `encodeSyncBody` adds; the envelope's own `payload.matches` is what counts),
 * `{"matches": [...]}`, or a bare list of matches. The latter two are wrapped in an envelope from
 * `source`.
 */
export function decodeSyncRequest(
  value: unknown,
  source = "manual-sync",
  options: Pick<DecodeOptions, "knownMatches"> = {},
): DecodeResult<MatchUpdatesEnvelope> {
  let wrapped: unknown = value;
  const legacy: string[] = [];
  if (Array.isArray(value)) {
    wrapped = wrapMatches(value, source);
    legacy.push("bare_match_list");
  } else if (isPlainObject(value) && "matches" in value) {
    if (value.type === undefined) {
      wrapped = wrapMatches(value.matches, source);
      legacy.push("matches_object");
    } else {
      // An envelope with the copy for the Python calendar service: decode the envelope alone.
      const { matches: _copy, ...envelope } = value;
      wrapped = envelope;
    }
  }
  const decoded = decodeEnvelopeValue(wrapped, options);
  if (!decoded.ok) return decoded;
  if (decoded.envelope.type !== "match_updates") {
    return reject("unknown_type", `expected a match_updates envelope, got '${decoded.envelope.type}'`);
  }
  return { ...decoded, envelope: decoded.envelope, legacy: [...legacy, ...decoded.legacy] };
}

function wrapMatches(matches: unknown, source: string): unknown {
  const envelope = createMatchUpdatesEnvelope({ matches: [], source });
  return {
    ...envelope,
    payload: {
      ...envelope.payload,
      matches,
      schema_version: MATCH_UPDATES_SCHEMA_VERSION,
      metadata: { total_matches: Array.isArray(matches) ? matches.length : 0 },
    },
  };
}

type Parsed = { ok: true; value: unknown } | Rejection;

function parseJson(text: string): Parsed {
  try {
    // A "__proto__" key would become the prototype of the object zod copies it into; drop it.
    const value = text.includes('"__proto__"')
      ? JSON.parse(text, (key, v) => (key === "__proto__" ? undefined : v))
      : JSON.parse(text);
    return { ok: true, value };
  } catch (error) {
    const detail = error instanceof SyntaxError ? error.message.slice(0, 120) : "parse error";
    return reject("not_json", `not valid JSON (${detail})`);
  }
}

function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  const shown = issues.slice(0, MAX_ISSUES_IN_REASON).map((issue) => {
    const path = issue.path.length ? issue.path.map(String).join(".") : "(root)";
    return `${path}: ${issue.message}`;
  });
  const more = issues.length > MAX_ISSUES_IN_REASON ? ` (+${issues.length - MAX_ISSUES_IN_REASON} more)` : "";
  return `${shown.join("; ")}${more}`;
}

function reject(code: RejectionCode, reason: string): Rejection {
  return { ok: false, code, reason };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}
