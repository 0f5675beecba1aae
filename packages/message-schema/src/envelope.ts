import { z } from "zod";
import { ChangeSummarySchema, DetailedChangeSchema } from "./changes.js";
import { MatchSchema } from "./match.js";

/**
 * The v1 envelope (DESIGN §4), wire-compatible with the Python services. Our additions
 * (sequence, processor epoch, snapshot hash, change summary) live in `payload.metadata`, where Python readers
 * ignore them. Every level passes unknown fields through.
 */

export const ENVELOPE_VERSION = "1.0";
export const MATCH_UPDATES_SCHEMA_VERSION = "2.0";
export const MESSAGE_TYPES = ["match_updates", "processing_status", "system_alert"] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

// Bounded: these are logged with every message, so a hostile sender must not fill the logs.
const envelopeFields = {
  message_id: z.string().min(1).max(200),
  timestamp: z.string().min(1).max(64),
  source: z.string().min(1).max(200),
  version: z.string().regex(/^1(\.\d+)*$/, 'expected a "1.x" envelope version'),
};

export const MatchUpdatesMetadataSchema = z.looseObject({
  total_matches: z.number().int().nonnegative().optional(),
  has_changes: z.boolean().optional(),
  change_summary: ChangeSummarySchema.optional(),
  processing_timestamp: z.string().optional(),
  processor_type: z.string().optional(),
  /** Ours: increases by one per published snapshot; a gap tells the subscriber to resync. */
  sequence: z.number().int().nonnegative().optional(),
  /**
   * Ours: a random id the processor saves with its state. Sequences are comparable only within
   * one epoch; a processor whose state was lost starts a new one (DESIGN §5.3).
   */
  processor_epoch: z.string().min(1).max(100).optional(),
  /** Ours: sha256 of the canonical match list, so a repeated snapshot is recognised cheaply. */
  snapshot_hash: z.string().optional(),
});

export const MatchUpdatesPayloadSchema = z.looseObject({
  /** ALL current matches, not only the changed ones: every envelope is a full snapshot. */
  matches: z.array(MatchSchema),
  schema_version: z.string().optional(),
  detailed_changes: z.array(DetailedChangeSchema).optional(),
  high_priority: z.boolean().optional(),
  metadata: MatchUpdatesMetadataSchema.optional(),
});

export const ProcessingStatusPayloadSchema = z.looseObject({
  status: z.string().min(1),
  timestamp: z.string().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});

export const SystemAlertPayloadSchema = z.looseObject({
  alert_type: z.string().optional(),
  severity: z.string().optional(),
  message: z.string().optional(),
  timestamp: z.string().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});

export const MatchUpdatesEnvelopeSchema = z.looseObject({
  ...envelopeFields,
  type: z.literal("match_updates"),
  /** Older publishers put it here instead of in the payload. */
  schema_version: z.string().optional(),
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
