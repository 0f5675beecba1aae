import { createHash, randomUUID } from "node:crypto";
import type { ChangeSummary, DetailedChange } from "./changes.js";
import {
  ENVELOPE_VERSION,
  MATCH_UPDATES_SCHEMA_VERSION,
  type MatchUpdatesEnvelope,
  type ProcessingStatusEnvelope,
  type SystemAlertEnvelope,
} from "./envelope.js";
import type { Match } from "./match.js";

/** Builders for the three envelope types, so every publisher fills the same fields. */

interface Common {
  source: string;
  /** Defaults to a random UUID. */
  messageId?: string;
  /** Defaults to now. */
  now?: Date;
}

/** The fields every envelope starts with, in the order they are written. */
function envelopeHead<Type extends string>(input: Common, type: Type, now: string) {
  return {
    message_id: input.messageId ?? randomUUID(),
    timestamp: now,
    source: input.source,
    version: ENVELOPE_VERSION,
    type,
  };
}

export interface MatchUpdatesInput extends Common {
  matches: Match[];
  changes?: DetailedChange[];
  sequence?: number;
  /** The processor's epoch: sequences are comparable only within one (DESIGN §5.3). */
  processorEpoch?: string;
  snapshotHash?: string;
  changeSummary?: ChangeSummary;
  processorType?: string;
  /**
   * `payload.metadata.has_changes`. The Python subscriber skips a snapshot unless it is true, so a
   * publisher that knows more than `changes` (a referee's new phone number is not a detected
   * change, but the calendar shows it) says so here. Defaults to "there are changes".
   */
  hasChanges?: boolean;
}

export function createMatchUpdatesEnvelope(input: MatchUpdatesInput): MatchUpdatesEnvelope {
  const now = (input.now ?? new Date()).toISOString();
  const changes = input.changes ?? [];
  const metadata: MatchUpdatesEnvelope["payload"]["metadata"] = {
    total_matches: input.matches.length,
    has_changes: input.hasChanges ?? changes.length > 0,
    change_summary: input.changeSummary ?? {},
    processing_timestamp: now,
    processor_type: input.processorType ?? "fogis-realtime",
  };
  if (input.sequence !== undefined) metadata.sequence = input.sequence;
  if (input.processorEpoch !== undefined) metadata.processor_epoch = input.processorEpoch;
  if (input.snapshotHash !== undefined) metadata.snapshot_hash = input.snapshotHash;
  return {
    ...envelopeHead(input, "match_updates", now),
    payload: {
      matches: input.matches,
      schema_version: MATCH_UPDATES_SCHEMA_VERSION,
      detailed_changes: changes,
      high_priority: changes.some((c) => c.priority === "critical" || c.priority === "high"),
      metadata,
    },
  };
}

export interface ProcessingStatusInput extends Common {
  status: "started" | "completed" | "failed" | (string & {});
  details?: Record<string, unknown>;
}

export function createProcessingStatusEnvelope(input: ProcessingStatusInput): ProcessingStatusEnvelope {
  const now = (input.now ?? new Date()).toISOString();
  return {
    ...envelopeHead(input, "processing_status", now),
    payload: { status: input.status, timestamp: now, details: input.details ?? {} },
  };
}

export interface SystemAlertInput extends Common {
  alertType: string;
  severity: "info" | "warning" | "error" | "critical";
  message: string;
  details?: Record<string, unknown>;
}

export function createSystemAlertEnvelope(input: SystemAlertInput): SystemAlertEnvelope {
  const now = (input.now ?? new Date()).toISOString();
  return {
    ...envelopeHead(input, "system_alert", now),
    payload: {
      alert_type: input.alertType,
      severity: input.severity,
      message: input.message,
      timestamp: now,
      details: input.details ?? {},
    },
  };
}

/**
 * sha256 of the match list in a canonical form (matches ordered by matchid, object keys
 * sorted), so the same list hashes the same whatever order FOGIS sent it in.
 */
export function snapshotHash(matches: readonly Match[]): string {
  const ordered = [...matches].sort((a, b) => a.matchid - b.matchid);
  // The same bytes as canonicalJson(ordered), hashed match by match: the whole text of a large
  // list (~3 MB) would sit in V8's large-object space until the next full GC.
  const hash = createHash("sha256").update("[");
  ordered.forEach((match, i) => {
    if (i > 0) hash.update(",");
    hash.update(canonicalJson(match));
  });
  return hash.update("]").digest("hex");
}

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.keys(value)
    .sort()
    .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
    .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
  return `{${entries.join(",")}}`;
}
