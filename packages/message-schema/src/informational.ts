import { z } from "zod";

/**
 * The parts of an envelope the calendar does not depend on: the change list, flags, our metadata.
 * Strict where it matters (the matches), liberal here: the codec drops such a part when it is
 * malformed and reports it (`Accepted.dropped`), instead of rejecting a whole snapshot over it,
 * and the JSON Schema accepts any value there while describing the expected one.
 */
export const informational = z.registry<{ description: string }>();

/** Marks `schema` (as used in its parent's shape, `.optional()` included) as informational. */
export function informationalPart<T extends z.ZodType>(schema: T, description: string): T {
  informational.add(schema, { description });
  return schema;
}

/** One informational part the codec dropped. */
export interface DroppedPart {
  /** The part as declared, without array indices, e.g. `payload.detailed_changes`: a counter label. */
  part: string;
  /** Where it was, e.g. `payload.detailed_changes.3`. */
  path: string;
  /** Why, naming paths and types, never values (safe to log). */
  reason: string;
}
