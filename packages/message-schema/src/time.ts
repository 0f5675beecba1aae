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
  const parts: Record<string, string> = {};
  for (const part of stockholmParts.formatToParts(instant)) parts[part.type] = part.value;
  const year = Number(parts.year);
  const month = Number(parts.month);
  const day = Number(parts.day);
  const hour = Number(parts.hour);
  const minute = Number(parts.minute);
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    time: `${parts.hour}:${parts.minute}`,
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
