/**
 * The content-line format iCalendar (RFC 5545 §3.1) and vCard (RFC 6350 §3.2) share: `NAME;PARAMS:value`
 * lines of at most 75 octets, longer ones folded with CRLF + one space, every line ending in CRLF.
 * Written here rather than taken from ical-generator, whose folder spends ~1 ms per event (it
 * builds a TextEncoder per character), which made a 1,000-match feed take a second to render.
 *
 * `ContentLines` is the only way a line is written, and every value goes through it by its kind:
 * text is cleaned and escaped here, URIs are cleaned here, and our own fixed values (dates,
 * numbers, status names) are checked here. So no value, an identifier from FOGIS included, can
 * end a line and start a property of its own (a `domarnr` of `1\r\nEMAIL:x` stays inside its line).
 */

const MAX_LINE_OCTETS = 75;
// C0 controls other than TAB and LF, DEL and the C1 controls (NEL among them): not text in either format.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROL_CHARS = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const ANY_CONTROL = /[\u0000-\u0008\u000A-\u001F\u007F-\u009F]/;
// Controls and whitespace: a URI has neither.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const NOT_IN_URI = /[\u0000-\u0020\u007F-\u009F\u2028\u2029]/g;
// A surrogate without its other half cannot be written as UTF-8.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const PROPERTY_NAME = /^[A-Z][A-Z0-9-]*$/;
const PARAMETERS = /^(;[A-Z][A-Z0-9-]*=[A-Za-z0-9+\-./]+)*$/;

/**
 * Text as both formats can carry it: line breaks normalised to LF (CR, CRLF and the Unicode line
 * and paragraph separators), control characters dropped, lone surrogates (not encodable as
 * UTF-8) replaced.
 */
export function cleanText(value: string): string {
  return value
    .replace(LONE_SURROGATE, "\uFFFD")
    .replace(/\r\n?|[\u2028\u2029]/g, "\n")
    .replace(CONTROL_CHARS, "");
}

/** A URI value: no controls, no whitespace, well-formed. */
export function cleanUri(value: string): string {
  return value.replace(LONE_SURROGATE, "\uFFFD").replace(NOT_IN_URI, "");
}

/** RFC 5545 TEXT: backslash, semicolon and comma escaped, line breaks as `\n`. */
export function escapeIcalText(value: string): string {
  return cleanText(value)
    .replace(/[\\;,]/g, (c) => `\\${c}`)
    .replace(/\n/g, "\\n");
}

/** RFC 6350 text: backslash and comma escaped, line breaks as `\n` (a semicolon needs no escape). */
export function escapeVcardText(value: string): string {
  return cleanText(value)
    .replace(/[\\,]/g, (c) => `\\${c}`)
    .replace(/\n/g, "\\n");
}

/**
 * One component of a structured vCard value (N, ADR): comma and semicolon escaped. A backslash is
 * left out: it has no use in a name or address part, and ical.js (Thunderbird's vCard reader)
 * takes an escaped backslash before a separator for an escaped separator, merging two parts.
 */
export function escapeVcardComponent(value: string): string {
  return cleanText(value)
    .replace(/\\/g, "")
    .replace(/[,;]/g, (c) => `\\${c}`)
    .replace(/\n/g, "\\n");
}

/**
 * A phone number: one line, no backslashes. vCard 3.0 reads TEL as a phone-number value, which has
 * no escapes (readers such as ical.js drop every backslash), so a line break becomes a space and a
 * backslash is left out. Then escaped as text of the format (in 4.0 a semicolon needs none).
 */
export function escapePhoneNumber(value: string, format: ContentFormat): string {
  const flat = cleanText(value).replace(/\\/g, "").replace(/\n/g, " ");
  return format === "vcard-4.0" ? escapeVcardText(flat) : escapeIcalText(flat);
}

/** Folds one unfolded line at 75 octets without splitting a UTF-8 sequence. */
export function foldLine(line: string): string {
  if (line.length <= MAX_LINE_OCTETS && Buffer.byteLength(line) <= MAX_LINE_OCTETS) return line;
  const parts: string[] = [];
  let start = 0;
  let octets = 0;
  let limit = MAX_LINE_OCTETS;
  for (let i = 0; i < line.length; ) {
    const code = line.charCodeAt(i);
    const pair = code >= 0xd800 && code <= 0xdbff && i + 1 < line.length;
    const size = code < 0x80 ? 1 : code < 0x800 ? 2 : pair ? 4 : 3;
    if (octets + size > limit) {
      parts.push(line.slice(start, i));
      start = i;
      octets = 0;
      limit = MAX_LINE_OCTETS - 1; // continuation lines start with a space
    }
    octets += size;
    i += pair ? 2 : 1;
  }
  parts.push(line.slice(start));
  return parts.join("\r\n ");
}

export type ContentFormat = "icalendar" | "vcard-4.0" | "vcard-3.0";

/** Collects content lines and joins them with CRLF, each one folded. */
export class ContentLines {
  private readonly lines: string[] = [];
  private readonly escapeText: (value: string) => string;

  constructor(private readonly format: ContentFormat) {
    // vCard 3.0 escapes text as iCalendar does (RFC 2426 §4: backslash, comma, semicolon, newline).
    this.escapeText = format === "vcard-4.0" ? escapeVcardText : escapeIcalText;
  }

  /** A TEXT value: cleaned and escaped for the format. */
  text(name: string, value: string, params = ""): this {
    return this.line(name, params, this.escapeText(value));
  }

  /** Several TEXT values, comma-separated (CATEGORIES). */
  textList(name: string, values: readonly string[], params = ""): this {
    return this.line(name, params, values.map(this.escapeText).join(","));
  }

  /** A structured vCard value (N, ADR): each component escaped, joined by semicolons. */
  structured(name: string, components: ReadonlyArray<string | undefined>, params = ""): this {
    return this.line(name, params, components.map((part) => escapeVcardComponent(part ?? "")).join(";"));
  }

  /** A phone number (TEL): see `escapePhoneNumber`. */
  phone(name: string, value: string, params = ""): this {
    return this.line(name, params, escapePhoneNumber(value, this.format));
  }

  /** A URI value (URL, a vCard UID): controls and whitespace dropped. */
  uri(name: string, value: string, params = ""): this {
    return this.line(name, params, cleanUri(value));
  }

  /**
   * A value of a fixed grammar that this project writes itself (BEGIN/END, dates, numbers,
   * status names, durations). Checked, not escaped: a control character here is a bug.
   */
  token(name: string, value: string, params = ""): this {
    if (ANY_CONTROL.test(value))
      throw new Error(`content line ${name}: a fixed value holds a control character`);
    return this.line(name, params, value);
  }

  toString(): string {
    return this.lines.length ? `${this.lines.join("\r\n")}\r\n` : "";
  }

  private line(name: string, params: string, value: string): this {
    if (!PROPERTY_NAME.test(name) || !PARAMETERS.test(params)) {
      throw new Error(`content line ${name}${params}: not a property name with parameters of our own`);
    }
    this.lines.push(foldLine(`${name}${params}:${value}`));
    return this;
  }
}

/** `20250506T150000Z`: a UTC DATE-TIME as both formats write it. */
export function formatUtcDateTime(instant: Date): string {
  return instant
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

/** `20250506`: a DATE (`VALUE=DATE`), from `YYYY-MM-DD`. */
export function formatDate(date: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new Error("not a YYYY-MM-DD date");
  return date.replace(/-/g, "");
}
