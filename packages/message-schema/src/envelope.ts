import { z } from "zod";
import { ChangeSummarySchema, DetailedChangeSchema } from "./changes.js";
import { informationalPart } from "./informational.js";
import { MatchSchema } from "./match.js";

/**
 * The v1 envelope (DESIGN §4), wire-compatible with the Python services. Our additions
 * (sequence, processor epoch, snapshot hash, change summary) live in `payload.metadata`, where Python readers
 * ignore them. Every level passes unknown fields through. Strict for what the calendar needs
 * (the identity fields and the matches); every other part is informational (informational.ts):
 * malformed, it is dropped and counted, and the rest of the envelope is used.
 */

export const ENVELOPE_VERSION = "1.0";
export const MATCH_UPDATES_SCHEMA_VERSION = "2.0";
export const MESSAGE_TYPES = ["match_updates", "processing_status", "system_alert"] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

// Bounded: these are logged with every message, so a hostile sender must not fill the logs.
const envelopeFields = {
  message_id: z.string().min(1).max(200),
  /** ISO-8601; `parseWireTimestamp` reads every form the Python services write. */
  timestamp: z.string().min(1).max(64),
  source: z.string().min(1).max(200),
  version: z.string().regex(/^1(?:\.[0-9]+)*$/, 'expected a "1.x" envelope version'),
};

const schemaVersion = () => informationalPart(z.string().optional(), 'the payload\'s schema version, "2.0"');

/** Every field is informational: add new ones the same way, so a malformed one never costs a snapshot. */
export const MatchUpdatesMetadataSchema = z.looseObject({
  total_matches: informationalPart(z.number().int().nonnegative().optional(), "the number of matches"),
  /**
   * The Python subscriber skips a snapshot unless this is true: we send true whenever the list
   * differs from the last one delivered, false only for a heartbeat or a resend.
   */
  has_changes: informationalPart(z.boolean().optional(), "whether the match list changed"),
  change_summary: informationalPart(
    ChangeSummarySchema.optional(),
    "counts of new, updated and removed matches, by category and priority ({} from Python)",
  ),
  processing_timestamp: informationalPart(z.string().optional(), "when the list was processed"),
  processor_type: informationalPart(z.string().optional(), "which processor made the envelope"),
  /** Ours: increases by one per published snapshot; a gap tells the subscriber to resync. */
  sequence: informationalPart(
    z.number().int().nonnegative().optional(),
    "ours: one more per snapshot; a gap makes the subscriber resync",
  ),
  /**
   * Ours: a random id the processor saves with its state. Sequences are comparable only within
   * one epoch; a processor whose state was lost starts a new one (DESIGN §5.3).
   */
  processor_epoch: informationalPart(
    z.string().min(1).max(100).optional(),
    "ours: the processor's epoch; sequences count within it, a new one is a reset",
  ),
  /** Ours: sha256 of the canonical match list, so a repeated snapshot is recognised cheaply. */
  snapshot_hash: informationalPart(
    z.string().optional(),
    "ours: sha256 of the canonical match list, to skip a repeated snapshot",
  ),
});

export const MatchUpdatesPayloadSchema = z.looseObject({
  /** ALL current matches, not only the changed ones: every envelope is a full snapshot. */
  matches: z.array(MatchSchema),
  schema_version: schemaVersion(),
  detailed_changes: informationalPart(
    z.array(informationalPart(DetailedChangeSchema, "one detected change")).optional(),
    "the changes of this cycle; an entry that does not fit is dropped on its own",
  ),
  high_priority: informationalPart(z.boolean().optional(), "true when a change is critical or high priority"),
  metadata: informationalPart(MatchUpdatesMetadataSchema.optional(), "about the snapshot"),
});

export const ProcessingStatusPayloadSchema = z.looseObject({
  status: z.string().min(1),
  timestamp: informationalPart(z.string().optional(), "when the status was reported"),
  details: informationalPart(z.record(z.string(), z.unknown()).optional(), "cycle details"),
});

export const SystemAlertPayloadSchema = z.looseObject({
  alert_type: informationalPart(z.string().optional(), "what kind of alert"),
  severity: informationalPart(z.string().optional(), "info, warning, error or critical"),
  message: informationalPart(z.string().optional(), "the alert, for people"),
  timestamp: informationalPart(z.string().optional(), "when it was raised"),
  details: informationalPart(z.record(z.string(), z.unknown()).optional(), "alert details"),
});

export const MatchUpdatesEnvelopeSchema = z.looseObject({
  ...envelopeFields,
  type: z.literal("match_updates"),
  /** Older publishers put it here instead of in the payload. */
  schema_version: schemaVersion(),
  payload: MatchUpdatesPayloadSchema,
});

export const ProcessingStatusEnvelopeSchema = z.looseObject({
  ...envelopeFields,
  type: z.literal("processing_status"),
  payload: ProcessingStatusPayloadSchema,
});

export const SystemAlertEnvelopeSchema = z.looseObject({
  ...envelopeFields,
  type: z.literal("system_alert"),
  payload: SystemAlertPayloadSchema,
});

export const EnvelopeSchema = z.discriminatedUnion("type", [
  MatchUpdatesEnvelopeSchema,
  ProcessingStatusEnvelopeSchema,
  SystemAlertEnvelopeSchema,
]);

export type MatchUpdatesMetadata = z.infer<typeof MatchUpdatesMetadataSchema>;
export type MatchUpdatesPayload = z.infer<typeof MatchUpdatesPayloadSchema>;
export type ProcessingStatusPayload = z.infer<typeof ProcessingStatusPayloadSchema>;
export type SystemAlertPayload = z.infer<typeof SystemAlertPayloadSchema>;
export type MatchUpdatesEnvelope = z.infer<typeof MatchUpdatesEnvelopeSchema>;
export type ProcessingStatusEnvelope = z.infer<typeof ProcessingStatusEnvelopeSchema>;
export type SystemAlertEnvelope = z.infer<typeof SystemAlertEnvelopeSchema>;
export type Envelope = z.infer<typeof EnvelopeSchema>;

export const ENVELOPE_SCHEMAS = {
  match_updates: MatchUpdatesEnvelopeSchema,
  processing_status: ProcessingStatusEnvelopeSchema,
  system_alert: SystemAlertEnvelopeSchema,
} as const;
