import { createProcessingStatusEnvelope, type Envelope } from "@fogis/message-schema";
import type { Logger } from "@fogis/runtime";
import type { DeliveryRoute } from "./delivery.js";
import type { CycleOutcome } from "./metrics.js";

/**
 * What one processing cycle did: the answer of `POST /process`, the `processing_status` details
 * and the cycle's log line are all made from it.
 */

export type PublishReason =
  | "changes"
  | "content_changed"
  | "unconfirmed"
  | "first_delivery"
  | "redis_recovered"
  | "heartbeat"
  | "resend";

export interface CycleResult {
  success: boolean;
  cycle: number;
  trigger: string;
  status: "completed" | "failed";
  outcome: CycleOutcome;
  started_at: string;
  duration_ms: number;
  /** Matches in the list used (null when the fetch failed). */
  total_matches: number | null;
  /** Entries that did not validate: bad matches (and how many kept their last good version), dropped referees. */
  input_problems: { invalid_matches: number; kept_last_good: number; dropped_referees: number };
  changes: { new: number; updated: number; removed: number; played: number; total: number };
  /** Why a snapshot was sent, or null when none was. */
  publish_reason: PublishReason | null;
  delivery: {
    route: DeliveryRoute;
    confirmed: boolean;
    receivers: number;
    attempts: number;
    sequence: number | null;
    message_id: string | null;
    errors: string[];
  };
  error?: string;
}

export type CycleOutcomeDetails = Omit<
  CycleResult,
  "success" | "cycle" | "trigger" | "status" | "started_at" | "duration_ms"
>;

export interface CycleContext {
  cycle: number;
  trigger: string;
  started: Date;
  /** performance.now() at the start, for the duration. */
  clock: number;
}

export const NO_INPUT_PROBLEMS: CycleResult["input_problems"] = {
  invalid_matches: 0,
  kept_last_good: 0,
  dropped_referees: 0,
};
export const NO_CHANGES: CycleResult["changes"] = { new: 0, updated: 0, removed: 0, played: 0, total: 0 };
export const NO_DELIVERY: CycleResult["delivery"] = {
  route: "none",
  confirmed: false,
  receivers: 0,
  attempts: 0,
  sequence: null,
  message_id: null,
  errors: [],
};

/** A cycle that stopped before anything was published: no changes counted, no delivery. */
export function nothingPublished(
  outcome: "source_failed" | "empty_list_held",
  error: string,
  counted: Pick<CycleOutcomeDetails, "total_matches" | "input_problems">,
): CycleOutcomeDetails {
  return { outcome, ...counted, changes: NO_CHANGES, publish_reason: null, delivery: NO_DELIVERY, error };
}

/** Tells a finished cycle: its `processing_status` envelope (through `emit`) and its log line. */
export function announceCycle(
  result: CycleResult,
  out: { envelopeSource: string; emit: (envelope: Envelope) => void; logger: Logger },
): void {
  const summary = {
    cycle: result.cycle,
    trigger: result.trigger,
    outcome: result.outcome,
    changes: result.changes,
    route: result.delivery.route,
    sequence: result.delivery.sequence,
  };
  out.emit(
    createProcessingStatusEnvelope({
      source: out.envelopeSource,
      status: result.status,
      details: {
        ...summary,
        matches_processed: result.total_matches ?? 0,
        ...(result.error ? { error: result.error } : {}),
      },
    }),
  );
  out.logger[result.success ? "info" : "error"](
    {
      event: "cycle_finished",
      ...summary,
      durationMs: result.duration_ms,
      matches: result.total_matches,
      receivers: result.delivery.receivers,
      ...(result.error ? { err: result.error } : {}),
    },
    // The reason belongs in the line a person reads, not only in /redis-status.
    `cycle ${result.cycle} ${result.outcome}${result.error ? `: ${result.error}` : ""}`,
  );
}
