/**
 * FOGIS times. `tid` is the kick-off instant as `"/Date(<epoch ms UTC>)/"` (optionally with a
 * `+hhmm` suffix that does not change the instant); older fixtures carry ISO-8601 strings.
 * `speldatum` + `avsparkstid` are the same kick-off in Stockholm local time.
 */

const MS_DATE = /^\/Date\((-?\d+)(?:[+-]\d{4})?\)\/$/;
const ISO_WITH_ZONE = /(?:Z|[+-]\d{2}:?\d{2})$/i;
const ISO_LOCAL = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$/;

export const STOCKHOLM_TIME_ZONE = "Europe/Stockholm";

/**
 * Parses a FOGIS `tid` into a UTC instant. ISO strings without a zone are read as Stockholm
 * local time, the zone FOGIS itself works in. Returns `null` for anything else.
 */
export function parseTid(tid: string): Date | null {
  const ms = MS_DATE.exec(tid);
  if (ms) {
    const value = Number(ms[1]);
    return Number.isSafeInteger(value) ? new Date(value) : null;
  }
  if (ISO_WITH_ZONE.test(tid)) {
    const value = Date.parse(tid);
    return Number.isNaN(value) ? null : new Date(value);
  }
  const local = ISO_LOCAL.exec(tid);
  if (local) {
    const [, y, mo, d, h = "00", mi = "00", s = "00"] = local;
    return stockholmLocalToUtc(Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s));
  }
  return null;
}

/** Formats an instant the way FOGIS sends `tid`. */
export function formatTid(instant: Date): string {
  return `/Date(${instant.getTime()})/`;
}

const stockholmParts = new Intl.DateTimeFormat("en-GB", {
  timeZone: STOCKHOLM_TIME_ZONE,
  hourCycle: "h23",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

const DAY_MS = 86_400_000;
/** Shorter than the five months and more between Stockholm's two offset changes a year. */
const SPAN_MS = 30 * DAY_MS;

/**
 * Stockholm's UTC offset by 30-day span, and by day within the spans where it changes (null where
 * it changes within the day itself). Asking ICU (formatToParts) costs ~20 µs a call, and a snapshot
 * asks thousands of times for a few hundred distinct days.
 */
const offsetBySpan = new Map<number, number | null>();
const offsetByDay = new Map<number, number | null>();

function stockholmOffsetMs(epochMs: number): number {
  return (
    uniformOffset(offsetBySpan, SPAN_MS, epochMs) ??
    uniformOffset(offsetByDay, DAY_MS, epochMs) ??
    offsetFromIcu(epochMs)
  );
}

/**
 * The offset throughout the interval of `length` that holds `epochMs`, or null if it changes in it.
 * The offset changes at most once in such an interval, so the same offset at both ends holds throughout.
 */
function uniformOffset(cache: Map<number, number | null>, length: number, epochMs: number): number | null {
  const n = Math.floor(epochMs / length);
  let offset = cache.get(n);
  if (offset === undefined) {
    const first = offsetFromIcu(n * length);
    offset = first === offsetFromIcu(n * length + length - 1) ? first : null;
    if (cache.size >= 10_000) cache.clear();
    cache.set(n, offset);
  }
  return offset;
}

function offsetFromIcu(epochMs: number): number {
  const parts: Record<string, string> = {};
  for (const part of stockholmParts.formatToParts(epochMs)) parts[part.type] = part.value;
  const wall = Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
  );
  return wall - Math.floor(epochMs / 1000) * 1000;
}

const pad2 = (n: number) => String(n).padStart(2, "0");

/** Stockholm wall-clock fields of an instant. */
export function toStockholmLocal(instant: Date): {
  date: string;
  time: string;
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
} {
  const epochMs = instant.getTime();
  if (Number.isNaN(epochMs)) throw new RangeError("Invalid time value");
  const local = new Date(epochMs + stockholmOffsetMs(epochMs));
  const year = local.getUTCFullYear();
  const month = local.getUTCMonth() + 1;
  const day = local.getUTCDate();
  const hour = local.getUTCHours();
  const minute = local.getUTCMinutes();
  return {
    date: `${year}-${pad2(month)}-${pad2(day)}`,
    time: `${pad2(hour)}:${pad2(minute)}`,
    year,
    month,
    day,
    hour,
    minute,
  };
}

/**
 * The UTC instant of a Stockholm wall-clock time. Computes the zone offset at that moment
 * (CET/CEST) by formatting a first guess back into Stockholm time and correcting once more,
 * which also settles the hours around the DST switches.
 */
export function stockholmLocalToUtc(
  year: number,
  month: number,
  day: number,
  hour = 0,
  minute = 0,
  second = 0,
): Date | null {
  const wall = Date.UTC(year, month - 1, day, hour, minute, second);
  if (Number.isNaN(wall) || hour > 23 || minute > 59 || second > 59) return null;
  // Date.UTC rolls 2025-13-45 over into a later date; a real calendar date survives the round trip.
  const check = new Date(wall);
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return null;
  let guess = wall;
  for (let i = 0; i < 2; i++) {
    const local = toStockholmLocal(new Date(guess));
    const shown = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute, second);
    guess += wall - shown;
  }
  return new Date(guess);
}

/** Today's date in Stockholm as `YYYY-MM-DD`. */
export function stockholmDate(instant: Date): string {
  return toStockholmLocal(instant).date;
}
