// The wire contract (DESIGN §3-4), pure: no I/O.

// Envelopes built from their parts; the snapshot hash.
export {
  createMatchUpdatesEnvelope,
  createProcessingStatusEnvelope,
  createSystemAlertEnvelope,
  type MatchUpdatesInput,
  type ProcessingStatusInput,
  type SystemAlertInput,
  snapshotHash,
} from "./builders.js";
// What the processor says changed (detailed_changes).
export {
  CHANGE_CATEGORIES,
  CHANGE_PRIORITIES,
  type ChangeCategory,
  type ChangePriority,
  type ChangeSummary,
  type DetailedChange,
} from "./changes.js";
// Where envelopes travel: channel names and Redis keys.
export {
  type Channels,
  DEFAULT_CHANNELS,
  latestEnvelopeKey,
  publisherKey,
  resolveChannels,
} from "./channels.js";
// The one codec: every envelope read or written goes through it.
export {
  type Accepted,
  type DecodeOptions,
  type DecodeResult,
  decodeEnvelope,
  decodeEnvelopeValue,
  decodeSyncRequest,
  encodeEnvelope,
  encodeSyncBody,
  KnownMatches,
  type Rejection,
  type RejectionCode,
} from "./codec.js";
// The v1 envelope and its three kinds.
export type {
  Envelope,
  MatchUpdatesEnvelope,
  ProcessingStatusEnvelope,
  SystemAlertEnvelope,
} from "./envelope.js";
// Parts a reader may drop when malformed (DESIGN §4: liberal where it does not matter).
export { type DroppedPart, informationalPart } from "./informational.js";
// docs/envelope.schema.json, generated from the same schemas.
export { renderEnvelopeJsonSchema } from "./json-schema.js";
// The FOGIS match, and the one rule for its kick-off and its day.
export {
  isMatchPlayed,
  MATCH_DURATION_MS,
  type Match,
  MatchSchema,
  matchContacts,
  matchDate,
  matchHasKickoffTime,
  matchKickoff,
  matchLocalKickoff,
  matchReferees,
  matchSpan,
  type Referee,
  type TeamContact,
} from "./match.js";
// FOGIS and wire times: `tid`, Stockholm local time.
export {
  formatTid,
  parseTid,
  parseWireTimestamp,
  STOCKHOLM_TIME_ZONE,
  stockholmDate,
  stockholmLocalToUtc,
  toStockholmLocal,
} from "./time.js";
