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
