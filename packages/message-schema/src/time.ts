/**
 * FOGIS times. `tid` is the kick-off instant as `"/Date(<epoch ms UTC>)/"` (optionally with a
 * `+hhmm` suffix that does not change the instant); older fixtures carry ISO-8601 strings.
 * `speldatum` + `avsparkstid` are the same kick-off in Stockholm local time.
 *
 * Every format is one regular expression that only admits real calendar dates and clock times,
 * so the JSON Schema (docs/envelope.schema.json) can state exactly what the decoder accepts.
 * `[0-9]`, not `\d`: other validators (Python's `re`) match non-ASCII digits with `\d`.
 */

const D = "[0-9]";
const LEAP_YEAR = `(?:${D}{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)`;
/** `YYYY-MM-DD`, a date that exists (days per month, leap years). */
const DATE = `(?:${D}{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]${D}|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]${D}|30)|02-(?:0[1-9]|1${D}|2[0-8]))|${LEAP_YEAR}-02-29)`;
/** `HH:MM[:SS[.fraction]]`, 00:00 to 23:59:59; any number of fraction digits (Python writes six). */
const TIME = `(?:[01]${D}|2[0-3]):[0-5]${D}(?::[0-5]${D}(?:\\.${D}+)?)?`;
const ZONE = `(?:Z|[+-](?:[01]${D}|2[0-3]):?[0-5]${D})`;
/** Up to 15 digits: every such epoch is a valid Date (the limit is ±8.64e15 ms). */
const MS_DATE = `/Date\\(-?${D}{1,15}(?:[+-]${D}{4})?\\)/`;

/** `speldatum`: a Stockholm calendar date. */
export const MATCH_DATE_PATTERN = new RegExp(`^${DATE}$`);
/** `avsparkstid`: a Stockholm clock time, `H:MM` or `HH:MM`. */
export const KICKOFF_CLOCK_PATTERN = /^(?:[01]?[0-9]|2[0-3]):[0-5][0-9]$/;
/** `avsparkstid` as FOGIS sends it: a kick-off time, or empty when none is set yet. */
export const KICKOFF_CLOCK_OR_UNSET_PATTERN = /^(?:(?:[01]?[0-9]|2[0-3]):[0-5][0-9])?$/;
/** `tid`: `/Date(ms)/`, or an ISO date, date-time, or date-time with a zone. */
export const TID_PATTERN = new RegExp(`^(?:${MS_DATE}|${DATE}(?:[T ]${TIME}${ZONE}?)?)$`);
/** An envelope timestamp: an ISO date-time, with or without a zone. */
export const WIRE_TIMESTAMP_PATTERN = new RegExp(`^${DATE}[T ]${TIME}${ZONE}?$`);

const FIELDS =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?(?:(Z)|([+-])([0-9]{2}):?([0-9]{2}))?)?$/;
const MS_FIELDS = /^\/Date\((-?[0-9]+)/;

export const STOCKHOLM_TIME_ZONE = "Europe/Stockholm";

/**
 * Parses a FOGIS `tid` into a UTC instant. ISO strings without a zone are read as Stockholm
 * local time, the zone FOGIS itself works in. Returns `null` for anything `TID_PATTERN` refuses.
 */
export function parseTid(tid: string): Date | null {
  if (!TID_PATTERN.test(tid)) return null;
  const ms = MS_FIELDS.exec(tid);
  if (ms) return new Date(Number(ms[1]));
  return instantOf(tid, "stockholm");
}

/**
 * Parses an envelope or change timestamp: ISO-8601 with `Z`, `+00:00` or `+0000`, any number of
 * fraction digits (Python's microseconds). Without a zone it is UTC: Python's `utcnow()` and
 * `now()` in a container both write UTC without one. Returns `null` for anything else.
 */
export function parseWireTimestamp(text: string): Date | null {
  return WIRE_TIMESTAMP_PATTERN.test(text) ? instantOf(text, "utc") : null;
}

/** The instant of a string that already matched one of the patterns above. */
function instantOf(text: string, zoneless: "utc" | "stockholm"): Date | null {
  const f = FIELDS.exec(text);
  if (!f) return null;
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(f[i] ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const millis = f[7] ? Number(f[7].slice(0, 3).padEnd(3, "0")) : 0;
  if (f[8] === undefined && f[9] === undefined && zoneless === "stockholm") {
    const instant = stockholmLocalToUtc(year, month, day, hour, minute, second);
    return instant && new Date(instant.getTime() + millis);
  }
  const sign = f[9] === "-" ? -1 : 1;
  const offsetMs = f[9] ? sign * (Number(f[10]) * 60 + Number(f[11])) * 60_000 : 0;
  return new Date(utcWall(year, month, day, hour, minute, second) + millis - offsetMs);
}

/** Date.UTC, except that years 0–99 stay years 0–99 (Date.UTC reads them as 1900–1999). */
function utcWall(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second));
  date.setUTCFullYear(year, month - 1, day);
  return date.getTime();
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
  const wall = utcWall(year, month, day, hour, minute, second);
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
