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
 * One entry of `payload.detailed_changes`. Category and priority are plain strings on input so
 * that a newer Python processor's extra categories do not get a whole snapshot rejected.
 */
export const DetailedChangeSchema = z.looseObject({
  match_id: z.string(),
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
