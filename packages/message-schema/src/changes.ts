import { z } from "zod";

/** Change categories the processor assigns (DESIGN §6). */
export const CHANGE_CATEGORIES = [
  "new_assignment",
  "referee_change",
  "time_change",
  "date_change",
  "venue_change",
  "team_change",
  "cancellation",
  "postponement",
  "interruption",
  "competition_change",
  "removed",
] as const;
export type ChangeCategory = (typeof CHANGE_CATEGORIES)[number];

export const CHANGE_PRIORITIES = ["critical", "high", "medium", "low"] as const;
export type ChangePriority = (typeof CHANGE_PRIORITIES)[number];

/**
 * One entry of `payload.detailed_changes`. Category and priority are plain strings on input: the
 * Python processor writes categories of its own (`status_change`). An entry that does not fit is
 * dropped by the codec (see informational.ts), never a reason to reject the snapshot.
 */
export const DetailedChangeSchema = z.looseObject({
  /** The match's `matchid`: an integer, as the Python processor really writes it and we do; a string from older publishers. */
  match_id: z.union([z.number().int(), z.string().min(1)]),
  match_nr: z.string().nullish(),
  category: z.string(),
  priority: z.string(),
  affected_stakeholders: z.array(z.string()).optional(),
  field_name: z.string().optional(),
  previous_value: z.unknown().optional(),
  current_value: z.unknown().optional(),
  change_description: z.string().optional(),
  timestamp: z.string().optional(),
});
export type DetailedChange = z.infer<typeof DetailedChangeSchema>;

/** Our summary of a cycle's changes, carried in `payload.metadata.change_summary`. */
export const ChangeSummarySchema = z.looseObject({
  new: z.number().int().nonnegative().optional(),
  updated: z.number().int().nonnegative().optional(),
  removed: z.number().int().nonnegative().optional(),
  by_category: z.record(z.string(), z.number().int().nonnegative()).optional(),
  by_priority: z.record(z.string(), z.number().int().nonnegative()).optional(),
});
export type ChangeSummary = z.infer<typeof ChangeSummarySchema>;
